//! The HTTP server: an axum router that renders pages from a [`StatusSource`] on each GET.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;

use crate::site::{self, Page, PageOptions};
use crate::tree::StatusTree;

/// `Content-Security-Policy` of every page: no scripts, no external resources.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:";

/// Where the server gets the status tree from, on every request.
pub trait StatusSource: Send + Sync + 'static {
    /// The current status tree (the reconciler reads its status branch head).
    fn load(&self) -> anyhow::Result<StatusTree>;
}

/// A status tree read from a directory (the one that contains `status/`) on every request.
#[derive(Debug, Clone)]
pub struct DirSource {
    /// The tree root.
    pub root: PathBuf,
}

impl DirSource {
    /// A source reading `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSource { root: root.into() }
    }
}

impl StatusSource for DirSource {
    fn load(&self) -> anyhow::Result<StatusTree> {
        Ok(StatusTree::from_dir(&self.root)?)
    }
}

/// The status page router with auto-refresh every 10 s; GET (and HEAD) only, other methods get 405.
pub fn router<S: StatusSource>(source: S) -> Router {
    router_with_options(
        source,
        PageOptions {
            refresh_secs: Some(10),
        },
    )
}

/// [`router`] with explicit page options.
pub fn router_with_options<S: StatusSource>(source: S, opts: PageOptions) -> Router {
    let state = Arc::new((source, opts));
    Router::new()
        .route("/", get(serve::<S>))
        .route("/{*path}", get(serve::<S>))
        .with_state(state)
}

async fn serve<S: StatusSource>(State(state): State<Arc<(S, PageOptions)>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let page = tokio::task::spawn_blocking(move || {
        let (source, opts) = &*state;
        let now = Utc::now();
        match source.load() {
            Ok(tree) => site::render_page(&tree, &path, now, opts)
                .unwrap_or_else(|| site::not_found_page(&path, now, opts)),
            Err(e) => {
                // The cause may name internal paths or remotes: log it, do not serve it.
                tracing::warn!(error = format!("{e:#}"), "status tree could not be loaded");
                site::unavailable_page(
                    "The status branch could not be read; see the server log.",
                    now,
                    opts,
                )
            }
        }
    })
    .await;
    match page {
        Ok(page) => html_response(page),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn html_response(page: Page) -> Response {
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
    let mut res = (status, page.html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}
