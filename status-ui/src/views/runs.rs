//! The run grid of a pipeline page, from its runs files (`status/runs/<cluster>/<project>/<pipeline>.yaml`):
//! per cluster, what blocks the chain and how many executions wait, then one row per run
//! (newest first) and one cell per task, coloured by phase, its times in the tooltip.

use super::common::{Tone, badge, empty};
use crate::doc::{PipelineDigest, RunPhase};
use crate::format;
use crate::html::Html;
use crate::run_table::{
    duration_secs, duration_words, execution_text, origin_text, task, task_columns,
};
use crate::runs::{ClusterRuns, PipelineRuns, RunRecord, TaskRecord, Waiting};
use chrono::{DateTime, Utc};

/// Rows shown per cluster; the runs file keeps at most 50 finished ones, so more means many
/// unfinished runs, which are counted instead.
pub const MAX_ROWS: usize = 200;

/// The grid of every cluster of `runs`; the columns are `p`'s tasks.
pub fn grid(h: &mut Html, p: &PipelineDigest, runs: &PipelineRuns, now: DateTime<Utc>) {
    alert_problems(h, runs, now);
    if runs.clusters.is_empty() {
        empty(h, "No runs yet.");
        return;
    }
    let columns = task_columns(
        p.tasks.iter().map(|t| t.name.as_str()),
        runs.clusters.values(),
    );
    for (name, c) in &runs.clusters {
        h.raw("<section class=\"runs\"><h3>")
            .text(name)
            .raw("</h3>");
        if let Some(b) = &c.blocked {
            h.raw("<div class=\"callout\"><strong>Blocked:</strong> ")
                .text(&b.reason);
            if !b.workflow.is_empty() {
                h.raw(" <span class=\"small muted\">(<code>")
                    .text(&b.workflow)
                    .raw("</code>");
                if let Some(t) = b.execution {
                    h.raw(", ").text(&t.format("%Y-%m-%d %H:%M").to_string());
                }
                h.raw(")</span>");
            }
            h.raw("<br><strong>To unblock:</strong> ")
                .text(&b.fix)
                .raw("</div>");
        }
        if let Some(w) = c.waiting.as_ref().filter(|w| w.count > 0) {
            waiting(h, w);
        }
        table(h, &columns, c, now);
        h.raw("</section>");
    }
}

/// "Alerts not delivered": per channel, the error, since when, attempts and waiting runs.
fn alert_problems(h: &mut Html, runs: &PipelineRuns, now: DateTime<Utc>) {
    for p in &runs.alert_problems {
        h.raw("<div class=\"callout\"><strong>Alerts not delivered</strong> to channel <code>")
            .text(&p.channel)
            .raw("</code>: ")
            .text(&p.error);
        h.raw("<br><span class=\"small muted\">failing since ");
        super::common::time(h, p.since, now);
        h.raw(", ").display(p.attempts).raw(" failed attempts");
        if !p.runs.is_empty() {
            h.raw("; waiting: ").text(&p.runs.join(", "));
        }
        h.raw("</span></div>");
    }
}

/// "3 executions waiting to start (oldest …, newest …)".
fn waiting(h: &mut Html, w: &Waiting) {
    h.raw("<p class=\"small\"><span class=\"badge warn\">Waiting ")
        .display(w.count)
        .raw("</span> ")
        .text(if w.count == 1 {
            "execution due, waiting to start"
        } else {
            "executions due, waiting to start"
        });
    let times: Vec<String> = [("oldest", w.oldest), ("newest", w.newest)]
        .iter()
        .filter_map(|(what, t)| Some(format!("{what} {}", (*t)?.format("%Y-%m-%d %H:%M"))))
        .collect();
    if !times.is_empty() {
        h.raw(" (").text(&times.join(", ")).raw(")");
    }
    h.raw("</p>");
}

fn table(h: &mut Html, columns: &[String], c: &ClusterRuns, now: DateTime<Utc>) {
    if c.runs.is_empty() {
        empty(h, "No runs recorded on this cluster yet.");
        return;
    }
    h.raw(
        "<div class=\"table\"><table class=\"rungrid\"><thead><tr><th>Execution</th><th>Run</th>",
    );
    for col in columns {
        h.el("th", &[], col);
    }
    h.raw("</tr></thead><tbody>");
    for r in c.runs.iter().take(MAX_ROWS) {
        row(h, columns, r, now);
    }
    h.raw("</tbody></table></div>");
    if c.runs.len() > MAX_ROWS {
        h.raw("<p class=\"small muted\">… and ")
            .display(c.runs.len() - MAX_ROWS)
            .raw(" older runs.</p>");
    }
}

fn row(h: &mut Html, columns: &[String], r: &RunRecord, now: DateTime<Utc>) {
    h.open("tr", &[("class", "run"), ("data-phase", r.phase.label())]);
    h.raw("<td data-label=\"Execution\">");
    h.el(
        "code",
        &[("title", &execution_text(r, true))],
        &execution_text(r, false),
    );
    h.raw(" <span class=\"small muted\">")
        .text(&origin_text(r))
        .raw("</span></td>");
    let mut tip = vec![format!("Workflow {}", r.workflow)];
    tip.extend(tip_lines(r.started, r.finished, &r.message));
    let tip = tip.join("\n");
    h.open("td", &[("data-label", "Run"), ("title", &tip)]);
    badge(h, &r.phase);
    if let Some(d) = duration_secs(r.duration_seconds, r.started, r.finished, now) {
        h.raw(" <span class=\"small muted\">")
            .text(&duration_words(d))
            .raw("</span>");
    }
    h.raw("</td>");
    if r.tasks.is_empty() && !matches!(r.phase, RunPhase::Pending | RunPhase::Running) {
        // Never created (skipped, blocked, waiting) or nothing known of its tasks: one cell
        // says why across the task columns.
        let span = columns.len().max(1).to_string();
        let why = if r.message.is_empty() {
            r.phase.label()
        } else {
            r.message.as_str()
        };
        h.open(
            "td",
            &[
                ("colspan", &span),
                ("data-label", "Tasks"),
                ("class", &format!("cell {} small", r.phase.tone())),
            ],
        )
        .text(why)
        .raw("</td></tr>");
        return;
    }
    for col in columns {
        match task(r, col) {
            Some(t) => task_cell(h, t),
            None => {
                h.open("td", &[("data-label", col), ("class", "cell idle small")])
                    .raw("·</td>");
            }
        }
    }
    h.raw("</tr>");
}

fn task_cell(h: &mut Html, t: &TaskRecord) {
    let mut tip = vec![format!("{}: {}", t.name, t.phase.label())];
    tip.extend(tip_lines(t.started, t.finished, &t.message));
    if t.retries > 0 {
        tip.push(format!("retries: {}", t.retries));
    }
    let tip = tip.join("\n");
    let class = format!("cell {} small", t.phase.tone());
    h.open(
        "td",
        &[("data-label", &t.name), ("class", &class), ("title", &tip)],
    );
    h.text(t.phase.label());
    if t.retries > 0 {
        h.raw(" <span class=\"muted\">↻")
            .display(t.retries)
            .raw("</span>");
    }
    h.raw("</td>");
}

/// Tooltip lines: started, finished and the message, each when known.
fn tip_lines(
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
    message: &str,
) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(t) = started {
        lines.push(format!("started {}", format::utc_seconds(t)));
    }
    if let Some(t) = finished {
        lines.push(format!("finished {}", format::utc_seconds(t)));
    }
    if !message.is_empty() {
        lines.push(message.to_string());
    }
    lines
}
