//! The run grid of a pipeline page and the overview's run counts, from a runs file written
//! with the status-ui types into the fixture tree.

mod common;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use common::{between, fixture, page};
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::*;
use cubist_status_ui::tree::paths;
use cubist_status_ui::yaml::to_yaml;

fn shanghai(day: u32) -> Option<DateTime<FixedOffset>> {
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    Some(tz.with_ymd_and_hms(2026, 11, day, 2, 0, 0).unwrap())
}

fn utc(day: u32, h: u32, m: u32) -> Option<DateTime<Utc>> {
    Some(Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap())
}

fn task(name: &str, phase: RunPhase, message: &str) -> TaskRecord {
    TaskRecord {
        name: name.into(),
        phase,
        started: utc(20, 18, 0),
        finished: utc(20, 18, 20),
        retries: u32::from(phase == RunPhase::Failed) * 2,
        message: message.into(),
    }
}

fn record(day: u32, attempt: u32, phase: RunPhase, tasks: Vec<TaskRecord>) -> RunRecord {
    RunRecord {
        execution: shanghai(day),
        date: shanghai(day).map(|t| t.date_naive()),
        workflow: format!("daily-ranker-202611{day:02}"),
        attempt,
        origin: RunOrigin {
            kind: "schedule".into(),
            ..RunOrigin::default()
        },
        phase,
        started: utc(day - 1, 18, 0),
        finished: (!matches!(phase, RunPhase::Running)).then(|| utc(day - 1, 18, 20).unwrap()),
        duration_seconds: (!matches!(phase, RunPhase::Running)).then_some(1200),
        tasks,
        ..RunRecord::default()
    }
}

/// nlp/daily-ranker: on prod-bj a failed run blocks the chain with two executions waiting; on
/// local a running run, a success, a skipped one and a removed task.
fn daily_ranker_runs() -> PipelineRuns {
    let mut runs = PipelineRuns {
        project: "nlp".into(),
        pipeline: "daily-ranker".into(),
        file: "projects/nlp/pipelines/daily-ranker.yaml".into(),
        ..PipelineRuns::default()
    };
    let mut failed = record(
        20,
        1,
        RunPhase::Failed,
        vec![
            task("extract", RunPhase::Succeeded, ""),
            task(
                "train",
                RunPhase::Failed,
                "OOMKilled <script>alert(1)</script>",
            ),
        ],
    );
    failed.message = "child 'train' failed".into();
    runs.clusters.insert(
        "prod-bj".into(),
        ClusterRuns {
            settled_through: shanghai(20),
            waiting: Some(Waiting {
                count: 2,
                oldest: shanghai(21),
                newest: shanghai(22),
                more_due: false,
            }),
            blocked: Some(Blocked {
                workflow: "daily-ranker-20261120".into(),
                execution: shanghai(20),
                reason: "dependsOnPast: daily-ranker-20261120 failed".into(),
                fix: "commit a Run for 2026-11-20 to re-run it".into(),
            }),
            runs: vec![failed],
        },
    );
    let mut skipped = record(19, 1, RunPhase::Skipped, vec![]);
    skipped.message = "keepLast: 2 kept newer runs".into();
    skipped.started = None;
    skipped.finished = None;
    skipped.duration_seconds = None;
    let mut rerun = record(
        20,
        2,
        RunPhase::Succeeded,
        vec![
            task("extract", RunPhase::Succeeded, ""),
            task("old-step", RunPhase::Succeeded, ""),
        ],
    );
    rerun.origin = RunOrigin {
        kind: "run".into(),
        run: "rerun-1120".into(),
        file: "projects/nlp/runs/rerun-1120.yaml".into(),
    };
    runs.clusters.insert(
        "local".into(),
        ClusterRuns {
            runs: vec![
                record(
                    22,
                    1,
                    RunPhase::Running,
                    vec![task("extract", RunPhase::Running, "")],
                ),
                rerun,
                skipped,
            ],
            ..ClusterRuns::default()
        },
    );
    runs
}

fn with_runs(mut tree: StatusTree, runs: &PipelineRuns) -> StatusTree {
    let path = paths::runs(&runs.project, &runs.pipeline);
    tree.files_mut()
        .insert(path, to_yaml(runs).unwrap().into_bytes());
    tree
}

#[test]
fn the_grid_replaces_the_digest_runs_with_rows_per_execution_and_cells_per_task() {
    let tree = with_runs(fixture(), &daily_ranker_runs());
    let html = page(&tree, "/projects/nlp/pipelines/daily-ranker");
    let runs = between(&html, "<h2>Runs</h2>", "</main>");
    // The digest's old list (runs of 2026-11-21 on local) is gone.
    assert!(!runs.contains("daily-ranker-20261121"), "{runs}");

    // prod-bj: blocked with the reason and the fix, waiting count, the failed run.
    let prod = between(runs, "<h3>prod-bj</h3>", "</section>");
    assert!(prod.contains("<strong>Blocked:</strong> dependsOnPast: daily-ranker-20261120 failed"));
    assert!(prod.contains("<strong>To unblock:</strong> commit a Run for 2026-11-20 to re-run it"));
    assert!(prod.contains(r#"<span class="badge warn">Waiting 2</span> executions due"#));
    assert!(prod.contains("oldest 2026-11-21 02:00, newest 2026-11-22 02:00"));
    // Columns: the pipeline's four tasks in order, then a removed task some record names (the
    // same columns on every cluster).
    let head = between(prod, "<thead>", "</thead>");
    assert_eq!(
        head,
        "<tr><th>Execution</th><th>Run</th><th>extract</th><th>clean</th><th>features</th><th>train</th><th>old-step</th></tr>"
    );
    assert!(prod.contains(r#"<code title="2026-11-20 02:00 +08:00">2026-11-20 02:00</code>"#));
    assert!(prod.contains(
        r#"<span class="badge bad">Failed</span> <span class="small muted">20 min 0 s</span>"#
    ));
    // Cells coloured by phase, times and message in the tooltip, escaped.
    let train = between(prod, r#"<td data-label="train""#, "</td>");
    assert!(train.contains(r#"class="cell bad small""#), "{train}");
    assert!(
        train.contains("title=\"train: Failed\nstarted 2026-11-20 18:00:00 UTC\nfinished 2026-11-20 18:20:00 UTC\nOOMKilled &lt;script&gt;alert(1)&lt;/script&gt;\nretries: 2\""),
        "{train}"
    );
    assert!(
        train.ends_with("Failed <span class=\"muted\">↻2</span>"),
        "{train}"
    );
    assert!(prod.contains(r#"<td data-label="extract" class="cell ok small""#));
    assert!(prod.contains(r#"<td data-label="clean" class="cell idle small">·"#));
    assert!(!html.contains("<script>"), "nothing unescaped");

    // local: newest first; a re-run names its Run and attempt; a removed task gets a column;
    // a skipped run says why across the task columns.
    let local = between(runs, "<h3>local</h3>", "</section>");
    let order: Vec<usize> = [
        "2026-11-22 02:00<",
        "2026-11-20 02:00<",
        "2026-11-19 02:00<",
    ]
    .iter()
    .map(|d| local.find(d).unwrap_or_else(|| panic!("{d} in {local}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first");
    assert!(local.contains("<th>old-step</th>"));
    assert!(local.contains("run rerun-1120, attempt 2"));
    assert!(local.contains(
        r#"<td colspan="5" data-label="Tasks" class="cell none small">keepLast: 2 kept newer runs</td>"#
    ));
    assert!(local.contains(r#"<span class="badge none">Skipped</span>"#));
    assert!(
        local.contains(r#"<tr class="run" data-phase="Running">"#),
        "a running row"
    );
    // The heading's badge is the newest run's phase.
    assert!(html.contains(r#"daily-ranker<span class="badge warn">Running</span></h1>"#));
}

#[test]
fn a_pipeline_without_a_runs_file_keeps_the_digest_list_and_a_corrupt_one_says_so() {
    let html = page(&fixture(), "/projects/nlp/pipelines/daily-ranker");
    assert!(between(&html, "<h2>Runs</h2>", "</table>").contains("daily-ranker-20261121"));
    let mut tree = fixture();
    tree.files_mut().insert(
        paths::runs("nlp", "daily-ranker"),
        b"clusters: [not, a, map]\n".to_vec(),
    );
    let html = page(&tree, "/projects/nlp/pipelines/daily-ranker");
    let runs = between(&html, "<h2>Runs</h2>", "</main>");
    assert!(runs.contains("status/runs/nlp/daily-ranker.yaml"), "{runs}");
    assert!(runs.contains("S0001"), "{runs}");
    assert!(
        runs.contains("daily-ranker-20261121"),
        "the digest's list stays"
    );
}

#[test]
fn the_overview_counts_failed_and_blocked_runs_and_links_them() {
    let before = page(&fixture(), "/");
    assert!(
        !before.contains("<h2>Runs</h2>"),
        "no runs files, no section"
    );

    let tree = with_runs(fixture(), &daily_ranker_runs());
    let html = page(&tree, "/");
    let runs = between(&html, "<h2>Runs</h2>", "<h2>Projects</h2>");
    assert!(
        runs.contains(
            r#"<span class="badge bad">Failed 1</span> <span class="badge bad">Blocked 1</span>"#
        ),
        "{runs}"
    );
    assert!(runs.contains(
        r#"<a href="/projects/nlp/pipelines/daily-ranker">nlp/daily-ranker</a> on prod-bj: dependsOnPast: daily-ranker-20261120 failed. commit a Run for 2026-11-20 to re-run it"#
    ), "{runs}");
    assert!(
        runs.contains(
            r#"<code>daily-ranker-20261120</code> (2026-11-20 02:00) child &#39;train&#39; failed"#
        ),
        "{runs}"
    );
    // The successful second attempt on local clears that execution there.
    assert_eq!(runs.matches("<li>").count(), 2, "{runs}");
}

#[test]
fn hostile_names_in_a_runs_file_are_escaped_everywhere() {
    let mut runs = daily_ranker_runs();
    let evil = "\"><img src=x onerror=alert(1)>";
    let mut c = runs.clusters.remove("prod-bj").unwrap();
    c.runs[0].tasks[1].name = evil.into();
    c.runs[0].workflow = evil.into();
    c.blocked.as_mut().unwrap().fix = evil.into();
    runs.clusters.insert(evil.into(), c);
    let tree = with_runs(fixture(), &runs);
    for path in ["/", "/projects/nlp/pipelines/daily-ranker"] {
        let html = page(&tree, path);
        assert!(!html.contains("<img"), "{path}");
        assert!(
            html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
            "{path}"
        );
    }
}
