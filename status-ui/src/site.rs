//! Pages by path: routing, rendering one page, and writing the whole site as static files.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::doc::Summary;
use crate::html::Html;
use crate::layout::{self, Section};
use crate::links::{LinkStyle, Links, decode_segment};
use crate::tree::StatusTree;
use crate::views::{self, Body, View, common};

/// Rendering options of served pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageOptions {
    /// Adds `<meta http-equiv="refresh" content="N">` when set.
    pub refresh_secs: Option<u32>,
    /// A warning shown at the top of every page (the reconcile loop is stalled), when set.
    pub banner: Option<String>,
    /// What the serving replica is among several (role, clusters owned), in the footer.
    pub replica: Option<String>,
}

/// A rendered page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// HTTP status code (200, or 404 for [`not_found_page`]).
    pub status: u16,
    /// The complete HTML document.
    pub html: String,
}

/// A page of the site, parsed from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Overview,
    Projects,
    Project(String),
    Pipeline(String, String),
    History,
    Cluster(String),
}

impl Route {
    /// Parses `/`, `/projects`, `/projects/<p>`, `/projects/<p>/pipelines/<name>`, `/history`,
    /// `/clusters/<c>`; query, trailing `/` and trailing `index.html` are ignored, `%XX` decoded.
    fn parse(path: &str) -> Option<Route> {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let path = path.strip_suffix("index.html").unwrap_or(path);
        let segs = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode_segment)
            .collect::<Option<Vec<_>>>()?;
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        Some(match segs[..] {
            [] => Route::Overview,
            ["projects"] => Route::Projects,
            ["projects", p] => Route::Project(p.to_string()),
            ["projects", p, "pipelines", name] => Route::Pipeline(p.to_string(), name.to_string()),
            ["history"] => Route::History,
            ["clusters", c] => Route::Cluster(c.to_string()),
            _ => return None,
        })
    }

    /// Path segments of the page (the inverse of [`Route::parse`]).
    fn segments(&self) -> Vec<&str> {
        match self {
            Route::Overview => vec![],
            Route::Projects => vec!["projects"],
            Route::Project(p) => vec!["projects", p],
            Route::Pipeline(p, n) => vec!["projects", p, "pipelines", n],
            Route::History => vec!["history"],
            Route::Cluster(c) => vec!["clusters", c],
        }
    }
}

/// Renders the page at `path` (`/`, `/projects`, `/projects/<p>`, `/projects/<p>/pipelines/<n>`,
/// `/clusters/<c>`, `/history`); `None` when no such page exists in `tree`.
/// Relative times are measured from `now`.
pub fn render_page(
    tree: &StatusTree,
    path: &str,
    now: DateTime<Utc>,
    opts: &PageOptions,
) -> Option<Page> {
    let route = Route::parse(path)?;
    render_route(tree, &route, now, opts, LinkStyle::Server)
}

/// The 404 page for `path`.
pub fn not_found_page(path: &str, now: DateTime<Utc>, opts: &PageOptions) -> Page {
    let links = Links::new(LinkStyle::Server, None);
    let mut h = Html::new();
    h.raw("<h1>Not found</h1><p>No page at <code>")
        .text(path)
        .raw("</code>. ");
    h.el("a", &[("href", &links.page(&[]))], "Back to the overview")
        .raw(".</p>");
    let html = layout::document("Not found", Section::None, h, &links, opts, now);
    Page { status: 404, html }
}

/// A page telling that the status tree could not be loaded (served with status 503).
pub fn unavailable_page(reason: &str, now: DateTime<Utc>, opts: &PageOptions) -> Page {
    let links = Links::new(LinkStyle::Server, None);
    let mut h = Html::new();
    h.raw("<h1>Status unavailable</h1><div class=\"callout\">")
        .text(reason)
        .raw("</div>");
    let html = layout::document("Status unavailable", Section::None, h, &links, opts, now);
    Page { status: 503, html }
}

/// Writes every page of `tree` under `out_dir` as `index.html` files (`index.html`,
/// `projects/index.html`, `projects/<p>/index.html`, `projects/<p>/pipelines/<n>/index.html`,
/// `clusters/<c>/index.html`, `history/index.html`) with relative links, so the site works from
/// `file://` or any web root. Pages whose names are unsafe as directory names are skipped.
/// Returns the written paths relative to `out_dir`.
pub fn write_static_site(
    tree: &StatusTree,
    out_dir: &Path,
    now: DateTime<Utc>,
) -> std::io::Result<Vec<String>> {
    let opts = PageOptions::default();
    let mut written = Vec::new();
    for route in all_routes(tree) {
        let segments = route.segments();
        if !segments.iter().all(|s| safe_dir_name(s)) {
            continue;
        }
        let Some(page) = render_route(
            tree,
            &route,
            now,
            &opts,
            LinkStyle::Static {
                depth: segments.len(),
            },
        ) else {
            continue;
        };
        let rel: String =
            segments.iter().map(|s| format!("{s}/")).collect::<String>() + "index.html";
        let file = out_dir.join(&rel);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&file, page.html)?;
        written.push(rel);
    }
    Ok(written)
}

/// Every page of the tree: the fixed pages, each project (summary or digest), each pipeline,
/// each cluster.
fn all_routes(tree: &StatusTree) -> Vec<Route> {
    let mut routes = vec![Route::Overview, Route::Projects, Route::History];
    let summary = tree.summary().and_then(Result::ok).unwrap_or_default();
    let mut projects: Vec<String> = summary.projects.iter().map(|p| p.name.clone()).collect();
    for name in tree.project_names() {
        if !projects.contains(&name) {
            projects.push(name);
        }
    }
    for p in projects {
        if let Some(Ok(digest)) = tree.project(&p) {
            routes.extend(
                digest
                    .pipelines
                    .iter()
                    .map(|pl| Route::Pipeline(p.clone(), pl.name.clone())),
            );
        }
        routes.push(Route::Project(p));
    }
    routes.extend(
        summary
            .clusters
            .iter()
            .map(|c| Route::Cluster(c.name.clone())),
    );
    routes
}

/// A single, non-special path component.
fn safe_dir_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0', ':'])
}

fn render_route(
    tree: &StatusTree,
    route: &Route,
    now: DateTime<Utc>,
    opts: &PageOptions,
    style: LinkStyle,
) -> Option<Page> {
    let (summary, summary_error) = match tree.summary() {
        Some(Ok(s)) => (s, None),
        Some(Err(e)) => (Summary::default(), Some(e)),
        None => (Summary::default(), None),
    };
    let view = View {
        tree,
        summary: &summary,
        has_summary: tree.get(crate::tree::paths::SUMMARY).is_some(),
        now,
        links: Links::new(style, summary.repo_url.as_deref()),
    };
    let body: Body = match route {
        Route::Overview => views::overview::render(&view),
        Route::Projects => views::projects::render(&view),
        Route::Project(p) => views::project::render(&view, p)?,
        Route::Pipeline(p, n) => views::pipeline::render(&view, p, n)?,
        Route::History => views::history::render(&view),
        Route::Cluster(c) => views::cluster::render(&view, c)?,
    };
    let mut html = Html::new();
    if let Some(e) = summary_error {
        html.raw("<div class=\"callout\">The status summary could not be read:");
        common::error_list(&mut html, &[e], "", &view.links);
        html.raw("</div>");
    }
    html.append(body.html);
    let html = layout::document(&body.title, body.section, html, &view.links, opts, now);
    Some(Page { status: 200, html })
}
