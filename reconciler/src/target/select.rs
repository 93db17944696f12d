//! Picks the target of a cluster from its manifest.

use super::directory::DirectoryTarget;
use crate::model::kinds::{ClusterSpec, Target as TargetSpec};
use std::path::Path;

/// The directory target of a cluster (paths relative to the repository root), or why there is none.
pub fn directory_target(
    repo_root: &Path,
    cluster: &ClusterSpec,
) -> Result<DirectoryTarget, String> {
    match &cluster.target {
        TargetSpec::Directory { path } => Ok(DirectoryTarget::new(repo_root.join(path))),
        TargetSpec::Kubernetes { context, .. } => Err(format!(
            "kubernetes target (context {}) is not a directory; it is reached through `target::kube`",
            context.as_deref().unwrap_or("default")
        )),
    }
}
