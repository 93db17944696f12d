//! What the run views share (the page's run grid, the overview's counts and `cubist runs`):
//! the task columns of a run table, the runs that need attention, and how run times read.

use chrono::{DateTime, FixedOffset, Utc};

use crate::doc::RunPhase;
use crate::runs::{ClusterRuns, PipelineRuns, RunRecord, TaskRecord};

/// Most columns a record's tasks add beyond the pipeline's own (a runs file is read as it is).
pub const MAX_EXTRA_COLUMNS: usize = 20;

/// The task columns of a pipeline's run table: the pipeline's tasks in `declared` order, then
/// any other task a record names (a task removed since), in the order first met, at most
/// [`MAX_EXTRA_COLUMNS`] of those.
pub fn task_columns<'a>(
    declared: impl IntoIterator<Item = &'a str>,
    clusters: impl IntoIterator<Item = &'a ClusterRuns>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in declared {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    let limit = out.len() + MAX_EXTRA_COLUMNS;
    let records = clusters
        .into_iter()
        .flat_map(|c| c.runs.iter().flat_map(|r| r.tasks.iter()));
    for t in records {
        if out.len() == limit {
            break;
        }
        if !out.contains(&t.name) {
            out.push(t.name.clone());
        }
    }
    out
}

/// The record of task `name` in `run`, if the run got that far.
pub fn task<'a>(run: &'a RunRecord, name: &str) -> Option<&'a TaskRecord> {
    run.tasks.iter().find(|t| t.name == name)
}

/// Whether a run is over: finished (any way) or never to be created.
pub fn is_finished(phase: RunPhase) -> bool {
    matches!(
        phase,
        RunPhase::Succeeded | RunPhase::Failed | RunPhase::Error | RunPhase::Skipped
    )
}

/// Why a pipeline's runs on one cluster need someone.
#[derive(Debug, Clone, PartialEq)]
pub enum Attention<'a> {
    /// The newest attempt of an execution failed (phase Failed or Error).
    Failed {
        /// Cluster name.
        cluster: &'a str,
        /// That attempt.
        run: &'a RunRecord,
    },
    /// A `dependsOnPast` chain is blocked.
    Blocked {
        /// Cluster name.
        cluster: &'a str,
        /// What blocks it and how to unblock it.
        blocked: &'a crate::runs::Blocked,
    },
}

/// The runs of `runs` that need attention, per cluster: the blocked chain first, then each
/// execution whose newest attempt failed (a later successful attempt clears it), newest first.
pub fn attention(runs: &PipelineRuns) -> Vec<Attention<'_>> {
    let mut out = Vec::new();
    for (cluster, c) in &runs.clusters {
        if let Some(b) = &c.blocked {
            out.push(Attention::Blocked {
                cluster,
                blocked: b,
            });
        }
        let mut seen: Vec<(Option<DateTime<FixedOffset>>, &str)> = Vec::new();
        for r in &c.runs {
            // Records are newest first, so the first one of an execution is its newest attempt.
            let key = (r.execution, execution_key(r));
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if matches!(r.phase, RunPhase::Failed | RunPhase::Error) {
                out.push(Attention::Failed { cluster, run: r });
            }
        }
    }
    out
}

/// What tells two executions apart when a record has no execution time: its date, else its
/// Workflow name.
fn execution_key(r: &RunRecord) -> &str {
    if r.execution.is_some() || r.date.is_some() {
        ""
    } else {
        &r.workflow
    }
}

/// A run's execution as people read it: `2026-12-02 02:00` in the schedule's timezone (its
/// offset as `+08:00` when `with_offset`), else its date, else `—`.
pub fn execution_text(r: &RunRecord, with_offset: bool) -> String {
    match (r.execution, r.date) {
        (Some(t), _) if with_offset => t.format("%Y-%m-%d %H:%M %:z").to_string(),
        (Some(t), _) => t.format("%Y-%m-%d %H:%M").to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "—".to_string(),
    }
}

/// A run's duration: its recorded seconds, else finished minus started, else (still running)
/// `now` minus started.
pub fn duration_secs(
    recorded: Option<u64>,
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<u64> {
    recorded.or_else(|| {
        let end = finished.unwrap_or(now);
        u64::try_from((end - started?).num_seconds()).ok()
    })
}

/// Seconds in words: `35 s`, `20 min 35 s`, `3 h 5 min`, `2 d 4 h`.
pub fn duration_words(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// How an execution's run came about: `schedule`, or `run <name>` for a `Run` manifest, with
/// `attempt N` past the first.
pub fn origin_text(r: &RunRecord) -> String {
    let origin = if r.origin.kind == "run" && !r.origin.run.is_empty() {
        format!("run {}", r.origin.run)
    } else if r.origin.kind.is_empty() {
        "schedule".to_string()
    } else {
        r.origin.kind.clone()
    };
    if r.attempt > 1 {
        format!("{origin}, attempt {}", r.attempt)
    } else {
        origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::Blocked;
    use chrono::TimeZone;

    fn at(day: u32) -> Option<DateTime<FixedOffset>> {
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        Some(tz.with_ymd_and_hms(2026, 12, day, 2, 0, 0).unwrap())
    }

    fn run(day: u32, attempt: u32, phase: RunPhase, tasks: &[&str]) -> RunRecord {
        RunRecord {
            execution: at(day),
            workflow: format!("p-202612{day:02}"),
            attempt,
            phase,
            tasks: tasks
                .iter()
                .map(|t| TaskRecord {
                    name: t.to_string(),
                    ..TaskRecord::default()
                })
                .collect(),
            ..RunRecord::default()
        }
    }

    #[test]
    fn columns_keep_the_declared_order_and_add_removed_tasks() {
        let c = ClusterRuns {
            runs: vec![
                run(3, 1, RunPhase::Running, &["train", "extract"]),
                run(2, 1, RunPhase::Failed, &["extract", "old"]),
            ],
            ..ClusterRuns::default()
        };
        assert_eq!(
            task_columns(["extract", "train"], [&c]),
            ["extract", "train", "old"]
        );
        // A runs file naming thousands of other tasks adds a bounded number of columns.
        let names: Vec<String> = (0..5000).map(|i| format!("t{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let many = ClusterRuns {
            runs: vec![run(1, 1, RunPhase::Failed, &names)],
            ..ClusterRuns::default()
        };
        assert_eq!(task_columns(["a"], [&many]).len(), 1 + MAX_EXTRA_COLUMNS);
    }

    #[test]
    fn a_later_attempt_that_succeeded_clears_a_failure() {
        let mut runs = PipelineRuns::default();
        runs.clusters.insert(
            "a".into(),
            ClusterRuns {
                blocked: Some(Blocked {
                    workflow: "p-20261201".into(),
                    ..Blocked::default()
                }),
                runs: vec![
                    run(3, 2, RunPhase::Succeeded, &[]),
                    run(3, 1, RunPhase::Failed, &[]),
                    run(2, 1, RunPhase::Error, &[]),
                    run(1, 1, RunPhase::Failed, &[]),
                ],
                ..ClusterRuns::default()
            },
        );
        let got: Vec<String> = attention(&runs)
            .iter()
            .map(|a| match a {
                Attention::Blocked { blocked, .. } => format!("blocked {}", blocked.workflow),
                Attention::Failed { run, .. } => format!("failed {}", run.workflow),
            })
            .collect();
        assert_eq!(
            got,
            [
                "blocked p-20261201",
                "failed p-20261202",
                "failed p-20261201"
            ]
        );
    }

    #[test]
    fn durations_and_executions_read_plainly() {
        assert_eq!(duration_words(35), "35 s");
        assert_eq!(duration_words(1235), "20 min 35 s");
        assert_eq!(duration_words(3 * 3600 + 300), "3 h 5 min");
        assert_eq!(duration_words(2 * 86_400 + 4 * 3600), "2 d 4 h");
        let r = run(2, 2, RunPhase::Failed, &[]);
        assert_eq!(execution_text(&r, true), "2026-12-02 02:00 +08:00");
        assert_eq!(origin_text(&r), "schedule, attempt 2");
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 10, 0).unwrap();
        let started = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        assert_eq!(duration_secs(None, Some(started), None, now), Some(600));
        assert_eq!(duration_secs(Some(5), Some(started), None, now), Some(5));
        assert_eq!(duration_secs(None, None, None, now), None);
    }
}
