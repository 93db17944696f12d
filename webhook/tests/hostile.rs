//! Requests the receiver must refuse, and load it must shed.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{SECRET, app, assert_empty, payload, send, signed};
use cubist_webhook::{HookEvent, signature};

fn unsigned(event: &str, body: Vec<u8>, signature: Option<String>) -> Request<Body> {
    let mut builder = Request::post("/hooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", "d-hostile");
    if let Some(sig) = signature {
        builder = builder.header("x-hub-signature-256", sig);
    }
    builder.body(Body::from(body)).unwrap()
}

fn pr_body() -> Vec<u8> {
    payload("pull_request.opened.json").to_string().into_bytes()
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn forged_signature_is_401_without_event() {
    let (app, mut rx) = app(8);
    let body = pr_body();
    let forged = signature::sign(b"attacker-guess", &body);
    let (status, json, _) = send(&app, unsigned("pull_request", body, Some(forged))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["status"], "unauthorized");
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn tampered_body_is_401() {
    let (app, mut rx) = app(8);
    let body = pr_body();
    let sig = signature::sign(SECRET.as_bytes(), &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (status, _, _) = send(&app, unsigned("pull_request", tampered, Some(sig))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn missing_signature_is_401() {
    let (app, mut rx) = app(8);
    let (status, json, _) = send(&app, unsigned("pull_request", pr_body(), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("X-Hub-Signature-256")
    );
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn body_over_one_mib_is_413() {
    let (app, mut rx) = app(8);
    let mut value = payload("push.with-new-branch.json");
    value["padding"] = serde_json::json!("x".repeat(1 << 20));
    let (status, json, _) = send(&app, signed("push", "d-big", value.to_string())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_empty(&mut rx);
}

#[tokio::test]
async fn malformed_json_with_valid_signature_is_400() {
    let (app, mut rx) = app(8);
    let (status, json, _) = send(&app, signed("push", "d-bad", "{\"ref\": ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["status"], "bad_request");
    let (status, _, _) = send(
        &app,
        signed("pull_request", "d-bad2", "{\"action\": \"opened\"}"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "valid JSON lacking required fields"
    );
    assert_empty(&mut rx);
}

#[tokio::test]
async fn form_encoded_delivery_is_415() {
    let (app, mut rx) = app(8);
    let mut request = signed("push", "d-form", "payload=%7B%7D");
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let (status, _, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn replayed_delivery_is_ignored_and_queues_once() {
    let (app, mut rx) = app(8);
    let body = pr_body();
    let (first, _, _) = send(&app, signed("pull_request", "same-id", body.clone())).await;
    let (second, json, _) = send(&app, signed("pull_request", "same-id", body)).await;
    assert_eq!(first, StatusCode::ACCEPTED);
    assert_eq!(second, StatusCode::OK);
    assert_eq!(json["status"], "duplicate delivery ignored");
    assert!(matches!(rx.try_recv(), Some(HookEvent::PullRequest { .. })));
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn full_queue_is_503_with_retry_after_and_redelivery_works() {
    let (app, mut rx) = app(1);
    let body = pr_body();
    let (status, _, _) = send(&app, signed("pull_request", "q-1", body.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, json, response) = send(&app, signed("pull_request", "q-2", body.clone())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json["status"], "unavailable");
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    // The consumer catches up; GitHub's redelivery of q-2 is now accepted, not a duplicate.
    assert!(rx.try_recv().is_some());
    let (status, _, _) = send(&app, signed("pull_request", "q-2", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(rx.try_recv().is_some());
    assert_empty(&mut rx);
}

#[tokio::test]
async fn wrong_method_and_path_are_rejected() {
    let (app, _rx) = app(8);
    let get = Request::get("/hooks/github").body(Body::empty()).unwrap();
    let (status, _, _) = send(&app, get).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let other = Request::post("/hooks/gitlab").body(Body::empty()).unwrap();
    let (status, _, _) = send(&app, other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
