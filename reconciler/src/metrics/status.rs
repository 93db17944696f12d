//! The gauges that repeat the status branch: after each status commit the loop writes, its
//! `status/summary.yaml` (objects and state per cluster) and run records
//! (`status/runs/<cluster>/<project>/<pipeline>.yaml`, and the former
//! `status/runs/<project>/<pipeline>.yaml`) are read back from the commit, so `/metrics` says
//! what the status branch says and nothing is counted twice.

use super::{ClusterLabel, ClusterStateLabels, Metrics, RunLabels};
use crate::reconcile::Outcome;
use anyhow::{Context, Result};
use cubist_status_ui::doc::{StateCounts, Summary, SyncState};
use cubist_status_ui::runs::PipelineRuns;
use cubist_status_ui::tree::paths;
use cubist_status_ui::yaml::from_yaml;
use git2::{ObjectType, Oid, Repository, Tree};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::Duration;

/// Directory of the run records in the status tree (`docs/status-format.md`).
const RUNS_DIR: &str = "status/runs";

/// Run record files read back at most (more are left out, with a warning): a status branch
/// pushed by hand must not make one pass read without end.
const MAX_RUN_FILES: usize = 20_000;

/// Largest run record file read back; larger ones are left out, with a warning.
const MAX_RUN_FILE_BYTES: usize = 4 << 20;

/// What the gauges were last set from.
#[derive(Default)]
pub(super) struct Seen {
    clusters: BTreeSet<String>,
    runs_tree: Option<Oid>,
    runs: HashSet<RunLabels>,
}

/// Every state a cluster or object can be in, with its label (the status documents' names).
const STATES: [(SyncState, &str); 6] = [
    (SyncState::Synced, "Synced"),
    (SyncState::OutOfSync, "OutOfSync"),
    (SyncState::Failed, "Failed"),
    (SyncState::Unreachable, "Unreachable"),
    (SyncState::Held, "Held"),
    (SyncState::NotConfigured, "NotConfigured"),
];

/// How many objects `counts` has in `state`.
fn count(counts: &StateCounts, state: SyncState) -> u64 {
    match state {
        SyncState::Synced => counts.synced,
        SyncState::OutOfSync => counts.out_of_sync,
        SyncState::Failed => counts.failed,
        SyncState::Unreachable => counts.unreachable,
        SyncState::Held => counts.held,
        SyncState::NotConfigured => counts.not_configured,
    }
}

/// `success` when the reconcile had no error and held no project, and its summary shows every
/// cluster synced (or not configured, which is neutral); else `degraded`. Errors are taken from
/// the outcome: a project whose `project.yaml` does not load is not in the summary's list.
fn result_of(outcome: &Outcome, summary: &Summary) -> &'static str {
    let clean = !outcome.diagnostics.iter().any(|d| d.is_error())
        && outcome.projects_held.is_empty()
        && summary
            .clusters
            .iter()
            .all(|c| matches!(c.state, SyncState::Synced | SyncState::NotConfigured));
    if clean { "success" } else { "degraded" }
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    /// A loop pass made `outcome` after `took`, with its status commit in `repo`: counts a
    /// reconcile (`success` or `degraded`) and sets the cluster, object and run gauges from the
    /// status commit. A status commit or summary that cannot be read is logged and counts as
    /// `degraded`; the gauges keep their values.
    pub fn reconciled(&self, repo: &Repository, outcome: &Outcome, took: Duration) {
        let commit = outcome.status_commit.unwrap_or(Oid::ZERO_SHA1);
        let tree = match repo.find_commit(commit).and_then(|c| c.tree()) {
            Ok(tree) => tree,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: status commit {commit} not readable");
                return self.count_reconcile("degraded", took);
            }
        };
        match read_summary(repo, &tree) {
            Ok(summary) => {
                self.count_reconcile(result_of(outcome, &summary), took);
                self.set_clusters(&summary);
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "metrics: status summary not readable"
                );
                self.count_reconcile("degraded", took);
            }
        }
        let runs_tree = tree.get_path(Path::new(RUNS_DIR)).ok().map(|e| e.id());
        let mut seen = self.inner.status.lock().unwrap_or_else(|e| e.into_inner());
        if seen.runs_tree != runs_tree {
            seen.runs_tree = runs_tree;
            drop(seen);
            let runs = runs_tree.map_or_else(Vec::new, |id| read_runs(repo, id));
            self.set_pipeline_runs(&runs);
        }
    }

    /// Sets `cubist_objects`, `cubist_cluster_state` and `cubist_cluster_up` from `summary`;
    /// clusters it no longer lists lose their series.
    fn set_clusters(&self, summary: &Summary) {
        let m = &self.inner;
        let mut seen = m.status.lock().unwrap_or_else(|e| e.into_inner());
        let now: BTreeSet<String> = summary.clusters.iter().map(|c| c.name.clone()).collect();
        for gone in seen.clusters.difference(&now) {
            for (_, state) in STATES {
                let labels = ClusterStateLabels {
                    cluster: gone.clone(),
                    state,
                };
                m.objects.remove(&labels);
                m.cluster_state.remove(&labels);
            }
            m.cluster_up.remove(&ClusterLabel {
                cluster: gone.clone(),
            });
        }
        for c in &summary.clusters {
            for (state, label) in STATES {
                let labels = ClusterStateLabels {
                    cluster: c.name.clone(),
                    state: label,
                };
                m.objects
                    .get_or_create(&labels)
                    .set(gauge(count(&c.counts, state)));
                m.cluster_state
                    .get_or_create(&labels)
                    .set(i64::from(c.state == state));
            }
            let up = !matches!(c.state, SyncState::Unreachable | SyncState::NotConfigured);
            m.cluster_up
                .get_or_create(&ClusterLabel {
                    cluster: c.name.clone(),
                })
                .set(i64::from(up));
        }
        seen.clusters = now;
    }

    /// Sets `cubist_pipeline_runs` to the records of `runs` (every pipeline's run records, as
    /// written to the status branch): per project, pipeline, cluster and phase, how many runs.
    /// Series of pipelines, clusters or phases no longer in `runs` are removed. The loop calls
    /// it with the run records of each status commit it writes.
    pub fn set_pipeline_runs(&self, runs: &[PipelineRuns]) {
        let m = &self.inner;
        let mut counts: std::collections::HashMap<RunLabels, i64> = Default::default();
        for p in runs {
            for (cluster, c) in &p.clusters {
                for r in &c.runs {
                    let labels = RunLabels {
                        project: p.project.clone(),
                        pipeline: p.pipeline.clone(),
                        cluster: cluster.clone(),
                        phase: format!("{:?}", r.phase),
                    };
                    *counts.entry(labels).or_default() += 1;
                }
            }
        }
        let mut seen = m.status.lock().unwrap_or_else(|e| e.into_inner());
        for gone in seen.runs.iter().filter(|l| !counts.contains_key(*l)) {
            m.pipeline_runs.remove(gone);
        }
        for (labels, n) in &counts {
            m.pipeline_runs.get_or_create(labels).set(*n);
        }
        seen.runs = counts.into_keys().collect();
    }
}

fn read_summary(repo: &Repository, tree: &Tree) -> Result<Summary> {
    let entry = tree
        .get_path(Path::new(paths::SUMMARY))
        .with_context(|| format!("no {}", paths::SUMMARY))?;
    let blob = repo.find_blob(entry.id())?;
    from_yaml(blob.content()).with_context(|| paths::SUMMARY.to_string())
}

/// The run records under the tree `runs` (`<cluster>/<project>/<pipeline>.yaml`, and the former
/// `<project>/<pipeline>.yaml`), merged per pipeline; files that are too large, too many or not
/// readable are left out with a warning.
fn read_runs(repo: &Repository, runs: Oid) -> Vec<PipelineRuns> {
    let mut found: Vec<(String, Oid)> = Vec::new();
    let mut walked = 0;
    let Ok(tree) = repo.find_tree(runs) else {
        return Vec::new();
    };
    // Two directories deep at most (`<cluster>/<project>/`).
    let mut dirs = vec![(String::new(), tree)];
    while let Some((prefix, dir)) = dirs.pop() {
        for e in dir.iter() {
            let name = e.name().unwrap_or("");
            walked += 1;
            if walked > MAX_RUN_FILES {
                tracing::warn!(
                    "metrics: more than {MAX_RUN_FILES} run record entries; the rest left out"
                );
                dirs.clear();
                break;
            }
            match e.kind() {
                Some(ObjectType::Blob) if name.ends_with(".yaml") => {
                    found.push((format!("{prefix}{name}"), e.id()));
                }
                Some(ObjectType::Tree) if prefix.matches('/').count() < 2 => {
                    if let Ok(sub) = repo.find_tree(e.id()) {
                        dirs.push((format!("{prefix}{name}/"), sub));
                    }
                }
                _ => {}
            }
        }
    }
    let docs: Vec<(&str, Result<PipelineRuns, ()>)> = found
        .iter()
        .map(|(name, id)| {
            let doc = match repo.find_blob(*id) {
                Ok(blob) if blob.size() > MAX_RUN_FILE_BYTES => {
                    tracing::warn!(file = %name, "metrics: run record file too large; left out");
                    Err(())
                }
                Ok(blob) => from_yaml::<PipelineRuns>(blob.content()).map_err(|e| {
                    tracing::warn!(file = %name, error = %e, "metrics: run records not readable")
                }),
                Err(_) => Err(()),
            };
            (name.as_str(), doc)
        })
        .collect();
    // A file left out leaves out only itself: the others of its pipeline still count.
    let readable = docs.into_iter().filter(|(_, d)| d.is_ok());
    cubist_status_ui::runs::merge_files(readable)
        .into_iter()
        .filter_map(Result::ok)
        .collect()
}
