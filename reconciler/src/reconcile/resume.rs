//! Resuming from the status branch after a restart. Opening the reconciler reads only the
//! status summary (and, for Kubernetes clusters, their inventories: git is their only record);
//! the projects' last good states are rendered again when first needed ([`Reconciler::restore`]),
//! so a `reconcile --once` that finds nothing to do ([`Reconciler::synced_at_head`]) never
//! validates or renders anything.

use super::{Good, Reconciler, Resumed, cluster_specs, desired_of, inputs, stamp};
use crate::render::ObjectKey;
use crate::targets::select::directory_target_at;
use cubist_status_ui::doc::{Summary, SyncState};
use git2::Oid;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The projects of the resumed summary at its revision, read but not rendered yet: a
/// `reconcile --once` after a platform-wide change re-renders every project at the new
/// revision, and rendering each one's last good state too cost a whole render more.
pub(super) struct Deferred {
    /// The summary's revision.
    revision: String,
    /// The status commit the summary was read from.
    status_tip: Oid,
    /// Its model.
    model: crate::model::Model,
    /// Project → its input hash at `revision`.
    projects: BTreeMap<String, String>,
}

/// What a restart read from the status branch, until the projects are restored from it.
pub(super) struct Pending {
    summary: Summary,
    /// The status commit it was read from.
    status_tip: Oid,
    /// The newest status commit carries this process's configuration digest (see `stamp`).
    same_config: bool,
}

impl Reconciler {
    /// Reads the status branch's summary: the revision synced everywhere is not reconciled
    /// again (see [`Reconciler::new`]), and projects held at a last good revision stay held
    /// once restored. A corrupt or missing status is ignored.
    pub(super) fn resume(&mut self) {
        let Some((summary, status_tip, message)) = self.resume_inventories() else {
            return;
        };
        self.allow_since = Oid::from_str(&summary.revision).ok();
        // A revision synced everywhere is not reconciled again after a restart; Kubernetes
        // clusters are, so that their drift and health are looked at from the start (a no-change
        // plan writes nothing), and so is a revision whose next scheduled execution has come
        // (the run controller decides it).
        let runs_due = summary
            .next_run_due
            .is_some_and(|due| due <= super::runs::now());
        if !runs_due
            && summary
                .clusters
                .iter()
                .all(|c| c.state == SyncState::Synced && !c.target.starts_with("kubernetes"))
        {
            self.last_revision = Oid::from_str(&summary.revision).ok();
        }
        // Written with this configuration, or checked by it since (see `stamp::checked`).
        let digest = stamp::digest(&self.cfg);
        let same_config = stamp::of_message(&message).is_some_and(|d| digest.as_deref() == Some(d))
            || digest.is_some_and(|d| stamp::checked(&self.cfg.cache_dir, status_tip, &d));
        self.pending = Some(Pending {
            summary,
            status_tip,
            same_config,
        });
    }

    /// Reads the last good state of every project the resumed summary names (each revision
    /// read once). Those at the summary's revision are rendered only when needed (see
    /// [`Deferred`]); the others (held at an older revision) at once. Does nothing once done.
    pub(super) fn restore(&mut self) {
        let Some(Pending {
            summary,
            status_tip,
            ..
        }) = self.pending.take()
        else {
            return;
        };
        let at = Oid::from_str(&summary.revision).ok();
        let mut projects: Vec<_> = summary
            .projects
            .iter()
            .filter_map(|p| Some((Oid::from_str(&p.revision).ok()?, p)))
            .collect();
        projects.sort_by_key(|(rev, _)| *rev);
        let mut read: Option<(Oid, Option<inputs::Revision>)> = None;
        let mut deferred = BTreeMap::new();
        for (oid, p) in projects {
            if read.as_ref().is_none_or(|(r, _)| *r != oid) {
                read = Some((oid, self.reader.read(&self.mirror, oid).ok()));
            }
            let Some((_, Some(revision))) = &read else {
                continue;
            };
            if revision
                .diags
                .iter()
                .any(|d| d.is_error() && d.project.as_deref() == Some(p.name.as_str()))
            {
                continue;
            }
            let input_hash = revision
                .input_hashes
                .get(&p.name)
                .cloned()
                .unwrap_or_default();
            if Some(oid) == at {
                deferred.insert(p.name.clone(), input_hash);
            } else if let Some(project) = revision.model.projects.get(&p.name) {
                self.restore_project(&revision.model, project, &p.revision, input_hash);
            }
        }
        let Some(at) = at.filter(|_| !deferred.is_empty() || self.last_revision.is_some()) else {
            return;
        };
        let model = match read {
            Some((r, Some(revision))) if r == at => Some(revision.model),
            _ => self.reader.read(&self.mirror, at).ok().map(|r| r.model),
        };
        self.deferred = model.map(|model| Deferred {
            revision: summary.revision.clone(),
            status_tip,
            model,
            projects: deferred,
        });
    }

    /// Keeps the last good state of `project` at `revision`, rendered from `model`.
    fn restore_project(
        &mut self,
        model: &crate::model::Model,
        project: &Arc<crate::model::Project>,
        revision: &str,
        input_hash: String,
    ) {
        let (rendered, run_workflows) =
            super::render_all(model, project, &self.blueprints).unwrap_or_default();
        self.good.insert(
            project.name().to_string(),
            Arc::new(Good {
                revision: revision.to_string(),
                input_hash,
                project: project.clone(),
                rendered,
                run_workflows,
            }),
        );
    }

    /// Renders the deferred last good state of project `name` (none when not deferred).
    pub(super) fn restore_deferred(&mut self, name: &str) {
        let Some(mut d) = self.deferred.take() else {
            return;
        };
        if let Some(hash) = d.projects.remove(name)
            && let Some(project) = d.model.projects.get(name)
        {
            self.restore_project(&d.model, project, &d.revision, hash);
        }
        self.deferred = Some(d);
    }

    /// Before a reconcile of a revision whose model, input hashes and broken projects are
    /// given: renders the deferred last good states it will use, those of projects it skips
    /// (same input hash), holds (broken, or the whole revision is) or no longer finds. A
    /// project re-rendered at the new revision needs none (see the render failure path).
    pub(super) fn restore_needed(
        &mut self,
        model: &crate::model::Model,
        input_hashes: &BTreeMap<String, String>,
        repo_wide: bool,
        broken: &std::collections::BTreeSet<&str>,
    ) {
        let needed: Vec<String> = self
            .deferred
            .iter()
            .flat_map(|d| &d.projects)
            .filter(|(name, hash)| {
                repo_wide
                    || broken.contains(name.as_str())
                    || !model.projects.contains_key(*name)
                    || (!hash.is_empty() && input_hashes.get(*name) == Some(*hash))
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in needed {
            self.restore_deferred(&name);
        }
    }

    /// Renders every deferred project, and what the directory targets of the revision synced
    /// everywhere must hold (a refresh compares them). Does nothing once done.
    pub(super) fn restore_all(&mut self) {
        let Some(d) = self.deferred.take() else {
            return;
        };
        for (name, hash) in &d.projects {
            if let Some(project) = d.model.projects.get(name) {
                self.restore_project(&d.model, project, &d.revision, hash.clone());
            }
        }
        if self
            .last_revision
            .is_some_and(|r| r.to_string() == d.revision)
        {
            self.resumed = Some(Resumed {
                specs: cluster_specs(&d.model),
                desired: desired_of(&d.model, &self.good),
                status_tip: Some(d.status_tip),
            });
        }
    }

    /// For `reconcile --once`: true when there is nothing to do, found without validating or
    /// rendering. The status branch shows the head of the watched branch synced on every
    /// cluster, all of them directory targets; its newest commit was written with this
    /// configuration (the same cubist executable, repository, branches and target root: see
    /// `stamp`), or this configuration checked it since (`stamp::checked`); and each target
    /// still holds a file for every object its inventory lists, as many as the status counts
    /// (temporary files a crash left are deleted). The files' content
    /// is not read: a file edited by hand is written again by the next reconcile, or by the
    /// first poll of `reconcile`/`serve` without `--once`. False before [`Reconciler::restore`]
    /// and whenever something could not be looked at.
    pub fn synced_at_head(&mut self) -> bool {
        let Some(pending) = &self.pending else {
            return false;
        };
        let head = self.mirror.head(&self.cfg.branch);
        if !pending.same_config || head.is_none() || self.last_revision != head {
            return false;
        }
        pending.summary.clusters.iter().all(|c| {
            let Some(path) = c.target.strip_prefix("directory ") else {
                return false;
            };
            let Ok(target) = directory_target_at(&self.cfg.target_root, path) else {
                return false;
            };
            let (Ok(_), Ok(inventory)) = (target.clean_leftovers(), target.inventory()) else {
                return false;
            };
            inventory.objects.len() as u64 == c.counts.synced
                && inventory.objects.iter().all(|e| {
                    let file = target.path_of(&ObjectKey::from(e)).symlink_metadata();
                    file.is_ok_and(|m| m.is_file())
                })
        })
    }
}
