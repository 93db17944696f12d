//! The GitOps loop: for each new commit of the watched branch, snapshot → validate → render →
//! plan → apply per cluster → one status commit. A project whose manifests break stays at its
//! last good revision while every other project proceeds.

pub mod digest;
mod inputs;
mod status;
pub mod test_hook;

use crate::diag::Diagnostic;
use crate::model::{Model, Project};
use crate::render::{Blueprints, RenderedObject, RenderedSet, render_project};
use crate::report::status_branch::{Author, read_status, write_status};
use crate::source::git::GitMirror;
use crate::target::select::directory_target;
use crate::target::{ApplyReport, Plan, Target};
use anyhow::{Context, Result};
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the loop is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Remote URL or path of the platform repository.
    pub repo: String,
    /// Watched branch (desired state).
    pub branch: String,
    /// Branch status commits go to (observed state).
    pub status_branch: String,
    /// Where the bare mirror lives.
    pub cache_dir: PathBuf,
    /// Directory that `target.directory.path` of clusters is relative to.
    pub target_root: PathBuf,
    /// Author of status commits.
    pub author: Author,
    /// Push status commits to the remote (false: keep them in the mirror only).
    pub push_status: bool,
}

/// A project's last good state: what it rendered at which revision. Shared (`Arc`) between
/// reconciles: a project that is skipped or held is not copied.
#[derive(Debug)]
struct Good {
    revision: String,
    input_hash: String,
    project: Project,
    /// cluster → objects.
    rendered: BTreeMap<String, Vec<RenderedObject>>,
}

/// What one reconcile did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The reconciled revision.
    pub revision: String,
    /// The status commit written.
    pub status_commit: Option<Oid>,
    /// Projects rendered this time.
    pub projects_rendered: usize,
    /// Projects whose inputs were unchanged (not re-rendered).
    pub projects_skipped: usize,
    /// Projects held at their last good revision.
    pub projects_held: Vec<String>,
    /// Per cluster: plan and apply report (None when the target was skipped or unreachable).
    pub clusters: BTreeMap<String, ClusterOutcome>,
    /// Every diagnostic of the revision.
    pub diagnostics: Vec<Diagnostic>,
    /// Where the time went.
    pub timings: Timings,
}

/// Wall time of each stage of one reconcile.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Reading the commit's files.
    pub snapshot: Duration,
    /// Parsing, schema validation and semantic checks.
    pub validate: Duration,
    /// Rendering the projects whose inputs changed.
    pub render: Duration,
    /// Planning and applying every cluster.
    pub apply: Duration,
    /// Building and committing the status documents.
    pub status: Duration,
}

/// One cluster's part of a reconcile.
#[derive(Debug, Clone, Default)]
pub struct ClusterOutcome {
    /// The plan that was applied.
    pub plan: Option<Plan>,
    /// What the apply did.
    pub report: Option<ApplyReport>,
    /// Why the cluster was not applied, if it was not.
    pub skipped: Option<String>,
    /// The desired objects.
    pub desired: RenderedSet,
}

/// The reconcile loop's state.
pub struct Reconciler {
    cfg: Config,
    mirror: GitMirror,
    blueprints: Blueprints,
    last_revision: Option<Oid>,
    good: BTreeMap<String, Arc<Good>>,
    reader: inputs::Reader,
    status_memo: status::Memo,
}

impl Reconciler {
    /// Opens the mirror and resumes from the status branch: projects held at a last good
    /// revision stay held after a restart, and the revision the status branch shows synced on
    /// every cluster is not reconciled again (a restart after a completed reconcile writes
    /// nothing; one after a crash mid-apply, before the status commit, reconciles again).
    pub fn new(cfg: Config) -> Result<Self> {
        let mirror = GitMirror::open(&cfg.repo, &cfg.cache_dir)?;
        let mut r = Reconciler {
            blueprints: Blueprints::embedded()?,
            cfg,
            mirror,
            last_revision: None,
            good: BTreeMap::new(),
            reader: inputs::Reader::default(),
            status_memo: status::Memo::default(),
        };
        r.fetch()?;
        r.resume();
        Ok(r)
    }

    /// The mirror (for the status page and PR plans).
    pub fn mirror(&self) -> &GitMirror {
        &self.mirror
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn fetch(&self) -> Result<()> {
        // Without pushing, the status branch lives only in the mirror: never prune it.
        if self.cfg.push_status {
            self.mirror
                .fetch(&[&self.cfg.branch, &self.cfg.status_branch])
        } else {
            self.mirror.fetch(&[&self.cfg.branch])
        }
    }

    /// Reads held projects from the status branch; a corrupt or missing status is ignored.
    fn resume(&mut self) {
        let Ok(files) = read_status(self.mirror.repo(), &self.cfg.status_branch) else {
            return;
        };
        let Some(Ok(summary)) = cubist_status_ui::StatusTree::new(files).summary() else {
            return;
        };
        if summary
            .clusters
            .iter()
            .all(|c| c.state == cubist_status_ui::doc::SyncState::Synced)
        {
            self.last_revision = Oid::from_str(&summary.revision).ok();
        }
        for p in summary.projects.iter().filter(|p| !p.revision.is_empty()) {
            let Ok(oid) = Oid::from_str(&p.revision) else {
                continue;
            };
            let Ok(inputs::Revision {
                model,
                diags,
                input_hashes,
                ..
            }) = self.reader.read(&self.mirror, oid)
            else {
                continue;
            };
            if diags
                .iter()
                .any(|d| d.is_error() && d.project.as_deref() == Some(p.name.as_str()))
            {
                continue;
            }
            if let Some(project) = model.projects.get(&p.name) {
                let rendered = self.render_all(&model, project).unwrap_or_default();
                let input_hash = input_hashes.get(&p.name).cloned().unwrap_or_default();
                self.good.insert(
                    p.name.clone(),
                    Arc::new(Good {
                        revision: p.revision.clone(),
                        input_hash,
                        project: project.clone(),
                        rendered,
                    }),
                );
            }
        }
    }

    /// Fetches; if the watched branch moved, reconciles its newest commit. A no-change poll
    /// renders nothing and returns `None`.
    pub fn poll(&mut self) -> Result<Option<Outcome>> {
        self.fetch()?;
        let head = self.mirror.head(&self.cfg.branch).with_context(|| {
            format!(
                "branch `{}` not found in {}",
                self.cfg.branch,
                self.mirror.url()
            )
        })?;
        if self.last_revision == Some(head) {
            return Ok(None);
        }
        self.reconcile(head).map(Some)
    }

    fn render_all(
        &self,
        model: &Model,
        project: &Project,
    ) -> Result<BTreeMap<String, Vec<RenderedObject>>> {
        let mut out = BTreeMap::new();
        for c in model.project_clusters(project) {
            let objs = render_project(model, project, c.name(), &self.blueprints)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            out.insert(c.name().to_string(), objs);
        }
        Ok(out)
    }

    /// Reconciles one revision of the watched branch.
    pub fn reconcile(&mut self, revision: Oid) -> Result<Outcome> {
        let started = Instant::now();
        let _span = tracing::info_span!("reconcile", revision = %revision).entered();
        let mut timings = Timings::default();
        let mut lap = Instant::now();
        let mut split = || std::mem::replace(&mut lap, Instant::now()).elapsed();
        let inputs::Revision {
            model,
            diags,
            input_hashes,
            snapshot_time,
        } = self.reader.read(&self.mirror, revision)?;
        timings.snapshot = snapshot_time;
        timings.validate = split() - snapshot_time;
        let rev = revision.to_string();
        let mut outcome = Outcome {
            revision: rev.clone(),
            diagnostics: diags.clone(),
            ..Default::default()
        };
        let repo_wide = diags.iter().any(|d| d.is_error() && d.project.is_none());
        let broken: BTreeSet<&str> = diags
            .iter()
            .filter(|d| d.is_error())
            .filter_map(|d| d.project.as_deref())
            .collect();
        // Decide per project: fresh (render or reuse), held at last good, or absent.
        let mut current: BTreeMap<String, Arc<Good>> = BTreeMap::new();
        for (name, project) in &model.projects {
            if repo_wide || broken.contains(name.as_str()) {
                if let Some(g) = self.good.get(name) {
                    current.insert(name.clone(), g.clone());
                }
                outcome.projects_held.push(name.clone());
                continue;
            }
            let hash = input_hashes.get(name).cloned().unwrap_or_default();
            if let Some(g) = self
                .good
                .get(name)
                .filter(|g| !hash.is_empty() && g.input_hash == hash)
            {
                current.insert(name.clone(), g.clone());
                outcome.projects_skipped += 1;
                continue;
            }
            match self.render_all(&model, project) {
                Ok(rendered) => {
                    outcome.projects_rendered += 1;
                    current.insert(
                        name.clone(),
                        Arc::new(Good {
                            revision: rev.clone(),
                            input_hash: hash,
                            project: project.clone(),
                            rendered,
                        }),
                    );
                }
                Err(e) => {
                    tracing::warn!(project = %name, error = %e, "render failed; holding the project");
                    let at = crate::diag::Location::file(project.manifest.file());
                    outcome.diagnostics.push(
                        Diagnostic::error(
                            crate::diag::codes::RENDER,
                            &at,
                            format!("render failed: {e}"),
                        )
                        .help("fix the manifest named in the message or the blueprint it uses"),
                    );
                    outcome.projects_held.push(name.clone());
                    if let Some(g) = self.good.get(name) {
                        current.insert(name.clone(), g.clone());
                    }
                }
            }
        }
        // Projects broken so badly they are missing from the model (e.g. project.yaml invalid).
        for (name, g) in &self.good {
            if !current.contains_key(name) && (repo_wide || broken.contains(name.as_str())) {
                current.insert(name.clone(), g.clone());
                outcome.projects_held.push(name.clone());
            }
        }
        outcome.projects_held.sort();
        outcome.projects_held.dedup();
        timings.render = split();
        if !repo_wide {
            for (name, cluster) in &model.clusters {
                let mut desired = RenderedSet {
                    cluster: name.clone(),
                    objects: Vec::new(),
                };
                for g in current.values() {
                    desired
                        .objects
                        .extend(g.rendered.get(name).into_iter().flatten().cloned());
                }
                desired.sort();
                let co = match directory_target(&self.cfg.target_root, &cluster.spec) {
                    Ok(target) => match target.plan(&desired).and_then(|p| {
                        target
                            .apply(&p, &mut test_hook::apply_progress())
                            .map(|r| (p, r))
                    }) {
                        Ok((plan, report)) => ClusterOutcome {
                            plan: Some(plan),
                            report: Some(report),
                            skipped: None,
                            desired,
                        },
                        Err(e) => ClusterOutcome {
                            skipped: Some(format!("apply failed: {e:#}")),
                            desired,
                            ..Default::default()
                        },
                    },
                    Err(why) => ClusterOutcome {
                        skipped: Some(why),
                        desired,
                        ..Default::default()
                    },
                };
                outcome.clusters.insert(name.clone(), co);
            }
        }
        timings.apply = split();
        let (author, message) = self.mirror.describe(revision);
        let files = status::files(
            &model,
            &current,
            &outcome,
            &author,
            &message,
            started.elapsed().as_millis() as u64,
            &self.cfg,
            &mut self.status_memo,
        );
        let summary = format!(
            "status: {} {} rendered, {} skipped, {} held, {} error(s)",
            &rev[..7.min(rev.len())],
            outcome.projects_rendered,
            outcome.projects_skipped,
            outcome.projects_held.len(),
            diags.iter().filter(|d| d.is_error()).count()
        );
        let msg = format!("{summary}\n\nCubist-Source-Revision: {rev}\n");
        let remote = self.cfg.push_status.then_some(self.cfg.repo.as_str());
        outcome.status_commit = Some(write_status(
            self.mirror.repo(),
            remote,
            &self.cfg.status_branch,
            &self.cfg.author,
            &msg,
            &files,
        )?);
        timings.status = split();
        outcome.timings = timings;
        if !repo_wide {
            self.good = current
                .into_iter()
                .filter(|(n, g)| {
                    g.revision == rev
                        || outcome.projects_held.contains(n)
                        || model.projects.contains_key(n)
                })
                .collect();
        }
        self.last_revision = Some(revision);
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            rendered = outcome.projects_rendered,
            skipped = outcome.projects_skipped,
            "reconciled"
        );
        Ok(outcome)
    }
}
