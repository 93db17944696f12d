//! A small client for `coordination.k8s.io/v1` Leases on `kube::Api<Lease>`, as client-go's
//! leader election uses them:
//!
//! - **Fencing by `resourceVersion`**: every write after the first is a `replace` carrying the
//!   version last read or written; the API server refuses it with 409 Conflict when anyone wrote
//!   the Lease in between, so two replicas never both believe they took or kept it.
//! - **Expiry by observation, not by clocks**: a Lease held by someone else is expired when its
//!   `resourceVersion` has not changed for `leaseDurationSeconds` *as seen by this process*
//!   (client-go's rule), so clock skew between replicas does not matter. A new process waits
//!   one lease duration before it takes over a Lease it never saw renewed.
//! - **Release**: the holder clears `holderIdentity` (fenced too), and the Lease is free at once.

use anyhow::{Context, Result};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, ListParams, PostParams};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Label on every Lease cubist writes, with the Lease's role (`leader`, `member`, `cluster`).
pub const ROLE_LABEL: &str = "cubist.dev/lease";

/// A Lease this process holds: the object as last written (its `resourceVersion` fences the
/// next write) and when that write succeeded.
#[derive(Debug, Clone)]
pub struct Held {
    lease: Lease,
    /// When the last write (acquire or renew) succeeded.
    pub renewed: Instant,
}

impl Held {
    /// The Lease's name.
    pub fn name(&self) -> &str {
        self.lease.metadata.name.as_deref().unwrap_or_default()
    }

    /// The `resourceVersion` the next write must match.
    pub fn version(&self) -> &str {
        self.lease
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
    }
}

/// What became of a write that is fenced by `resourceVersion`.
#[derive(Debug)]
pub enum Fenced<T> {
    /// Written.
    Done(T),
    /// Someone else holds the Lease (named, when known), or wrote it since it was read.
    Lost(Option<String>),
}

/// When this process first saw a Lease at a `resourceVersion`.
#[derive(Debug, Clone)]
struct Observed {
    version: String,
    at: Instant,
}

/// Reads and writes Leases in one namespace as `identity`.
pub struct LeaseClient {
    api: Api<Lease>,
    identity: String,
    duration: Duration,
    observed: HashMap<String, Observed>,
}

impl LeaseClient {
    /// A client for Leases of `namespace`, held as `identity` for `duration` after each renewal.
    pub fn new(client: kube::Client, namespace: &str, identity: &str, duration: Duration) -> Self {
        LeaseClient {
            api: Api::namespaced(client, namespace),
            identity: identity.to_string(),
            duration,
            observed: HashMap::new(),
        }
    }

    /// This process's identity (the `holderIdentity` it writes).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Takes the Lease `name` (labelled with `role`) if it does not exist, is free, has expired,
    /// or is already this identity's. `Lost(holder)` when someone else holds it or won the race.
    pub async fn acquire(&mut self, name: &str, role: &str) -> Result<Fenced<Held>> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let Some(live) = self
            .api
            .get_opt(name)
            .await
            .context("cannot read the Lease")?
        else {
            let mut lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    labels: Some(BTreeMap::from([(ROLE_LABEL.to_string(), role.to_string())])),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec::default()),
            };
            self.fill(&mut lease, now, true);
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(lease) => Ok(Fenced::Done(self.held(lease))),
                Err(e) if status(&e) == Some(409) => Ok(Fenced::Lost(None)),
                Err(e) => Err(e).with_context(|| format!("cannot create the Lease {name}")),
            };
        };
        let holder = holder(&live);
        if let Some(h) = holder.filter(|h| *h != self.identity)
            && !self.expired(&live)
        {
            return Ok(Fenced::Lost(Some(h.to_string())));
        }
        let mut lease = live.clone();
        let new_holder = holder != Some(self.identity.as_str());
        self.fill(&mut lease, now, new_holder);
        self.replace(lease).await
    }

    /// Renews a held Lease. `Lost` when someone wrote it since (it was taken over after
    /// expiring, or released by force): this process no longer holds it.
    pub async fn renew(&mut self, held: &Held) -> Result<Fenced<Held>> {
        let mut lease = held.lease.clone();
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        self.fill(&mut lease, now, false);
        self.replace(lease).await
    }

    /// Frees a held Lease at once: `holderIdentity` cleared, fenced like a renewal (a Lease
    /// someone else took meanwhile is left alone).
    pub async fn release(&mut self, held: &Held) -> Result<()> {
        let mut lease = held.lease.clone();
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        }
        match self.replace(lease).await? {
            Fenced::Done(_) => Ok(()),
            Fenced::Lost(_) => Ok(()),
        }
    }

    /// Holders of the live Leases labelled `role` (held, and renewed within their duration as
    /// seen by this process), by Lease name.
    pub async fn live(&mut self, role: &str) -> Result<BTreeMap<String, String>> {
        let params = ListParams::default().labels(&format!("{ROLE_LABEL}={role}"));
        let list = self.api.list(&params).await.context("cannot list Leases")?;
        let mut out = BTreeMap::new();
        for lease in list.items {
            let name = lease.metadata.name.clone().unwrap_or_default();
            if let Some(h) = holder(&lease)
                && !self.expired(&lease)
            {
                out.insert(name, h.to_string());
            }
        }
        Ok(out)
    }

    /// Sets this identity as holder, renewed now (and acquired now when `new_holder`).
    fn fill(&self, lease: &mut Lease, now: MicroTime, new_holder: bool) {
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if new_holder {
            spec.acquire_time = Some(now.clone());
            let had_holder = spec
                .holder_identity
                .as_deref()
                .is_some_and(|h| !h.is_empty());
            if had_holder || spec.lease_transitions.is_some() {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            } else {
                spec.lease_transitions = Some(0);
            }
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(self.duration.as_secs().max(1) as i32);
        spec.renew_time = Some(now);
    }

    /// Writes `lease` with its `resourceVersion`: 409 Conflict is `Lost`.
    async fn replace(&mut self, lease: Lease) -> Result<Fenced<Held>> {
        let name = lease.metadata.name.clone().unwrap_or_default();
        match self
            .api
            .replace(&name, &PostParams::default(), &lease)
            .await
        {
            Ok(lease) => Ok(Fenced::Done(self.held(lease))),
            Err(e) if status(&e) == Some(409) => Ok(Fenced::Lost(None)),
            Err(e) => Err(e).with_context(|| format!("cannot write the Lease {name}")),
        }
    }

    fn held(&mut self, lease: Lease) -> Held {
        self.observe(&lease);
        Held {
            lease,
            renewed: Instant::now(),
        }
    }

    /// Records when `lease`'s version was first seen; returns that time.
    fn observe(&mut self, lease: &Lease) -> Instant {
        let name = lease.metadata.name.clone().unwrap_or_default();
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let seen = self.observed.entry(name).or_insert_with(|| Observed {
            version: version.clone(),
            at: Instant::now(),
        });
        if seen.version != version {
            *seen = Observed {
                version,
                at: Instant::now(),
            };
        }
        seen.at
    }

    /// True when `lease`'s version has not changed for its duration, as seen here.
    fn expired(&mut self, lease: &Lease) -> bool {
        let seconds = lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_duration_seconds)
            .unwrap_or(0)
            .max(1) as u64;
        self.observe(lease).elapsed() > Duration::from_secs(seconds)
    }
}

/// The holder of `lease`, when it has one.
fn holder(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

/// The HTTP status of an API error.
fn status(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
