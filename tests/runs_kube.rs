//! The run controller on a real API server (kube-local with the Argo CRDs). The test plays
//! Argo's controller: it writes a Workflow's `status` (no status subresource in Argo's CRD).
//! Acceptance of issue #18: a daily chain (`startFrom` five days ago, `concurrency: 1`,
//! `dependsOnPast: true`) has exactly one Workflow after the first reconcile; each success
//! releases the next date within one poll; a failure blocks the chain and the status branch
//! names the run; a committed `Run` re-running that date unblocks it. `keepLast: 2` with five
//! executions due: three Skipped, two run.

use chrono::{Duration as Days, NaiveDate, Utc};
use cubist::reconcile::{Config, Reconciler};
use cubist::report::status_branch::read_status;
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::{ClusterRuns, PipelineRuns};
use cubist_tests::argo::Argo;
use cubist_tests::corpus::{copy_tree, examples_repo};
use cubist_tests::kube_local::{point_prod_bj_at, with_crds};
use cubist_tests::receiver::Receiver;
use cubist_tests::repo::{commit_all, edit, init_and_commit};

const CLUSTER: &str = "prod-bj";

fn records(r: &Reconciler, pipeline: &str) -> ClusterRuns {
    let tree = StatusTree::new(read_status(r.mirror().repo(), "cubist/status").unwrap());
    let doc: PipelineRuns = tree
        .pipeline_runs("recsys", pipeline)
        .unwrap_or_else(|| panic!("no run records of {pipeline}"))
        .unwrap();
    doc.clusters[CLUSTER].clone()
}

/// Runs this binary's tests one at a time: the first one sets environment variables
/// in-process, and each starts a kube-local.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn chain_catches_up_one_run_at_a_time_blocks_on_failure_and_a_run_unblocks_it() {
    let _alone = alone();
    let (server, rt, client) = with_crds(CLUSTER);
    let argo = Argo::new(client, "recsys", rt);

    // examples-repo on kube-local; daily-ranker starts five days ago (Shanghai dates), without
    // keepLast and Runs; ctr-hpo fires daily at midnight from four days ago with keepLast 2.
    let today = (Utc::now() + Days::hours(8)).date_naive();
    let start = today - Days::days(5);
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    copy_tree(&examples_repo(), &work);
    point_prod_bj_at(&work.join("clusters/prod-bj.yaml"), &server);
    let ranker = work.join("projects/recsys/pipelines/daily-ranker.yaml");
    edit(
        &ranker,
        "startFrom: 2026-11-01",
        &format!("startFrom: {start}"),
    );
    edit(
        &ranker,
        "    dependsOnPast: true\n    keepLast: 5\n",
        "    dependsOnPast: true\n",
    );
    for f in ["backfill-2026-11.yaml", "rerun-2026-11-20.yaml"] {
        std::fs::remove_file(work.join("projects/recsys/runs").join(f)).unwrap();
    }
    edit(
        &work.join("projects/recsys/pipelines/ctr-hpo.yaml"),
        "cron: \"0 4 * * 6\"\n    timezone: Asia/Shanghai\n    concurrency: 1",
        &format!(
            "cron: \"0 0 * * *\"\n    timezone: Asia/Shanghai\n    startFrom: {}\n    keepLast: 2",
            today - Days::days(4)
        ),
    );
    // daily-ranker's failures go to the Slack-compatible webhook channel, here a local receiver.
    edit(&ranker, "channels: [ml-oncall]", "channels: [slack-ml]");
    let hook = Receiver::start();
    // SAFETY: the tests of this binary run one at a time (`alone`), and this one's threads
    // start after it.
    unsafe { std::env::set_var("CUBIST_ALERTS_SLACK_URL", hook.url()) };
    init_and_commit(&work, "platform");
    let mut r = Reconciler::new(Config::local(&work, tmp.path().join("cache"))).unwrap();

    // 1. First reconcile: exactly one Workflow, the oldest date; the rest wait.
    r.poll().unwrap().expect("first reconcile");
    let first = format!("daily-ranker-{}", ymd(start));
    assert_eq!(argo.names("daily-ranker"), [first.clone()]);
    let wf = &argo.workflows("daily-ranker")[0];
    assert_eq!(wf["spec"]["workflowTemplateRef"]["name"], "daily-ranker");
    assert_eq!(
        wf["spec"]["arguments"]["parameters"][0]["value"],
        start.to_string()
    );
    assert_eq!(wf["metadata"]["labels"]["cubist.dev/origin"], "schedule");
    let rec = records(&r, "daily-ranker");
    assert_eq!(rec.runs.len(), 1);
    assert_eq!(rec.runs[0].phase, RunPhase::Pending);
    assert!(rec.waiting.as_ref().unwrap().count >= 4, "{rec:?}");
    // keepLast 2 of five due: three Skipped, one created, one waiting.
    let hpo = records(&r, "ctr-hpo");
    let skipped = hpo
        .runs
        .iter()
        .filter(|x| x.phase == RunPhase::Skipped)
        .count();
    assert_eq!(skipped, 3, "{hpo:?}");
    assert_eq!(argo.names("ctr-hpo").len(), 1);

    // 2. Each success releases the next date within one poll (a refresh, no new commit).
    argo.finish(&first, "Succeeded");
    r.poll().unwrap().expect("the success is seen");
    let second = format!("daily-ranker-{}", ymd(start + Days::days(1)));
    assert_eq!(argo.names("daily-ranker"), [first.clone(), second.clone()]);
    let hpo_first = argo.names("ctr-hpo")[0].clone();
    argo.finish(&hpo_first, "Succeeded");

    // 3. A failure stops the chain; the status branch names the blocking run and the fix.
    argo.finish(&second, "Failed");
    r.poll().unwrap().expect("the failure is seen");
    assert_eq!(argo.names("daily-ranker").len(), 2, "the chain stops");
    let rec = records(&r, "daily-ranker");
    let blocked = rec.blocked.expect("blocked");
    assert_eq!(blocked.workflow, second);
    assert!(blocked.fix.contains("commit a Run"), "{blocked:?}");
    let failed = rec.runs.iter().find(|x| x.workflow == second).unwrap();
    assert_eq!(failed.phase, RunPhase::Failed);
    assert_eq!(failed.tasks[0].name, "train");
    // One alert of daily-ranker reached the webhook, and the record says so (ctr-hpo alerts
    // on its own phases to every channel).
    let posts = hook.posts_of("daily-ranker");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0].contains(&second) && posts[0].contains("\"text\""),
        "{}",
        posts[0]
    );
    assert_eq!(failed.alerted.len(), 1, "{failed:?}");
    // ctr-hpo: its second kept execution ran after the first succeeded: two run in all.
    let hpo = records(&r, "ctr-hpo");
    assert_eq!(argo.names("ctr-hpo").len(), 2, "{hpo:?}");
    assert_eq!(
        hpo.runs
            .iter()
            .filter(|x| x.phase == RunPhase::Skipped)
            .count(),
        3
    );

    // 4. A committed Run re-running that date is attempt 2; its success unblocks the chain.
    let day = start + Days::days(1);
    std::fs::write(
        work.join("projects/recsys/runs/rerun.yaml"),
        format!("apiVersion: cubist.dev/v1alpha1\nkind: Run\nmetadata:\n  name: rerun\nspec:\n  pipeline: daily-ranker\n  date: {day}\n"),
    )
    .unwrap();
    commit_all(&work, "recsys: re-run the failed day");
    r.poll().unwrap().expect("the Run is reconciled");
    let names = argo.names("daily-ranker");
    assert_eq!(names.len(), 3, "{names:?}");
    let rerun = names
        .iter()
        .find(|n| n.starts_with(&format!("{second}-r")))
        .expect("the re-run's Workflow")
        .clone();
    let rec = records(&r, "daily-ranker");
    let attempt = rec.runs.iter().find(|x| x.workflow == rerun).unwrap();
    assert_eq!((attempt.attempt, attempt.origin.kind.as_str()), (2, "run"));
    argo.finish(&rerun, "Succeeded");
    r.poll().unwrap().expect("the re-run's success is seen");
    let third = format!("daily-ranker-{}", ymd(start + Days::days(2)));
    assert!(argo.names("daily-ranker").contains(&third));
    assert!(records(&r, "daily-ranker").blocked.is_none());

    // 5. Restart without the cluster's finished Workflows (garbage-collected): the records
    // in git keep what happened and nothing is created twice.
    for n in [&first, &second] {
        argo.rt
            .block_on(argo.api.delete(n, &Default::default()))
            .unwrap();
    }
    drop(r);
    let mut r = Reconciler::new(Config::local(&work, tmp.path().join("cache"))).unwrap();
    let _ = r.poll().unwrap();
    let rec = records(&r, "daily-ranker");
    let phase = |n: &str| rec.runs.iter().find(|x| x.workflow == n).unwrap().phase;
    assert_eq!(phase(&first), RunPhase::Succeeded);
    assert_eq!(phase(&second), RunPhase::Failed);
    // The failure's alert was sent once, across polls and the restart.
    let posts = hook.posts_of("daily-ranker");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        argo.names("daily-ranker").len(),
        2,
        "rerun and the third date only"
    );
}

/// `cubist reconcile` on `remote` with prod-bj's kubeconfig in `kubeconfigs`, killed -9 where
/// the hook `hold` (`before` or `after` creating a run's Workflow) holds it; without `hold`,
/// killed once `done` holds.
fn reconcile(
    remote: &std::path::Path,
    cache: &std::path::Path,
    kubeconfigs: &std::path::Path,
    hold: Option<&str>,
    done: impl Fn() -> bool,
) -> Option<String> {
    use cubist::reconcile::test_hook::HOLD_RUN;
    let mut cmd = std::process::Command::new(cubist_tests::repo::cubist_binary());
    cmd.args(["reconcile", "--interval", "1s", "--repo"])
        .arg(remote)
        .arg("--cache-dir")
        .arg(cache)
        .env("CUBIST_KUBECONFIG_DIR", kubeconfigs)
        .env_remove("CUBIST_ALERTS_SLACK_URL")
        .env_remove(HOLD_RUN);
    if let Some(point) = hold {
        cmd.env(HOLD_RUN, point);
    }
    let (running, mut lines) = cubist_tests::procs::spawn_all(cmd);
    let patience = std::time::Duration::from_secs(180);
    if hold.is_some() {
        let line = lines.wait_for(patience, |l| l.contains("test hook: holding the run"));
        drop(running); // SIGKILL
        return Some(line);
    }
    let deadline = std::time::Instant::now() + patience;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "cubist reconcile never got there; its output:\n{}",
            lines.printed().join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    drop(running); // what it did is on the cluster and the status branch already
    None
}

#[test]
#[cfg_attr(
    not(all(has_kube_local, has_reference_crds)),
    ignore = "needs kube-local (bash tests/kube-local/setup.sh) and ../shared/reference/crds; see README, Tests"
)]
fn kill_9_between_decide_and_create_makes_no_duplicate_and_no_gap() {
    let _alone = alone();
    let (server, rt, client) = with_crds(CLUSTER);
    let argo = Argo::new(client, "recsys", rt);
    // daily-ranker, two runs at a time, three executions due (from two days ago when today's
    // 02:00 in Shanghai has passed, else three), no chain, no Runs.
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    copy_tree(&examples_repo(), &work);
    std::fs::remove_dir_all(work.join("projects/recsys/runs")).unwrap();
    edit(
        &work.join("clusters/prod-bj.yaml"),
        "kubeconfig: prod-bj.yaml\n      context: prod-bj",
        "kubeconfig: kubeconfig",
    );
    let kubeconfigs = server.kubeconfig.parent().unwrap();
    let shanghai = Utc::now() + Days::hours(8);
    let back = if shanghai.time() >= chrono::NaiveTime::from_hms_opt(2, 0, 0).unwrap() {
        2
    } else {
        3
    };
    let start = shanghai.date_naive() - Days::days(back);
    let names: Vec<String> = (0..3)
        .map(|d| format!("daily-ranker-{}", ymd(start + Days::days(d))))
        .collect();
    let ranker = work.join("projects/recsys/pipelines/daily-ranker.yaml");
    edit(
        &ranker,
        "startFrom: 2026-11-01",
        &format!("startFrom: {start}"),
    );
    edit(
        &ranker,
        "    concurrency: 1\n    dependsOnPast: true\n    keepLast: 5\n",
        "    concurrency: 2\n",
    );
    let (remote, _) = cubist_tests::repo::init_with_bare_remote(tmp.path(), "platform");
    let cache = tmp.path().join("cache");
    let recorded = || {
        let repo = git2::Repository::open_bare(&remote).unwrap();
        let tree = StatusTree::new(read_status(&repo, "cubist/status").unwrap());
        let doc: Option<PipelineRuns> = tree.pipeline_runs("recsys", "daily-ranker")?.ok();
        doc?.clusters.get(CLUSTER).cloned()
    };
    let phases = |c: &ClusterRuns| -> Vec<(String, RunPhase)> {
        c.runs
            .iter()
            .map(|r| (r.workflow.clone(), r.phase))
            .collect()
    };
    let uid = |name: &str| {
        argo.workflows("daily-ranker")
            .into_iter()
            .find(|w| w["metadata"]["name"] == name)
            .map(|w| w["metadata"]["uid"].to_string())
    };

    // Runs cubist until it holds daily-ranker's run at `point` (other projects' runs go on,
    // on other threads), and kills it there: what it printed.
    let held_at = |point: &str| {
        let hook = format!("{point}:daily-ranker-");
        reconcile(&remote, &cache, kubeconfigs, Some(&hook), || true).unwrap()
    };

    // 1. Killed after deciding, before creating the first Workflow: nothing exists yet.
    let held = held_at("before");
    assert!(held.contains(&format!("{} before", names[0])), "{held}");
    assert_eq!(argo.names("daily-ranker"), Vec::<String>::new());
    assert!(recorded().is_none(), "killed before the status commit");

    // 2. Killed just after creating it: the cluster has it, git has no record of it.
    let held = held_at("after");
    assert!(held.contains(&format!("{} after", names[0])), "{held}");
    assert_eq!(argo.names("daily-ranker"), names[..1]);
    assert!(recorded().is_none(), "killed before the status commit");
    let first = uid(&names[0]);

    // 3. Restart with the cluster's Workflow and without its record: it is adopted, not made
    // again, the second one is created, the third waits; nothing skipped.
    let admitted = || {
        argo.names("daily-ranker") == names[..2]
            && recorded().is_some_and(|c| c.waiting.as_ref().is_some_and(|w| w.count == 1))
    };
    reconcile(&remote, &cache, kubeconfigs, None, admitted);
    let rec = recorded().unwrap();
    assert_eq!(
        phases(&rec),
        [
            (names[1].clone(), RunPhase::Pending),
            (names[0].clone(), RunPhase::Pending)
        ]
    );
    assert_eq!(
        uid(&names[0]),
        first,
        "the first Workflow was not made again"
    );

    // 4. The first succeeds; killed before creating the third: restart without the third on
    // the cluster and with records that do not know it: it is created once.
    argo.finish(&names[0], "Succeeded");
    let held = held_at("before");
    assert!(held.contains(&format!("{} before", names[2])), "{held}");
    assert_eq!(argo.names("daily-ranker"), names[..2]);
    let all = || {
        argo.names("daily-ranker") == names
            && recorded().is_some_and(|c| c.waiting.is_none() && c.runs.len() == 3)
    };
    reconcile(&remote, &cache, kubeconfigs, None, all);
    let rec = recorded().unwrap();
    assert_eq!(
        phases(&rec),
        [
            (names[2].clone(), RunPhase::Pending),
            (names[1].clone(), RunPhase::Pending),
            (names[0].clone(), RunPhase::Succeeded)
        ]
    );
    // One Workflow per execution, none made twice.
    let executions: std::collections::BTreeSet<String> = argo
        .workflows("daily-ranker")
        .iter()
        .map(|w| w["metadata"]["labels"]["cubist.dev/execution"].to_string())
        .collect();
    assert_eq!(executions.len(), 3, "{executions:?}");
    assert_eq!(uid(&names[0]), first);
}
