//! One interface to a cluster's target, whatever its kind: plan the desired objects against
//! what the target holds, apply a plan (pruning what cubist owns and no longer renders), and
//! observe the health of live objects. The reconcile loop and `cubist plan`/`apply` reach
//! every target through [`ClusterTarget`]; each variant wraps its target's own functions.
//!
//! What cubist owns (`owned`) is kept by the caller for a Kubernetes cluster (the status
//! branch is its only record); a directory target keeps its own inventory file beside the
//! objects and ignores `owned`.

use super::desired::Desired;
use super::directory::DirectoryTarget;
use super::kube::{Health, KubeError, KubeTarget};
use super::memory::Memory;
use super::select::directory_target;
use super::{ApplyReport, Change, Plan};
use crate::model::kinds::ClusterSpec;
use crate::render::{ObjectKey, RenderedObject};
use cubist_status_ui::doc::Inventory;
use std::path::Path;
use std::sync::Arc;

/// A cluster's target: a directory of YAML files or a Kubernetes API server.
#[derive(Debug)]
pub enum ClusterTarget {
    /// Files in a directory beside the repository.
    Directory(DirectoryTarget),
    /// A live cluster, reached through its client.
    Kubernetes(Arc<KubeTarget>),
}

/// Why a target could not be planned, applied or observed.
#[derive(Debug)]
pub enum TargetError {
    /// A directory target's error (a file that cannot be read or written, a link leaving it).
    Directory(anyhow::Error),
    /// A Kubernetes target's error, classified (unreachable, not configured, ...).
    Kubernetes(KubeError),
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetError::Directory(e) if f.alternate() => write!(f, "{e:#}"),
            TargetError::Directory(e) => write!(f, "{e}"),
            TargetError::Kubernetes(e) => write!(f, "{e}"),
        }
    }
}

impl TargetError {
    /// True when the target could not be reached (a Kubernetes API server down or refusing).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, TargetError::Kubernetes(e) if e.is_unreachable())
    }

    /// True when nothing was tried: the cluster's credentials or context are not set up.
    pub fn is_not_configured(&self) -> bool {
        matches!(self, TargetError::Kubernetes(e) if e.is_not_configured())
    }
}

impl From<TargetError> for anyhow::Error {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Directory(e) => e,
            TargetError::Kubernetes(e) => e.into(),
        }
    }
}

/// What [`ClusterTarget::plan_and_apply`] did.
#[derive(Debug)]
pub struct Applied {
    /// The plan carried out (after `hold` took changes out of it).
    pub plan: Plan,
    /// What the apply did.
    pub report: ApplyReport,
    /// What cubist owns in the target now, when the target says so. `None` from a directory
    /// target with no held deletions: it owns the desired objects that did not fail.
    pub inventory: Option<Inventory>,
}

impl ClusterTarget {
    /// The directory target of a directory cluster (`<target_root>/../<path>`), skipping files
    /// `memory` knows unchanged; or why there is none.
    pub fn directory(
        target_root: &Path,
        spec: &ClusterSpec,
        memory: Option<Memory>,
    ) -> Result<Self, String> {
        let target = directory_target(target_root, spec)?;
        Ok(ClusterTarget::Directory(match memory {
            Some(m) => target.with_memory(m),
            None => target,
        }))
    }

    /// The directory of a directory target (`None` for a Kubernetes cluster).
    pub fn root(&self) -> Option<&Path> {
        match self {
            ClusterTarget::Directory(t) => Some(t.root()),
            ClusterTarget::Kubernetes(_) => None,
        }
    }

    /// The same target, planning without diffs where it builds them (a directory): for the
    /// loop, which reports counts and states, never diffs.
    pub fn without_diffs(self) -> Self {
        match self {
            ClusterTarget::Directory(t) => ClusterTarget::Directory(t.without_diffs()),
            other => other,
        }
    }

    /// Connects to a Kubernetes cluster (kubeconfig and context of `spec`, or in-cluster).
    pub async fn kubernetes(name: &str, spec: &ClusterSpec) -> Result<Self, KubeError> {
        Ok(ClusterTarget::Kubernetes(Arc::new(
            KubeTarget::for_cluster(name, spec).await?,
        )))
    }

    /// Compares the desired objects with what the target holds; deletions are of objects
    /// cubist owns (`owned` for a Kubernetes cluster) and no longer renders.
    pub async fn plan(&self, desired: &Desired, owned: &Inventory) -> Result<Plan, TargetError> {
        match self {
            ClusterTarget::Directory(t) => t.plan_desired(desired).map_err(TargetError::Directory),
            ClusterTarget::Kubernetes(t) => t
                .plan(&desired.to_set(), owned)
                .await
                .map_err(TargetError::Kubernetes),
        }
    }

    /// Plans, lets `hold` take changes out of the plan (the prune guard), then applies it;
    /// `progress` is called after each object.
    pub async fn plan_and_apply(
        &self,
        desired: &Desired,
        owned: &Inventory,
        hold: impl FnOnce(&mut Plan) + Send,
        progress: &mut (dyn FnMut(&Change) + Send),
    ) -> Result<Applied, TargetError> {
        match self {
            ClusterTarget::Directory(t) => {
                let mut plan = t.plan_desired(desired).map_err(TargetError::Directory)?;
                hold(&mut plan);
                let (report, inventory) = self.apply(&plan, owned, progress).await?;
                Ok(Applied {
                    plan,
                    report,
                    inventory,
                })
            }
            ClusterTarget::Kubernetes(t) => {
                let (plan, report, inventory) = t
                    .plan_and_apply(&desired.to_set(), owned, hold, progress)
                    .await
                    .map_err(TargetError::Kubernetes)?;
                Ok(Applied {
                    plan,
                    report,
                    inventory: Some(inventory),
                })
            }
        }
    }

    /// Carries out a plan; `progress` is called after each object. Returns what happened and
    /// what cubist owns now (see [`Applied::inventory`]).
    pub async fn apply(
        &self,
        plan: &Plan,
        owned: &Inventory,
        progress: &mut (dyn FnMut(&Change) + Send),
    ) -> Result<(ApplyReport, Option<Inventory>), TargetError> {
        match self {
            ClusterTarget::Directory(t) => {
                let report = t.apply(plan, progress).map_err(TargetError::Directory)?;
                // Held deletions stay owned: the target's inventory lists them.
                let inventory = plan
                    .held
                    .as_ref()
                    .and_then(|_| t.inventory().ok())
                    .map(|inv| Inventory::clone(&inv));
                Ok((report, inventory))
            }
            ClusterTarget::Kubernetes(t) => t
                .apply(plan, owned, progress)
                .await
                .map(|(report, inventory)| (report, Some(inventory)))
                .map_err(TargetError::Kubernetes),
        }
    }

    /// After a plan that writes nothing and is not applied (a refresh): a directory notes that
    /// it holds the plan's groups (see [`DirectoryTarget::hold_as_planned`]); nothing for a
    /// Kubernetes cluster.
    pub fn hold_as_planned(&self, plan: &Plan) {
        if let ClusterTarget::Directory(t) = self {
            t.hold_as_planned(plan);
        }
    }

    /// Deletes what an interrupted write left behind (a directory's temporary files); nothing
    /// for a Kubernetes cluster, whose writes are single requests.
    pub fn clean_leftovers(&self) -> Result<(), TargetError> {
        match self {
            ClusterTarget::Directory(t) => t
                .clean_leftovers()
                .map(|_| ())
                .map_err(TargetError::Directory),
            ClusterTarget::Kubernetes(_) => Ok(()),
        }
    }

    /// Health of the live objects, in the given order. A directory holds files, not running
    /// objects: it reports none.
    pub async fn observe(
        &self,
        objects: &[RenderedObject],
    ) -> Result<Vec<(ObjectKey, Health)>, TargetError> {
        match self {
            ClusterTarget::Directory(_) => Ok(Vec::new()),
            ClusterTarget::Kubernetes(t) => {
                t.health_all(objects).await.map_err(TargetError::Kubernetes)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn desired(names: &[&str]) -> Desired {
        Desired::from_set(crate::targets::config_maps(names))
    }

    /// A directory target, reached through the interface, plans, lets `hold` take changes
    /// out before anything is written, applies, prunes, and observes no running objects.
    #[test]
    fn a_directory_target_plans_holds_applies_and_prunes_through_the_interface() {
        let dir = tempfile::tempdir().unwrap();
        let target = ClusterTarget::Directory(DirectoryTarget::new(dir.path().join("t")));
        let none = Inventory::default();
        let two = desired(&["a", "b"]);
        let plan = target.plan(&two, &none).now_or_never().unwrap().unwrap();
        assert_eq!(plan.changes.len(), 2);
        let mut seen = 0;
        let done = target
            .plan_and_apply(&two, &none, |_| {}, &mut |_| seen += 1)
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!((done.report.created, seen), (2, 2));
        assert!(
            done.inventory.is_none(),
            "no held deletions: owns the desired"
        );
        assert!(dir.path().join("t/ns").read_dir().unwrap().count() == 2);
        let again = target.plan(&two, &none).now_or_never().unwrap().unwrap();
        assert!(again.is_empty(), "{again:?}");

        // The deletion of `b` is taken out by `hold`: nothing is pruned.
        let one = desired(&["a"]);
        let kept = target
            .plan_and_apply(&one, &none, |p| p.changes.clear(), &mut |_| {})
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(kept.report.deleted, 0);
        assert_eq!(dir.path().join("t/ns").read_dir().unwrap().count(), 2);
        let pruned = target
            .plan_and_apply(&one, &none, |_| {}, &mut |_| {})
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(pruned.report.deleted, 1);
        assert_eq!(dir.path().join("t/ns").read_dir().unwrap().count(), 1);

        let objects: Vec<RenderedObject> = one.objects().cloned().collect();
        let health = target.observe(&objects).now_or_never().unwrap().unwrap();
        assert!(health.is_empty());
        target.clean_leftovers().unwrap();
    }

    /// A directory's error is neither "unreachable" nor "not configured" (it is a failure),
    /// and keeps its cause when it becomes an `anyhow::Error`.
    #[test]
    fn a_directory_error_is_a_failure_with_its_cause() {
        let e = TargetError::Directory(anyhow::anyhow!("disk full").context("cannot write x"));
        assert!(!e.is_unreachable() && !e.is_not_configured());
        assert_eq!(format!("{e}"), "cannot write x");
        assert_eq!(format!("{e:#}"), "cannot write x: disk full");
        let any: anyhow::Error = e.into();
        assert_eq!(format!("{any:#}"), "cannot write x: disk full");
    }
}
