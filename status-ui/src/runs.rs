//! Run records of the status branch: `status/runs/<cluster>/<project>/<pipeline>.yaml`, one
//! file per pipeline and cluster (the layout before, still read, was one file per pipeline with
//! every cluster, `status/runs/<project>/<pipeline>.yaml`), runs newest first. Git is the only database: what runs exist is
//! read from the cluster (labels), what happened to them is kept here, so a finished Workflow may
//! be garbage-collected from the cluster without losing its record. See `docs/status-format.md`.

use crate::doc::RunPhase;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most finished or skipped runs kept per pipeline and cluster; runs not yet finished are
/// always kept.
pub const HISTORY: usize = 50;

/// The runs of one pipeline: on one cluster as written (`status/runs/<cluster>/<project>/<pipeline>.yaml`),
/// on every cluster as read (see [`merge_files`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PipelineRuns {
    /// Project name.
    pub project: String,
    /// Pipeline name.
    pub pipeline: String,
    /// The pipeline's file in the repository.
    pub file: String,
    /// When cubist first saw the pipeline scheduled: the catch-up origin when it has no
    /// `startFrom` (no catch-up before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Runs per cluster name.
    pub clusters: BTreeMap<String, ClusterRuns>,
    /// Alert channels that failed to deliver this pipeline's alerts, until one delivery to
    /// the channel succeeds (absent in older files: none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_problems: Vec<AlertProblem>,
}

/// Most alert problems kept per pipeline, and runs named per problem.
pub const MAX_ALERT_PROBLEMS: usize = 20;

/// An alert channel that does not deliver a pipeline's alerts. Never holds a secret: the
/// error names the channel's environment variable, not its value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AlertProblem {
    /// The channel name from `cubist.yaml`.
    pub channel: String,
    /// The latest error.
    pub error: String,
    /// When a delivery to it first failed (since the last success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Failed deliveries since then, as of the status commit that wrote this (a new failed
    /// attempt alone writes no commit).
    pub attempts: u64,
    /// The runs whose alerts wait, as `<cluster>/<workflow> <phase>` (at most
    /// [`MAX_ALERT_PROBLEMS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
}

impl PipelineRuns {
    /// Takes in `other`, another file of the same pipeline: its clusters replace these,
    /// `since` is the earliest of both, and alert problems of one channel become one (earliest
    /// `since`, most attempts, the runs of both).
    pub fn absorb(&mut self, other: PipelineRuns) {
        self.since = earliest(self.since, other.since);
        if self.file.is_empty() {
            self.file = other.file;
        }
        self.clusters.extend(other.clusters);
        for problem in other.alert_problems {
            let same = self
                .alert_problems
                .iter()
                .position(|p| p.channel == problem.channel);
            match same {
                Some(i) => {
                    let mine = &mut self.alert_problems[i];
                    mine.since = earliest(mine.since, problem.since);
                    mine.attempts = mine.attempts.max(problem.attempts);
                    for run in problem.runs {
                        if !mine.runs.contains(&run) && mine.runs.len() < MAX_ALERT_PROBLEMS {
                            mine.runs.push(run);
                        }
                    }
                }
                None if self.alert_problems.len() < MAX_ALERT_PROBLEMS => {
                    self.alert_problems.push(problem)
                }
                None => {}
            }
        }
    }
}

/// The earlier of two optional times (either when only one is known).
fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Where a runs file is, from its path under `status/runs/`: `(project, pipeline, per
/// cluster)`; `None` for anything else.
pub fn runs_file_key(rest: &str) -> Option<(&str, &str, bool)> {
    let stem = rest.strip_suffix(".yaml")?;
    match stem.split('/').collect::<Vec<_>>()[..] {
        [project, pipeline] => Some((project, pipeline, false)),
        [_cluster, project, pipeline] => Some((project, pipeline, true)),
        _ => None,
    }
    .filter(|(p, n, _)| !p.is_empty() && !n.is_empty())
}

/// The runs files under `status/runs/` (path under it, decoded) as one document per pipeline,
/// by project then pipeline: a pipeline's files of both layouts merged, one file per cluster
/// over the former whole-pipeline file. A pipeline with a file that does not decode is that
/// file's error. Other paths are left out.
pub fn merge_files<'a, E>(
    files: impl IntoIterator<Item = (&'a str, Result<PipelineRuns, E>)>,
) -> Vec<Result<PipelineRuns, E>> {
    /// A pipeline's files: per cluster or not, and decoded.
    type Files<E> = Vec<(bool, Result<PipelineRuns, E>)>;
    let mut by: BTreeMap<(&str, &str), Files<E>> = BTreeMap::new();
    for (rest, doc) in files {
        if let Some((project, pipeline, per_cluster)) = runs_file_key(rest) {
            by.entry((project, pipeline))
                .or_default()
                .push((per_cluster, doc));
        }
    }
    by.into_values()
        .map(|mut docs| {
            // The former layout first: a per-cluster file replaces its cluster.
            docs.sort_by_key(|(per_cluster, _)| *per_cluster);
            let mut merged: Option<PipelineRuns> = None;
            for (_, doc) in docs {
                let doc = doc?;
                match &mut merged {
                    Some(m) => m.absorb(doc),
                    None => merged = Some(doc),
                }
            }
            Ok(merged.unwrap_or_default())
        })
        .collect()
}

/// A pipeline's runs on one cluster.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterRuns {
    /// Every scheduled execution at or before this time is settled (finished or skipped), so
    /// records older than it may be dropped without the execution becoming due again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_through: Option<DateTime<FixedOffset>>,
    /// Executions due but not created yet (held by `concurrency` or `dependsOnPast`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Why no run can start, when a `dependsOnPast` chain is blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Blocked>,
    /// Runs newest first (execution time, then attempt): every run not yet finished, and at
    /// most [`HISTORY`] finished or skipped ones.
    pub runs: Vec<RunRecord>,
}

/// Executions due and waiting to be admitted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Waiting {
    /// How many.
    pub count: u64,
    /// The oldest (the next to start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest: Option<DateTime<FixedOffset>>,
    /// The newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<FixedOffset>>,
    /// More executions are due than one pass looks at (the catch-up cap): the newest are
    /// not counted yet and come in later passes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more_due: bool,
}

/// What blocks a `dependsOnPast` chain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Blocked {
    /// The Workflow whose failure blocks the chain.
    pub workflow: String,
    /// Its execution time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<DateTime<FixedOffset>>,
    /// Why, in words.
    pub reason: String,
    /// How to unblock it (e.g. commit a `Run` that re-runs that date).
    pub fix: String,
}

/// Who asked for a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RunOrigin {
    /// `schedule` (the pipeline's cron) or `run` (a `Run` manifest).
    pub kind: String,
    /// The `Run` manifest's name and file, for `run`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run: String,
    /// The `Run` manifest's file in the repository, for `run`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
}

/// One run: an execution of a pipeline on a cluster, one attempt.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RunRecord {
    /// Execution time in the schedule's timezone (midnight of the date for a `Run` manifest's
    /// dates when the pipeline has no schedule).
    pub execution: Option<DateTime<FixedOffset>>,
    /// Execution date (`{{execution_date}}`).
    pub date: Option<NaiveDate>,
    /// Workflow name (deterministic from pipeline, execution and origin).
    pub workflow: String,
    /// 1 for the first run of an execution, then 2, 3, ... for re-runs.
    pub attempt: u32,
    /// Who asked for it.
    pub origin: RunOrigin,
    /// Phase: Waiting, Pending, Running, Succeeded, Failed, Error, Skipped or Blocked.
    pub phase: RunPhase,
    /// When the engine started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<DateTime<Utc>>,
    /// Finished minus started, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    /// The engine's message, or why it was skipped or is blocked.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Per task of the DAG, from the Workflow's `status.nodes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskRecord>,
    /// Alerts delivered for this run, so each transition reaches people exactly once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerted: Vec<Alerted>,
}

/// One task of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskRecord {
    /// Task name.
    pub name: String,
    /// Phase of its last attempt.
    pub phase: RunPhase,
    /// When its first attempt started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
    /// When its last attempt finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<DateTime<Utc>>,
    /// Retries used.
    pub retries: u32,
    /// The engine's message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// An alert delivered for a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Alerted {
    /// The phase it reported.
    pub phase: RunPhase,
    /// The channel name from `cubist.yaml`.
    pub channel: String,
    /// When it was delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(clusters: &[(&str, &str)], since: i64) -> PipelineRuns {
        PipelineRuns {
            project: "p".into(),
            pipeline: "daily".into(),
            file: "projects/p/pipelines/daily.yaml".into(),
            since: DateTime::from_timestamp(since, 0),
            alert_problems: Vec::new(),
            clusters: clusters
                .iter()
                .map(|(c, wf)| {
                    let runs = vec![RunRecord {
                        workflow: wf.to_string(),
                        ..RunRecord::default()
                    }];
                    (
                        c.to_string(),
                        ClusterRuns {
                            runs,
                            ..ClusterRuns::default()
                        },
                    )
                })
                .collect(),
        }
    }

    fn workflows(p: &PipelineRuns) -> Vec<(String, String)> {
        p.clusters
            .iter()
            .map(|(c, r)| (c.clone(), r.runs[0].workflow.clone()))
            .collect()
    }

    #[test]
    fn per_cluster_files_merge_over_the_former_whole_pipeline_file() {
        // The former file (every cluster) sorts between the per-cluster ones, by path.
        let files = vec![
            ("a/p/daily.yaml", Ok::<_, ()>(doc(&[("a", "new-a")], 20))),
            (
                "p/daily.yaml",
                Ok(doc(&[("a", "old-a"), ("c", "old-c")], 30)),
            ),
            ("zz/p/daily.yaml", Ok(doc(&[("zz", "new-zz")], 10))),
            ("b/p/other.yaml", Ok(doc(&[("b", "x")], 10))),
            ("a/p/daily.txt", Ok(doc(&[("q", "ignored")], 10))),
            ("a/b/p/daily.yaml", Ok(doc(&[("q", "too deep")], 10))),
        ];
        let merged = merge_files(files);
        assert_eq!(merged.len(), 2, "{merged:?}");
        let daily = merged[0].as_ref().unwrap();
        assert_eq!(
            workflows(daily),
            [("a", "new-a"), ("c", "old-c"), ("zz", "new-zz")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(daily.since, DateTime::from_timestamp(10, 0), "the earliest");
        assert_eq!(daily.file, "projects/p/pipelines/daily.yaml");
        // A pipeline with a file that does not decode is that file's error.
        let broken = merge_files(vec![
            ("a/p/daily.yaml", Ok(doc(&[("a", "w")], 1))),
            ("b/p/daily.yaml", Err("b is corrupt")),
        ]);
        assert_eq!(broken, vec![Err("b is corrupt")]);
    }
}
