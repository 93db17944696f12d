//! Every object cubist renders for `examples-repo` is valid for the real APIs it is sent to.
//!
//! * Custom resources (Argo Workflow / WorkflowTemplate, KServe InferenceService,
//!   Gateway API HTTPRoute, Istio VirtualService)
//!   and every engine object embedded in an Argo `resource` step (PyTorchJob, TFJob, MPIJob,
//!   XGBoostJob, Volcano Job, RayJob, Katib Experiment) are validated against the served
//!   version's `openAPIV3Schema` of the real upstream CRD in `shared/reference/crds/`, with the
//!   apiserver's rule that fields not declared in the schema are rejected.
//! * Built-in kinds go through the `k8s-openapi` types: a field the typed form drops is a field
//!   the apiserver does not know.
//! * Rendering is deterministic, every object carries cubist's labels and a correct hash, and
//!   the project's placement (nodeSelector, tolerations, volumes, mounts, env) reaches every pod.

use cubist::model::Model;
use cubist::render::hash::content_hash;
use cubist::render::yaml_out::to_yaml;
use cubist::render::{
    Blueprints, HASH_ANNOTATION, MANAGED_BY, PROJECT_LABEL, REVISION_ANNOTATION, RenderedSet,
    SOURCE_ANNOTATION, render,
};
use cubist_tests::corpus::examples_repo;
use cubist_tests::crd_schema::validate_crd;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const CRD_KINDS: &[&str] = &[
    "Workflow",
    "WorkflowTemplate",
    "InferenceService",
    "HTTPRoute",
    "VirtualService",
];
const ENGINE_KINDS: &[(&str, &str)] = &[
    ("kubeflow.org", "PyTorchJob"),
    ("kubeflow.org", "TFJob"),
    ("kubeflow.org", "MPIJob"),
    ("kubeflow.org", "XGBoostJob"),
    ("batch.volcano.sh", "Job"),
    ("ray.io", "RayJob"),
    ("kubeflow.org", "Experiment"),
];
const BUILTIN_KINDS: &[&str] = &[
    "Namespace",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ResourceQuota",
    "LimitRange",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
];

fn load_examples() -> Model {
    let snapshot = cubist::source::snapshot_dir(&examples_repo()).expect("snapshot examples-repo");
    let (model, diags) = cubist::model::load(&snapshot);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(
        errors.is_empty(),
        "examples-repo does not validate: {errors:#?}"
    );
    model
}

fn rendered() -> &'static (Model, BTreeMap<String, RenderedSet>) {
    static R: OnceLock<(Model, BTreeMap<String, RenderedSet>)> = OnceLock::new();
    R.get_or_init(|| {
        let model = load_examples();
        let sets = render(&model, &Blueprints::embedded().expect("blueprints"))
            .unwrap_or_else(|e| panic!("render failed: {e}"));
        (model, sets)
    })
}

/// Every top-level object: (cluster, object).
fn objects() -> impl Iterator<Item = (&'static str, &'static cubist::render::RenderedObject)> {
    rendered()
        .1
        .iter()
        .flat_map(|(c, s)| s.objects.iter().map(move |o| (c.as_str(), o)))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn describe(cluster: &str, v: &Value) -> String {
    let name = v
        .pointer("/metadata/name")
        .or_else(|| v.pointer("/metadata/generateName"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    format!(
        "[{cluster}] {} {}/{}",
        str_at(v, "/kind"),
        str_at(v, "/metadata/namespace"),
        name
    )
}

/// The engine objects embedded in an Argo WorkflowTemplate/Workflow as `resource.manifest` JSON strings.
fn embedded_manifests(body: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for t in body
        .pointer("/spec/templates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = t.pointer("/resource/manifest") {
            let text = m.as_str().unwrap_or_else(|| {
                panic!(
                    "resource.manifest of template {} is not a string",
                    t["name"]
                )
            });
            let v: Value = serde_json::from_str(text).unwrap_or_else(|e| {
                panic!(
                    "resource.manifest of template {} is not JSON: {e}",
                    t["name"]
                )
            });
            out.push((t["name"].as_str().unwrap_or_default().to_string(), v));
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(has_reference_crds),
    ignore = "needs ../shared/reference/crds (upstream CRDs); see README, Tests"
)]
fn custom_resources_and_engine_objects_match_the_upstream_crds() {
    let mut failures = Vec::new();
    let mut seen_crd: BTreeSet<String> = BTreeSet::new();
    let mut seen_engine: BTreeSet<(String, String)> = BTreeSet::new();
    let mut checked = 0;
    for (cluster, o) in objects() {
        let kind = str_at(o.body.value(), "/kind");
        if !CRD_KINDS.contains(&kind) {
            continue;
        }
        seen_crd.insert(kind.to_string());
        let what = describe(cluster, o.body.value());
        match validate_crd(&what, o.body.value()) {
            Ok(f) => failures.extend(f),
            Err(e) => failures.push(e),
        }
        checked += 1;
        for (task, m) in embedded_manifests(o.body.value()) {
            let group = str_at(&m, "/apiVersion")
                .rsplit_once('/')
                .map(|(g, _)| g)
                .unwrap_or_default()
                .to_string();
            seen_engine.insert((group, str_at(&m, "/kind").to_string()));
            let what = format!(
                "{what} task {task}: {} {}",
                str_at(&m, "/kind"),
                str_at(&m, "/metadata/generateName")
            );
            match validate_crd(&what, &m) {
                Ok(f) => failures.extend(f),
                Err(e) => failures.push(e),
            }
            checked += 1;
            // Katib's CRD keeps unknown fields: check the trial's batch/v1 Job with the typed API.
            if let Some(job) = m.pointer("/spec/trialTemplate/trialSpec") {
                match unknown_fields::<k8s_openapi::api::batch::v1::Job>(job) {
                    Ok(f) => failures.extend(
                        f.into_iter()
                            .map(|p| format!("{what}: trialSpec: unknown field `{p}`")),
                    ),
                    Err(e) => failures.push(format!("{what}: trialSpec: {e}")),
                }
            }
        }
    }
    // The run controller's Workflows: a scheduled execution's (a reference to the pipeline's
    // WorkflowTemplate) and a Run's (the rendered Workflow's spec, its own metadata).
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T02:00:00+08:00").unwrap();
    let run_spec = objects()
        .find(|(_, o)| o.body.value()["kind"] == "Workflow")
        .map(|(_, o)| o.body.value()["spec"].clone())
        .expect("a Run's Workflow");
    for (origin, spec) in [
        (cubist::runs::naming::Origin::Schedule, None),
        (
            cubist::runs::naming::Origin::Run("rerun".into()),
            Some(&run_spec),
        ),
    ] {
        let body = cubist::runs::workflow::body(
            "recsys",
            "daily-ranker",
            "daily-ranker-20261201",
            at,
            &origin,
            2,
            spec,
        );
        match validate_crd("a run controller Workflow", &body) {
            Ok(f) => failures.extend(f),
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} objects' fields are rejected by the real CRDs:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for kind in CRD_KINDS {
        assert!(
            seen_crd.contains(*kind),
            "examples-repo renders no {kind}: the check above would pass vacuously"
        );
    }
    for (group, kind) in ENGINE_KINDS {
        assert!(
            seen_engine.contains(&(group.to_string(), kind.to_string())),
            "examples-repo embeds no {group} {kind} in a workflow"
        );
    }
}

/// The converted schemas reject what the apiserver rejects (so the check above means something).
#[test]
#[cfg_attr(
    not(has_reference_crds),
    ignore = "needs ../shared/reference/crds (upstream CRDs); see README, Tests"
)]
fn crd_check_rejects_unknown_fields_and_wrong_types() {
    let (_, sets) = rendered();
    let wt = sets["local"]
        .objects
        .iter()
        .find(|o| o.body.value()["kind"] == "WorkflowTemplate")
        .expect("a WorkflowTemplate");
    let mut bad = wt.body.to_value();
    bad["spec"]["entrypointz"] = json!("dag");
    bad["spec"]["parallelism"] = json!("three");
    let errs = validate_crd("bad", &bad).unwrap();
    assert!(errs.iter().any(|e| e.contains("entrypointz")), "{errs:?}");
    assert!(
        errs.iter().any(|e| e.contains("/spec/parallelism")),
        "{errs:?}"
    );
    // A misspelt field deep inside every kind's pod spec is caught too (Katib keeps unknown
    // fields: its trial Job goes through the typed check instead).
    let mut deep = 0;
    for (_, o) in objects() {
        let mut docs = vec![o.body.to_value()];
        docs.extend(
            embedded_manifests(o.body.value())
                .into_iter()
                .map(|(_, m)| m),
        );
        for doc in docs
            .into_iter()
            .filter(|d| d["kind"] != "Experiment" && !BUILTIN_KINDS.contains(&str_at(d, "/kind")))
        {
            let mut specs = Vec::new();
            pod_specs(&doc, String::new(), &mut specs);
            let Some(at) = specs
                .iter()
                .find(|p| !p.containers.is_empty())
                .map(|p| p.at.clone())
            else {
                continue;
            };
            let mut bad = doc.clone();
            let pod = bad.pointer_mut(&at).unwrap();
            let container = if pod.get("containers").is_some() {
                &mut pod["containers"][0]
            } else if pod.get("templates").is_some() {
                pod["templates"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find_map(|t| t.get_mut("container"))
                    .unwrap()
            } else {
                &mut pod["model"]
            };
            container["imagePullPolicyz"] = json!("Always");
            let errs = validate_crd("bad", &bad).unwrap();
            assert!(
                errs.iter().any(|e| e.contains("imagePullPolicyz")),
                "{} {}: {errs:?}",
                doc["kind"],
                at
            );
            deep += 1;
        }
    }
    assert!(deep >= 10, "{deep}");
    // ...but metadata and preserve-unknown-fields subtrees are left to the apiserver / controller.
    let mut ok = wt.body.to_value();
    ok["metadata"]["labels"]["x"] = json!("y");
    assert_eq!(validate_crd("ok", &ok).unwrap(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Built-in kinds

/// Deserializes into the typed API object and back; returns the fields the typed form dropped.
fn unknown_fields<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Vec<String>, String> {
    let typed: T =
        serde_json::from_value(v.clone()).map_err(|e| format!("does not deserialize: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    dropped(v, &back, String::new(), &mut missing);
    Ok(missing)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn dropped(orig: &Value, back: &Value, path: String, out: &mut Vec<String>) {
    match (orig, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(bv) => dropped(v, bv, p, out),
                    None if is_empty(v) => {}
                    None => out.push(p.trim_start_matches('.').to_string()),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                dropped(x, y, format!("{path}[{i}]"), out);
            }
        }
        (Value::Object(_) | Value::Array(_), _) if is_empty(orig) && is_empty(back) => {}
        (a, b) if a != b => out.push(format!(
            "{} (was {a}, typed {b})",
            path.trim_start_matches('.')
        )),
        _ => {}
    }
}

fn check_builtin(v: &Value) -> Result<Vec<String>, String> {
    use k8s_openapi::api::{apps, autoscaling, core, rbac};
    match (str_at(v, "/apiVersion"), str_at(v, "/kind")) {
        ("v1", "Namespace") => unknown_fields::<core::v1::Namespace>(v),
        ("v1", "ServiceAccount") => unknown_fields::<core::v1::ServiceAccount>(v),
        ("v1", "ResourceQuota") => unknown_fields::<core::v1::ResourceQuota>(v),
        ("v1", "LimitRange") => unknown_fields::<core::v1::LimitRange>(v),
        ("v1", "Service") => unknown_fields::<core::v1::Service>(v),
        ("rbac.authorization.k8s.io/v1", "Role") => unknown_fields::<rbac::v1::Role>(v),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            unknown_fields::<rbac::v1::RoleBinding>(v)
        }
        ("apps/v1", "Deployment") => unknown_fields::<apps::v1::Deployment>(v),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            unknown_fields::<autoscaling::v2::HorizontalPodAutoscaler>(v)
        }
        (api, kind) => Err(format!("unexpected built-in {api} {kind}")),
    }
}

#[test]
fn builtin_objects_have_no_unknown_fields() {
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for (cluster, o) in objects() {
        let kind = str_at(o.body.value(), "/kind");
        if CRD_KINDS.contains(&kind) {
            continue;
        }
        seen.insert(kind.to_string());
        let what = describe(cluster, o.body.value());
        match check_builtin(o.body.value()) {
            Ok(fields) => failures.extend(
                fields
                    .into_iter()
                    .map(|f| format!("{what}: unknown field `{f}`")),
            ),
            Err(e) => failures.push(format!("{what}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "built-in objects the apiserver would reject:\n{}",
        failures.join("\n")
    );
    for kind in BUILTIN_KINDS {
        assert!(
            seen.contains(*kind),
            "examples-repo renders no {kind} (on any cluster)"
        );
    }
}

#[test]
fn typed_check_catches_unknown_fields() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labelz": {"a": "b"}}, "spec": {}});
    assert_eq!(
        check_builtin(&ns).unwrap(),
        vec!["metadata.labelz".to_string()]
    );
    let wrong = json!({"apiVersion": "apps/v1", "kind": "Namespace", "metadata": {"name": "x"}});
    assert!(check_builtin(&wrong).is_err());
}

// ---------------------------------------------------------------------------------------------
// Determinism, labels, hashes

fn all_yaml(sets: &BTreeMap<String, RenderedSet>) -> String {
    let mut out = String::new();
    for (cluster, set) in sets {
        out += &format!("# cluster {cluster}\n");
        for o in &set.objects {
            out += "---\n";
            out += &to_yaml(o.body.value());
        }
    }
    out
}

#[test]
fn rendering_is_deterministic() {
    let first = all_yaml(&rendered().1);
    // A fresh snapshot, load and blueprint compilation: nothing may depend on hash-map order.
    let model = load_examples();
    let second = all_yaml(&render(&model, &Blueprints::embedded().unwrap()).unwrap());
    assert!(first == second, "two renders differ");
    assert!(first.len() > 10_000);
    // The YAML reads back as the same objects.
    for (cluster, o) in objects() {
        let text = to_yaml(o.body.value());
        let back = cubist::model::yaml::parse_documents("x.yaml", &text)
            .unwrap_or_else(|d| panic!("{}: {}", describe(cluster, o.body.value()), d.message));
        assert_eq!(
            back[0].json,
            *o.body.value(),
            "{} does not read back\n{text}",
            describe(cluster, o.body.value())
        );
    }
}

/// A label value as the apiserver accepts it.
fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && (v.is_empty()
            || (v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))))
}

fn check_labels(what: &str, labels: Option<&Value>, failures: &mut Vec<String>) {
    for (k, v) in labels.and_then(Value::as_object).into_iter().flatten() {
        let name = k.rsplit('/').next().unwrap_or(k);
        if name.is_empty() || !valid_label_value(name) {
            failures.push(format!("{what}: invalid label key `{k}`"));
        }
        match v.as_str() {
            Some(s) if valid_label_value(s) => {}
            _ => failures.push(format!("{what}: invalid value {v} of label `{k}`")),
        }
    }
}

#[test]
fn every_object_carries_cubist_labels_annotations_and_its_hash() {
    let mut failures = Vec::new();
    let mut n = 0;
    for (cluster, o) in objects() {
        n += 1;
        let what = describe(cluster, o.body.value());
        let labels = &o.body.value()["metadata"]["labels"];
        let annotations = &o.body.value()["metadata"]["annotations"];
        if labels[MANAGED_BY.0] != MANAGED_BY.1 {
            failures.push(format!(
                "{what}: label {} is {}",
                MANAGED_BY.0, labels[MANAGED_BY.0]
            ));
        }
        let project = o.project.as_deref().unwrap_or_default();
        if project.is_empty() || labels[PROJECT_LABEL] != project {
            failures.push(format!(
                "{what}: label {PROJECT_LABEL} is {} (project {project:?})",
                labels[PROJECT_LABEL]
            ));
        }
        if annotations[SOURCE_ANNOTATION] != o.source.as_str()
            || !examples_repo().join(&o.source).is_file()
        {
            failures.push(format!(
                "{what}: annotation {SOURCE_ANNOTATION} is {} (source {})",
                annotations[SOURCE_ANNOTATION], o.source
            ));
        }
        if !annotations[REVISION_ANNOTATION]
            .as_str()
            .is_some_and(|s| !s.is_empty())
        {
            failures.push(format!("{what}: no {REVISION_ANNOTATION} annotation"));
        }
        if annotations[HASH_ANNOTATION] != o.hash.as_str()
            || content_hash(o.body.value()) != o.hash
            || !o.hash.starts_with("sha256:")
        {
            failures.push(format!(
                "{what}: hash {} / annotation {} / content {}",
                o.hash,
                annotations[HASH_ANNOTATION],
                content_hash(o.body.value())
            ));
        }
        check_labels(&what, Some(labels), &mut failures);
        for (pointer, _) in label_maps(o.body.value()) {
            check_labels(
                &format!("{what} {pointer}"),
                o.body.value().pointer(&pointer),
                &mut failures,
            );
        }
        for (task, m) in embedded_manifests(o.body.value()) {
            let w = format!("{what} task {task}");
            check_labels(&w, m.pointer("/metadata/labels"), &mut failures);
            if m["metadata"]["labels"][PROJECT_LABEL] != project {
                failures.push(format!("{w}: embedded object lacks the project label"));
            }
            for (pointer, _) in label_maps(&m) {
                check_labels(
                    &format!("{w} {pointer}"),
                    m.pointer(&pointer),
                    &mut failures,
                );
            }
        }
    }
    assert!(n > 50, "only {n} objects rendered");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The hash ignores the revision and hash annotations, and nothing else.
    let o = &rendered().1["local"].objects[0];
    let mut b = o.body.to_value();
    b["metadata"]["annotations"][REVISION_ANNOTATION] = json!("other");
    assert_eq!(content_hash(&b), o.hash);
    b["metadata"]["labels"]["x"] = json!("y");
    assert_ne!(content_hash(&b), o.hash);
}

/// JSON pointers of every nested `labels` map (pod templates, selectors, podMetadata…).
fn label_maps(v: &Value) -> Vec<(String, ())> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, ())>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                    if (k == "labels" || k == "matchLabels") && c.is_object() && path != "/metadata"
                    {
                        out.push((p.clone(), ()));
                    }
                    walk(c, &p, out);
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| walk(c, &format!("{path}/{i}"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Placement

/// A place pods are described: the pod-level fields and its containers.
struct PodSpec<'a> {
    at: String,
    pod: &'a Value,
    containers: Vec<&'a Value>,
}

/// Every pod spec of an object: Kubernetes pod specs (`containers`), Argo workflow specs (pod
/// fields at spec level, one `container` per template), KServe predictors.
fn pod_specs<'a>(v: &'a Value, path: String, out: &mut Vec<PodSpec<'a>>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(cs)) = m.get("containers") {
                out.push(PodSpec {
                    at: path.clone(),
                    pod: v,
                    containers: cs.iter().collect(),
                });
            } else if let Some(Value::Array(ts)) = m.get("templates")
                && m.contains_key("entrypoint")
            {
                let cs: Vec<&Value> = ts.iter().filter_map(|t| t.get("container")).collect();
                out.push(PodSpec {
                    at: path.clone(),
                    pod: v,
                    containers: cs,
                });
            } else if let Some(model) = m.get("model")
                && m.contains_key("minReplicas")
            {
                out.push(PodSpec {
                    at: path.clone(),
                    pod: v,
                    containers: vec![model],
                });
            }
            for (k, c) in m {
                if k != "containers" {
                    pod_specs(c, format!("{path}/{k}"), out);
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| pod_specs(c, format!("{path}/{i}"), out)),
        _ => {}
    }
}

#[test]
fn placement_mounts_and_env_reach_every_pod() {
    let (model, sets) = rendered();
    let mut failures = Vec::new();
    let mut pods = 0;
    let mut kinds_with_pods = BTreeSet::new();
    for (cluster, set) in sets {
        let cluster_spec = &model.clusters[cluster].spec;
        for o in &set.objects {
            let project = &model.projects[o.project.as_deref().expect("project")];
            let group = model
                .resource_group(project, cluster_spec)
                .expect("examples place every project on a resource group");
            let spec = &project.manifest.spec;
            let mut docs = vec![(describe(cluster, o.body.value()), o.body.to_value())];
            docs.extend(
                embedded_manifests(o.body.value())
                    .into_iter()
                    .map(|(t, m)| (format!("{} task {t}", describe(cluster, o.body.value())), m)),
            );
            for (what, doc) in &docs {
                let mut found = Vec::new();
                pod_specs(doc, String::new(), &mut found);
                for p in found {
                    pods += 1;
                    kinds_with_pods.insert(str_at(doc, "/kind").to_string());
                    let what = format!("{what} {}", p.at);
                    if p.pod["nodeSelector"] != json!(group.node_selector) {
                        failures.push(format!(
                            "{what}: nodeSelector {} instead of {:?}",
                            p.pod["nodeSelector"], group.node_selector
                        ));
                    }
                    if p.pod["tolerations"] != json!(group.tolerations)
                        && !(group.tolerations.is_empty() && p.pod.get("tolerations").is_none())
                    {
                        failures.push(format!("{what}: tolerations {}", p.pod["tolerations"]));
                    }
                    let claims: Vec<&str> = p.pod["volumes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName")?.as_str())
                        .collect();
                    for m in &spec.mounts {
                        if !claims.contains(&m.pvc.as_str()) {
                            failures.push(format!("{what}: no volume for pvc {}", m.pvc));
                        }
                    }
                    if p.containers.is_empty() && !p.at.contains("/spec/templates") {
                        failures.push(format!("{what}: pod spec without containers"));
                    }
                    for c in &p.containers {
                        let paths: Vec<&str> = c["volumeMounts"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|m| m["mountPath"].as_str())
                            .collect();
                        for m in &spec.mounts {
                            if !paths.contains(&m.mount_path.as_str()) {
                                failures.push(format!(
                                    "{what}: container {} does not mount {}",
                                    c["name"], m.mount_path
                                ));
                            }
                        }
                        let env: Vec<&str> = c["env"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|e| e["name"].as_str())
                            .collect();
                        for k in spec.env.keys().chain(spec.secret_env.keys()) {
                            if !env.contains(&k.as_str()) {
                                failures
                                    .push(format!("{what}: container {} lacks env {k}", c["name"]));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for kind in [
        "WorkflowTemplate",
        "Workflow",
        "InferenceService",
        "Deployment",
        "PyTorchJob",
        "TFJob",
        "MPIJob",
        "XGBoostJob",
        "Job",
        "RayJob",
        "Experiment",
    ] {
        assert!(
            kinds_with_pods.contains(kind),
            "no pod spec found in any {kind}: {kinds_with_pods:?}"
        );
    }
    assert!(pods > 30, "only {pods} pod specs checked");
}

#[test]
fn placement_concrete_examples() {
    let (_, sets) = rendered();
    let find = |cluster: &str, kind: &str, ns: &str, name: &str| {
        sets[cluster]
            .objects
            .iter()
            .find(|o| {
                o.body.value()["kind"] == kind
                    && o.body.value()["metadata"]["namespace"] == ns
                    && o.body.value()["metadata"]["name"] == name
            })
            .unwrap_or_else(|| panic!("no {kind} {ns}/{name} on {cluster}"))
    };

    // nlp runs on the A100 group: LLM fine-tuning's PyTorchJob lands on A100 nodes with GPU tolerations,
    // the user's workspace (subPath = pipeline owner) and the shared datasets read-only.
    let wt = find("local", "WorkflowTemplate", "nlp", "llm-finetune");
    assert_eq!(
        wt.body.value()["spec"]["nodeSelector"],
        json!({"gpu-type": "A100"})
    );
    let (_, job) = embedded_manifests(wt.body.value())
        .into_iter()
        .find(|(t, _)| t == "finetune")
        .expect("finetune resource step");
    assert_eq!(job["kind"], "PyTorchJob");
    let worker = &job["spec"]["pytorchReplicaSpecs"]["Worker"];
    assert_eq!(worker["replicas"], 3);
    let pod = &worker["template"]["spec"];
    assert_eq!(pod["nodeSelector"], json!({"gpu-type": "A100"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    );
    assert_eq!(
        pod["volumes"],
        json!([
            {"name": "mount-0", "persistentVolumeClaim": {"claimName": "user-workspace"}},
            {"name": "mount-1", "persistentVolumeClaim": {"claimName": "shared-datasets"}}
        ])
    );
    let c = &pod["containers"][0];
    assert_eq!(
        c["volumeMounts"],
        json!([{"name": "mount-0", "mountPath": "/mnt", "subPath": "alice"}, {"name": "mount-1", "mountPath": "/data", "readOnly": true}])
    );
    let env = c["env"].as_array().unwrap();
    assert!(
        env.contains(&json!({"name": "HF_HOME", "value": "/mnt/cache/huggingface"})),
        "{env:?}"
    );
    assert!(
        env.contains(&json!({"name": "BASE_MODEL", "value": "/data/models/llama-3.1-8b"})),
        "{env:?}"
    );
    assert!(env.contains(&json!({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}})), "{env:?}");
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "4");

    // recsys on prod-bj (no KServe): the ranker's Deployment is on the CPU pool with the owner's workspace.
    let d = find("prod-bj", "Deployment", "recsys", "ranker-v12");
    let pod = &d.body.value()["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"], json!({"node-pool": "cpu"}));
    assert_eq!(
        pod["containers"][0]["volumeMounts"],
        json!([{"name": "mount-0", "mountPath": "/mnt", "subPath": "frank"}])
    );
    assert!(
        pod["containers"][0]["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "S3_ENDPOINT", "value": "http://minio.storage.svc:9000"}))
    );
    // ...and on local the same service is one KServe InferenceService per serving version on
    // the same pool, the canary with its own model (the HTTPRoute weighs them).
    let isvc = find("local", "InferenceService", "recsys", "ranker-v13");
    assert_eq!(
        isvc.body.value()["spec"]["predictor"]["nodeSelector"],
        json!({"node-pool": "cpu"})
    );
    assert_eq!(
        isvc.body.value()["spec"]["predictor"]["model"]["storageUri"],
        "s3://models/ranker/2026-11-18/"
    );
    assert!(isvc.body.value()["spec"]["predictor"]["canaryTrafficPercent"].is_null());

    // The daily ranker is scheduled by the run controller, not a CronWorkflow; its
    // WorkflowTemplate takes the execution date and time as parameters.
    let template = find("local", "WorkflowTemplate", "recsys", "daily-ranker");
    assert_eq!(
        template.body.value()["spec"]["arguments"]["parameters"],
        json!([{"name": "execution_date", "value": ""}, {"name": "execution_time", "value": ""}])
    );
    assert!(
        !objects().any(|(_, o)| o.body.value()["kind"] == "CronWorkflow"),
        "no CronWorkflow is rendered"
    );
}
