//! Target stage: compare a cluster's [`RenderedSet`](crate::render::RenderedSet) with what the target holds (plan), then
//! make it so (apply, prune). Only objects in cubist's inventory are ever changed or deleted.
//! Every target is reached through one interface, [`cluster_target::ClusterTarget`].

pub mod cluster_target;
pub mod desired;
pub mod directory;
pub(crate) mod file_stamp;
pub mod guard;
pub mod kube;
pub mod memory;
pub mod memory_file;
mod plan;
pub mod select;

pub use plan::{Action, Change, Plan, unified_diff};

use crate::render::ObjectKey;

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Objects written new.
    pub created: usize,
    /// Objects rewritten.
    pub updated: usize,
    /// Objects pruned.
    pub deleted: usize,
    /// Objects already as desired.
    pub unchanged: usize,
    /// `(object, error)` for objects that could not be applied.
    pub failed: Vec<(ObjectKey, String)>,
}

impl ApplyReport {
    /// True when nothing was written or deleted.
    pub fn is_noop(&self) -> bool {
        self.created + self.updated + self.deleted == 0 && self.failed.is_empty()
    }
}

/// Test objects: a ConfigMap of project `p` in namespace `ns` per name, each rendered from
/// `projects/p/<name>.yaml`, for cluster `c`.
#[cfg(test)]
pub(crate) fn config_maps(names: &[&str]) -> crate::render::RenderedSet {
    let objects = names
        .iter()
        .map(|n| {
            let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": n, "namespace": "ns"}, "data": {"k": "v"}});
            crate::render::RenderedObject {
                hash: crate::render::hash::content_hash(&body),
                body: body.into(),
                project: Some("p".into()),
                source: format!("projects/p/{n}.yaml"),
            }
        })
        .collect();
    crate::render::RenderedSet {
        cluster: "c".into(),
        objects,
    }
}
