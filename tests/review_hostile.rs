//! Hostile or irrelevant deliveries through the webhook router and the review worker: the
//! right HTTP status, and no comment, no status and no reconcile nudge. Only a delivery that
//! passes every check reaches GitHub, and a replay of it does not reach it twice.

mod review_support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cubist_webhook::signature;
use review_support::fake_github::{FakeGitHub, calls};
use review_support::platform::Platform;
use review_support::webhook_common;
use review_support::{PR, deliver, payload, plan_command, pull_request, reviewer, signed};
use serde_json::json;
use wiremock::MockServer;

struct Setup {
    github: FakeGitHub,
    server: MockServer,
    platform: Platform,
    head: String,
}

/// A pull request whose head is `main` plus one more `train` worker.
async fn setup() -> Setup {
    let github = FakeGitHub::default();
    let server = github.start().await;
    let platform = Platform::new();
    platform.edit(
        "projects/p/pipelines/daily.yaml",
        "workers: 1}",
        "workers: 2}",
    );
    let head = platform.commit("changes");
    platform.set_pull_head(PR, &head);
    github.add_pull(PR, &head, "main");
    Setup {
        github,
        server,
        platform,
        head,
    }
}

fn body(s: &Setup) -> Vec<u8> {
    pull_request("opened", &s.head).to_string().into_bytes()
}

fn unsigned(body: Vec<u8>, signature: Option<String>) -> Request<Body> {
    let mut b = Request::post("/hooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "d-hostile");
    if let Some(sig) = signature {
        b = b.header("x-hub-signature-256", sig);
    }
    b.body(Body::from(body)).unwrap()
}

/// Delivers `request`; asserts its status, no nudge, and no GitHub call at all.
async fn refused(s: &Setup, request: Request<Body>, code: StatusCode) {
    let done = deliver(&reviewer(&s.server, &s.platform), vec![request], &[]).await;
    assert_eq!((done.codes, done.nudges), (vec![code], 0));
    assert_eq!(calls(&s.server).await, Vec::new());
    assert!(s.github.comments(PR).is_empty());
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn forged_missing_and_tampered_signatures_are_401() {
    let s = setup().await;
    let forged = signature::sign(b"attacker-guess", &body(&s));
    refused(
        &s,
        unsigned(body(&s), Some(forged)),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    refused(&s, unsigned(body(&s), None), StatusCode::UNAUTHORIZED).await;
    let sig = signature::sign(webhook_common::SECRET.as_bytes(), &body(&s));
    let mut tampered = body(&s);
    tampered.extend_from_slice(b"\n");
    refused(&s, unsigned(tampered, Some(sig)), StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn oversized_and_malformed_bodies_are_refused() {
    let s = setup().await;
    let mut big = pull_request("opened", &s.head);
    big["padding"] = json!("x".repeat(1 << 20));
    refused(
        &s,
        signed("pull_request", "d-big", &big),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let truncated = Request::post("/hooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "d-bad")
        .header(
            "x-hub-signature-256",
            signature::sign(webhook_common::SECRET.as_bytes(), b"{\"action\":"),
        )
        .body(Body::from("{\"action\":"))
        .unwrap();
    refused(&s, truncated, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn commands_from_outsiders_and_users_without_write_access_do_nothing() {
    let s = setup().await;
    let mut command = plan_command("NONE");
    refused(
        &s,
        signed("issue_comment", "d-none", &command),
        StatusCode::FORBIDDEN,
    )
    .await;

    // A collaborator GitHub says can only read: the permission is checked, nothing else happens.
    command["comment"]["author_association"] = json!("COLLABORATOR");
    let done = deliver(
        &reviewer(&s.server, &s.platform),
        vec![signed("issue_comment", "d-reader", &command)],
        &[],
    )
    .await;
    assert_eq!((done.codes, done.nudges), (vec![StatusCode::ACCEPTED], 0));
    let got: Vec<(String, String)> = calls(&s.server)
        .await
        .into_iter()
        .map(|c| (c.0, c.1))
        .collect();
    assert_eq!(
        got,
        vec![(
            "GET".into(),
            "/repos/acme/platform/collaborators/Codertocat/permission".into()
        )]
    );
    assert!(s.github.comments(PR).is_empty());
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn other_repositories_branches_and_pushes_are_left_alone() {
    let s = setup().await;
    let mut elsewhere = pull_request("opened", &s.head);
    elsewhere["repository"]["full_name"] = json!("mallory/platform");
    let mut into_dev = pull_request("opened", &s.head);
    into_dev["pull_request"]["base"]["ref"] = json!("dev");
    let mut push = payload("push.json");
    push["ref"] = json!("refs/heads/changes");
    push["deleted"] = json!(false);
    let requests = vec![
        signed("pull_request", "d-elsewhere", &elsewhere),
        signed("pull_request", "d-dev", &into_dev),
        signed("push", "d-branch", &push),
    ];
    let done = deliver(&reviewer(&s.server, &s.platform), requests, &[]).await;
    assert_eq!(
        (done.codes, done.nudges),
        (vec![StatusCode::ACCEPTED; 3], 0)
    );
    assert_eq!(calls(&s.server).await, Vec::new());
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn a_replayed_delivery_is_planned_once() {
    let s = setup().await;
    let opened = pull_request("opened", &s.head);
    let requests = vec![
        signed("pull_request", "d-same", &opened),
        signed("pull_request", "d-same", &opened),
    ];
    let done = deliver(&reviewer(&s.server, &s.platform), requests, &[]).await;
    assert_eq!(done.codes, vec![StatusCode::ACCEPTED, StatusCode::OK]);
    let writes: Vec<(String, String)> = calls(&s.server)
        .await
        .into_iter()
        .filter(|c| c.0 != "GET")
        .map(|c| (c.0, c.1))
        .collect();
    let status = format!("/repos/acme/platform/statuses/{}", s.head);
    assert_eq!(
        writes,
        vec![
            (
                "POST".into(),
                "/repos/acme/platform/issues/2/comments".into()
            ),
            ("POST".into(), status.clone()),
            ("POST".into(), status),
        ]
    );
    assert_eq!(s.github.comments(PR).len(), 1);
}
