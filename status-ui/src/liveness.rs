//! Whether the reconcile loop is alive, shared (`Arc`) between the loop thread, which records
//! each pass, and the HTTP server, which answers `/readyz` and shows a banner on every page
//! when the loop is stalled: stopped, failing since its last completed pass, or with no pass
//! completed for several intervals.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How many poll intervals may pass without a completed pass before the loop counts as
/// stalled (plus [`GRACE`], for a slow pass).
pub const INTERVALS: u32 = 3;

/// Added to [`INTERVALS`] intervals: a pass that takes a while (a large apply) is not a stall.
pub const GRACE: Duration = Duration::from_secs(30);

/// What this process is among several replicas (leader or follower, clusters owned), asked
/// for each `/readyz` and page, so what they say is current.
pub trait Role: Send + Sync + std::fmt::Debug {
    /// One line.
    fn describe(&self) -> String;
}

/// The loop's liveness, updated by the loop and read by the server.
#[derive(Debug)]
pub struct Liveness {
    window: chrono::Duration,
    state: Mutex<State>,
    role: Mutex<Option<Arc<dyn Role>>>,
}

#[derive(Debug)]
struct State {
    started: DateTime<Utc>,
    /// When the last pass completed (the mirror was fetched and the revision handled).
    last_pass: Option<DateTime<Utc>>,
    /// Since when passes fail, and why (the latest failure).
    failing: Option<(DateTime<Utc>, String)>,
    /// When the loop ended, and why.
    stopped: Option<(DateTime<Utc>, String)>,
}

/// Why the loop is not live, for the banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// Since when.
    pub since: DateTime<Utc>,
    /// What is wrong, in one line.
    pub why: String,
}

impl Liveness {
    /// A loop that polls every `interval`, started at `now`.
    pub fn new(interval: Duration, now: DateTime<Utc>) -> Self {
        let window = interval * INTERVALS + GRACE;
        Liveness {
            window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX),
            state: Mutex::new(State {
                started: now,
                last_pass: None,
                failing: None,
                stopped: None,
            }),
            role: Mutex::new(None),
        }
    }

    /// Sets what this replica is (see [`Role`]): `/readyz` and every page say it.
    pub fn set_role(&self, role: Arc<dyn Role>) {
        *self.role.lock().unwrap_or_else(|e| e.into_inner()) = Some(role);
    }

    /// What this replica is now, when it is one of several.
    pub fn role(&self) -> Option<String> {
        let role = self.role.lock().unwrap_or_else(|e| e.into_inner()).clone();
        role.map(|r| r.describe())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data: go on with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pass completed at `at`.
    pub fn pass_completed(&self, at: DateTime<Utc>) {
        let mut s = self.state();
        s.last_pass = Some(at);
        s.failing = None;
    }

    /// A pass failed at `at`, for the reason `why` (one line, no secrets).
    pub fn pass_failed(&self, at: DateTime<Utc>, why: &str) {
        let mut s = self.state();
        let since = s.failing.as_ref().map_or(at, |(since, _)| *since);
        s.failing = Some((since, one_line(why)));
    }

    /// The loop ended at `at` (it returned an error or panicked, or `--once` finished).
    pub fn stopped(&self, at: DateTime<Utc>, why: &str) {
        self.state().stopped = Some((at, one_line(why)));
    }

    /// Why the loop is not live at `now`, if it is not: it stopped; or no pass completed
    /// within the last intervals (with the failure that keeps it from completing, if any); or
    /// no pass ever completed and the first ones fail.
    pub fn stall(&self, now: DateTime<Utc>) -> Option<Stall> {
        let s = self.state();
        if let Some((since, why)) = &s.stopped {
            return Some(Stall {
                since: *since,
                why: format!("the reconcile loop stopped: {why}"),
            });
        }
        let last = s.last_pass.unwrap_or(s.started);
        let overdue = now - last > self.window;
        match (&s.failing, s.last_pass) {
            (Some((_, why)), None) => Some(Stall {
                since: s.started,
                why: why.clone(),
            }),
            (Some((_, why)), Some(_)) if overdue => Some(Stall {
                since: last,
                why: why.clone(),
            }),
            (None, _) if overdue => Some(Stall {
                since: last,
                why: format!(
                    "no reconcile pass has completed for {}s",
                    (now - last).num_seconds()
                ),
            }),
            _ => None,
        }
    }

    /// `Ok` when the server may take traffic: a pass completed within the last intervals
    /// (so the mirror was fetched) and the loop is not stalled; else the reason, in one line.
    pub fn ready(&self, now: DateTime<Utc>) -> Result<(), String> {
        if let Some(stall) = self.stall(now) {
            return Err(stall.why);
        }
        match self.state().last_pass {
            Some(_) => Ok(()),
            None => Err("the first reconcile pass has not completed yet".into()),
        }
    }
}

/// The first line of `s`, without trailing spaces.
fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    /// 60 s interval: stalled after 3 × 60 s + 30 s without a completed pass.
    fn live() -> Liveness {
        Liveness::new(Duration::from_secs(60), at(0))
    }

    #[test]
    fn starting_is_not_ready_but_not_stalled() {
        let l = live();
        assert_eq!(l.stall(at(5)), None);
        assert!(l.ready(at(5)).unwrap_err().contains("not completed yet"));
    }

    #[test]
    fn unreachable_before_the_first_pass_is_a_stall_at_once() {
        let l = live();
        l.pass_failed(
            at(1),
            "the repository is not reachable yet: cannot fetch main",
        );
        l.pass_failed(
            at(3),
            "the repository is not reachable yet: cannot fetch main\nmore",
        );
        let stall = l.stall(at(4)).unwrap();
        assert_eq!(stall.since, at(0));
        assert_eq!(
            stall.why,
            "the repository is not reachable yet: cannot fetch main"
        );
        assert_eq!(l.ready(at(4)).unwrap_err(), stall.why);
    }

    #[test]
    fn a_completed_pass_is_ready_until_passes_stop_completing() {
        let l = live();
        l.pass_completed(at(10));
        assert_eq!(l.ready(at(100)), Ok(()));
        // One failure after a good pass is not a stall yet.
        l.pass_failed(at(70), "cannot fetch main");
        assert_eq!(l.ready(at(200)), Ok(()));
        // Still failing after the window: stalled since the last good pass.
        let stall = l.stall(at(10 + 211)).unwrap();
        assert_eq!(stall.since, at(10));
        assert_eq!(stall.why, "cannot fetch main");
        // It recovers.
        l.pass_completed(at(230));
        assert_eq!(l.ready(at(231)), Ok(()));
    }

    #[test]
    fn no_pass_for_several_intervals_is_a_stall() {
        let l = live();
        l.pass_completed(at(10));
        let stall = l.stall(at(10 + 300)).unwrap();
        assert_eq!(stall.since, at(10));
        assert_eq!(stall.why, "no reconcile pass has completed for 300s");
    }

    #[test]
    fn a_stopped_loop_is_stalled_whatever_came_before() {
        let l = live();
        l.pass_completed(at(10));
        l.stopped(at(20), "reconcile loop panicked: boom");
        let stall = l.stall(at(21)).unwrap();
        assert_eq!(stall.since, at(20));
        assert_eq!(
            stall.why,
            "the reconcile loop stopped: reconcile loop panicked: boom"
        );
        assert!(l.ready(at(21)).is_err());
    }
}
