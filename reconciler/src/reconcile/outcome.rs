//! What one reconcile did: per cluster its plan, apply report, failures, drift, health and
//! what cubist owns there; and where the time went.

use crate::diag::Diagnostic;
use crate::render::ObjectKey;
use crate::targets::desired::Desired;
use crate::targets::kube::Health;
use crate::targets::{ApplyReport, Plan};
use cubist_status_ui::doc::Inventory;
use git2::Oid;
use std::collections::BTreeMap;
use std::time::Duration;

/// What one reconcile did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The reconciled revision.
    pub revision: String,
    /// The status commit written.
    pub status_commit: Option<Oid>,
    /// Projects rendered this time.
    pub projects_rendered: usize,
    /// Projects whose inputs were unchanged (not re-rendered).
    pub projects_skipped: usize,
    /// Projects held at their last good revision.
    pub projects_held: Vec<String>,
    /// Per cluster: plan and apply report (None when the target was skipped or unreachable).
    pub clusters: BTreeMap<String, ClusterOutcome>,
    /// Every diagnostic of the revision.
    pub diagnostics: Vec<Diagnostic>,
    /// Where the time went.
    pub timings: Timings,
}

/// Wall time of each stage of one reconcile.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Reading the commit's files.
    pub snapshot: Duration,
    /// Parsing, schema validation and semantic checks.
    pub validate: Duration,
    /// Rendering the projects whose inputs changed.
    pub render: Duration,
    /// Planning and applying every cluster.
    pub apply: Duration,
    /// The run controller's pass (due executions, admission, run Workflows created).
    pub runs: Duration,
    /// Building and committing the status documents.
    pub status: Duration,
}

impl Timings {
    /// The time of every stage together.
    pub fn total(&self) -> Duration {
        self.stages().iter().map(|(_, d)| *d).sum()
    }

    /// Each stage's name and time, in order.
    pub fn stages(&self) -> [(&'static str, Duration); 6] {
        [
            ("snapshot", self.snapshot),
            ("validate", self.validate),
            ("render", self.render),
            ("apply", self.apply),
            ("runs", self.runs),
            ("status", self.status),
        ]
    }
}

/// One cluster's part of a reconcile.
#[derive(Debug, Clone, Default)]
pub struct ClusterOutcome {
    /// The plan that was applied (or, on a refresh without apply, what differs).
    pub plan: Option<std::sync::Arc<Plan>>,
    /// What the apply did (`None` when nothing was applied).
    pub report: Option<ApplyReport>,
    /// Why the cluster was not applied, if it was not.
    pub skipped: Option<String>,
    /// The cluster could not be reached.
    pub unreachable: bool,
    /// The cluster's credentials are absent where cubist runs (neutral; `skipped` says what
    /// to set).
    pub not_configured: bool,
    /// Objects of a directory target found deleted or changed by hand on a refresh, and
    /// written again.
    pub repaired: usize,
    /// When the next attempt happens, after a failure.
    pub retry_in: Option<std::time::Duration>,
    /// When the cluster was last applied successfully.
    pub applied_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Objects whose live state differs from the desired one and were not re-applied.
    pub drifted: Vec<ObjectKey>,
    /// Health of live objects (Kubernetes targets).
    pub health: BTreeMap<ObjectKey, Health>,
    /// What cubist owns in the cluster after this pass.
    pub inventory: Option<Owned>,
    /// The desired objects.
    pub desired: Desired,
}

/// What cubist owns in a cluster after a pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    /// Exactly the desired objects: every one of them was applied.
    Desired,
    /// These objects.
    Listed(Inventory),
}

impl ClusterOutcome {
    /// A cluster that could not be applied, and why.
    pub(super) fn failed(desired: Desired, why: String) -> Self {
        ClusterOutcome {
            skipped: Some(why),
            desired,
            ..Default::default()
        }
    }

    /// A cluster that could not be reached.
    pub(super) fn unreachable(desired: Desired, why: String) -> Self {
        ClusterOutcome {
            unreachable: true,
            ..ClusterOutcome::failed(desired, why)
        }
    }

    /// Objects that failed (`object → why`): apply failures, or on a pass without apply, the
    /// plan's conflicts that are not drift.
    pub fn failures(&self) -> BTreeMap<ObjectKey, String> {
        match (&self.report, &self.plan) {
            (Some(r), _) => r.failed.iter().cloned().collect(),
            (None, Some(p)) => p
                .changes
                .iter()
                .filter(|c| {
                    c.action == crate::targets::Action::Conflict && !self.drifted.contains(&c.key)
                })
                .map(|c| (c.key.clone(), c.note.clone().unwrap_or_default()))
                .collect(),
            (None, None) => BTreeMap::new(),
        }
    }

    /// The plan's note on an object (e.g. which manager took which field), if any.
    pub fn note(&self, key: &ObjectKey) -> Option<&str> {
        self.plan
            .as_ref()?
            .changes
            .iter()
            .find(|c| &c.key == key)?
            .note
            .as_deref()
    }
}

/// What a status page would show of a cluster: its state and each object's state and health.
pub(super) fn observed(co: &ClusterOutcome) -> (String, Vec<String>) {
    let failures = co.failures();
    let objects = co
        .desired
        .objects()
        .map(|o| {
            let k = o.key();
            let health = co
                .health
                .get(&k)
                .map(|h| format!("{:?} {}", h.status, h.message));
            format!(
                "{k} {} {} {:?}",
                o.hash,
                failures.get(&k).map_or("", String::as_str),
                health
            ) + if co.drifted.contains(&k) {
                " drifted"
            } else {
                ""
            }
        })
        .collect();
    (format!("{:?}", co.state()), objects)
}
