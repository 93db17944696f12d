//! The review worker keeps the reconcile loop responsive: a push to the watched branch nudges
//! the loop while the reviewer is still waiting on GitHub for an earlier event.

mod review_support;

use cubist::metrics::Metrics;
use cubist::review::{reconciled_channel, run};
use cubist_webhook::{HookEvent, event_queue};
use review_support::platform::Platform;
use review_support::{REPO, reviewer};
use std::sync::{Mutex, mpsc};
use std::time::Duration;
use tokio::sync::mpsc as tokio_mpsc;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A GitHub that reports each request and answers it only once the test lets it.
struct Gate {
    arrived: tokio_mpsc::UnboundedSender<()>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Respond for Gate {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let _ = self.arrived.send(());
        let _ = self.release.lock().unwrap().recv(); // returns once the test drops the sender
        ResponseTemplate::new(404)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_nudges_the_loop_while_github_is_still_answering() {
    let server = MockServer::start().await;
    // Declared after the server, so a failing test drops it first and the gate opens.
    let (arrived_tx, mut arrived) = tokio_mpsc::unbounded_channel();
    let (release, gate) = mpsc::channel::<()>();
    let gate = Gate {
        arrived: arrived_tx,
        release: Mutex::new(gate),
    };
    Mock::given(any()).respond_with(gate).mount(&server).await;
    let platform = Platform::new();
    let (queue, events) = event_queue(8);
    let (sender, results) = reconciled_channel();
    let (nudged_tx, mut nudged) = tokio_mpsc::unbounded_channel();
    let metrics = Metrics::new();
    queue
        .try_enqueue(HookEvent::PlanCommand {
            repo: REPO.into(),
            number: 2,
            commenter: "alice".into(),
            author_association: "MEMBER".into(),
        })
        .unwrap();
    let worker = tokio::spawn(run(
        events,
        results,
        Some(reviewer(&server, &platform)),
        "main".into(),
        move || {
            let _ = nudged_tx.send(());
        },
        Some(metrics.clone()),
    ));
    arrived.recv().await.expect("the reviewer asks GitHub");
    queue
        .try_enqueue(HookEvent::Push {
            repo: REPO.into(),
            git_ref: "refs/heads/main".into(),
            before: "0".repeat(40),
            after: "1".repeat(40),
            pusher: "alice".into(),
            commits_head_message: None,
        })
        .unwrap();
    // Only a guard against hanging: the nudge does not wait for GitHub at all.
    let nudge = tokio::time::timeout(Duration::from_secs(60), nudged.recv()).await;
    assert_eq!(nudge, Ok(Some(())), "nudged while GitHub holds the request");
    drop((release, queue, sender));
    worker.await.unwrap();
    assert!(nudged.try_recv().is_err(), "one push, one nudge");
    // Both events reached the reviewer and were counted: the plan command (GitHub answered
    // 404, so no write access was seen) and the push (not a pull request) were ignored.
    let text = metrics.encode();
    let reviews: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cubist_pr_reviews_total{"))
        .collect();
    assert_eq!(
        reviews,
        ["cubist_pr_reviews_total{result=\"ignored\"} 2"],
        "{text}"
    );
}
