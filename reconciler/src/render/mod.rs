//! Render stage: the validated [`Model`] → for every cluster a [`RenderedSet`] of Kubernetes
//! objects, through the handlebars blueprints in `blueprints/`. Deterministic: the same model
//! gives byte-identical objects.

mod body;
mod engine;
pub mod hash;
mod helpers;
mod inline;
pub(crate) mod json_text;
mod object;
pub mod order;
mod pipeline;
mod pod;
mod project;
mod rbac;
mod service;
mod shape;
mod skeleton;
pub mod stamp;
pub mod yaml_out;

pub use body::Body;
pub use engine::{BLUEPRINTS, Blueprints};
pub use object::{
    HASH_ANNOTATION, MANAGED_BY, ObjectKey, PROJECT_LABEL, REVISION_ANNOTATION, RenderError,
    RenderedObject, RenderedSet, SOURCE_ANNOTATION,
};

use crate::model::{Model, Project};
use order::{apply_order, reorder};
use serde_json::{Map, Value};
use stamp::{project_labels, stamp};
use std::collections::BTreeMap;

/// Renders every project on every cluster it is placed on. Projects render in parallel (one
/// thread per core); the result does not depend on the number of threads.
pub fn render(
    model: &Model,
    blueprints: &Blueprints,
) -> Result<BTreeMap<String, RenderedSet>, RenderError> {
    let mut sets: BTreeMap<String, RenderedSet> = model
        .clusters
        .keys()
        .map(|c| {
            (
                c.clone(),
                RenderedSet {
                    cluster: c.clone(),
                    objects: Vec::new(),
                },
            )
        })
        .collect();
    let jobs: Vec<(&Project, &str)> = model
        .projects
        .values()
        .flat_map(|p| {
            model
                .project_clusters(p)
                .into_iter()
                .map(move |c| (&**p, c.name()))
        })
        .collect();
    let results =
        crate::par::map_in_runs(&jobs, 8, |(p, c)| render_project(model, p, c, blueprints));
    for ((_, cluster), objects) in jobs.iter().zip(results) {
        sets.get_mut(*cluster)
            .expect("cluster exists")
            .objects
            .extend(objects?);
    }
    // Each cluster's order is worked out in parallel; moving the objects is quick.
    let orders = crate::par::map_in_runs(&sets.values().collect::<Vec<_>>(), 1, |set| {
        apply_order(&set.objects)
    });
    for (set, (order, duplicate)) in sets.values_mut().zip(orders) {
        reorder(&mut set.objects, order);
        if let Some(pair) = duplicate.map(|i| &set.objects[i..i + 2]) {
            return Err(RenderError {
                source: pair[1].source.clone(),
                cluster: set.cluster.clone(),
                message: format!(
                    "renders {} which {} also renders; rename one of them",
                    pair[1].key(),
                    pair[0].source
                ),
            });
        }
    }
    Ok(sets)
}

/// Renders one project's objects for one cluster (unsorted).
pub fn render_project(
    model: &Model,
    project: &Project,
    cluster: &str,
    blueprints: &Blueprints,
) -> Result<Vec<RenderedObject>, RenderError> {
    let c = &model.clusters[cluster];
    let revision = model.revision.as_deref().unwrap_or("working-tree");
    let mut out = Out {
        objects: Vec::new(),
        project: project.name().to_string(),
        revision: revision.to_string(),
        cluster: cluster.to_string(),
        blueprints,
        labels: (String::new(), Map::new()),
    };
    project::render(model, project, c, &mut out)?;
    pipeline::render(model, project, c, &mut out)?;
    rbac::render_runner_role(project.manifest.file(), &mut out)?;
    service::render(model, project, c, &mut out)?;
    Ok(out.objects)
}

/// Collects rendered objects of one project on one cluster.
struct Out<'a> {
    objects: Vec<RenderedObject>,
    project: String,
    revision: String,
    cluster: String,
    blueprints: &'a Blueprints,
    /// The labels of the source stamped last, with its path: a source's objects come together.
    labels: (String, Map<String, Value>),
}

impl Out<'_> {
    /// Renders a blueprint, stamps cubist's labels, annotations and hash, and keeps it.
    fn emit(&mut self, blueprint: &str, source: &str, context: Value) -> Result<(), RenderError> {
        let body = self
            .blueprints
            .render_owned(blueprint, context)
            .map_err(|e| self.error(source, e.to_string()))?;
        if self.labels.0 != source
            && let Value::Object(labels) = project_labels(&self.project, source)
        {
            self.labels = (source.to_string(), labels);
        }
        let labels = &self.labels.1;
        self.objects
            .push(stamp(body, &self.project, source, &self.revision, labels));
        Ok(())
    }

    /// Renders a blueprint into compact JSON text (an object created later by an engine).
    fn json_text(
        &self,
        blueprint: &str,
        source: &str,
        context: Value,
    ) -> Result<String, RenderError> {
        self.blueprints
            .render_json_text(blueprint, context)
            .map_err(|e| self.error(source, e.to_string()))
    }

    fn error(&self, source: &str, message: String) -> RenderError {
        RenderError {
            source: source.to_string(),
            cluster: self.cluster.clone(),
            message,
        }
    }
}

/// A JSON object from `(key, value)` pairs, moving the values (`json!` copies each
/// interpolated value through serde, which is slow for the big contexts blueprints get).
pub(crate) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path (placeholders, skeleton cache, flat blueprints, threads) renders exactly
    /// what the slow path does, on examples-repo and on a synthetic repository.
    #[test]
    fn fast_path_renders_what_the_slow_path_does() {
        let examples = crate::source::snapshot_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo"),
        )
        .unwrap();
        for snapshot in [
            examples,
            crate::synth::snapshot(&crate::synth::Shape::small()),
        ] {
            let (model, diags) = crate::model::load(&snapshot);
            assert!(!diags.iter().any(|d| d.is_error()), "{diags:#?}");
            let fast = Blueprints::embedded().unwrap();
            let a = render(&model, &fast).unwrap();
            let b = render(&model, &Blueprints::embedded_slow_path()).unwrap();
            assert!(a.values().map(|s| s.objects.len()).sum::<usize>() > 50);
            for (cluster, set) in &a {
                for (x, y) in set.objects.iter().zip(&b[cluster].objects) {
                    assert_eq!(x, y, "{cluster}: {} differs", x.key());
                }
                assert_eq!(set.objects.len(), b[cluster].objects.len());
            }
            // Once more from the skeleton cache.
            assert_eq!(render(&model, &fast).unwrap(), a);
        }
    }
}
