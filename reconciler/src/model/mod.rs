//! Model stage: parse and validate a [`Snapshot`](crate::source::Snapshot) into a typed [`Model`].

mod assemble;
mod check_cache;
pub mod checks;
pub mod duration;
pub mod kinds;
mod load;
mod parts;
pub mod positions;
pub mod quantity;
pub mod schema;
pub mod yaml;
pub mod yaml_lines;
pub mod yaml_scalar;
mod yaml_syntax;

pub use load::{Loader, load};

use crate::diag::Location;
use kinds::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One YAML document of a file: where it is and where each of its values was written.
#[derive(Debug)]
pub struct Document {
    /// Repository-relative path.
    pub file: String,
    /// 0-based index of the document in its file.
    pub index: usize,
    /// The line and column of every value and key of the document.
    pub positions: positions::Positions,
}

impl Document {
    /// The position of the value at a `/`-separated path such as `spec/tasks/1/after/0`.
    pub fn at(&self, path: &str) -> Location {
        let (line, col) = self
            .positions
            .locate(path.split('/').filter(|s| !s.is_empty()));
        Location {
            file: self.file.clone(),
            line: line as usize,
            column: col as usize,
        }
    }
}

/// A typed manifest and the document it came from.
#[derive(Debug, Clone)]
pub struct Manifest<S> {
    /// `metadata`, shared like the spec: the incremental loader hands the manifests of every
    /// unchanged file to the new model, and a clone costs no allocation.
    pub meta: Arc<Meta>,
    /// `spec`, shared: a model read again reuses the specs of unchanged files.
    pub spec: Arc<S>,
    /// Source document (file, positions).
    pub doc: Arc<Document>,
}

impl<S> Manifest<S> {
    /// Position of a value inside this manifest (see [`Document::at`]).
    pub fn at(&self, path: &str) -> Location {
        self.doc.at(path)
    }

    /// The manifest's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Repository path of the file.
    pub fn file(&self) -> &str {
        &self.doc.file
    }
}

/// The validated platform: plain data handed to the render stage.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// The git revision the model was read from, if any.
    pub revision: Option<String>,
    /// Root `cubist.yaml`.
    pub platform: Option<Manifest<PlatformSpec>>,
    /// Clusters by name.
    pub clusters: BTreeMap<String, Manifest<ClusterSpec>>,
    /// Platform templates (the template market) by name.
    pub templates: BTreeMap<String, Manifest<TemplateSpec>>,
    /// Projects by name.
    pub projects: BTreeMap<String, std::sync::Arc<Project>>,
}

/// Everything under `projects/<name>/`.
#[derive(Debug, Clone)]
pub struct Project {
    /// `project.yaml`.
    pub manifest: Manifest<ProjectSpec>,
    /// Quotas (one per cluster at most, or one for all).
    pub quotas: Vec<Manifest<QuotaSpec>>,
    /// Project-private templates.
    pub templates: BTreeMap<String, Manifest<TemplateSpec>>,
    /// Pipelines.
    pub pipelines: BTreeMap<String, Manifest<PipelineSpec>>,
    /// Inference services.
    pub services: BTreeMap<String, Manifest<ServiceSpec>>,
    /// Manual runs and backfills.
    pub runs: BTreeMap<String, Manifest<RunSpec>>,
}

impl Project {
    /// The project's name (= its directory and namespace).
    pub fn name(&self) -> &str {
        self.manifest.name()
    }

    /// Every repository file that belongs to this project.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.manifest.file())
            .chain(self.quotas.iter().map(|q| q.file()))
            .chain(self.templates.values().map(|m| m.file()))
            .chain(self.pipelines.values().map(|m| m.file()))
            .chain(self.services.values().map(|m| m.file()))
            .chain(self.runs.values().map(|m| m.file()))
    }
}

impl Model {
    /// A task's template: the project's own first, then the platform's.
    pub fn template<'a>(
        &'a self,
        project: &'a Project,
        name: &str,
    ) -> Option<&'a Manifest<TemplateSpec>> {
        project
            .templates
            .get(name)
            .or_else(|| self.templates.get(name))
    }

    /// The clusters a project is placed on (by name or label selector), sorted by name.
    pub fn project_clusters<'a>(&'a self, project: &Project) -> Vec<&'a Manifest<ClusterSpec>> {
        let placement = &project.manifest.spec.placement;
        self.clusters
            .values()
            .filter(|c| {
                placement.clusters.iter().any(|n| n == c.name())
                    || (!placement.selector.is_empty()
                        && placement
                            .selector
                            .iter()
                            .all(|(k, v)| c.spec.labels.get(k) == Some(v)))
            })
            .collect()
    }

    /// The clusters a service runs on: its placement narrowed to the project's clusters.
    pub fn service_clusters<'a>(
        &'a self,
        project: &Project,
        service: &ServiceSpec,
    ) -> Vec<&'a Manifest<ClusterSpec>> {
        let mut clusters = self.project_clusters(project);
        if let Some(p) = &service.placement
            && !p.clusters.is_empty()
        {
            clusters.retain(|c| p.clusters.iter().any(|n| n == c.name()));
        }
        clusters
    }

    /// The resource group of a project on a cluster, if it names one and the cluster has it.
    pub fn resource_group<'a>(
        &self,
        project: &Project,
        cluster: &'a ClusterSpec,
    ) -> Option<&'a ResourceGroup> {
        let name = project.manifest.spec.placement.resource_group.as_deref()?;
        cluster.resource_groups.iter().find(|g| g.name == name)
    }

    /// The quota of a project that applies on a cluster: a cluster-specific one wins.
    pub fn quota_for<'a>(
        &self,
        project: &'a Project,
        cluster: &str,
    ) -> Option<&'a Manifest<QuotaSpec>> {
        project
            .quotas
            .iter()
            .find(|q| q.spec.cluster.as_deref() == Some(cluster))
            .or_else(|| project.quotas.iter().find(|q| q.spec.cluster.is_none()))
    }
}

impl Document {
    /// The position of `key` inside the mapping at `path` (falls back to [`Document::at`]).
    pub fn at_key(&self, path: &str, key: &str) -> Location {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (line, col) = self.positions.locate_key(segs.iter().copied(), key);
        Location {
            file: self.file.clone(),
            line: line as usize,
            column: col as usize,
        }
    }
}

impl Model {
    /// The services of a project that run on a cluster.
    pub fn project_services_on<'a>(
        &'a self,
        project: &'a Project,
        cluster: &'a str,
    ) -> impl Iterator<Item = &'a Manifest<ServiceSpec>> + 'a {
        project.services.values().filter(move |s| {
            self.service_clusters(project, &s.spec)
                .iter()
                .any(|c| c.name() == cluster)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    /// A project placed by names is on each named cluster the model has, once, in name order;
    /// by a selector, on each cluster with its labels as well.
    #[test]
    fn a_project_is_placed_on_the_clusters_it_names_in_name_order() {
        let shape = crate::synth::Shape {
            clusters: 3,
            ..crate::synth::Shape::small()
        };
        let (model, _) = super::load(&crate::synth::snapshot(&shape));
        let mut project = (**model.projects.values().next().unwrap()).clone();
        let placed = |project: &super::Project| -> Vec<String> {
            let clusters = model.project_clusters(project);
            clusters.iter().map(|c| c.name().to_string()).collect()
        };
        let spec = Arc::make_mut(&mut project.manifest.spec);
        spec.placement.clusters = ["cluster-2", "nowhere", "cluster-0", "cluster-2"]
            .map(String::from)
            .to_vec();
        assert_eq!(placed(&project), ["cluster-0", "cluster-2"]);
        let labels = &model.clusters["cluster-1"].spec.labels;
        let (k, v) = labels
            .iter()
            .next()
            .expect("synthetic clusters have labels");
        let spec = Arc::make_mut(&mut project.manifest.spec);
        spec.placement.selector = [(k.clone(), v.clone())].into();
        let selected: Vec<String> = model
            .clusters
            .values()
            .filter(|c| {
                c.spec.labels.get(k) == Some(v) || ["cluster-0", "cluster-2"].contains(&c.name())
            })
            .map(|c| c.name().to_string())
            .collect();
        assert_eq!(placed(&project), selected);
    }
}
