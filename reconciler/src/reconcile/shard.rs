//! The loop as one replica among several (see `crate::lease`): a pass reconciles only the
//! clusters whose Lease this replica holds, and its status commit speaks only for them (and,
//! on the leader, for the revision). When the clusters it holds change, the revision is
//! reconciled again, with the inventories read again from the status branch, where the
//! previous owner left them.

use super::Reconciler;
use crate::lease::{Pass, Replica};
use crate::model::Model;
use crate::report::status_shard::Shard;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Reconciler {
    /// Shares the clusters with other replicas through `replica`: from the next poll on, only
    /// the clusters it owns are reconciled.
    pub fn set_replica(&mut self, replica: Arc<Replica>) {
        self.replica = Some(replica);
    }

    /// Starts a poll's pass; true when the clusters owned changed since the last one (or the
    /// replica does not know the clusters yet), so the revision must be reconciled again.
    pub(super) fn begin_pass(&mut self) -> bool {
        let Some(replica) = &self.replica else {
            return false;
        };
        let pass = replica.pass();
        let changed = self.owned_before.as_ref() != Some(&pass.owned) || !replica.knows_clusters();
        if changed {
            tracing::info!(owned = ?pass.owned, leader = pass.leader, "clusters owned");
            // Their run records too (see `runs`).
            self.records.reown(self.owned_before.as_ref(), &pass.owned);
            self.owned_before = Some(pass.owned.clone());
            // Their inventories as the previous owner left them.
            self.resume_inventories();
        }
        self.pass = Some(pass);
        changed
    }

    /// Ends the poll's pass: its clusters may be given up again.
    pub(super) fn end_pass(&mut self) {
        self.pass = None;
    }

    /// Records the clusters of `model` for the Lease driver.
    pub(super) fn note_clusters(&self, model: &Model) {
        if let Some(replica) = &self.replica {
            replica.set_clusters(model.clusters.keys().cloned().collect());
        }
    }

    /// What a status commit of `model` speaks for, when shared.
    pub(super) fn shard(&self, model: &Model) -> Option<Shard> {
        let pass = self.pass.as_ref()?;
        let clusters = model.clusters.keys().cloned().collect();
        Some(Shard {
            owned: pass.owned.clone(),
            clusters,
            leader: pass.leader,
        })
    }

    /// True when this status commit would say nothing: a follower that owns no cluster.
    pub(super) fn nothing_to_write(&self) -> bool {
        self.pass
            .as_ref()
            .is_some_and(|p| !p.leader && p.owned.is_empty())
    }
}

/// `map` (by cluster) without the clusters `pass` does not own; all of it when not shared.
pub(super) fn owned_only<T>(pass: Option<&Pass>, map: &mut BTreeMap<String, T>) {
    if let Some(pass) = pass {
        map.retain(|name, _| pass.owned.contains(name));
    }
}

/// A copy of `map` with only the clusters `pass` owns (all of them when not shared).
pub(super) fn owned<T: Clone>(
    pass: Option<&Pass>,
    map: &BTreeMap<String, T>,
) -> BTreeMap<String, T> {
    let mut map = map.clone();
    owned_only(pass, &mut map);
    map
}
