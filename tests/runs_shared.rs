//! Run records shared between Lease replicas (issue #18): two `cubist serve` replicas, two
//! Kubernetes clusters (each its own kube-local; the first also holds the Leases) and a daily
//! pipeline placed on both. Each replica runs the controller for the cluster it owns: every
//! execution's Workflow is created once per cluster, both clusters' records are on the status
//! branch (one file per cluster, each written by its owner), each failure is alerted once, and a
//! replica killed -9 hands its cluster over: the other one reads the cluster's records where the
//! killed one left them, creates the next execution once and alerts nothing again.

use chrono::{Duration as Days, NaiveDate, Timelike, Utc};
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::ClusterRuns;
use cubist_tests::argo::Argo;
use cubist_tests::corpus::{copy_tree, examples_repo};
use cubist_tests::kube_local::with_crds;
use cubist_tests::receiver::Receiver;
use cubist_tests::replicas::{PATIENCE, Replica, install_lease_crd};
use cubist_tests::repo::{edit, init_with_bare_remote};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

const PIPELINE: &str = "daily-ranker";
const CLUSTERS: [&str; 2] = ["local", "prod-bj"];

/// The pipeline's records of `cluster` at the tip of the remote's status branch.
fn records(remote: &Path, cluster: &str) -> Option<ClusterRuns> {
    let repo = git2::Repository::open_bare(remote).unwrap();
    let files = cubist::report::status_branch::read_status(&repo, "cubist/status").unwrap();
    let tree = StatusTree::new(files);
    let runs = tree.pipeline_runs("recsys", PIPELINE)?.ok()?;
    runs.clusters.get(cluster).cloned()
}

/// The phase recorded for each Workflow, newest first.
fn phases(c: &ClusterRuns) -> Vec<(String, RunPhase)> {
    c.runs
        .iter()
        .map(|r| (r.workflow.clone(), r.phase))
        .collect()
}

/// Waits until `done` holds, saying `what` (and what `state` shows) when it never does.
fn wait_for(what: &str, done: impl Fn() -> bool, state: impl Fn() -> String) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: still {}", state());
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// Both clusters' records at the branch tip are `want` (newest first).
fn recorded(remote: &Path, want: &[(String, RunPhase)]) -> bool {
    CLUSTERS
        .iter()
        .all(|c| records(remote, c).is_some_and(|r| phases(&r) == want))
}

/// The webhook posts about `workflow` on `cluster`.
fn posts(hook: &Receiver, cluster: &str, workflow: &str) -> usize {
    hook.posts_of(PIPELINE)
        .iter()
        .filter(|p| p.contains(&format!("\"cluster\":\"{cluster}\"")) && p.contains(workflow))
        .count()
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn two_replicas_each_run_and_record_their_cluster_and_a_killed_one_hands_over() {
    let (leases, rt, client) = with_crds("prod-bj");
    rt.block_on(install_lease_crd(&client));
    let mut argo = BTreeMap::new();
    argo.insert("prod-bj", Argo::new(client, "recsys", rt));
    let (second, rt, client) = with_crds("local");
    argo.insert("local", Argo::new(client, "recsys", rt));
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfigs = tmp.path().join("kubeconfigs");
    std::fs::create_dir(&kubeconfigs).unwrap();
    std::fs::copy(&leases.kubeconfig, kubeconfigs.join("prod-bj.yaml")).unwrap();
    std::fs::copy(&second.kubeconfig, kubeconfigs.join("local.yaml")).unwrap();

    // examples-repo with recsys only, both clusters on kube-local; daily-ranker runs one
    // execution at a time (no chain), three due: from two days ago when today's 02:00 in
    // Shanghai has passed, else from three days ago.
    let work = tmp.path().join("work");
    copy_tree(&examples_repo(), &work);
    for p in ["nlp", "vision"] {
        std::fs::remove_dir_all(work.join("projects").join(p)).unwrap();
    }
    std::fs::remove_dir_all(work.join("projects/recsys/runs")).unwrap();
    edit(
        &work.join("clusters/prod-bj.yaml"),
        "kubeconfig: prod-bj.yaml\n      context: prod-bj",
        "kubeconfig: prod-bj.yaml",
    );
    edit(
        &work.join("clusters/local.yaml"),
        "directory:\n      path: ../rendered/local",
        "kubernetes:\n      kubeconfig: local.yaml",
    );
    let shanghai = Utc::now() + Days::hours(8);
    let today = shanghai.date_naive();
    let start = today - Days::days(if shanghai.hour() >= 2 { 2 } else { 3 });
    let dates: Vec<NaiveDate> = (0..3).map(|d| start + Days::days(d)).collect();
    let names: Vec<String> = dates
        .iter()
        .map(|d| format!("{PIPELINE}-{}", d.format("%Y%m%d")))
        .collect();
    let ranker = work.join("projects/recsys/pipelines/daily-ranker.yaml");
    edit(
        &ranker,
        "startFrom: 2026-11-01",
        &format!("startFrom: {start}"),
    );
    edit(&ranker, "    dependsOnPast: true\n    keepLast: 5\n", "");
    edit(&ranker, "channels: [ml-oncall]", "channels: [slack-ml]");
    let hook = Receiver::start();
    let env = [("CUBIST_ALERTS_SLACK_URL", hook.url())];
    let (remote, _) = init_with_bare_remote(tmp.path(), "platform");
    let root = tmp.path();

    let r1 = Replica::start_with("r1", &remote, root, &leases, &kubeconfigs, &env);
    let r2 = Replica::start_with("r2", &remote, root, &leases, &kubeconfigs, &env);
    let owners = || {
        let (a, b) = (r1.owned(), r2.owned());
        format!("r1 {a:?}, r2 {b:?}")
    };
    wait_for(
        "each replica owns one cluster",
        || {
            let (a, b) = (r1.owned(), r2.owned());
            a.len() == 1 && b.len() == 1 && a != b
        },
        owners,
    );
    let state = || {
        let on: Vec<String> = CLUSTERS
            .iter()
            .map(|c| {
                let live = argo[c].names(PIPELINE);
                let rec = records(&remote, c).map(|r| phases(&r));
                format!("{c}: live {live:?}, recorded {rec:?}")
            })
            .collect();
        format!("{}; {}", owners(), on.join("; "))
    };

    // 1. On each cluster the oldest execution runs, and both clusters' records say so.
    let want = |phases: &[RunPhase]| -> Vec<(String, RunPhase)> {
        names
            .iter()
            .zip(phases)
            .map(|(n, p)| (n.clone(), *p))
            .rev()
            .collect()
    };
    wait_for(
        "the first execution on both clusters",
        || {
            CLUSTERS
                .iter()
                .all(|c| argo[c].names(PIPELINE) == names[..1])
                && recorded(&remote, &want(&[RunPhase::Pending]))
        },
        state,
    );

    // 2. It fails on both: the next one starts on each, each failure is recorded and alerted
    // once, by the replica that owns its cluster.
    for c in CLUSTERS {
        argo[c].finish(&names[0], "Failed");
    }
    wait_for(
        "the second execution after the failures",
        || {
            CLUSTERS
                .iter()
                .all(|c| argo[c].names(PIPELINE) == names[..2])
                && recorded(&remote, &want(&[RunPhase::Failed, RunPhase::Pending]))
                && CLUSTERS
                    .iter()
                    .all(|c| records(&remote, c).is_some_and(|r| r.runs[1].alerted.len() == 1))
        },
        state,
    );
    for c in CLUSTERS {
        assert_eq!(
            posts(&hook, c, &names[0]),
            1,
            "{:?}",
            hook.posts_of(PIPELINE)
        );
    }

    // 3. kill -9 the owner of `local`: the other replica takes it over, reads its records
    // where the killed one left them, and creates the third execution there once.
    let (mut killed, survivor) = if r1.owned().contains("local") {
        (r1, r2)
    } else {
        (r2, r1)
    };
    killed.kill();
    let both: BTreeSet<String> = CLUSTERS.iter().map(|c| c.to_string()).collect();
    wait_for(
        "the survivor owns both clusters",
        || survivor.owned() == both,
        || format!("{:?}", survivor.owned()),
    );
    for c in CLUSTERS {
        argo[c].finish(&names[1], "Succeeded");
    }
    let state = || {
        let on: Vec<String> = CLUSTERS
            .iter()
            .map(|c| {
                let live = argo[c].names(PIPELINE);
                let rec = records(&remote, c).map(|r| phases(&r));
                format!("{c}: live {live:?}, recorded {rec:?}")
            })
            .collect();
        on.join("; ")
    };
    wait_for(
        "the third execution on both clusters",
        || {
            CLUSTERS.iter().all(|c| argo[c].names(PIPELINE) == names)
                && recorded(
                    &remote,
                    &want(&[RunPhase::Failed, RunPhase::Succeeded, RunPhase::Pending]),
                )
        },
        state,
    );
    for c in CLUSTERS {
        argo[c].finish(&names[2], "Succeeded");
    }
    let done = want(&[RunPhase::Failed, RunPhase::Succeeded, RunPhase::Succeeded]);
    wait_for(
        "every execution finished",
        || recorded(&remote, &done),
        state,
    );
    // One Workflow per execution on each cluster, and each failure alerted once in all.
    for c in CLUSTERS {
        let executions: Vec<String> = argo[c]
            .workflows(PIPELINE)
            .iter()
            .map(|w| w["metadata"]["labels"]["cubist.dev/execution"].to_string())
            .collect();
        let distinct: BTreeSet<&String> = executions.iter().collect();
        assert_eq!(
            (executions.len(), distinct.len()),
            (3, 3),
            "{c}: {executions:?}"
        );
        assert_eq!(
            posts(&hook, c, &names[0]),
            1,
            "{:?}",
            hook.posts_of(PIPELINE)
        );
        let failed = records(&remote, c).unwrap().runs[2].clone();
        assert_eq!(failed.alerted.len(), 1, "{c}: {failed:?}");
    }
    drop(survivor);
}
