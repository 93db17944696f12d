//! What a pass says about a cluster as a whole, in the loop's own terms: its state and the
//! health counts of its objects. The report stage turns them into the page's documents.

use super::ClusterOutcome;
use crate::targets::guard::Held;
use crate::targets::kube::HealthStatus;

/// A cluster's state after a pass (the status documents' `SyncState` of a cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// Applied, and every object is as desired.
    Synced,
    /// Some objects differ from the desired state (drift) and were not re-applied.
    OutOfSync,
    /// Not applied, or some objects failed.
    Failed,
    /// The cluster could not be reached.
    Unreachable,
    /// The prune guard holds some deletions.
    Held,
    /// The cluster's credentials are absent where cubist runs; nothing was tried.
    NotConfigured,
}

/// Object counts per health (Kubernetes targets report health; directory targets do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthCounts {
    /// Objects running as desired, or finished successfully.
    pub healthy: u64,
    /// Objects not there yet.
    pub progressing: u64,
    /// Objects failed or stuck.
    pub degraded: u64,
    /// Objects without a health reading.
    pub unknown: u64,
}

impl ClusterOutcome {
    /// The cluster's state as a whole: NotConfigured, Unreachable, Failed (not applied, or
    /// objects failed), Held (the prune guard holds deletions), OutOfSync (drift), else Synced.
    pub fn state(&self) -> ClusterState {
        if self.not_configured {
            ClusterState::NotConfigured
        } else if self.unreachable {
            ClusterState::Unreachable
        } else if self.skipped.is_some() || !self.failures().is_empty() {
            ClusterState::Failed
        } else if self.held().is_some() {
            ClusterState::Held
        } else if !self.drifted.is_empty() {
            ClusterState::OutOfSync
        } else {
            ClusterState::Synced
        }
    }

    /// The deletions the prune guard holds on the cluster, if any.
    pub fn held(&self) -> Option<&Held> {
        self.plan.as_ref()?.held.as_ref()
    }

    /// Health counts of the desired objects (objects without a reading count as unknown);
    /// `None` when the target reports no health at all (directory targets).
    pub fn health_counts(&self) -> Option<HealthCounts> {
        if self.health.is_empty() {
            return None;
        }
        let mut counts = HealthCounts::default();
        for o in self.desired.objects() {
            match self
                .health
                .get(&o.key())
                .map_or(HealthStatus::Unknown, |h| h.status)
            {
                HealthStatus::Healthy => counts.healthy += 1,
                HealthStatus::Progressing => counts.progressing += 1,
                HealthStatus::Degraded => counts.degraded += 1,
                HealthStatus::Unknown => counts.unknown += 1,
            }
        }
        Some(counts)
    }
}
