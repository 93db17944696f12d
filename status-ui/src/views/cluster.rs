//! `/clusters/<name>`: a cluster's objects with their state and health.

use super::common::{badge, commit, empty, error_list, held_prune, state_counts, time};
use super::{Body, View};
use crate::doc::ObjectStatus;
use crate::html::Html;
use crate::layout::Section;

/// The cluster page; `None` when the cluster is not in the summary.
pub fn render(v: &View, name: &str) -> Option<Body> {
    let c = v.summary.clusters.iter().find(|c| c.name == name)?;
    let mut h = Html::new();
    h.raw("<h1>").text(&c.name);
    badge(&mut h, &c.state);
    h.raw("</h1><dl class=\"kv card\"><dt>Target</dt><dd>")
        .text(&c.target)
        .raw("</dd><dt>Revision</dt><dd>");
    commit(&mut h, &c.revision, &v.links);
    h.raw(" ");
    time(&mut h, c.applied_at, v.now);
    h.raw("</dd><dt>Inventory</dt><dd>");
    match v.tree.inventory(name) {
        Some(Ok(inv)) => h.display(inv.objects.len()).raw(" objects owned by cubist"),
        Some(Err(e)) => {
            error_list(&mut h, &[e], "", &v.links);
            &mut h
        }
        None => h.raw("—"),
    };
    h.raw("</dd></dl>");
    state_counts(&mut h, &c.counts);
    if let Some(held) = &c.held {
        held_prune(&mut h, held);
    }
    error_list(&mut h, &c.errors, &c.revision, &v.links);

    h.raw("<h2>Objects</h2>");
    let objects = v.tree.cluster_objects(name);
    if objects.is_empty() {
        empty(&mut h, "No objects.");
    } else {
        h.raw(
            "<div class=\"table\"><table><thead><tr><th>Object</th><th>State</th><th>Health</th>",
        );
        h.raw("<th>Source</th></tr></thead><tbody>");
        for o in &objects {
            match o {
                Ok(o) => row(&mut h, v, o),
                Err(e) => {
                    h.raw("<tr><td colspan=\"4\">");
                    error_list(&mut h, std::slice::from_ref(e), "", &v.links);
                    h.raw("</td></tr>");
                }
            }
        }
        h.raw("</tbody></table></div>");
    }
    Some(Body {
        title: format!("Cluster {}", c.name),
        section: Section::Overview,
        html: h,
    })
}

fn row(h: &mut Html, v: &View, o: &ObjectStatus) {
    h.raw("<tr><td>").text(&o.kind).raw(" <code>");
    if !o.namespace.is_empty() {
        h.text(&o.namespace).raw("/");
    }
    h.text(&o.name).raw("</code>");
    if !o.message.is_empty() {
        h.raw("<div class=\"small muted\">")
            .text(&o.message)
            .raw("</div>");
    }
    h.raw("</td><td data-label=\"State\">");
    badge(h, &o.state);
    h.raw("</td><td data-label=\"Health\">");
    match &o.health {
        Some(health) => {
            badge(h, &health.status);
            if !health.message.is_empty() {
                h.raw("<div class=\"small muted\">")
                    .text(&health.message)
                    .raw("</div>");
            }
        }
        None => {
            h.raw("—");
        }
    }
    h.raw("</td><td data-label=\"Source\"><code class=\"small\">");
    let href = v.links.file(&o.revision, &o.source, 0);
    h.link(href.as_deref(), &o.source).raw("</code></td></tr>");
}
