//! Every answer of the receiver reaches the delivery observer once, with an event from the
//! fixed list and the outcome that answer stands for (what `/metrics` counts).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{SECRET, send, signed};
use cubist_webhook::{WebhookConfig, event_queue, router};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(&'static str, &'static str)>>>;

const PUSH: &str = r#"{"ref":"refs/heads/main","before":"0","after":"1",
    "repository":{"full_name":"o/r"},"pusher":{"name":"p"}}"#;

fn unsigned(event: &str, signature: Option<&str>, content_type: &str, body: &str) -> Request<Body> {
    let mut r = Request::post("/hooks/github")
        .header("content-type", content_type)
        .header("x-github-event", event)
        .header("x-github-delivery", "d-unsigned");
    if let Some(s) = signature {
        r = r.header("x-hub-signature-256", s);
    }
    r.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn each_delivery_is_observed_once_with_its_outcome() {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let config = WebhookConfig::from_secret(Some(SECRET.into()))
        .unwrap()
        .with_max_body_bytes(512)
        .with_observer(Arc::new(move |event, outcome| {
            log.lock().unwrap().push((event, outcome))
        }));
    let (queue, _events) = event_queue(1);
    let app = router(config, queue);

    let cases: Vec<(Request<Body>, StatusCode)> = vec![
        (signed("push", "d1", PUSH), StatusCode::ACCEPTED),
        (signed("push", "d1", PUSH), StatusCode::OK),
        (signed("push", "d2", PUSH), StatusCode::SERVICE_UNAVAILABLE),
        (signed("ping", "d3", "{}"), StatusCode::OK),
        (signed("watch", "d4", "{}"), StatusCode::ACCEPTED),
        (signed("push", "d5", "not json"), StatusCode::BAD_REQUEST),
        (
            signed("push", "d6", "x".repeat(600)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            unsigned("push", None, "application/json", PUSH),
            StatusCode::UNAUTHORIZED,
        ),
        (
            unsigned("x\"}\\n", Some("sha256=00"), "application/json", PUSH),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (request, want) in cases {
        let (status, json, _) = send(&app, request).await;
        assert_eq!(status, want, "{json}");
    }
    let mut form = signed("issue_comment", "d7", "payload=%7B%7D");
    form.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let (status, _, _) = send(&app, form).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("push", "queued"),
            ("push", "duplicate"),
            ("push", "unavailable"),
            ("ping", "pong"),
            ("other", "ignored"),
            ("push", "bad_request"),
            ("push", "too_large"),
            ("push", "rejected"),
            ("other", "rejected"),
            ("issue_comment", "unsupported_media_type"),
        ]
    );
}
