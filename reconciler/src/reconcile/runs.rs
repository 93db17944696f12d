//! The run controller in the loop: on every pass (a new revision or a refresh), for each
//! pipeline with a schedule or `Run` manifests and each Kubernetes cluster it is placed on,
//! list the project's run Workflows, decide admission (`crate::runs::controller`), create what
//! is admitted (create-if-absent by deterministic name) and keep the records, which every
//! status commit writes to `status/runs/<cluster>/<project>/<pipeline>.yaml`. With several
//! replicas (see `shard`), each one runs and records only the clusters it owns: a cluster it
//! gains has its records read again from the status branch, where the previous owner left them.

use super::records_cache;
use super::runs_project::{self, Shared, earliest};
use super::runs_quiet::{self, Memo, Touched};
use super::{Good, Outcome, Reconciler};
use crate::alerts::Channels;
use crate::model::Model;
use crate::render::RenderedObject;
use crate::runs::controller::{self, Pipeline};
use crate::runs::naming::Origin;
use crate::runs::workflow;
use chrono::{DateTime, Utc};
use cubist_status_ui::runs::PipelineRuns;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The records of every pipeline on the clusters this replica owns (every cluster when not
/// shared), read from the status branch when first needed, then kept.
#[derive(Default)]
pub(super) struct Records {
    loaded: bool,
    /// Clusters gained since the records were read, to read from the status branch.
    gained: BTreeSet<String>,
    /// `(project, pipeline, cluster)` → its records on that cluster (only that cluster in
    /// `clusters`).
    /// Shared: a pass keeps the same `Arc` for records that did not change, so comparing and
    /// writing them again costs nothing.
    pub(super) docs: BTreeMap<(String, String, String), Arc<PipelineRuns>>,
    /// The run files of directory targets read so far.
    run_files: crate::runs::files::Cache,
    /// The earliest next execution of a schedule with a free slot on the clusters of the last
    /// pass, written to the status summary (`nextRunDue`): a restart reconciles again once it
    /// has passed.
    pub(super) next_due: Option<DateTime<Utc>>,
    /// What the last pass depended on (see `runs_quiet`).
    pub(super) memo: Memo,
    /// The projects of each directory cluster that may have run files left once they are no
    /// longer placed there (see `gone_runs`).
    gone: super::gone_runs::Memo,
}

impl Records {
    /// The clusters owned changed from `before` to `owned`: the records of clusters given up
    /// are dropped (their new owner writes them), those of clusters gained are read again.
    pub(super) fn reown(&mut self, before: Option<&BTreeSet<String>>, owned: &BTreeSet<String>) {
        self.docs.retain(|(_, _, c), _| owned.contains(c));
        let gained = owned
            .iter()
            .filter(|c| before.is_none_or(|b| !b.contains(*c)));
        self.gained.extend(gained.cloned());
    }

    /// Adds the records of the runs file at `path` (`doc`, as parsed) for the clusters
    /// `wanted` picks (a file of the former layout holds every cluster; a per-cluster file
    /// replaces what it held). Returns the records of a per-cluster file taken whole.
    fn add_file(
        &mut self,
        path: &str,
        doc: Result<PipelineRuns, String>,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<Arc<PipelineRuns>> {
        let rest = &path[cubist_status_ui::tree::paths::RUNS_DIR.len()..];
        let (_, _, per_cluster) = cubist_status_ui::runs::runs_file_key(rest)?;
        let doc = match doc {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(path = %path, error = %e, "run records unreadable; starting them again");
                return None;
            }
        };
        let whole = per_cluster && doc.clusters.len() == 1;
        let PipelineRuns {
            project,
            pipeline,
            file,
            since,
            clusters,
            alert_problems,
        } = doc;
        let mut kept = None;
        for (cluster, runs) in clusters {
            let key = (project.clone(), pipeline.clone(), cluster.clone());
            if !wanted(&cluster) || (!per_cluster && self.docs.contains_key(&key)) {
                continue;
            }
            let one = Arc::new(PipelineRuns {
                project: project.clone(),
                pipeline: pipeline.clone(),
                file: file.clone(),
                since,
                clusters: BTreeMap::from([(cluster, runs)]),
                alert_problems: alert_problems.clone(),
            });
            kept = whole.then(|| one.clone());
            self.docs.insert(key, one);
        }
        kept
    }

    /// The run files of directory targets read (or written) so far.
    pub(super) fn run_files(&self) -> &crate::runs::files::Cache {
        &self.run_files
    }

    /// The earliest `since` recorded for the pipeline on any cluster.
    pub(super) fn since(&self, project: &str, pipeline: &str) -> Option<DateTime<Utc>> {
        self.docs
            .iter()
            .filter(|((p, n, _), _)| p == project && n == pipeline)
            .filter_map(|(_, d)| d.since)
            .min()
    }
}

/// The clock of the run controller: now, or under the `test-hooks` feature the time in
/// `CUBIST_TEST_NOW` (RFC 3339), so tests can move through days.
pub fn now() -> DateTime<Utc> {
    super::test_hook::now().unwrap_or_else(Utc::now)
}

impl Reconciler {
    /// True when this pass runs the controller for `cluster`: it owns it, or is alone.
    fn owns(&self, cluster: &str) -> bool {
        self.pass.as_ref().is_none_or(|p| p.owned.contains(cluster))
    }

    /// Reads the records from the status branch the first time they are needed, and those of
    /// the clusters gained since (see [`Records::reown`]).
    pub(super) fn load_records(&mut self) {
        if self.records.loaded && self.records.gained.is_empty() {
            return;
        }
        let first = !self.records.loaded;
        self.records.loaded = true;
        let gained = std::mem::take(&mut self.records.gained);
        let runs_dir = cubist_status_ui::tree::paths::RUNS_DIR;
        let repo = self.mirror.repo();
        let Ok(mut files) =
            crate::report::status_branch::read_status_dir(repo, &self.cfg.status_branch, runs_dir)
        else {
            return;
        };
        // The former layout (`<project>/<pipeline>.yaml`) sorts anywhere: per-cluster files
        // are added last, so that they replace it.
        files.sort_by_key(|(p, _)| p.matches('/').count());
        // Blobs parsed by an earlier process are read from what it kept (see
        // `records_cache`); the rest are parsed, and kept for the next one.
        let config = super::stamp::digest(&self.cfg);
        let kept = config.as_deref().map_or_else(Default::default, |c| {
            records_cache::Kept::load(&self.cfg.cache_dir, c)
        });
        let mut read =
            crate::par::map_in_runs(&files, 32, |(_, id)| records_cache::Read::kept(&kept, *id));
        // The blobs not kept are read on this thread (libgit2's repository is not shared
        // between threads), then parsed on every core.
        let unkept: Result<Vec<(usize, Vec<u8>)>, git2::Error> = (read.iter().enumerate())
            .filter(|(_, r)| r.is_none())
            .map(|(i, _)| Ok((i, repo.find_blob(files[i].1)?.content().to_vec())))
            .collect();
        let Ok(unkept) = unkept else {
            return;
        };
        let parsed = crate::par::map_in_runs(&unkept, 8, |(_, bytes)| {
            records_cache::Read::parsed(bytes, super::records_parse::parse_records)
        });
        for ((i, _), r) in unkept.iter().zip(parsed) {
            read[*i] = Some(r);
        }
        // Each file was read, from the kept file or parsed.
        let not_read = || records_cache::Read::Unreadable("not read".to_string());
        let read: Vec<_> = read
            .into_iter()
            .map(|r| r.unwrap_or_else(not_read))
            .collect();
        if let Some(config) = &config {
            let ids: Vec<_> = files
                .iter()
                .zip(&read)
                .map(|((_, id), r)| (*id, r))
                .collect();
            records_cache::keep(&self.cfg.cache_dir, config, &kept, &ids);
        }
        drop(kept);
        let parsed = read.into_iter().map(records_cache::Read::into_records);
        let owned = self.pass.as_ref().map(|p| p.owned.clone());
        let wanted =
            |c: &str| owned.as_ref().is_none_or(|o| o.contains(c)) && (first || gained.contains(c));
        for ((path, id), doc) in files.into_iter().zip(parsed) {
            // A file read as it stands is the status commit's file for these records while
            // they do not change: it is not written again (its blob is in the mirror).
            if let Some(kept) = self.records.add_file(&path, doc, wanted) {
                let file = crate::report::status_branch::StatusFile::stored(id);
                self.status_memo.seed_runs(path, kept, file);
            }
        }
    }

    /// One controller pass over every pipeline of `current`; true when a record changed.
    /// `refresh`: a pass on the revision of the last one, which may be skipped whole (see
    /// `runs_quiet`).
    pub(super) fn run_pipelines(
        &mut self,
        model: &Model,
        current: &BTreeMap<String, Arc<Good>>,
        outcome: &Outcome,
        refresh: bool,
    ) -> bool {
        self.load_records();
        let now = now();
        let owned = self.pass.as_ref().map(|p| p.owned.clone());
        let roots = super::dir_runs::cluster_roots(&self.cfg.target_root, model, |c| self.owns(c));
        let touched: Touched = roots
            .keys()
            .map(|c| {
                let seen = self.clusters.memory(c).and_then(|m| m.runs_touched());
                (c.clone(), seen)
            })
            .collect();
        let mut memo = std::mem::take(&mut self.records.memo);
        if refresh && memo.whole_pass_quiet(current, owned.as_ref(), &roots, outcome, now, &touched)
        {
            if let Some(m) = &self.cfg.metrics {
                m.controller_pass("quiet");
            }
            self.records.memo = memo;
            return false;
        }
        let placements = runs_project::placements(
            model,
            current,
            &roots,
            |c| self.owns(c),
            |name, good, dirs, kube| memo.holds(name, good, dirs, kube, outcome, now, &touched),
        );
        if let Some(m) = &self.cfg.metrics {
            m.controller_pass("full");
        }
        let settings = model
            .platform
            .as_ref()
            .and_then(|pl| pl.spec.alerts.as_ref());
        // A GitHub channel's client is made inside the runtime that delivers; none is started
        // when the caller is async itself (a runtime cannot block or be dropped there).
        let outside = tokio::runtime::Handle::try_current().is_err();
        let channels = match settings {
            Some(_) if outside => {
                let _inside = self.clusters.runtime_started().enter();
                Channels::from_env(settings)
            }
            _ => Channels::from_env(settings),
        };
        memo.begin(owned, roots.clone(), current);
        let mut next_due: Option<DateTime<Utc>> = None;
        let mut to_run = Vec::new();
        // The quiet projects, in order: their records and memos stay as they are.
        let mut quiet: Vec<&str> = Vec::new();
        let placed = super::dir_runs::placed_on(&placements);
        for pl in placements {
            if pl.clusters.is_empty() {
                continue;
            }
            if pl.quiet
                && let Some(q) = memo.quiet_mut(pl.name)
            {
                // Nothing it depends on changed (see `runs_quiet`).
                q.renew(pl.good);
                next_due = earliest(next_due, q.next_due);
                quiet.push(pl.name);
                continue;
            }
            to_run.push(pl);
        }
        memo.keep_only(&quiet);
        // Projects share nothing they write: they run on every core (see `runs_project`).
        let shared = Shared {
            records: &self.records,
            clusters: &self.clusters,
            channels: &channels,
            outcome,
            now,
        };
        let passes =
            crate::par::map_in_runs(&to_run, 1, |pl| runs_project::project_pass(pl, &shared));
        // Records of projects gone, no longer with runs or run again are dropped; those of the
        // projects run again are their passes'.
        let mut docs = std::mem::take(&mut self.records.docs);
        let before = docs.len();
        let mut kept = runs_quiet::one_of(&quiet);
        docs.retain(|(project, _, _), _| kept(project));
        let mut changed = false;
        for (pl, pass) in to_run.iter().zip(passes) {
            docs.extend(pass.docs);
            next_due = earliest(next_due, pass.due_next);
            changed |= pass.changed;
            memo.ran(pl.name, pass.quiet);
        }
        changed |= docs.len() != before;
        self.records.docs = docs;
        super::gone_runs::prune_gone_projects(
            &roots,
            placed,
            outcome,
            &touched,
            &self.records.run_files,
            &mut self.records.gone,
        );
        for c in roots.keys() {
            if let Some(m) = self.clusters.memory(c) {
                m.runs_looked_at();
            }
        }
        self.records.next_due = next_due;
        self.records.memo = memo;
        changed
    }
}

/// The Workflow the controller creates for the admitted run `c` of `p`: a `Run`'s with the
/// spec render made for it (`rendered`: the cluster's run Workflows), a schedule's from the
/// pipeline's WorkflowTemplate.
pub(super) fn admitted_body(
    p: &Pipeline,
    c: &controller::Create,
    rendered: Option<&Vec<RenderedObject>>,
) -> Value {
    let spec = match &c.admit.origin {
        Origin::Run(_) => rendered
            .and_then(|objs| objs.iter().find(|o| o.key_parts()[3] == c.name))
            .map(|o| o.body.to_value()["spec"].clone()),
        Origin::Schedule => None,
    };
    workflow::body(
        &p.project,
        &p.name,
        &c.name,
        c.admit.execution,
        &c.admit.origin,
        c.admit.attempt,
        spec.as_ref(),
    )
}

/// Splits a cluster's rendered objects: the run Workflows render made for `Run` manifests
/// (created by the controller when admitted, never applied) and the rest.
pub(super) fn split_run_workflows(
    objs: Vec<RenderedObject>,
) -> (Vec<RenderedObject>, Vec<RenderedObject>) {
    objs.into_iter().partition(|o| !workflow::is_run(o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubist_status_ui::runs::ClusterRuns;

    fn yaml(clusters: &[(&str, &str)]) -> Vec<u8> {
        let mut doc = PipelineRuns {
            project: "p".into(),
            pipeline: "daily".into(),
            since: chrono::DateTime::from_timestamp(7, 0),
            ..PipelineRuns::default()
        };
        for (c, wf) in clusters {
            let runs = vec![cubist_status_ui::runs::RunRecord {
                workflow: wf.to_string(),
                ..Default::default()
            }];
            doc.clusters.insert(
                c.to_string(),
                ClusterRuns {
                    runs,
                    ..ClusterRuns::default()
                },
            );
        }
        cubist_status_ui::yaml::to_yaml(&doc).unwrap().into_bytes()
    }

    fn parsed(bytes: &[u8]) -> Result<PipelineRuns, String> {
        cubist_status_ui::yaml::from_yaml(bytes).map_err(|e| e.to_string())
    }

    fn workflow(r: &Records, cluster: &str) -> Option<String> {
        let doc = r.docs.get(&("p".into(), "daily".into(), cluster.into()))?;
        assert_eq!(doc.clusters.keys().collect::<Vec<_>>(), [cluster]);
        assert_eq!(doc.since, chrono::DateTime::from_timestamp(7, 0));
        Some(doc.clusters[cluster].runs[0].workflow.clone())
    }

    #[test]
    fn records_are_kept_per_cluster_and_a_gained_cluster_is_read_again() {
        let mut r = Records::default();
        // The former layout holds every cluster; a per-cluster file replaces its cluster.
        // A per-cluster file is taken whole: its file stands for its records.
        let whole = r.add_file(
            "status/runs/a/p/daily.yaml",
            parsed(&yaml(&[("a", "new-a")])),
            |_| true,
        );
        assert_eq!(
            whole.as_ref(),
            r.docs.get(&("p".into(), "daily".into(), "a".into()))
        );
        let former = yaml(&[("a", "old-a"), ("b", "old-b"), ("c", "old-c")]);
        let whole = r.add_file("status/runs/p/daily.yaml", parsed(&former), |c| c != "c");
        assert_eq!(whole, None, "a file of the former layout is written again");
        assert_eq!(workflow(&r, "a").as_deref(), Some("new-a"));
        assert_eq!(workflow(&r, "b").as_deref(), Some("old-b"));
        assert_eq!(workflow(&r, "c"), None, "not wanted: another replica's");
        assert_eq!(
            r.since("p", "daily"),
            chrono::DateTime::from_timestamp(7, 0)
        );
        // Owning {b, c} after {a, b}: a's records are dropped, c is to be read.
        let before = BTreeSet::from(["a".to_string(), "b".to_string()]);
        let owned = BTreeSet::from(["b".to_string(), "c".to_string()]);
        r.reown(Some(&before), &owned);
        assert_eq!(workflow(&r, "a"), None);
        assert_eq!(workflow(&r, "b").as_deref(), Some("old-b"));
        assert_eq!(r.gained, BTreeSet::from(["c".to_string()]));
    }
}
