//! Several `cubist serve` replicas sharing one repository and six Kubernetes clusters through
//! Leases (`coordination.k8s.io/v1`) on kube-local, which serves them from
//! `tests/kube-local/lease-crd.yaml` (a CRD with the built-in schema: the same create-if-absent
//! and resourceVersion conflicts as a real cluster; renewTime is validated as RFC 3339).
//!
//! The six clusters are one kube-local, each cluster's project in its own namespace, so that
//! every object belongs to exactly one cluster.

use cubist::lease::client::{Fenced, LeaseClient};
use cubist::synth::{self, Shape};
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::{ObjectStatus, Summary};
use cubist_tests::kube_local::{Server, install_crds, runtime};
use cubist_tests::replicas::{DURATION, PATIENCE, RETRY, Replica, install_lease_crd};
use cubist_tests::repo::{commit_all, edit, git, init_with_bare_remote};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CLUSTERS: usize = 6;

#[test]
#[cfg_attr(
    not(has_kube_local),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh); see README, Tests"
)]
fn lease_writes_are_fenced_by_resource_version_and_expire_by_observation() {
    let server = Server::start(None);
    let rt = runtime();
    rt.block_on(async {
        let client = server.target("leases").await.client().clone();
        install_lease_crd(&client).await;
        let secs = Duration::from_secs(2);
        let mut a = LeaseClient::new(client.clone(), "default", "a", secs);
        let mut b = LeaseClient::new(client.clone(), "default", "b", secs);
        let Fenced::Done(held_a) = a.acquire("t", "test").await.unwrap() else {
            panic!("a free Lease is taken");
        };
        match b.acquire("t", "test").await.unwrap() {
            Fenced::Lost(Some(holder)) => assert_eq!(holder, "a"),
            other => panic!("a held Lease is not taken: {other:?}"),
        }
        let Fenced::Done(renewed) = a.renew(&held_a).await.unwrap() else {
            panic!("the holder renews");
        };
        assert_ne!(renewed.version(), held_a.version());
        // A write from a stale resourceVersion is refused (409), however it is meant.
        assert!(matches!(a.renew(&held_a).await.unwrap(), Fenced::Lost(_)));
        assert!(matches!(b.renew(&held_a).await.unwrap(), Fenced::Lost(_)));
        // Expiry runs from when b first saw the Lease's newest version: b has not seen a's
        // renewal yet, so the Lease is not expired for b however old it is.
        assert!(matches!(
            b.acquire("t", "test").await.unwrap(),
            Fenced::Lost(Some(_))
        ));
        // Not renewed for its duration since b saw it: b takes it, and a's renewal is refused.
        tokio::time::sleep(Duration::from_millis(2300)).await;
        let Fenced::Done(held_b) = b.acquire("t", "test").await.unwrap() else {
            panic!("an expired Lease is taken");
        };
        assert!(matches!(a.renew(&renewed).await.unwrap(), Fenced::Lost(_)));
        assert_eq!(
            b.live("test").await.unwrap(),
            BTreeMap::from([("t".to_string(), "b".to_string())])
        );
        // Released: free at once, without waiting for expiry.
        b.release(&held_b).await.unwrap();
        assert!(b.live("test").await.unwrap().is_empty());
        assert!(matches!(
            a.acquire("t", "test").await.unwrap(),
            Fenced::Done(_)
        ));
    });
}

/// Each replica's clusters, read so that a cluster seen on two replicas was on both at once:
/// every replica is read, then the first again; a cluster counts for the first only when both
/// of its reads have it.
fn ownership(replicas: &[&Replica]) -> BTreeMap<String, BTreeSet<String>> {
    let first = replicas[0].owned();
    let mut out: BTreeMap<String, BTreeSet<String>> = replicas[1..]
        .iter()
        .map(|r| (r.id.clone(), r.owned()))
        .collect();
    let again = replicas[0].owned();
    out.insert(
        replicas[0].id.clone(),
        first.intersection(&again).cloned().collect(),
    );
    let mut seen = BTreeMap::new();
    for (id, clusters) in &out {
        for c in clusters {
            if let Some(other) = seen.insert(c.clone(), id.clone()) {
                panic!("cluster {c} owned by {other} and {id} at once: {out:?}");
            }
        }
    }
    out
}

/// Polls [`ownership`] until `done` holds for it; checks exclusivity at every read.
fn wait_for_ownership(
    replicas: &[&Replica],
    what: &str,
    done: impl Fn(&BTreeMap<String, BTreeSet<String>>) -> bool,
) -> BTreeMap<String, BTreeSet<String>> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = ownership(replicas);
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: still {now:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn all_clusters() -> BTreeSet<String> {
    (0..CLUSTERS).map(|c| format!("cluster-{c}")).collect()
}

/// Every cluster owned once, with at most `max` per replica.
fn spread(max: usize) -> impl Fn(&BTreeMap<String, BTreeSet<String>>) -> bool {
    move |o| {
        let union: BTreeSet<String> = o.values().flatten().cloned().collect();
        union == all_clusters() && o.values().all(|s| s.len() <= max)
    }
}

/// Clusters whose owner differs between `before` and `after`.
fn moved(
    before: &BTreeMap<String, BTreeSet<String>>,
    after: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let owner = |o: &BTreeMap<String, BTreeSet<String>>, c: &str| {
        o.iter()
            .find(|(_, s)| s.contains(c))
            .map(|(id, _)| id.clone())
    };
    all_clusters()
        .into_iter()
        .filter(|c| owner(before, c) != owner(after, c))
        .collect()
}

/// The status tree at the tip of the remote's status branch.
fn status(remote: &Path) -> StatusTree {
    let repo = git2::Repository::open_bare(remote).unwrap();
    StatusTree::new(cubist::report::status_branch::read_status(&repo, "cubist/status").unwrap())
}

/// Waits until the status branch says every cluster was reconciled at `revision`.
fn wait_for_status_at(remote: &Path, revision: &str) -> StatusTree {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let tree = status(remote);
        let at: BTreeSet<String> = tree
            .summary()
            .and_then(Result::ok)
            .map(|s: Summary| {
                s.clusters
                    .into_iter()
                    .filter(|c| c.revision == revision)
                    .map(|c| c.name)
                    .collect()
            })
            .unwrap_or_default();
        if at == all_clusters() {
            return tree;
        }
        assert!(
            Instant::now() < deadline,
            "status branch: clusters at {revision}: {at:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An object the status says is Synced on `cluster`, and that it is live there.
fn assert_applied(tree: &StatusTree, cluster: &str, client: &kube::Client) {
    let rt = runtime();
    let synced: ObjectStatus = tree
        .cluster_objects(cluster)
        .into_iter()
        .filter_map(Result::ok)
        .find(|o| o.state == cubist_status_ui::doc::SyncState::Synced)
        .unwrap_or_else(|| panic!("no Synced object of {cluster} in the status"));
    let key = cubist::render::ObjectKey {
        api_version: synced.api_version.clone(),
        kind: synced.kind.clone(),
        namespace: synced.namespace.clone(),
        name: synced.name.clone(),
    };
    let live = rt.block_on(cubist_tests::kube_local::get(client, &key));
    assert!(live.is_some(), "{key} of {cluster} is not on the cluster");
}

fn is_ancestor(remote: &Path, commit: &str, tip: &str) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(remote)
        .args(["merge-base", "--is-ancestor", commit, tip])
        .status()
        .unwrap()
        .success()
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn replicas_share_clusters_fail_over_rescale_and_stop_cleanly() {
    let server = Server::start(None);
    let rt = runtime();
    let client = rt.block_on(async {
        let t = server.target("leases").await;
        install_crds(t.client(), &["argoproj.io", "kubeflow.org"]).await;
        install_lease_crd(t.client()).await;
        t.client().clone()
    });
    // Six clusters, one project each, every cluster on kube-local.
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let shape = Shape {
        projects: CLUSTERS,
        pipelines_per_project: 1,
        services_per_project: 0,
        runs_per_project: 0,
        clusters: CLUSTERS,
    };
    synth::write(&shape, &work).unwrap();
    for c in 0..CLUSTERS {
        edit(
            &work.join(format!("clusters/cluster-{c}.yaml")),
            &format!("directory:\n      path: ../rendered/cluster-{c}"),
            "kubernetes:\n      kubeconfig: kubeconfig",
        );
    }
    let (remote, first) = init_with_bare_remote(tmp.path(), "platform");
    let root = tmp.path();

    // One replica: the leader, with every cluster.
    let r1 = Replica::start("r1", &remote, root, &server);
    wait_for_ownership(&[&r1], "r1 alone owns every cluster", spread(CLUSTERS));
    assert!(r1.role().contains(": leader;"), "{}", r1.role());
    let tree = wait_for_status_at(&remote, &first);
    for c in all_clusters() {
        assert_applied(&tree, &c, &client);
    }

    // 1 → 3: two per replica, and r1 keeps two of its own.
    let mut r2 = Replica::start("r2", &remote, root, &server);
    let mut r3 = Replica::start("r3", &remote, root, &server);
    let three = wait_for_ownership(&[&r1, &r2, &r3], "three replicas share", spread(2));
    assert!(r2.role().contains("follower (leader: r1)"), "{}", r2.role());

    // A new revision: each cluster applied by its owner, and the status branch has them all.
    for p in 0..CLUSTERS {
        edit(
            &work.join(format!("projects/team-{p:04}/pipelines/pipeline-0.yaml")),
            "parallelism: 2",
            "parallelism: 3",
        );
    }
    let second = commit_all(&work, "parallelism 3");
    git(&work, &["push", "-q", remote.to_str().unwrap(), "main"]);
    let tree = wait_for_status_at(&remote, &second);
    for c in all_clusters() {
        assert_applied(&tree, &c, &client);
    }

    // kill -9 the leader: another replica leads within duration + 2 retries (expiry is seen
    // at a retry, and taken at the next), and only r1's clusters move.
    let mut r1 = r1;
    let killed = Instant::now();
    r1.kill();
    let bound = Duration::from_secs(DURATION + 2 * RETRY) + Duration::from_millis(900);
    let leader = loop {
        if let Some(r) = [&r2, &r3]
            .into_iter()
            .find(|r| r.role().contains(": leader;"))
        {
            break r.id.clone();
        }
        assert!(
            killed.elapsed() < bound,
            "no leader {:?} after the kill",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("{leader} leads {:?} after the kill", killed.elapsed());
    let two = wait_for_ownership(&[&r2, &r3], "two replicas share", spread(3));
    assert_eq!(
        moved(&three, &two),
        three["r1"],
        "3 → 2 moves only the clusters of the replica that left"
    );
    wait_for_status_at(&remote, &second);

    // 2 → 4: each survivor gives up only its excess over ceil(6 / 4) = 2.
    let r4 = Replica::start("r4", &remote, root, &server);
    let r5 = Replica::start("r5", &remote, root, &server);
    let four = wait_for_ownership(&[&r2, &r3, &r4, &r5], "four replicas share", |o| {
        spread(2)(o) && o.values().filter(|s| !s.is_empty()).count() >= 3
    });
    assert_eq!(moved(&two, &four).len(), 2, "{two:?} → {four:?}");

    // SIGTERM to a replica that owns clusters: it exits 0 and releases its Leases, so its
    // clusters are taken over at the others' next retry, before they could have expired.
    let (mut stopped, r_kept) = if four["r5"].is_empty() {
        (r4, r5)
    } else {
        (r5, r4)
    };
    let its = four[&stopped.id].clone();
    assert!(!its.is_empty(), "{four:?}");
    let status = stopped.running.terminate(PATIENCE);
    let exited = Instant::now();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    let after = wait_for_ownership(&[&r2, &r3, &r_kept], "three replicas after SIGTERM", |o| {
        spread(2)(o)
    });
    assert!(
        exited.elapsed() < Duration::from_secs(DURATION),
        "the clusters of the stopped replica were taken {:?} after it exited: released, not \
         expired",
        exited.elapsed()
    );
    eprintln!(
        "{:?} taken over {:?} after SIGTERM's exit",
        its,
        exited.elapsed()
    );
    assert!(its.iter().all(|c| after.values().any(|s| s.contains(c))));
    let printed = stopped.lines.printed().join("\n");
    assert!(printed.contains("lease released"), "{printed}");
    wait_for_status_at(&remote, &second);

    // No status commit of any replica is lost: each is on the branch's history. The commits
    // logged so far are collected before the tip is read: a replica still running may write
    // another one meanwhile, on top of that tip (read the other way round, such a commit
    // looked lost).
    let logged: Vec<(String, Vec<String>)> = [&mut r1, &mut r2, &mut r3, &mut stopped]
        .into_iter()
        .map(|r| (r.id.clone(), r.status_commits()))
        .collect();
    let tip = git(&remote, &["rev-parse", "cubist/status"]);
    let mut writers = BTreeMap::new();
    for (id, commits) in logged {
        for commit in &commits {
            assert!(
                is_ancestor(&remote, commit, &tip),
                "{id}'s {commit} is lost"
            );
        }
        writers.insert(id, commits.len());
    }
    // Every replica that owned clusters wrote status commits of its own.
    assert!(writers.values().all(|n| *n > 0), "{writers:?}");
    drop(r_kept);
}
