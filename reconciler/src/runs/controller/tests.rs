use super::*;
use serde_json::json;

fn daily(
    start_from: &str,
    concurrency: u32,
    depends_on_past: bool,
    keep_last: Option<u32>,
) -> Pipeline {
    let s = Schedule {
        cron: "0 2 * * *".into(),
        timezone: Some("Asia/Shanghai".into()),
        start_from: Some(start_from.into()),
        concurrency: Some(concurrency),
        depends_on_past,
        keep_last,
    };
    Pipeline {
        project: "recsys".into(),
        name: "ranker".into(),
        file: "projects/recsys/pipelines/ranker.yaml".into(),
        schedule: Some((Cadence::new(&s).unwrap(), s)),
        requests: Vec::new(),
        due: Default::default(),
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The Workflow the controller would create for `c`, as the cluster lists it with `phase`.
fn live(p: &Pipeline, c: &Create, phase: &str) -> Value {
    let mut wf = crate::runs::workflow::body(
        &p.project,
        &p.name,
        &c.name,
        c.admit.execution,
        &c.admit.origin,
        c.admit.attempt,
        None,
    );
    wf["status"] = json!({"phase": phase, "startedAt": "2026-12-05T00:00:00Z", "finishedAt": "2026-12-05T00:10:00Z"});
    wf
}

const NOW: &str = "2026-12-05T12:00:00Z";

#[test]
fn chain_goes_one_execution_at_a_time_and_blocks_on_failure() {
    let p = daily("2026-12-01", 1, true, None);
    let s1 = step(
        &p,
        utc(NOW),
        &ClusterRuns::default(),
        Live::Listed(&[]),
        utc(NOW),
    );
    assert_eq!(s1.create.len(), 1);
    assert_eq!(s1.create[0].name, "ranker-20261201");
    assert_eq!(s1.runs.waiting.as_ref().map(|w| w.count), Some(4));
    assert_eq!(s1.runs.runs[0].phase, RunPhase::Pending);
    // The cluster lists it Succeeded: the next date is created.
    let wf = live(&p, &s1.create[0], "Succeeded");
    let s2 = step(
        &p,
        utc(NOW),
        &s1.runs,
        Live::Listed(std::slice::from_ref(&wf)),
        utc(NOW),
    );
    assert_eq!(
        s2.create
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["ranker-20261202"]
    );
    assert_eq!(
        s2.runs
            .runs
            .iter()
            .find(|r| r.workflow == "ranker-20261201")
            .unwrap()
            .duration_seconds,
        Some(600)
    );
    // It fails: nothing more, and the records say who blocks and how to fix it.
    let failed = live(&p, &s2.create[0], "Failed");
    let s3 = step(
        &p,
        utc(NOW),
        &s2.runs,
        Live::Listed(&[wf.clone(), failed.clone()]),
        utc(NOW),
    );
    assert!(s3.create.is_empty());
    let b = s3.runs.blocked.as_ref().expect("blocked");
    assert_eq!(b.workflow, "ranker-20261202");
    assert!(b.fix.contains("date: 2026-12-02"), "{b:?}");
    assert_eq!(
        s3.runs
            .settled_through
            .map(|t| t.date_naive().to_string())
            .as_deref(),
        Some("2026-12-01")
    );
    // A Run for that date: a new attempt, then the chain goes on when it succeeds.
    let mut p = p;
    p.requests = crate::runs::due::run_executions(
        p.schedule.as_ref().map(|(c, _)| c),
        &crate::model::kinds::RunSpec {
            pipeline: "ranker".into(),
            date: Some("2026-12-02".into()),
            execution_dates: None,
            args: Default::default(),
        },
    )
    .into_iter()
    .map(|execution| RunRequest {
        run: "rerun-1202".into(),
        file: "projects/recsys/runs/rerun.yaml".into(),
        execution,
    })
    .collect();
    let s4 = step(
        &p,
        utc(NOW),
        &s3.runs,
        Live::Listed(&[wf.clone(), failed.clone()]),
        utc(NOW),
    );
    assert_eq!(s4.create.len(), 1);
    assert_eq!(s4.create[0].admit.attempt, 2);
    assert!(s4.create[0].name.starts_with("ranker-20261202-r"));
    let rec = s4.runs.runs.iter().find(|r| r.attempt == 2).unwrap();
    assert_eq!(rec.origin.file, "projects/recsys/runs/rerun.yaml");
    let rerun = live(&p, &s4.create[0], "Succeeded");
    let s5 = step(
        &p,
        utc(NOW),
        &s4.runs,
        Live::Listed(&[wf, failed, rerun]),
        utc(NOW),
    );
    assert_eq!(
        s5.create
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["ranker-20261203"]
    );
    assert!(s5.runs.blocked.is_none());
}

#[test]
fn keep_last_records_skipped_runs_and_they_stay_skipped() {
    let p = daily("2026-12-01", 1, false, Some(2));
    let s = step(
        &p,
        utc(NOW),
        &ClusterRuns::default(),
        Live::Listed(&[]),
        utc(NOW),
    );
    let skipped: Vec<&str> = s
        .runs
        .runs
        .iter()
        .filter(|r| r.phase == RunPhase::Skipped)
        .map(|r| r.workflow.as_str())
        .collect();
    assert_eq!(
        skipped,
        ["ranker-20261203", "ranker-20261202", "ranker-20261201"]
    );
    assert_eq!(
        s.create.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["ranker-20261204"]
    );
    // Next pass (nothing listed yet created: a created run vanished is an Error, not re-created).
    let again = step(
        &p,
        utc(NOW),
        &s.runs,
        Live::Listed(&[live(&p, &s.create[0], "Running")]),
        utc(NOW),
    );
    assert!(again.create.is_empty());
    assert_eq!(
        again
            .runs
            .runs
            .iter()
            .filter(|r| r.phase == RunPhase::Skipped)
            .count(),
        3
    );
}

#[test]
fn restart_without_records_reads_the_cluster_and_without_the_cluster_keeps_the_records() {
    let p = daily("2026-12-01", 1, true, None);
    let s1 = step(
        &p,
        utc(NOW),
        &ClusterRuns::default(),
        Live::Listed(&[]),
        utc(NOW),
    );
    let wf = live(&p, &s1.create[0], "Running");
    // Records lost, cluster still has the Workflow: it is known again, nothing duplicated.
    let fresh = step(
        &p,
        utc(NOW),
        &ClusterRuns::default(),
        Live::Listed(std::slice::from_ref(&wf)),
        utc(NOW),
    );
    assert!(fresh.create.is_empty());
    assert_eq!(fresh.runs.runs[0].phase, RunPhase::Running);
    // Records kept, Workflow garbage-collected after it succeeded: the record says Succeeded.
    let done = step(
        &p,
        utc(NOW),
        &ClusterRuns::default(),
        Live::Listed(&[live(&p, &s1.create[0], "Succeeded")]),
        utc(NOW),
    );
    let gc = step(&p, utc(NOW), &done.runs, Live::Listed(&[]), utc(NOW));
    let first = gc
        .runs
        .runs
        .iter()
        .find(|r| r.workflow == "ranker-20261201")
        .unwrap();
    assert_eq!(first.phase, RunPhase::Succeeded);
    assert_eq!(
        gc.create.len(),
        0,
        "ranker-20261202 was created by `done` and is gone: {gc:?}"
    );
    // A Workflow of another pipeline or project is not this pipeline's run.
    let mut other = wf.clone();
    other["metadata"]["labels"][naming::PIPELINE] = json!("other");
    let s = step(
        &p,
        utc(NOW),
        &ClusterRuns::default(),
        Live::Listed(&[other]),
        utc(NOW),
    );
    assert_eq!(s.create.len(), 1);
}
