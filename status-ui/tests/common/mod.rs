//! Shared test helpers: the fixture tree and a fixed clock.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use cubist_status_ui::{PageOptions, StatusTree, render_page};

/// 3 minutes after the fixture's last reconcile (a Sunday).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 3, 0).unwrap()
}

/// The fixture tree (its root contains `status/`).
pub fn fixture() -> StatusTree {
    StatusTree::from_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
        .expect("fixture tree")
}

/// The HTML of the page at `path`, asserting it exists.
pub fn page(tree: &StatusTree, path: &str) -> String {
    let page = render_page(tree, path, now(), &PageOptions::default())
        .unwrap_or_else(|| panic!("no page {path}"));
    assert_eq!(page.status, 200);
    page.html
}

/// Every page path of the fixture.
pub const ALL_PATHS: &[&str] = &[
    "/",
    "/projects",
    "/projects/nlp",
    "/projects/vision",
    "/projects/web",
    "/projects/nlp/pipelines/daily-ranker",
    "/projects/vision/pipelines/train",
    "/projects/web/pipelines/a%22b%27c",
    "/history",
    "/clusters/local",
    "/clusters/prod-bj",
];

/// The text between `start` and the next `end` after it.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("missing {start}"))
        + start.len();
    let j = html[i..]
        .find(end)
        .unwrap_or_else(|| panic!("missing {end} after {start}"));
    &html[i..i + j]
}
