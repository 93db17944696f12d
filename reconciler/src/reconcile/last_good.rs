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

/// Each cluster's desired objects: those of the projects in `current` placed on it. Made in
/// one pass over the projects' rendered groups (each project is placed on few clusters), not
/// by looking every project up once per cluster.
pub(super) fn desired_of(
    model: &Model,
    current: &BTreeMap<String, Arc<Good>>,
) -> BTreeMap<String, Desired> {
    let mut groups: BTreeMap<&str, Vec<(Option<String>, Group)>> = model
        .clusters
        .keys()
        .map(|name| (name.as_str(), Vec::new()))
        .collect();
    for (project, good) in current {
        for (cluster, group) in &good.rendered {
            if let Some(groups) = groups.get_mut(cluster.as_str()) {
                groups.push((Some(project.clone()), group.clone()));
            }
        }
    }
    groups
        .into_iter()
        .map(|(name, groups)| {
            // In project order already: sorting them to build the map is one pass.
            let projects = Arc::new(groups.into_iter().collect());
            let cluster = name.to_string();
            (cluster.clone(), Desired { cluster, projects })
        })
        .collect()
}
