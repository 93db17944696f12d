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

/// Each cluster's rendered set with each project (whose namespace may be on it).
fn placed<'a>(
    model: &'a Model,
    sets: &'a BTreeMap<String, RenderedSet>,
) -> impl Iterator<Item = (&'a RenderedSet, &'a cubist::model::Project)> {
    sets.values()
        .flat_map(move |set| model.projects.values().map(move |p| (set, &**p)))
}

/// Every object of `kind` in namespace `ns` of one cluster.
fn of_kind<'a>(
    set: &'a RenderedSet,
    kind: &'a str,
    ns: &'a str,
) -> impl Iterator<Item = &'a Value> {
    set.objects
        .iter()
        .map(|o| o.body.value())
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
    set.objects.iter().map(|o| o.body.value()).find(|b| {
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
    for (set, project) in placed(model, sets) {
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
                    (g != "" || r == "services") && g != "*" && r != "*" && !g.starts_with("rbac."),
                    "[{}] viewer {} of {ns} is granted {r}.{g}",
                    set.cluster,
                    m.user
                );
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
    for (set, project) in placed(model, sets) {
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
        let bindings: Vec<&Value> = of_kind(set, "RoleBinding", ns)
            .filter(|b| {
                b["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["kind"] == "ServiceAccount" && s["name"] == "pipeline-runner")
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
    assert!(
        checked >= 3,
        "only {checked} projects with pipelines checked"
    );
    // Services do not run with the pipeline's permissions (engine pods do: they are the
    // pipeline's).
    for set in sets.values() {
        for o in &set.objects {
            let b = o.body.value();
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

/// Where a route sends requests: backend Service name → weight, and the mirror's backend with
/// its percent.
fn route_targets(route: &Value, ns: &str) -> (BTreeMap<String, u64>, Option<(String, u64)>) {
    let short = |host: &str| {
        host.strip_suffix(&format!(".{ns}.svc.cluster.local"))
            .unwrap_or(host)
            .to_string()
    };
    // (backend name, weight) of each entry of a list.
    let weighted = |list: &Value, name: &dyn Fn(&Value) -> String| -> BTreeMap<String, u64> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|e| (name(e), e["weight"].as_u64().unwrap()))
            .collect()
    };
    match str_at(route, "/kind") {
        "HTTPRoute" => {
            let rules = route["spec"]["rules"].as_array().expect("rules");
            assert_eq!(rules.len(), 1, "one rule: {route}");
            let weights = weighted(&rules[0]["backendRefs"], &|b| str_at(b, "/name").into());
            let mirror = rules[0]["filters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["type"] == "RequestMirror")
                .map(|f| {
                    let m = &f["requestMirror"];
                    let name = str_at(m, "/backendRef/name").to_string();
                    (name, m["percent"].as_u64().unwrap())
                });
            (weights, mirror)
        }
        "VirtualService" => {
            let http = route["spec"]["http"].as_array().expect("http");
            assert_eq!(http.len(), 1, "one http route: {route}");
            let weights = weighted(&http[0]["route"], &|r| {
                short(str_at(r, "/destination/host"))
            });
            let mirror = http[0].get("mirror").map(|m| {
                let percent = http[0]["mirrorPercentage"]["value"].as_f64().unwrap();
                (short(str_at(m, "/host")), percent as u64)
            });
            (weights, mirror)
        }
        other => panic!("not a route: {other}"),
    }
}

/// The version a route backend serves, read from what the backend selects: a Service selecting
/// one version's pods (whose Deployment passes that model), or a KServe predictor Service
/// `<isvc>-predictor` of an InferenceService serving that model.
fn backend_model(set: &RenderedSet, ns: &str, backend: &str) -> String {
    if let Some(isvc) = backend.strip_suffix("-predictor")
        && let Some(i) =
            of_kind(set, "InferenceService", ns).find(|i| str_at(i, "/metadata/name") == isvc)
    {
        assert_eq!(
            i["metadata"]["annotations"]["serving.kserve.io/deploymentMode"], "RawDeployment",
            "{isvc}: a predictor Service named <isvc>-predictor exists in RawDeployment mode"
        );
        return str_at(i, "/spec/predictor/model/storageUri").to_string();
    }
    let svc = of_kind(set, "Service", ns)
        .find(|s| str_at(s, "/metadata/name") == backend)
        .unwrap_or_else(|| panic!("[{}] backend {ns}/{backend} is not rendered", set.cluster));
    let selector = &svc["spec"]["selector"];
    let pods: Vec<&Value> = of_kind(set, "Deployment", ns)
        .filter(|d| {
            let labels = &d["spec"]["template"]["metadata"]["labels"];
            selector
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| &labels[k] == v)
        })
        .collect();
    assert_eq!(
        pods.len(),
        1,
        "[{}] {backend} selects {} Deployments",
        set.cluster,
        pods.len()
    );
    let args = pods[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap();
    args.iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--model-uri="))
        .next()
        .expect("model uri")
        .to_string()
}

/// For each service with a split, on each cluster it runs on, one route whose weights are the
/// declared traffic, each backend serving its version's model, and the mirror copying the
/// declared percent to the mirrored version.
#[test]
fn traffic_splits_are_routes_with_the_declared_weights() {
    let (model, sets) = rendered();
    let mut splits = 0;
    let mut mirrors = 0;
    for project in model.projects.values() {
        let ns = project.name();
        for s in project.services.values() {
            let serving = s.spec.versions.iter().filter(|v| v.traffic > 0).count();
            if serving < 2 && s.spec.mirror.is_none() {
                continue;
            }
            for c in model.service_clusters(project, &s.spec) {
                let set = &sets[c.name()];
                let routes: Vec<&Value> = ["HTTPRoute", "VirtualService"]
                    .iter()
                    .flat_map(|k| of_kind(set, k, ns))
                    .filter(|r| str_at(r, "/metadata/name") == s.name())
                    .collect();
                assert_eq!(routes.len(), 1, "[{}] {ns}/{}: routes", c.name(), s.name());
                let (weights, mirror) = route_targets(routes[0], ns);
                let by_model: BTreeMap<String, u64> = weights
                    .iter()
                    .map(|(b, w)| (backend_model(set, ns, b), *w))
                    .collect();
                let declared: BTreeMap<String, u64> = s
                    .spec
                    .versions
                    .iter()
                    .filter(|v| v.traffic > 0)
                    .map(|v| (v.model.clone(), u64::from(v.traffic)))
                    .collect();
                assert_eq!(
                    by_model,
                    declared,
                    "[{}] {ns}/{}: weights",
                    c.name(),
                    s.name()
                );
                splits += 1;
                let declared_mirror = s.spec.mirror.as_ref().map(|m| {
                    let v = s
                        .spec
                        .versions
                        .iter()
                        .find(|v| v.name == m.version)
                        .unwrap();
                    (v.model.clone(), u64::from(m.percent))
                });
                let mirror = mirror.map(|(b, p)| (backend_model(set, ns, &b), p));
                assert_eq!(
                    mirror,
                    declared_mirror,
                    "[{}] {ns}/{}: mirror",
                    c.name(),
                    s.name()
                );
                mirrors += usize::from(mirror.is_some());
                // The route is attached to what clients call: the service's own Service.
                let parent = match str_at(routes[0], "/kind") {
                    "HTTPRoute" => str_at(routes[0], "/spec/parentRefs/0/name").to_string(),
                    _ => str_at(routes[0], "/spec/hosts/0").to_string(),
                };
                assert!(
                    parent == s.name() || parent == format!("{}.{ns}.svc.cluster.local", s.name()),
                    "[{}] route attached to {parent}",
                    c.name()
                );
                assert!(
                    of_kind(set, "Service", ns).any(|x| str_at(x, "/metadata/name") == s.name()),
                    "[{}] no Service {ns}/{} for clients",
                    c.name(),
                    s.name()
                );
            }
        }
    }
    assert!(splits >= 2, "examples-repo has {splits} routed splits");
    assert!(mirrors >= 1, "examples-repo mirrors nothing");
}

/// The value of `flag` in a container's command and args (`--flag=N` or `--flag N`).
fn flag_value(container: &Value, flag: &str) -> Option<String> {
    let words: Vec<&str> = ["command", "args"]
        .iter()
        .flat_map(|k| container[*k].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    words.iter().enumerate().find_map(|(i, w)| {
        if *w == flag {
            words.get(i + 1).map(|v| v.to_string())
        } else {
            w.strip_prefix(flag)?.strip_prefix('=').map(str::to_string)
        }
    })
}

/// Every distributed program is told the node count its engine starts: torchrun's `--nnodes`
/// is the PyTorchJob's replicas (master + workers), horovodrun's `-np` the MPIJob's worker
/// slots; and examples-repo raises no node-count warning.
#[test]
fn distributed_programs_are_told_the_replicas_rendered() {
    let (_, sets) = rendered();
    let mut checked = 0;
    for set in sets.values() {
        for w in set.objects.iter().map(|o| o.body.value()) {
            if !matches!(str_at(w, "/kind"), "WorkflowTemplate" | "Workflow") {
                continue;
            }
            for t in w["spec"]["templates"].as_array().into_iter().flatten() {
                let Some(text) = t.pointer("/resource/manifest").and_then(Value::as_str) else {
                    continue;
                };
                let m: Value = serde_json::from_str(text).unwrap();
                let replicas = |specs: &Value| -> u64 {
                    specs
                        .as_object()
                        .unwrap()
                        .values()
                        .map(|s| s["replicas"].as_u64().unwrap())
                        .sum()
                };
                let (stated, pods, what) = match str_at(&m, "/kind") {
                    "PyTorchJob" => {
                        let specs = &m["spec"]["pytorchReplicaSpecs"];
                        let c = &specs["Master"]["template"]["spec"]["containers"][0];
                        (flag_value(c, "--nnodes"), replicas(specs), "--nnodes")
                    }
                    "MPIJob" => {
                        let specs = &m["spec"]["mpiReplicaSpecs"];
                        let c = &specs["Launcher"]["template"]["spec"]["containers"][0];
                        let slots = m["spec"]["slotsPerWorker"].as_u64().unwrap_or(1);
                        let workers = specs["Worker"]["replicas"].as_u64().unwrap();
                        (flag_value(c, "-np"), workers * slots, "-np")
                    }
                    _ => continue,
                };
                let what = format!(
                    "[{}] {} {} task {}: {what}",
                    set.cluster,
                    str_at(w, "/kind"),
                    str_at(w, "/metadata/name"),
                    str_at(t, "/name")
                );
                let stated = stated.unwrap_or_else(|| panic!("{what} is not passed"));
                assert_eq!(stated, pods.to_string(), "{what}: the engine starts {pods}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "only {checked} distributed tasks checked");
    let snapshot = cubist::source::snapshot_dir(&manifest_dir().join("../examples-repo")).unwrap();
    let warnings: Vec<_> = cubist::model::load(&snapshot)
        .1
        .into_iter()
        .filter(|d| d.code == cubist::diag::codes::NODE_COUNT)
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// A `Run`'s `args` override its pipeline's task arguments in the Workflows it asks for, and
/// nowhere else (issue #18: every field of a Run has an effect): examples-repo's re-run of
/// 2026-11-20 sets `train: {eta: 0.05}`, its November backfill `train: {num_round: 600}`.
#[test]
fn run_args_override_task_arguments_in_the_runs_workflows_only() {
    let (_, sets) = rendered();
    let text = |kind: &str, name: &dyn Fn(&str) -> bool| -> Vec<String> {
        sets["prod-bj"]
            .objects
            .iter()
            .map(|o| o.body.value())
            .filter(|v| v["kind"] == kind && name(str_at(v, "/metadata/name")))
            .map(|v| v.to_string())
            .collect()
    };
    let template = text("WorkflowTemplate", &|n| n == "daily-ranker");
    let rerun = text("Workflow", &|n| n.starts_with("daily-ranker-20261120-r"));
    let backfill = text("Workflow", &|n| n.starts_with("daily-ranker-20261101-r"));
    assert_eq!((template.len(), rerun.len(), backfill.len()), (1, 1, 1));
    assert!(template[0].contains("--eta=0.08") && template[0].contains("--num-round=400"));
    assert!(rerun[0].contains("--eta=0.05") && !rerun[0].contains("--eta=0.08"));
    assert!(rerun[0].contains("--num-round=400"), "other arguments stay");
    assert!(backfill[0].contains("--num-round=600") && !backfill[0].contains("--num-round=400"));
}
