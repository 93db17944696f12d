//! The shared page layout: head (viewport, optional refresh, embedded CSS), nav, the stall
//! banner when there is one, footer.

use chrono::{DateTime, Utc};

use crate::html::Html;
use crate::links::Links;
use crate::site::PageOptions;

const CSS: &str = include_str!("style.css");

/// Top-level sections, for the nav's current-page marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/` and cluster pages.
    Overview,
    /// `/projects` and below.
    Projects,
    /// `/history`.
    History,
    /// No section (404).
    None,
}

/// Wraps `body` in the full HTML document.
pub fn document(
    title: &str,
    section: Section,
    body: Html,
    links: &Links,
    opts: &PageOptions,
    now: DateTime<Utc>,
) -> String {
    let mut h = Html::new();
    h.raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    if let Some(secs) = opts.refresh_secs {
        h.empty(
            "meta",
            &[("http-equiv", "refresh"), ("content", &secs.to_string())],
        );
    }
    h.open("title", &[])
        .text(title)
        .raw(" · cubist")
        .close("title");
    h.raw("<style>")
        .raw(CSS)
        .raw("</style></head><body><header>");
    h.open("nav", &[("aria-label", "main")]);
    h.el(
        "a",
        &[("class", "brand"), ("href", &links.page(&[]))],
        "cubist",
    );
    for (label, segments, s) in [
        ("Overview", &[][..], Section::Overview),
        ("Projects", &["projects"][..], Section::Projects),
        ("History", &["history"][..], Section::History),
    ] {
        let href = links.page(segments);
        if s == section {
            h.el("a", &[("href", &href), ("aria-current", "page")], label);
        } else {
            h.el("a", &[("href", &href)], label);
        }
    }
    h.raw("</nav></header><main>");
    if let Some(banner) = &opts.banner {
        h.open("div", &[("class", "callout"), ("role", "alert")])
            .text(banner)
            .close("div");
    }
    h.append(body);
    h.raw("</main><footer>Read-only view of the status branch, rendered ");
    h.text(&crate::format::utc(now));
    h.raw(".");
    if let Some(replica) = &opts.replica {
        h.raw(" Served by ");
        h.text(replica);
        h.raw(".");
    }
    h.raw("</footer></body></html>\n");
    h.into_string()
}
