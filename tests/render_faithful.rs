//! What cubist renders for `examples-repo` does on a cluster what the manifests say: member
//! roles grant what the role promises, pipelines hold exactly the permissions Argo needs to run
//! their steps, traffic splits are enforced by a route's weights, and distributed programs are
//! told the node count the engine starts.
//!
//! Resource names of engine kinds come from the upstream CRDs in `shared/reference/crds/`.

use cubist::model::Model;
use cubist::render::{Blueprints, RenderedSet, render};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

/// (apiGroup, resource, verb).
type Triple = (String, String, String);

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn crd_dir() -> PathBuf {
    manifest_dir().join("../../shared/reference/crds")
}

fn rendered() -> &'static (Model, BTreeMap<String, RenderedSet>) {
    static R: OnceLock<(Model, BTreeMap<String, RenderedSet>)> = OnceLock::new();
    R.get_or_init(|| {
        let root = manifest_dir().join("../examples-repo");
        let snapshot = cubist::source::snapshot_dir(&root).expect("snapshot examples-repo");
        let (model, diags) = cubist::model::load(&snapshot);
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        assert!(
            errors.is_empty(),
            "examples-repo does not validate: {errors:#?}"
        );
        let sets = render(&model, &Blueprints::embedded().expect("blueprints"))
            .unwrap_or_else(|e| panic!("render failed: {e}"));
        (model, sets)
    })
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// (group, kind) → plural resource name, from the upstream CRDs (top lines of each file).
fn plurals() -> &'static BTreeMap<(String, String), String> {
    static P: OnceLock<BTreeMap<(String, String), String>> = OnceLock::new();
    P.get_or_init(|| {
        let mut out = BTreeMap::new();
        let dir = crd_dir();
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!("cannot read {} (shared reference data): {e}", dir.display())
        });
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("CRD text");
            let docs = cubist::model::yaml::parse_documents(&path.display().to_string(), &text)
                .unwrap_or_else(|d| panic!("{}: {}", path.display(), d.message));
            for d in docs {
                let v = d.json;
                if v["kind"] == "CustomResourceDefinition" {
                    out.insert(
                        (
                            str_at(&v, "/spec/group").to_string(),
                            str_at(&v, "/spec/names/kind").to_string(),
                        ),
                        str_at(&v, "/spec/names/plural").to_string(),
                    );
                }
            }
        }
        out
    })
}

/// Every object of `kind` in namespace `ns` of one cluster.
fn of_kind<'a>(
    set: &'a RenderedSet,
    kind: &'a str,
    ns: &'a str,
) -> impl Iterator<Item = &'a Value> {
    set.objects
        .iter()
        .map(|o| &*o.body)
        .filter(move |b| str_at(b, "/kind") == kind && str_at(b, "/metadata/namespace") == ns)
}

/// The (group, resource, verb) triples a Role's rules grant; wildcards kept as `*`.
fn granted(role: &Value) -> BTreeSet<Triple> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        let list = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        };
        for g in list("apiGroups") {
            for r in list("resources") {
                for v in list("verbs") {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

fn role<'a>(set: &'a RenderedSet, ns: &str, name: &str) -> Option<&'a Value> {
    set.objects.iter().map(|o| &*o.body).find(|b| {
        str_at(b, "/kind") == "Role"
            && str_at(b, "/metadata/namespace") == ns
            && str_at(b, "/metadata/name") == name
    })
}

/// The Role a RoleBinding refers to; panics when it refers to anything not rendered beside it.
fn bound_role<'a>(set: &'a RenderedSet, binding: &Value) -> &'a Value {
    let ns = str_at(binding, "/metadata/namespace");
    let name = str_at(binding, "/metadata/name");
    assert_eq!(
        str_at(binding, "/roleRef/kind"),
        "Role",
        "[{}] RoleBinding {ns}/{name} refers to a {} that cubist does not render",
        set.cluster,
        str_at(binding, "/roleRef/kind")
    );
    role(set, ns, str_at(binding, "/roleRef/name")).unwrap_or_else(|| {
        panic!(
            "[{}] RoleBinding {ns}/{name} refers to Role {} which is not rendered",
            set.cluster,
            str_at(binding, "/roleRef/name")
        )
    })
}

/// The (group, resource) of every engine object the resource steps of `workflow` create.
fn resource_steps(workflow: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for t in workflow["spec"]["templates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(text) = t.pointer("/resource/manifest").and_then(Value::as_str) {
            let m: Value = serde_json::from_str(text).expect("manifest is JSON");
            let group = group_of(str_at(&m, "/apiVersion")).to_string();
            let kind = str_at(&m, "/kind").to_string();
            let plural = plurals()
                .get(&(group.clone(), kind.clone()))
                .unwrap_or_else(|| panic!("no CRD for {group} {kind}"));
            out.insert((group, plural.clone()));
        }
    }
    out
}

/// Each member is bound to a Role rendered in the project's own namespace (a binding to a role
/// nobody renders grants nothing), and a viewer's Role reads the project's workflows, the jobs
/// its pipelines start and its inference services, and nothing else.
#[test]
fn member_bindings_grant_what_their_role_says() {
    let (model, sets) = rendered();
    let mut viewers = 0;
    for set in sets.values() {
        for project in model.projects.values() {
            let ns = project.name();
            let bindings: Vec<&Value> = of_kind(set, "RoleBinding", ns)
                .filter(|b| str_at(b, "/metadata/name").starts_with("member-"))
                .collect();
            if bindings.is_empty() {
                continue;
            }
            for m in &project.manifest.spec.members {
                let binding = bindings
                    .iter()
                    .find(|b| str_at(b, "/subjects/0/name") == m.user)
                    .unwrap_or_else(|| panic!("[{}] no binding for {}", set.cluster, m.user));
                let role = bound_role(set, binding);
                if m.role != "viewer" {
                    continue;
                }
                viewers += 1;
                let grants = granted(role);
                let read = ["get", "list", "watch"];
                let writes: Vec<_> = grants
                    .iter()
                    .filter(|t| !read.contains(&t.2.as_str()))
                    .collect();
                assert!(
                    writes.is_empty(),
                    "[{}] viewer {} may {writes:?}",
                    set.cluster,
                    m.user
                );
                // What the viewer must read: every workflow kind, every job kind a resource step
                // creates, and what serves the project's services.
                let mut needed: BTreeSet<(String, String)> =
                    ["workflows", "workflowtemplates", "cronworkflows"]
                        .iter()
                        .map(|r| ("argoproj.io".to_string(), r.to_string()))
                        .collect();
                for kind in ["WorkflowTemplate", "Workflow"] {
                    for w in of_kind(set, kind, ns) {
                        needed.extend(resource_steps(w));
                    }
                }
                if of_kind(set, "InferenceService", ns).next().is_some() {
                    needed.insert(("serving.kserve.io".into(), "inferenceservices".into()));
                }
                if of_kind(set, "Deployment", ns).next().is_some() {
                    needed.insert(("apps".into(), "deployments".into()));
                }
                for (g, r) in &needed {
                    for verb in read {
                        assert!(
                            grants.contains(&(g.clone(), r.clone(), verb.to_string())),
                            "[{}] viewer {} of {ns} cannot {verb} {r}.{g}",
                            set.cluster,
                            m.user
                        );
                    }
                }
                // Nothing else: of the core objects only Services (which serve a service
                // without KServe): no pods, secrets or configmaps; no RBAC, no wildcard.
                for (g, r, _) in &grants {
                    assert!(
                        (g != "" || r == "services")
                            && g != "*"
                            && r != "*"
                            && !g.starts_with("rbac."),
                        "[{}] viewer {} of {ns} is granted {r}.{g}",
                        set.cluster,
                        m.user
                    );
                }
            }
        }
    }
    assert!(viewers > 0, "examples-repo renders no viewer binding");
}

/// The Role bound to `pipeline-runner` grants exactly the (group, resource, verb) triples
/// Argo needs to run the project's rendered WorkflowTemplates, Workflows and CronWorkflows:
/// `workflowtaskresults` create/patch for the executor, and the verbs of a resource step on each
/// engine kind a step creates; nothing broader.
#[test]
fn pipeline_runner_role_is_exactly_what_the_workflows_need() {
    let (model, sets) = rendered();
    let mut checked = 0;
    for set in sets.values() {
        for project in model.projects.values() {
            let ns = project.name();
            let mut needed: BTreeSet<Triple> = BTreeSet::new();
            let mut steps: BTreeSet<(String, String)> = BTreeSet::new();
            let templates: BTreeMap<&str, &Value> = of_kind(set, "WorkflowTemplate", ns)
                .map(|t| (str_at(t, "/metadata/name"), t))
                .collect();
            let mut workflows: Vec<&Value> = templates.values().copied().collect();
            workflows.extend(of_kind(set, "Workflow", ns));
            for cron in of_kind(set, "CronWorkflow", ns) {
                let name = str_at(cron, "/spec/workflowSpec/workflowTemplateRef/name");
                workflows.push(templates.get(name).unwrap_or_else(|| {
                    panic!(
                        "[{}] CronWorkflow refers to missing template {name}",
                        set.cluster
                    )
                }));
            }
            for w in &workflows {
                assert_eq!(
                    str_at(w, "/spec/serviceAccountName"),
                    "pipeline-runner",
                    "[{}] {} runs as another account",
                    set.cluster,
                    str_at(w, "/metadata/name")
                );
                for verb in ["create", "patch"] {
                    needed.insert((
                        "argoproj.io".into(),
                        "workflowtaskresults".into(),
                        verb.into(),
                    ));
                }
                steps.extend(resource_steps(w));
            }
            for (g, r) in &steps {
                for verb in ["create", "get", "list", "watch", "patch", "delete"] {
                    needed.insert((g.clone(), r.clone(), verb.into()));
                }
            }
            let bindings: Vec<&Value> =
                of_kind(set, "RoleBinding", ns)
                    .filter(|b| {
                        b["subjects"].as_array().into_iter().flatten().any(|s| {
                            s["kind"] == "ServiceAccount" && s["name"] == "pipeline-runner"
                        })
                    })
                    .collect();
            if workflows.is_empty() {
                assert!(
                    bindings.is_empty(),
                    "[{}] {ns}: pipeline-runner bound without pipelines",
                    set.cluster
                );
                continue;
            }
            assert_eq!(
                bindings.len(),
                1,
                "[{}] {ns}: pipeline-runner bindings",
                set.cluster
            );
            let grants = granted(bound_role(set, bindings[0]));
            assert_eq!(
                grants, needed,
                "[{}] {ns}: pipeline-runner's Role",
                set.cluster
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "only {checked} projects with pipelines checked"
    );
    // Services and engine pods do not run with the pipeline's permissions.
    for set in sets.values() {
        for o in &set.objects {
            let b = &*o.body;
            let account = match str_at(b, "/kind") {
                "Deployment" => str_at(b, "/spec/template/spec/serviceAccountName"),
                "InferenceService" => str_at(b, "/spec/predictor/serviceAccountName"),
                _ => continue,
            };
            assert_eq!(
                account,
                "model-server",
                "[{}] {}",
                set.cluster,
                str_at(b, "/metadata/name")
            );
        }
    }
}
