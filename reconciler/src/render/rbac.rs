//! Who may do what in a project's namespace: a Role per member role (`cubist-admin`,
//! `cubist-edit`, `cubist-view`) that the members' RoleBindings refer to, and the Role of
//! `pipeline-runner`, derived from the resource steps of the project's rendered Argo workflows.
//! Roles and RoleBindings are namespaced: nothing here grants outside the project.

use super::{Out, RenderError, RenderedObject};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Read-only verbs.
const READ: &[&str] = &["get", "list", "watch"];
/// Verbs Argo's executor uses on the object a `resource` step creates and waits for.
const RESOURCE_STEP: &[&str] = &["create", "get", "list", "watch", "patch", "delete"];
/// Verbs Argo's executor uses on `workflowtaskresults` (its report of each step).
const TASK_RESULTS: &[&str] = &["create", "patch"];
/// Verbs a developer has on Argo Workflows: submit from a template, stop, retry, delete.
const RUN: &[&str] = &["create", "patch", "update", "delete"];

/// (group, resource) of the kinds a cluster capability adds, the project's workloads.
const WORKLOADS: &[(&str, &str, &[&str])] = &[
    (
        "argo-workflows",
        "argoproj.io",
        &["workflows", "workflowtemplates", "cronworkflows"],
    ),
    (
        "training-operator",
        "kubeflow.org",
        &["pytorchjobs", "tfjobs", "mpijobs", "xgboostjobs"],
    ),
    ("volcano", "batch.volcano.sh", &["jobs"]),
    ("kuberay", "ray.io", &["rayjobs"]),
    ("katib", "kubeflow.org", &["experiments", "trials"]),
    ("kserve", "serving.kserve.io", &["inferenceservices"]),
    ("gateway-api", "gateway.networking.k8s.io", &["httproutes"]),
    (
        "istio",
        "networking.istio.io",
        &["virtualservices", "destinationrules"],
    ),
];

/// What serves a service on a cluster without KServe.
const PLAIN_SERVING: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("", "services"),
    ("autoscaling", "horizontalpodautoscalers"),
];

/// The resource name (plural) of each kind a resource step may create, by (group, kind).
const STEP_KINDS: &[(&str, &str, &str)] = &[
    ("kubeflow.org", "PyTorchJob", "pytorchjobs"),
    ("kubeflow.org", "TFJob", "tfjobs"),
    ("kubeflow.org", "MPIJob", "mpijobs"),
    ("kubeflow.org", "XGBoostJob", "xgboostjobs"),
    ("kubeflow.org", "Experiment", "experiments"),
    ("batch.volcano.sh", "Job", "jobs"),
    ("ray.io", "RayJob", "rayjobs"),
];

/// Grants being collected: (group, resource) → verbs.
#[derive(Default)]
struct Grants(BTreeMap<(String, String), BTreeSet<&'static str>>);

impl Grants {
    fn add(&mut self, group: &str, resource: &str, verbs: &[&'static str]) {
        self.0
            .entry((group.to_string(), resource.to_string()))
            .or_default()
            .extend(verbs);
    }

    /// Role rules: one per group and set of verbs, resources sorted.
    fn rules(&self) -> Value {
        let mut rules: BTreeMap<(&str, Vec<&str>), Vec<&str>> = BTreeMap::new();
        for ((group, resource), verbs) in &self.0 {
            rules
                .entry((group, verbs.iter().copied().collect()))
                .or_default()
                .push(resource);
        }
        Value::Array(
            rules
                .into_iter()
                .map(|((g, verbs), resources)| {
                    json!({"apiGroups": [g], "resources": resources, "verbs": verbs})
                })
                .collect(),
        )
    }
}

/// The Role of each member role, by role name, on a cluster with `capabilities`.
fn member_roles(capabilities: &[String]) -> [(&'static str, Grants); 3] {
    let has = |c: &str| capabilities.iter().any(|x| x == c);
    let mut view = Grants::default();
    for (capability, group, resources) in WORKLOADS {
        if has(capability) {
            for r in *resources {
                view.add(group, r, READ);
            }
        }
    }
    if !has("kserve") {
        for (group, resource) in PLAIN_SERVING {
            view.add(group, resource, READ);
        }
    }
    let mut edit = Grants(view.0.clone());
    edit.add("", "pods", READ);
    edit.add("", "pods/log", READ);
    if has("argo-workflows") {
        edit.add("argoproj.io", "workflows", RUN);
    }
    let mut admin = Grants(edit.0.clone());
    admin.add("", "pods", &["delete"]);
    admin.add(
        "",
        "secrets",
        &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
    );
    for ((group, resource), _) in &view.0 {
        // Stop a job a pipeline started; cubist owns the rest.
        if STEP_KINDS
            .iter()
            .any(|(g, _, r)| g == group && r == resource)
        {
            admin.add(group, resource, &["delete"]);
        }
    }
    [
        ("cubist-admin", admin),
        ("cubist-edit", edit),
        ("cubist-view", view),
    ]
}

/// The member Role a project role is bound to.
pub(super) fn member_role(role: &str) -> &'static str {
    match role {
        "admin" => "cubist-admin",
        "developer" => "cubist-edit",
        _ => "cubist-view",
    }
}

/// Renders the three member Roles of a project on a cluster.
pub(super) fn render_member_roles(
    capabilities: &[String],
    source: &str,
    out: &mut Out,
) -> Result<(), RenderError> {
    let ns = out.project.clone();
    for (name, grants) in member_roles(capabilities) {
        out.emit(
            "role",
            source,
            json!({"name": name, "namespace": ns, "rules": grants.rules()}),
        )?;
    }
    Ok(())
}

/// The parts of a rendered Argo workflow the runner's permissions follow from.
#[derive(Deserialize)]
struct Workflow {
    spec: WorkflowSpec,
}

#[derive(Deserialize)]
struct WorkflowSpec {
    #[serde(default)]
    templates: Vec<Template>,
}

#[derive(Deserialize)]
struct Template {
    resource: Option<ResourceStep>,
}

#[derive(Deserialize)]
struct ResourceStep {
    manifest: String,
}

#[derive(Deserialize)]
struct TypeMeta {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
}

/// Renders the Role and RoleBinding of `pipeline-runner`: what Argo needs to run the project's
/// rendered workflows, nothing more. No workflows, no Role.
pub(super) fn render_runner_role(source: &str, out: &mut Out) -> Result<(), RenderError> {
    let grants = runner_grants(&out.objects).map_err(|m| out.error(source, m))?;
    if grants.0.is_empty() {
        return Ok(());
    }
    let ns = out.project.clone();
    out.emit(
        "role",
        source,
        json!({"name": "pipeline-runner", "namespace": ns, "rules": grants.rules()}),
    )?;
    out.emit(
        "rolebinding",
        source,
        json!({"name": "pipeline-runner", "namespace": ns, "role": "pipeline-runner",
            "subject": {"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": ns}}),
    )
}

/// What the executor of every WorkflowTemplate and Workflow among `objects` needs.
fn runner_grants(objects: &[RenderedObject]) -> Result<Grants, String> {
    let mut grants = Grants::default();
    for o in objects {
        let [api_version, kind, _, name] = o.key_parts();
        if api_version != "argoproj.io/v1alpha1" || !matches!(kind, "Workflow" | "WorkflowTemplate")
        {
            continue;
        }
        let w: Workflow = serde_json::from_str(o.body.text())
            .map_err(|e| format!("{kind} {name} cannot be read back: {e}"))?;
        grants.add("argoproj.io", "workflowtaskresults", TASK_RESULTS);
        for step in w.spec.templates.iter().filter_map(|t| t.resource.as_ref()) {
            let m: TypeMeta = serde_json::from_str(&step.manifest)
                .map_err(|e| format!("a resource step of {kind} {name} has no kind: {e}"))?;
            let group = m.api_version.rsplit_once('/').map_or("", |(g, _)| g);
            let (_, _, resource) = STEP_KINDS
                .iter()
                .find(|(g, k, _)| *g == group && *k == m.kind)
                .ok_or_else(|| {
                    format!(
                        "a resource step of {kind} {name} creates {} {}, which pipeline-runner is given no permissions for; blueprints may create {}",
                        m.api_version,
                        m.kind,
                        STEP_KINDS
                            .iter()
                            .map(|(g, k, _)| format!("{g} {k}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            grants.add(group, resource, RESOURCE_STEP);
        }
    }
    Ok(grants)
}
