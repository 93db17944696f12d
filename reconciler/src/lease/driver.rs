//! The Lease driver: every `--lease-retry`, renews this replica's Leases, tries the leader
//! Lease, and claims or gives up cluster Leases toward its fair share. It runs on the server's
//! tokio runtime, apart from the reconcile loop, so a long pass never delays a renewal.

use super::client::{Fenced, Held, LeaseClient};
use super::share::moves;
use super::{Replica, Timing, lease_name};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const MEMBER: &str = "member";
const LEADER: &str = "leader";
const CLUSTER: &str = "cluster";

/// Drives the Leases of `replica` until it is stopped, then releases them all and returns.
/// `nudge` is called when the clusters it owns change, so the loop takes them up at once.
pub async fn run(
    mut client: LeaseClient,
    replica: Arc<Replica>,
    prefix: String,
    timing: Timing,
    nudge: impl Fn() + Send,
) {
    let mut d = Driver {
        member: lease_name(&prefix, MEMBER, replica.identity()),
        leader: format!("{prefix}-{LEADER}"),
        prefix,
        held: BTreeMap::new(),
        cluster_of: BTreeMap::new(),
        timing,
    };
    loop {
        let (stopping, busy) = {
            let s = replica.state();
            (s.stopping, !s.busy.is_empty())
        };
        if stopping {
            if !busy {
                d.release_all(&mut client, &replica).await;
                replica.state().released = true;
                return;
            }
        } else if let Err(e) = d.tick(&mut client, &replica, &nudge).await {
            tracing::warn!(error = format!("{e:#}"), "lease pass failed");
            d.expire(&replica, &nudge);
        }
        let stopping = replica.state().stopping;
        let pause = if stopping {
            std::time::Duration::from_millis(100)
        } else {
            timing.retry
        };
        tokio::time::sleep(pause).await;
    }
}

struct Driver {
    prefix: String,
    member: String,
    leader: String,
    /// Held Leases by name.
    held: BTreeMap<String, Held>,
    /// The cluster of each cluster Lease claimed, by Lease name.
    cluster_of: BTreeMap<String, String>,
    timing: Timing,
}

impl Driver {
    /// One round: member and leader Leases, then cluster claims.
    async fn tick(
        &mut self,
        client: &mut LeaseClient,
        replica: &Arc<Replica>,
        nudge: &impl Fn(),
    ) -> anyhow::Result<()> {
        // Renew (or take) what is held first: a renewal must not wait behind claims.
        let names: Vec<String> = self.held.keys().cloned().collect();
        for name in names {
            let held = self.held[&name].clone();
            match client.renew(&held).await {
                Ok(Fenced::Done(h)) => {
                    self.held.insert(name, h);
                }
                Ok(Fenced::Lost(_)) => {
                    tracing::warn!(lease = %name, "lease lost: another replica wrote it");
                    self.held.remove(&name);
                }
                Err(e) => {
                    tracing::warn!(lease = %name, error = format!("{e:#}"), "lease not renewed")
                }
            }
        }
        self.expire(replica, nudge);
        for (name, role) in [(self.member.clone(), MEMBER), (self.leader.clone(), LEADER)] {
            if !self.held.contains_key(&name)
                && let Fenced::Done(h) = client.acquire(&name, role).await?
            {
                if role == LEADER {
                    tracing::info!(replica = %replica.identity(), "elected leader");
                }
                self.held.insert(name, h);
            }
        }
        let members = client.live(MEMBER).await?;
        let leaders = client.live(LEADER).await?;
        let cluster_leases = client.live(CLUSTER).await?;
        {
            let mut s = replica.state();
            s.replicas = members.len().max(1);
            s.leader = self.held.contains_key(&self.leader);
            s.leader_name = leaders.get(&self.leader).cloned();
        }
        let Some(clusters) = replica.state().clusters.clone() else {
            return Ok(());
        };
        let by_lease: BTreeMap<String, String> = clusters
            .iter()
            .map(|c| (lease_name(&self.prefix, CLUSTER, c), c.clone()))
            .collect();
        let mine = self.held_clusters();
        let taken: BTreeSet<String> = cluster_leases
            .iter()
            .filter(|(_, holder)| *holder != client.identity())
            .filter_map(|(lease, _)| by_lease.get(lease).cloned())
            .collect();
        let m = moves(client.identity(), &clusters, &mine, &taken, members.len());
        for cluster in &m.release {
            let lease = lease_name(&self.prefix, CLUSTER, cluster);
            let busy = {
                let mut s = replica.state();
                s.owned.remove(cluster);
                s.busy.contains(cluster)
            };
            if !busy && let Some(h) = self.held.remove(&lease) {
                client.release(&h).await?;
                tracing::info!(cluster = %cluster, "cluster given up");
            }
        }
        // A cluster given up while a pass used it, and kept after all (the share grew).
        let regained: Vec<String> = {
            let mut s = replica.state();
            let back: Vec<String> = mine
                .iter()
                .filter(|c| !m.release.contains(c) && !s.owned.contains(*c))
                .cloned()
                .collect();
            s.owned.extend(back.iter().cloned());
            back
        };
        if !regained.is_empty() {
            nudge();
        }
        let mut claimed = 0;
        for cluster in m.claim {
            if claimed == m.wanted {
                break;
            }
            let lease = lease_name(&self.prefix, CLUSTER, &cluster);
            if let Fenced::Done(h) = client.acquire(&lease, CLUSTER).await? {
                claimed += 1;
                self.held.insert(lease.clone(), h);
                self.cluster_of.insert(lease, cluster.clone());
                replica.state().owned.insert(cluster.clone());
                tracing::info!(cluster = %cluster, "cluster claimed");
                nudge();
            }
        }
        Ok(())
    }

    /// The clusters whose Lease is held (owned, or given up and waiting for the pass to end).
    fn held_clusters(&self) -> BTreeSet<String> {
        self.cluster_of
            .iter()
            .filter(|(lease, _)| self.held.contains_key(*lease))
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Forgets Leases not renewed within the renew deadline, and makes the shared state say
    /// only what is still held.
    fn expire(&mut self, replica: &Replica, nudge: &impl Fn()) {
        let deadline = self.timing.renew_deadline;
        self.held.retain(|name, h| {
            let keep = h.renewed.elapsed() < deadline;
            if !keep {
                tracing::warn!(lease = %name, "lease not renewed in time: no longer used");
            }
            keep
        });
        let mut s = replica.state();
        s.leader = self.held.contains_key(&self.leader);
        let before = s.owned.len();
        let held = &self.held;
        let prefix = &self.prefix;
        s.owned
            .retain(|c| held.contains_key(&lease_name(prefix, CLUSTER, c)));
        if s.owned.len() != before {
            drop(s);
            nudge();
        }
    }

    /// Releases every held Lease (shutdown): others take over at once.
    async fn release_all(&mut self, client: &mut LeaseClient, replica: &Replica) {
        {
            let mut s = replica.state();
            s.owned.clear();
            s.leader = false;
        }
        for (name, h) in std::mem::take(&mut self.held) {
            match client.release(&h).await {
                Ok(()) => tracing::info!(lease = %name, "lease released"),
                Err(e) => {
                    tracing::warn!(lease = %name, error = format!("{e:#}"), "lease not released")
                }
            }
        }
    }
}
