//! Bounded hand-off between the webhook handler and the consumer, with coalescing.

use std::collections::HashMap;

use tokio::sync::mpsc;

use crate::events::HookEvent;

/// Default number of events the queue holds before the handler answers 503.
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;

/// Producer side, held by the router: enqueues without waiting.
#[derive(Debug, Clone)]
pub struct EventQueue {
    tx: mpsc::Sender<HookEvent>,
}

/// Consumer side: receives events, one at a time or as a coalesced batch.
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::Receiver<HookEvent>,
}

/// Why an event could not be enqueued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The queue is at capacity; the consumer is behind.
    #[error("event queue is full; the consumer is behind, retry later")]
    Full,
    /// The consumer has stopped.
    #[error("event queue is closed; the consumer has stopped")]
    Closed,
}

/// Creates a queue holding at most `capacity` events (at least 1).
pub fn event_queue(capacity: usize) -> (EventQueue, EventReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (EventQueue { tx }, EventReceiver { rx })
}

impl EventQueue {
    /// Enqueues `event` without waiting.
    pub fn try_enqueue(&self, event: HookEvent) -> Result<(), EnqueueError> {
        self.tx.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EnqueueError::Full,
            mpsc::error::TrySendError::Closed(_) => EnqueueError::Closed,
        })
    }
}

impl EventReceiver {
    /// Waits for the next event; `None` once every [`EventQueue`] is dropped and the queue is empty.
    pub async fn recv(&mut self) -> Option<HookEvent> {
        self.rx.recv().await
    }

    /// Takes the next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<HookEvent> {
        self.rx.try_recv().ok()
    }

    /// Waits for at least one event, takes up to `max` queued events and [`coalesce`]s them.
    ///
    /// Returns `None` once every [`EventQueue`] is dropped and the queue is empty.
    pub async fn recv_batch(&mut self, max: usize) -> Option<Vec<HookEvent>> {
        let mut batch = Vec::new();
        if self.rx.recv_many(&mut batch, max.max(1)).await == 0 {
            return None;
        }
        Some(coalesce(batch))
    }
}

#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    PullRequest(&'a str, u64),
    Push(&'a str, &'a str),
}

fn key(event: &HookEvent) -> Key<'_> {
    match event {
        HookEvent::Push { repo, git_ref, .. } => Key::Push(repo, git_ref),
        HookEvent::PullRequest { repo, number, .. }
        | HookEvent::PullRequestMerged { repo, number, .. }
        | HookEvent::PlanCommand { repo, number, .. } => Key::PullRequest(repo, *number),
    }
}

/// Keeps only the newest event per pull request (repo + number, whatever the
/// variant) and the newest push per ref (repo + ref), in arrival order of the
/// events kept.
pub fn coalesce(events: Vec<HookEvent>) -> Vec<HookEvent> {
    let keep: Vec<bool> = {
        let mut newest = HashMap::new();
        for (i, event) in events.iter().enumerate() {
            newest.insert(key(event), i);
        }
        (0..events.len())
            .map(|i| newest[&key(&events[i])] == i)
            .collect()
    };
    events
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(repo: &str, number: u64, head: &str) -> HookEvent {
        HookEvent::PullRequest {
            repo: repo.into(),
            number,
            head_sha: head.into(),
            head_ref: "feature".into(),
            base_ref: "main".into(),
            author: "a".into(),
            draft: false,
        }
    }

    fn push(git_ref: &str, after: &str) -> HookEvent {
        HookEvent::Push {
            repo: "o/r".into(),
            git_ref: git_ref.into(),
            before: "0".into(),
            after: after.into(),
            pusher: "p".into(),
            commits_head_message: None,
        }
    }

    #[test]
    fn keeps_newest_per_pr_and_per_ref_in_order() {
        let merged = HookEvent::PullRequestMerged {
            repo: "o/r".into(),
            number: 1,
            merge_sha: "m".into(),
            base_ref: "main".into(),
        };
        let batch = vec![
            pr("o/r", 1, "a"),
            push("refs/heads/main", "p1"),
            pr("o/r", 2, "b"),
            pr("o/r", 1, "c"),
            pr("x/y", 1, "d"),
            push("refs/heads/dev", "d1"),
            push("refs/heads/main", "p2"),
            merged.clone(),
        ];
        assert_eq!(
            coalesce(batch),
            vec![
                pr("o/r", 2, "b"),
                pr("x/y", 1, "d"),
                push("refs/heads/dev", "d1"),
                push("refs/heads/main", "p2"),
                merged,
            ]
        );
        assert!(coalesce(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn full_queue_rejects_and_batch_drains_coalesced() {
        let (q, mut rx) = event_queue(2);
        q.try_enqueue(pr("o/r", 1, "a")).unwrap();
        q.try_enqueue(pr("o/r", 1, "b")).unwrap();
        assert_eq!(q.try_enqueue(pr("o/r", 1, "c")), Err(EnqueueError::Full));
        assert_eq!(rx.recv_batch(10).await, Some(vec![pr("o/r", 1, "b")]));
        drop(q);
        assert_eq!(rx.recv_batch(10).await, None);
    }

    #[tokio::test]
    async fn closed_queue_is_reported() {
        let (q, rx) = event_queue(1);
        drop(rx);
        assert_eq!(q.try_enqueue(pr("o/r", 1, "a")), Err(EnqueueError::Closed));
    }
}
