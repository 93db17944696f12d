//! The review worker: consumes the webhook queue and reconcile results, nudges the reconcile
//! loop on pushes to the watched branch, and hands everything else to the [`Reviewer`].

use super::apply::ApplyResult;
use super::reviewer::{Handled, Reviewer};
use crate::metrics::Metrics;
use crate::reconcile::Outcome;
use cubist_webhook::{DEFAULT_QUEUE_CAPACITY, EventReceiver, HookEvent, coalesce};
use tokio::sync::mpsc;

/// Events taken from the webhook queue at once (then coalesced per pull request and ref).
const BATCH: usize = 64;
/// How often finished `Run`s are looked for between reconciles (runs finish on the clusters,
/// not with commits).
const RUN_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// Sending side of reconcile results, for the (synchronous) reconcile loop. Never blocks.
#[derive(Debug, Clone)]
pub struct ReconciledSender(mpsc::UnboundedSender<ApplyResult>);

/// Receiving side of reconcile results, consumed by [`run`].
#[derive(Debug)]
pub struct ReconciledReceiver(mpsc::UnboundedReceiver<ApplyResult>);

/// A channel from the reconcile loop to the review worker.
pub fn reconciled_channel() -> (ReconciledSender, ReconciledReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    (ReconciledSender(tx), ReconciledReceiver(rx))
}

impl ReconciledSender {
    /// Hands a reconcile's outcome to the worker (dropped silently once the worker stopped).
    pub fn send(&self, outcome: &Outcome) {
        let _ = self.0.send(ApplyResult::from_outcome(outcome));
    }
}

/// True for a push to `refs/heads/<branch>` (of `repo`, when given).
pub fn is_watched_push(event: &HookEvent, branch: &str, repo: Option<&str>) -> bool {
    matches!(event, HookEvent::Push { git_ref, .. } if git_ref.strip_prefix("refs/heads/") == Some(branch))
        && repo.is_none_or(|r| event.repo().eq_ignore_ascii_case(r))
}

/// Runs until the webhook queue and the reconcile channel are both closed. Pushes to
/// `branch` call `nudge` as soon as they arrive, whatever the reviewer is doing; with a
/// reviewer, pull request events are planned (coalesced per pull request while it is busy) and
/// reconcile results reported. Failures are logged, never fatal; each review's result is
/// counted in `metrics` when given.
pub async fn run(
    mut events: EventReceiver,
    mut reconciled: ReconciledReceiver,
    reviewer: Option<Reviewer>,
    branch: String,
    mut nudge: impl FnMut() + Send,
    metrics: Option<Metrics>,
) {
    let record = |what: &str, handled: anyhow::Result<Handled>| {
        if let Some(m) = &metrics {
            m.review(result_label(&handled));
        }
        log(what, handled);
    };
    let repo = reviewer.as_ref().map(|r| r.config().full_name());
    let (tx, mut rx) = mpsc::channel::<HookEvent>(DEFAULT_QUEUE_CAPACITY);
    let dispatch = async move {
        while let Some(batch) = events.recv_batch(BATCH).await {
            if batch
                .iter()
                .any(|e| is_watched_push(e, &branch, repo.as_deref()))
            {
                nudge();
            }
            for event in batch {
                // Waits only when the reviewer is a whole queue behind: back-pressure to 503s.
                let _ = tx.send(event).await;
            }
        }
    };
    let review = async {
        let (mut hooks_open, mut results_open) = (true, true);
        let mut batch = Vec::new();
        let mut run_check = tokio::time::interval(RUN_CHECK);
        run_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while hooks_open || results_open {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH), if hooks_open => {
                    hooks_open = n > 0;
                    for event in coalesce(std::mem::take(&mut batch)) {
                        if let Some(r) = &reviewer {
                            record(event.kind(), r.handle(&event).await);
                        }
                    }
                }
                result = reconciled.0.recv(), if results_open => match (result, &reviewer) {
                    (None, _) => results_open = false,
                    (Some(result), Some(r)) => {
                        record("reconciled", r.report_apply(&result).await);
                        log_runs(r.report_runs().await);
                    }
                    (Some(_), None) => {}
                },
                _ = run_check.tick(), if reviewer.is_some() => {
                    if let Some(r) = &reviewer {
                        log_runs(r.report_runs().await);
                    }
                }
            }
        }
    };
    tokio::join!(dispatch, review);
}

/// The `result` label of a review: `planned`, `reported`, `ignored` or `failed`.
fn result_label(handled: &anyhow::Result<Handled>) -> &'static str {
    match handled {
        Ok(Handled::Planned { .. }) => "planned",
        Ok(Handled::Reported { .. }) => "reported",
        Ok(Handled::Ignored(_)) => "ignored",
        Err(_) => "failed",
    }
}

/// Logs the runs whose finish was reported on their pull request.
fn log_runs(done: anyhow::Result<Vec<(String, Option<(u64, u64)>)>>) {
    match done {
        Ok(done) => {
            for (run, pull) in done {
                tracing::info!("review: run {run} finished; commented on {pull:?}");
            }
        }
        Err(e) => tracing::warn!("review: finished runs not reported: {e:#}"),
    }
}

fn log(what: &str, handled: anyhow::Result<Handled>) {
    match handled {
        Ok(Handled::Ignored(why)) => tracing::info!(event = what, "review: ignored: {why}"),
        Ok(done) => tracing::info!(event = what, "review: {done:?}"),
        Err(e) => tracing::warn!(event = what, "review failed: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(repo: &str, git_ref: &str) -> HookEvent {
        HookEvent::Push {
            repo: repo.into(),
            git_ref: git_ref.into(),
            before: "0".into(),
            after: "1".into(),
            pusher: "p".into(),
            commits_head_message: None,
        }
    }

    #[test]
    fn only_pushes_to_the_watched_branch_of_the_repository_nudge() {
        assert!(is_watched_push(
            &push("o/r", "refs/heads/main"),
            "main",
            None
        ));
        assert!(is_watched_push(
            &push("O/R", "refs/heads/main"),
            "main",
            Some("o/r")
        ));
        assert!(!is_watched_push(
            &push("x/y", "refs/heads/main"),
            "main",
            Some("o/r")
        ));
        assert!(!is_watched_push(
            &push("o/r", "refs/heads/dev"),
            "main",
            None
        ));
        assert!(!is_watched_push(
            &push("o/r", "refs/tags/main"),
            "main",
            None
        ));
    }

    #[tokio::test]
    async fn worker_without_reviewer_nudges_and_stops_when_both_sides_close() {
        let (queue, events) = cubist_webhook::event_queue(8);
        let (sender, results) = reconciled_channel();
        queue.try_enqueue(push("o/r", "refs/heads/main")).unwrap();
        queue.try_enqueue(push("o/r", "refs/heads/dev")).unwrap();
        sender.send(&Outcome::default());
        drop((queue, sender));
        let mut nudges = 0;
        run(events, results, None, "main".into(), || nudges += 1, None).await;
        assert_eq!(nudges, 1);
    }
}
