//! Schedule changes of a pull request: per pipeline whose `cron`, `timezone` or `startFrom`
//! the head changes (or whose schedule it adds or removes), the next execution times before →
//! after, and how many catch-up runs merging creates: the head schedule's executions from its
//! catch-up origin to now, minus those the runs file already records or has settled.

use crate::model::Model;
use crate::model::kinds::Schedule;
use crate::runs::dates::Cadence;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use cubist_status_ui::runs::{ClusterRuns, PipelineRuns};

/// Next execution times shown per side.
pub const NEXT: usize = 5;
/// Most catch-up executions counted; past it the count says "at least".
pub const MAX_CATCH_UP: usize = 10_000;

/// One pipeline's schedule, base → head.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleChange {
    /// Project name.
    pub project: String,
    /// Pipeline name.
    pub pipeline: String,
    /// The pipeline's file at the head (at the base when the head removed it).
    pub file: String,
    /// `cron timezone` at the base, `None` when unscheduled there.
    pub before: Option<String>,
    /// `cron timezone` at the head, `None` when unscheduled there.
    pub after: Option<String>,
    /// The next executions of the base schedule.
    pub next_before: Vec<DateTime<FixedOffset>>,
    /// The next executions of the head schedule.
    pub next_after: Vec<DateTime<FixedOffset>>,
    /// The catch-up merging creates, when the head is scheduled.
    pub catch_up: Option<CatchUp>,
}

/// Catch-up runs of a head schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUp {
    /// Where catch-up starts: `startFrom`, else when the pipeline was first seen scheduled
    /// (the runs file's `since`); `None`: no catch-up (a new pipeline without `startFrom`).
    pub from: Option<DateTime<Utc>>,
    /// Per cluster of the runs file (one entry named `""` without a runs file: every cluster
    /// the project is placed on): executions due that no record has and none is settled.
    pub due: Vec<(String, usize)>,
    /// True when [`MAX_CATCH_UP`] cut the count.
    pub capped: bool,
    /// The head's `keepLast`: of the due runs only the newest this many start.
    pub keep_last: Option<u32>,
}

/// The schedule changes between `base` and `head`, with the runs files `runs(project,
/// pipeline)` gives (none when the status branch has none), measured at `now`.
pub fn schedule_changes(
    base: &Model,
    head: &Model,
    runs: impl Fn(&str, &str) -> Option<PipelineRuns>,
    now: DateTime<Utc>,
) -> Vec<ScheduleChange> {
    let mut out = Vec::new();
    let keys = |m: &Model| -> Vec<(String, String)> {
        m.projects
            .iter()
            .flat_map(|(p, proj)| proj.pipelines.keys().map(move |n| (p.clone(), n.clone())))
            .collect()
    };
    let mut all = keys(base);
    all.extend(keys(head));
    all.sort();
    all.dedup();
    for (project, pipeline) in all {
        let (b, h) = (
            find(base, &project, &pipeline),
            find(head, &project, &pipeline),
        );
        let sb = b.and_then(|m| m.spec.schedule.as_ref());
        let sh = h.and_then(|m| m.spec.schedule.as_ref());
        if !changed(sb, sh) {
            continue;
        }
        let file = h.or(b).map(|m| m.file().to_string()).unwrap_or_default();
        let cadence = |s: Option<&Schedule>| s.and_then(|s| Cadence::new(s).ok());
        let (cb, ch) = (cadence(sb), cadence(sh));
        let next = |c: &Option<Cadence>| {
            c.as_ref()
                .map(|c| c.next(now, NEXT).into_iter().map(|e| e.at).collect())
                .unwrap_or_default()
        };
        let recorded = runs(&project, &pipeline);
        let catch_up = match (sh, &ch) {
            (Some(s), Some(c)) => Some(catch_up(s, c, recorded.as_ref(), b.is_some(), now)),
            _ => None,
        };
        out.push(ScheduleChange {
            project,
            pipeline,
            file,
            before: sb.map(words),
            after: sh.map(words),
            next_before: next(&cb),
            next_after: next(&ch),
            catch_up,
        });
    }
    out
}

/// Pipeline `pipeline` of `project` in `m`.
fn find<'m>(
    m: &'m Model,
    project: &str,
    pipeline: &str,
) -> Option<&'m crate::model::Manifest<crate::model::kinds::PipelineSpec>> {
    m.projects.get(project)?.pipelines.get(pipeline)
}

/// Whether the executions differ: cron, timezone or catch-up start changed, or a schedule was
/// added or removed (concurrency and the like change admission, not the executions).
fn changed(before: Option<&Schedule>, after: Option<&Schedule>) -> bool {
    match (before, after) {
        (None, None) => false,
        (Some(b), Some(a)) => {
            b.cron != a.cron || b.timezone != a.timezone || b.start_from != a.start_from
        }
        _ => true,
    }
}

fn words(s: &Schedule) -> String {
    format!("{} {}", s.cron, s.timezone.as_deref().unwrap_or("UTC"))
}

fn catch_up(
    s: &Schedule,
    c: &Cadence,
    recorded: Option<&PipelineRuns>,
    existed: bool,
    now: DateTime<Utc>,
) -> CatchUp {
    let start = s
        .start_from
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .map(|d| c.start_of(d));
    // Without startFrom the controller starts from when it first saw the pipeline scheduled.
    let since = recorded.and_then(|r| r.since).filter(|_| existed);
    let from = start.or(since);
    let Some(from) = from else {
        return CatchUp {
            from: None,
            due: vec![(String::new(), 0)],
            capped: false,
            keep_last: s.keep_last,
        };
    };
    let due = c.between(from, now, MAX_CATCH_UP + 1);
    let capped = due.len() > MAX_CATCH_UP;
    let due = &due[..due.len().min(MAX_CATCH_UP)];
    let per_cluster: Vec<(String, usize)> = match recorded.filter(|r| !r.clusters.is_empty()) {
        None => vec![(String::new(), due.len())],
        Some(r) => r
            .clusters
            .iter()
            .map(|(name, cr)| {
                let new = due.iter().filter(|e| !known(cr, e.at)).count();
                (name.clone(), new)
            })
            .collect(),
    };
    CatchUp {
        from: Some(from),
        due: per_cluster,
        capped,
        keep_last: s.keep_last,
    }
}

/// Whether a cluster's runs already account for the execution at `at`: settled through it, or
/// recorded (in any phase).
fn known(c: &ClusterRuns, at: DateTime<FixedOffset>) -> bool {
    c.settled_through.is_some_and(|t| at <= t) || c.runs.iter().any(|r| r.execution == Some(at))
}

/// The plan comment's section, empty without changes.
pub fn markdown(changes: &[ScheduleChange]) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n#### Schedules\n");
    for c in changes {
        let show = |s: &Option<String>| {
            s.as_ref()
                .map_or("unscheduled".to_string(), |s| format!("`{s}`"))
        };
        out += &format!(
            "\n**`{}/{}`**: {} → {}\n\n",
            c.project,
            c.pipeline,
            show(&c.before),
            show(&c.after)
        );
        out += "| next | before | after |\n|---:|---|---|\n";
        for i in 0..c.next_before.len().max(c.next_after.len()) {
            let at = |v: &[DateTime<FixedOffset>]| {
                v.get(i).map_or("—".to_string(), |t| {
                    t.format("%Y-%m-%d %H:%M %:z").to_string()
                })
            };
            out += &format!(
                "| {} | {} | {} |\n",
                i + 1,
                at(&c.next_before),
                at(&c.next_after)
            );
        }
        if let Some(k) = &c.catch_up {
            out += &format!("\n{}\n", catch_up_words(k));
        }
    }
    out
}

/// "Catch-up: merging creates 5 runs (executions from 2026-11-01 …)".
fn catch_up_words(k: &CatchUp) -> String {
    let Some(from) = k.from else {
        return "Catch-up: none (no `startFrom`: runs start from the next execution after the merge)."
            .to_string();
    };
    let at_least = if k.capped { "at least " } else { "" };
    let counts: Vec<String> = k
        .due
        .iter()
        .map(|(cluster, n)| {
            let runs = match k.keep_last {
                Some(keep) if *n as u64 > keep as u64 => format!(
                    "{at_least}{n} executions due: the newest {keep} run, {} recorded as Skipped (`keepLast: {keep}`)",
                    *n as u64 - keep as u64
                ),
                _ => format!("{at_least}{n} run{}", if *n == 1 { "" } else { "s" }),
            };
            if cluster.is_empty() {
                format!("{runs} on each cluster of the project")
            } else {
                format!("`{cluster}`: {runs}")
            }
        })
        .collect();
    format!(
        "Catch-up from {} (executions up to now not yet recorded): {}.",
        from.format("%Y-%m-%d %H:%M UTC"),
        counts.join("; ")
    )
}
