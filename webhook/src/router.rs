//! `POST /hooks/github`: verify, parse, de-duplicate and enqueue. No work happens inline.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::dedup::DeliveryLog;
use crate::events::{self, Outcome};
use crate::queue::{EnqueueError, EventQueue};
use crate::signature;

/// Path the router serves.
pub const WEBHOOK_PATH: &str = "/hooks/github";
/// Default largest accepted body: 1 MiB (bigger bodies get 413).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Default number of recent delivery ids remembered to drop duplicates.
pub const DEFAULT_DEDUP_CAPACITY: usize = 4096;
/// Default `Retry-After` seconds sent with 503 when the queue is full.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 5;
/// Longest `X-GitHub-Delivery` accepted (GitHub sends 36-character GUIDs).
const MAX_DELIVERY_ID_LEN: usize = 128;

/// Called once per delivery with its event and its outcome, both from fixed lists (so they
/// can be metric labels): the event is `push`, `pull_request`, `issue_comment`, `ping` or
/// `other` (see [`event_label`]); the outcome is `queued`, `ignored`, `pong`, `duplicate`,
/// `forbidden`, `rejected` (signature missing or wrong), `too_large`, `bad_request`,
/// `unsupported_media_type` or `unavailable`.
pub type DeliveryObserver = Arc<dyn Fn(&'static str, &'static str) + Send + Sync>;

/// The event header as one of the events cubist knows, or `other` (absent, unknown or forged:
/// the header is read before the signature is checked).
pub fn event_label(event: Option<&str>) -> &'static str {
    match event {
        Some("push") => "push",
        Some("pull_request") => "pull_request",
        Some("issue_comment") => "issue_comment",
        Some("ping") => "ping",
        _ => "other",
    }
}

/// Settings of the webhook receiver. `Debug` never shows the secret.
#[derive(Clone)]
pub struct WebhookConfig {
    secret: Arc<[u8]>,
    max_body_bytes: usize,
    dedup_capacity: usize,
    retry_after_secs: u64,
    observer: Option<DeliveryObserver>,
}

/// Why the webhook receiver cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No (or an empty) secret: the receiver fails closed and is not mounted.
    #[error(
        "webhook disabled: no secret configured; set the same secret here and in the GitHub webhook settings to enable POST /hooks/github"
    )]
    NoSecret,
}

impl WebhookConfig {
    /// Builds a config from the shared webhook secret; `None`, empty or blank → [`ConfigError::NoSecret`].
    pub fn from_secret(secret: Option<String>) -> Result<Self, ConfigError> {
        let secret = secret
            .filter(|s| !s.trim().is_empty())
            .ok_or(ConfigError::NoSecret)?;
        Ok(Self {
            secret: Arc::from(secret.into_bytes()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            dedup_capacity: DEFAULT_DEDUP_CAPACITY,
            retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
            observer: None,
        })
    }

    /// Sets the largest accepted body in bytes (default 1 MiB).
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets how many recent delivery ids are remembered (default 4096).
    pub fn with_dedup_capacity(mut self, ids: usize) -> Self {
        self.dedup_capacity = ids;
        self
    }

    /// Sets the `Retry-After` seconds sent with 503 (default 5).
    pub fn with_retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// Tells `observer` the event and outcome of every delivery (for `/metrics`).
    pub fn with_observer(mut self, observer: DeliveryObserver) -> Self {
        self.observer = Some(observer);
        self
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &"<redacted>")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("dedup_capacity", &self.dedup_capacity)
            .field("retry_after_secs", &self.retry_after_secs)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

struct Shared {
    config: WebhookConfig,
    queue: EventQueue,
    deliveries: Mutex<DeliveryLog>,
}

/// Builds the router serving `POST /hooks/github`, which enqueues verified events into `sink`.
pub fn router(config: WebhookConfig, sink: EventQueue) -> Router {
    let limit = config.max_body_bytes;
    let shared = Arc::new(Shared {
        deliveries: Mutex::new(DeliveryLog::new(config.dedup_capacity)),
        config,
        queue: sink,
    });
    Router::new()
        .route(WEBHOOK_PATH, post(receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The outcome of a delivery (see [`DeliveryObserver`]), carried by its response.
#[derive(Debug, Clone, Copy)]
struct Delivered(&'static str);

fn reply(status: StatusCode, outcome: &'static str, body: Value) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    response.extensions_mut().insert(Delivered(outcome));
    response
}

fn error(
    status: StatusCode,
    outcome: &'static str,
    label: &str,
    message: impl fmt::Display,
) -> Response {
    reply(
        status,
        outcome,
        json!({ "status": label, "error": message.to_string() }),
    )
}

async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let event = event_label(header_str(request.headers(), "x-github-event"));
    let response = handle(&shared, request).await;
    // Every answer of `handle` carries its outcome.
    if let (Some(observe), Some(Delivered(outcome))) = (
        &shared.config.observer,
        response.extensions().get::<Delivered>(),
    ) {
        observe(event, outcome);
    }
    response
}

async fn handle(shared: &Shared, request: Request) -> Response {
    let headers = request.headers();
    let delivery = header_str(headers, "x-github-delivery").map(str::to_owned);
    let event = header_str(headers, "x-github-event").map(str::to_owned);
    let signature = header_str(headers, "x-hub-signature-256").map(str::to_owned);
    let form_encoded = header_str(headers, "content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let log_id = delivery.as_deref().unwrap_or("-");

    if signature.is_none() {
        warn!(delivery = ?log_id, outcome = "unauthorized", "missing X-Hub-Signature-256");
        return error(
            StatusCode::UNAUTHORIZED,
            "rejected",
            "unauthorized",
            signature::SignatureError::Missing,
        );
    }
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            warn!(delivery = ?log_id, outcome = "too_large", "body over limit");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "payload_too_large",
                format!("body exceeds {} bytes", shared.config.max_body_bytes),
            );
        }
        Err(rejection) => {
            warn!(delivery = ?log_id, outcome = "bad_request", "could not read body: {rejection}");
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "bad_request",
                "could not read request body",
            );
        }
    };
    if let Err(e) = signature::verify(&shared.config.secret, signature.as_deref(), &body) {
        warn!(delivery = ?log_id, outcome = "unauthorized", "{e}");
        return error(StatusCode::UNAUTHORIZED, "rejected", "unauthorized", e);
    }

    // Authenticated from here on.
    let Some(event) = event else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "bad_request",
            "missing X-GitHub-Event header",
        );
    };
    let Some(delivery) = delivery.filter(|d| !d.is_empty() && d.len() <= MAX_DELIVERY_ID_LEN)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "bad_request",
            "missing or over-long X-GitHub-Delivery header",
        );
    };
    if form_encoded {
        warn!(delivery = ?delivery, event = %event, outcome = "unsupported_media_type");
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "unsupported_media_type",
            "set the GitHub webhook content type to application/json",
        );
    }
    let outcome = match events::classify(&event, &body) {
        Ok(outcome) => outcome,
        Err(e) => {
            warn!(delivery = ?delivery, event = %event, outcome = "bad_request", "{e}");
            return error(StatusCode::BAD_REQUEST, "bad_request", "bad_request", e);
        }
    };
    if !shared
        .deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(&delivery)
    {
        info!(delivery = ?delivery, event = %event, outcome = "duplicate");
        return reply(
            StatusCode::OK,
            "duplicate",
            json!({ "status": "duplicate delivery ignored", "delivery": delivery }),
        );
    }
    match outcome {
        Outcome::Pong => {
            info!(delivery = ?delivery, event = %event, outcome = "pong");
            reply(StatusCode::OK, "pong", json!({ "status": "pong" }))
        }
        Outcome::Ignored(reason) => {
            info!(delivery = ?delivery, event = %event, outcome = "ignored", %reason);
            reply(
                StatusCode::ACCEPTED,
                "ignored",
                json!({ "status": "ignored", "reason": reason }),
            )
        }
        Outcome::Forbidden(reason) => {
            warn!(delivery = ?delivery, event = %event, outcome = "forbidden", %reason);
            reply(
                StatusCode::FORBIDDEN,
                "forbidden",
                json!({ "status": "forbidden", "reason": reason }),
            )
        }
        Outcome::Event(hook_event) => {
            let kind = hook_event.kind();
            match shared.queue.try_enqueue(hook_event) {
                Ok(()) => {
                    info!(delivery = ?delivery, event = %event, outcome = "queued", kind);
                    reply(
                        StatusCode::ACCEPTED,
                        "queued",
                        json!({ "status": "queued", "event": kind }),
                    )
                }
                Err(e) => {
                    // Let GitHub's redelivery of this id through once we have room again.
                    shared
                        .deliveries
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .forget(&delivery);
                    warn!(delivery = ?delivery, event = %event, outcome = "unavailable", "{e}");
                    let mut response = error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "unavailable",
                        e,
                    );
                    if e == EnqueueError::Full {
                        response.headers_mut().insert(
                            header::RETRY_AFTER,
                            HeaderValue::from(shared.config.retry_after_secs),
                        );
                    }
                    response
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_fails_closed() {
        assert_eq!(
            WebhookConfig::from_secret(None).unwrap_err(),
            ConfigError::NoSecret
        );
        assert_eq!(
            WebhookConfig::from_secret(Some("  ".into())).unwrap_err(),
            ConfigError::NoSecret
        );
        assert!(
            ConfigError::NoSecret
                .to_string()
                .starts_with("webhook disabled: no secret configured")
        );
    }

    #[test]
    fn debug_redacts_secret() {
        let config = WebhookConfig::from_secret(Some("hunter2-very-secret".into())).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
