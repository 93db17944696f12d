//! Leader election and cluster sharding between `cubist serve` replicas, with Kubernetes Leases
//! (`coordination.k8s.io/v1`) in one namespace (see README, "Running several replicas"):
//!
//! - `<prefix>-member-<replica>`: each replica's own Lease, renewed while it runs; the live
//!   ones say how many replicas share the clusters.
//! - `<prefix>-leader`: held by one replica, which writes the revision's part of each status
//!   commit (summary, project digests, history).
//! - `<prefix>-cluster-<cluster>`: one per cluster; only its holder reconciles the cluster, and
//!   each replica holds a fair share (see [`share`]).
//!
//! The Lease client is this crate's own ([`client`]): the maintained crates checked
//! (kube-lease-manager 0.13, kube-coordinate 2.0.0-rc.0, kubert 0.25) either do not support
//! kube 5 or manage one Lease per blocking manager, without the non-blocking claim and the
//! listing of member Leases sharding needs.

pub mod client;
mod driver;
pub mod share;

pub use driver::run;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Options of `cubist serve` for running several replicas.
#[derive(clap::Args, Debug, Clone)]
pub struct LeaseArgs {
    /// Namespace of the Leases replicas elect a leader and share clusters with (env
    /// CUBIST_LEASE_NAMESPACE). Without it (or empty) the process is alone: no election, every
    /// cluster.
    #[arg(long)]
    pub lease_namespace: Option<String>,
    /// Kubeconfig of the cluster that holds the Leases (env CUBIST_LEASE_KUBECONFIG); without
    /// it, the pod's service account (in-cluster).
    #[arg(long)]
    pub lease_kubeconfig: Option<PathBuf>,
    /// Prefix of the Lease names.
    #[arg(long, default_value = "cubist")]
    pub lease_prefix: String,
    /// This replica's identity in the Leases (env CUBIST_REPLICA_ID; default: the POD_NAME or
    /// HOSTNAME environment variable, else the host name and process id).
    #[arg(long)]
    pub replica_id: Option<String>,
    /// How long a Lease stays held after its last renewal.
    #[arg(long, default_value = "15s")]
    pub lease_duration: String,
    /// A replica that could not renew a Lease for this long stops using it (less than
    /// --lease-duration, so it stops before another replica may take it).
    #[arg(long, default_value = "10s")]
    pub lease_renew_deadline: String,
    /// How often Leases are renewed and free ones tried.
    #[arg(long, default_value = "2s")]
    pub lease_retry: String,
}

/// The timing of the Leases, checked.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// `leaseDurationSeconds`.
    pub duration: Duration,
    /// Give up a Lease not renewed for this long.
    pub renew_deadline: Duration,
    /// Period of renewals and claims.
    pub retry: Duration,
}

impl LeaseArgs {
    /// The timing, refused unless retry < renew deadline < duration (and the prefix is a
    /// valid start of a Lease name).
    pub fn timing(&self) -> anyhow::Result<Timing> {
        let d = |flag, s: &str| {
            crate::model::duration::duration_seconds(s)
                .map(Duration::from_secs)
                .ok_or_else(|| anyhow::anyhow!("{flag} `{s}` is not a duration like 2s or 15s"))
        };
        let t = Timing {
            duration: d("--lease-duration", &self.lease_duration)?,
            renew_deadline: d("--lease-renew-deadline", &self.lease_renew_deadline)?,
            retry: d("--lease-retry", &self.lease_retry)?,
        };
        anyhow::ensure!(
            !self.lease_prefix.is_empty()
                && self.lease_prefix.len() <= 40
                && self
                    .lease_prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "--lease-prefix `{}` must be 1 to 40 lowercase letters, digits or `-`",
            self.lease_prefix
        );
        anyhow::ensure!(
            t.retry < t.renew_deadline && t.renew_deadline < t.duration,
            "Lease timing must be --lease-retry < --lease-renew-deadline < --lease-duration \
             (got {}s, {}s, {}s): a replica must stop using a Lease before another may take it",
            t.retry.as_secs(),
            t.renew_deadline.as_secs(),
            t.duration.as_secs()
        );
        Ok(t)
    }

    /// The namespace of the Leases: the flag, else `CUBIST_LEASE_NAMESPACE` (empty is unset).
    pub fn namespace(&self) -> Option<String> {
        set(self.lease_namespace.clone())
            .or_else(|| set(std::env::var("CUBIST_LEASE_NAMESPACE").ok()))
    }

    /// The kubeconfig of the Leases' cluster: the flag, else `CUBIST_LEASE_KUBECONFIG`.
    pub fn kubeconfig(&self) -> Option<PathBuf> {
        let flag = self
            .lease_kubeconfig
            .clone()
            .filter(|k| !k.as_os_str().is_empty());
        flag.or_else(|| set(std::env::var("CUBIST_LEASE_KUBECONFIG").ok()).map(PathBuf::from))
    }

    /// This replica's identity.
    pub fn identity(&self) -> String {
        set(self.replica_id.clone())
            .or_else(|| set(std::env::var("CUBIST_REPLICA_ID").ok()))
            .or_else(|| set(std::env::var("POD_NAME").ok()))
            .or_else(|| set(std::env::var("HOSTNAME").ok()))
            .unwrap_or_else(|| {
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                format!("{}-{}", host.trim(), std::process::id())
            })
    }
}

/// `s` unless it is empty or blank.
fn set(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// A Lease name for `prefix`, `role` and `name`: lowercase letters, digits and `-`, at most
/// 63 characters; a name that had to change gets a hash of the original, so two never meet.
pub fn lease_name(prefix: &str, role: &str, name: &str) -> String {
    let raw = format!("{prefix}-{role}-{name}");
    let clean: String = raw
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    if clean == raw && clean.len() <= 63 && !clean.ends_with('-') {
        return clean;
    }
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(raw.as_bytes())[..5]);
    let head: String = clean.chars().take(52).collect();
    format!("{}-{hash}", head.trim_end_matches('-'))
}

/// What this replica is and owns, shared between the Lease driver, the reconcile loop and the
/// HTTP server.
#[derive(Debug)]
pub struct Replica {
    identity: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    leader: bool,
    /// The leader as last seen (this replica or another).
    leader_name: Option<String>,
    /// Clusters this replica holds the Lease of and may reconcile.
    owned: BTreeSet<String>,
    /// Clusters the running pass uses: their Leases are not released until it ends.
    busy: BTreeSet<String>,
    /// The clusters of the newest revision read (`None` before the first).
    clusters: Option<BTreeSet<String>>,
    /// Live replicas, this one included.
    replicas: usize,
    /// Shutting down: no more passes; Leases released once the running pass ends.
    stopping: bool,
    /// Every Lease was released (shutdown done).
    released: bool,
}

/// What a pass may use, taken at its start: the clusters stay busy until it is dropped.
#[derive(Debug)]
pub struct Pass {
    replica: Arc<Replica>,
    /// Clusters the pass may reconcile.
    pub owned: BTreeSet<String>,
    /// Whether this replica leads (writes the revision's part of status commits).
    pub leader: bool,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.replica.state().busy.clear();
    }
}

impl Replica {
    /// A replica named `identity`, owning nothing yet.
    pub fn new(identity: impl Into<String>) -> Arc<Self> {
        Arc::new(Replica {
            identity: identity.into(),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Starts a pass: the clusters owned now, marked busy until the [`Pass`] is dropped.
    pub fn pass(self: &Arc<Self>) -> Pass {
        let mut s = self.state();
        s.busy = s.owned.clone();
        Pass {
            replica: self.clone(),
            owned: s.owned.clone(),
            leader: s.leader,
        }
    }

    /// Records the clusters of the newest revision read.
    pub fn set_clusters(&self, clusters: BTreeSet<String>) {
        self.state().clusters = Some(clusters);
    }

    /// True once the clusters of a revision were recorded.
    pub fn knows_clusters(&self) -> bool {
        self.state().clusters.is_some()
    }

    /// True once the driver released every Lease after [`Replica::stop`].
    pub fn released(&self) -> bool {
        self.state().released
    }

    /// Asks the driver to release every Lease once the running pass ends.
    pub fn stop(&self) {
        self.state().stopping = true;
    }
}

impl cubist_status_ui::Role for Replica {
    /// One line for `/readyz` and the page: role, leader, and the clusters owned.
    fn describe(&self) -> String {
        let s = self.state();
        let role = if s.leader {
            "leader".to_string()
        } else {
            match &s.leader_name {
                Some(l) => format!("follower (leader: {l})"),
                None => "follower (no leader yet)".to_string(),
            }
        };
        let owned: Vec<&str> = s.owned.iter().map(String::as_str).collect();
        let clusters = if owned.is_empty() {
            "none".to_string()
        } else {
            owned.join(", ")
        };
        format!(
            "replica {} of {}: {role}; clusters: {clusters}",
            self.identity,
            s.replicas.max(1)
        )
    }
}
