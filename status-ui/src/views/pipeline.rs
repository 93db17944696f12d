//! `/projects/<p>/pipelines/<name>`: schedule, next run, DAG and runs of a pipeline (the run
//! grid when the pipeline has a runs file, else the runs of its digest).

use super::common::{badge, empty, error_list};
use super::{Body, View};
use crate::cron;
use crate::dag;
use crate::doc::{PipelineDigest, Schedule};
use crate::format;
use crate::html::Html;
use crate::layout::Section;
use crate::runs::{PipelineRuns, RunRecord};

/// The pipeline page; `None` when the project digest or the pipeline is missing.
pub fn render(v: &View, project: &str, name: &str) -> Option<Body> {
    let digest = v.tree.project(project)?.ok()?;
    let p = digest.pipelines.iter().find(|p| p.name == name)?;
    let mut h = Html::new();
    h.raw("<p class=\"small\">");
    h.el("a", &[("href", &v.links.page(&["projects"]))], "Projects")
        .raw(" / ");
    let project_label = if digest.display_name.is_empty() {
        &digest.name
    } else {
        &digest.display_name
    };
    h.el(
        "a",
        &[("href", &v.links.page(&["projects", project]))],
        project_label,
    );
    h.raw(" / pipelines</p><h1>").text(&p.name);
    // Only this pipeline's runs file is read (not every pipeline's).
    let recorded = v.tree.pipeline_runs(project, name);
    match &recorded {
        Some(Ok(runs)) => {
            if let Some(r) = newest(runs) {
                badge(&mut h, &r.phase);
            }
        }
        _ => {
            if let Some(r) = p.runs.first() {
                badge(&mut h, &r.phase);
            }
        }
    }
    h.raw("</h1>");
    details(&mut h, v, p);
    h.raw("<h2>Tasks</h2>");
    if p.tasks.is_empty() {
        empty(&mut h, "No tasks.");
    } else {
        h.raw("<div class=\"card dagbox\">")
            .append(dag::svg(&p.tasks))
            .raw("</div>");
    }
    h.raw("<h2>Runs</h2>");
    match &recorded {
        Some(Ok(recorded)) => super::runs::grid(&mut h, p, recorded, v.now),
        Some(Err(e)) => {
            error_list(&mut h, std::slice::from_ref(e), "", &v.links);
            runs(&mut h, p);
        }
        None => runs(&mut h, p),
    }
    Some(Body {
        title: format!("{} · {project}", p.name),
        section: Section::Projects,
        html: h,
    })
}

fn details(h: &mut Html, v: &View, p: &PipelineDigest) {
    h.raw("<dl class=\"kv card\"><dt>Owner</dt><dd>")
        .text(&p.owner)
        .raw("</dd><dt>File</dt><dd><code>");
    let href = v.links.file(&v.summary.revision, &p.file, 0);
    h.link(href.as_deref(), &p.file)
        .raw("</code></dd><dt>Schedule</dt><dd>");
    match &p.schedule {
        Some(s) => {
            h.el("strong", &[], &schedule_words(s))
                .raw(" <code class=\"muted\">")
                .text(&s.cron)
                .raw("</code>");
            if !s.timezone.is_empty() {
                h.raw(" ").text(&s.timezone);
            }
            h.raw("</dd><dt>Next run</dt><dd>");
            next_run(h, s, v.now);
        }
        None => {
            h.raw("manual runs only");
        }
    }
    h.raw("</dd></dl>");
}

/// The run with the latest execution on any cluster (first of each cluster's list).
fn newest(runs: &PipelineRuns) -> Option<&RunRecord> {
    runs.clusters
        .values()
        .filter_map(|c| c.runs.first())
        .max_by_key(|r| r.execution)
}

fn runs(h: &mut Html, p: &PipelineDigest) {
    if p.runs.is_empty() {
        empty(h, "No runs yet.");
        return;
    }
    h.raw("<div class=\"table\"><table><thead><tr><th>Run</th><th>Cluster</th><th>Date</th><th>Phase</th>");
    h.raw("</tr></thead><tbody>");
    for r in &p.runs {
        h.raw("<tr><td><code>")
            .text(&r.name)
            .raw("</code></td><td data-label=\"Cluster\">")
            .text(&r.cluster)
            .raw("</td><td data-label=\"Date\">");
        match r.date {
            Some(d) => h.display(d),
            None => h.raw("—"),
        };
        h.raw("</td><td data-label=\"Phase\">");
        badge(h, &r.phase);
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
}

/// The schedule in words: its stored description, else [`cron::describe_cron`], else the raw cron.
pub fn schedule_words(s: &Schedule) -> String {
    match &s.description {
        Some(d) if !d.is_empty() => d.clone(),
        _ => cron::describe_cron(&s.cron).unwrap_or_else(|| s.cron.clone()),
    }
}

/// The next run after `now` in the schedule's timezone with its distance ("2026-11-23 02:00
/// Asia/Shanghai, in 16 h"); the stored `nextRun` when the cron cannot be evaluated.
pub fn next_run(h: &mut Html, s: &Schedule, now: chrono::DateTime<chrono::Utc>) {
    let tz = if s.timezone.is_empty() {
        "UTC"
    } else {
        s.timezone.as_str()
    };
    let (local, utc) = match cron::next_run(&s.cron, &s.timezone, now) {
        Some(t) => (
            t.format("%Y-%m-%d %H:%M").to_string(),
            t.with_timezone(&chrono::Utc),
        ),
        None => match s.next_run {
            Some(t) => (
                t.format("%Y-%m-%d %H:%M").to_string(),
                t.with_timezone(&chrono::Utc),
            ),
            None => {
                h.raw("—");
                return;
            }
        },
    };
    let iso = utc.to_rfc3339();
    h.open("time", &[("datetime", &iso), ("title", &format::utc(utc))]);
    h.text(&local)
        .raw(" ")
        .text(tz)
        .raw("</time> <span class=\"muted\">(");
    h.text(&format::relative(utc, now)).raw(")</span>");
}
