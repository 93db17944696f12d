//! The run controller on directory targets, which have no engine: the same pass as on a
//! Kubernetes cluster (due executions, admission, names, Workflow bodies) for the schedule,
//! with the target's run files (`crate::runs::files`) as the cluster's Workflows. What it admits is written there
//! and recorded as Waiting ("waiting: directory target has no engine"); nothing moves it on
//! unless something writes a `status` into its file.

use super::Outcome;
use super::runs_project::StepOn;
use crate::model::kinds::Target;
use crate::runs::files;
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::ClusterRuns;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a run the controller wrote to a directory target says while nothing runs it.
pub const NO_ENGINE: &str = "waiting: directory target has no engine";

/// The records as the controller decides with them: a run waiting for an engine is a created,
/// Pending run (it takes a `concurrency` slot; a file deleted by hand makes it an Error).
fn as_created(prev: &ClusterRuns) -> ClusterRuns {
    let mut runs = prev.clone();
    for r in &mut runs.runs {
        if r.phase == RunPhase::Waiting && r.message == NO_ENGINE {
            r.phase = RunPhase::Pending;
            r.message.clear();
        }
    }
    runs
}

/// The records as written: a created run no engine has started is Waiting, and says why.
fn as_waiting(runs: &mut ClusterRuns) {
    for r in &mut runs.runs {
        if r.phase == RunPhase::Pending && r.started.is_none() && r.message.is_empty() {
            r.phase = RunPhase::Waiting;
            r.message = NO_ENGINE.to_string();
        }
    }
}

/// The directory of each directory cluster of `model` that `owns` picks, by cluster name
/// (resolved once per pass: resolving looks at the file system).
pub(super) fn cluster_roots(
    cfg_root: &Path,
    model: &crate::model::Model,
    owns: impl Fn(&str) -> bool,
) -> BTreeMap<String, PathBuf> {
    model
        .clusters
        .values()
        .filter(|c| matches!(c.spec.target, Target::Directory { .. }) && owns(c.name()))
        .filter_map(|c| {
            let t = crate::targets::select::directory_target(cfg_root, &c.spec).ok()?;
            Some((c.name().to_string(), t.root().to_path_buf()))
        })
        .collect()
}

/// One pipeline on one directory cluster: the new records (the previous ones when the
/// cluster failed this pass or its files cannot be read). `listed` keeps the project's
/// files per cluster, read once for all its pipelines.
pub(super) fn directory_step<'c>(
    on: &StepOn<'c, '_>,
    root: &Path,
    listed: &mut BTreeMap<&'c str, Option<Vec<Value>>>,
    cache: &files::Cache,
    rendered: Option<&Vec<crate::render::RenderedObject>>,
) -> ClusterRuns {
    let (cluster, p, prev) = (on.cluster, on.pipeline, on.prev);
    let applied = on
        .outcome
        .clusters
        .get(cluster)
        .is_some_and(|co| co.skipped.is_none());
    if !applied {
        return prev.clone();
    }
    let live = listed.entry(cluster).or_insert_with(|| {
            files::list(root, &p.project, cache)
                .inspect_err(|e| tracing::warn!(cluster, error = %format!("{e:#}"), "reading run Workflow files failed"))
                .ok()
        });
    let Some(live) = live.as_deref() else {
        return prev.clone();
    };
    // Scheduled runs and a `Run`'s executions alike go through admission (see README, Runs).
    let mut step = on.decide(&as_created(prev), live);
    for c in &step.create {
        let body = super::runs::admitted_body(p, c, rendered);
        match files::create(root, &p.project, &c.name, &body, cache) {
            Ok(made) => {
                tracing::info!(cluster, workflow = %c.name, made, "run admitted (written; no engine)")
            }
            Err(e) => {
                tracing::warn!(cluster, workflow = %c.name, error = %format!("{e:#}"), "writing a run Workflow failed; retried next pass");
                step.runs.runs.retain(|r| r.workflow != c.name);
            }
        }
    }
    as_waiting(&mut step.runs);
    step.runs
}

/// Deletes, in each directory target of `roots`, the run files of `project`'s pipelines that
/// `keep` refuses (removed, or no longer scheduled nor asked for by a `Run`).
pub(super) fn prune_removed(
    roots: &BTreeMap<&str, &Path>,
    outcome: &Outcome,
    project: &str,
    keep: impl Fn(&str) -> bool,
    cache: &files::Cache,
) {
    for (cluster, root) in roots {
        if outcome
            .clusters
            .get(*cluster)
            .is_none_or(|co| co.skipped.is_some())
        {
            continue;
        }
        match files::prune(root, project, &keep, cache) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                cluster,
                project,
                deleted = n,
                "run files of removed pipelines deleted"
            ),
            Err(e) => {
                tracing::warn!(cluster, project, error = %format!("{e:#}"), "deleting run files failed")
            }
        }
    }
}

/// The projects placed on each directory cluster.
pub(super) fn placed_on<'m>(
    placements: &[super::runs_project::Placement<'m>],
) -> BTreeMap<&'m str, BTreeSet<&'m str>> {
    let mut placed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for pl in placements {
        for cluster in pl.dirs.keys() {
            placed.entry(*cluster).or_default().insert(pl.name.as_str());
        }
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubist_status_ui::runs::RunRecord;

    #[test]
    fn waiting_for_an_engine_round_trips_and_only_that() {
        let rec = |phase, message: &str| RunRecord {
            workflow: "w".into(),
            phase,
            message: message.into(),
            ..RunRecord::default()
        };
        let mut runs = ClusterRuns {
            runs: vec![
                rec(RunPhase::Pending, ""),
                rec(RunPhase::Running, ""),
                rec(RunPhase::Waiting, "held by concurrency"),
            ],
            ..ClusterRuns::default()
        };
        as_waiting(&mut runs);
        assert_eq!(runs.runs[0].phase, RunPhase::Waiting);
        assert_eq!(runs.runs[0].message, NO_ENGINE);
        assert_eq!(runs.runs[1].phase, RunPhase::Running);
        let back = as_created(&runs);
        assert_eq!(back.runs[0].phase, RunPhase::Pending);
        assert!(back.runs[0].message.is_empty());
        assert_eq!(back.runs[2].phase, RunPhase::Waiting, "{back:?}");
    }
}
