//! Applying each cluster's desired objects. Directory targets are written in place; Kubernetes
//! targets run concurrently on a small tokio runtime, each with its own client, inventory (kept
//! in the status branch) and exponential backoff, so an unreachable cluster never slows the
//! others down.

use super::{ClusterOutcome, Owned};
use crate::model::kinds::{ClusterSpec, Target as TargetSpec};
use crate::render::ObjectKey;
use crate::targets::cluster_target::{ClusterTarget, TargetError};
use crate::targets::desired::Desired;
use crate::targets::guard::{Allowances, PruneLimit, guard};
use crate::targets::kube::KubeTarget;
use crate::targets::memory::Memory;
use crate::targets::{Action, ApplyReport, Plan};
use chrono::{DateTime, Utc};
use cubist_status_ui::doc::{Inventory, InventoryEntry};
use futures::FutureExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Why the targets are visited: a new revision to apply, or a periodic look at live state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// A new revision: plan and apply every cluster.
    Apply,
    /// Same revision: Kubernetes clusters that are due are planned against live state
    /// (drift), healed when `selfHeal` is set or a previous apply did not finish, and their
    /// health read; directory targets are compared with the desired objects and what was
    /// deleted or changed by hand is written again.
    Refresh,
}

/// The targets of every cluster and what the loop remembers about each.
pub(super) struct Clusters {
    target_root: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
    kube: BTreeMap<String, KubeSlot>,
    applied_at: BTreeMap<String, DateTime<Utc>>,
    /// Inventories read from the status branch at start, until their cluster is first visited.
    resumed: BTreeMap<String, Inventory>,
    /// What each directory target saw last: unchanged files are not read again.
    memories: BTreeMap<String, Memory>,
    /// The directory of each memory's target.
    memory_roots: BTreeMap<String, PathBuf>,
    /// Where memories are kept between processes (see `targets::memory_file`).
    memory_dir: Option<PathBuf>,
    /// Directory targets are watched between passes (not in a single pass).
    watch: bool,
    /// Deletions the newest reconciled commits allow (prune guard), also for refresh passes.
    allow: Allowances,
}

/// A directory target's memory kept by an earlier process, to take in (see
/// `targets::memory_file`).
struct Kept {
    cluster: String,
    memory: Memory,
    dir: PathBuf,
    root: PathBuf,
}

impl Kept {
    /// Takes the kept memory into the target's memory.
    fn take_in(&self) {
        let n = crate::targets::memory_file::load(&self.memory, &self.dir, &self.root);
        tracing::debug!(
            cluster = self.cluster,
            files = n,
            "took in the kept memory of the target directory"
        );
    }
}

/// A Kubernetes cluster's client and memory between passes.
struct KubeSlot {
    spec: ClusterSpec,
    target: Option<Arc<KubeTarget>>,
    inventory: Inventory,
    failures: u32,
    retry_at: Option<Instant>,
    /// The last revision never reached the cluster: apply it on the next refresh.
    pending: bool,
    /// The error of the last pass, while waiting to retry.
    error: Option<TargetError>,
}

impl KubeSlot {
    fn new(spec: ClusterSpec, inventory: Inventory) -> Self {
        KubeSlot {
            spec,
            target: None,
            inventory,
            failures: 0,
            retry_at: None,
            pending: true,
            error: None,
        }
    }
}

impl Clusters {
    /// Targets relative to `target_root` (directory targets' paths); directory targets' memories
    /// kept in `memory_dir` between processes, and watched between passes if `watch`.
    pub(super) fn new(target_root: PathBuf, memory_dir: Option<PathBuf>, watch: bool) -> Self {
        Clusters {
            target_root,
            memory_roots: BTreeMap::new(),
            memory_dir,
            watch,
            runtime: None,
            kube: BTreeMap::new(),
            applied_at: BTreeMap::new(),
            resumed: BTreeMap::new(),
            memories: BTreeMap::new(),
            allow: Allowances::default(),
        }
    }

    /// Watches no directory target from now on: the process makes one pass and stops (see
    /// [`Memory::unwatch`]).
    pub(super) fn stop_watching(&mut self) {
        self.watch = false;
        self.memories.values().for_each(Memory::unwatch);
    }

    /// True unless [`Clusters::stop_watching`] was called.
    pub(super) fn watches(&self) -> bool {
        self.watch
    }

    /// Sets the deletions the reconciled commits allow (their `Cubist-Allow-Prune:` trailers),
    /// used until the next reconcile.
    pub(super) fn set_allowances(&mut self, allow: Allowances) {
        self.allow = allow;
    }

    /// Seeds a cluster's inventory, read from the status branch after a restart: git is the only
    /// record of what cubist owns in a Kubernetes cluster.
    pub(super) fn resume_inventory(&mut self, cluster: &str, inventory: Inventory) {
        self.resumed.insert(cluster.to_string(), inventory);
    }

    /// The connected client of a Kubernetes cluster, if its last pass reached it.
    pub(super) fn kube_target(&self, cluster: &str) -> Option<Arc<KubeTarget>> {
        self.kube.get(cluster)?.target.clone()
    }

    /// The runtime Kubernetes clusters run on (once one was visited).
    pub(super) fn runtime(&self) -> Option<&tokio::runtime::Runtime> {
        self.runtime.as_ref()
    }

    /// The runtime, started now if no Kubernetes cluster did (alerts of directory targets).
    pub(super) fn runtime_started(&mut self) -> &tokio::runtime::Runtime {
        self.runtime.get_or_insert_with(start_runtime)
    }

    /// The memory of directory cluster `cluster`, once a pass planned it.
    pub(super) fn memory(&self, cluster: &str) -> Option<&Memory> {
        self.memories.get(cluster)
    }

    /// True when some cluster should be looked at again now: a Kubernetes cluster due, or any
    /// directory target (a look costs little: the memory knows the files nothing touched).
    pub(super) fn refresh_due(&self) -> bool {
        let now = Instant::now();
        !self.memories.is_empty()
            || self
                .kube
                .values()
                .any(|s| s.retry_at.is_none_or(|t| t <= now))
    }

    /// True when a directory target of `desired` differs from it (a file deleted, edited or
    /// left over that cubist owns), or cannot be planned; temporary files a crash left are
    /// deleted on the way. Used after a restart, before anything else was applied.
    pub(super) fn directories_differ(
        &mut self,
        specs: &BTreeMap<String, ClusterSpec>,
        desired: &BTreeMap<String, Desired>,
    ) -> bool {
        desired.iter().any(|(name, set)| {
            let Some(spec) = specs.get(name) else {
                return false;
            };
            let TargetSpec::Directory { .. } = spec.target else {
                return false;
            };
            let Ok((target, kept)) = self.directory_target(name, spec) else {
                return true;
            };
            if let Some(kept) = kept {
                kept.take_in();
            }
            target.clean_leftovers().is_err()
                || !ready(target.plan(set, &Inventory::default())).is_ok_and(|p| !writes(&p))
        })
    }

    /// Plans and applies (or refreshes) every cluster in `desired` (cluster → objects).
    /// On a [`Pass::Refresh`], a directory cluster is in the result only when its target
    /// differed from `desired` and was written again, or could not be looked at.
    pub(super) fn run(
        &mut self,
        specs: &BTreeMap<String, ClusterSpec>,
        desired: BTreeMap<String, Desired>,
        pass: Pass,
    ) -> BTreeMap<String, ClusterOutcome> {
        let mut out = BTreeMap::new();
        let mut kube_sets = Vec::new();
        let mut dir_sets = Vec::new();
        for (name, set) in desired {
            let Some(spec) = specs.get(&name) else {
                continue;
            };
            match &spec.target {
                TargetSpec::Directory { .. } => dir_sets.push((name, spec, set)),
                TargetSpec::Kubernetes { .. } => kube_sets.push((name, spec.clone(), set)),
            }
        }
        out.extend(self.directories(dir_sets, pass));
        self.kube.retain(|n, _| specs.contains_key(n));
        self.memories.retain(|n, _| specs.contains_key(n));
        self.memory_roots.retain(|n, _| specs.contains_key(n));
        if !kube_sets.is_empty() {
            out.extend(self.kubernetes(kube_sets, pass));
        }
        out
    }

    /// The target of directory cluster `name`, with its memory, planning without diffs: the
    /// loop reports counts and states, never diffs. With it, the memory kept in the memory
    /// directory to take in ([`Kept::take_in`]) when this process has none yet.
    fn directory_target(
        &mut self,
        name: &str,
        spec: &ClusterSpec,
    ) -> Result<(ClusterTarget, Option<Kept>), String> {
        let fresh = !self.memories.contains_key(name);
        let memory = self.memories.entry(name.to_string()).or_default().clone();
        // Memories made before are unwatched by `stop_watching`.
        if fresh && !self.watch {
            memory.unwatch();
        }
        let target = ClusterTarget::directory(&self.target_root, spec, Some(memory.clone()))?;
        let root = target.root().map(Path::to_path_buf);
        let kept = match (&root, &self.memory_dir) {
            (Some(root), Some(dir)) if fresh || self.memory_roots.get(name) != Some(root) => {
                Some(Kept {
                    cluster: name.to_string(),
                    memory,
                    dir: dir.clone(),
                    root: root.clone(),
                })
            }
            _ => None,
        };
        if let Some(root) = root {
            self.memory_roots.insert(name.to_string(), root);
        }
        Ok((target.without_diffs(), kept))
    }

    /// Keeps what each directory target's memory knows in the memory directory, for the next
    /// process (see `targets::memory_file`); a failure is logged, as the memory only saves time.
    pub(super) fn keep_memories(&self) {
        let Some(dir) = &self.memory_dir else {
            return;
        };
        let memories: Vec<_> = self
            .memories
            .iter()
            .filter_map(|(name, m)| Some((name, m, self.memory_roots.get(name)?)))
            .collect();
        // One file per target, written at once.
        crate::par::map_in_runs(&memories, 1, |(name, memory, root)| {
            if let Err(e) = crate::targets::memory_file::save(memory, dir, root) {
                tracing::warn!(cluster = %name, error = %format!("{e:#}"), "keeping a target directory's memory failed; the next start reads every file");
            }
        });
    }

    /// Plans and applies directory targets, several at once (each writes its own directory).
    /// On a refresh, only a target that differs from its desired objects is applied (its
    /// objects count as repaired) and in the result.
    fn directories(
        &mut self,
        sets: Vec<(String, &ClusterSpec, Desired)>,
        pass: Pass,
    ) -> BTreeMap<String, ClusterOutcome> {
        let mut out = BTreeMap::new();
        let mut jobs = Vec::new();
        for (name, spec, desired) in sets {
            match self.directory_target(&name, spec) {
                Ok((t, kept)) => jobs.push((name, spec, desired, t, kept)),
                Err(why) => {
                    out.insert(name, ClusterOutcome::failed(desired, why));
                }
            }
        }
        // Validation keeps directory targets apart (E1002), but links in the target root can
        // still lead two of them to one directory: those are written one after the other.
        let roots: Vec<&Path> = jobs.iter().filter_map(|(.., t, _)| t.root()).collect();
        let apart = on_disk_apart(&roots);
        if !apart {
            tracing::warn!(
                "two directory targets lead to the same directory on disk (through a link): they are written one at a time; give every cluster its own directory"
            );
        }
        let per_thread = if apart { 1 } else { jobs.len().max(1) };
        let allow = &self.allow;
        let results =
            crate::par::map_in_runs(&jobs, per_thread, |(_, spec, desired, target, kept)| {
                // Each target's kept memory is taken in on the thread that plans it.
                if let Some(kept) = kept {
                    kept.take_in();
                }
                ready(directory_pass(target, spec, desired, pass, allow))
            });
        for ((name, _, desired, _, _), result) in jobs.into_iter().zip(results) {
            let co = match result {
                Ok(None) => continue,
                Ok(Some((plan, report, inventory))) => {
                    let now = Utc::now();
                    self.applied_at.insert(name.clone(), now);
                    let inventory = owned_after(&desired, &report, inventory);
                    let repaired = if pass == Pass::Refresh {
                        report.created + report.updated + report.deleted
                    } else {
                        0
                    };
                    ClusterOutcome {
                        plan: Some(plan.into()),
                        report: Some(report),
                        applied_at: Some(now),
                        inventory: Some(inventory),
                        desired,
                        repaired,
                        ..Default::default()
                    }
                }
                Err(e) => failure(desired, &e),
            };
            out.insert(name, co);
        }
        out
    }

    /// Every due Kubernetes cluster concurrently; the others report their backoff.
    fn kubernetes(
        &mut self,
        sets: Vec<(String, ClusterSpec, Desired)>,
        pass: Pass,
    ) -> BTreeMap<String, ClusterOutcome> {
        let runtime = self.runtime.get_or_insert_with(start_runtime);
        let now = Instant::now();
        let mut jobs = Vec::new();
        let mut out = BTreeMap::new();
        for (name, spec, set) in sets {
            let resumed = self.resumed.remove(&name).unwrap_or_default();
            let slot = self
                .kube
                .entry(name.clone())
                .or_insert_with(|| KubeSlot::new(spec.clone(), resumed));
            if slot.spec != spec {
                // Changed kubeconfig, context or selfHeal: connect again.
                slot.spec = spec.clone();
                slot.target = None;
                slot.retry_at = None;
            }
            if let Some(at) = slot.retry_at.filter(|at| *at > now) {
                let mut co = match &slot.error {
                    Some(e) => failure(set, e),
                    None => ClusterOutcome::unreachable(set, "still unreachable".into()),
                };
                co.retry_in = Some(at - now);
                co.inventory = Some(Owned::Listed(slot.inventory.clone()));
                co.applied_at = self.applied_at.get(&name).copied();
                out.insert(name, co);
                continue;
            }
            let apply = pass == Pass::Apply || slot.pending || spec.self_heal;
            let job = Job {
                name: name.clone(),
                spec,
                target: slot.target.clone(),
                inventory: slot.inventory.clone(),
                desired: set,
                apply,
                allow: self.allow.clone(),
            };
            jobs.push(job);
        }
        let results = runtime.block_on(futures::future::join_all(jobs.into_iter().map(Job::run)));
        for (name, target, result) in results {
            let slot = self.kube.get_mut(&name).expect("slot exists");
            slot.target = target;
            let co = match result {
                Ok(co) => {
                    slot.failures = 0;
                    slot.retry_at = None;
                    slot.error = None;
                    if let Some(Owned::Listed(inv)) = &co.inventory {
                        slot.inventory = inv.clone();
                    }
                    // Objects that failed are retried with the next revision, or on every
                    // refresh where selfHeal is on; a pass that never reached the cluster is
                    // retried as soon as it is reachable.
                    slot.pending = false;
                    if co.report.is_some() {
                        self.applied_at.insert(name.clone(), Utc::now());
                    }
                    co
                }
                Err((set, e)) => {
                    slot.failures += 1;
                    slot.pending = true;
                    let wait = super::schedule::retry_after(slot.failures);
                    slot.retry_at = Some(Instant::now() + wait);
                    if e.is_unreachable() {
                        slot.target = None;
                    }
                    if e.is_not_configured() {
                        // Neutral: nothing was tried; the status says what to set.
                        tracing::info!(cluster = %name, reason = %e, "cluster not configured");
                    } else {
                        tracing::warn!(cluster = %name, error = %e, retry_in_s = wait.as_secs(), "cluster pass failed");
                    }
                    let mut co = failure(set, &e);
                    slot.error = Some(e);
                    co.retry_in = Some(wait);
                    co.inventory = Some(Owned::Listed(slot.inventory.clone()));
                    co
                }
            };
            let mut co = co;
            co.applied_at = self.applied_at.get(&name).copied();
            out.insert(name, co);
        }
        out
    }
}

/// True when applying `plan` would write or delete a file (conflicts are left as they are).
fn writes(plan: &crate::targets::Plan) -> bool {
    plan.changes
        .iter()
        .any(|c| matches!(c.action, Action::Create | Action::Update | Action::Delete))
}

/// The value of a target call that never waits (a directory target's).
fn ready<T>(call: impl std::future::Future<Output = T>) -> T {
    call.now_or_never()
        .expect("a directory target answers without waiting")
}

/// What cubist owns after an apply: what the target says it owns, else the desired objects
/// that did not fail (all of them: [`Owned::Desired`]).
fn owned_after(desired: &Desired, report: &ApplyReport, inventory: Option<Inventory>) -> Owned {
    if let Some(inv) = inventory {
        Owned::Listed(inv)
    } else if report.failed.is_empty() {
        Owned::Desired
    } else {
        let failed: Vec<&ObjectKey> = report.failed.iter().map(|(k, _)| k).collect();
        Owned::Listed(Inventory {
            objects: desired
                .objects()
                .filter(|o| !failed.contains(&&o.key()))
                .map(InventoryEntry::from)
                .collect(),
        })
    }
}

/// The outcome of a cluster whose pass failed with `e`.
fn failure(set: Desired, e: &TargetError) -> ClusterOutcome {
    let TargetError::Kubernetes(e) = e else {
        return ClusterOutcome::failed(set, format!("apply failed: {e:#}"));
    };
    if e.is_not_configured() {
        ClusterOutcome {
            not_configured: true,
            ..ClusterOutcome::failed(set, e.to_string())
        }
    } else if e.is_unreachable() {
        ClusterOutcome::unreachable(set, e.to_string())
    } else {
        ClusterOutcome::failed(set, e.to_string())
    }
}

/// One Kubernetes cluster's pass, run on the runtime.
struct Job {
    name: String,
    spec: ClusterSpec,
    target: Option<Arc<KubeTarget>>,
    inventory: Inventory,
    desired: Desired,
    apply: bool,
    allow: Allowances,
}

type JobResult = (
    String,
    Option<Arc<KubeTarget>>,
    Result<ClusterOutcome, (Desired, TargetError)>,
);

impl Job {
    async fn run(self) -> JobResult {
        let Job {
            name,
            spec,
            target,
            inventory,
            desired,
            apply,
            allow,
        } = self;
        let target = match target {
            Some(t) => ClusterTarget::Kubernetes(t),
            None => match ClusterTarget::kubernetes(&name, &spec).await {
                Ok(t) => t,
                Err(e) => return (name, None, Err((desired, TargetError::Kubernetes(e)))),
            },
        };
        let limit = spec.prune_limit;
        let result = pass(&target, &inventory, desired, apply, limit, &allow).await;
        let ClusterTarget::Kubernetes(target) = target else {
            unreachable!("a Kubernetes cluster's target")
        };
        (name, Some(target), result)
    }
}

/// True when no directory of `roots` is, or is inside, another once links are resolved (a
/// directory not made yet is taken as its nearest existing ancestor holds it).
fn on_disk_apart(roots: &[&Path]) -> bool {
    let real: Vec<PathBuf> = roots
        .iter()
        .map(|root| {
            let mut rest = Vec::new();
            let mut probe = *root;
            loop {
                if let Ok(real) = probe.canonicalize() {
                    break rest.iter().rev().fold(real, |p, part| p.join(part));
                }
                match (probe.parent(), probe.file_name()) {
                    (Some(parent), Some(name)) => {
                        rest.push(name.to_os_string());
                        probe = parent;
                    }
                    _ => break root.to_path_buf(),
                }
            }
        })
        .collect();
    real.iter().enumerate().all(|(i, a)| {
        real[i + 1..]
            .iter()
            .all(|b| !a.starts_with(b) && !b.starts_with(a))
    })
}

/// Plans a directory target, holds deletions the prune guard stops, and applies the plan;
/// `None` on a refresh that finds the target as desired.
async fn directory_pass(
    target: &ClusterTarget,
    spec: &ClusterSpec,
    desired: &Desired,
    pass: Pass,
    allow: &Allowances,
) -> Result<Option<(Plan, ApplyReport, Option<Inventory>)>, TargetError> {
    // A directory target keeps its own record of what it owns.
    let owned = Inventory::default();
    let mut p = target.plan(desired, &owned).await?;
    guard(&mut p, spec.prune_limit, allow);
    if pass == Pass::Refresh && !writes(&p) {
        target.hold_as_planned(&p);
        return target.clean_leftovers().map(|_| None);
    }
    // A test-only pause point (see `test_hook`), a no-op otherwise.
    let mut progress = super::test_hook::apply_progress();
    let (report, inventory) = target.apply(&p, &owned, &mut progress).await?;
    Ok(Some((p, report, inventory)))
}

/// Plan against live state, hold deletions the prune guard stops; apply when asked,
/// else report what differs as drift; then health.
async fn pass(
    target: &ClusterTarget,
    inventory: &Inventory,
    desired: Desired,
    apply: bool,
    limit: Option<PruneLimit>,
    allow: &Allowances,
) -> Result<ClusterOutcome, (Desired, TargetError)> {
    let mut co = ClusterOutcome {
        desired,
        ..Default::default()
    };
    // Held deletions are neither applied nor drift: the cluster is Held.
    let hold = |plan: &mut Plan| {
        guard(plan, limit, allow);
    };
    let plan = if apply {
        match target
            .plan_and_apply(&co.desired, inventory, hold, &mut |_| {})
            .await
        {
            Ok(done) => {
                co.inventory = Some(owned_after(&co.desired, &done.report, done.inventory));
                co.report = Some(done.report);
                done.plan
            }
            Err(e) => return Err((co.desired, e)),
        }
    } else {
        let mut plan = match target.plan(&co.desired, inventory).await {
            Ok(p) => p,
            Err(e) => return Err((co.desired, e)),
        };
        hold(&mut plan);
        // Differences from the desired state, and conflicts on objects cubist owns (fields
        // taken over by hand), are drift; other conflicts (a kind not served, an object owned
        // by someone else) stay failures.
        let owned: std::collections::BTreeSet<ObjectKey> =
            inventory.objects.iter().map(ObjectKey::from).collect();
        co.drifted = plan
            .changes
            .iter()
            .filter(|c| match c.action {
                Action::Create | Action::Update | Action::Delete => true,
                Action::Conflict => owned.contains(&c.key),
                Action::Unchanged => false,
            })
            .map(|c| c.key.clone())
            .collect();
        co.inventory = Some(Owned::Listed(inventory.clone()));
        plan
    };
    co.plan = Some(plan.into());
    match target.observe(&co.desired.to_set().objects).await {
        Ok(h) => co.health = h.into_iter().collect::<BTreeMap<ObjectKey, _>>(),
        Err(e) => return Err((co.desired, e)),
    }
    Ok(co)
}

/// The runtime of Kubernetes clusters and alert deliveries.
fn start_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cubist-kube")
        .enable_all()
        .build()
        .expect("a tokio runtime for Kubernetes targets")
}

#[cfg(test)]
mod tests {
    use super::on_disk_apart;

    #[test]
    fn directories_apart_on_disk_unless_one_leads_into_another() {
        let dir = tempfile::tempdir().unwrap();
        let at = |p: &str| dir.path().join(p);
        std::fs::create_dir_all(at("rendered/a")).unwrap();
        std::os::unix::fs::symlink(at("rendered/a"), at("rendered/link")).unwrap();
        let apart = |roots: &[&str]| {
            let roots: Vec<_> = roots.iter().map(|r| at(r)).collect();
            on_disk_apart(&roots.iter().map(|r| r.as_path()).collect::<Vec<_>>())
        };
        assert!(apart(&["rendered/a", "rendered/b", "rendered/new/c"]));
        assert!(apart(&["rendered/new/c", "rendered/new/d"]), "not made yet");
        assert!(
            !apart(&["rendered/a", "rendered/link"]),
            "a link to another"
        );
        assert!(
            !apart(&["rendered/a", "rendered/link/x"]),
            "inside, through a link"
        );
        assert!(
            !apart(&["rendered/new", "rendered/new/c"]),
            "inside, not made yet"
        );
        assert!(apart(&[]));
    }
}
