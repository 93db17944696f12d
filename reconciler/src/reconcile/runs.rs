//! The run controller in the loop: on every pass (a new revision or a refresh), for each
//! pipeline with a schedule or `Run` manifests and each Kubernetes cluster it is placed on,
//! list the project's run Workflows, decide admission (`crate::runs::controller`), create what
//! is admitted (create-if-absent by deterministic name) and keep the records, which every
//! status commit writes to `status/runs/<project>/<pipeline>.yaml`.

use super::{Good, Outcome, Reconciler};
use crate::alerts::{Channels, PipelineAlerts, problems};
use crate::model::kinds::{PipelineSpec, Target};
use crate::model::{Manifest, Model, Project};
use crate::render::RenderedObject;
use crate::runs::controller::{self, Live, Pipeline, RunRequest};
use crate::runs::due::run_executions;
use crate::runs::naming::{self, Origin};
use crate::runs::workflow;
use chrono::{DateTime, Utc};
use cubist_status_ui::runs::{ClusterRuns, PipelineRuns};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The records of every pipeline, read once from the status branch, then kept.
#[derive(Default)]
pub(super) struct Records {
    loaded: bool,
    /// `(project, pipeline)` → its records.
    pub(super) docs: BTreeMap<(String, String), PipelineRuns>,
    /// The run files of directory targets read so far.
    run_files: crate::runs::files::Cache,
}

/// The clock of the run controller: now, or under the `test-hooks` feature the time in
/// `CUBIST_TEST_NOW` (RFC 3339), so tests can move through days.
pub fn now() -> DateTime<Utc> {
    super::test_hook::now().unwrap_or_else(Utc::now)
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

impl Reconciler {
    /// Reads the records from the status branch the first time they are needed.
    pub(super) fn load_records(&mut self) {
        if self.records.loaded {
            return;
        }
        self.records.loaded = true;
        let Ok(files) =
            crate::report::status_branch::read_status(self.mirror.repo(), &self.cfg.status_branch)
        else {
            return;
        };
        for (path, bytes) in files {
            if !path.starts_with(cubist_status_ui::tree::paths::RUNS_DIR) {
                continue;
            }
            match cubist_status_ui::yaml::from_yaml::<PipelineRuns>(&bytes) {
                Ok(doc) => {
                    self.records
                        .docs
                        .insert((doc.project.clone(), doc.pipeline.clone()), doc);
                }
                Err(e) => {
                    tracing::warn!(path = %path, error = %e, "run records unreadable; starting them again")
                }
            }
        }
    }

    /// One controller pass over every pipeline of `current`; true when a record changed.
    pub(super) fn run_pipelines(
        &mut self,
        model: &Model,
        current: &BTreeMap<String, Arc<Good>>,
        outcome: &Outcome,
    ) -> bool {
        self.load_records();
        let now = now();
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
        let mut docs = BTreeMap::new();
        for (name, good) in current {
            let project = &good.project;
            // Directory targets have no engine: what is admitted is written and waits (see
            // `dir_runs` and the README, Runs).
            let dirs = super::dir_runs::directory_roots(&self.cfg.target_root, model, project);
            let clusters: Vec<&str> = model
                .project_clusters(project)
                .iter()
                .filter(|c| {
                    matches!(c.spec.target, Target::Kubernetes { .. })
                        || dirs.contains_key(c.name())
                })
                .map(|c| c.name())
                .collect();
            if clusters.is_empty() {
                continue;
            }
            let mut listed: BTreeMap<&str, Option<Vec<Value>>> = BTreeMap::new();
            for p in project.pipelines.values() {
                let pipeline = pipeline_of(project, p);
                if pipeline.schedule.is_none() && pipeline.requests.is_empty() {
                    continue;
                }
                let key = (name.clone(), p.name().to_string());
                let before = self.records.docs.get(&key);
                let since = before.and_then(|d| d.since).unwrap_or(now);
                let mut doc = PipelineRuns {
                    project: name.clone(),
                    pipeline: p.name().to_string(),
                    file: p.file().to_string(),
                    since: pipeline.schedule.as_ref().map(|_| since),
                    clusters: BTreeMap::new(),
                    alert_problems: Vec::new(),
                };
                for &cluster in &clusters {
                    let prev = before
                        .and_then(|d| d.clusters.get(cluster))
                        .cloned()
                        .unwrap_or_default();
                    let runs = match dirs.get(cluster) {
                        Some(root) => super::dir_runs::directory_step(
                            cluster,
                            root,
                            &pipeline,
                            since,
                            &prev,
                            outcome,
                            now,
                            &mut listed,
                            &mut self.records.run_files,
                        ),
                        None => self.cluster_step(
                            cluster,
                            good,
                            &pipeline,
                            since,
                            &prev,
                            outcome,
                            now,
                            &mut listed,
                        ),
                    };
                    doc.clusters.insert(cluster.to_string(), runs);
                }
                if let Some(alerts) = PipelineAlerts::of(project, p) {
                    match self.clusters.runtime() {
                        Some(rt) => deliver_alerts(rt, &channels, &alerts, before, &mut doc, now),
                        // No runtime (an async caller, no Kubernetes cluster): nothing sent.
                        None => {
                            doc.alert_problems =
                                before.map(|b| b.alert_problems.clone()).unwrap_or_default()
                        }
                    }
                }
                docs.insert(key, doc);
            }
            super::dir_runs::prune_removed(
                &dirs,
                outcome,
                name,
                |pipeline| docs.contains_key(&(name.clone(), pipeline.to_string())),
                &mut self.records.run_files,
            );
        }
        super::dir_runs::prune_gone_projects(
            &self.cfg.target_root,
            model,
            current,
            outcome,
            &mut self.records.run_files,
        );
        // A failed alert attempt alone (its count) writes no status commit.
        let changed = docs.len() != self.records.docs.len()
            || docs.iter().zip(&self.records.docs).any(|((k, a), (l, b))| {
                k != l || problems::without_attempts(a) != problems::without_attempts(b)
            });
        self.records.docs = docs;
        changed
    }

    /// One pipeline on one cluster: the new records (the previous ones when the cluster could
    /// not be looked at).
    #[allow(clippy::too_many_arguments)]
    fn cluster_step<'c>(
        &self,
        cluster: &'c str,
        good: &Good,
        p: &Pipeline,
        since: DateTime<Utc>,
        prev: &ClusterRuns,
        outcome: &Outcome,
        now: DateTime<Utc>,
        listed: &mut BTreeMap<&'c str, Option<Vec<Value>>>,
    ) -> ClusterRuns {
        let reachable = outcome
            .clusters
            .get(cluster)
            .is_some_and(|co| !co.unreachable && !co.not_configured && co.retry_in.is_none());
        let Some(target) = self.clusters.kube_target(cluster).filter(|_| reachable) else {
            return prev.clone();
        };
        let Some(rt) = self.clusters.runtime() else {
            return prev.clone();
        };
        let selector = format!("{}={}", naming::PROJECT, p.project);
        let live = listed.entry(cluster).or_insert_with(|| {
            rt.block_on(target.list_workflows(&p.project, &selector))
                .inspect_err(
                    |e| tracing::warn!(cluster, error = %e, "listing run Workflows failed"),
                )
                .ok()
        });
        let Some(live) = live.as_deref() else {
            return prev.clone();
        };
        let mut step = controller::step(p, since, prev, Live::Listed(live), now);
        let rendered = good.run_workflows.get(cluster);
        for c in &step.create {
            let spec = match &c.admit.origin {
                Origin::Run(_) => rendered
                    .and_then(|objs| objs.iter().find(|o| o.key_parts()[3] == c.name))
                    .map(|o| o.body.to_value()["spec"].clone()),
                Origin::Schedule => None,
            };
            let body = workflow::body(
                &p.project,
                &p.name,
                &c.name,
                c.admit.execution,
                &c.admit.origin,
                c.admit.attempt,
                spec.as_ref(),
            );
            match rt.block_on(target.create_workflow(&body)) {
                Ok(made) => tracing::info!(cluster, workflow = %c.name, made, "run admitted"),
                Err(e) => {
                    tracing::warn!(cluster, workflow = %c.name, error = %e, "creating a run Workflow failed; retried next pass");
                    step.runs.runs.retain(|r| r.workflow != c.name);
                }
            }
        }
        step.runs
    }
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
    }
}

/// Splits a cluster's rendered objects: the run Workflows render made for `Run` manifests
/// (created by the controller when admitted, never applied) and the rest.
pub(super) fn split_run_workflows(
    objs: Vec<RenderedObject>,
) -> (Vec<RenderedObject>, Vec<RenderedObject>) {
    objs.into_iter().partition(|o| !workflow::is_run(o))
}
