//! The GitOps loop: for each new commit of the watched branch, snapshot → validate → render →
//! plan → apply per cluster → one status commit. A project whose manifests break stays at its
//! last good revision while every other project proceeds.

mod clusters;
mod config;
mod dir_runs;
mod gone_runs;
pub(crate) mod guard;
mod inputs;
mod last_good;
mod outcome;
mod records_cache;
mod records_parse;
#[cfg(test)]
mod repo_wide_tests;
mod resume;
mod runs;
mod runs_project;
mod runs_quiet;
pub mod schedule;
mod shard;
mod stamp;
mod state;
#[cfg(test)]
mod status_memo_tests;
#[cfg(test)]
mod synth_loop;
pub mod test_hook;

use crate::diag::Diagnostic;
use crate::model::kinds::ClusterSpec;
use crate::model::{Model, Project};
use crate::render::{Blueprints, render_project};
use crate::report::status_branch::{Written, write_status};
use crate::report::status_doc;
use crate::source::git::GitMirror;
use crate::targets::desired::{Desired, Group, group};
use crate::targets::guard::Allowances;
use anyhow::{Context, Result};
use clusters::{Clusters, Pass};
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

pub use config::Config;
pub(crate) use last_good::Good;
pub use outcome::{ClusterOutcome, Outcome, Owned, Timings};
pub use state::{ClusterState, HealthCounts};

use last_good::desired_of;
use outcome::observed;

/// The backoff of the loop and of each cluster, kept here for callers of the older path.
pub use schedule::{MAX_BACKOFF, backoff};

/// The reconcile loop's state.
pub struct Reconciler {
    cfg: Config,
    mirror: GitMirror,
    blueprints: Blueprints,
    last_revision: Option<Oid>,
    good: BTreeMap<String, Arc<Good>>,
    reader: inputs::Reader,
    status_memo: status_doc::Memo,
    /// What the last status write made, so the next one walks only what changed.
    status_written: Written,
    clusters: Clusters,
    last: Option<Last>,
    /// The last revision whose clusters were planned (at start, the status branch's):
    /// `Cubist-Allow-Prune:` trailers are read from the commits after it.
    allow_since: Option<Oid>,
    /// After a restart on a revision synced everywhere, what its directory targets must hold:
    /// each refresh compares them, until one differs and the revision is reconciled again.
    resumed: Option<Resumed>,
    /// Shares the clusters with other replicas (see `shard`).
    replica: Option<Arc<crate::lease::Replica>>,
    /// The running pass's clusters, when shared.
    pass: Option<crate::lease::Pass>,
    /// The clusters the previous pass owned, when shared.
    owned_before: Option<BTreeSet<String>>,
    /// After a restart, the status summary read, until the projects are restored from it.
    pending: Option<resume::Pending>,
    /// After a restart, the projects restored but not rendered yet (see `resume`).
    deferred: Option<resume::Deferred>,
    /// The run records of every pipeline (see `runs`).
    records: runs::Records,
}

/// The clusters of the revision a restart resumed, and their desired objects.
struct Resumed {
    specs: BTreeMap<String, ClusterSpec>,
    desired: BTreeMap<String, Desired>,
    /// The status commit whose summary was resumed, until the first look at the targets
    /// found them as it says (then noted, see `stamp::note_checked`).
    status_tip: Option<Oid>,
}

/// The last reconcile, kept for refresh passes between revisions.
struct Last {
    model: Model,
    current: BTreeMap<String, Arc<Good>>,
    outcome: Outcome,
}

/// Every cluster's spec by name.
fn cluster_specs(model: &Model) -> BTreeMap<String, ClusterSpec> {
    model
        .clusters
        .iter()
        .map(|(n, c)| (n.clone(), ClusterSpec::clone(&c.spec)))
        .collect()
}

impl Reconciler {
    /// Opens the mirror and resumes from the status branch: projects held at a last good
    /// revision stay held after a restart, and the revision the status branch shows synced on
    /// every cluster is not reconciled again unless a directory target no longer holds it (a
    /// restart after a completed reconcile writes nothing; one after a crash mid-apply, before
    /// the status commit, or after the target's files were deleted or edited, reconciles again).
    pub fn new(cfg: Config) -> Result<Self> {
        stamp::prepare(&cfg.cache_dir);
        let mirror = GitMirror::open(&cfg.repo, &cfg.cache_dir)?;
        let mut r = Reconciler {
            blueprints: Blueprints::embedded()?,
            clusters: Clusters::new(cfg.target_root.clone(), Some(cfg.cache_dir.clone()), true),
            cfg,
            mirror,
            last_revision: None,
            good: BTreeMap::new(),
            last: None,
            resumed: None,
            pending: None,
            deferred: None,
            reader: inputs::Reader::default(),
            status_memo: status_doc::Memo::default(),
            status_written: Written::default(),
            allow_since: None,
            replica: None,
            pass: None,
            owned_before: None,
            records: runs::Records::default(),
        };
        r.fetch()?;
        r.resume();
        Ok(r)
    }

    /// Makes this reconciler's next pass its only one (`reconcile --once`): directory targets
    /// are not watched, as no later pass would read what a watch saw (a named choice: the
    /// watch's setup and the events of every file written cost about 90 ms of a platform
    /// template change over 500 projects). Each plan then checks every file, as it does when a
    /// watch cannot run.
    pub fn single_pass(&mut self) {
        self.clusters.stop_watching();
    }

    /// Keeps what each directory target's memory knows in the cache directory, so that the next
    /// process stats the target's files instead of reading every one (see
    /// `targets::memory_file`). `reconcile --once` calls it before it exits, the loop when it
    /// stops.
    pub fn keep_target_memories(&self) {
        self.clusters.keep_memories();
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
        let started = Instant::now();
        // Without pushing, the status branch lives only in the mirror: never prune it.
        let fetched = if self.cfg.push_status {
            self.mirror
                .fetch(&[&self.cfg.branch, &self.cfg.status_branch])
        } else {
            self.mirror.fetch(&[&self.cfg.branch])
        };
        if let Some(m) = &self.cfg.metrics {
            m.fetched(started.elapsed(), fetched.is_ok());
        }
        fetched
    }

    /// Fetches; if the watched branch moved, reconciles its newest commit. A no-change poll
    /// renders nothing and returns `None`. A pass that panics holds the revision with an
    /// internal error in its status commit (see `guard`).
    pub fn poll(&mut self) -> Result<Option<Outcome>> {
        self.fetch()?;
        let head = self.mirror.head(&self.cfg.branch).with_context(|| {
            format!(
                "branch `{}` not found in {}",
                self.cfg.branch,
                self.mirror.url()
            )
        })?;
        let reshard = self.begin_pass();
        // A panic in the pass is caught there (see `guard`): the loop goes on.
        let result = if self.last_revision == Some(head) && !reshard {
            self.guarded(head, Self::refresh)
        } else {
            self.guarded(head, |r| r.reconcile(head).map(Some))
        };
        self.end_pass();
        result
    }

    /// Same revision: looks at the Kubernetes clusters that are due (drift, health, retry after
    /// a failure) and at the directory targets (files deleted or edited are written again)
    /// without rendering, and writes a status commit only when what it saw changed. After a
    /// restart, before the first reconcile, a directory target that differs from the resumed
    /// revision has the revision reconciled again.
    pub fn refresh(&mut self) -> Result<Option<Outcome>> {
        self.restore();
        self.restore_all();
        if let Some(resumed) = &self.resumed
            && let Some(rev) = self.last_revision
            && self.clusters.directories_differ(
                &shard::owned(self.pass.as_ref(), &resumed.specs),
                &resumed.desired,
            )
        {
            // A directory target lost files since the status commit: apply the revision again.
            self.resumed = None;
            let mut outcome = self.reconcile(rev)?;
            for co in outcome.clusters.values_mut() {
                co.repaired = co
                    .report
                    .as_ref()
                    .map_or(0, |r| r.created + r.updated + r.deleted);
            }
            return Ok(Some(outcome));
        }
        // The targets hold what this configuration renders for the resumed revision: noted,
        // so that `reconcile --once` stops early on that status commit from now on, as on one
        // this configuration wrote (see `stamp::checked`). Not when only some clusters were
        // looked at (shared with other replicas).
        if let Some(resumed) = &mut self.resumed
            && let Some(tip) = resumed.status_tip.take()
            && self.pass.is_none()
        {
            stamp::note_checked(&self.cfg, tip);
        }
        if !self.clusters.refresh_due() {
            return Ok(None);
        }
        let Some(last) = self.last.take() else {
            return Ok(None);
        };
        let started = Instant::now();
        let mut specs = cluster_specs(&last.model);
        shard::owned_only(self.pass.as_ref(), &mut specs);
        let desired = last
            .outcome
            .clusters
            .iter()
            .map(|(n, co)| (n.clone(), co.desired.clone()))
            .collect();
        let fresh = self.clusters.run(&specs, desired, Pass::Refresh);
        let mut outcome = last.outcome.clone();
        shard::owned_only(self.pass.as_ref(), &mut outcome.clusters);
        let mut changed = Vec::new();
        for (name, co) in fresh {
            let before = outcome.clusters.get(&name).map(observed);
            let wrote = co
                .report
                .as_ref()
                .is_some_and(|r| r.created + r.updated + r.deleted > 0);
            if wrote || before.as_ref() != Some(&observed(&co)) {
                let repaired = match co.repaired {
                    0 => String::new(),
                    n => format!(" (drift repaired: {n} object(s) written again)"),
                };
                changed.push(format!("{name} {:?}{repaired}", co.state()));
            }
            outcome.clusters.insert(name, co);
        }
        if self.run_pipelines(&last.model, &last.current, &outcome, true) {
            changed.push("runs".to_string());
        }
        outcome.projects_rendered = 0;
        outcome.projects_skipped = last.current.len();
        let result = if changed.is_empty() {
            Ok(None)
        } else {
            let summary = format!("refresh: {}", changed.join(", "));
            self.write(&last.model, &last.current, &outcome, started, &summary)
                .map(|c| {
                    outcome.status_commit = Some(c);
                    Some(outcome.clone())
                })
        };
        self.last = Some(Last { outcome, ..last });
        result
    }

    /// Writes one status commit for `outcome`.
    fn write(
        &mut self,
        model: &Model,
        current: &BTreeMap<String, Arc<Good>>,
        outcome: &Outcome,
        started: Instant,
        summary: &str,
    ) -> Result<Oid> {
        let rev = &outcome.revision;
        let oid = Oid::from_str(rev)?;
        if self.nothing_to_write()
            && let Some(tip) = self.mirror.head(&self.cfg.status_branch)
        {
            return Ok(tip);
        }
        let (author, message) = self.mirror.describe(oid);
        self.load_records();
        let mut files = status_doc::files(
            model,
            current,
            outcome,
            &self.records.docs,
            &author,
            &message,
            started.elapsed().as_millis() as u64,
            &self.cfg,
            &mut self.status_memo,
            self.records.next_due,
        );
        files.shard = self.shard(model);
        let mut msg = format!(
            "status: {} {summary}\n\nCubist-Source-Revision: {rev}\n",
            &rev[..7.min(rev.len())]
        );
        if let Some(digest) = stamp::digest(&self.cfg) {
            msg += &stamp::trailer(&digest);
        }
        let remote = self.cfg.push_status.then_some(self.cfg.repo.as_str());
        write_status(
            self.mirror.repo(),
            remote,
            &self.cfg.status_branch,
            &self.cfg.author,
            &msg,
            &files,
            &mut self.status_written,
        )
    }

    /// Reconciles one revision of the watched branch.
    pub fn reconcile(&mut self, revision: Oid) -> Result<Outcome> {
        self.restore();
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
        test_hook::panic_on_path(self.mirror.repo(), revision);
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
        self.restore_needed(&model, &input_hashes, repo_wide, &broken);
        // Decide per project: fresh (render or reuse), held at last good, or absent. The
        // projects to render are rendered in parallel, then taken in order.
        let mut current: BTreeMap<String, Arc<Good>> = BTreeMap::new();
        let mut fresh: Vec<(&String, &Arc<Project>, String)> = Vec::new();
        for (name, project) in &model.projects {
            if repo_wide || broken.contains(name.as_str()) {
                if let Some(g) = self.good.get(name) {
                    current.insert(name.clone(), g.clone());
                }
                outcome.projects_held.push(name.clone());
                continue;
            }
            let hash = input_hashes.get(name).map_or("", String::as_str);
            if let Some(g) = self
                .good
                .get(name)
                .filter(|g| !hash.is_empty() && g.input_hash == hash)
            {
                current.insert(name.clone(), g.clone());
                outcome.projects_skipped += 1;
                continue;
            }
            fresh.push((name, project, hash.to_string()));
        }
        let rendered = crate::par::map_in_runs(&fresh, 1, |(_, project, _)| {
            render_all(&model, project, &self.blueprints)
        });
        for ((name, project, hash), result) in fresh.into_iter().zip(rendered) {
            match result {
                Ok((rendered, run_workflows)) => {
                    outcome.projects_rendered += 1;
                    current.insert(
                        name.clone(),
                        Arc::new(Good {
                            revision: rev.clone(),
                            input_hash: hash,
                            project: project.clone(),
                            rendered,
                            run_workflows,
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
                    self.restore_deferred(name);
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
        self.note_clusters(&model);
        if !repo_wide {
            let mut specs = cluster_specs(&model);
            shard::owned_only(self.pass.as_ref(), &mut specs);
            let desired = desired_of(&model, &current);
            let allow = Allowances::between(self.mirror.repo(), revision, self.allow_since);
            self.clusters.set_allowances(allow);
            self.allow_since = Some(revision);
            outcome.clusters = self.clusters.run(&specs, desired, Pass::Apply);
            timings.apply = split();
            self.run_pipelines(&model, &current, &outcome, false);
            timings.runs = split();
        } else {
            // Nothing is applied: each cluster keeps what the last reconcile applied there.
            let why = "not applied: the repository has errors that are not a project's \
                       (listed with the revision); every cluster keeps what it had";
            outcome.clusters = guard::not_applied(self.last.as_ref(), &model, why);
        }
        let errors = diags.iter().filter(|d| d.is_error()).count();
        let summary = format!(
            "{} rendered, {} skipped, {} held, {errors} error(s)",
            outcome.projects_rendered,
            outcome.projects_skipped,
            outcome.projects_held.len(),
        );
        outcome.status_commit = Some(self.write(&model, &current, &outcome, started, &summary)?);
        timings.status = split();
        outcome.timings = timings;
        if !repo_wide {
            // Every project kept is in the model or held (see above).
            debug_assert!(current.keys().all(|n| model.projects.contains_key(n)
                || outcome.projects_held.binary_search(n).is_ok()));
            self.good = current;
        }
        self.last_revision = Some(revision);
        self.resumed = None;
        self.deferred = None;
        self.last = Some(Last {
            model,
            current: self.good.clone(),
            outcome: outcome.clone(),
        });
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            rendered = outcome.projects_rendered,
            skipped = outcome.projects_skipped,
            "reconciled"
        );
        Ok(outcome)
    }
}

/// A project's objects per cluster, and apart the Workflows of its `Run` manifests on
/// Kubernetes clusters.
#[allow(clippy::type_complexity)]
fn render_all(
    model: &Model,
    project: &Project,
    blueprints: &Blueprints,
) -> Result<(
    BTreeMap<String, Group>,
    BTreeMap<String, Vec<crate::render::RenderedObject>>,
)> {
    let mut out = BTreeMap::new();
    let mut runs = BTreeMap::new();
    for c in model.project_clusters(project) {
        let objs = render_project(model, project, c.name(), blueprints)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The run controller creates a Run's Workflows when admitted (on a directory
        // target it writes them to its runs directory), never the apply.
        let (objs, run_workflows) = runs::split_run_workflows(objs);
        out.insert(c.name().to_string(), group(objs));
        runs.insert(c.name().to_string(), run_workflows);
    }
    Ok((out, runs))
}
