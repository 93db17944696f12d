//! What a reconcile of the watched branch did, per cluster, as plain data; the comment on the
//! merged pull request and the `cubist/apply` status made from it.

use super::links::Links;
use crate::reconcile::HealthCounts;
use crate::reconcile::Outcome;
use crate::report::plan::{escape_html, markdown_held};
use crate::targets::Action;
use crate::targets::guard::Held;
use cubist_github::CommitState;

/// Hidden marker of the apply comment on a merged pull request.
pub const APPLY_MARKER: &str = "<!-- cubist:apply -->";

/// The result of reconciling one revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyResult {
    /// The reconciled commit.
    pub revision: String,
    /// Per cluster, by name.
    pub clusters: Vec<ClusterApply>,
    /// Projects held at their last good revision.
    pub held: Vec<String>,
    /// Error diagnostics of the revision.
    pub errors: usize,
}

/// One cluster's part of a reconcile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterApply {
    /// Cluster name.
    pub cluster: String,
    /// Objects created or changed.
    pub applied: usize,
    /// Objects deleted because no longer desired.
    pub pruned: usize,
    /// Objects already as desired.
    pub unchanged: usize,
    /// `(object, error)` per object that could not be applied.
    pub failed: Vec<(String, String)>,
    /// Why the cluster was not applied, if it was not.
    pub skipped: Option<String>,
    /// Health of the cluster's objects, when the target reports it.
    pub health: Option<HealthCounts>,
    /// Deletions the prune guard held, if any.
    pub prune_held: Option<Held>,
}

impl ApplyResult {
    /// The result of a reconcile (health from Kubernetes clusters; none for directories).
    pub fn from_outcome(o: &Outcome) -> ApplyResult {
        let clusters = o
            .clusters
            .iter()
            .map(|(name, co)| {
                let plan = co.plan.as_ref();
                let count = |a: Action| plan.map_or(0, |p| p.count(a));
                ClusterApply {
                    cluster: name.clone(),
                    applied: count(Action::Create) + count(Action::Update),
                    pruned: count(Action::Delete),
                    unchanged: count(Action::Unchanged),
                    failed: co
                        .report
                        .as_ref()
                        .map(|r| {
                            r.failed
                                .iter()
                                .map(|(k, e)| (k.to_string(), e.clone()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    skipped: co.skipped.clone(),
                    health: co.health_counts(),
                    prune_held: plan.and_then(|p| p.held.clone()),
                }
            })
            .collect();
        ApplyResult {
            revision: o.revision.clone(),
            clusters,
            held: o.projects_held.clone(),
            errors: o.diagnostics.iter().filter(|d| d.is_error()).count(),
        }
    }

    /// True when every cluster applied without failures and no project is held.
    pub fn ok(&self) -> bool {
        self.held.is_empty()
            && self.errors == 0
            && self
                .clusters
                .iter()
                .all(|c| c.skipped.is_none() && c.failed.is_empty() && c.prune_held.is_none())
    }
}

fn health(h: &Option<HealthCounts>) -> String {
    let Some(h) = h else {
        return "—".to_string();
    };
    let parts: Vec<String> = [
        (h.healthy, "healthy"),
        (h.progressing, "progressing"),
        (h.degraded, "degraded"),
        (h.unknown, "unknown"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join(", ")
    }
}

/// The apply comment for pull request `number`, merged as `result.revision`.
pub fn apply_comment(result: &ApplyResult, links: &Links) -> String {
    let sha = &result.revision;
    let verdict = if result.ok() {
        "✅ applied"
    } else {
        "❌ not fully applied"
    };
    let mut out = format!(
        "{APPLY_MARKER}\n### cubist apply: {verdict}\n\nMerged as [`{}`]({}) and reconciled.\n\n| cluster | result | applied | pruned | unchanged | failed | health |\n|---|---|---:|---:|---:|---:|---|\n",
        &sha[..sha.len().min(7)],
        links.commit(sha)
    );
    for c in &result.clusters {
        let state = match (&c.skipped, c.failed.is_empty()) {
            (Some(why), _) => format!("⚠️ skipped: {}", escape_html(why).replace('|', "\\|")),
            (None, true) if c.prune_held.is_some() => "⚠️ applied, deletions held".to_string(),
            (None, true) => "✅ applied".to_string(),
            (None, false) => "❌ failed".to_string(),
        };
        out += &format!(
            "| `{}` | {state} | {} | {} | {} | {} | {} |\n",
            c.cluster,
            c.applied,
            c.pruned,
            c.unchanged,
            c.failed.len(),
            health(&c.health)
        );
    }
    if !result.held.is_empty() {
        let held: Vec<String> = result.held.iter().map(|p| format!("`{p}`")).collect();
        out += &format!(
            "\nHeld at their last good revision ({} in this commit): {}.\n",
            if result.errors == 1 {
                "1 error".to_string()
            } else {
                format!("{} errors", result.errors)
            },
            held.join(", ")
        );
    }
    for c in &result.clusters {
        if let Some(h) = &c.prune_held {
            out += &markdown_held(&c.cluster, h);
        }
    }
    for c in result.clusters.iter().filter(|c| !c.failed.is_empty()) {
        out += &format!(
            "\n<details><summary>{} failed on <code>{}</code></summary>\n\n",
            c.failed.len(),
            escape_html(&c.cluster)
        );
        for (object, error) in &c.failed {
            out += &format!("- `{object}`: {}\n", escape_html(error));
        }
        out += "</details>\n";
    }
    out
}

/// `cubist/apply`: success with what was applied, failure naming what was not.
pub fn apply_status(result: &ApplyResult) -> (CommitState, String) {
    let mut parts = Vec::new();
    for c in &result.clusters {
        parts.push(match (&c.skipped, c.failed.len()) {
            (Some(_), _) => format!("{} skipped", c.cluster),
            (None, 0) => match &c.prune_held {
                Some(h) => format!(
                    "{} +{} -{} ({} deletions held)",
                    c.cluster,
                    c.applied,
                    c.pruned,
                    h.changes.len()
                ),
                None => format!("{} +{} -{}", c.cluster, c.applied, c.pruned),
            },
            (None, n) => format!("{} {n} failed", c.cluster),
        });
    }
    if !result.held.is_empty() {
        parts.push(format!("held: {}", result.held.join(", ")));
    }
    let state = if result.ok() {
        CommitState::Success
    } else {
        CommitState::Failure
    };
    let text = if parts.is_empty() {
        "no clusters".to_string()
    } else {
        parts.join("; ")
    };
    let verdict = if result.ok() { "applied" } else { "incomplete" };
    (state, format!("{verdict}: {text}"))
}
