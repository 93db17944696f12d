//! Synthetic repositories for benchmarks and tests: a platform repository of any size whose
//! manifests validate clean, generated deterministically.
//!
//! ```no_run
//! let shape = cubist::synth::Shape::default(); // 1,000 projects: ~10,000 manifests
//! let dir = std::path::Path::new("/tmp/synthetic-repo");
//! cubist::synth::write(&shape, dir).unwrap();
//! let snapshot = cubist::source::snapshot_dir(dir).unwrap();
//! let (_, diags) = cubist::model::load(&snapshot);
//! assert!(diags.is_empty());
//! ```

use crate::source::Snapshot;
use std::path::Path;

/// How big a synthetic repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Projects (`projects/team-NNNN/`), each with a project.yaml and a quota.yaml.
    pub projects: usize,
    /// Pipelines per project (3 tasks each: container → pytorchjob → container).
    pub pipelines_per_project: usize,
    /// Services per project (2 versions each).
    pub services_per_project: usize,
    /// Runs per project (backfills of its first pipeline; none without pipelines).
    pub runs_per_project: usize,
    /// Clusters; projects are spread over them round-robin.
    pub clusters: usize,
}

impl Default for Shape {
    /// 1,000 projects × (project, quota, 4 pipelines, 4 services) + 4 clusters + 8 templates +
    /// cubist.yaml: 10,013 manifests.
    fn default() -> Self {
        Shape {
            projects: 1000,
            pipelines_per_project: 4,
            services_per_project: 4,
            runs_per_project: 0,
            clusters: 4,
        }
    }
}

/// Platform templates: `(name, engine)`. Pipelines cycle through them for their middle task.
const TEMPLATES: &[(&str, &str)] = &[
    ("python", "container"),
    ("pytorchjob", "pytorchjob"),
    ("tfjob", "tfjob"),
    ("mpijob", "mpijob"),
    ("xgboostjob", "xgboostjob"),
    ("volcano-batch", "volcano"),
    ("ray-job", "ray"),
    ("spark-sql", "container"),
];

impl Shape {
    /// A small repository (10 projects) for tests.
    pub fn small() -> Self {
        Shape {
            projects: 10,
            runs_per_project: 1,
            ..Shape::default()
        }
    }

    /// Number of manifests (documents) the repository holds.
    pub fn manifests(&self) -> usize {
        1 + self.clusters
            + TEMPLATES.len()
            + self.projects
                * (2 + self.pipelines_per_project + self.services_per_project + self.runs())
    }

    fn runs(&self) -> usize {
        if self.pipelines_per_project > 0 {
            self.runs_per_project
        } else {
            0
        }
    }

    /// A project quota that fits the project's peak: `(cpu, memory in Gi, a100 GPUs)`. Each
    /// pipeline peaks at cpu 9, 34Gi, 2 GPUs (two largest tasks), each service at cpu 4, 8Gi,
    /// 2 GPUs (2 versions × 1 replica).
    fn quota(&self) -> (usize, usize, usize) {
        let (p, s) = (self.pipelines_per_project, self.services_per_project);
        (
            9 * p + 4 * s + 12,
            34 * p + 8 * s + 88,
            (2 * p + 2 * s).max(1),
        )
    }
}

/// Every file of the repository: `(repository path, contents)`, sorted by path.
pub fn files(shape: &Shape) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(shape.manifests());
    out.push(("cubist.yaml".to_string(), platform()));
    for c in 0..shape.clusters {
        out.push((
            format!("clusters/{}.yaml", cluster_name(c)),
            cluster(c, shape),
        ));
    }
    for (name, engine) in TEMPLATES {
        out.push((format!("templates/{name}.yaml"), template(name, engine)));
    }
    for p in 0..shape.projects {
        let name = project_name(p);
        let dir = format!("projects/{name}");
        out.push((format!("{dir}/project.yaml"), project(p, shape)));
        out.push((format!("{dir}/quota.yaml"), quota(shape)));
        for i in 0..shape.pipelines_per_project {
            out.push((format!("{dir}/pipelines/pipeline-{i}.yaml"), pipeline(p, i)));
        }
        for i in 0..shape.services_per_project {
            out.push((format!("{dir}/services/service-{i}.yaml"), service(p, i)));
        }
        for i in 0..shape.runs() {
            out.push((format!("{dir}/runs/run-{i}.yaml"), run(i)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The repository as an in-memory snapshot (no disk I/O).
pub fn snapshot(shape: &Shape) -> Snapshot {
    let mut snap = Snapshot::default();
    for (path, text) in files(shape) {
        snap.insert(path, text.into_bytes());
    }
    snap
}

/// Writes the repository below `dir` (created if needed). Returns the number of files.
pub fn write(shape: &Shape, dir: &Path) -> std::io::Result<usize> {
    let files = files(shape);
    for (path, text) in &files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(full, text)?;
    }
    Ok(files.len())
}

fn cluster_name(c: usize) -> String {
    format!("cluster-{c}")
}

fn project_name(p: usize) -> String {
    format!("team-{p:04}")
}

const USERS: &[&str] = &["alice", "bob", "carol", "dave"];

fn platform() -> String {
    "apiVersion: cubist.dev/v1alpha1
kind: Platform
metadata:
  name: synthetic
spec:
  description: Synthetic platform repository for benchmarks.
  admins: [carol, \"@acme/ml-platform\"]
  alerts:
    channels:
      - {name: oncall, webhook: {urlEnv: CUBIST_ALERTS_URL}}
"
    .to_string()
}

fn cluster(c: usize, shape: &Shape) -> String {
    // Room for every project quota placed on the group.
    let projects = shape.projects.div_ceil(shape.clusters.max(1)).max(1);
    let (cpu, mem, gpu) = shape.quota();
    let (cpu, mem_gi, gpu) = (cpu * projects, mem * projects, gpu * projects);
    format!(
        "apiVersion: cubist.dev/v1alpha1
kind: Cluster
metadata:
  name: {name}
  labels:
    tier: synthetic
spec:
  description: Synthetic cluster {c}.
  target:
    directory:
      path: ../rendered/{name}
  labels:
    env: prod
    shard: \"{c}\"
  capabilities: [argo-workflows, kserve, training-operator, volcano, kuberay, katib, gateway-api]
  resourceGroups:
    - name: cpu-pool
      nodeSelector: {{node-pool: cpu}}
      capacity: {{cpu: {cpu}, memory: {mem_gi}Gi}}
    - name: gpu
      nodeSelector: {{gpu-type: A100}}
      tolerations:
        - {{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}
      capacity: {{cpu: {cpu}, memory: {mem_gi}Gi, gpu: {{a100: {gpu}}}}}
",
        name = cluster_name(c)
    )
}

fn template(name: &str, engine: &str) -> String {
    let distributed = engine != "container";
    let resources = if distributed {
        "{cpu: 4, memory: 16Gi, gpu: 1}"
    } else {
        "{cpu: 1, memory: 2Gi}"
    };
    let workers = if distributed { "  workers: 1\n" } else { "" };
    format!(
        "apiVersion: cubist.dev/v1alpha1
kind: Template
metadata:
  name: {name}
  labels:
    category: synthetic
spec:
  description: Synthetic {engine} template.
  engine: {engine}
  image: registry.example.com/ml/{name}:1.0
  command: [run]
  args: [\"--script={{{{script}}}}\", \"--epochs={{{{epochs}}}}\", \"--date={{{{execution_date}}}}\"]
  parameters:
    type: object
    required: [script]
    additionalProperties: false
    properties:
      script: {{type: string, minLength: 1, description: Entry point}}
      epochs: {{type: integer, minimum: 1, maximum: 1000, default: 1}}
      workers: {{type: integer, minimum: 1, maximum: 8, default: 1}}
      output: {{type: string, default: \"s3://lake/out/\"}}
{workers}  resources: {resources}
  env:
    PYTHONUNBUFFERED: \"1\"
"
    )
}

fn project(p: usize, shape: &Shape) -> String {
    format!(
        "apiVersion: cubist.dev/v1alpha1
kind: Project
metadata:
  name: {name}
  labels:
    cost-center: cc-{cc}
spec:
  displayName: Team {p}
  description: Synthetic project {p}.
  members:
    - {{user: alice, role: admin}}
    - {{user: bob, role: developer}}
    - {{user: carol, role: developer}}
    - {{user: dave, role: viewer}}
  placement:
    clusters: [{cluster}]
    resourceGroup: gpu
  mounts:
    - {{pvc: user-workspace, mountPath: /mnt, subPathFromUser: true}}
  env:
    S3_ENDPOINT: http://minio.storage.svc:9000
  secretEnv:
    AWS_ACCESS_KEY_ID: {{secret: s3-credentials, key: access-key}}
",
        name = project_name(p),
        cc = p % 17,
        cluster = cluster_name(p % shape.clusters.max(1)),
    )
}

fn quota(shape: &Shape) -> String {
    let (cpu, mem, gpu) = shape.quota();
    format!(
        "apiVersion: cubist.dev/v1alpha1
kind: Quota
metadata:
  name: default
spec:
  project: {{cpu: {cpu}, memory: {mem}Gi, gpu: {{a100: {gpu}}}}}
  perUser: {{cpu: {cpu}, memory: {mem}Gi, gpu: {{a100: {gpu}}}}}
  perTask: {{cpu: 8, memory: 32Gi, gpu: {{a100: 2}}}}
  counts: {{pipelines: {pc}, services: {sc}, concurrentRuns: 10}}
",
        pc = shape.pipelines_per_project + 10,
        sc = shape.services_per_project + 10,
    )
}

fn pipeline(p: usize, i: usize) -> String {
    let owner = USERS[(p + i) % 3];
    let (middle, _) = TEMPLATES[1 + (p + i) % (TEMPLATES.len() - 1)];
    let middle = if middle == "spark-sql" {
        "pytorchjob"
    } else {
        middle
    };
    format!(
        "apiVersion: cubist.dev/v1alpha1
kind: Pipeline
metadata:
  name: pipeline-{i}
  labels:
    tier: batch
spec:
  owner: {owner}
  description: Synthetic pipeline {i} of project {p}.
  schedule:
    cron: \"{minute} {hour} * * *\"
    timezone: Asia/Shanghai
    startFrom: 2026-11-01
    concurrency: 1
    dependsOnPast: true
    keepLast: 5
  parallelism: 2
  timeout: 6h
  env:
    RUN_DATE: \"{{{{execution_date}}}}\"
  tasks:
    - name: extract
      template: spark-sql
      args: {{script: extract.py, output: \"s3://lake/{p}/{i}/\"}}
      retries: 3
      timeout: 1h
    - name: train
      template: {middle}
      after: [extract]
      args: {{script: train.py, epochs: {epochs}, workers: 1}}
      retries: 1
      timeout: 3h
    - name: evaluate
      template: python
      after: [train]
      args: {{script: evaluate.py}}
      timeout: 30m
  alerts:
    on: [Failed, Error]
    notify: [{notify}]
",
        notify = if owner == "alice" {
            "alice".to_string()
        } else {
            format!("{owner}, alice")
        },
        minute = (p * 7 + i) % 60,
        hour = (p + i) % 24,
        epochs = 1 + (p + i) % 50,
    )
}

fn service(p: usize, i: usize) -> String {
    let owner = USERS[(p + i + 1) % 3];
    let framework = ["pytorch", "triton", "onnx", "xgboost"][i % 4];
    format!(
        "apiVersion: cubist.dev/v1alpha1
kind: Service
metadata:
  name: service-{i}
spec:
  owner: {owner}
  description: Synthetic service {i} of project {p}.
  framework: {framework}
  versions:
    - {{name: v1, model: \"s3://models/{p}/{i}/1/\", traffic: 90}}
    - {{name: v2, model: \"s3://models/{p}/{i}/2/\", traffic: 10}}
  resources: {{cpu: 2, memory: 4Gi, gpu: {{a100: 1}}}}
  replicas: {{min: 1, max: 1}}
  autoscale: {{metric: cpu, target: 70}}
  health: {{path: /v2/health/ready, port: 8080}}
  port: 8080
  env:
    LOG_LEVEL: info
"
    )
}

fn run(i: usize) -> String {
    format!(
        "apiVersion: cubist.dev/v1alpha1
kind: Run
metadata:
  name: run-{i}
spec:
  pipeline: pipeline-0
  executionDates: {{from: 2026-11-01, to: 2026-11-07}}
  args:
    train: {{epochs: {epochs}}}
",
        epochs = 2 + i
    )
}

/// Replaces the first `from` in the file at `path` with `to` (for tests that edit a written
/// repository step by step); panics when the file lacks it.
#[cfg(test)]
pub(crate) fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The number after a bench flag such as `--projects N`; panics naming the flag when it is
/// missing or not a number (benches take their options this way).
pub fn flag_value<T: std::str::FromStr>(args: &mut impl Iterator<Item = String>, flag: &str) -> T {
    args.next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{flag} takes a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_repository_validates_clean() {
        let shape = Shape::small();
        let (model, diags) = crate::model::load(&snapshot(&shape));
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(model.projects.len(), shape.projects);
        let manifests: usize = 1
            + model.clusters.len()
            + model.templates.len()
            + model
                .projects
                .values()
                .map(|p| 1 + p.quotas.len() + p.pipelines.len() + p.services.len() + p.runs.len())
                .sum::<usize>();
        assert_eq!(manifests, shape.manifests());
    }

    #[test]
    fn default_shape_is_ten_thousand_manifests() {
        assert_eq!(Shape::default().manifests(), 10_013);
        assert_eq!(files(&Shape::default()).len(), 10_013);
    }
}
