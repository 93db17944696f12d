//! The reconcile loop with a Kubernetes cluster target on a real API server (kube-local):
//! apply on a new revision, health and drift written to the status branch by refresh passes,
//! self-healing, and an unreachable cluster that backs off alone while the directory cluster
//! carries on, then converges when the server comes back.

use cubist::reconcile::{Config, Outcome, Reconciler};
use cubist::render::ObjectKey;
use cubist::report::status_branch::read_status;
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::{Inventory, ObjectStatus, Summary, SyncState};
use cubist_tests::corpus::{copy_tree, examples_repo};
use cubist_tests::kube_local::{dynamic, get, point_prod_bj_at, with_crds};
use cubist_tests::repo::{commit_all, cubist_binary, edit, init_and_commit};
use kube::api::{Patch, PatchParams};
use serde_json::json;
use std::time::{Duration, Instant};

const CLUSTER: &str = "prod-bj";

/// The status branch's documents.
fn status(r: &Reconciler) -> StatusTree {
    StatusTree::new(read_status(r.mirror().repo(), "cubist/status").unwrap())
}

fn summary_cluster(tree: &StatusTree) -> cubist_status_ui::doc::ClusterStatus {
    let s: Summary = tree.summary().unwrap().unwrap();
    s.clusters.into_iter().find(|c| c.name == CLUSTER).unwrap()
}

fn object(tree: &StatusTree, project: &str, key: &ObjectKey) -> ObjectStatus {
    let path = cubist_status_ui::tree::paths::object(CLUSTER, Some(project), &key.kind, &key.name);
    tree.parse::<ObjectStatus>(&path)
        .unwrap_or_else(|| panic!("{path} missing"))
        .unwrap()
}

fn key(o: &Outcome, kind: &str, name_prefix: &str) -> ObjectKey {
    o.clusters[CLUSTER]
        .desired
        .objects()
        .map(|obj| obj.key())
        .find(|k| k.kind == kind && k.name.starts_with(name_prefix))
        .unwrap_or_else(|| panic!("no {kind} {name_prefix}* rendered for {CLUSTER}"))
}

/// Polls until the reconciler reports something (a refresh may be waiting for its backoff).
fn poll_until_outcome(r: &mut Reconciler, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(o) = r.poll().expect("poll") {
            return o;
        }
        assert!(Instant::now() < deadline, "no outcome within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn loop_applies_reports_health_and_drift_heals_and_survives_an_outage() {
    let (server, rt, client) = with_crds(CLUSTER);

    // examples-repo, with prod-bj pointed at kube-local and no self-healing yet.
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    copy_tree(&examples_repo(), &work);
    let cluster_file = work.join("clusters/prod-bj.yaml");
    point_prod_bj_at(&cluster_file, &server);
    edit(&cluster_file, "selfHeal: true", "selfHeal: false");
    init_and_commit(&work, "platform");
    let mut r = Reconciler::new(Config::local(&work, tmp.path().join("cache"))).unwrap();

    // 1. A new revision is applied to both clusters.
    let o = r.poll().unwrap().expect("first reconcile");
    let co = &o.clusters[CLUSTER];
    let report = co.report.as_ref().expect("prod-bj applied");
    assert!(report.created >= 5, "{report:?}");
    assert!(!co.unreachable);
    assert!(o.clusters["local"].report.is_some());
    // The drift target: daily-ranker's WorkflowTemplate (runs are the run controller's).
    let cron = key(&o, "WorkflowTemplate", "daily-ranker");
    let ns = key(&o, "Namespace", "recsys");
    let tree = status(&r);
    let live_cron = object(&tree, "recsys", &cron);
    assert_eq!(live_cron.state, SyncState::Synced, "{live_cron:?}");
    assert!(
        live_cron.health.is_some(),
        "health is written: {live_cron:?}"
    );
    // kube-local serves no built-in kinds: one clear error per object, the rest applied.
    let ns_status = tree
        .parse::<ObjectStatus>(&cubist_status_ui::tree::paths::object(
            CLUSTER,
            Some("recsys"),
            "Namespace",
            &ns.name,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(ns_status.state, SyncState::Failed);
    assert!(ns_status.message.contains("not served"), "{ns_status:?}");
    let inventory = tree.inventory(CLUSTER).unwrap().unwrap();
    assert!(inventory.objects.iter().any(|e| ObjectKey::from(e) == cron));
    assert!(!inventory.objects.iter().any(|e| ObjectKey::from(e) == ns));

    // `cubist plan --cluster prod-bj` diffs against the live objects: nothing left to create.
    let out = std::process::Command::new(cubist_binary())
        .args(["plan", "--cluster", CLUSTER, "--format", "json"])
        .arg(&work)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let c = &plan["clusters"][0];
    assert_eq!(
        (
            c["cluster"].as_str(),
            c["created"].as_u64(),
            c["changed"].as_u64()
        ),
        (Some(CLUSTER), Some(0), Some(0)),
        "{plan:#}"
    );
    assert!(c["unchanged"].as_u64().unwrap() >= 5, "{plan:#}");

    // Nothing changed: a refresh pass writes no status commit.
    assert!(r.poll().unwrap().is_none(), "no change, no status commit");

    // A commit that changes nothing an object renders from (a comment in project.yaml) is a
    // new revision, but no live object is written: every resourceVersion stays.
    let versions = |client: &kube::Client| -> Vec<(String, String)> {
        inventory
            .objects
            .iter()
            .map(|e| {
                let live = rt
                    .block_on(get(client, &ObjectKey::from(e)))
                    .expect("live object");
                (
                    ObjectKey::from(e).to_string(),
                    live["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    };
    let before = versions(&client);
    let project = work.join("projects/recsys/project.yaml");
    let text = std::fs::read_to_string(&project).unwrap();
    std::fs::write(&project, format!("# owned by the recsys team\n{text}")).unwrap();
    commit_all(&work, "recsys: a comment");
    let o = r.poll().unwrap().expect("a new revision is reconciled");
    let report = o.clusters[CLUSTER]
        .report
        .as_ref()
        .expect("prod-bj planned");
    assert_eq!((report.created, report.updated), (0, 0), "{report:?}");
    assert_eq!(versions(&client), before, "no object was rewritten");

    // 3. A hand edit is drift: OutOfSync, not reverted while selfHeal is off.
    let edit_by_hand = || {
        let by_hand = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        };
        let patch = Patch::Merge(json!({"spec": {"parallelism": 7}}));
        rt.block_on(async {
            let api = dynamic(&client, &cron).await;
            api.patch(&cron.name, &by_hand, &patch).await.unwrap();
        });
    };
    edit_by_hand();
    let o = r.poll().unwrap().expect("drift is written");
    assert_eq!(o.clusters[CLUSTER].drifted, vec![cron.clone()]);
    let tree = status(&r);
    assert_eq!(object(&tree, "recsys", &cron).state, SyncState::OutOfSync);
    assert_eq!(summary_cluster(&tree).counts.out_of_sync, 1);
    let tz = |v: Option<serde_json::Value>| v.unwrap()["spec"]["parallelism"].clone();
    assert_eq!(tz(rt.block_on(get(&client, &cron))), 7);

    // 4. selfHeal on: the next revision takes the field back.
    edit(&cluster_file, "selfHeal: false", "selfHeal: true");
    commit_all(&work, "prod-bj: self-heal");
    let o = r.poll().unwrap().expect("reconcile");
    assert!(o.clusters[CLUSTER].drifted.is_empty());
    assert_eq!(tz(rt.block_on(get(&client, &cron))), 3);
    // ... and heals later hand edits on a refresh pass, without a new revision.
    edit_by_hand();
    let o = r.poll().unwrap().expect("heal is written");
    assert_eq!(o.clusters[CLUSTER].report.as_ref().unwrap().updated, 1);
    assert_eq!(tz(rt.block_on(get(&client, &cron))), 3);
    assert_eq!(
        object(&status(&r), "recsys", &cron).state,
        SyncState::Synced
    );

    // 5. The server goes away: prod-bj is Unreachable and backs off; local still applies.
    server.stop();
    let pipeline = work.join("projects/recsys/pipelines/daily-ranker.yaml");
    edit(&pipeline, "parallelism: 3", "parallelism: 4");
    commit_all(&work, "recsys: ranker runs 4 tasks at once");
    let started = Instant::now();
    let o = r.poll().unwrap().expect("reconcile while down");
    let co = &o.clusters[CLUSTER];
    assert!(co.unreachable, "{:?}", co.skipped);
    let retry = co.retry_in.expect("backoff");
    assert!(
        o.clusters["local"].report.is_some(),
        "the directory cluster is not held up"
    );
    let tree = status(&r);
    let c = summary_cluster(&tree);
    assert_eq!(c.state, SyncState::Unreachable);
    assert!(
        c.errors.iter().any(|e| e.message.contains("retrying in")),
        "{:?}",
        c.errors
    );
    assert!(
        c.applied_at.is_some(),
        "the last apply time stays, to show its age"
    );
    assert_eq!(object(&tree, "recsys", &cron).state, SyncState::Unreachable);
    // What cubist owns there survives the outage.
    let kept = tree.inventory(CLUSTER).unwrap().unwrap();
    let keys = |i: &Inventory| i.objects.iter().map(ObjectKey::from).collect::<Vec<_>>();
    assert_eq!(keys(&kept), keys(&inventory));
    // Within the backoff, polls do not touch the cluster.
    if started.elapsed() < retry {
        assert!(r.poll().unwrap().is_none());
    }

    // 6. The server returns: the pending revision is applied after the backoff.
    let back = server.restart();
    let o = poll_until_outcome(&mut r, Duration::from_secs(60));
    let co = &o.clusters[CLUSTER];
    assert!(!co.unreachable, "{:?}", co.skipped);
    assert!(co.report.is_some());
    let client = rt.block_on(async { back.target(CLUSTER).await.client().clone() });
    let live = rt.block_on(get(&client, &cron)).unwrap();
    assert_eq!(live["spec"]["parallelism"], 4, "{live:#}");
    let tree = status(&r);
    assert_ne!(summary_cluster(&tree).state, SyncState::Unreachable);
    assert_eq!(object(&tree, "recsys", &cron).state, SyncState::Synced);
}
