//! Shared by the review tests: the webhook router and the review worker driven in-process
//! against a fake GitHub and a real git remote.
#![allow(dead_code)]

pub mod fake_github;
pub mod platform;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cubist::reconcile::Outcome;
use cubist::review::{ReviewConfig, Reviewer, reconciled_channel, run};
use cubist_webhook::github::{GitHub, GitHubToken, RetryPolicy};
use cubist_webhook::{WebhookConfig, event_queue, router, signature};
use fake_github::TOKEN;
use platform::Platform;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tower::ServiceExt;
use wiremock::MockServer;

/// The webhook secret of the tests.
pub const SECRET: &str = "review-test-secret";
/// The repository on the fake GitHub.
pub const REPO: &str = "acme/platform";
/// Pull request cubist plans in the tests.
pub const PR: u64 = 2;

/// A real GitHub payload from the shared reference directory (never copied into the repo),
/// moved to [`REPO`].
pub fn payload(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/github-webhooks")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["repository"]["full_name"] = json!(REPO);
    v["repository"]["name"] = json!("platform");
    v["repository"]["owner"]["login"] = json!("acme");
    v
}

/// A `pull_request` payload (`opened`, `synchronize`, …) for head `sha` of branch `changes` into `main`.
pub fn pull_request(action: &str, sha: &str) -> Value {
    let mut v = payload(&format!("pull_request.{action}.json"));
    v["pull_request"]["head"]["sha"] = json!(sha);
    v["pull_request"]["head"]["ref"] = json!("changes");
    v["pull_request"]["base"]["ref"] = json!("main");
    v
}

/// A delivery signed with [`SECRET`].
pub fn signed(event: &str, delivery: &str, body: &Value) -> Request<Body> {
    let body = body.to_string().into_bytes();
    Request::post("/hooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            signature::sign(SECRET.as_bytes(), &body),
        )
        .body(Body::from(body))
        .unwrap()
}

/// A reviewer of [`REPO`] talking to `server`, fetching from `platform`'s remote.
pub fn reviewer(server: &MockServer, platform: &Platform) -> Reviewer {
    let gh = GitHub::new(&server.uri(), GitHubToken::new(TOKEN).unwrap())
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        });
    let cfg = ReviewConfig {
        repo_url: platform.url(),
        owner: "acme".into(),
        name: "platform".into(),
        branch: "main".into(),
        cache_dir: platform.cache("review"),
        api_base: server.uri(),
        web_base: "https://github.com".into(),
    };
    Reviewer::new(cfg, gh)
}

/// What one round of deliveries did.
#[derive(Debug)]
pub struct Delivered {
    /// HTTP status of each delivery, in order.
    pub codes: Vec<StatusCode>,
    /// How often the worker nudged the reconcile loop.
    pub nudges: usize,
}

/// Sends `requests` through a fresh webhook router, hands `outcomes` to the worker as the
/// reconcile loop would, closes both, and runs the review worker until it has handled all.
pub async fn deliver(
    reviewer: &Reviewer,
    requests: Vec<Request<Body>>,
    outcomes: &[Outcome],
) -> Delivered {
    let (queue, events) = event_queue(16);
    let app = router(
        WebhookConfig::from_secret(Some(SECRET.into())).unwrap(),
        queue,
    );
    let mut codes = Vec::new();
    for request in requests {
        codes.push(app.clone().oneshot(request).await.unwrap().status());
    }
    drop(app);
    let (sender, results) = reconciled_channel();
    for o in outcomes {
        sender.send(o);
    }
    drop(sender);
    let mut nudges = 0;
    run(
        events,
        results,
        Some(reviewer.clone()),
        "main".into(),
        || nudges += 1,
    )
    .await;
    Delivered { codes, nudges }
}
