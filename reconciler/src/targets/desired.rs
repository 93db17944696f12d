//! A cluster's desired objects grouped by owning project. The loop hands each project's group
//! from one reconcile to the next as the same `Arc` while the project's inputs do not change,
//! so the stages after render can tell an unchanged project by identity, without looking at
//! its objects.

use crate::render::order::sort_for_apply;
use crate::render::{RenderedObject, RenderedSet};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One project's objects for one cluster, in apply order.
pub type Group = Arc<[RenderedObject]>;

/// Groups by project (`None`: objects of no project), shared: a directory target's memory
/// keeps those of a plan without copying them.
pub type Groups = Arc<BTreeMap<Option<String>, Group>>;

/// What one cluster should hold, by project (`None`: objects of no project).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    /// Cluster name.
    pub cluster: String,
    /// Project → its objects, each group in apply order.
    pub projects: Groups,
}

impl Desired {
    /// Groups a rendered set by project, keeping its order within each group.
    pub fn from_set(set: RenderedSet) -> Self {
        let mut projects: BTreeMap<Option<String>, Vec<RenderedObject>> = BTreeMap::new();
        for o in set.objects {
            projects.entry(o.project.clone()).or_default().push(o);
        }
        Desired {
            cluster: set.cluster,
            projects: Arc::new(projects.into_iter().map(|(p, v)| (p, v.into())).collect()),
        }
    }

    /// Every object, group after group.
    pub fn objects(&self) -> impl Iterator<Item = &RenderedObject> {
        self.projects.values().flat_map(|g| g.iter())
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.projects.values().map(|g| g.len()).sum()
    }

    /// True when no object is desired.
    pub fn is_empty(&self) -> bool {
        self.projects.values().all(|g| g.is_empty())
    }

    /// All objects in one set, in apply order across projects.
    pub fn to_set(&self) -> RenderedSet {
        let mut set = RenderedSet {
            cluster: self.cluster.clone(),
            objects: self.objects().cloned().collect(),
        };
        set.sort();
        set
    }
}

/// Sorts one project's objects into apply order and shares them.
pub fn group(mut objects: Vec<RenderedObject>) -> Group {
    sort_for_apply(&mut objects);
    objects.into()
}
