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
use cubist_tests::corpus::{copy_tree, examples_repo};
use cubist_tests::kube_local::{point_prod_bj_at, with_crds};
use cubist_tests::repo::{commit_all, edit, init_and_commit};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::{Value, json};

const CLUSTER: &str = "prod-bj";

fn records(r: &Reconciler, pipeline: &str) -> ClusterRuns {
    let tree = StatusTree::new(read_status(r.mirror().repo(), "cubist/status").unwrap());
    let doc: PipelineRuns = tree
        .pipeline_runs("recsys", pipeline)
        .unwrap_or_else(|| panic!("no run records of {pipeline}"))
        .unwrap();
    doc.clusters[CLUSTER].clone()
}

struct Argo {
    api: Api<DynamicObject>,
    rt: tokio::runtime::Runtime,
}

impl Argo {
    /// The Workflows of a pipeline, oldest execution first (names sort by date).
    fn workflows(&self, pipeline: &str) -> Vec<Value> {
        let lp = ListParams::default().labels(&format!("cubist.dev/pipeline={pipeline}"));
        let mut got: Vec<Value> = self
            .rt
            .block_on(self.api.list(&lp))
            .unwrap()
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect();
        got.sort_by_key(|w| w["metadata"]["name"].as_str().unwrap().to_string());
        got
    }

    fn names(&self, pipeline: &str) -> Vec<String> {
        self.workflows(pipeline)
            .iter()
            .map(|w| w["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// Writes the status Argo's controller would: phase, times, one task node.
    fn finish(&self, name: &str, phase: &str) {
        let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let status = json!({"status": {
            "phase": phase, "startedAt": now, "finishedAt": now,
            "message": if phase == "Failed" { "child 'train' failed" } else { "" },
            "nodes": {format!("{name}-1"): {"id": format!("{name}-1"), "name": format!("{name}.train"),
                "displayName": "train", "type": "Pod", "phase": phase, "startedAt": now, "finishedAt": now}},
        }});
        let pp = PatchParams {
            field_manager: Some("workflow-controller".into()),
            ..Default::default()
        };
        self.rt
            .block_on(self.api.patch(name, &pp, &Patch::Merge(status)))
            .unwrap();
    }
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
    let (server, rt, client) = with_crds(CLUSTER);
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow");
    let api = Api::namespaced_with(client, "recsys", &ApiResource::from_gvk(&gvk));
    let argo = Argo { api, rt };

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
    // SAFETY: the only test of this binary; set before any thread reads the environment.
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
    assert!(posts[0].contains(&second) && posts[0].contains("\"text\""), "{}", posts[0]);
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

/// A local HTTP receiver standing in for a Slack-compatible webhook: it keeps every POST body.
struct Receiver {
    addr: std::net::SocketAddr,
    posts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    fn start() -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let posts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = posts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    kept.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        Receiver { addr, posts }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The bodies received about `pipeline`'s runs.
    fn posts_of(&self, pipeline: &str) -> Vec<String> {
        let needle = format!("\"pipeline\":\"{pipeline}\"");
        let posts = self.posts.lock().unwrap();
        posts.iter().filter(|p| p.contains(&needle)).cloned().collect()
    }
}
