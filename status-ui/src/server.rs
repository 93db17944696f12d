//! The HTTP server: an axum router that renders pages from a [`StatusSource`] on each GET, with
//! `/healthz` and `/readyz` when it is given the loop's [`Liveness`]; and [`serve`], which
//! serves a router with a header-read timeout, an idle timeout and a connection cap, so slow
//! or stalled clients cannot take the server down.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;

use crate::liveness::Liveness;
use crate::site::{self, Page, PageOptions};
use crate::tree::StatusTree;

pub use crate::limits::{Limits, serve};

/// `Content-Security-Policy` of every page: no scripts, no external resources.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:";

/// Where the server gets the status tree from, on every request.
pub trait StatusSource: Send + Sync + 'static {
    /// The current status tree (the reconciler's: the one of its status branch head, read
    /// once per commit and shared by the requests until the branch moves).
    fn load(&self) -> anyhow::Result<Arc<StatusTree>>;
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
    fn load(&self) -> anyhow::Result<Arc<StatusTree>> {
        Ok(Arc::new(StatusTree::from_dir(&self.root)?))
    }
}

/// The status page router with auto-refresh every 10 s; GET (and HEAD) only, other methods get 405.
pub fn router<S: StatusSource>(source: S) -> Router {
    router_with_options(
        source,
        PageOptions {
            refresh_secs: Some(10),
            ..PageOptions::default()
        },
    )
}

/// [`router`] with explicit page options.
pub fn router_with_options<S: StatusSource>(source: S, opts: PageOptions) -> Router {
    build(source, opts, None)
}

/// [`router`] of a server that runs next to the reconcile loop: `GET /healthz` answers 200
/// while the process is up; `GET /readyz` answers 200 when the loop is live (a pass completed
/// within the last few intervals) and 503 with a one-line reason when it is not; and every page
/// carries a banner while the loop is stalled.
pub fn router_with_liveness<S: StatusSource>(source: S, liveness: Arc<Liveness>) -> Router {
    let opts = PageOptions {
        refresh_secs: Some(10),
        ..PageOptions::default()
    };
    build(source, opts, Some(liveness.clone()))
        .route("/healthz", get(|| async { text(StatusCode::OK, "ok") }))
        .route(
            "/readyz",
            get(move || async move {
                // A replica among several says what it is on a second line.
                let role = liveness
                    .role()
                    .map(|r| format!("\n{r}"))
                    .unwrap_or_default();
                match liveness.ready(Utc::now()) {
                    Ok(()) => text(StatusCode::OK, &format!("ready{role}")),
                    Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, &format!("{why}{role}")),
                }
            }),
        )
}

/// What every page handler shares.
struct Shared<S> {
    source: S,
    opts: PageOptions,
    liveness: Option<Arc<Liveness>>,
}

fn build<S: StatusSource>(source: S, opts: PageOptions, liveness: Option<Arc<Liveness>>) -> Router {
    let state = Arc::new(Shared {
        source,
        opts,
        liveness,
    });
    Router::new()
        .route("/", get(serve_page::<S>))
        .route("/{*path}", get(serve_page::<S>))
        .with_state(state)
}

async fn serve_page<S: StatusSource>(State(state): State<Arc<Shared<S>>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let page = tokio::task::spawn_blocking(move || {
        let now = Utc::now();
        let mut opts = state.opts.clone();
        let live = state.liveness.as_deref();
        opts.replica = live.and_then(|l| l.role());
        opts.banner = live.and_then(|l| l.stall(now)).map(|s| {
            format!(
                "reconcile loop stalled since {}: {}. What this page shows may be out of date.",
                crate::format::utc(s.since),
                s.why
            )
        });
        match state.source.load() {
            Ok(tree) => site::render_page(&tree, &path, now, &opts)
                .unwrap_or_else(|| site::not_found_page(&path, now, &opts)),
            Err(e) => {
                // The cause may name internal paths or remotes: log it, do not serve it. The
                // loop's own reason (written for people, without secrets) is shown instead.
                tracing::warn!(error = format!("{e:#}"), "status tree could not be loaded");
                let why = live.and_then(|l| l.ready(now).err()).unwrap_or_else(|| {
                    "The status branch could not be read; see the server log.".into()
                });
                site::unavailable_page(&why, now, &opts)
            }
        }
    })
    .await;
    match page {
        Ok(page) => html_response(page),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A plain-text answer (health checks).
fn text(status: StatusCode, body: &str) -> Response {
    let mut res = (status, format!("{body}\n")).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::collections::BTreeMap;
    use std::time::Duration;
    use tower::ServiceExt;

    /// An empty status tree, or none (the repository was never fetched).
    struct Fake(bool);

    impl StatusSource for Fake {
        fn load(&self) -> anyhow::Result<Arc<StatusTree>> {
            anyhow::ensure!(self.0, "/secret/cache/mirror-1234.git: not found");
            Ok(Arc::new(StatusTree::new(BTreeMap::new())))
        }
    }

    async fn get(app: &Router, path: &str) -> (u16, String) {
        let req = Request::get(path).body(Body::empty()).unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let code = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (code, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn health_readiness_and_banner_follow_the_loop() {
        let live = Arc::new(Liveness::new(Duration::from_secs(60), Utc::now()));
        let app = router_with_liveness(Fake(false), live.clone());
        assert_eq!(get(&app, "/healthz").await, (200, "ok\n".into()));
        let (code, why) = get(&app, "/readyz").await;
        assert_eq!(
            (code, why.trim()),
            (503, "the first reconcile pass has not completed yet")
        );

        // The remote does not answer: the page opens, says why, and hides internal paths.
        live.pass_failed(
            Utc::now(),
            "the repository is not reachable yet: cannot fetch main",
        );
        let (code, why) = get(&app, "/readyz").await;
        assert_eq!(code, 503);
        assert!(why.contains("not reachable yet"), "{why}");
        let (code, page) = get(&app, "/").await;
        assert_eq!(code, 503);
        assert!(page.contains("reconcile loop stalled since"), "{page}");
        assert!(page.contains("the repository is not reachable yet: cannot fetch main"));
        assert!(!page.contains("/secret/cache"), "{page}");

        // A pass completes: ready, no banner.
        live.pass_completed(Utc::now());
        assert_eq!(get(&app, "/readyz").await, (200, "ready\n".into()));
        let app = router_with_liveness(Fake(true), live.clone());
        let (code, page) = get(&app, "/").await;
        assert_eq!(code, 200);
        assert!(!page.contains("stalled"), "{page}");

        // The loop thread ends: every page says so.
        live.stopped(Utc::now(), "it panicked: boom");
        let (_, page) = get(&app, "/projects").await;
        assert!(
            page.contains("the reconcile loop stopped: it panicked: boom"),
            "{page}"
        );
        assert_eq!(get(&app, "/readyz").await.0, 503);
    }

    #[tokio::test]
    async fn a_router_without_liveness_has_no_banner_and_no_probes() {
        let app = router(Fake(true));
        let (code, page) = get(&app, "/").await;
        assert_eq!(code, 200);
        assert!(!page.contains("stalled"));
        // Without a loop, /healthz is not a page of the tree either.
        assert_eq!(get(&app, "/healthz").await.0, 404);
    }
}
