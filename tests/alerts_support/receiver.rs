//! A local HTTP receiver for the webhook channel: records every POST body and answers with
//! the statuses it was told to, then 200.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    bodies: Vec<Value>,
    raw_sizes: Vec<usize>,
    answers: Vec<u16>,
}

/// The receiver; clones share state.
#[derive(Clone, Default)]
pub struct Receiver(Arc<Mutex<Inner>>);

impl Receiver {
    /// Serves on 127.0.0.1 at a free port; returns the URL to POST to (with a secret path).
    pub async fn start(&self) -> String {
        let app = Router::new()
            .route("/hooks/{*rest}", post(take))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hooks/{}", super::HOOK_SECRET)
    }

    /// Answers the next requests with these statuses (then 200).
    pub fn answer(&self, statuses: &[u16]) {
        self.0.lock().unwrap().answers = statuses.to_vec();
    }

    /// Every body received (including those answered with an error).
    pub fn bodies(&self) -> Vec<Value> {
        self.0.lock().unwrap().bodies.clone()
    }

    /// The size in bytes of every body received.
    pub fn sizes(&self) -> Vec<usize> {
        self.0.lock().unwrap().raw_sizes.clone()
    }
}

async fn take(State(r): State<Receiver>, body: Bytes) -> StatusCode {
    let mut inner = r.0.lock().unwrap();
    inner.raw_sizes.push(body.len());
    inner
        .bodies
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let status = if inner.answers.is_empty() {
        200
    } else {
        inner.answers.remove(0)
    };
    StatusCode::from_u16(status).unwrap()
}
