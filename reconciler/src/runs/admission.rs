//! Admission: which due executions and `Run` requests become Workflows now, which wait, which
//! are skipped (`keepLast`) and what blocks a `dependsOnPast` chain. A pure function of what is
//! due, what runs are known (from the cluster and the records) and the pipeline's policy.
//!
//! - `concurrency`: at most this many runs not finished at once, whoever asked for them.
//! - `Run` requests come first (oldest execution first): they are explicit, never skipped by
//!   `keepLast` and never held by `dependsOnPast`; each is a new attempt of its execution.
//! - `keepLast` N: of the scheduled executions waiting to start, only the newest N are kept; the
//!   older ones are skipped (recorded, never created).
//! - `dependsOnPast`: a scheduled execution starts only when the latest attempt of the previous
//!   scheduled execution succeeded (or was skipped); one that failed blocks the chain until an
//!   attempt of it (a committed `Run` for that date) succeeds.

use super::naming::Origin;
use chrono::{DateTime, FixedOffset};
use cubist_status_ui::doc::RunPhase;
use std::collections::{BTreeMap, BTreeSet};

/// An execution time.
pub type At = DateTime<FixedOffset>;

/// The schedule's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Most runs not finished at once (at least 1).
    pub concurrency: u32,
    /// A scheduled run starts only after the previous execution succeeded.
    pub depends_on_past: bool,
    /// Of the waiting scheduled executions, only the newest N are kept.
    pub keep_last: Option<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            concurrency: 1,
            depends_on_past: false,
            keep_last: None,
        }
    }
}

/// A run that exists (in the cluster) or existed (in the records).
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    /// Execution time.
    pub execution: At,
    /// Attempt number.
    pub attempt: u32,
    /// Who asked for it.
    pub origin: Origin,
    /// Workflow name.
    pub workflow: String,
    /// Its phase.
    pub phase: RunPhase,
}

/// A `Run` manifest asking for an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Execution time.
    pub execution: At,
    /// The `Run` manifest's name.
    pub run: String,
}

/// A run to create now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admit {
    /// Execution time.
    pub execution: At,
    /// Who asked for it.
    pub origin: Origin,
    /// Attempt number: one more than the newest known attempt of the execution.
    pub attempt: u32,
}

/// What admission decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Runs to create, in order.
    pub create: Vec<Admit>,
    /// Scheduled executions dropped by `keepLast`, oldest first.
    pub skip: Vec<At>,
    /// Scheduled executions due and not started, oldest first.
    pub waiting: Vec<At>,
    /// `Run` requests not started (no free slot), oldest first.
    pub waiting_runs: Vec<Request>,
    /// The failed run that blocks a `dependsOnPast` chain.
    pub blocked: Option<Known>,
}

/// True for a phase that will not change any more.
pub fn finished(p: RunPhase) -> bool {
    matches!(
        p,
        RunPhase::Succeeded | RunPhase::Failed | RunPhase::Error | RunPhase::Skipped
    )
}

/// True for a phase that takes a `concurrency` slot: created and not finished.
fn active(p: RunPhase) -> bool {
    !finished(p) && !matches!(p, RunPhase::Waiting | RunPhase::Blocked)
}

/// Decides. `due` are the scheduled executions due and not settled (any order); `known` every
/// run known; `requests` what `Run` manifests ask for.
pub fn admit(due: &[At], known: &[Known], requests: &[Request], policy: &Policy) -> Decision {
    let mut d = Decision::default();
    // Newest attempt per execution: its number and phase (runs created now are Pending).
    let mut latest: Latest = BTreeMap::new();
    for k in known {
        let e = latest
            .entry(k.execution)
            .or_insert((0, RunPhase::Unknown, None));
        if k.attempt >= e.0 {
            *e = (k.attempt, k.phase, Some(k));
        }
    }
    let mut slots = (policy.concurrency.max(1) as usize)
        .saturating_sub(known.iter().filter(|k| active(k.phase)).count());
    let mut requests: Vec<&Request> = requests.iter().collect();
    requests.sort_by_key(|r| (r.execution, r.run.clone()));
    requests.dedup();
    for r in requests {
        let asked = Origin::Run(r.run.clone());
        if known
            .iter()
            .any(|k| k.execution == r.execution && k.origin == asked)
        {
            continue;
        }
        if slots == 0 {
            d.waiting_runs.push(r.clone());
            continue;
        }
        slots -= 1;
        d.create.push(next_attempt(&mut latest, r.execution, asked));
    }
    let mut pending: Vec<At> = due
        .iter()
        .copied()
        .collect::<BTreeSet<At>>()
        .into_iter()
        .filter(|at| !latest.contains_key(at))
        .collect();
    if let Some(n) = policy.keep_last
        && pending.len() > n as usize
    {
        let cut = pending.len() - n as usize;
        d.skip = pending.drain(..cut).collect();
        for at in &d.skip {
            latest.insert(*at, (1, RunPhase::Skipped, None));
        }
    }
    // Every scheduled execution, for finding the previous one of a dependsOnPast chain.
    let scheduled: BTreeSet<At> = due
        .iter()
        .copied()
        .chain(
            known
                .iter()
                .filter(|k| k.origin == Origin::Schedule)
                .map(|k| k.execution),
        )
        .collect();
    let mut held = false;
    for at in pending {
        if held {
            d.waiting.push(at);
            continue;
        }
        if policy.depends_on_past
            && let Some(prev) = scheduled.range(..at).next_back()
        {
            match latest.get(prev) {
                Some((_, RunPhase::Succeeded | RunPhase::Skipped, _)) => {}
                Some((_, RunPhase::Failed | RunPhase::Error, k)) => {
                    d.blocked = k.map(|k| (*k).clone());
                    held = true;
                }
                _ => held = true,
            }
            if held {
                d.waiting.push(at);
                continue;
            }
        }
        if slots == 0 {
            d.waiting.push(at);
            held = policy.depends_on_past;
            continue;
        }
        slots -= 1;
        d.create
            .push(next_attempt(&mut latest, at, Origin::Schedule));
        // The next one of a chain waits for this one to succeed.
        held = policy.depends_on_past;
    }
    d
}

/// The newest attempt of each execution: number, phase and the known run it is.
type Latest<'k> = BTreeMap<At, (u32, RunPhase, Option<&'k Known>)>;

/// A new attempt of `at`, noted in `latest` as Pending.
fn next_attempt(latest: &mut Latest, at: At, origin: Origin) -> Admit {
    let e = latest.entry(at).or_insert((0, RunPhase::Unknown, None));
    *e = (e.0 + 1, RunPhase::Pending, None);
    Admit {
        execution: at,
        origin,
        attempt: e.0,
    }
}

/// The newest execution up to which every scheduled execution of `order` (oldest first) is
/// settled: its newest attempt finished (and, for a `dependsOnPast` chain, did not fail).
pub fn settled_through(
    order: &[At],
    latest: &BTreeMap<At, RunPhase>,
    depends_on_past: bool,
) -> Option<At> {
    let mut through = None;
    for at in order {
        match latest.get(at) {
            Some(RunPhase::Succeeded | RunPhase::Skipped) => through = Some(*at),
            Some(RunPhase::Failed | RunPhase::Error) if !depends_on_past => through = Some(*at),
            _ => break,
        }
    }
    through
}

#[cfg(test)]
mod tests;
