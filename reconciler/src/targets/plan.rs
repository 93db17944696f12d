//! Plans: per object, create / update / delete / unchanged, with a redacted unified diff.

use crate::render::{ObjectKey, RenderedObject, yaml_out::to_yaml};
use cubist_status_ui::doc::InventoryEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a plan does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// New object.
    Create,
    /// Existing object changes.
    Update,
    /// Object cubist owns is no longer desired: pruned.
    Delete,
    /// Already as desired.
    Unchanged,
    /// The place is taken by something cubist does not own: left alone, reported.
    Conflict,
}

/// One object's planned change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The object.
    pub key: ObjectKey,
    /// What happens.
    pub action: Action,
    /// Owning project.
    pub project: Option<String>,
    /// Repository path it was rendered from.
    pub source: String,
    /// Unified diff of the YAML (secret values redacted), for create/update/delete.
    pub diff: Option<String>,
    /// The object to write (create/update).
    #[serde(skip)]
    pub desired: Option<RenderedObject>,
    /// Why, for conflicts.
    pub note: Option<String>,
}

/// Everything a target will do for one cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Cluster name.
    pub cluster: String,
    /// Changes in apply order (creates/updates by stage, then deletes in reverse stage order).
    pub changes: Vec<Change>,
    /// Unchanged objects not listed in `changes`: those of projects whose rendered objects are
    /// the very ones last applied and whose files nothing touched since (directory targets
    /// with a memory). Counted as [`Action::Unchanged`].
    #[serde(default)]
    pub untouched: usize,
    /// Deletions held by the prune guard (not in `changes`): see [`super::guard`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<super::guard::Held>,
}

impl Plan {
    /// Number of changes with this action.
    pub fn count(&self, action: Action) -> usize {
        let listed = self.changes.iter().filter(|c| c.action == action).count();
        listed
            + if action == Action::Unchanged {
                self.untouched
            } else {
                0
            }
    }

    /// Number of objects the plan covers, listed or not.
    pub fn len(&self) -> usize {
        self.changes.len() + self.untouched
    }

    /// True when applying changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }
}

/// The inventory entry of a rendered object (what a target records after applying it).
impl From<&RenderedObject> for InventoryEntry {
    fn from(o: &RenderedObject) -> Self {
        let k = o.key();
        InventoryEntry {
            api_version: k.api_version,
            kind: k.kind,
            namespace: k.namespace,
            name: k.name,
            project: o.project.clone(),
            hash: o.hash.clone(),
            source: o.source.clone(),
        }
    }
}

/// The identity of the object an inventory entry records.
impl From<&InventoryEntry> for ObjectKey {
    fn from(e: &InventoryEntry) -> Self {
        ObjectKey {
            api_version: e.api_version.clone(),
            kind: e.kind.clone(),
            namespace: e.namespace.clone(),
            name: e.name.clone(),
        }
    }
}

/// A unified diff of two objects' YAML, with Secret values redacted.
pub fn unified_diff(old: Option<&Value>, new: Option<&Value>, label: &str) -> String {
    let text = |v: Option<&Value>| v.map(|v| to_yaml(&redact(v))).unwrap_or_default();
    let (a, b) = (text(old), text(new));
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string()
}

/// Replaces the values of a Secret's `data`/`stringData` with `<redacted>`.
pub fn redact(v: &Value) -> Value {
    let mut v = v.clone();
    if v.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
                for val in m.values_mut() {
                    *val = Value::String("<redacted>".into());
                }
            }
        }
    }
    v
}
