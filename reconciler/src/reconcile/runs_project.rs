//! One project's pass of the run controller (see `runs`): its pipelines on each of its clusters
//! this replica runs. Projects share nothing they write (records, run files, Workflows are per
//! project), so a pass runs projects on several threads; what is shared is read only.

use super::clusters::Clusters;
use super::runs::{Records, admitted_body};
use super::runs_quiet::{self, QuietProject};
use super::{Good, Outcome};
use crate::alerts::{Channels, PipelineAlerts, problems};
use crate::model::Project;
use crate::model::kinds::PipelineSpec;
use crate::model::{Manifest, Model};
use crate::runs::controller::{self, Live, Pipeline, RunRequest};
use crate::runs::due::run_executions;
use crate::runs::naming;
use chrono::{DateTime, Utc};
use cubist_status_ui::runs::{ClusterRuns, PipelineRuns};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `(project, pipeline, cluster)`: the key of one pipeline's records on one cluster.
pub(super) type Key = (String, String, String);

/// Where a project's pass runs: the clusters of this replica it is placed on, and whether the
/// last pass's memo holds for it (see `runs_quiet`).
pub(super) struct Placement<'m> {
    /// Project name.
    pub name: &'m String,
    /// Its last good model and render.
    pub good: &'m Arc<Good>,
    /// Its directory clusters, with their directories.
    pub dirs: BTreeMap<&'m str, &'m Path>,
    /// Every cluster the controller runs it on here (Kubernetes and directory).
    pub clusters: Vec<&'m str>,
    /// Its Kubernetes clusters among them.
    pub kube: Vec<&'m str>,
    /// True when nothing it depends on changed since the last pass.
    pub quiet: bool,
}

/// What every project's pass reads and nobody writes.
pub(super) struct Shared<'a> {
    /// The records before this pass, and the run files read so far.
    pub records: &'a Records,
    /// The clusters' clients and runtime.
    pub clusters: &'a Clusters,
    /// The alert channels.
    pub channels: &'a Channels,
    /// This pass's apply outcome.
    pub outcome: &'a Outcome,
    /// The controller's clock, read once per pass.
    pub now: DateTime<Utc>,
}

/// What one project's pass gives.
pub(super) struct ProjectPass {
    /// Its records after the pass (the same `Arc` as before for those unchanged).
    pub docs: Vec<(Key, Arc<PipelineRuns>)>,
    /// The earliest next execution of its schedules with a free slot.
    pub due_next: Option<DateTime<Utc>>,
    /// True when a record changed in a way the status commit must write.
    pub changed: bool,
    /// Its memo for the next pass, when nothing moves it on by itself.
    pub quiet: Option<QuietProject>,
}

/// The earlier of two times, or whichever is there.
pub(super) fn earliest(
    a: Option<DateTime<Utc>>,
    b: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The controller's pass over project `pl`: each pipeline with a schedule or `Run` manifests
/// on each of its clusters, alerts delivered, run files of removed pipelines deleted.
pub(super) fn project_pass(pl: &Placement, sh: &Shared) -> ProjectPass {
    let (name, good, project) = (pl.name, pl.good, &pl.good.project);
    let now = sh.now;
    // Kubernetes clusters move runs on by themselves, unless out of reach.
    let live_kube = pl.kube.iter().any(|c| runs_quiet::reachable(sh.outcome, c));
    let (mut until, mut due_next) = (None, None);
    let mut listed: BTreeMap<&str, Option<Vec<Value>>> = BTreeMap::new();
    let mut docs: BTreeMap<Key, Arc<PipelineRuns>> = BTreeMap::new();
    let no_runs = ClusterRuns::default();
    for p in project.pipelines.values() {
        let pipeline = pipeline_of(project, p);
        if pipeline.schedule.is_none() && pipeline.requests.is_empty() {
            continue;
        }
        // The schedule's next execution: runs may come due then.
        let next_at = pipeline
            .schedule
            .as_ref()
            .and_then(|(cadence, _)| Some(cadence.next(now, 1).first()?.at.with_timezone(&Utc)));
        until = earliest(until, next_at);
        let key = |c: &str| (name.clone(), p.name().to_string(), c.to_string());
        // This replica's clusters of the pipeline after this pass.
        let mut doc = PipelineRuns {
            project: name.clone(),
            pipeline: p.name().to_string(),
            file: p.file().to_string(),
            since: None,
            clusters: BTreeMap::new(),
            alert_problems: Vec::new(),
        };
        let mut since_of = BTreeMap::new();
        for &cluster in &pl.clusters {
            let prev_doc = sh.records.docs.get(&key(cluster));
            // Catch-up origin on a cluster without records: when the pipeline was first seen
            // scheduled on another one, else now.
            let since = prev_doc
                .and_then(|d| d.since)
                .or_else(|| sh.records.since(name, p.name()))
                .unwrap_or(now);
            let prev = prev_doc
                .and_then(|d| d.clusters.get(cluster))
                .unwrap_or(&no_runs);
            let on = StepOn {
                cluster,
                pipeline: &pipeline,
                since,
                prev,
                outcome: sh.outcome,
                now,
            };
            let runs = match pl.dirs.get(cluster) {
                Some(root) => super::dir_runs::directory_step(
                    &on,
                    root,
                    &mut listed,
                    sh.records.run_files(),
                    good.run_workflows.get(cluster),
                ),
                None => cluster_step(sh.clusters, &on, good, &mut listed),
            };
            // When the next execution comes, a run can start only in a free slot.
            if let Some((_, schedule)) = &pipeline.schedule
                && free_slot(&runs, schedule)
            {
                due_next = earliest(due_next, next_at);
            }
            doc.clusters.insert(cluster.to_string(), runs);
            since_of.insert(cluster, since);
        }
        if let Some(alerts) = PipelineAlerts::of(project, p) {
            // This replica's clusters of the pipeline before this pass.
            let before = pl
                .clusters
                .iter()
                .filter_map(|c| sh.records.docs.get(&key(c)))
                .fold(None, |before: Option<PipelineRuns>, d| {
                    let mut b = before.unwrap_or_default();
                    b.absorb(PipelineRuns::clone(d));
                    Some(b)
                });
            match sh.clusters.runtime() {
                Some(rt) => {
                    deliver_alerts(rt, sh.channels, &alerts, before.as_ref(), &mut doc, now)
                }
                // No runtime (an async caller, no Kubernetes cluster): nothing sent.
                None => {
                    doc.alert_problems = before
                        .as_ref()
                        .map(|b| b.alert_problems.clone())
                        .unwrap_or_default()
                }
            }
        }
        for (cluster, runs) in std::mem::take(&mut doc.clusters) {
            let one = PipelineRuns {
                since: pipeline
                    .schedule
                    .as_ref()
                    .map(|_| since_of[cluster.as_str()]),
                clusters: BTreeMap::from([(cluster.clone(), runs)]),
                ..doc.clone()
            };
            // The same `Arc` when nothing changed (see `Records::docs`).
            let k = key(&cluster);
            let one = match sh.records.docs.get(&k) {
                Some(old) if **old == one => old.clone(),
                _ => Arc::new(one),
            };
            docs.insert(k, one);
        }
    }
    super::dir_runs::prune_removed(
        &pl.dirs,
        sh.outcome,
        name,
        |pipeline| docs.keys().any(|(_, n, _)| n == pipeline),
        sh.records.run_files(),
    );
    let last = || runs_quiet::of_project(&sh.records.docs, name);
    let unchanged = docs
        .iter()
        .map(|(k, d)| (k, Arc::as_ptr(d)))
        .eq(last().map(|(k, d)| (k, Arc::as_ptr(d))));
    // A failed alert attempt alone (its count) writes no status commit.
    let changed = !unchanged
        && !docs
            .iter()
            .map(|(k, d)| (k, problems::without_attempts(d)))
            .eq(last().map(|(k, d)| (k, problems::without_attempts(d))));
    let quiet = (unchanged && !live_kube)
        .then(|| {
            QuietProject::after(
                good,
                &pl.dirs,
                pl.kube.clone(),
                sh.outcome,
                until,
                due_next,
                docs.values().map(|d| &**d),
            )
        })
        .flatten();
    ProjectPass {
        docs: docs.into_iter().collect(),
        due_next,
        changed,
        quiet,
    }
}

/// Delivers the alerts of pipeline `p` due between the records `before` and `after` (see
/// `crate::alerts`): each one delivered is recorded in its run's `alerted`, so the status commit
/// keeps it and it is never sent again; one that fails is logged, recorded in `after`'s
/// `alertProblems` (`crate::alerts::problems`) and tried on the next pass.
fn deliver_alerts(
    rt: &tokio::runtime::Runtime,
    channels: &Channels,
    alerts: &PipelineAlerts,
    before: Option<&PipelineRuns>,
    after: &mut PipelineRuns,
    now: DateTime<Utc>,
) {
    let previous = before.map_or(&[][..], |b| &b.alert_problems[..]);
    let routed: Vec<String> = channels
        .routes(&alerts.channels)
        .into_iter()
        .map(|r| r.channel)
        .collect();
    let failed = rt.block_on(crate::alerts::deliver(channels, alerts, before, after, now));
    let delivered = problems::delivered_now(after, now);
    after.alert_problems = problems::track(previous, &failed, &delivered, &routed, now);
}

/// One pipeline on one cluster, as a step of the controller takes it.
pub(super) struct StepOn<'c, 'a> {
    /// The cluster.
    pub cluster: &'c str,
    /// The pipeline.
    pub pipeline: &'a Pipeline,
    /// Its catch-up origin without `startFrom`.
    pub since: DateTime<Utc>,
    /// Its records on the cluster before this pass.
    pub prev: &'a ClusterRuns,
    /// This pass's apply outcome.
    pub outcome: &'a Outcome,
    /// The controller's clock.
    pub now: DateTime<Utc>,
}

impl StepOn<'_, '_> {
    /// The controller's pass (`crate::runs::controller::step`) with the records `prev` (the
    /// step's, or as a directory target reads them) and the cluster's Workflows `live`.
    pub(super) fn decide(&self, prev: &ClusterRuns, live: &[Value]) -> controller::Step {
        controller::step(
            self.pipeline,
            self.since,
            prev,
            Live::Listed(live),
            self.now,
        )
    }
}

/// One pipeline on one Kubernetes cluster: the new records (the previous ones when the cluster
/// could not be looked at). `listed` keeps the project's Workflows per cluster, listed once for
/// all its pipelines.
fn cluster_step<'c>(
    clusters: &Clusters,
    on: &StepOn<'c, '_>,
    good: &Good,
    listed: &mut BTreeMap<&'c str, Option<Vec<Value>>>,
) -> ClusterRuns {
    let (cluster, p, prev) = (on.cluster, on.pipeline, on.prev);
    let reachable = runs_quiet::reachable(on.outcome, cluster);
    let Some(target) = clusters.kube_target(cluster).filter(|_| reachable) else {
        return prev.clone();
    };
    let Some(rt) = clusters.runtime() else {
        return prev.clone();
    };
    let selector = format!("{}={}", naming::PROJECT, p.project);
    let live = listed.entry(cluster).or_insert_with(|| {
        rt.block_on(target.list_workflows(&p.project, &selector))
            .inspect_err(|e| tracing::warn!(cluster, error = %e, "listing run Workflows failed"))
            .ok()
    });
    let Some(live) = live.as_deref() else {
        return prev.clone();
    };
    let mut step = on.decide(prev, live);
    let rendered = good.run_workflows.get(cluster);
    for c in &step.create {
        let body = admitted_body(p, c, rendered);
        super::test_hook::hold_run("before", &c.name);
        match rt.block_on(target.create_workflow(&body)) {
            Ok(made) => {
                tracing::info!(cluster, workflow = %c.name, made, "run admitted");
                super::test_hook::hold_run("after", &c.name);
            }
            Err(e) => {
                tracing::warn!(cluster, workflow = %c.name, error = %e, "creating a run Workflow failed; retried next pass");
                step.runs.runs.retain(|r| r.workflow != c.name);
            }
        }
    }
    step.runs
}

/// The controller's view of a pipeline: its parsed schedule and what its `Run`s ask for.
fn pipeline_of(project: &Project, p: &Manifest<PipelineSpec>) -> Pipeline {
    let schedule = p
        .spec
        .schedule
        .as_ref()
        .and_then(|s| Some((crate::runs::dates::Cadence::new(s).ok()?, s.clone())));
    let cadence = schedule.as_ref().map(|(c, _)| c);
    let requests = project
        .runs
        .values()
        .filter(|r| r.spec.pipeline == p.name())
        .flat_map(|r| {
            run_executions(cadence, &r.spec)
                .into_iter()
                .map(|execution| RunRequest {
                    run: r.name().to_string(),
                    file: r.file().to_string(),
                    execution,
                })
        })
        .collect();
    Pipeline {
        project: project.name().to_string(),
        name: p.name().to_string(),
        file: p.file().to_string(),
        schedule,
        requests,
        due: Default::default(),
    }
}

/// True when a run created now would start: fewer of the cluster's runs are not finished than
/// the schedule's `concurrency` allows.
fn free_slot(runs: &ClusterRuns, schedule: &crate::model::kinds::Schedule) -> bool {
    let unfinished = runs
        .runs
        .iter()
        .filter(|r| !crate::runs::admission::finished(r.phase))
        .count();
    unfinished < schedule.concurrency.unwrap_or(1).max(1) as usize
}

/// Where each project of `current` runs this pass (see [`Placement`]): its Kubernetes clusters
/// and its directory clusters of `roots`, among those this replica `owns`.
pub(super) fn placements<'m>(
    model: &'m Model,
    current: &'m BTreeMap<String, Arc<Good>>,
    roots: &'m BTreeMap<String, PathBuf>,
    owns: impl Fn(&str) -> bool,
    quiet: impl Fn(&str, &Arc<Good>, &BTreeMap<&str, &Path>, &[&str]) -> bool,
) -> Vec<Placement<'m>> {
    use crate::model::kinds::Target;
    current
        .iter()
        .map(|(name, good)| {
            let placed = model.project_clusters(&good.project);
            let dirs: BTreeMap<&str, &Path> = placed
                .iter()
                .filter_map(|c| Some((c.name(), roots.get(c.name())?.as_path())))
                .collect();
            // Directory targets have no engine: what is admitted is written and waits (see
            // `dir_runs` and the README, Runs). Other replicas run the clusters they own.
            let clusters: Vec<&str> = placed
                .iter()
                .filter(|c| {
                    matches!(c.spec.target, Target::Kubernetes { .. })
                        || dirs.contains_key(c.name())
                })
                .map(|c| c.name())
                .filter(|c| owns(c))
                .collect();
            let kube: Vec<&str> = clusters
                .iter()
                .copied()
                .filter(|c| !dirs.contains_key(c))
                .collect();
            let quiet = quiet(name, good, &dirs, &kube);
            Placement {
                name,
                good,
                dirs,
                clusters,
                kube,
                quiet,
            }
        })
        .collect()
}
