//! Services → KServe InferenceService where the cluster has `kserve`, else a Deployment and a
//! HorizontalPodAutoscaler per version plus one Service.

use super::pod::{ContainerSpec, container, pod};
use super::project::dns_name;
use super::{Out, RenderError, obj};
use crate::model::kinds::{ClusterSpec, ServiceSpec};
use crate::model::{Manifest, Model, Project};
use serde_json::{Value, json};

/// Default serving images per framework, for clusters without KServe.
fn default_image(framework: &str) -> String {
    match framework {
        "triton" => "nvcr.io/nvidia/tritonserver:24.08-py3".into(),
        "huggingface" => "kserve/huggingfaceserver:v0.14.0".into(),
        "tensorflow" => "tensorflow/serving:2.17.0".into(),
        "pytorch" => "pytorch/torchserve-kfs:0.12.0".into(),
        other => format!("kserve/{other}server:v0.14.0"),
    }
}

pub(super) fn render(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    out: &mut Out,
) -> Result<(), RenderError> {
    let kserve = cluster.spec.capabilities.iter().any(|c| c == "kserve");
    let services: Vec<_> = model.project_services_on(project, cluster.name()).collect();
    if !services.is_empty() {
        // Servers call no Kubernetes API: their identity has no permissions and no token.
        out.emit(
            "serviceaccount",
            project.manifest.file(),
            json!({"name": "model-server", "namespace": project.name(), "automount": false}),
        )?;
    }
    for s in services {
        if kserve {
            inference_service(model, project, cluster, s, out)?;
        } else {
            deployments(model, project, cluster, s, out)?;
        }
    }
    Ok(())
}

fn container_spec<'a>(
    project: &'a Project,
    s: &'a ServiceSpec,
    image: &'a str,
    args: Vec<String>,
) -> ContainerSpec<'a> {
    ContainerSpec {
        image,
        command: Vec::new(),
        args,
        env: vec![&project.manifest.spec.env, &s.env],
        secret_env: vec![&project.manifest.spec.secret_env, &s.secret_env],
        resources: s.resources.clone(),
        owner: &s.owner,
    }
}

fn replicas(s: &ServiceSpec) -> (u32, u32) {
    s.replicas.as_ref().map_or((1, 1), |r| (r.min, r.max))
}

fn inference_service(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    s: &Manifest<ServiceSpec>,
    out: &mut Out,
) -> Result<(), RenderError> {
    let newest = s.spec.versions.last().expect("schema requires a version");
    let canary = (s.spec.versions.len() > 1 && newest.traffic < 100).then_some(newest.traffic);
    let image = newest
        .image
        .clone()
        .or_else(|| s.spec.image.clone())
        .unwrap_or_else(|| default_image(&s.spec.framework));
    let c = container(
        project,
        &container_spec(project, &s.spec, &image, Vec::new()),
    );
    let (min, max) = replicas(&s.spec);
    let (metric, target) = match s
        .spec
        .autoscale
        .as_ref()
        .map(|a| (a.metric.as_str(), a.target))
    {
        Some(("qps", t)) => (Some("rps"), Some(t)),
        Some(("gpu", t)) => (Some("cpu"), Some(t)),
        Some((m, t)) => (Some(m), Some(t)),
        None => (None, None),
    };
    let versions_note: Vec<String> = s
        .spec
        .versions
        .iter()
        .map(|v| format!("{}={}%", v.name, v.traffic))
        .collect();
    out.emit(
        "inferenceservice",
        s.file(),
        obj([
            ("name", json!(s.name())),
            ("namespace", json!(project.name())),
            ("min_replicas", json!(min)),
            ("max_replicas", json!(max)),
            ("scale_metric", json!(metric)),
            ("scale_target", json!(target.map(|t| t.round() as u64))),
            ("canary_percent", json!(canary)),
            ("framework", json!(s.spec.framework)),
            ("model", json!(newest.model)),
            ("custom", json!(s.spec.framework == "custom")),
            ("container", c),
            ("pod", pod(model, project, &cluster.spec)),
            ("versions_note", json!(versions_note.join(","))),
        ]),
    )
}

fn deployments(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    s: &Manifest<ServiceSpec>,
    out: &mut Out,
) -> Result<(), RenderError> {
    let port = s.spec.port.unwrap_or(8080);
    let (min, max) = replicas(&s.spec);
    let pod_ctx = pod(model, project, &cluster.spec);
    for v in s.spec.versions.iter().filter(|v| v.traffic > 0) {
        let image = v
            .image
            .clone()
            .or_else(|| s.spec.image.clone())
            .unwrap_or_else(|| default_image(&s.spec.framework));
        let args = vec![
            format!("--model-uri={}", v.model),
            format!("--http-port={port}"),
        ];
        let c = container(project, &container_spec(project, &s.spec, &image, args));
        let name = format!("{}-{}", s.name(), dns_name(&v.name));
        // Traffic follows replica counts: each version's share of the bounds.
        let share = |n: u32| ((u64::from(n) * u64::from(v.traffic)).div_ceil(100)).max(1) as u32;
        let selector = json!({"app.kubernetes.io/name": s.name(), "cubist.dev/version": v.name});
        out.emit(
            "deployment",
            s.file(),
            obj([
                ("name", json!(name)),
                ("namespace", json!(project.name())),
                ("min_replicas", json!(share(min))),
                ("selector", selector),
                ("container", c),
                ("pod", pod_ctx.clone()),
                ("port", json!(port)),
                ("health", json!(s.spec.health)),
            ]),
        )?;
        if let Some(a) = &s.spec.autoscale {
            out.emit(
                "hpa",
                s.file(),
                json!({"name": name, "namespace": project.name(), "min_replicas": share(min), "max_replicas": share(max).max(share(min)), "metric": hpa_metric(&a.metric, a.target)}),
            )?;
        }
    }
    out.emit("service", s.file(), json!({"name": s.name(), "namespace": project.name(), "selector": {"app.kubernetes.io/name": s.name()}, "port": port}))
}

/// One autoscaling/v2 metric: utilisation for cpu/memory, per-pod averages for the rest.
fn hpa_metric(metric: &str, target: f64) -> Value {
    match metric {
        "cpu" | "memory" => {
            json!({"type": "Resource", "resource": {"name": metric, "target": {"type": "Utilization", "averageUtilization": target.round() as i64}}})
        }
        other => {
            let name = match other {
                "gpu" => "DCGM_FI_DEV_GPU_UTIL",
                "qps" => "http_requests_per_second",
                _ => "http_requests_in_flight",
            };
            json!({"type": "Pods", "pods": {"metric": {"name": name}, "target": {"type": "AverageValue", "averageValue": format!("{}", target)}}})
        }
    }
}
