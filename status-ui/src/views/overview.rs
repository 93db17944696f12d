//! `/`: the newest reconcile, each cluster, every project's state, and the current errors.

use super::common::{
    badge, changes_text, commit, count_badge, empty, error_list, health_counts, held_prune,
    state_counts, time,
};
use super::{Body, View};
use crate::doc::{ClusterStatus, ProjectState, RunPhase};
use crate::format;
use crate::html::Html;
use crate::layout::Section;
use crate::run_table::{Attention, attention, execution_text};
use crate::runs::{AlertProblem, PipelineRuns};

/// The overview page.
pub fn render(v: &View) -> Body {
    let mut h = Html::new();
    h.raw("<h1>Overview</h1>");
    if !v.has_summary {
        empty(
            &mut h,
            "No status yet: the reconciler has not written status/summary.yaml.",
        );
        return Body {
            title: "Overview".into(),
            section: Section::Overview,
            html: h,
        };
    }
    let s = v.summary;

    h.raw("<section class=\"card\"><h3>Last reconcile</h3><dl class=\"kv\">");
    h.raw("<dt>Revision</dt><dd>");
    commit(&mut h, &s.revision, &v.links);
    if !s.message.is_empty() {
        h.raw(" ").text(&s.message);
    }
    h.raw("</dd><dt>Author</dt><dd>")
        .text(&s.author)
        .raw("</dd>");
    h.raw("<dt>Reconciled</dt><dd>");
    time(&mut h, s.reconciled_at, v.now);
    h.raw(" in ")
        .text(&format::duration_ms(s.duration_ms))
        .raw("</dd>");
    let failed = s
        .projects
        .iter()
        .filter(|p| p.state == ProjectState::Failed)
        .count();
    h.raw("<dt>Projects</dt><dd>");
    let label = format!("{} projects", s.projects.len());
    h.el("a", &[("href", &v.links.page(&["projects"]))], &label);
    h.raw(": ")
        .display(s.projects.len() - failed)
        .raw(" Ready, ")
        .display(failed)
        .raw(" Failed</dd></dl></section>");

    h.raw("<h2>Clusters</h2>");
    if s.clusters.is_empty() {
        empty(&mut h, "No clusters.");
    }
    h.raw("<div class=\"grid\">");
    for c in &s.clusters {
        cluster_card(&mut h, v, c);
    }
    h.raw("</div>");
    runs(&mut h, v);
    projects(&mut h, v);

    let project_errors = s.projects.iter().filter(|p| !p.errors.is_empty());
    h.raw("<h2>Errors</h2>");
    if s.errors.is_empty() && s.projects.iter().all(|p| p.errors.is_empty()) {
        empty(&mut h, "No validation errors.");
    }
    if !s.errors.is_empty() {
        h.raw("<h3>Repository</h3>");
        error_list(&mut h, &s.errors, &s.revision, &v.links);
    }
    for p in project_errors {
        h.raw("<h3>Project ");
        h.el(
            "a",
            &[("href", &v.links.page(&["projects", &p.name]))],
            &p.name,
        );
        badge(&mut h, &p.state);
        h.raw("</h3>");
        error_list(&mut h, &p.errors, &s.revision, &v.links);
    }
    Body {
        title: "Overview".into(),
        section: Section::Overview,
        html: h,
    }
}

/// Items listed under "Runs"; the rest are counted.
const MAX_ATTENTION: usize = 20;

/// Failed and blocked runs of every pipeline (nothing when no pipeline has a runs file): the
/// counts, then each one linked to its pipeline.
fn runs(h: &mut Html, v: &View) {
    let all = v.tree.all_runs();
    if all.is_empty() {
        return;
    }
    let mut items = Html::new();
    let (mut failed, mut blocked, mut listed, mut undelivered) = (0usize, 0usize, 0usize, 0usize);
    let mut corrupt = Vec::new();
    for file in all.iter() {
        let runs = match file {
            Ok(r) => r,
            Err(e) => {
                corrupt.push(e.clone());
                continue;
            }
        };
        for a in attention(runs) {
            match a {
                Attention::Failed { .. } => failed += 1,
                Attention::Blocked { .. } => blocked += 1,
            }
            listed += 1;
            if listed <= MAX_ATTENTION {
                attention_item(&mut items, v, runs, &a);
            }
        }
        for p in &runs.alert_problems {
            undelivered += 1;
            listed += 1;
            if listed <= MAX_ATTENTION {
                alert_problem_item(&mut items, v, runs, p);
            }
        }
    }
    h.raw("<h2>Runs</h2><p>");
    count_badge(h, &RunPhase::Failed, failed as u64);
    h.raw(" ");
    count_badge(h, &RunPhase::Blocked, blocked as u64);
    h.raw(" <span class=\"small muted\">executions whose newest attempt failed, and blocked <code>dependsOnPast</code> chains, over ")
        .display(all.len())
        .raw(" pipelines with runs</span>");
    if undelivered > 0 {
        h.raw(" <span class=\"badge bad\">Alerts not delivered ")
            .display(undelivered)
            .raw("</span>");
    }
    h.raw("</p>");
    if listed > 0 {
        h.raw("<ul class=\"errors\">").append(items);
        if listed > MAX_ATTENTION {
            h.raw("<li class=\"note\">… and ")
                .display(listed - MAX_ATTENTION)
                .raw(" more</li>");
        }
        h.raw("</ul>");
    }
    error_list(h, &corrupt, "", &v.links);
}

/// `project/pipeline` on `cluster`: what failed or blocks it.
fn attention_item(h: &mut Html, v: &View, runs: &PipelineRuns, a: &Attention) {
    let (cluster, phase) = match a {
        Attention::Failed { cluster, run } => (*cluster, run.phase),
        Attention::Blocked { cluster, .. } => (*cluster, RunPhase::Blocked),
    };
    let href = v
        .links
        .page(&["projects", &runs.project, "pipelines", &runs.pipeline]);
    h.raw("<li>");
    badge(h, &phase);
    h.raw(" ");
    h.el(
        "a",
        &[("href", &href)],
        &format!("{}/{}", runs.project, runs.pipeline),
    )
    .raw(" on ")
    .text(cluster)
    .raw(": ");
    match a {
        Attention::Failed { run, .. } => {
            h.raw("<code>").text(&run.workflow).raw("</code> (");
            h.text(&execution_text(run, false)).raw(")");
            if !run.message.is_empty() {
                h.raw(" ").text(&run.message);
            }
        }
        Attention::Blocked { blocked, .. } => {
            h.text(&blocked.reason).raw(". ").text(&blocked.fix);
        }
    }
    h.raw("</li>");
}

/// `project/pipeline`: the alert channel that does not deliver, and why.
fn alert_problem_item(h: &mut Html, v: &View, runs: &PipelineRuns, p: &AlertProblem) {
    let href = v
        .links
        .page(&["projects", &runs.project, "pipelines", &runs.pipeline]);
    h.raw("<li><span class=\"badge bad\">Alert</span> ");
    h.el(
        "a",
        &[("href", &href)],
        &format!("{}/{}", runs.project, runs.pipeline),
    )
    .raw(": alerts to channel <code>")
    .text(&p.channel)
    .raw("</code> not delivered: ")
    .text(&p.error)
    .raw("</li>");
}

/// Every project as a chip: its name (linked) and state.
fn projects(h: &mut Html, v: &View) {
    h.raw("<h2>Projects</h2>");
    if v.summary.projects.is_empty() {
        empty(h, "No projects.");
        return;
    }
    h.raw("<ul class=\"chips\">");
    for p in &v.summary.projects {
        h.raw("<li>");
        let href = v.links.page(&["projects", &p.name]);
        h.el("a", &[("href", &href), ("title", &p.display_name)], &p.name);
        badge(h, &p.state);
        h.raw("</li>");
    }
    h.raw("</ul>");
}

/// One cluster: state, target, applied revision and age, counts, health, changes, errors.
fn cluster_card(h: &mut Html, v: &View, c: &ClusterStatus) {
    h.raw("<section class=\"card cluster\"><h3>");
    h.el(
        "a",
        &[
            ("href", &v.links.page(&["clusters", &c.name])),
            ("class", "name"),
        ],
        &c.name,
    );
    badge(h, &c.state);
    h.raw("</h3><dl class=\"kv\"><dt>Target</dt><dd>")
        .text(&c.target)
        .raw("</dd>");
    h.raw("<dt>Revision</dt><dd>");
    commit(h, &c.revision, &v.links);
    h.raw(" ");
    time(h, c.applied_at, v.now);
    h.raw("</dd><dt>Changes</dt><dd class=\"small\">")
        .text(&changes_text(&c.changes));
    h.raw("</dd></dl><div class=\"small muted\">Objects</div>");
    state_counts(h, &c.counts);
    h.raw("<div class=\"small muted\">Health</div>");
    health_counts(h, &c.health);
    if let Some(held) = &c.held {
        held_prune(h, held);
    }
    error_list(h, &c.errors, &c.revision, &v.links);
    h.raw("</section>");
}
