//! Each project's last good state (what it rendered at which revision), and the desired
//! objects of every cluster made of them.

use crate::model::{Model, Project};
use crate::targets::desired::{Desired, Group};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A project's last good state: what it rendered at which revision. Shared (`Arc`) between
/// reconciles: a project that is skipped or held is not copied.
#[derive(Debug)]
pub(crate) struct Good {
    pub(crate) revision: String,
    pub(super) input_hash: String,
    pub(crate) project: Arc<Project>,
    /// cluster → objects, in apply order.
    pub(super) rendered: BTreeMap<String, Group>,
    /// Kubernetes cluster → the Workflows rendered for `Run` manifests: created by the run
    /// controller when admitted, not applied.
    pub(super) run_workflows: BTreeMap<String, Vec<crate::render::RenderedObject>>,
}

#[cfg(test)]
impl Good {
    /// A last good state of `project` at `revision` that rendered nothing.
    pub(crate) fn empty(project: Arc<Project>, revision: &str) -> Good {
        Good {
            revision: revision.to_string(),
            input_hash: String::new(),
            project,
            rendered: BTreeMap::new(),
            run_workflows: BTreeMap::new(),
        }
    }
}

/// Each cluster's desired objects: those of the projects in `current` placed on it.
pub(super) fn desired_of(
    model: &Model,
    current: &BTreeMap<String, Arc<Good>>,
) -> BTreeMap<String, Desired> {
    model
        .clusters
        .keys()
        .map(|name| {
            let projects = current
                .iter()
                .filter_map(|(p, g)| Some((Some(p.clone()), g.rendered.get(name)?.clone())))
                .collect();
            let cluster = name.clone();
            (name.clone(), Desired { cluster, projects })
        })
        .collect()
}
