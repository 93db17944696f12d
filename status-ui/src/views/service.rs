//! A service card: versions with their traffic split, replicas, autoscaling, health per cluster.

use super::View;
use super::common::badge;
use crate::doc::ServiceDigest;
use crate::format;
use crate::html::Html;

/// One service as a card (used on the project page).
pub fn card(h: &mut Html, v: &View, s: &ServiceDigest) {
    h.raw("<section class=\"card service\"><h3>").text(&s.name);
    if !s.framework.is_empty() {
        h.el("span", &[("class", "badge none")], &s.framework);
    }
    h.raw("</h3>");

    let label: Vec<String> = s
        .versions
        .iter()
        .map(|ver| format!("{} {}%", ver.name, format::number(ver.traffic)))
        .collect();
    let label = label.join(", ");
    h.open(
        "div",
        &[
            ("class", "bar split"),
            ("role", "img"),
            ("aria-label", &label),
            ("title", &label),
        ],
    );
    for ver in &s.versions {
        let width = format!("width:{}%", format::number(ver.traffic.clamp(0.0, 100.0)));
        h.open("span", &[("style", &width)]).close("span");
    }
    h.raw("</div><div class=\"legend\">");
    for ver in &s.versions {
        h.raw("<span><strong>").text(&ver.name).raw("</strong> ");
        h.text(&format::number(ver.traffic))
            .raw("% <code class=\"muted\">")
            .text(&ver.model);
        h.raw("</code></span>");
    }
    h.raw("</div><dl class=\"kv\"><dt>Owner</dt><dd>")
        .text(&s.owner)
        .raw("</dd><dt>Replicas</dt><dd>");
    match s.replicas {
        Some(r) => h.display(r.min).raw("–").display(r.max),
        None => h.raw("—"),
    };
    h.raw("</dd><dt>Autoscale</dt><dd>");
    match &s.autoscale {
        Some(a) => h
            .text(&a.metric)
            .raw(" target ")
            .text(&format::number(a.target)),
        None => h.raw("—"),
    };
    h.raw("</dd><dt>File</dt><dd><code>");
    let href = v.links.file(&v.summary.revision, &s.file, 0);
    h.link(href.as_deref(), &s.file)
        .raw("</code></dd></dl><div class=\"badges\">");
    for (cluster, health) in &s.health {
        h.raw("<span>").text(cluster).raw(" ");
        badge(h, health);
        h.raw("</span>");
    }
    h.raw("</div></section>");
}
