//! The pull request plan comment (markdown) and the one-line commit statuses: pure functions
//! of a [`PrPlan`]. The comment fits GitHub's limit: diffs that do not fit are left out with a
//! note saying how many.

use super::links::Links;
use super::plan::PrPlan;
use crate::diag::Severity;
use crate::report::plan::{escape_html, markdown_change, markdown_held_all, markdown_table};
use crate::targets::{Action, Plan};
use cubist_github::{CommitState, truncate_comment};

/// Hidden marker of the one plan comment per pull request.
pub const PLAN_MARKER: &str = "<!-- cubist:plan -->";
/// Diagnostics listed in a comment; the rest are counted.
pub const MAX_DIAGNOSTICS: usize = 100;

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The plan comment, at most `limit` characters, starting with [`PLAN_MARKER`].
pub fn plan_comment(plan: &PrPlan, links: &Links, limit: usize) -> String {
    let errors = plan.errors();
    let warnings = plan.diagnostics.len() - errors;
    let verdict = match (&plan.not_planned, errors) {
        (Some(_), 0) => "⚠️ not planned".to_string(),
        (Some(_), _) => format!("❌ {}", plural(errors, "error")),
        (None, _) if plan.plans.iter().any(|p| p.held.is_some()) => {
            "⚠️ valid, deletions would be held".to_string()
        }
        (None, _) => "✅ valid".to_string(),
    };
    let mut head = format!(
        "{PLAN_MARKER}\n### cubist plan: {verdict}\n\nHead [`{}`]({}) against `{}` at `{}`.\n\n#### Validation: {}, {}\n\n",
        short(&plan.head_sha),
        links.commit(&plan.head_sha),
        plan.base_ref,
        short(&plan.base_sha),
        plural(errors, "error"),
        plural(warnings, "warning"),
    );
    for d in plan.diagnostics.iter().take(MAX_DIAGNOSTICS) {
        let icon = match d.severity {
            Severity::Error => "❌",
            Severity::Warning => "⚠️",
        };
        let at = if d.line > 0 {
            format!("{}:{}:{}", d.file, d.line, d.column)
        } else {
            d.file.clone()
        };
        head += &format!(
            "- {icon} **{}** [`{at}`]({}): {}\n",
            d.code,
            links.blob(&plan.head_sha, &d.file, d.line),
            escape_html(&d.message)
        );
        if let Some(help) = &d.help {
            head += &format!("  help: {}\n", escape_html(help));
        }
    }
    if plan.diagnostics.len() > MAX_DIAGNOSTICS {
        head += &format!(
            "- … and {} more: run `cubist validate` on the head for all of them\n",
            plan.diagnostics.len() - MAX_DIAGNOSTICS
        );
    }
    if let Some(why) = &plan.not_planned {
        head += &format!(
            "\n#### Plan\n\nNot planned: {}. cubist plans again on every push.\n",
            escape_html(why)
        );
    } else {
        head += &format!(
            "\n#### Plan per cluster\n{}\n{}",
            markdown_held_all(&plan.plans),
            markdown_table(&plan.plans, &[])
        );
        for note in &plan.notes {
            head += &format!("\n> {}\n", escape_html(note));
        }
        head += &quota_table(plan);
        head += &super::schedule::markdown(&plan.schedules);
    }
    let footer = "\n<sub>cubist updates this comment on every push; comment `/cubist plan` to plan again.</sub>\n";
    let changes: Vec<(&Plan, String)> = plan
        .plans
        .iter()
        .flat_map(|p| {
            p.changes
                .iter()
                .filter(|c| c.action != Action::Unchanged)
                .map(move |c| (p, markdown_change(&p.cluster, c)))
        })
        .collect();
    let reserve = 300;
    let mut room = limit.saturating_sub(count(&head) + count(footer) + reserve);
    let mut body = String::new();
    let mut left_out = 0;
    for (_, block) in &changes {
        let n = count(block);
        if left_out == 0 && n <= room {
            body += block;
            room -= n;
        } else {
            left_out += 1;
        }
    }
    if !changes.is_empty() {
        head += "\n#### Changes\n";
    }
    let mut out = head + &body;
    if left_out > 0 {
        out += &format!(
            "\n… {left_out} of {} changes' diffs did not fit in a GitHub comment ({limit} characters); run `cubist plan` on the head for all of them.\n",
            changes.len()
        );
    }
    truncate_comment(&(out + footer), limit)
}

fn count(s: &str) -> usize {
    s.chars().count()
}

fn quota_table(plan: &PrPlan) -> String {
    if plan.quota.is_empty() {
        return "\n#### Quota impact\n\nNo project's peak usage or quota changes.\n".to_string();
    }
    let mut out = String::from(
        "\n#### Quota impact\n\n| project | cluster | resource | peak before | peak after | limit |\n|---|---|---|---:|---:|---:|\n",
    );
    for q in &plan.quota {
        let limit = if q.limit_before == q.limit_after {
            q.show(q.limit_after)
        } else {
            format!("{} → {}", q.show(q.limit_before), q.show(q.limit_after))
        };
        let warn = if q.over() { " ⚠️" } else { "" };
        out += &format!(
            "| `{}` | `{}` | {} | {} | {}{warn} | {limit} |\n",
            q.project,
            q.cluster,
            q.resource,
            q.show(q.before),
            q.show(q.after)
        );
    }
    out
}

/// `cubist/validate`: failure when the head has errors, naming the first.
pub fn validate_status(plan: &PrPlan) -> (CommitState, String) {
    let errors = plan.errors();
    let warnings = plan.diagnostics.len() - errors;
    match plan.diagnostics.iter().find(|d| d.is_error()) {
        None => (
            CommitState::Success,
            format!("valid: no errors, {}", plural(warnings, "warning")),
        ),
        Some(d) => (
            CommitState::Failure,
            format!(
                "{}; first: {} {}:{}",
                plural(errors, "error"),
                d.code,
                d.file,
                d.line
            ),
        ),
    }
}

/// `cubist/plan`: success with per-cluster counts; failure when nothing could be planned, or
/// when merging would have deletions held by the prune guard (naming the trailer to allow them).
pub fn plan_status(plan: &PrPlan) -> (CommitState, String) {
    if let Some(why) = &plan.not_planned {
        return (CommitState::Failure, format!("not planned: {why}"));
    }
    let held: Vec<String> = plan
        .plans
        .iter()
        .filter_map(|p| {
            let h = p.held.as_ref()?;
            Some(format!("{} -{} held", p.cluster, h.changes.len()))
        })
        .collect();
    if let Some(h) = plan.plans.iter().find_map(|p| p.held.as_ref()) {
        return (
            CommitState::Failure,
            format!(
                "action required: deletions would be held ({}); allow them with a trailer, e.g. `{}`",
                held.join("; "),
                h.allow.first().map_or("", String::as_str)
            ),
        );
    }
    if plan.plans.iter().all(Plan::is_empty) {
        return (
            CommitState::Success,
            "no changes on any cluster".to_string(),
        );
    }
    let parts: Vec<String> = plan
        .plans
        .iter()
        .map(|p| {
            if p.is_empty() {
                format!("{} no changes", p.cluster)
            } else {
                format!(
                    "{} +{} ~{} -{}",
                    p.cluster,
                    p.count(Action::Create),
                    p.count(Action::Update),
                    p.count(Action::Delete)
                )
            }
        })
        .collect();
    (CommitState::Success, parts.join("; "))
}
