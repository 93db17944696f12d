//! Shared by the review tests: the webhook router and the review worker driven in-process
//! against a fake GitHub and a real git remote.
#![allow(dead_code)]

pub mod fake_github;
pub mod platform;
#[path = "../../webhook/tests/common/mod.rs"]
pub mod webhook_common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cubist::reconcile::Outcome;
use cubist::review::{ReviewConfig, Reviewer, reconciled_channel, run};
use cubist_github::{GitHub, GitHubToken, RetryPolicy};
use fake_github::TOKEN;
use platform::Platform;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;
use wiremock::MockServer;

/// The repository on the fake GitHub.
pub const REPO: &str = "acme/platform";
/// Pull request cubist plans in the tests.
pub const PR: u64 = 2;

/// A real GitHub payload from the shared reference directory (never copied into the repo),
/// moved to [`REPO`].
pub fn payload(name: &str) -> Value {
    let mut v = webhook_common::payload(name);
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

/// An `issue_comment` payload: `/cubist plan` on [`PR`] by Codertocat with `association`.
pub fn plan_command(association: &str) -> Value {
    let mut v = payload("issue_comment.created.json");
    v["issue"]["number"] = json!(PR);
    v["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/acme/platform/pulls/2"});
    v["comment"]["body"] = json!("/cubist plan");
    v["comment"]["author_association"] = json!(association);
    v
}

/// A delivery of `body`, signed with the webhook tests' secret.
pub fn signed(event: &str, delivery: &str, body: &Value) -> Request<Body> {
    webhook_common::signed(event, delivery, body.to_string())
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
        login: None,
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
    let (app, events) = webhook_common::app(16);
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
        None,
    )
    .await;
    Delivered { codes, nudges }
}
