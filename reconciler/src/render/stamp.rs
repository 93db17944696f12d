//! What render stamps on every object: the project's labels, the source and revision
//! annotations, and the content hash.

use super::hash::content_hash;
use super::{
    Body, HASH_ANNOTATION, MANAGED_BY, PROJECT_LABEL, REVISION_ANNOTATION, RenderedObject,
    SOURCE_ANNOTATION, obj,
};
use serde_json::{Map, Value};

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
pub(super) fn stamp(
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
