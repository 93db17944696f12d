//! Services → KServe InferenceService where the cluster has `kserve`, else a Deployment and a
//! HorizontalPodAutoscaler per version plus one Service. A split between versions (or a mirror)
//! gets one predictor per serving version and a route whose weights are the declared traffic:
//! an HTTPRoute (Gateway API for mesh, attached to the service's Service) or an Istio
//! VirtualService.

use super::pod::{ContainerSpec, container, pod};
use super::{Out, RenderError, obj};
use crate::model::checks::services::{needs_route, router, serving_versions, split, version_name};
use crate::model::kinds::{ClusterSpec, ServiceSpec, Version};
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
        let serving = serving_versions(&s.spec);
        let split = serving.len() > 1;
        for v in &serving {
            let name = split.then(|| version_name(s.name(), &v.name));
            if kserve {
                inference_service(model, project, cluster, s, v, name, out)?;
            } else {
                deployment(model, project, cluster, s, v, out)?;
            }
        }
        if !kserve || split {
            // KServe predictors listen on 8080 unless the service says otherwise.
            let port = s.spec.port.unwrap_or(8080);
            let selector = json!({"app.kubernetes.io/name": s.name()});
            out.emit("service", s.file(), json!({"name": s.name(), "namespace": project.name(), "selector": selector, "port": port}))?;
        }
        if split {
            route(project, cluster, s, kserve, out)?;
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

/// One InferenceService serving version `v`: named after the service, or `name` (one of a
/// split, in RawDeployment mode so that its predictor Service is `<name>-predictor`).
fn inference_service(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    s: &Manifest<ServiceSpec>,
    v: &Version,
    name: Option<String>,
    out: &mut Out,
) -> Result<(), RenderError> {
    let image = v
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
    let pod_labels = name
        .is_some()
        .then(|| json!({"app.kubernetes.io/name": s.name(), "cubist.dev/version": v.name}));
    out.emit(
        "inferenceservice",
        s.file(),
        obj([
            ("name", json!(name.as_deref().unwrap_or(s.name()))),
            ("namespace", json!(project.name())),
            ("min_replicas", json!(min)),
            ("max_replicas", json!(max)),
            ("scale_metric", json!(metric)),
            ("scale_target", json!(target.map(|t| t.round() as u64))),
            ("pod_labels", json!(pod_labels)),
            ("framework", json!(s.spec.framework)),
            ("model", json!(v.model)),
            ("custom", json!(s.spec.framework == "custom")),
            ("container", c),
            ("pod", pod(model, project, &cluster.spec)),
            ("versions_note", json!(split(&s.spec, "=").join(","))),
        ]),
    )
}

/// One version on a cluster without KServe: a Deployment (with an HPA when autoscaled), and
/// when it is one of a split, a Service of its own for the route.
fn deployment(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    s: &Manifest<ServiceSpec>,
    v: &Version,
    out: &mut Out,
) -> Result<(), RenderError> {
    let port = s.spec.port.unwrap_or(8080);
    let (min, max) = replicas(&s.spec);
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
    let name = version_name(s.name(), &v.name);
    let selector = json!({"app.kubernetes.io/name": s.name(), "cubist.dev/version": v.name});
    out.emit(
        "deployment",
        s.file(),
        obj([
            ("name", json!(name)),
            ("namespace", json!(project.name())),
            ("min_replicas", json!(min.max(1))),
            ("selector", selector.clone()),
            ("container", c),
            ("pod", pod(model, project, &cluster.spec)),
            ("port", json!(port)),
            ("health", json!(s.spec.health)),
        ]),
    )?;
    if let Some(a) = &s.spec.autoscale {
        out.emit(
            "hpa",
            s.file(),
            json!({"name": name, "namespace": project.name(), "min_replicas": min.max(1), "max_replicas": max.max(min.max(1)), "metric": hpa_metric(&a.metric, a.target)}),
        )?;
    }
    if needs_route(&s.spec) {
        out.emit(
            "service",
            s.file(),
            json!({"name": name, "namespace": project.name(), "selector": selector, "port": port}),
        )?;
    }
    Ok(())
}

/// The route of a split: each version with traffic weighted by it, the mirror's version
/// receiving its copies. Backends are the versions' Services (KServe: `<name>-predictor`).
fn route(
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    s: &Manifest<ServiceSpec>,
    kserve: bool,
    out: &mut Out,
) -> Result<(), RenderError> {
    let ns = project.name();
    let backend = |v: &Version| {
        let name = version_name(s.name(), &v.name);
        if kserve {
            format!("{name}-predictor")
        } else {
            name
        }
    };
    let weighted: Vec<(String, u32)> = s
        .spec
        .versions
        .iter()
        .filter(|v| v.traffic > 0)
        .map(|v| (backend(v), v.traffic))
        .collect();
    let mirror = s.spec.mirror.as_ref().and_then(|m| {
        let v = s.spec.versions.iter().find(|v| v.name == m.version)?;
        Some((backend(v), m.percent))
    });
    match router(&cluster.spec) {
        Some("gateway-api") => {
            let backends: Vec<Value> = weighted
                .iter()
                .map(|(name, weight)| json!({"name": name, "port": 80, "weight": weight}))
                .collect();
            let mirror = mirror.map(|(name, percent)| {
                json!({"backend": {"name": name, "port": 80}, "percent": percent})
            });
            out.emit(
                "httproute",
                s.file(),
                json!({"name": s.name(), "namespace": ns, "backends": backends, "mirror": mirror}),
            )
        }
        Some(_) => {
            let host = |name: &str| format!("{name}.{ns}.svc.cluster.local");
            let destination =
                |name: &str| json!({"host": host(name), "port": {"number": 80}});
            let routes: Vec<Value> = weighted
                .iter()
                .map(|(name, weight)| json!({"destination": destination(name), "weight": weight}))
                .collect();
            let mirror = mirror.map(|(name, percent)| {
                json!({"destination": destination(&name), "percent": f64::from(percent)})
            });
            out.emit(
                "virtualservice",
                s.file(),
                json!({"name": s.name(), "namespace": ns, "host": host(s.name()), "routes": routes, "mirror": mirror}),
            )
        }
        None => Err(out.error(
            s.file(),
            format!(
                "service `{}` splits its traffic but cluster `{}` has no `gateway-api` or `istio` to enforce the weights",
                s.name(),
                cluster.name()
            ),
        )),
    }
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
