//! When to try next, decided once. After a pass the loop asks its [`Schedule`] how long to wait
//! (like kube-runtime's `Action::requeue_after`): the poll interval after a pass that worked,
//! exponential backoff with jitter after failures in a row. `cubist reconcile` and `cubist serve`
//! run the same loop with the same schedule, and each Kubernetes cluster's retry uses the same
//! backoff ([`retry_after`]).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Longest wait between attempts on an unreachable repository or cluster.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Exponential backoff after `failures` failures in a row (1 s, 2 s, 4 s, …, at most `max`),
/// plus up to 20% jitter so many clusters or replicas do not retry in step.
pub fn backoff(failures: u32, max: Duration) -> Duration {
    let base = Duration::from_secs(1u64 << failures.saturating_sub(1).min(16)).min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    base + base.mul_f64(f64::from(nanos % 1000) / 5000.0)
}

/// The wait before the next attempt after `failures` failures in a row, capped at
/// [`MAX_BACKOFF`].
pub fn retry_after(failures: u32) -> Duration {
    backoff(failures, MAX_BACKOFF)
}

/// The loop's schedule: the interval after a pass that worked, backoff after failures.
#[derive(Debug, Clone)]
pub struct Schedule {
    every: Duration,
    failures: u32,
}

impl Schedule {
    /// A schedule polling every `every` while passes work.
    pub fn new(every: Duration) -> Self {
        Schedule { every, failures: 0 }
    }

    /// A pass worked: the wait before the next one (the interval).
    pub fn succeeded(&mut self) -> Duration {
        self.failures = 0;
        self.every
    }

    /// A pass failed: the wait before the next attempt (backoff, growing with each failure in a
    /// row).
    pub fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        retry_after(self.failures)
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Waits `wait`, or less when a nudge (webhook push, saved file) arrives; a burst of nudges
/// wakes the loop once. A loop nobody can nudge (no watcher, no webhook: every sender is gone)
/// still waits the whole time.
pub fn wait(nudges: &Receiver<()>, wait: Duration) {
    let deadline = Instant::now() + wait;
    match nudges.recv_timeout(wait) {
        Ok(()) => while nudges.try_recv().is_ok() {},
        Err(RecvTimeoutError::Timeout) => {}
        Err(RecvTimeoutError::Disconnected) => {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn interval_after_success_backoff_after_failures() {
        let mut s = Schedule::new(Duration::from_secs(60));
        assert_eq!(s.succeeded(), Duration::from_secs(60));
        let first = s.failed();
        let second = s.failed();
        let third = s.failed();
        // 1 s, 2 s, 4 s with at most 20% jitter.
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_millis(1200));
        assert!(second >= Duration::from_secs(2) && second <= Duration::from_millis(2400));
        assert!(third >= Duration::from_secs(4) && third <= Duration::from_millis(4800));
        assert_eq!(s.failures(), 3);
        assert_eq!(s.succeeded(), Duration::from_secs(60));
        assert_eq!(s.failures(), 0);
        for _ in 0..40 {
            s.failed();
        }
        assert!(s.failed() <= MAX_BACKOFF.mul_f64(1.2));
    }

    #[test]
    fn wait_without_senders_still_waits() {
        let (tx, rx) = mpsc::channel::<()>();
        drop(tx);
        let started = Instant::now();
        wait(&rx, Duration::from_millis(200));
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[test]
    fn a_nudge_wakes_the_wait_and_bursts_coalesce() {
        let (tx, rx) = mpsc::channel::<()>();
        for _ in 0..5 {
            tx.send(()).unwrap();
        }
        wait(&rx, Duration::from_secs(3600));
        assert!(rx.try_recv().is_err(), "the burst was drained");
    }
}
