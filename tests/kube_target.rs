//! The Kubernetes target against a real API server: kube-local (apiextensions-apiserver + etcd,
//! CRDs only, no built-in kinds), with the real upstream CRDs of every engine installed.
//!
//! One server serves this file's tests (each test works in namespaces of its own); the
//! restart test starts a second one that it stops and starts again. Ignored, with the reason,
//! when the kube-local binary has not been built (`tests/kube-local/setup.sh`) or the upstream
//! CRDs are not in ../shared/reference/crds.

use cubist::render::hash::content_hash;
use cubist::render::{
    Blueprints, HASH_ANNOTATION, MANAGED_BY, ObjectKey, PROJECT_LABEL, RenderedSet, render,
};
use cubist::targets::kube::{
    FIELD_MANAGER, FORCE_ANNOTATION, HealthStatus, KubeError, KubeOptions, KubeTarget,
    RequestCounts,
};
use cubist::targets::{Action, ApplyReport, Plan};
use cubist_status_ui::doc::Inventory;
use cubist_tests::corpus::{copy_tree, examples_repo};
use cubist_tests::kube_local::{Server, dynamic, get, install_crds, on_shared_server, runtime};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use std::path::Path;

// ---------------------------------------------------------------- rendering examples-repo

/// Renders a platform repository for one cluster.
fn render_repo(root: &Path, cluster: &str) -> RenderedSet {
    let snapshot = cubist::source::snapshot_dir(root).expect("snapshot");
    let (model, diags) = cubist::model::load(&snapshot);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let blueprints = Blueprints::embedded().expect("blueprints");
    render(&model, &blueprints)
        .expect("render")
        .remove(cluster)
        .expect("cluster rendered")
}

/// The set moved to namespaces and projects of its own (`nlp` → `nlp-<suffix>`), so tests
/// sharing a server do not meet; hashes are recomputed.
fn isolate(mut set: RenderedSet, suffix: &str) -> RenderedSet {
    for o in &mut set.objects {
        let mut b = o.body.to_value();
        if let Some(ns) = b
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string)
        {
            b["metadata"]["namespace"] = json!(format!("{ns}-{suffix}"));
        }
        if b["kind"] == "Namespace" {
            let name = b["metadata"]["name"].as_str().unwrap().to_string();
            b["metadata"]["name"] = json!(format!("{name}-{suffix}"));
        }
        if let Some(p) = &o.project {
            let p = format!("{p}-{suffix}");
            b["metadata"]["labels"][PROJECT_LABEL] = json!(p);
            o.project = Some(p);
        }
        let hash = content_hash(&b);
        b["metadata"]["annotations"][HASH_ANNOTATION] = json!(hash);
        o.hash = hash;
        o.body = b.into();
    }
    set.sort();
    set
}

fn examples(suffix: &str) -> RenderedSet {
    isolate(render_repo(&examples_repo(), "local"), suffix)
}

/// Kinds served by kube-local once the reference CRDs are in.
fn crd_kind(kind: &str) -> bool {
    matches!(
        kind,
        "Workflow"
            | "WorkflowTemplate"
            | "CronWorkflow"
            | "InferenceService"
            | "PyTorchJob"
            | "TFJob"
            | "MPIJob"
            | "XGBoostJob"
            | "RayJob"
            | "Experiment"
            | "HTTPRoute"
            | "VirtualService"
    ) || kind == "Job"
}

fn count(set: &RenderedSet, served: bool) -> usize {
    set.objects
        .iter()
        .filter(|o| crd_kind(o.key().kind.as_str()) == served)
        .count()
}

// ---------------------------------------------------------------- helpers on live objects

fn key_of(set: &RenderedSet, kind: &str, name: &str) -> ObjectKey {
    set.objects
        .iter()
        .map(|o| o.key())
        .find(|k| k.kind == kind && k.name == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

async fn plan_and_apply(
    t: &KubeTarget,
    set: &RenderedSet,
    inventory: &Inventory,
) -> (Plan, ApplyReport, Inventory, RequestCounts) {
    let before = t.requests();
    let plan = t.plan(set, inventory).await.expect("plan");
    let (report, inventory) = t.apply(&plan, inventory, &mut |_| {}).await.expect("apply");
    (plan, report, inventory, t.requests() - before)
}

/// Edits the object `key` of `set` and stamps its new content hash, as rendering would.
fn edit_object(set: &mut RenderedSet, key: &ObjectKey, edit: impl FnOnce(&mut Value)) {
    let o = set.objects.iter_mut().find(|o| &o.key() == key).unwrap();
    o.body.edit(edit);
    o.hash = content_hash(o.body.value());
    o.body
        .edit(|b| b["metadata"]["annotations"][HASH_ANNOTATION] = json!(o.hash));
}

/// Server-side applies `body` (named by its `metadata.name`) as field manager `manager`.
async fn apply_as(api: &Api<DynamicObject>, manager: &str, body: &Value) {
    let name = body["metadata"]["name"].as_str().expect("metadata.name");
    api.patch(name, &PatchParams::apply(manager), &Patch::Apply(body))
        .await
        .unwrap();
}

// ---------------------------------------------------------------- tests

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn applies_crd_objects_once_and_builtin_kinds_are_not_served() {
    on_shared_server(|t| async move {
        let set = examples("t1");
        let (served, builtin) = (count(&set, true), count(&set, false));
        assert!(
            served >= 20 && builtin >= 10,
            "{served} served, {builtin} built-in"
        );

        let (plan, report, inventory, requests) =
            plan_and_apply(&t, &set, &Inventory::default()).await;
        assert_eq!(plan.count(Action::Create), served, "{plan:#?}");
        assert_eq!(report.created, served, "{report:#?}");
        assert_eq!(report.failed.len(), builtin, "{report:#?}");
        for (object, message) in &report.failed {
            assert!(
                message.contains("is not served by cluster local"),
                "{object}: {message}"
            );
        }
        let ns = report
            .failed
            .iter()
            .find(|(o, _)| o.kind == "Namespace")
            .expect("Namespace reported");
        assert_eq!(
            ns.1,
            "Namespace v1 is not served by cluster local: it is a built-in Kubernetes kind and this API server does not serve the `core/v1` API (not a full Kubernetes API server?)"
        );
        assert!(
            report
                .failed
                .iter()
                .any(|(o, m)| o.kind == "RoleBinding"
                    && m.contains("`rbac.authorization.k8s.io/v1`"))
        );
        assert_eq!(
            requests.writes as usize, served,
            "one write per object: {requests:?}"
        );
        assert_eq!(inventory.objects.len(), served);

        // Present, with cubist's managedFields (an Apply entry).
        for o in set.objects.iter().filter(|o| crd_kind(&o.key().kind)) {
            let live = get(t.client(), &o.key())
                .await
                .unwrap_or_else(|| panic!("{} missing", o.key()));
            let fields = live
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .unwrap();
            assert!(
                fields
                    .iter()
                    .any(|f| f["manager"] == FIELD_MANAGER && f["operation"] == "Apply"),
                "{}: {fields:?}",
                o.key()
            );
            assert_eq!(
                live.pointer(&format!(
                    "/metadata/annotations/{}",
                    HASH_ANNOTATION.replace('/', "~1")
                )),
                Some(&json!(o.hash))
            );
        }

        // A no-change re-apply: reads only, zero writes, zero dry-runs.
        let (plan, report, inventory2, requests) = plan_and_apply(&t, &set, &inventory).await;
        assert_eq!(plan.count(Action::Unchanged), served, "{plan:#?}");
        assert_eq!(report.unchanged, served);
        assert_eq!((report.created, report.updated, report.deleted), (0, 0, 0));
        assert_eq!(requests.writes, 0, "{requests:?}");
        assert_eq!(requests.dry_runs, 0, "{requests:?}");
        assert_eq!(inventory2, inventory);
        assert_eq!(t.drift(&set).await.unwrap(), Vec::<ObjectKey>::new());
    });
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn prunes_only_labelled_objects_of_the_project() {
    on_shared_server(|t| async move {
        let repo = tempfile::tempdir().unwrap();
        copy_tree(&examples_repo(), repo.path());
        let set = isolate(render_repo(repo.path(), "local"), "t2");
        let (_, report, inventory, _) = plan_and_apply(&t, &set, &Inventory::default()).await;
        assert_eq!(report.created, count(&set, true));

        // Someone else's objects of the same kinds in the same namespace: never touched.
        let template = key_of(&set, "WorkflowTemplate", "weekly-embeddings");
        let api = dynamic(t.client(), &template).await;
        let foreign = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
            "metadata": {"name": "hand-made", "namespace": template.namespace, "labels": {PROJECT_LABEL: "nlp-t2"}},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox"}}]}});
        apply_as(&api, "someone", &foreign).await;
        let mut other_project = foreign.clone();
        other_project["metadata"]["name"] = json!("other-project");
        other_project["metadata"]["labels"] =
            json!({MANAGED_BY.0: MANAGED_BY.1, PROJECT_LABEL: "vision-t2"});
        apply_as(&api, "cubist", &other_project).await;

        // The pipeline leaves the repository: its WorkflowTemplate is pruned.
        std::fs::remove_file(
            repo.path()
                .join("projects/nlp/pipelines/weekly-embeddings.yaml"),
        )
        .unwrap();
        let smaller = isolate(render_repo(repo.path(), "local"), "t2");
        let plan = t.plan(&smaller, &inventory).await.unwrap();
        let mut deletes: Vec<&ObjectKey> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| &c.key)
            .collect();
        deletes.sort();
        assert_eq!(deletes, vec![&template], "{plan:#?}");
        assert!(
            plan.changes
                .iter()
                .find(|c| c.key == template)
                .unwrap()
                .diff
                .as_ref()
                .unwrap()
                .contains("-kind: WorkflowTemplate")
        );
        let (report, inventory) = t.apply(&plan, &inventory, &mut |_| {}).await.unwrap();
        assert_eq!(report.deleted, 1, "{report:#?}");
        assert!(get(t.client(), &template).await.is_none());
        assert!(
            !inventory
                .objects
                .iter()
                .any(|e| ObjectKey::from(e) == template)
        );
        let mut hand_made = template.clone();
        hand_made.name = "hand-made".into();
        assert!(
            get(t.client(), &hand_made).await.is_some(),
            "unlabelled object pruned"
        );
        hand_made.name = "other-project".into();
        assert!(
            get(t.client(), &hand_made).await.is_some(),
            "another project's object pruned"
        );

        // An inventory entry whose live object lost cubist's label is forgotten, not deleted.
        let wt = key_of(&smaller, "WorkflowTemplate", "llm-finetune");
        let api = dynamic(t.client(), &wt).await;
        api.patch(
            &wt.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {MANAGED_BY.0: null}}})),
        )
        .await
        .unwrap();
        let mut without = smaller.clone();
        without.objects.retain(|o| o.key() != wt);
        let plan = t.plan(&without, &inventory).await.unwrap();
        let c = plan.changes.iter().find(|c| c.key == wt).unwrap();
        assert_eq!(c.action, Action::Conflict, "{c:#?}");
        let (report, inventory) = t.apply(&plan, &inventory, &mut |_| {}).await.unwrap();
        assert_eq!(report.deleted, 0);
        assert!(
            report
                .failed
                .iter()
                .any(|(o, m)| o == &wt && m.contains("not pruned")),
            "{report:#?}"
        );
        assert!(get(t.client(), &wt).await.is_some());
        assert!(!inventory.objects.iter().any(|e| ObjectKey::from(e) == wt));
    });
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn hand_edits_are_drift_and_healed_by_reapply() {
    on_shared_server(|t| async move {
        let set = examples("t3");
        let (_, _, inventory, _) = plan_and_apply(&t, &set, &Inventory::default()).await;
        assert_eq!(t.drift(&set).await.unwrap(), Vec::<ObjectKey>::new());

        // kubectl-edit style: a merge patch by another field manager changes a field cubist set,
        // and another object is deleted by hand.
        let cron = key_of(&set, "WorkflowTemplate", "weekly-embeddings");
        dynamic(t.client(), &cron)
            .await
            .patch(
                &cron.name,
                &PatchParams {
                    field_manager: Some("kubectl-edit".into()),
                    ..Default::default()
                },
                &Patch::Merge(json!({"spec": {"parallelism": 7}})),
            )
            .await
            .unwrap();
        let wf = set
            .objects
            .iter()
            .map(|o| o.key())
            .find(|k| k.kind == "Workflow")
            .unwrap();
        dynamic(t.client(), &wf)
            .await
            .delete(&wf.name, &Default::default())
            .await
            .unwrap();

        let before = t.requests();
        let mut drifted = t.drift(&set).await.unwrap();
        drifted.sort();
        let mut expected = vec![cron.clone(), wf.clone()];
        expected.sort();
        assert_eq!(drifted, expected);
        assert_eq!((t.requests() - before).writes, 0);

        let plan = t.plan(&set, &inventory).await.unwrap();
        let c = plan.changes.iter().find(|c| c.key == cron).unwrap();
        assert_eq!(c.action, Action::Update, "{c:#?}");
        let diff = c.diff.as_deref().unwrap();
        assert!(
            diff.contains("-  parallelism: 7") && diff.contains("+  parallelism: 2"),
            "{diff}"
        );
        assert!(
            c.note
                .as_deref()
                .unwrap_or_default()
                .contains("kubectl-edit"),
            "{c:#?}"
        );
        assert_eq!(
            plan.changes.iter().find(|c| c.key == wf).unwrap().action,
            Action::Create
        );

        let (report, _) = t.apply(&plan, &inventory, &mut |_| {}).await.unwrap();
        assert_eq!((report.created, report.updated), (1, 1), "{report:#?}");
        let live = get(t.client(), &cron).await.unwrap();
        assert_eq!(live["spec"]["parallelism"], 2);
        assert_eq!(t.drift(&set).await.unwrap(), Vec::<ObjectKey>::new());
    });
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn another_applier_is_a_conflict_named_not_forced() {
    on_shared_server(|t| async move {
        let set = examples("t4");
        let (_, _, inventory, _) = plan_and_apply(&t, &set, &Inventory::default()).await;

        // Another tool applies its own configuration over a field cubist sets.
        let cron = key_of(&set, "WorkflowTemplate", "daily-ranker");
        let theirs = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
            "metadata": {"name": cron.name, "namespace": cron.namespace}, "spec": {"parallelism": 9}});
        dynamic(t.client(), &cron)
            .await
            .patch(
                &cron.name,
                &PatchParams::apply("other-tool").force(),
                &Patch::Apply(&theirs),
            )
            .await
            .unwrap();

        let plan = t.plan(&set, &inventory).await.unwrap();
        let c = plan.changes.iter().find(|c| c.key == cron).unwrap();
        assert_eq!(c.action, Action::Conflict, "{c:#?}");
        let note = c.note.as_deref().unwrap();
        assert!(
            note.contains("\"other-tool\"")
                && note.contains(".spec.parallelism")
                && note.contains("applies its own configuration"),
            "{note}"
        );
        assert_eq!(
            plan.changes
                .iter()
                .filter(|c| c.action == Action::Conflict && crd_kind(&c.key.kind))
                .count(),
            1
        );

        // Apply reports it for that object only, and does not force.
        let before = t.requests();
        let (report, inventory) = t.apply(&plan, &inventory, &mut |_| {}).await.unwrap();
        assert_eq!((t.requests() - before).writes, 0);
        let (_, message) = report
            .failed
            .iter()
            .find(|(o, _)| o == &cron)
            .expect("conflict reported");
        assert!(message.contains("\"other-tool\""), "{message}");
        assert_eq!(
            get(t.client(), &cron).await.unwrap()["spec"]["parallelism"],
            9
        );

        // Even a changed object that gets applied reports the conflict from the server (409),
        // with the manager's name: the apply is never forced.
        let mut changed = set.clone();
        edit_object(&mut changed, &cron, |b| {
            b["spec"]["activeDeadlineSeconds"] = json!(120)
        });
        let mut plan = t.plan(&changed, &inventory).await.unwrap();
        for c in plan.changes.iter_mut().filter(|c| c.key == cron) {
            c.action = Action::Update; // as if planned before the other tool came
        }
        let before = t.requests();
        let (report, _) = t.apply(&plan, &inventory, &mut |_| {}).await.unwrap();
        let (_, message) = report
            .failed
            .iter()
            .find(|(o, _)| o == &cron)
            .expect("conflict reported");
        assert!(
            message.contains("\"other-tool\"") && message.contains(".spec.parallelism"),
            "{message}"
        );
        assert_eq!((t.requests() - before).writes, 1, "one apply, refused");
        assert_eq!(
            get(t.client(), &cron).await.unwrap()["spec"]["parallelism"],
            9
        );

        // The annotation cubist.dev/force-apply: "true" takes the field over.
        edit_object(&mut changed, &cron, |b| {
            b["metadata"]["annotations"][FORCE_ANNOTATION] = json!("true")
        });
        let (plan, report, _, _) = plan_and_apply(&t, &changed, &inventory).await;
        assert_eq!(
            plan.changes.iter().find(|c| c.key == cron).unwrap().action,
            Action::Update
        );
        assert!(
            !report.failed.iter().any(|(o, _)| o == &cron),
            "{report:#?}"
        );
        assert_eq!(
            get(t.client(), &cron).await.unwrap()["spec"]["parallelism"],
            3
        );
    });
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn health_follows_the_engines_status() {
    on_shared_server(|t| async move {
        let set = examples("t5");
        plan_and_apply(&t, &set, &Inventory::default()).await;
        let wf = set
            .objects
            .iter()
            .map(|o| o.key())
            .find(|k| k.kind == "Workflow")
            .unwrap();
        let api = dynamic(t.client(), &wf).await;
        let controller = PatchParams {
            field_manager: Some("workflow-controller".into()),
            ..Default::default()
        };

        assert_eq!(
            t.health(&wf).await.unwrap().status,
            HealthStatus::Progressing
        );
        for (phase, want) in [
            ("Running", HealthStatus::Progressing),
            ("Failed", HealthStatus::Degraded),
            ("Succeeded", HealthStatus::Healthy),
        ] {
            // Argo's Workflow CRD has no status subresource: the controller patches the object.
            api.patch(
                &wf.name,
                &controller,
                &Patch::Merge(json!({"status": {"phase": phase, "message": "step train failed"}})),
            )
            .await
            .unwrap();
            let h = t.health(&wf).await.unwrap();
            assert_eq!(h.status, want, "{phase}: {h:?}");
        }
        // The controller's status writes are not drift.
        assert!(!t.drift(&set).await.unwrap().contains(&wf));

        // Volcano Job has a status subresource: written there by its controller.
        let job = install_volcano_job(&t, "t5").await;
        let h = t.health(&job).await.unwrap();
        assert_eq!(h.status, HealthStatus::Progressing, "{h:?}");
        dynamic(t.client(), &job)
            .await
            .patch_status(
                &job.name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"status": {"state": {"phase": "Failed", "reason": "PodFailed"}}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(t.health(&job).await.unwrap().status, HealthStatus::Degraded);

        let all = t.health_all(&set.objects).await.unwrap();
        assert_eq!(
            all.iter().find(|(k, _)| k == &wf).unwrap().1.status,
            HealthStatus::Healthy
        );
        let ns = all.iter().find(|(k, _)| k.kind == "Namespace").unwrap();
        assert_eq!(ns.1.status, HealthStatus::Unknown);
        assert!(ns.1.message.contains("not served"));
        let mut missing = wf.clone();
        missing.name = "nope".into();
        assert_eq!(
            t.health(&missing).await.unwrap().status,
            HealthStatus::Unknown
        );
    });
}

/// A minimal Volcano Job applied by cubist.
async fn install_volcano_job(t: &KubeTarget, suffix: &str) -> ObjectKey {
    let mut body = json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
        "metadata": {"name": "train", "namespace": format!("vision-{suffix}"),
            "labels": {MANAGED_BY.0: MANAGED_BY.1, PROJECT_LABEL: format!("vision-{suffix}")}, "annotations": {}},
        "spec": {"minAvailable": 1, "schedulerName": "volcano",
            "tasks": [{"name": "worker", "replicas": 1, "template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}]}});
    let hash = content_hash(&body);
    body["metadata"]["annotations"][HASH_ANNOTATION] = json!(hash);
    let o = cubist::render::RenderedObject {
        body: body.into(),
        hash,
        project: Some(format!("vision-{suffix}")),
        source: "test".into(),
    };
    let set = RenderedSet {
        cluster: "local".into(),
        objects: vec![o.clone()],
    };
    let (_, report, _, _) = plan_and_apply(t, &set, &Inventory::default()).await;
    assert_eq!(report.created, 1, "{report:#?}");
    o.key()
}

/// A stamped object of no project, as the render stage would make it.
fn stamped(mut body: Value, project: Option<&str>) -> cubist::render::RenderedObject {
    body["metadata"]["labels"][MANAGED_BY.0] = json!(MANAGED_BY.1);
    if let Some(p) = project {
        body["metadata"]["labels"][PROJECT_LABEL] = json!(p);
    }
    body["metadata"]["annotations"] = json!({});
    let hash = content_hash(&body);
    body["metadata"]["annotations"][HASH_ANNOTATION] = json!(hash);
    cubist::render::RenderedObject {
        body: body.into(),
        hash,
        project: project.map(str::to_string),
        source: "test".into(),
    }
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn a_crd_in_the_set_is_established_before_its_objects() {
    on_shared_server(|t| async move {
        let crd = stamped(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.t7.cubist.dev"},
                "spec": {"group": "t7.cubist.dev", "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}}}}}]}}),
            None,
        );
        let widget = |size: i64| {
            stamped(
                json!({"apiVersion": "t7.cubist.dev/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "nlp-t7"}, "spec": {"size": size}}),
                Some("nlp-t7"),
            )
        };
        let mut set = RenderedSet {
            cluster: "local".into(),
            objects: vec![widget(3), crd.clone()],
        };
        set.sort();
        assert_eq!(set.objects[0].key().kind, "CustomResourceDefinition");

        let plan = t.plan(&set, &Inventory::default()).await.unwrap();
        let w = plan
            .changes
            .iter()
            .find(|c| c.key.kind == "Widget")
            .unwrap();
        assert_eq!(w.action, Action::Create);
        assert_eq!(
            w.note.as_deref(),
            Some("applied once CRD widgets.t7.cubist.dev is established")
        );
        let mut order = Vec::new();
        let (report, inventory) = t
            .apply(&plan, &Inventory::default(), &mut |c| {
                order.push(c.key.kind.clone())
            })
            .await
            .unwrap();
        assert_eq!(report.created, 2, "{report:#?}");
        assert_eq!(order, ["CustomResourceDefinition", "Widget"]);
        assert_eq!(
            t.health(&crd.key()).await.unwrap().status,
            HealthStatus::Healthy
        );
        assert_eq!(
            get(t.client(), &set.objects[1].key()).await.unwrap()["spec"]["size"],
            3
        );

        // An object the API server rejects (schema: minimum 1) is a conflict at plan time, with
        // the server's reason, and does not stop the others.
        let bad = RenderedSet {
            cluster: "local".into(),
            objects: vec![crd.clone(), widget(0)],
        };
        let plan = t.plan(&bad, &inventory).await.unwrap();
        let w = plan
            .changes
            .iter()
            .find(|c| c.key.kind == "Widget")
            .unwrap();
        assert_eq!(w.action, Action::Conflict, "{w:#?}");
        assert!(w.note.as_deref().unwrap().contains("spec.size"), "{w:#?}");

        // Pruned in reverse: the Widget, then its CRD.
        let mut order = Vec::new();
        let plan = t
            .plan(
                &RenderedSet {
                    cluster: "local".into(),
                    objects: vec![],
                },
                &inventory,
            )
            .await
            .unwrap();
        let (report, inventory) = t
            .apply(&plan, &inventory, &mut |c| order.push(c.key.kind.clone()))
            .await
            .unwrap();
        assert_eq!(report.deleted, 2, "{report:#?}");
        assert_eq!(order, ["Widget", "CustomResourceDefinition"]);
        assert!(inventory.objects.is_empty());
    });
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn unreachable_cluster_then_restart_converges() {
    let server = Server::start(None);
    runtime().block_on(async {
        let t = server.target("bj").await;
        install_crds(t.client(), &["argoproj.io_workflowtemplates"]).await;
        let mut set = examples("t6");
        set.objects.retain(|o| o.key().kind == "WorkflowTemplate");
        set.cluster = "bj".into();
        assert!(set.objects.len() >= 3);
        let (_, report, inventory, _) = plan_and_apply(&t, &set, &Inventory::default()).await;
        assert!(report.failed.is_empty(), "{report:#?}");
        // One pipeline leaves the repository while the cluster is down.
        let mut changed = set.clone();
        let dropped = changed.objects.remove(0).key();

        server.stop();
        let err = t.plan(&changed, &inventory).await.unwrap_err();
        assert!(err.is_unreachable(), "{err:?}");
        assert!(matches!(&err, KubeError::Unreachable { cluster, .. } if cluster == "bj"));
        assert!(
            err.to_string().starts_with("cluster bj is unreachable: "),
            "{err}"
        );
        let prune = Plan {
            cluster: "bj".into(),
            changes: vec![cubist::targets::Change {
                key: dropped.clone(),
                action: Action::Delete,
                project: set.objects[0].project.clone(),
                source: set.objects[0].source.clone(),
                diff: None,
                desired: None,
                note: None,
            }],
            ..Default::default()
        };
        assert!(
            t.apply(&prune, &inventory, &mut |_| {})
                .await
                .unwrap_err()
                .is_unreachable()
        );
        assert!(t.health(&dropped).await.unwrap_err().is_unreachable());
        assert!(t.drift(&set).await.unwrap_err().is_unreachable());
        // Through anyhow, the loop still recognises it.
        let any: anyhow::Error = err.into();
        assert!(KubeError::find(&any).is_some_and(KubeError::is_unreachable));

        // Restarted on the same state (etcd data kept, same address): the same target converges.
        server.restart();
        let (plan, report, inventory, _) = plan_and_apply(&t, &changed, &inventory).await;
        assert_eq!(plan.count(Action::Delete), 1, "{plan:#?}");
        assert_eq!(
            plan.count(Action::Unchanged),
            changed.objects.len(),
            "{plan:#?}"
        );
        assert_eq!(report.deleted, 1, "{report:#?}");
        assert!(get(t.client(), &dropped).await.is_none());
        let (plan, _, _, requests) = plan_and_apply(&t, &changed, &inventory).await;
        assert!(plan.is_empty(), "{plan:#?}");
        assert_eq!(requests.writes, 0);
        server.stop();
    });
}

/// The loop's pass (`plan_and_apply`) sends one request per new object, no validating dry-run,
/// and still gives the plan a validating `plan` gives: an object the API server rejects is a
/// conflict with the server's reason (and a failure in the report), the others are created.
#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn plan_and_apply_validates_new_objects_by_their_apply() {
    on_shared_server(|t| async move {
        let crd = stamped(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gadgets.t9.cubist.dev"},
                "spec": {"group": "t9.cubist.dev", "scope": "Namespaced",
                    "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}}}}}]}}),
            None,
        );
        let gadget = |name: &str, size: i64| {
            stamped(
                json!({"apiVersion": "t9.cubist.dev/v1", "kind": "Gadget", "metadata": {"name": name, "namespace": "nlp-t9"}, "spec": {"size": size}}),
                Some("nlp-t9"),
            )
        };
        let only_crd = RenderedSet {
            cluster: "local".into(),
            objects: vec![crd.clone()],
        };
        let (_, report, _, _) = plan_and_apply(&t, &only_crd, &Inventory::default()).await;
        assert_eq!(report.created, 1, "{report:#?}");

        // The gadgets alone (the CRD stays, outside this inventory).
        let inventory = Inventory::default();
        let mut set = RenderedSet {
            cluster: "local".into(),
            objects: vec![gadget("good", 2), gadget("bad", 0)],
        };
        set.sort();
        let validated = t.plan(&set, &inventory).await.unwrap();
        let before = t.requests();
        let (plan, report, after) = t
            .plan_and_apply(&set, &inventory, |_| {}, &mut |_| {})
            .await
            .unwrap();
        let requests = t.requests() - before;
        assert_eq!(plan, validated, "the same plan as a validating plan");
        let bad = plan.changes.iter().find(|c| c.key.name == "bad").unwrap();
        assert_eq!(bad.action, Action::Conflict, "{bad:#?}");
        assert!(
            bad.note.as_deref().unwrap().contains("spec.size"),
            "{bad:#?}"
        );
        assert_eq!(report.created, 1, "only the good one: {report:#?}");
        assert_eq!(report.failed.len(), 1, "{report:#?}");
        assert_eq!(report.failed[0].1, bad.note.clone().unwrap());
        assert_eq!(
            (requests.dry_runs, requests.writes),
            (0, 2),
            "one apply per new object, no dry-run: {requests:?}"
        );
        assert_eq!(after.objects.len(), 1, "the good one");
        assert!(
            get(
                t.client(),
                &set.objects
                    .iter()
                    .find(|o| o.key().name == "good")
                    .unwrap()
                    .key()
            )
            .await
            .is_some()
        );
    });
}

/// The objects of a stage are applied in parallel, never more at once than the target's
/// concurrency, and a later stage starts only when the earlier one is done: a CRD and 40 objects
/// of its kind in one pass are all created (an object sent before its CRD is Established would
/// be refused), the CRD first. Fails if the apply becomes serial again (at most one request in
/// flight) or exceeds its bound.
#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn a_stage_is_applied_in_parallel_within_the_bound_and_after_the_previous_one() {
    on_shared_server(|t| async move {
        let concurrency = 8;
        let t = t.with_options(KubeOptions {
            concurrency,
            ..KubeOptions::default()
        });
        let crd = stamped(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "sprockets.t10.cubist.dev"},
                "spec": {"group": "t10.cubist.dev", "scope": "Namespaced",
                    "names": {"kind": "Sprocket", "plural": "sprockets", "singular": "sprocket", "listKind": "SprocketList"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"teeth": {"type": "integer", "minimum": 1}}}}}}}]}}),
            None,
        );
        let mut objects: Vec<_> = (0..40)
            .map(|i| {
                stamped(
                    json!({"apiVersion": "t10.cubist.dev/v1", "kind": "Sprocket", "metadata": {"name": format!("s{i:02}"), "namespace": "nlp-t10"}, "spec": {"teeth": i + 1}}),
                    Some("nlp-t10"),
                )
            })
            .collect();
        objects.push(crd);
        let mut set = RenderedSet {
            cluster: "local".into(),
            objects,
        };
        set.sort();
        t.take_peak_in_flight();
        let mut order = Vec::new();
        let (plan, report, inventory) = t
            .plan_and_apply(&set, &Inventory::default(), |_| {}, &mut |c| {
                order.push(c.key.kind.clone())
            })
            .await
            .unwrap();
        let peak = t.take_peak_in_flight();
        assert!(report.failed.is_empty(), "{report:#?}");
        assert_eq!(report.created, 41, "{report:#?}");
        assert_eq!(plan.count(Action::Create), 41);
        assert_eq!(inventory.objects.len(), 41);
        assert_eq!(order.len(), 41);
        assert_eq!(order[0], "CustomResourceDefinition", "{order:?}");
        assert!(order[1..].iter().all(|k| k == "Sprocket"), "{order:?}");
        assert!(
            peak >= 4,
            "at most {peak} requests in flight: the 40 objects were not applied in parallel"
        );
        assert!(
            peak <= concurrency as u64,
            "{peak} requests in flight, over the bound of {concurrency}"
        );
        let s17 = set.objects.iter().find(|o| o.key().name == "s17").unwrap();
        assert_eq!(
            get(t.client(), &s17.key()).await.unwrap()["spec"]["teeth"],
            18
        );
    });
}
