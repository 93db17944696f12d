//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use cubist_webhook::{EventReceiver, WebhookConfig, event_queue, router, signature};
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET: &str = "test-webhook-secret";

/// Reads a real GitHub payload from the upstream reference data (`../shared/reference` beside
/// the workspace unless `CUBIST_REFERENCE_DIR` was set at build time; see `build.rs`). Tests
/// that read one carry `#[cfg_attr(not(has_reference_webhooks), ignore = "…")]`.
pub fn payload(name: &str) -> Value {
    let dir = PathBuf::from(env!("CUBIST_REFERENCE_DIR")).join("github-webhooks");
    let path = dir.join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A router over a queue of `capacity`, plus the queue's receiving end.
pub fn app(capacity: usize) -> (Router, EventReceiver) {
    let (queue, rx) = event_queue(capacity);
    let config = WebhookConfig::from_secret(Some(SECRET.into())).unwrap();
    (router(config, queue), rx)
}

/// A signed delivery request.
pub fn signed(event: &str, delivery: &str, body: impl Into<Vec<u8>>) -> Request<Body> {
    let body = body.into();
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

/// Sends `request` through `app`, returning status and parsed JSON body.
pub async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value, Response<Body>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, json, Response::from_parts(parts, Body::empty()))
}

/// Asserts nothing is queued.
pub fn assert_empty(rx: &mut EventReceiver) {
    let next = rx.try_recv();
    assert!(next.is_none(), "unexpected event {next:?}");
}
