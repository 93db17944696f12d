//! `/projects`: every project with its state.

use super::common::{badge, commit, empty};
use super::{Body, View};
use crate::html::Html;
use crate::layout::Section;

/// The project list.
pub fn render(v: &View) -> Body {
    let mut h = Html::new();
    h.raw("<h1>Projects</h1>");
    let projects = &v.summary.projects;
    if projects.is_empty() {
        empty(&mut h, "No projects.");
    } else {
        h.raw("<div class=\"table\"><table><thead><tr><th>Project</th><th>State</th><th>Revision</th>");
        h.raw("<th>Errors</th></tr></thead><tbody>");
        for p in projects {
            h.raw("<tr><td>");
            let name = if p.display_name.is_empty() {
                &p.name
            } else {
                &p.display_name
            };
            h.el(
                "a",
                &[("href", &v.links.page(&["projects", &p.name]))],
                name,
            );
            h.raw(" <code class=\"muted\">")
                .text(&p.name)
                .raw("</code></td><td data-label=\"State\">");
            badge(&mut h, &p.state);
            h.raw("</td><td data-label=\"Revision\">");
            commit(&mut h, &p.revision, &v.links);
            h.raw("</td><td data-label=\"Errors\">")
                .display(p.errors.len())
                .raw("</td></tr>");
        }
        h.raw("</tbody></table></div>");
    }
    Body {
        title: "Projects".into(),
        section: Section::Projects,
        html: h,
    }
}
