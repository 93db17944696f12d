//! Render stage: the validated [`Model`] → for every cluster a [`RenderedSet`] of Kubernetes
//! objects, through the handlebars blueprints in `blueprints/`. Deterministic: the same model
//! gives byte-identical objects.

mod body;
mod engine;
mod helpers;
mod inline;
mod json_text;
mod pipeline;
mod pod;
mod project;
mod rbac;
mod service;
mod shape;
mod skeleton;
pub mod yaml_out;

pub use body::Body;
pub use engine::{BLUEPRINTS, Blueprints};
pub use pipeline::execution_dates;

use crate::model::{Model, Project};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

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

    /// Apply stage of the object's kind (see [`stage_of`]).
    pub fn stage(&self) -> u8 {
        stage_of(self.key_parts()[1])
    }
}

/// Apply stage of a kind: CRDs 0, Namespaces 1, RBAC and quotas 2, workloads 3.
pub fn stage_of(kind: &str) -> u8 {
    match kind {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "ServiceAccount" | "RoleBinding" | "Role" | "ClusterRole" | "ClusterRoleBinding"
        | "ResourceQuota" | "LimitRange" => 2,
        _ => 3,
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

impl RenderedSet {
    /// Sorts objects into apply order (see [`sort_for_apply`]).
    pub fn sort(&mut self) {
        sort_for_apply(&mut self.objects);
    }
}

/// Sorts objects into apply order: by stage, then apiVersion, kind, namespace and name; ties
/// keep their order.
pub fn sort_for_apply(objects: &mut Vec<RenderedObject>) {
    let (order, _) = apply_order(objects);
    reorder(objects, order);
}

/// The positions of `objects` in apply order (see [`sort_for_apply`]), and the first place in
/// that order where an object has the same identity as the next one, if any.
fn apply_order(objects: &[RenderedObject]) -> (Vec<usize>, Option<usize>) {
    let mut keys: Vec<((u8, [&str; 4]), usize)> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| ((o.stage(), o.key_parts()), i))
        .collect();
    // Ties keep their order: the index is part of the key.
    keys.sort_unstable();
    // The stage follows from the kind, so equal identities are next to each other.
    let duplicate = keys.windows(2).position(|w| w[0].0 == w[1].0);
    (keys.into_iter().map(|(_, i)| i).collect(), duplicate)
}

/// Puts `objects` in the order of `order` (each position once).
fn reorder(objects: &mut Vec<RenderedObject>, order: Vec<usize>) {
    let mut taken: Vec<Option<RenderedObject>> =
        std::mem::take(objects).into_iter().map(Some).collect();
    *objects = order
        .into_iter()
        .map(|i| taken[i].take().expect("each index once"))
        .collect();
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
                .map(move |c| (p, c.name()))
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

/// Labels that every object and every pod of a project carries.
pub fn project_labels(project: &str, source: &str) -> Value {
    obj([
        (MANAGED_BY.0, MANAGED_BY.1.into()),
        (PROJECT_LABEL, project.into()),
        ("cubist.dev/source", label_value(source).into()),
    ])
}

/// A repository path as a valid label value (`/` → `.`, at most 63 characters).
pub fn label_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect();
    // Every character is ASCII now: the last 63 are the last 63 bytes.
    v[v.len().saturating_sub(63)..]
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Adds the project's `labels`, annotations and the content hash to a rendered body.
fn stamp(
    mut body: Value,
    project: &str,
    source: &str,
    revision: &str,
    labels: &Map<String, Value>,
) -> RenderedObject {
    let own = metadata_map(&mut body, "labels");
    if own.is_empty() {
        own.clone_from(labels);
    } else {
        own.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    metadata_map(&mut body, "annotations")
        .insert(SOURCE_ANNOTATION.into(), Value::String(source.to_string()));
    let hash = content_hash(&body);
    let annotations = metadata_map(&mut body, "annotations");
    annotations.insert(HASH_ANNOTATION.into(), Value::String(hash.clone()));
    annotations.insert(
        REVISION_ANNOTATION.into(),
        Value::String(revision.to_string()),
    );
    RenderedObject {
        body: Body::new(&body),
        hash,
        project: Some(project.to_string()),
        source: source.to_string(),
    }
}

/// The map `metadata.<field>` of a rendered body, added if missing.
fn metadata_map<'a>(body: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    body.as_object_mut()
        .and_then(|o| o.get_mut("metadata"))
        .and_then(Value::as_object_mut)
        .expect("blueprints render metadata")
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .unwrap_or_else(|| panic!("metadata.{field} is a map"))
}

/// `sha256:<hex>` of an object's canonical JSON (keys sorted at every level, compact), ignoring
/// the revision and hash annotations. Streams the canonical form without copying the object.
pub fn content_hash(body: &Value) -> String {
    thread_local! {
        /// The canonical form's buffer, reused by every hash on this thread.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        write_canonical(body, Some(0), &mut Vec::new(), buf);
        // ring's sha256 uses the CPU's vector instructions: twice as fast as `sha2` without
        // SHA-NI.
        let digest = ring::digest::digest(&ring::digest::SHA256, buf);
        format!("sha256:{}", hex::encode(digest))
    })
}

/// `depth` tracks the path `/metadata/annotations` (0 = root, 1 = metadata, 2 = annotations),
/// where the revision and hash annotations are left out. `entries` is scratch space shared by
/// every level: each map sorts its own entries at its end, and takes them off when done.
fn write_canonical<'v>(
    v: &'v Value,
    depth: Option<u8>,
    entries: &mut Vec<(&'v String, &'v Value)>,
    out: &mut Vec<u8>,
) {
    match v {
        Value::Object(m) => {
            let start = entries.len();
            entries.extend(m.iter().filter(|(k, _)| {
                depth != Some(2)
                    || (k.as_str() != HASH_ANNOTATION && k.as_str() != REVISION_ANNOTATION)
            }));
            entries[start..].sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for i in start..entries.len() {
                let (k, v) = entries[i];
                if i > start {
                    out.push(b',');
                }
                json_text::write_str(k, out);
                out.push(b':');
                let next = match (depth, k.as_str()) {
                    (Some(0), "metadata") => Some(1),
                    (Some(1), "annotations") => Some(2),
                    _ => None,
                };
                write_canonical(v, next, entries, out);
            }
            entries.truncate(start);
            out.push(b'}');
        }
        Value::Array(a) => {
            json_text::write_seq(a, out, |v, out| write_canonical(v, None, entries, out))
        }
        scalar => json_text::write_value(scalar, out),
    }
}

/// Parses a duration like `6h`, `90m`, `1h30m`, `45s` into seconds.
pub fn duration_seconds(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: u64 = num.parse().ok()?;
            num.clear();
            total += n * match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return None,
            };
        }
    }
    (num.is_empty() && total > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    /// The fast path (placeholders, skeleton cache, flat blueprints, threads) renders exactly
    /// what the plain way does, on examples-repo and on a synthetic repository.
    #[test]
    fn fast_path_renders_what_the_plain_way_does() {
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
            let b = render(&model, &Blueprints::embedded_plain()).unwrap();
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

    /// Apply order puts namespaces before workloads and names the first pair of objects with
    /// the same identity (which render reports as an error).
    #[test]
    fn apply_order_sorts_by_stage_and_finds_equal_identities() {
        let object = |kind: &str, name: &str, source: &str| RenderedObject {
            body: Body::from(json!({"apiVersion": "v1", "kind": kind,
                "metadata": {"name": name, "namespace": "ns"}})),
            hash: String::new(),
            project: None,
            source: source.into(),
        };
        let objects = vec![
            object("ConfigMap", "b", "one.yaml"),
            object("Namespace", "ns", "p.yaml"),
            object("ConfigMap", "a", "a.yaml"),
            object("ConfigMap", "b", "two.yaml"),
        ];
        let (order, duplicate) = apply_order(&objects);
        assert_eq!(order, vec![1, 2, 0, 3]);
        assert_eq!(duplicate, Some(2));
        assert_eq!(apply_order(&objects[..3]).1, None);
    }

    /// The streamed hash equals sha256 of the sorted, compact JSON without the two annotations.
    #[test]
    fn content_hash_is_of_the_canonical_json() {
        fn canonical(v: &Value) -> Value {
            match v {
                Value::Object(m) => {
                    let sorted: BTreeMap<&String, Value> =
                        m.iter().map(|(k, v)| (k, canonical(v))).collect();
                    Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
                }
                Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
                other => other.clone(),
            }
        }
        let body = json!({
            "kind": "X", "apiVersion": "v1",
            "metadata": {"name": "n", "annotations": {HASH_ANNOTATION: "h", "z": "1", REVISION_ANNOTATION: "r", "a": "é\"\n"}},
            "spec": {"b": [3, 1.5, null, true, {"y": 1, "x": []}], "a": {}, "annotations": {HASH_ANNOTATION: "kept"}},
        });
        let mut b = body.clone();
        let a = b
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
            .unwrap();
        a.remove(HASH_ANNOTATION);
        a.remove(REVISION_ANNOTATION);
        let text = serde_json::to_string(&canonical(&b)).unwrap();
        assert_eq!(
            content_hash(&body),
            format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
        );
    }
}
