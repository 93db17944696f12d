//! The static site on disk and the HTTP router.

mod common;

use std::path::Path;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use cubist_status_ui::server::CSP;
use cubist_status_ui::{DirSource, router, write_static_site};
use tower::ServiceExt;

/// Every relative `href` in `html` (a page at `page`) that is not external resolves to a file.
fn assert_links_resolve(out: &Path, page: &str, html: &str) -> usize {
    let dir = out.join(page).parent().unwrap().to_path_buf();
    let mut checked = 0;
    for chunk in html.split("href=\"").skip(1) {
        let href = &chunk[..chunk.find('"').unwrap()];
        if href.starts_with("http") {
            continue;
        }
        assert!(!href.starts_with('/'), "{page}: absolute link {href}");
        assert!(href.ends_with("index.html"), "{page}: {href}");
        let decoded = href.replace("%22", "\"").replace("%27", "'");
        assert!(
            dir.join(&decoded).is_file(),
            "{page}: {href} does not resolve"
        );
        checked += 1;
    }
    checked
}

#[test]
fn static_site_has_every_page_with_working_relative_links() {
    let out = tempfile::tempdir().unwrap();
    let written = write_static_site(&common::fixture(), out.path(), common::now()).unwrap();
    for file in [
        "index.html",
        "projects/index.html",
        "projects/nlp/index.html",
        "projects/vision/index.html",
        "projects/web/index.html",
        "projects/nlp/pipelines/daily-ranker/index.html",
        "projects/web/pipelines/a\"b'c/index.html",
        "history/index.html",
        "clusters/local/index.html",
        "clusters/prod-bj/index.html",
    ] {
        assert!(out.path().join(file).is_file(), "{file}");
        assert!(written.iter().any(|w| w == file), "{file} reported");
    }
    let mut links = 0;
    for file in &written {
        let html = std::fs::read_to_string(out.path().join(file)).unwrap();
        links += assert_links_resolve(out.path(), file, &html);
    }
    assert!(links > 50, "checked {links} links");
    let project = std::fs::read_to_string(out.path().join("projects/nlp/index.html")).unwrap();
    assert!(project.contains(r#"href="../../index.html""#));
    assert!(project.contains(r#"href="../../projects/nlp/pipelines/daily-ranker/index.html""#));
    assert!(!project.contains("http-equiv"));
}

#[test]
fn static_site_skips_names_unsafe_as_directories() {
    let mut tree = common::fixture();
    let digest = String::from_utf8(tree.files()["status/projects/web.yaml"].clone()).unwrap();
    let digest = digest.replace("name: \"a\\\"b'c\"", "name: \"../../escape\"");
    tree.files_mut()
        .insert("status/projects/web.yaml".into(), digest.into_bytes());
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("site");
    let written = write_static_site(&tree, &out, common::now()).unwrap();
    assert!(written.iter().all(|w| !w.contains("..")));
    assert!(!root.path().join("escape").exists());
    assert!(out.join("projects/web/index.html").is_file());
}

async fn get(
    app: axum::Router,
    method: &str,
    uri: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = to_bytes(res.into_body(), 1 << 24).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn app() -> axum::Router {
    router(DirSource::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures"
    )))
}

#[tokio::test]
async fn router_serves_pages_with_security_headers() {
    let (status, headers, body) = get(app(), "GET", "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(
        CSP,
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(
        body.contains("prod-bj") && body.contains(r#"<meta http-equiv="refresh" content="10"/>"#)
    );

    let (status, _, body) = get(app(), "GET", "/projects/web/pipelines/a%22b%27c").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<h1>a&quot;b&#39;c"));

    let (status, headers, body) = get(app(), "GET", "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert!(body.contains("Not found"));

    let (status, _, _) = get(app(), "POST", "/").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = get(app(), "DELETE", "/projects/nlp").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn router_reports_an_unloadable_source() {
    let (status, headers, body) = get(
        router(DirSource::new("/nonexistent/cubist-status")),
        "GET",
        "/",
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert!(body.contains("Status unavailable"));
}
