//! Building blocks shared by the views: badges, bars, times, commits, error lists.

use chrono::{DateTime, Utc};

use crate::doc::{
    ChangeCounts, ErrorEntry, Health, HealthCounts, HeldPrune, ProjectState, RunPhase, StateCounts,
    SyncState,
};
use crate::format;
use crate::html::Html;
use crate::links::Links;

/// Colour class of a state: `ok` (green), `warn` (amber), `bad` (red), `none` (grey).
pub trait Tone {
    /// The CSS class.
    fn tone(&self) -> &'static str;
    /// The label.
    fn label(&self) -> &'static str;
}

impl Tone for SyncState {
    fn tone(&self) -> &'static str {
        match self {
            SyncState::Synced => "ok",
            SyncState::OutOfSync => "warn",
            SyncState::Failed => "bad",
            SyncState::Unreachable | SyncState::NotConfigured => "none",
            SyncState::Held => "warn",
        }
    }
    fn label(&self) -> &'static str {
        match self {
            SyncState::Synced => "Synced",
            SyncState::OutOfSync => "OutOfSync",
            SyncState::Failed => "Failed",
            SyncState::Unreachable => "Unreachable",
            SyncState::Held => "Held",
            SyncState::NotConfigured => "NotConfigured",
        }
    }
}

impl Tone for Health {
    fn tone(&self) -> &'static str {
        match self {
            Health::Healthy => "ok",
            Health::Progressing => "warn",
            Health::Degraded => "bad",
            Health::Unknown => "none",
        }
    }
    fn label(&self) -> &'static str {
        match self {
            Health::Healthy => "Healthy",
            Health::Progressing => "Progressing",
            Health::Degraded => "Degraded",
            Health::Unknown => "Unknown",
        }
    }
}

impl Tone for ProjectState {
    fn tone(&self) -> &'static str {
        match self {
            ProjectState::Ready => "ok",
            ProjectState::Failed => "bad",
        }
    }
    fn label(&self) -> &'static str {
        match self {
            ProjectState::Ready => "Ready",
            ProjectState::Failed => "Failed",
        }
    }
}

impl Tone for RunPhase {
    fn tone(&self) -> &'static str {
        match self {
            RunPhase::Succeeded => "ok",
            RunPhase::Waiting | RunPhase::Pending | RunPhase::Running => "warn",
            RunPhase::Failed | RunPhase::Error | RunPhase::Blocked => "bad",
            RunPhase::Skipped | RunPhase::Unknown => "none",
        }
    }
    fn label(&self) -> &'static str {
        match self {
            RunPhase::Waiting => "Waiting",
            RunPhase::Pending => "Pending",
            RunPhase::Running => "Running",
            RunPhase::Succeeded => "Succeeded",
            RunPhase::Failed => "Failed",
            RunPhase::Error => "Error",
            RunPhase::Skipped => "Skipped",
            RunPhase::Blocked => "Blocked",
            RunPhase::Unknown => "Unknown",
        }
    }
}

/// `<span class="badge tone">Label</span>`.
pub fn badge(h: &mut Html, state: &impl Tone) {
    h.el(
        "span",
        &[("class", badge_class(state.tone()))],
        state.label(),
    );
}

fn badge_class(tone: &str) -> &'static str {
    match tone {
        "ok" => "badge ok",
        "warn" => "badge warn",
        "bad" => "badge bad",
        _ => "badge none",
    }
}

/// A badge with a count, `Synced 40`; dimmed when the count is 0.
pub fn count_badge(h: &mut Html, state: &impl Tone, n: u64) {
    let class = if n == 0 {
        "badge none zero"
    } else {
        badge_class(state.tone())
    };
    h.open("span", &[("class", class)])
        .text(state.label())
        .raw(" ")
        .display(n)
        .close("span");
}

/// Object counts by sync state as coloured badges.
pub fn state_counts(h: &mut Html, c: &StateCounts) {
    h.raw("<div class=\"badges\">");
    count_badge(h, &SyncState::Synced, c.synced);
    count_badge(h, &SyncState::OutOfSync, c.out_of_sync);
    count_badge(h, &SyncState::Failed, c.failed);
    count_badge(h, &SyncState::Unreachable, c.unreachable);
    if c.held > 0 {
        count_badge(h, &SyncState::Held, c.held);
    }
    count_badge(h, &SyncState::NotConfigured, c.not_configured);
    h.raw("</div>");
}

/// Object counts by health as coloured badges.
pub fn health_counts(h: &mut Html, c: &HealthCounts) {
    h.raw("<div class=\"badges\">");
    count_badge(h, &Health::Healthy, c.healthy);
    count_badge(h, &Health::Progressing, c.progressing);
    count_badge(h, &Health::Degraded, c.degraded);
    count_badge(h, &Health::Unknown, c.unknown);
    h.raw("</div>");
}

/// `<time>` showing `t` relative to `now`, the exact UTC time as a tooltip; "—" when unknown.
pub fn time(h: &mut Html, t: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    match t {
        Some(t) => {
            let iso = t.to_rfc3339();
            h.el(
                "time",
                &[("datetime", &iso), ("title", &format::utc(t))],
                &format::relative(t, now),
            );
        }
        None => {
            h.raw("—");
        }
    }
}

/// A short sha, linked to the commit when the repository URL is known.
pub fn commit(h: &mut Html, sha: &str, links: &Links) {
    if sha.is_empty() {
        h.raw("—");
        return;
    }
    let href = links.commit(sha);
    h.open("code", &[("title", sha)])
        .link(href.as_deref(), format::short_sha(sha))
        .close("code");
}

/// A horizontal bar filled to `pct` percent: green below 80, amber to 100, red above.
pub fn bar(h: &mut Html, pct: f64, label: &str) {
    let tone = if pct > 100.0 {
        "bad"
    } else if pct >= 80.0 {
        "warn"
    } else {
        "ok"
    };
    let width = format!("width:{}%", format::number(pct.clamp(0.0, 100.0)));
    h.open(
        "div",
        &[
            ("class", "bar"),
            ("role", "img"),
            ("aria-label", label),
            ("title", label),
        ],
    );
    h.open("span", &[("class", tone), ("style", &width)])
        .raw("</span></div>");
}

/// Errors as a list of `file:line:col CODE message`, files linked at `revision` when possible.
pub fn error_list(h: &mut Html, errors: &[ErrorEntry], revision: &str, links: &Links) {
    if errors.is_empty() {
        return;
    }
    h.raw("<ul class=\"errors\">");
    for e in errors {
        // What to set for a cluster that is not configured is a neutral note, not an error.
        h.raw(if e.code == crate::doc::NOT_CONFIGURED_CODE {
            "<li class=\"note\">"
        } else {
            "<li>"
        });
        if !e.file.is_empty() {
            let place = location(e);
            let href = links.file(revision, &e.file, e.line);
            h.raw("<code>")
                .link(href.as_deref(), &place)
                .raw("</code> ");
        }
        // Real spaces between the parts, so that a narrow screen can wrap between them.
        if !e.code.is_empty() {
            h.el("span", &[("class", "code")], &e.code).raw(" ");
        }
        h.text(&e.message).raw("</li>");
    }
    h.raw("</ul>");
}

/// `file:line:col`, or `file` / `file:line` when the position is partly unknown.
pub fn location(e: &ErrorEntry) -> String {
    match (e.line, e.column) {
        (0, _) => e.file.clone(),
        (l, 0) => format!("{}:{l}", e.file),
        (l, c) => format!("{}:{l}:{c}", e.file),
    }
}

/// A `<p class="empty">` placeholder.
pub fn empty(h: &mut Html, text: &str) {
    h.el("p", &[("class", "empty")], text);
}

/// What a reconcile changed, zeros left out: "2 created, 1 changed, 37 unchanged".
pub fn changes_text(c: &ChangeCounts) -> String {
    let parts: Vec<String> = [
        (c.created, "created"),
        (c.changed, "changed"),
        (c.deleted, "deleted"),
        (c.unchanged, "unchanged"),
        (c.skipped, "skipped"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "no objects".to_string()
    } else {
        parts.join(", ")
    }
}

/// The deletions the prune guard holds on a cluster: why, how many per project, the first
/// objects, and how to allow them.
pub fn held_prune(h: &mut Html, held: &HeldPrune) {
    h.raw("<div class=\"held card\"><p><strong>Deletions held:</strong> ")
        .display(held.deletions)
        .raw(" of the ")
        .display(held.owned)
        .raw(" objects cubist owns here would be deleted, and were not.</p><ul>");
    for r in &held.reasons {
        h.raw("<li>").text(r).raw("</li>");
    }
    h.raw("</ul><p class=\"small\">");
    let per_project: Vec<String> = held
        .projects
        .iter()
        .map(|(p, n)| {
            let name = if p.is_empty() { "(no project)" } else { p };
            format!("{name}: {n}")
        })
        .collect();
    h.text(&per_project.join(", "))
        .raw("</p><ul class=\"small\">");
    for o in &held.objects {
        h.raw("<li><code>").text(o).raw("</code></li>");
    }
    let listed = held.objects.len() as u64;
    if held.deletions > listed {
        h.raw("<li>… and ")
            .display(held.deletions - listed)
            .raw(" more</li>");
    }
    h.raw("</ul><p>").text(&held.help).raw("</p></div>");
}
