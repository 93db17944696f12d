//! Run records of the status branch: `status/runs/<project>/<pipeline>.yaml`, one file per
//! pipeline with its runs per cluster, newest first. Git is the only database: what runs exist is
//! read from the cluster (labels), what happened to them is kept here, so a finished Workflow may
//! be garbage-collected from the cluster without losing its record. See `docs/status-format.md`.

use crate::doc::RunPhase;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most finished or skipped runs kept per pipeline and cluster; runs not yet finished are
/// always kept.
pub const HISTORY: usize = 50;

/// The runs of one pipeline (`status/runs/<project>/<pipeline>.yaml`).
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
