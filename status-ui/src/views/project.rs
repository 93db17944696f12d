//! `/projects/<name>`: state, members, placement, quota, pipelines and services of a project.

use super::common::{badge, bar, commit, empty, error_list, time};
use super::pipeline::{next_run, schedule_words};
use super::{Body, View, service};
use crate::doc::{ProjectDigest, ProjectState, ProjectStatus, QuotaRow};
use crate::format;
use crate::html::Html;
use crate::layout::Section;

/// The project page; `None` when the project is neither in the summary nor has a digest.
pub fn render(v: &View, name: &str) -> Option<Body> {
    let status = v.summary.projects.iter().find(|p| p.name == name);
    let digest = v.tree.project(name);
    if status.is_none() && digest.is_none() {
        return None;
    }
    let digest = match digest {
        Some(Ok(d)) => Ok(Some(d)),
        Some(Err(e)) => Err(e),
        None => Ok(None),
    };
    let display = match (&digest, status) {
        (Ok(Some(d)), _) if !d.display_name.is_empty() => d.display_name.clone(),
        (_, Some(s)) if !s.display_name.is_empty() => s.display_name.clone(),
        _ => name.to_string(),
    };

    let mut h = Html::new();
    h.raw("<h1>")
        .text(&display)
        .raw(" <code class=\"muted\">")
        .text(name)
        .raw("</code>");
    if let Some(s) = status {
        badge(&mut h, &s.state);
    }
    h.raw("</h1>");
    if let Some(s) = status {
        state_section(&mut h, v, s);
    }
    match digest {
        Err(e) => error_list(&mut h, &[e], "", &v.links),
        Ok(None) => empty(&mut h, "No digest for this project in the status tree."),
        Ok(Some(d)) => digest_sections(&mut h, v, &d),
    }
    Some(Body {
        title: display,
        section: Section::Projects,
        html: h,
    })
}

/// Revision and, for a Failed project, the held revision and the errors.
fn state_section(h: &mut Html, v: &View, s: &ProjectStatus) {
    if s.state == ProjectState::Failed {
        h.raw("<div class=\"callout\"><strong>Failed:</strong> held at revision ");
        commit(h, &s.revision, &v.links);
        h.raw(", the last good one. The newest commit has errors:");
        error_list(h, &s.errors, &v.summary.revision, &v.links);
        h.raw("</div>");
    } else {
        h.raw("<p>Revision ");
        commit(h, &s.revision, &v.links);
        h.raw(", reconciled ");
        time(h, v.summary.reconciled_at, v.now);
        h.raw(".</p>");
        error_list(h, &s.errors, &v.summary.revision, &v.links);
    }
}

fn digest_sections(h: &mut Html, v: &View, d: &ProjectDigest) {
    if !d.description.is_empty() {
        h.el("p", &[("class", "muted")], &d.description);
    }
    h.raw("<div class=\"grid\"><section class=\"card\"><h3>Members</h3>");
    if d.members.is_empty() {
        empty(h, "No members.");
    } else {
        h.raw("<table class=\"members\"><tbody>");
        for m in &d.members {
            h.raw("<tr><td>").text(&m.user).raw("</td><td>");
            h.el("span", &[("class", "badge none")], m.role.as_str())
                .raw("</td></tr>");
        }
        h.raw("</tbody></table>");
    }
    h.raw("</section><section class=\"card\"><h3>Placement</h3><dl class=\"kv\"><dt>Clusters</dt><dd>");
    for (i, c) in d.clusters.iter().enumerate() {
        if i > 0 {
            h.raw(", ");
        }
        h.el("a", &[("href", &v.links.page(&["clusters", c]))], c);
    }
    h.raw("</dd><dt>Resource group</dt><dd>")
        .text(d.resource_group.as_deref().unwrap_or("—"));
    h.raw("</dd></dl></section></div>");

    h.raw("<h2>Quota</h2>");
    quota(h, &d.quota);

    h.raw("<h2>Pipelines</h2>");
    pipelines(h, v, d);

    h.raw("<h2>Services</h2>");
    if d.services.is_empty() {
        empty(h, "No services.");
    }
    h.raw("<div class=\"grid\">");
    for s in &d.services {
        service::card(h, v, s);
    }
    h.raw("</div>");
}

/// Quota usage vs limit per cluster as bars.
fn quota(h: &mut Html, rows: &[QuotaRow]) {
    if rows.is_empty() {
        empty(h, "No quota.");
        return;
    }
    let mut clusters: Vec<&str> = Vec::new();
    for r in rows {
        if !clusters.contains(&r.cluster.as_str()) {
            clusters.push(&r.cluster);
        }
    }
    h.raw("<div class=\"grid\">");
    for cluster in clusters {
        h.raw("<section class=\"card quota\"><h3>")
            .text(cluster)
            .raw("</h3>");
        for r in rows.iter().filter(|r| r.cluster == cluster) {
            let pct = format::percent(r.used, r.limit);
            let usage = format::usage(r.used, r.limit, &r.unit);
            let label = format!("{}: {usage} ({}%)", r.resource, format::number(pct));
            h.raw("<div class=\"qrow\"><div class=\"qhead\"><span>")
                .text(&r.resource);
            h.raw("</span><span class=\"small\">")
                .text(&usage)
                .raw(" · ");
            h.text(&format::number(pct)).raw("%</span></div>");
            bar(h, pct, &label);
            h.raw("</div>");
        }
        h.raw("</section>");
    }
    h.raw("</div>");
}

/// One row per pipeline: schedule, next run, last run.
fn pipelines(h: &mut Html, v: &View, d: &ProjectDigest) {
    if d.pipelines.is_empty() {
        empty(h, "No pipelines.");
        return;
    }
    h.raw(
        "<div class=\"table\"><table><thead><tr><th>Pipeline</th><th>Owner</th><th>Schedule</th>",
    );
    h.raw("<th>Next run</th><th>Last run</th></tr></thead><tbody>");
    for p in &d.pipelines {
        h.raw("<tr><td>");
        h.el(
            "a",
            &[(
                "href",
                &v.links.page(&["projects", &d.name, "pipelines", &p.name]),
            )],
            &p.name,
        );
        h.raw("</td><td data-label=\"Owner\">")
            .text(&p.owner)
            .raw("</td><td data-label=\"Schedule\">");
        match &p.schedule {
            Some(s) => {
                h.text(&schedule_words(s));
                h.raw("</td><td data-label=\"Next run\">");
                next_run(h, s, v.now);
            }
            None => {
                h.raw("manual</td><td data-label=\"Next run\">—");
            }
        }
        h.raw("</td><td data-label=\"Last run\">");
        match p.runs.first() {
            Some(r) => {
                badge(h, &r.phase);
                if let Some(date) = r.date {
                    h.raw(" ").display(date);
                }
            }
            None => {
                h.raw("—");
            }
        }
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
}
