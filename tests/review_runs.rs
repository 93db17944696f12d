//! A merged pull request that added a `Run` gets one comment when the Run's executions have
//! finished: run records written on the remote's status branch (with the status-ui types), the
//! merge commit's pull request found through the fake GitHub, the comment recorded on the
//! status branch so a second check (or a restarted reviewer) never posts it again.

mod review_support;

use chrono::{FixedOffset, TimeZone, Utc};
use cubist::report::status_branch::{Author, add_status_files, read_status};
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::{ClusterRuns, PipelineRuns, RunOrigin, RunRecord, TaskRecord};
use cubist_status_ui::tree::paths;
use cubist_status_ui::yaml::to_yaml;
use review_support::fake_github::FakeGitHub;
use review_support::platform::Platform;
use review_support::reviewer;
use std::collections::BTreeMap;

const RUN_FILE: &str = "projects/p/runs/backfill.yaml";
const STATUS: &str = "cubist/status";

/// The runs of pipeline `daily` on `local`: the three dates of Run `backfill`, the newest in
/// `newest` phase, 2026-11-02 failed in task `train`; and one scheduled run.
fn runs(newest: RunPhase) -> PipelineRuns {
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    let from_run = |day: u32, phase: RunPhase| RunRecord {
        execution: Some(tz.with_ymd_and_hms(2026, 11, day, 2, 0, 0).unwrap()),
        date: Some(chrono::NaiveDate::from_ymd_opt(2026, 11, day).unwrap()),
        workflow: format!("daily-202611{day:02}-backfill"),
        attempt: 1,
        origin: RunOrigin {
            kind: "run".into(),
            run: "backfill".into(),
            file: RUN_FILE.into(),
        },
        phase,
        started: Some(Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()),
        duration_seconds: Some(600 + u64::from(day)),
        ..RunRecord::default()
    };
    let mut failed = from_run(2, RunPhase::Failed);
    failed.tasks = vec![TaskRecord {
        name: "train".into(),
        phase: RunPhase::Failed,
        retries: 1,
        message: "OOMKilled | exit 137 <b>".into(),
        ..TaskRecord::default()
    }];
    let scheduled = RunRecord {
        origin: RunOrigin {
            kind: "schedule".into(),
            ..RunOrigin::default()
        },
        phase: RunPhase::Running,
        ..from_run(4, RunPhase::Running)
    };
    let mut out = PipelineRuns {
        project: "p".into(),
        pipeline: "daily".into(),
        file: "projects/p/pipelines/daily.yaml".into(),
        ..PipelineRuns::default()
    };
    out.clusters.insert(
        "local".into(),
        ClusterRuns {
            runs: vec![
                scheduled,
                from_run(3, newest),
                failed,
                from_run(1, RunPhase::Succeeded),
            ],
            ..ClusterRuns::default()
        },
    );
    out
}

/// Writes the runs file on the remote's status branch, as the loop would.
fn write_runs(platform: &Platform, runs: &PipelineRuns) {
    let scratch = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init_bare(scratch.path()).unwrap();
    let files = BTreeMap::from([(
        paths::runs("p", "daily"),
        to_yaml(runs).unwrap().into_bytes(),
    )]);
    add_status_files(
        &repo,
        Some(&platform.url()),
        STATUS,
        &Author::default(),
        "status: runs",
        &files,
    )
    .unwrap();
}

/// The remote's status tree.
fn remote_status(platform: &Platform) -> BTreeMap<String, Vec<u8>> {
    let scratch = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init_bare(scratch.path()).unwrap();
    cubist::source::git::fetch_branches(&repo, &platform.url(), &[STATUS]).unwrap();
    read_status(&repo, STATUS).unwrap()
}

#[tokio::test]
async fn a_finished_run_is_commented_once_on_the_pull_request_that_added_it() {
    let github = FakeGitHub::default();
    let server = github.start().await;
    let platform = Platform::new();
    // The Run file came with main's commit, the merge commit of pull request 7.
    let main = platform.tip("refs/heads/main");
    github.add_merge(&main, 7);
    let reviewer = reviewer(&server, &platform).with_status_branch(STATUS);

    // Nothing recorded yet, then one date still running: no comment.
    assert_eq!(reviewer.report_runs().await.unwrap(), []);
    write_runs(&platform, &runs(RunPhase::Running));
    assert_eq!(reviewer.report_runs().await.unwrap(), []);
    assert!(github.comments(7).is_empty());

    // Every date finished: one comment on #7, recorded on the status branch.
    write_runs(&platform, &runs(RunPhase::Succeeded));
    let done = reviewer.report_runs().await.unwrap();
    let comments = github.comments(7);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(done, [("p/backfill".to_string(), Some((7, comments[0].0)))]);
    let body = &comments[0].1;
    assert!(body.starts_with("<!-- cubist:run p/backfill -->"), "{body}");
    assert!(
        body.contains("### cubist run `p/backfill`: ❌ 1 of 3 executions failed"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "[`{RUN_FILE}`](https://github.com/acme/platform/blob/{main}/{RUN_FILE})"
        )),
        "{body}"
    );
    // Oldest first; phase, duration and the failed task's message (escaped for the table).
    let rows: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("| `local`"))
        .collect();
    assert_eq!(
        rows,
        [
            "| `local` | 2026-11-01 | Succeeded | 10 min 1 s | — |",
            "| `local` | 2026-11-02 | Failed | 10 min 2 s | `train`: OOMKilled \\| exit 137 &lt;b&gt; |",
            "| `local` | 2026-11-03 | Succeeded | 10 min 3 s | — |",
        ],
        "{body}"
    );
    assert!(
        !body.contains("daily-20261104"),
        "scheduled runs are not the Run's"
    );

    let status = remote_status(&platform);
    let record = String::from_utf8(status["status/run-comments/p/backfill.yaml"].clone()).unwrap();
    assert!(
        record.contains("pull: 7") && record.contains(&main),
        "{record}"
    );
    assert!(
        status.contains_key(&paths::runs("p", "daily")),
        "the runs file stays"
    );

    // Checked again, and by a new reviewer (a restart): nothing more is posted.
    assert_eq!(reviewer.report_runs().await.unwrap(), []);
    let restarted = review_support::reviewer(&server, &platform).with_status_branch(STATUS);
    assert_eq!(restarted.report_runs().await.unwrap(), []);
    assert_eq!(github.comments(7).len(), 1);
}
