//! Typed documents of the status branch (`docs/status-format.md`).
//!
//! The reconciler writes these with [`crate::yaml::to_yaml`] and the page reads them with
//! [`crate::yaml::from_yaml`]: one set of types, both directions. Keys are camelCase; every field
//! that the contract marks optional (or that an older writer may omit) has a default, so a reader
//! accepts documents with missing fields, and unknown fields are ignored.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// State of one rendered object (and of a cluster as a whole).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum SyncState {
    /// Applied and identical to the desired state.
    Synced,
    /// Desired state differs from the applied one (not yet applied, or drifted).
    #[default]
    OutOfSync,
    /// Applying failed, or the object is held at the last good revision.
    Failed,
    /// The target cluster could not be reached.
    Unreachable,
    /// The prune guard holds the deletion of this object (of a cluster: some deletions), until a
    /// commit allows it (see [`HeldPrune`]).
    Held,
    /// The credentials to reach the cluster are not set up where cubist runs (no kubeconfig):
    /// neutral, nothing was tried; the cluster's message says what to set.
    NotConfigured,
}

/// The code of the entry that says what to set for a [`SyncState::NotConfigured`] cluster: a
/// note, shown neutral, not an error.
pub const NOT_CONFIGURED_CODE: &str = "not configured";

/// Health of a workload as reported by its controller.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum Health {
    /// Running as intended.
    Healthy,
    /// Rolling out or starting.
    Progressing,
    /// Running but not as intended.
    Degraded,
    /// No health signal (the default).
    #[default]
    Unknown,
}

/// State of a project: whether its newest commit was valid.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum ProjectState {
    /// The newest commit for this project was valid and is applied.
    #[default]
    Ready,
    /// The newest commit was invalid; the project is held at its last good `revision`.
    Failed,
}

/// Role of a project member.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages the project (ClusterRole `cubist-admin`).
    Admin,
    /// Edits workloads (ClusterRole `cubist-edit`).
    Developer,
    /// Reads only (ClusterRole `cubist-view`).
    #[default]
    Viewer,
}

impl Role {
    /// The role as written in the repository: `admin`, `developer`, `viewer`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }
}

/// Phase of a pipeline run as reported by the workflow engine; unknown phases read as `Unknown`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum RunPhase {
    /// Due, not created yet: held by `concurrency` or an unfinished previous run; or, on a
    /// directory target (no engine), written and waiting for an engine.
    Waiting,
    /// Created, waiting to start.
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with a failing task.
    Failed,
    /// The engine failed to run it.
    Error,
    /// Never created: an older waiting run dropped by `keepLast`.
    Skipped,
    /// Waiting behind a failed previous run of a `dependsOnPast` chain.
    Blocked,
    /// No phase known (the default), or one this version does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// A validation or apply error located in a repository file. `file` is empty and `line`/`column`
/// are 0 when the error concerns no file (e.g. an unreachable cluster).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ErrorEntry {
    /// Repository-relative path with `/` separators, or empty.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// Stable code such as `E0402`, or empty.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

/// Object counts per [`SyncState`], keyed by the state name (`{Synced: 40, OutOfSync: 0, ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct StateCounts {
    /// Objects in [`SyncState::Synced`].
    pub synced: u64,
    /// Objects in [`SyncState::OutOfSync`].
    pub out_of_sync: u64,
    /// Objects in [`SyncState::Failed`].
    pub failed: u64,
    /// Objects in [`SyncState::Unreachable`].
    pub unreachable: u64,
    /// Objects in [`SyncState::Held`]: owned, no longer desired, deletion held.
    #[serde(skip_serializing_if = "is_zero")]
    pub held: u64,
    /// Objects in [`SyncState::NotConfigured`].
    #[serde(skip_serializing_if = "is_zero")]
    pub not_configured: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Object counts per [`Health`], keyed by the health name (`{Healthy: 10, ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthCounts {
    /// Objects reporting [`Health::Healthy`].
    pub healthy: u64,
    /// Objects reporting [`Health::Progressing`].
    pub progressing: u64,
    /// Objects reporting [`Health::Degraded`].
    pub degraded: u64,
    /// Objects without a health signal.
    pub unknown: u64,
}

/// What one reconcile did to a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ChangeCounts {
    /// Objects created.
    pub created: u64,
    /// Objects updated.
    pub changed: u64,
    /// Objects deleted (pruned).
    pub deleted: u64,
    /// Objects already up to date.
    pub unchanged: u64,
    /// Objects not rendered because their project's inputs did not change.
    pub skipped: u64,
}

/// `status/summary.yaml`: the newest reconcile, per cluster and per project.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Summary {
    /// Full sha of the watched branch that was reconciled.
    pub revision: String,
    /// When the reconcile finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<DateTime<Utc>>,
    /// How long the reconcile took.
    pub duration_ms: u64,
    /// Author of `revision` (`name <email>`).
    pub author: String,
    /// First line of the commit message of `revision`.
    pub message: String,
    /// Web URL of the repository, for links to commits and files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    /// One entry per cluster.
    pub clusters: Vec<ClusterStatus>,
    /// One entry per project.
    pub projects: Vec<ProjectStatus>,
    /// Repository-wide errors (e.g. a broken cluster file).
    pub errors: Vec<ErrorEntry>,
    /// The earliest next execution of a pipeline schedule with a free `concurrency` slot on
    /// the clusters this commit covers, as the run controller computed it: a restart (or `reconcile --once`) at a revision synced
    /// everywhere reconciles again once this has passed, so new executions are decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_due: Option<DateTime<Utc>>,
}

/// One cluster in [`Summary::clusters`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Cluster name (`clusters/<name>.yaml`).
    pub name: String,
    /// Where it applies, in words: `directory ../rendered/local` or `kubernetes prod-bj`.
    pub target: String,
    /// Worst state of its objects.
    pub state: SyncState,
    /// Last revision applied to this cluster.
    pub revision: String,
    /// When `revision` was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<DateTime<Utc>>,
    /// Object counts by state.
    pub counts: StateCounts,
    /// Object counts by health.
    pub health: HealthCounts,
    /// What the newest reconcile changed.
    pub changes: ChangeCounts,
    /// Errors of this cluster (apply errors, unreachable).
    pub errors: Vec<ErrorEntry>,
    /// Deletions the prune guard holds (state `Held`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<HeldPrune>,
}

/// Deletions the prune guard holds on a cluster: what, why, and how to allow them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HeldPrune {
    /// Objects whose deletion is held.
    pub deletions: u64,
    /// Objects cubist owned on the cluster before the plan.
    pub owned: u64,
    /// Held deletions per project (`""`: objects of no project).
    pub projects: BTreeMap<String, u64>,
    /// The first held objects, `Kind namespace/name`; at most [`HeldPrune::MAX_OBJECTS`].
    pub objects: Vec<String>,
    /// Why the deletions are held.
    pub reasons: Vec<String>,
    /// Trailer lines (`Cubist-Allow-Prune: …`), any one of which in a new commit allows them.
    pub allow: Vec<String>,
    /// How to allow (or undo) them, in words.
    pub help: String,
}

impl HeldPrune {
    /// Most objects listed in [`HeldPrune::objects`].
    pub const MAX_OBJECTS: usize = 50;
}

/// One project in [`Summary::projects`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProjectStatus {
    /// Project name (`projects/<name>/`).
    pub name: String,
    /// Human name, from `spec.displayName`.
    pub display_name: String,
    /// Ready, or Failed (held at `revision`).
    pub state: ProjectState,
    /// Revision applied for this project: the newest, or the last good one when Failed.
    pub revision: String,
    /// Validation errors of the newest commit for this project.
    pub errors: Vec<ErrorEntry>,
}

/// `status/projects/<project>.yaml`: a digest of one project's model, for the page.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProjectDigest {
    /// Project name.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Free text description.
    pub description: String,
    /// Members and their roles.
    pub members: Vec<Member>,
    /// Clusters the project is placed on.
    pub clusters: Vec<String>,
    /// Resource group of its workloads, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// Quota usage, one row per cluster and resource.
    pub quota: Vec<QuotaRow>,
    /// Pipelines of the project.
    pub pipelines: Vec<PipelineDigest>,
    /// Inference services of the project.
    pub services: Vec<ServiceDigest>,
}

/// A project member.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Member {
    /// User name or `@org/team`.
    pub user: String,
    /// Role in the project.
    pub role: Role,
}

/// Quota usage of one resource on one cluster.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QuotaRow {
    /// Cluster name.
    pub cluster: String,
    /// Resource: `cpu`, `memory`, `gpu/<type>`.
    pub resource: String,
    /// Requested by the project's workloads.
    pub used: f64,
    /// Quota limit.
    pub limit: f64,
    /// Unit of `used` and `limit`: `cores`, `bytes`, `gpus`.
    pub unit: String,
}

/// A pipeline in [`ProjectDigest::pipelines`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PipelineDigest {
    /// Pipeline name.
    pub name: String,
    /// Source file in the repository.
    pub file: String,
    /// Owner (user).
    pub owner: String,
    /// Cron schedule, if scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Tasks of the DAG.
    pub tasks: Vec<TaskDigest>,
    /// Recent runs, newest first.
    pub runs: Vec<RunDigest>,
}

/// A pipeline's schedule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Schedule {
    /// 5-field cron expression.
    pub cron: String,
    /// IANA timezone of the cron expression; UTC when empty.
    pub timezone: String,
    /// The schedule in words (see [`crate::cron::describe_cron`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Next run at reconcile time, in the schedule's timezone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run: Option<DateTime<FixedOffset>>,
}

/// A task of a pipeline DAG.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskDigest {
    /// Task name, unique in its pipeline.
    pub name: String,
    /// Template it runs.
    pub template: String,
    /// Names of the tasks it waits for.
    pub after: Vec<String>,
}

/// A run of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RunDigest {
    /// Workflow name (`<pipeline>-<yyyymmdd>`).
    pub name: String,
    /// Cluster it runs on.
    pub cluster: String,
    /// Execution date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Phase from the engine, when known.
    pub phase: RunPhase,
}

/// An inference service in [`ProjectDigest::services`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceDigest {
    /// Service name.
    pub name: String,
    /// Source file in the repository.
    pub file: String,
    /// Owner (user).
    pub owner: String,
    /// Serving framework (`triton`, `sklearn`, ...).
    pub framework: String,
    /// Model versions and their traffic split.
    pub versions: Vec<ServiceVersion>,
    /// Replica bounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Replicas>,
    /// Autoscaling rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<Autoscale>,
    /// Health per cluster name.
    pub health: BTreeMap<String, Health>,
}

/// A model version of a service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceVersion {
    /// Version name.
    pub name: String,
    /// Model URI.
    pub model: String,
    /// Percentage of traffic (0–100).
    pub traffic: f64,
}

/// Replica bounds of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Replicas {
    /// Minimum replicas.
    pub min: u32,
    /// Maximum replicas.
    pub max: u32,
}

/// Autoscaling rule of a service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Autoscale {
    /// `cpu`, `memory`, `gpu`, `qps` or `concurrency`.
    pub metric: String,
    /// Target value per replica.
    pub target: f64,
}

/// `status/clusters/<cluster>/<project or _cluster>/<kind>/<name>.yaml`: one rendered object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectStatus {
    /// Kubernetes apiVersion.
    pub api_version: String,
    /// Kubernetes kind.
    pub kind: String,
    /// Namespace (the project), empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Sync state.
    pub state: SyncState,
    /// `sha256:...` of the rendered spec.
    pub hash: String,
    /// Revision it was rendered from.
    pub revision: String,
    /// E.g. the apply error, or "held at last good revision".
    pub message: String,
    /// Health, when the object reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<ObjectHealth>,
    /// Repository file it was rendered from.
    pub source: String,
}

/// Health of one object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectHealth {
    /// Health status.
    pub status: Health,
    /// Detail from the controller.
    pub message: String,
}

/// `status/clusters/<cluster>/<project>/inventory.yaml`: what cubist owns of that project in
/// that cluster, sorted. A directory target's `cubist-inventory.yaml` and a Kubernetes target's
/// record of what it owns are the same document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Inventory {
    /// Owned objects.
    pub objects: Vec<InventoryEntry>,
}

/// One object in an [`Inventory`]. apiVersion, kind, name and hash are required: an entry
/// without them names no object, so its file is unreadable rather than guessed at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// Kubernetes apiVersion.
    pub api_version: String,
    /// Kubernetes kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    #[serde(default)]
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Owning project, absent for cluster-level objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `sha256:...` of the applied object.
    pub hash: String,
    /// Repository path it was rendered from (empty in files written before it was recorded).
    #[serde(default)]
    pub source: String,
}

impl InventoryEntry {
    /// apiVersion, kind, namespace and name, borrowed: the object's identity.
    pub fn key_parts(&self) -> [&str; 4] {
        [&self.api_version, &self.kind, &self.namespace, &self.name]
    }
}

/// `status/history/<yyyy-mm-dd>/<hhmmss>-<short-sha>.yaml`: one reconcile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HistoryRecord {
    /// Full sha reconciled.
    pub revision: String,
    /// Author of `revision`.
    pub author: String,
    /// First line of its commit message.
    pub message: String,
    /// When the reconcile finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<DateTime<Utc>>,
    /// How long it took.
    pub duration_ms: u64,
    /// What it did per cluster.
    pub clusters: Vec<HistoryCluster>,
    /// Projects rendered.
    pub projects_rendered: u64,
    /// Projects skipped because their inputs did not change.
    pub projects_skipped: u64,
    /// Errors found.
    pub errors: Vec<ErrorEntry>,
}

/// One cluster in [`HistoryRecord::clusters`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HistoryCluster {
    /// Cluster name.
    pub name: String,
    /// State after the reconcile.
    pub state: SyncState,
    /// What changed (flattened: `created`, `changed`, ... sit beside `name`).
    #[serde(flatten)]
    pub changes: ChangeCounts,
}
