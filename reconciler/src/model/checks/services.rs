//! Services: traffic adds up to 100, version names are unique, replicas are ordered, and a
//! split (or a mirror) is placed only on clusters that enforce weights with a route.

use crate::diag::{Diagnostic, codes};
use crate::model::kinds::{ClusterSpec, ServiceSpec, Version};
use crate::model::{Manifest, Model, Project};
use std::collections::HashMap;

/// The versions that serve: those with traffic, and the mirror's, in their order.
pub fn serving_versions(s: &ServiceSpec) -> Vec<&Version> {
    let mirror = s.mirror.as_ref().map(|m| m.version.as_str());
    s.versions
        .iter()
        .filter(|v| v.traffic > 0 || Some(v.name.as_str()) == mirror)
        .collect()
}

/// `s` as a DNS label part: lowercase, runs of other characters as `-`, at most 50 characters.
pub fn dns_name(s: &str) -> String {
    let v: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    v.trim_matches('-').chars().take(50).collect()
}

/// The name of one version's predictor (InferenceService, or Deployment and Service) when more
/// than one version serves: `<service>-<version>`.
pub fn version_name(service: &str, version: &str) -> String {
    format!("{service}-{}", dns_name(version))
}

/// Each version and its traffic, as `<name><sep><traffic>%`.
pub fn split(s: &ServiceSpec, sep: &str) -> Vec<String> {
    s.versions
        .iter()
        .map(|v| format!("{}{sep}{}%", v.name, v.traffic))
        .collect()
}

/// True when requests must be routed by weight (or copied): more than one version serves.
pub fn needs_route(s: &ServiceSpec) -> bool {
    serving_versions(s).len() > 1
}

/// The capability that enforces a service's weights on a cluster: `gateway-api` first, then
/// `istio`; `None` when the cluster has neither.
pub fn router(cluster: &ClusterSpec) -> Option<&'static str> {
    ["gateway-api", "istio"]
        .into_iter()
        .find(|r| cluster.capabilities.iter().any(|c| c == r))
}

pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for project in model.projects.values() {
        for s in project.services.values() {
            let total: u32 = s.spec.versions.iter().map(|v| v.traffic).sum();
            if total != 100 {
                diags.push(
                    Diagnostic::error(
                        codes::TRAFFIC,
                        &s.doc.at_key("spec", "versions"),
                        format!(
                            "traffic of service `{}` adds up to {total}%, not 100% ({})",
                            s.name(),
                            split(&s.spec, " ").join(", ")
                        ),
                    )
                    .help("make the versions' `traffic` values sum to 100"),
                );
            }
            if total == 100 {
                route_check(model, project, s, diags);
            }
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (i, v) in s.spec.versions.iter().enumerate() {
                if let Some(first) = seen.insert(&v.name, i) {
                    seen.insert(&v.name, first);
                    diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_VERSION,
                            &s.at(&format!("spec/versions/{i}/name")),
                            format!(
                                "version `{}` appears twice in service `{}`",
                                v.name,
                                s.name()
                            ),
                        )
                        .help("give every version its own name"),
                    );
                }
            }
            if let Some(r) = &s.spec.replicas
                && r.min > r.max
            {
                diags.push(
                    Diagnostic::error(
                        codes::SCHEMA,
                        &s.at("spec/replicas/min"),
                        format!("replicas min {} is greater than max {}", r.min, r.max),
                    )
                    .help("set `min` ≤ `max`"),
                );
            }
            if s.spec.framework == "custom"
                && s.spec.image.is_none()
                && s.spec.versions.iter().any(|v| v.image.is_none())
            {
                diags.push(
                    Diagnostic::error(
                        codes::SCHEMA,
                        &s.at("spec/framework"),
                        format!(
                            "service `{}` uses framework `custom` without an image",
                            s.name()
                        ),
                    )
                    .help("set `spec.image` (or `image` on every version)"),
                );
            }
        }
    }
}

/// A mirror names a version; a split or mirror is only placed where a route enforces it.
fn route_check(
    model: &Model,
    project: &Project,
    s: &Manifest<ServiceSpec>,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(m) = &s.spec.mirror
        && !s.spec.versions.iter().any(|v| v.name == m.version)
    {
        let names: Vec<&str> = s.spec.versions.iter().map(|v| v.name.as_str()).collect();
        diags.push(
            Diagnostic::error(
                codes::TRAFFIC,
                &s.at("spec/mirror/version"),
                format!(
                    "service `{}` mirrors to unknown version `{}`",
                    s.name(),
                    m.version
                ),
            )
            .help(format!(
                "mirror to one of the versions: {}",
                names.join(", ")
            )),
        );
        return;
    }
    if !needs_route(&s.spec) {
        return;
    }
    let clusters = model.service_clusters(project, &s.spec);
    raw_autoscale_check(s, &clusters, diags);
    let bare: Vec<&str> = clusters
        .into_iter()
        .filter(|c| router(&c.spec).is_none())
        .map(|c| c.name())
        .collect();
    if bare.is_empty() {
        return;
    }
    let (at, what) = match &s.spec.mirror {
        Some(m) if s.spec.versions.iter().filter(|v| v.traffic > 0).count() < 2 => (
            s.at("spec/mirror"),
            format!("mirrors {}% of its requests to `{}`", m.percent, m.version),
        ),
        _ => (
            s.doc.at_key("spec", "versions"),
            format!("splits its traffic ({})", split(&s.spec, " ").join(", ")),
        ),
    };
    diags.push(
        Diagnostic::error(
            codes::TRAFFIC,
            &at,
            format!(
                "service `{}` {what}, but cluster(s) {} can enforce no weights (no `gateway-api` or `istio` capability): traffic would follow pod counts",
                s.name(),
                bare.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            ),
        )
        .help("add `gateway-api` or `istio` to the cluster's `capabilities` (if installed), limit the service's `placement` to clusters that have one, or send 100% to one version"),
    );
}

/// A split on a cluster with `kserve` runs each version as an InferenceService in RawDeployment
/// mode, whose HPA scales on cpu or memory only and never to zero.
fn raw_autoscale_check(
    s: &Manifest<ServiceSpec>,
    clusters: &[&Manifest<ClusterSpec>],
    diags: &mut Vec<Diagnostic>,
) {
    let Some(kserve) = clusters
        .iter()
        .find(|c| c.spec.capabilities.iter().any(|x| x == "kserve"))
    else {
        return;
    };
    let why = format!(
        "on cluster `{}` (kserve), each version of a split runs in KServe's RawDeployment mode, where the HPA scales on cpu or memory and never to zero",
        kserve.name()
    );
    if let Some(a) = s
        .spec
        .autoscale
        .as_ref()
        .filter(|a| !matches!(a.metric.as_str(), "cpu" | "memory"))
    {
        diags.push(
            Diagnostic::error(
                codes::CAPABILITY,
                &s.at("spec/autoscale/metric"),
                format!(
                    "service `{}` autoscales on `{}`, but {why}",
                    s.name(),
                    a.metric
                ),
            )
            .help("autoscale on `cpu` or `memory`, or send 100% of the traffic to one version"),
        );
    }
    if s.spec.replicas.as_ref().is_some_and(|r| r.min == 0) {
        diags.push(
            Diagnostic::error(
                codes::CAPABILITY,
                &s.at("spec/replicas/min"),
                format!(
                    "service `{}` may scale to zero replicas, but {why}",
                    s.name()
                ),
            )
            .help("set `replicas.min` to 1 or more, or send 100% of the traffic to one version"),
        );
    }
}
