//! `cubist runs` as a process: the run table read from a status branch holding a runs file
//! (written with the status-ui types), and `cubist runs next`: a schedule's next execution
//! times in its timezone, across a daylight-saving change; errors name what exists.

#[path = "../../tests/support/corpus.rs"]
#[allow(dead_code)]
mod corpus;

mod common;
use chrono::{FixedOffset, TimeZone, Utc};
use common::{cubist_alone as cubist, stdout_ok};
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::{
    Blocked, ClusterRuns, PipelineRuns, RunOrigin, RunRecord, TaskRecord, Waiting,
};
use cubist_status_ui::tree::paths;
use cubist_status_ui::yaml::to_yaml;
use std::path::Path;
use std::process::Output;

fn stderr_failed(o: &Output, what: &str) -> String {
    assert_eq!(o.status.code(), Some(2), "{what}: {o:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A git repository whose `cubist/status` branch holds `files`.
fn status_repo(dir: &Path, files: &[(String, String)]) {
    let repo = git2::Repository::init_bare(dir).unwrap();
    let files = files
        .iter()
        .map(|(p, t)| (p.clone(), t.clone().into_bytes()))
        .collect();
    let tree = cubist::report::status_branch::tree_with(&repo, None, &files).unwrap();
    let tree = repo.find_tree(tree).unwrap();
    let sig = git2::Signature::now("cubist", "cubist@localhost").unwrap();
    repo.commit(
        Some("refs/heads/cubist/status"),
        &sig,
        &sig,
        "status",
        &tree,
        &[],
    )
    .unwrap();
}

fn runs_file() -> PipelineRuns {
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    let at = |d| Some(tz.with_ymd_and_hms(2026, 12, d, 2, 0, 0).unwrap());
    let utc = |d, h, m| Some(Utc.with_ymd_and_hms(2026, 12, d, h, m, 0).unwrap());
    let mut runs = PipelineRuns {
        project: "recsys".into(),
        pipeline: "daily-ranker".into(),
        file: "projects/recsys/pipelines/daily-ranker.yaml".into(),
        ..PipelineRuns::default()
    };
    let failed = RunRecord {
        execution: at(2),
        workflow: "daily-ranker-20261202".into(),
        attempt: 1,
        origin: RunOrigin {
            kind: "schedule".into(),
            ..RunOrigin::default()
        },
        phase: RunPhase::Failed,
        started: utc(1, 18, 0),
        finished: utc(1, 18, 20),
        duration_seconds: Some(1235),
        message: "child 'train' failed".into(),
        tasks: vec![TaskRecord {
            name: "train".into(),
            phase: RunPhase::Failed,
            retries: 2,
            message: "OOMKilled\u{1b}[31m".into(),
            ..TaskRecord::default()
        }],
        ..RunRecord::default()
    };
    let succeeded = RunRecord {
        execution: at(1),
        workflow: "daily-ranker-20261201".into(),
        attempt: 1,
        phase: RunPhase::Succeeded,
        duration_seconds: Some(600),
        ..RunRecord::default()
    };
    runs.clusters.insert(
        "prod-bj".into(),
        ClusterRuns {
            waiting: Some(Waiting {
                count: 2,
                oldest: at(3),
                newest: at(4),
                more_due: false,
            }),
            blocked: Some(Blocked {
                workflow: "daily-ranker-20261202".into(),
                execution: at(2),
                reason: "dependsOnPast: daily-ranker-20261202 failed".into(),
                fix: "commit a Run for 2026-12-02 to re-run it".into(),
            }),
            runs: vec![failed, succeeded],
            ..ClusterRuns::default()
        },
    );
    runs
}

#[test]
fn runs_prints_the_table_of_the_status_branch_and_names_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("platform.git");
    let mut other = runs_file();
    other.project = "nlp".into();
    other.pipeline = "weekly-embeddings".into();
    other.clusters.clear();
    status_repo(
        &repo,
        &[
            (
                paths::runs("recsys", "daily-ranker"),
                to_yaml(&runs_file()).unwrap(),
            ),
            (
                paths::runs("nlp", "weekly-embeddings"),
                to_yaml(&other).unwrap(),
            ),
        ],
    );
    let out = stdout_ok(
        &cubist(&["runs", "--repo", s(&repo), "--project", "recsys"]),
        "runs",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "recsys/daily-ranker  (projects/recsys/pipelines/daily-ranker.yaml)"
    );
    assert!(out.contains("  prod-bj: BLOCKED: dependsOnPast: daily-ranker-20261202 failed. To unblock: commit a Run for 2026-12-02 to re-run it\n"), "{out}");
    assert!(
        out.contains("  prod-bj: 2 waiting to start, oldest 2026-12-03 02:00 +08:00\n"),
        "{out}"
    );
    let header = lines
        .iter()
        .position(|l| l.starts_with("  CLUSTER"))
        .unwrap();
    assert!(lines[header].contains("EXECUTION") && lines[header].contains("TASKS"));
    // Newest first, aligned, phase and duration, failed tasks with their message, control
    // characters of a message escaped.
    let first = lines[header + 1];
    assert!(
        first.starts_with("  prod-bj  2026-12-02 02:00 +08:00  Failed     20 min 35 s"),
        "{out}"
    );
    assert!(
        first.contains("train:Failed (OOMKilled\\u{1b}[31m)"),
        "{first:?}"
    );
    assert!(!out.contains('\u{1b}'));
    assert!(
        lines[header + 2].contains("2026-12-01 02:00 +08:00  Succeeded  10 min 0 s"),
        "{out}"
    );
    assert!(
        out.contains("  needs attention: 1 failed, 1 blocked\n"),
        "{out}"
    );
    assert!(
        !out.contains("weekly-embeddings"),
        "only the project asked for"
    );

    // Everything without a filter; unknown names list what exists.
    let all = stdout_ok(&cubist(&["runs", "--repo", s(&repo)]), "runs");
    assert!(all.contains("nlp/weekly-embeddings") && all.contains("recsys/daily-ranker"));
    let err = stderr_failed(
        &cubist(&["runs", "--repo", s(&repo), "--project", "nosuch"]),
        "unknown project",
    );
    assert!(
        err.contains("no runs for project `nosuch`; projects with runs: nlp, recsys"),
        "{err}"
    );
    let err = stderr_failed(
        &cubist(&[
            "runs",
            "--repo",
            s(&repo),
            "--project",
            "recsys",
            "--pipeline",
            "x",
        ]),
        "unknown pipeline",
    );
    assert!(
        err.contains(
            "no runs for pipeline `x` in project `recsys`; pipelines with runs: recsys/daily-ranker"
        ),
        "{err}"
    );

    // A repository without a status branch says what to run first.
    let empty = dir.path().join("empty.git");
    git2::Repository::init_bare(&empty).unwrap();
    let err = stderr_failed(&cubist(&["runs", "--repo", s(&empty)]), "no branch");
    assert!(err.contains("no branch `cubist/status`"), "{err}");
}

#[test]
fn runs_next_lists_executions_in_the_schedule_timezone() {
    let examples = corpus::examples_repo();
    let out = stdout_ok(
        &cubist(&[
            "runs",
            "next",
            "daily-ranker",
            "-n",
            "3",
            "--repo",
            s(&examples),
            "--after",
            "2026-12-04T17:00:00Z",
        ]),
        "runs next",
    );
    assert_eq!(
        out,
        "recsys/daily-ranker: at 02:00 every day (0 2 * * *, Asia/Shanghai)\n\
         2026-12-05 02:00 +08:00 Sat\n2026-12-06 02:00 +08:00 Sun\n2026-12-07 02:00 +08:00 Mon\n"
    );

    // America/New_York springs forward on 2026-03-08: the offset changes from -05:00 to -04:00.
    let dir = corpus::base();
    let daily = dir.path().join("projects/p/pipelines/daily.yaml");
    let text = std::fs::read_to_string(&daily)
        .unwrap()
        .replace("timezone: Asia/Shanghai", "timezone: America/New_York");
    std::fs::write(&daily, text).unwrap();
    let out = stdout_ok(
        &cubist(&[
            "runs",
            "next",
            "daily",
            "-n",
            "3",
            "--repo",
            s(dir.path()),
            "--after",
            "2026-03-06T12:00:00Z",
        ]),
        "runs next across DST",
    );
    let dates: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        dates,
        [
            "2026-03-07 02:00 -05:00 Sat",
            "2026-03-08 03:00 -04:00 Sun",
            "2026-03-09 02:00 -04:00 Mon"
        ],
        "{out}"
    );

    let err = stderr_failed(
        &cubist(&["runs", "next", "nosuch", "--repo", s(&examples)]),
        "unknown pipeline",
    );
    assert!(err.contains("unknown pipeline `nosuch`; pipelines are: nlp/llm-finetune, nlp/weekly-embeddings, recsys/ctr-hpo, recsys/daily-ranker"), "{err}");
    let err = stderr_failed(
        &cubist(&["runs", "next", "llm-finetune", "--repo", s(&examples)]),
        "unscheduled",
    );
    assert!(
        err.contains("pipeline `nlp/llm-finetune` has no schedule"),
        "{err}"
    );
    let err = stderr_failed(
        &cubist(&[
            "runs",
            "next",
            "daily-ranker",
            "--project",
            "nope",
            "--repo",
            s(&examples),
        ]),
        "unknown project",
    );
    assert!(
        err.contains("unknown project `nope`; projects are: nlp, recsys, vision"),
        "{err}"
    );
    let o = cubist(&[
        "runs",
        "next",
        "daily-ranker",
        "-n",
        "100000",
        "--repo",
        s(&examples),
    ]);
    assert_eq!(o.status.code(), Some(2), "-n is bounded");
}
