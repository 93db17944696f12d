//! Quotas: what each task and service asks for against `perTask`, `perUser`, `project` and
//! `counts`, GPU types against the resource group, and project quotas against group capacity.

use crate::diag::{Diagnostic, Location, codes};
use crate::model::kinds::{ClusterSpec, QuotaSpec};
use crate::model::quantity::{Demand, Limit, replica_demand};
use crate::model::{Document, Manifest, Model, Project};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Something that runs on a cluster and uses resources: a pipeline task or a service.
#[derive(Debug, Clone)]
pub struct Workload {
    /// `pipeline/task` or `service`.
    pub label: String,
    /// Pipeline name for tasks.
    pub pipeline: Option<String>,
    /// The member who owns it.
    pub owner: String,
    /// Where its resources are written.
    pub at: Location,
    /// Demand of one replica.
    pub replica: Demand,
    /// Replicas that may run at once.
    pub replicas: u64,
    /// The document and path of the `resources` mapping, when the workload writes its own.
    pub written: Option<(Arc<Document>, String)>,
}

impl Workload {
    /// Demand of all replicas.
    pub fn total(&self) -> Demand {
        self.replica.times(self.replicas)
    }

    /// Where one resource (`cpu`, `memory`, `gpu <type>`) is asked for: the written value if
    /// any, else [`Workload::at`].
    pub fn at_resource(&self, resource: &str) -> Location {
        match (&self.written, resource.strip_prefix("gpu ")) {
            // The GPU type is the key: point at it.
            (Some((doc, path)), Some(gpu_type)) => doc.at_key(&format!("{path}/gpu"), gpu_type),
            (Some((doc, path)), None) => doc.at(&format!("{path}/{resource}")),
            (None, _) => self.at.clone(),
        }
    }
}

/// `cpu` → `cpu`, `gpu a100` → `gpu/a100`: the path of a resource inside a resources mapping.
fn resource_path(resource: &str) -> String {
    resource.replacen(' ', "/", 1)
}

/// The workloads of a project on one cluster, and errors for GPU counts that cannot be typed.
pub fn workloads(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
) -> (Vec<Workload>, Vec<Diagnostic>) {
    let group = model.resource_group(project, &cluster.spec);
    let default_gpu: Result<&str, String> =
        match group.map(|g| g.capacity.gpu.keys().collect::<Vec<_>>()) {
            None => Err(format!(
                "project `{}` has no resource group on cluster `{}` to take a GPU type from",
                project.name(),
                cluster.name()
            )),
            Some(types) if types.len() == 1 => Ok(types[0].as_str()),
            Some(types) if types.is_empty() => Err(format!(
                "resource group `{}` has no GPUs",
                group.map_or("", |g| g.name.as_str())
            )),
            Some(types) => Err(format!(
                "resource group has several GPU types ({})",
                types
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for p in project.pipelines.values() {
        for (i, task) in p.spec.tasks.iter().enumerate() {
            let Some(t) = model.template(project, &task.template) else {
                continue;
            };
            let resources = &task
                .resources
                .as_ref()
                .map_or_else(|| t.spec.resources.clone(), |r| r.over(&t.spec.resources));
            let at = if task.resources.is_some() {
                p.at(&format!("spec/tasks/{i}/resources"))
            } else {
                p.at(&format!("spec/tasks/{i}/template"))
            };
            let replica = match replica_demand(resources, default_gpu.clone()) {
                Ok(d) => d,
                Err(e) => {
                    diags.push(gpu_error(&at, &e));
                    continue;
                }
            };
            let workers = task.workers(&t.spec);
            let replicas = match t.spec.engine.as_str() {
                "container" => 1,
                "katib" => t
                    .spec
                    .experiment
                    .as_ref()
                    .and_then(|e| e.parallel_trials)
                    .map_or(1, u64::from),
                _ => workers.saturating_add(1),
            };
            out.push(Workload {
                label: format!("{}/{}", p.name(), task.name),
                pipeline: Some(p.name().to_string()),
                owner: p.spec.owner.clone(),
                at,
                replica,
                replicas,
                written: task
                    .resources
                    .is_some()
                    .then(|| (p.doc.clone(), format!("spec/tasks/{i}/resources"))),
            });
        }
    }
    for s in model.project_services_on(project, cluster.name()) {
        let at = s.at("spec/resources");
        let replica = match replica_demand(&s.spec.resources, default_gpu.clone()) {
            Ok(d) => d,
            Err(e) => {
                diags.push(gpu_error(&at, &e));
                continue;
            }
        };
        // Versions with traffic, and the mirror's: each runs its own pods.
        let versions = super::services::serving_versions(&s.spec).len().max(1) as u64;
        let max = s.spec.replicas.as_ref().map_or(1, |r| u64::from(r.max));
        out.push(Workload {
            label: s.name().to_string(),
            pipeline: None,
            owner: s.spec.owner.clone(),
            at,
            replica,
            replicas: max.saturating_mul(versions),
            written: Some((s.doc.clone(), "spec/resources".to_string())),
        });
    }
    (out, diags)
}

fn gpu_error(at: &Location, why: &str) -> Diagnostic {
    Diagnostic::error(
        codes::GPU_TYPE,
        at,
        format!("cannot tell which GPU type a bare `gpu:` count means: {why}"),
    )
    .help("write the type, e.g. `gpu: {a100: 1}`, or set the project's `placement.resourceGroup`")
}

/// Peak demand of a project: each pipeline's largest `parallelism` tasks × its concurrency,
/// plus every service at max replicas. Per resource, this is an upper bound.
pub fn peak(project: &Project, workloads: &[Workload]) -> (Demand, Vec<(String, Demand)>) {
    let mut total = Demand::default();
    let mut parts = Vec::new();
    for p in project.pipelines.values() {
        let tasks: Vec<Demand> = workloads
            .iter()
            .filter(|w| w.pipeline.as_deref() == Some(p.name()))
            .map(Workload::total)
            .collect();
        let k = p.spec.parallelism.map_or(tasks.len(), |n| n as usize);
        let concurrency = p
            .spec
            .schedule
            .as_ref()
            .and_then(|s| s.concurrency)
            .unwrap_or(1) as u64;
        let d = top_k(&tasks, k).times(concurrency);
        total.add(&d);
        parts.push((format!("pipeline {}", p.name()), d));
    }
    for w in workloads.iter().filter(|w| w.pipeline.is_none()) {
        total.add(&w.total());
        parts.push((format!("service {}", w.label), w.total()));
    }
    (total, parts)
}

/// Per resource, the sum of the `k` largest values.
fn top_k(items: &[Demand], k: usize) -> Demand {
    let sum_top = |mut v: Vec<u64>| -> u64 {
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.into_iter().take(k).fold(0, u64::saturating_add)
    };
    let mut d = Demand {
        cpu: sum_top(items.iter().map(|d| d.cpu).collect()),
        memory: sum_top(items.iter().map(|d| d.memory).collect()),
        gpu: BTreeMap::new(),
    };
    let types: std::collections::BTreeSet<&String> =
        items.iter().flat_map(|d| d.gpu.keys()).collect();
    for t in types {
        d.gpu.insert(
            t.clone(),
            sum_top(
                items
                    .iter()
                    .map(|d| d.gpu.get(t).copied().unwrap_or(0))
                    .collect(),
            ),
        );
    }
    d
}

fn parse_limit(
    q: &Manifest<QuotaSpec>,
    field: &str,
    l: &Option<crate::model::kinds::Limits>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Limit> {
    let l = l.as_ref()?;
    match Limit::parse(l) {
        Ok(l) => Some(l),
        Err(e) => {
            diags.push(
                Diagnostic::error(codes::SCHEMA, &q.at(&format!("spec/{field}")), e)
                    .help("write cpu as `4` or `500m` and memory as `16Gi`"),
            );
            None
        }
    }
}

/// Each project's quotas against its workloads (per task, per project, per user, counts).
pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for project in model.projects.values() {
        for cluster in model.project_clusters(project) {
            let (mut loads, gpu_diags) = workloads(model, project, cluster);
            let group = model.resource_group(project, &cluster.spec);
            // A resource group the cluster lacks is reported once (E0304); GPU types cannot be
            // checked against it.
            let group_missing =
                project.manifest.spec.placement.resource_group.is_some() && group.is_none();
            if !group_missing {
                diags.extend(gpu_diags);
            }
            let group_types: Vec<&String> = group
                .map(|g| g.capacity.gpu.keys().collect())
                .unwrap_or_default();
            for w in &mut loads {
                for t in w.replica.gpu.keys() {
                    if !group_missing && !group_types.contains(&t) {
                        diags.push(
                            Diagnostic::error(codes::GPU_TYPE, &w.at_resource(&format!("gpu {t}")), format!("`{}` asks for GPU type `{t}`, which resource group `{}` of cluster `{}` does not have", w.label, group.map_or("(none)", |g| g.name.as_str()), cluster.name()))
                                .help(format!("use one of: {}", if group_types.is_empty() { "(no GPUs)".to_string() } else { group_types.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") })),
                        );
                    }
                }
                // Reported above: the quota checks below count only the group's GPU types.
                w.replica.gpu.retain(|t, _| group_types.contains(&t));
            }
            let Some(q) = model.quota_for(project, cluster.name()) else {
                continue;
            };
            if let Some(per_task) = parse_limit(q, "perTask", &q.spec.per_task, diags) {
                for w in &loads {
                    for (res, asked, allowed) in w.replica.excess(&per_task) {
                        diags.push(
                            Diagnostic::error(codes::PER_TASK, &w.at_resource(&res), format!("each replica of `{}` asks for {res} {asked}, but the quota's perTask allows {allowed}", w.label))
                                .help(format!("lower the request or raise perTask in {}", q.file())),
                        );
                    }
                }
            }
            let (total, parts) = peak(project, &loads);
            if let Some(limit) = parse_limit(q, "project", &q.spec.project, diags) {
                for (res, asked, allowed) in total.excess(&limit) {
                    let top: Vec<String> = parts
                        .iter()
                        .filter(|(_, d)| *d != Demand::default())
                        .map(|(n, d)| format!("{n}: {}", d.describe()))
                        .collect();
                    diags.push(
                        Diagnostic::error(codes::PROJECT_QUOTA, &q.at(&format!("spec/project/{}", resource_path(&res))), format!("project `{}` may use {res} {asked} at once on cluster `{}`, but its quota allows {allowed} ({})", project.name(), cluster.name(), top.join("; ")))
                            .help("raise the project quota, or lower replicas, parallelism or requests"),
                    );
                }
            }
            if let Some(per_user) = parse_limit(q, "perUser", &q.spec.per_user, diags) {
                let mut by_owner: BTreeMap<&str, Demand> = BTreeMap::new();
                for w in &loads {
                    by_owner.entry(&w.owner).or_default().add(&w.total());
                }
                for (owner, d) in by_owner {
                    for (res, asked, allowed) in d.excess(&per_user) {
                        diags.push(
                            Diagnostic::error(codes::PROJECT_QUOTA, &q.at(&format!("spec/perUser/{}", resource_path(&res))), format!("`{owner}` owns workloads that may use {res} {asked} at once, but perUser allows {allowed}"))
                                .help("raise perUser or move some pipelines or services to another owner"),
                        );
                    }
                }
            }
            if let Some(counts) = &q.spec.counts {
                let services = model.project_services_on(project, cluster.name()).count();
                for (what, have, max) in [
                    ("pipelines", project.pipelines.len(), counts.pipelines),
                    ("services", services, counts.services),
                ] {
                    if let Some(max) = max
                        && have > max as usize
                    {
                        diags.push(
                            Diagnostic::error(
                                codes::COUNTS,
                                &q.at(&format!("spec/counts/{what}")),
                                format!(
                                    "project `{}` has {have} {what}, but its quota allows {max}",
                                    project.name()
                                ),
                            )
                            .help(format!("remove {what} or raise counts.{what}")),
                        );
                    }
                }
            }
        }
    }
}

/// A project's quota on one resource group it is placed on: `(cluster, group)`, the project,
/// and what the quota allows it.
pub type GroupDemand = ((String, String), String, Demand);

/// The quota demands of one project on each resource group it is placed on (quotas that do not
/// parse are left out: [`check`] reports them).
pub fn demands(model: &Model, project: &Project) -> Vec<GroupDemand> {
    let mut out = Vec::new();
    for cluster in model.project_clusters(project) {
        let (Some(g), Some(q)) = (
            model.resource_group(project, &cluster.spec),
            model.quota_for(project, cluster.name()),
        ) else {
            continue;
        };
        if let Some(limit) = parse_limit(q, "project", &q.spec.project, &mut Vec::new()) {
            let group = (cluster.name().to_string(), g.name.clone());
            out.push((group, project.name().to_string(), limit.as_demand()));
        }
    }
    out
}

/// The project quotas placed on each resource group of each cluster against its capacity (the
/// one check across projects), from the projects' demands (see [`demands`]) in project order.
pub fn over_capacity<'a>(
    model: &Model,
    demands: impl Iterator<Item = &'a GroupDemand>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut on_group: BTreeMap<&(String, String), Vec<(&str, &Demand)>> = BTreeMap::new();
    for (group, project, demand) in demands {
        on_group.entry(group).or_default().push((project, demand));
    }
    for ((cluster, group), projects) in on_group {
        let Some(c) = model.clusters.get(cluster) else {
            continue;
        };
        let Some((gi, g)) = c
            .spec
            .resource_groups
            .iter()
            .enumerate()
            .find(|(_, g)| g.name == *group)
        else {
            continue;
        };
        let Ok(capacity) = Limit::parse(&g.capacity) else {
            continue;
        };
        let mut sum = Demand::default();
        projects.iter().for_each(|(_, d)| sum.add(d));
        for (res, asked, allowed) in sum.excess(&capacity) {
            let each: Vec<String> = projects
                .iter()
                .map(|(p, d)| format!("{p}: {}", d.describe()))
                .collect();
            diags.push(
                Diagnostic::error(codes::CAPACITY, &c.at(&format!("spec/resourceGroups/{gi}/capacity/{}", resource_path(&res))), format!("project quotas on resource group `{group}` of cluster `{cluster}` add up to {res} {asked}, over its capacity {allowed} ({})", each.join("; ")))
                    .help("lower the projects' quotas or raise the group's capacity"),
            );
        }
    }
}
