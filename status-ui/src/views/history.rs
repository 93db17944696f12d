//! `/history`: recent reconciles, newest first.

use super::common::{badge, changes_text, commit, empty, error_list, time};
use super::{Body, View};
use crate::doc::HistoryRecord;
use crate::format;
use crate::html::Html;
use crate::layout::Section;

/// How many records the page shows.
pub const HISTORY_LIMIT: usize = 100;

/// The history page.
pub fn render(v: &View) -> Body {
    let mut h = Html::new();
    h.raw("<h1>History</h1>");
    let records = v.tree.history(HISTORY_LIMIT);
    if records.is_empty() {
        empty(&mut h, "No reconciles recorded yet.");
    } else {
        h.raw("<div class=\"table\"><table class=\"history\"><thead><tr><th>When</th><th>Revision</th>");
        h.raw("<th>Duration</th><th>Clusters</th><th>Projects</th></tr></thead><tbody>");
        for record in &records {
            match record {
                Ok(r) => row(&mut h, v, r),
                Err(e) => {
                    h.raw("<tr><td colspan=\"5\">");
                    error_list(&mut h, std::slice::from_ref(e), "", &v.links);
                    h.raw("</td></tr>");
                }
            }
        }
        h.raw("</tbody></table></div>");
    }
    Body {
        title: "History".into(),
        section: Section::History,
        html: h,
    }
}

fn row(h: &mut Html, v: &View, r: &HistoryRecord) {
    h.raw("<tr class=\"record\"><td>");
    time(h, r.reconciled_at, v.now);
    h.raw("</td><td data-label=\"Revision\">");
    commit(h, &r.revision, &v.links);
    h.raw(" ")
        .text(&r.message)
        .raw("<div class=\"small muted\">")
        .text(&r.author)
        .raw("</div>");
    error_list(h, &r.errors, &r.revision, &v.links);
    h.raw("</td><td data-label=\"Duration\">")
        .text(&format::duration_ms(r.duration_ms))
        .raw("</td><td data-label=\"Clusters\">");
    for c in &r.clusters {
        h.raw("<div>").text(&c.name).raw(" ");
        badge(h, &c.state);
        h.raw(" <span class=\"small\">")
            .text(&changes_text(&c.changes))
            .raw("</span></div>");
    }
    h.raw("</td><td class=\"small\" data-label=\"Projects\">")
        .display(r.projects_rendered)
        .raw(" rendered, ");
    h.display(r.projects_skipped).raw(" skipped</td></tr>");
}
