//! The generic webhook channel: one POST of JSON per alert, with a timeout and bounded
//! retries. The URL often carries a secret (Slack's does): it is never logged nor put in an
//! error; errors name the channel and its environment variable.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;

/// Tries, backoff and per-try timeout of webhook POSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Total tries per alert, including the first (at least 1).
    pub attempts: u32,
    /// Wait before the second try; doubled for each further try.
    pub base_delay: Duration,
    /// Longest a try may take (connect, send, answer).
    pub timeout: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        WebhookPolicy {
            attempts: 3,
            base_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Longest answer body read (only to drain the connection; it is not shown).
const ANSWER_BYTES: usize = 64 * 1024;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A webhook endpoint. `Debug` hides the URL.
#[derive(Clone)]
pub struct Webhook {
    uri: http::Uri,
    client: HttpsClient,
    policy: WebhookPolicy,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &"<redacted>")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Webhook {
    /// An endpoint at `url` (`http://` or `https://` with a host); the error never repeats
    /// the URL.
    pub fn new(url: &str, policy: WebhookPolicy) -> Result<Webhook, String> {
        let uri: http::Uri = url.trim().parse().map_err(|_| "is not a URL".to_string())?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err("is not an http:// or https:// URL with a host".into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match builder.with_provider_and_native_roots(provider.clone()) {
            Ok(b) => b,
            // No system root certificates: plain http still works, https fails to verify.
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("cannot set up TLS: {e}"))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            ),
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Webhook {
            uri,
            client,
            policy,
        })
    }

    /// POSTs `body` as JSON: done on a 2xx answer; a 5xx, a 429, a timeout or no connection is
    /// tried again (up to [`WebhookPolicy::attempts`]); another answer fails at once.
    pub async fn post(&self, body: &serde_json::Value) -> Result<(), String> {
        let bytes = Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
        let attempts = self.policy.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                let factor = 1u32 << (attempt - 2).min(16);
                tokio::time::sleep(self.policy.base_delay.saturating_mul(factor)).await;
            }
            match tokio::time::timeout(self.policy.timeout, self.try_once(bytes.clone())).await {
                Ok(Ok(status)) if status.is_success() => return Ok(()),
                Ok(Ok(status)) => {
                    last = format!("answered HTTP {}", status.as_u16());
                    let retryable =
                        status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS;
                    if !retryable {
                        return Err(format!("{last}; not retried"));
                    }
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = format!("did not answer within {:?}", self.policy.timeout),
            }
            tracing::warn!(attempt, attempts, "alert webhook {last}");
        }
        Err(format!("{last} (after {attempts} tries)"))
    }

    async fn try_once(&self, body: Bytes) -> Result<http::StatusCode, String> {
        let request = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "cubist-alerts")
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("cannot be reached ({})", error_kind(&e)))?;
        let status = response.status();
        let mut body = response.into_body();
        let mut read = 0usize;
        while read < ANSWER_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
        Ok(status)
    }
}

/// What went wrong with a request, without the URL hyper's errors may carry.
fn error_kind(e: &hyper_util::client::legacy::Error) -> &'static str {
    if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}
