//! Typed manifests: one Rust type per kind, read from schema-validated JSON.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `metadata` of every manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// DNS-1123 label.
    pub name: String,
    /// Free labels, copied to rendered objects.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Free annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Optional owning project; must equal the project directory.
    #[serde(default)]
    pub project: Option<String>,
}

/// A cpu, memory or gpu-count value as written: number or string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    /// A number (cores, bytes or count).
    Number(f64),
    /// A string with a unit suffix (`500m`, `16Gi`).
    Text(String),
}

/// GPUs as written in `resources`: a count of the resource group's type, or per type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Gpu {
    /// A count of the project's resource-group GPU type.
    Count(u32),
    /// Count per GPU type.
    ByType(BTreeMap<String, u32>),
}

/// Requests of one replica: cpu, memory, gpu.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Cores.
    pub cpu: Option<Quantity>,
    /// Bytes.
    pub memory: Option<Quantity>,
    /// GPUs.
    pub gpu: Option<Gpu>,
}

impl Resources {
    /// These resources with every field left out taken from `base` (a task over its template).
    pub fn over(&self, base: &Resources) -> Resources {
        Resources {
            cpu: self.cpu.clone().or_else(|| base.cpu.clone()),
            memory: self.memory.clone().or_else(|| base.memory.clone()),
            gpu: self.gpu.clone().or_else(|| base.gpu.clone()),
        }
    }
}

/// Limits in quotas and capacities: gpu is always per type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Cores.
    pub cpu: Option<Quantity>,
    /// Bytes.
    pub memory: Option<Quantity>,
    /// GPUs per type.
    #[serde(default)]
    pub gpu: BTreeMap<String, u32>,
}

/// A reference to a key of a Kubernetes Secret (secrets are references, never values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRef {
    /// Secret name.
    pub secret: String,
    /// Key in the secret.
    pub key: String,
}

/// Root `cubist.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlatformSpec {
    /// Platform admins: users or `@org/team`.
    #[serde(default)]
    pub admins: Vec<String>,
    /// Free text.
    pub description: Option<String>,
    /// Where pipeline alerts go.
    pub alerts: Option<AlertSettings>,
}

/// `cubist.yaml` `spec.alerts`: the alert channels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertSettings {
    /// Channels, names unique.
    #[serde(default)]
    pub channels: Vec<AlertChannel>,
}

/// One alert channel: a name and exactly one of `github` or `webhook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertChannel {
    /// Name pipelines refer to and run records keep.
    pub name: String,
    /// A GitHub issue per failing pipeline.
    pub github: Option<GitHubChannel>,
    /// A Slack-compatible webhook.
    pub webhook: Option<WebhookChannel>,
}

/// A GitHub issues channel; the token is read from the environment variable named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitHubChannel {
    /// `owner/name` of the repository issues are opened in.
    pub repo: String,
    /// Environment variable holding the token.
    pub token_env: String,
}

/// A webhook channel; the URL (often a secret) is read from the environment variable named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookChannel {
    /// Environment variable holding the URL.
    pub url_env: String,
}

/// `Cluster.spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// Where rendered objects go.
    pub target: Target,
    /// Free text.
    pub description: Option<String>,
    /// Labels matched by project placement selectors.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Engines and operators installed on the cluster.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Node pools with capacity.
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
    /// Re-apply objects changed by hand.
    #[serde(default)]
    pub self_heal: bool,
    /// Most deletions one reconcile may make without an allowance (default `50%`).
    #[serde(default)]
    pub prune_limit: Option<crate::targets::guard::PruneLimit>,
}

/// Where a cluster's objects go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// Hydrated manifests in a directory beside the repository (`../<dir>`, see
    /// [`crate::targets::select`]).
    Directory {
        /// Path of the output directory.
        path: String,
    },
    /// A real cluster reached with kube.
    Kubernetes {
        /// Kubeconfig name in the kubeconfig directory (default: the usual lookup).
        kubeconfig: Option<String>,
        /// Context name.
        context: Option<String>,
        /// The cluster cubist runs in, through its pod's service account
        /// (`kube::Config::incluster`); excludes `kubeconfig` and `context`.
        #[serde(default, rename = "inCluster")]
        in_cluster: bool,
    },
}

/// A cluster's node pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    /// Name projects refer to.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Node labels every pod of the group gets as nodeSelector.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations every pod of the group gets.
    #[serde(default)]
    pub tolerations: Vec<serde_json::Value>,
    /// Total capacity of the group.
    #[serde(default)]
    pub capacity: Limits,
}

/// `Project.spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSpec {
    /// Human name.
    pub display_name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Users and their roles.
    #[serde(default)]
    pub members: Vec<Member>,
    /// Clusters and resource group.
    #[serde(default)]
    pub placement: Placement,
    /// Volumes mounted into every pod.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Environment of every pod.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secret-backed environment of every pod.
    #[serde(default)]
    pub secret_env: BTreeMap<String, SecretRef>,
}

/// A project member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// User name.
    pub user: String,
    /// admin | developer | viewer.
    pub role: String,
    /// GitHub login when it differs from `user`.
    #[serde(default)]
    pub github: Option<String>,
}

impl Member {
    /// The GitHub login alerts mention: `github`, else `user`.
    pub fn github_login(&self) -> &str {
        self.github.as_deref().unwrap_or(&self.user)
    }
}

/// Where a project runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Cluster names.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// Cluster label selector.
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    /// Resource group on every cluster.
    pub resource_group: Option<String>,
}

/// A PVC mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// PVC name.
    pub pvc: String,
    /// Where it is mounted.
    pub mount_path: String,
    /// Mount `<pvc>/<user>` (Cube Studio's per-user workspace).
    #[serde(default)]
    pub sub_path_from_user: bool,
    /// Read-only mount.
    #[serde(default)]
    pub read_only: bool,
}

/// `Quota.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSpec {
    /// Only this cluster (default: every cluster of the project).
    pub cluster: Option<String>,
    /// Project total.
    pub project: Option<Limits>,
    /// Per owner.
    pub per_user: Option<Limits>,
    /// Per task or service replica.
    pub per_task: Option<Limits>,
    /// Object counts.
    pub counts: Option<Counts>,
}

/// Count limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Max pipelines.
    pub pipelines: Option<u32>,
    /// Max services.
    pub services: Option<u32>,
    /// Max concurrent runs.
    pub concurrent_runs: Option<u32>,
}

/// `Template.spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    /// Free text.
    pub description: Option<String>,
    /// container | pytorchjob | tfjob | mpijob | xgboostjob | volcano | ray | katib.
    pub engine: String,
    /// Container image.
    pub image: String,
    /// Entrypoint.
    #[serde(default)]
    pub command: Vec<String>,
    /// Arguments with `{{param}}` placeholders.
    #[serde(default)]
    pub args: Vec<String>,
    /// JSON Schema a task's `args` must satisfy.
    pub parameters: Option<serde_json::Value>,
    /// Per-replica requests.
    #[serde(default)]
    pub resources: Resources,
    /// Worker replicas for distributed engines.
    pub workers: Option<u32>,
    /// Environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secret-backed environment.
    #[serde(default)]
    pub secret_env: BTreeMap<String, SecretRef>,
    /// Katib experiment settings.
    pub experiment: Option<Experiment>,
}

/// Katib settings of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Experiment {
    /// What to optimise.
    pub objective: Objective,
    /// Search algorithm.
    pub algorithm: String,
    /// Max trials.
    pub max_trials: Option<u32>,
    /// Trials at once.
    pub parallel_trials: Option<u32>,
    /// Failed trials before the experiment fails.
    pub max_failed_trials: Option<u32>,
    /// Search space.
    #[serde(default)]
    pub search: Vec<SearchParameter>,
}

/// Katib objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Objective {
    /// maximize | minimize.
    #[serde(rename = "type")]
    pub kind: String,
    /// Metric name.
    pub metric: String,
    /// Stop when reached.
    pub goal: Option<f64>,
    /// Also collected.
    #[serde(default)]
    pub additional_metrics: Vec<String>,
}

/// One dimension of a Katib search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchParameter {
    /// Parameter name.
    pub name: String,
    /// double | int | categorical | discrete.
    #[serde(rename = "type")]
    pub kind: String,
    /// Lower bound.
    pub min: Option<serde_json::Value>,
    /// Upper bound.
    pub max: Option<serde_json::Value>,
    /// Step.
    pub step: Option<serde_json::Value>,
    /// Values for categorical/discrete.
    #[serde(default)]
    pub values: Vec<serde_json::Value>,
}

/// `Pipeline.spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    /// Member who owns the pipeline.
    pub owner: String,
    /// Free text.
    pub description: Option<String>,
    /// Cron schedule.
    pub schedule: Option<Schedule>,
    /// Max tasks at once.
    pub parallelism: Option<u32>,
    /// Whole-run deadline.
    pub timeout: Option<String>,
    /// Environment of every task.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secret-backed environment of every task.
    #[serde(default)]
    pub secret_env: BTreeMap<String, SecretRef>,
    /// The DAG.
    pub tasks: Vec<Task>,
    /// Notifications.
    pub alerts: Option<Alerts>,
}

/// Pipeline schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// 5-field cron.
    pub cron: String,
    /// IANA timezone.
    pub timezone: Option<String>,
    /// Catch-up start date.
    pub start_from: Option<String>,
    /// Max runs at once.
    pub concurrency: Option<u32>,
    /// A run waits for the previous one.
    #[serde(default)]
    pub depends_on_past: bool,
    /// Newest pending runs kept.
    pub keep_last: Option<u32>,
}

/// A pipeline task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Unique in the pipeline.
    pub name: String,
    /// Template name.
    pub template: String,
    /// Tasks this one waits for.
    #[serde(default)]
    pub after: Vec<String>,
    /// Template arguments.
    #[serde(default)]
    pub args: serde_json::Map<String, serde_json::Value>,
    /// Overrides the template's resources field by field.
    pub resources: Option<Resources>,
    /// Retries on failure.
    pub retries: Option<u32>,
    /// Task deadline.
    pub timeout: Option<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Task {
    /// Worker replicas of this task with `template`: its `workers` argument, else the
    /// template's `workers`, else 1.
    pub fn workers(&self, template: &TemplateSpec) -> u64 {
        self.args
            .get("workers")
            .and_then(|v| v.as_u64())
            .or(template.workers.map(u64::from))
            .unwrap_or(1)
    }
}

/// Pipeline alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alerts {
    /// Phases that alert.
    #[serde(default)]
    pub on: Vec<String>,
    /// Members to notify.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Channels of `cubist.yaml` to send to, by name (empty: every channel).
    #[serde(default)]
    pub channels: Vec<String>,
}

/// `Service.spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Member who owns the service.
    pub owner: String,
    /// Free text.
    pub description: Option<String>,
    /// Serving framework.
    pub framework: String,
    /// Image for `custom`.
    pub image: Option<String>,
    /// Model versions and traffic.
    pub versions: Vec<Version>,
    /// Per-replica requests.
    #[serde(default)]
    pub resources: Resources,
    /// Replica bounds.
    pub replicas: Option<Replicas>,
    /// Autoscaling.
    pub autoscale: Option<Autoscale>,
    /// Readiness probe.
    pub health: Option<Health>,
    /// Container port.
    pub port: Option<u16>,
    /// Subset of the project's clusters.
    pub placement: Option<ServicePlacement>,
    /// Environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secret-backed environment.
    #[serde(default)]
    pub secret_env: BTreeMap<String, SecretRef>,
    /// A copy of some requests sent to one version, its answers dropped.
    pub mirror: Option<Mirror>,
}

/// Traffic mirroring: `percent` of the requests are also sent to `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mirror {
    /// The version that receives the copies.
    pub version: String,
    /// Percent of requests copied.
    pub percent: u32,
}

/// A served model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// Version name.
    pub name: String,
    /// Model URI.
    pub model: String,
    /// Percent of traffic.
    pub traffic: u32,
    /// Image override.
    pub image: Option<String>,
}

/// Replica bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replicas {
    /// Minimum.
    pub min: u32,
    /// Maximum.
    pub max: u32,
}

/// Autoscaling target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Autoscale {
    /// cpu | memory | gpu | qps | concurrency.
    pub metric: String,
    /// Target value per replica.
    pub target: f64,
}

/// HTTP readiness check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Path.
    pub path: String,
    /// Port.
    pub port: u16,
}

/// Service placement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePlacement {
    /// Cluster names.
    #[serde(default)]
    pub clusters: Vec<String>,
}

/// `Run.spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSpec {
    /// Pipeline name.
    pub pipeline: String,
    /// One execution date.
    pub date: Option<String>,
    /// A range of execution dates.
    pub execution_dates: Option<DateRange>,
    /// Per-task argument overrides.
    #[serde(default)]
    pub args: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// Inclusive date range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DateRange {
    /// First date.
    pub from: String,
    /// Last date.
    pub to: String,
}
