//! One pass of the run controller for one pipeline on one cluster: read what the cluster shows
//! of the pipeline's Workflows into the records, decide admission, and say which Workflows to
//! create. Pure: the caller lists and creates (see `reconcile::runs`).

use super::admission::{self, At, Known, Policy, Request};
use super::dates::{Cadence, Execution};
use super::due;
use super::naming::{self, Origin};
use super::readback;
use crate::model::kinds::Schedule;
use chrono::{DateTime, Utc};
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::{Blocked, ClusterRuns, HISTORY, RunOrigin, RunRecord, Waiting};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A pipeline as the controller sees it.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Project.
    pub project: String,
    /// Pipeline name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Its schedule, parsed.
    pub schedule: Option<(Cadence, Schedule)>,
    /// What its `Run` manifests ask for.
    pub requests: Vec<RunRequest>,
    /// Its due executions as last computed (see [`due::DueMemo`]).
    pub due: due::DueMemo,
}

/// One execution a `Run` manifest asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The `Run`'s name.
    pub run: String,
    /// The `Run`'s file.
    pub file: String,
    /// The execution.
    pub execution: Execution,
}

impl Pipeline {
    /// The schedule's policy (defaults without a schedule: one run at a time).
    pub fn policy(&self) -> Policy {
        let s = self.schedule.as_ref().map(|(_, s)| s);
        Policy {
            concurrency: s.and_then(|s| s.concurrency).unwrap_or(1).max(1),
            depends_on_past: s.is_some_and(|s| s.depends_on_past),
            keep_last: s.and_then(|s| s.keep_last),
        }
    }

    /// The Workflow name of an execution.
    pub fn workflow_name(&self, at: At, origin: &Origin) -> String {
        naming::workflow_name(
            &self.name,
            self.schedule.as_ref().map(|(c, _)| c),
            &Execution { at },
            origin,
        )
    }
}

/// What the cluster shows of its Workflows this pass.
#[derive(Debug, Clone, Copy)]
pub enum Live<'a> {
    /// The Workflows of the pipeline's project, listed now (on a directory target: its run
    /// files, see `runs::files`).
    Listed(&'a [Value]),
}

/// One Workflow to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    /// Its name.
    pub name: String,
    /// Execution, origin and attempt.
    pub admit: admission::Admit,
}

/// The result of a pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The records after it (the new runs Pending, as if created).
    pub runs: ClusterRuns,
    /// What to create.
    pub create: Vec<Create>,
}

/// Why a run is skipped.
fn skip_message(n: u32) -> String {
    format!("skipped: keepLast {n} keeps only the newest {n} waiting executions")
}

/// One pass: `prev` is the cluster's records, `since` the catch-up origin without `startFrom`.
pub fn step(
    p: &Pipeline,
    since: DateTime<Utc>,
    prev: &ClusterRuns,
    live: Live,
    now: DateTime<Utc>,
) -> Step {
    let mut records: BTreeMap<String, RunRecord> = prev
        .runs
        .iter()
        .map(|r| (r.workflow.clone(), r.clone()))
        .collect();
    let Live::Listed(workflows) = live;
    merge_live(p, &mut records, workflows);
    let policy = p.policy();
    let known: Vec<Known> = records
        .values()
        .filter_map(|r| {
            Some(Known {
                execution: r.execution?,
                attempt: r.attempt.max(1),
                origin: origin_of(&r.origin),
                workflow: r.workflow.clone(),
                phase: r.phase,
            })
        })
        .collect();
    let (due, capped) = match &p.schedule {
        Some((c, s)) => p
            .due
            .due(c, due::origin(c, s, since), prev.settled_through, now),
        None => (Vec::new(), false),
    };
    let due: Vec<At> = due.iter().map(|e| e.at).collect();
    let requests: Vec<Request> = p
        .requests
        .iter()
        .map(|r| Request {
            execution: r.execution.at,
            run: r.run.clone(),
        })
        .collect();
    let d = admission::admit(&due, &known, &requests, &policy);
    let mut create = Vec::new();
    for a in &d.create {
        let name = p.workflow_name(a.execution, &a.origin);
        records.insert(
            name.clone(),
            record(
                p,
                &name,
                a.execution,
                a.attempt,
                &a.origin,
                RunPhase::Pending,
                String::new(),
            ),
        );
        create.push(Create {
            name,
            admit: a.clone(),
        });
    }
    for at in &d.skip {
        let name = p.workflow_name(*at, &Origin::Schedule);
        let why = skip_message(policy.keep_last.unwrap_or_default());
        records.insert(
            name.clone(),
            record(p, &name, *at, 1, &Origin::Schedule, RunPhase::Skipped, why),
        );
    }
    let latest: BTreeMap<At, RunPhase> = {
        let mut by: BTreeMap<At, (u32, RunPhase)> = BTreeMap::new();
        for r in records.values() {
            if let Some(at) = r.execution {
                let e = by.entry(at).or_insert((0, RunPhase::Unknown));
                if r.attempt >= e.0 {
                    *e = (r.attempt, r.phase);
                }
            }
        }
        by.into_iter().map(|(k, (_, p))| (k, p)).collect()
    };
    let settled_through =
        admission::settled_through(&due, &latest, policy.depends_on_past).or(prev.settled_through);
    let blocked = d.blocked.as_ref().map(|k| blocked(p, k));
    let waiting =
        (!d.waiting.is_empty() || !d.waiting_runs.is_empty() || capped).then(|| Waiting {
            count: (d.waiting.len() + d.waiting_runs.len()) as u64,
            oldest: d
                .waiting
                .first()
                .copied()
                .or(d.waiting_runs.first().map(|r| r.execution)),
            newest: d
                .waiting
                .last()
                .copied()
                .or(d.waiting_runs.last().map(|r| r.execution)),
            more_due: capped,
        });
    let asked: BTreeSet<(At, String)> = requests
        .iter()
        .map(|r| (r.execution, r.run.clone()))
        .collect();
    Step {
        runs: ClusterRuns {
            settled_through,
            waiting,
            blocked,
            runs: bounded(records.into_values().collect(), settled_through, &asked),
        },
        create,
    }
}

/// Updates the records from the listed Workflows of the pipeline; a record of a run not
/// finished whose Workflow is gone is an Error (deleted before it finished).
fn merge_live(p: &Pipeline, records: &mut BTreeMap<String, RunRecord>, workflows: &[Value]) {
    let mut seen = BTreeSet::new();
    for wf in workflows {
        let Some(id) = naming::identity(wf) else {
            continue;
        };
        if id.project != p.project || id.pipeline != p.name {
            continue;
        }
        let Some(name) = wf.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        let o = readback::observe(wf);
        seen.insert(name.to_string());
        let r = records.entry(name.to_string()).or_insert_with(|| {
            record(
                p,
                name,
                id.execution,
                id.attempt,
                &id.origin,
                o.phase,
                String::new(),
            )
        });
        r.phase = o.phase;
        r.started = o.started;
        r.finished = o.finished;
        r.duration_seconds = o
            .started
            .zip(o.finished)
            .and_then(|(s, f)| u64::try_from((f - s).num_seconds()).ok());
        r.message = o.message;
        r.tasks = o.tasks;
    }
    for r in records.values_mut() {
        if !seen.contains(&r.workflow)
            && !admission::finished(r.phase)
            && r.phase != RunPhase::Waiting
        {
            r.phase = RunPhase::Error;
            r.message =
                "its Workflow is gone from the cluster before it finished (deleted?)".into();
        }
    }
}

/// A record of a run.
fn record(
    p: &Pipeline,
    name: &str,
    at: At,
    attempt: u32,
    origin: &Origin,
    phase: RunPhase,
    message: String,
) -> RunRecord {
    RunRecord {
        execution: Some(at),
        date: Some(at.date_naive()),
        workflow: name.to_string(),
        attempt,
        origin: RunOrigin {
            kind: origin.kind().to_string(),
            run: match origin {
                Origin::Run(r) => r.clone(),
                Origin::Schedule => String::new(),
            },
            file: match origin {
                Origin::Run(r) => p
                    .requests
                    .iter()
                    .find(|q| &q.run == r)
                    .map(|q| q.file.clone())
                    .unwrap_or_default(),
                Origin::Schedule => String::new(),
            },
        },
        phase,
        message,
        ..Default::default()
    }
}

/// The admission origin of a record's origin.
fn origin_of(o: &RunOrigin) -> Origin {
    if o.kind == "run" {
        Origin::Run(o.run.clone())
    } else {
        Origin::Schedule
    }
}

/// What blocks the chain and how to unblock it.
fn blocked(p: &Pipeline, k: &Known) -> Blocked {
    let date = k.execution.date_naive();
    Blocked {
        workflow: k.workflow.clone(),
        execution: Some(k.execution),
        reason: format!(
            "dependsOnPast: {} (execution {date}, attempt {}) ended {:?}; later executions wait for it to succeed",
            k.workflow, k.attempt, k.phase
        ),
        fix: format!(
            "commit a Run that re-runs {date} (kind: Run, spec: {{pipeline: {}, date: {date}}}) in projects/{}/runs/; when it succeeds the chain goes on",
            p.name, p.project
        ),
    }
}

/// Newest first (execution, then attempt). Kept: every run not finished, every run after
/// `settled` (its execution could become due again without its record), every run a `Run`
/// manifest in the repository still asks for (else it would run again), and at most
/// [`HISTORY`] others.
fn bounded(
    mut runs: Vec<RunRecord>,
    settled: Option<At>,
    asked: &BTreeSet<(At, String)>,
) -> Vec<RunRecord> {
    runs.sort_by(|a, b| {
        b.execution
            .cmp(&a.execution)
            .then(b.attempt.cmp(&a.attempt))
            .then(a.workflow.cmp(&b.workflow))
    });
    let mut others = 0;
    runs.retain(|r| {
        let keep = !admission::finished(r.phase)
            || settled.is_none_or(|s| r.execution.is_none_or(|e| e > s))
            || (r.origin.kind == "run"
                && r.execution
                    .is_some_and(|e| asked.contains(&(e, r.origin.run.clone()))));
        if keep {
            return true;
        }
        others += 1;
        others <= HISTORY
    });
    // A hard bound whatever the state (a chain blocked for years, a huge backfill).
    runs.truncate(due::MAX_EXECUTIONS + HISTORY);
    runs
}

#[cfg(test)]
mod tests;
