//! What the render stage hands on: rendered objects, their identity, one cluster's set, the
//! labels and annotations cubist puts on every object, and render errors.

use super::Body;
use serde::{Deserialize, Serialize};

/// Label every object cubist owns carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "cubist");
/// Label naming the owning project.
pub const PROJECT_LABEL: &str = "cubist.dev/project";
/// Annotation with the repository path the object comes from.
pub const SOURCE_ANNOTATION: &str = "cubist.dev/source";
/// Annotation with the revision that last changed the object.
pub const REVISION_ANNOTATION: &str = "cubist.dev/revision";
/// Annotation with the sha256 of the rendered object (without this annotation and the revision).
pub const HASH_ANNOTATION: &str = "cubist.dev/hash";

/// One rendered Kubernetes object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedObject {
    /// The full object: apiVersion, kind, metadata (with cubist's labels), spec, kept as
    /// compact JSON text. Shared: the loop hands the same objects to plans, inventories and
    /// status without copying them.
    pub body: Body,
    /// `sha256:<hex>` of the body without the revision and hash annotations.
    pub hash: String,
    /// Owning project, `None` for cluster-wide objects of no project.
    pub project: Option<String>,
    /// Repository path of the manifest it was rendered from.
    pub source: String,
}

/// Identity of an object in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The fields, borrowed: apiVersion, kind, namespace, name.
    pub fn key_parts(&self) -> [&str; 4] {
        [&self.api_version, &self.kind, &self.namespace, &self.name]
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl RenderedObject {
    /// The object's identity.
    pub fn key(&self) -> ObjectKey {
        let [api_version, kind, namespace, name] = self.key_parts().map(str::to_string);
        ObjectKey {
            api_version,
            kind,
            namespace,
            name,
        }
    }

    /// The fields of [`Self::key`], borrowed: apiVersion, kind, namespace, name.
    pub fn key_parts(&self) -> [&str; 4] {
        self.body.key_parts()
    }
}

/// The objects one cluster should hold, in apply order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderedSet {
    /// Cluster name.
    pub cluster: String,
    /// Objects sorted by stage, then kind, namespace and name.
    pub objects: Vec<RenderedObject>,
}

/// A render failure: which object of which file, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderError {
    /// Repository path of the manifest.
    pub source: String,
    /// Cluster being rendered.
    pub cluster: String,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (cluster {}): {}",
            self.source, self.cluster, self.message
        )
    }
}
