//! JSON Schema validation of manifests, with errors mapped back to file:line:col.
//! The schemas in `schemas/` are embedded in the binary: the files in the repo are the only source.

use super::positions::Positions;
use crate::diag::{Diagnostic, Location, codes};
use jsonschema::{Validator, error::ValidationErrorKind};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Every kind cubist reads, with its embedded schema.
pub const KINDS: &[(&str, &str)] = &[
    (
        "Platform",
        include_str!("../../../schemas/platform.schema.json"),
    ),
    (
        "Cluster",
        include_str!("../../../schemas/cluster.schema.json"),
    ),
    (
        "Project",
        include_str!("../../../schemas/project.schema.json"),
    ),
    ("Quota", include_str!("../../../schemas/quota.schema.json")),
    (
        "Template",
        include_str!("../../../schemas/template.schema.json"),
    ),
    (
        "Pipeline",
        include_str!("../../../schemas/pipeline.schema.json"),
    ),
    (
        "Service",
        include_str!("../../../schemas/service.schema.json"),
    ),
    ("Run", include_str!("../../../schemas/run.schema.json")),
];

/// The only apiVersion cubist reads.
pub const API_VERSION: &str = "cubist.dev/v1alpha1";

struct Compiled {
    validator: Validator,
    schema: Value,
}

fn compiled() -> &'static HashMap<&'static str, Compiled> {
    static CELL: OnceLock<HashMap<&'static str, Compiled>> = OnceLock::new();
    CELL.get_or_init(|| {
        KINDS
            .iter()
            .map(|(kind, text)| {
                let schema: Value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("embedded schema for {kind} is not JSON: {e}"));
                let validator = jsonschema::draft202012::new(&schema)
                    .unwrap_or_else(|e| panic!("embedded schema for {kind} is invalid: {e}"));
                (*kind, Compiled { validator, schema })
            })
            .collect()
    })
}

/// True if `kind` is one cubist reads.
pub fn is_known_kind(kind: &str) -> bool {
    KINDS.iter().any(|(k, _)| *k == kind)
}

/// Validates one document of a known kind; returns one diagnostic per schema violation.
pub fn validate(kind: &str, file: &str, positions: &Positions, json: &Value) -> Vec<Diagnostic> {
    let Some(c) = compiled().get(kind) else {
        return Vec::new();
    };
    // Most documents are valid: `is_valid` is much cheaper than collecting errors.
    if c.validator.is_valid(json) {
        return Vec::new();
    }
    // Each error is located by walking the document: report a bounded number of them.
    let mut errors: Vec<_> = c
        .validator
        .iter_errors(json)
        .take(MAX_SCHEMA_ERRORS + 1)
        .collect();
    let more = errors.len() > MAX_SCHEMA_ERRORS;
    errors.truncate(MAX_SCHEMA_ERRORS);
    // A misspelt required field shows up twice (unknown + missing): keep only the unknown one.
    let misspelt: Vec<(String, String)> = errors
        .iter()
        .filter_map(|e| match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_properties(&c.schema, e.schema_path().as_str());
                let path = e.instance_path().as_str().to_string();
                Some(
                    unexpected
                        .iter()
                        .filter_map(|u| closest(u, &allowed).map(|s| (path.clone(), s.to_string())))
                        .collect::<Vec<_>>(),
                )
            }
            _ => None,
        })
        .flatten()
        .collect();
    errors
        .into_iter()
        .filter(|e| match e.kind() {
            ValidationErrorKind::Required { property } => {
                let p = property.as_str().unwrap_or_default();
                !misspelt.iter().any(|(path, s)| path == e.instance_path().as_str() && s == p)
            }
            _ => true,
        })
        .map(|err| {
            let segments = pointer_segments(err.instance_path().as_str());
            let seg_refs: Vec<&str> = segments.iter().map(String::as_str).collect();
            let (line, col, message, help) = match err.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    let field = unexpected.first().cloned().unwrap_or_default();
                    let (line, col) = positions.locate_key(seg_refs.iter().copied(), &field);
                    let allowed = allowed_properties(&c.schema, err.schema_path().as_str());
                    let suggestion = closest(&field, &allowed)
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    (
                        line,
                        col,
                        format!("unknown field `{field}` in {} {}", kind, where_(&segments)),
                        format!("{suggestion}remove it or use one of: {}", allowed.join(", ")),
                    )
                }
                ValidationErrorKind::Required { property } => {
                    let (line, col) = locate_mapping(positions, &seg_refs);
                    let prop = property.as_str().unwrap_or_default().to_string();
                    (line, col, format!("missing required field `{prop}` {}", where_(&segments)), format!("add `{prop}:` {}", where_(&segments)))
                }
                _ => {
                    let (message, help, at) = explain(&c.schema, kind, &err, &segments, positions);
                    let (line, col) = at.unwrap_or_else(|| positions.locate(seg_refs.iter().copied()));
                    (line, col, message, help)
                }
            };
            let at = Location { file: file.to_string(), line: line as usize, column: col as usize };
            if segments == ["metadata", "name"] {
                let name = json.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                return Diagnostic::error(codes::INVALID_NAME, &at, format!("name `{name}` is not a DNS-1123 label"))
                    .help("use at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit");
            }
            Diagnostic::error(codes::SCHEMA, &at, message).help(help)
        })
        .chain(more.then(|| {
            let (line, column) = positions.locate([]);
            let at = Location { file: file.to_string(), line: line as usize, column: column as usize };
            Diagnostic::error(codes::SCHEMA, &at, format!("this {kind} has more than {MAX_SCHEMA_ERRORS} schema errors; only the first {MAX_SCHEMA_ERRORS} are reported"))
                .help("fix the errors above and validate again")
        }))
        .collect()
}

/// Most schema errors reported for one document.
pub const MAX_SCHEMA_ERRORS: usize = 50;

/// Where to report something about the mapping at `segments` as a whole (a field missing in
/// it): its key, or for a list item or the document itself, its start.
fn locate_mapping(positions: &Positions, segments: &[&str]) -> (u32, u32) {
    match segments.split_last() {
        Some((last, parent)) if last.parse::<usize>().is_err() => {
            positions.locate_key(parent.iter().copied(), last)
        }
        _ => positions.locate(segments.iter().copied()),
    }
}

/// Message, help and (if not the failing value itself) position for a schema violation other
/// than unknown or missing fields: what is wrong in words, and what the schema allows (its
/// `description` of the field).
fn explain(
    schema: &Value,
    kind: &str,
    err: &jsonschema::ValidationError<'_>,
    segments: &[String],
    positions: &Positions,
) -> (String, String, Option<(u32, u32)>) {
    let seg_refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (message, help) = match explain_text(schema, kind, err, segments) {
        Ok(text) => return (text.0, text.1, None),
        Err(text) => text,
    };
    // Alternatives (`oneOf`/`anyOf` of `required`): all missing → the mapping's key; several
    // set → the one written last, which is where the conflict starts.
    let at = match err.kind() {
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            let fields = alternative_fields(schema, err.schema_path().as_str()).unwrap_or_default();
            fields
                .iter()
                .map(|f| positions.locate_key(seg_refs.iter().copied(), f))
                .filter(|p| *p != positions.locate(seg_refs.iter().copied()))
                .max()
        }
        _ => Some(locate_mapping(positions, &seg_refs)),
    };
    (message, help, at)
}

/// The field names of `oneOf`/`anyOf` alternatives that each only require one field.
fn alternative_fields(schema: &Value, schema_path: &str) -> Option<Vec<String>> {
    schema_node(schema, schema_path)
        .and_then(Value::as_array)
        .and_then(|branches| {
            branches
                .iter()
                .map(|b| {
                    match b
                        .as_object()
                        .map(|o| (o.len(), o.get("required").and_then(Value::as_array)))
                    {
                        Some((1, Some(r))) if r.len() == 1 => r[0].as_str().map(str::to_string),
                        _ => None,
                    }
                })
                .collect()
        })
}

/// `Ok` for a message about the failing value itself; `Err` for one about required
/// alternatives of the mapping (located by [`explain`]).
#[allow(clippy::type_complexity)]
fn explain_text(
    schema: &Value,
    kind: &str,
    err: &jsonschema::ValidationError<'_>,
    segments: &[String],
) -> Result<(String, String), (String, String)> {
    let at = where_(segments);
    let value = short(err.instance());
    let described = describe(schema, err.schema_path().as_str())
        .map(|d| format!("{d} "))
        .unwrap_or_default();
    let reference = format!("(schemas/{}.schema.json)", kind.to_lowercase());
    // `oneOf`/`anyOf` of `required` alternatives: name the fields.
    let alternatives: Option<Vec<String>> = alternative_fields(schema, err.schema_path().as_str())
        .map(|f| f.iter().map(|f| format!("`{f}`")).collect());
    Ok(match (err.kind(), alternatives) {
        (ValidationErrorKind::Enum { options }, _) => {
            let options: Vec<String> = options
                .as_array()
                .map(|o| {
                    o.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let hint = err
                .instance()
                .as_str()
                .and_then(|v| closest(v, &options))
                .map(|o| format!("did you mean `{o}`? "))
                .unwrap_or_default();
            (
                format!("`{value}` is not an allowed value {at}"),
                format!("{hint}use one of: {}", options.join(", ")),
            )
        }
        (ValidationErrorKind::Constant { expected_value }, _) => (
            format!("`{value}` is not allowed {at}"),
            format!("the only allowed value is `{}`", short(expected_value)),
        ),
        (ValidationErrorKind::OneOfMultipleValid { .. }, Some(fields)) => {
            return Err((
                format!(
                    "{} are {} set {at}; they exclude each other",
                    fields.join(" and "),
                    if fields.len() == 2 { "both" } else { "all" }
                ),
                format!("keep exactly one of {}", fields.join(", ")),
            ));
        }
        (ValidationErrorKind::OneOfNotValid { .. }, Some(fields)) => {
            return Err((
                format!("none of {} is set {at}", fields.join(", ")),
                format!("set exactly one of {}", fields.join(", ")),
            ));
        }
        (ValidationErrorKind::AnyOf { .. }, Some(fields)) => {
            return Err((
                format!("none of {} is set {at}", fields.join(", ")),
                format!("set at least one of {}", fields.join(", ")),
            ));
        }
        (ValidationErrorKind::Type { kind: expected }, _) => {
            let expected = format!("{expected:?}")
                .to_lowercase()
                .replace("single(", "")
                .replace("multiple(", "")
                .replace(')', "");
            let found = json_type(err.instance());
            let quote = if expected.contains("string")
                && matches!(err.instance().as_ref(), Value::Number(_) | Value::Bool(_))
            {
                format!("quote the value (`\"{value}\"`). ")
            } else {
                String::new()
            };
            (
                format!("expected {expected} {at}, found {found} `{value}`"),
                format!("{quote}{described}{reference}"),
            )
        }
        (ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. }, None) => (
            format!("`{value}` is not valid {at}"),
            format!("{described}{reference}"),
        ),
        _ => {
            let full = err.instance().to_string();
            let message = err.to_string().replacen(&full, &value, 1);
            (
                format!("{message} {at}"),
                if described.is_empty() {
                    help_for(kind, segments)
                } else {
                    format!("{described}{reference}")
                },
            )
        }
    })
}

/// A value for a message: strings bare, anything long cut short.
fn short(v: &Value) -> String {
    let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The schema node at a schema path, following local `$ref`s on the way.
fn schema_node<'a>(schema: &'a Value, schema_path: &str) -> Option<&'a Value> {
    schema_walk(schema, schema_path).last().copied()
}

/// The most specific `description` on the way to the failing keyword.
fn describe<'a>(schema: &'a Value, schema_path: &str) -> Option<&'a str> {
    schema_walk(schema, schema_path)
        .iter()
        .rev()
        .find_map(|n| n.get("description").and_then(Value::as_str))
}

fn schema_walk<'a>(schema: &'a Value, schema_path: &str) -> Vec<&'a Value> {
    let resolve = |n: &'a Value| -> Option<&'a Value> {
        n.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| schema.pointer(p))
    };
    let mut node = schema;
    let mut seen = vec![node];
    for seg in pointer_segments(schema_path) {
        if seg == "$ref" {
            match resolve(node) {
                Some(n) => node = n,
                None => break,
            }
        } else {
            let next = match node {
                Value::Object(m) => m
                    .get(&seg)
                    .or_else(|| resolve(node).and_then(|r| r.get(&seg))),
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        seen.push(node);
    }
    seen
}

fn where_(segments: &[String]) -> String {
    if segments.is_empty() {
        "at the top level".into()
    } else {
        format!("at `{}`", segments.join("."))
    }
}

fn help_for(kind: &str, segments: &[String]) -> String {
    format!(
        "fix `{}` to match the {kind} schema (schemas/{}.schema.json)",
        segments.join("."),
        kind.to_lowercase()
    )
}

/// Splits a JSON pointer into unescaped segments.
pub fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Property names allowed by the schema object that owns the failing `additionalProperties`.
fn allowed_properties(schema: &Value, schema_path: &str) -> Vec<String> {
    let parent = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    let mut node = schema.pointer(parent);
    // Follow one local $ref (schemas keep shared shapes in $defs).
    if let Some(r) = node.and_then(|n| n.get("$ref")).and_then(Value::as_str)
        && let Some(p) = r.strip_prefix('#')
    {
        node = schema.pointer(p);
    }
    let mut names: Vec<String> = node
        .and_then(|n| n.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 30,000 annotations of the wrong type: a bounded number of errors, found without walking
    /// the document once per error.
    #[test]
    fn schema_errors_of_one_document_are_bounded() {
        let mut text = String::from("kind: Project\nmetadata:\n  name: p\n  annotations:\n");
        for i in 0..30_000 {
            text += &format!("    a{i}: [{i}]\n");
        }
        let doc = &crate::model::yaml::parse_documents("p.yaml", &text).unwrap()[0];
        let diags = validate("Project", "p.yaml", &doc.positions, &doc.json);
        assert_eq!(diags.len(), MAX_SCHEMA_ERRORS + 1, "{:?}", &diags[..3]);
        assert!(
            diags.iter().any(|d| (d.line, d.column) == (5, 9)),
            "the first annotation's value is reported: {:?}",
            &diags[..3]
        );
        let last = diags.last().unwrap();
        assert!(
            last.message.contains("more than 50 schema errors"),
            "{}",
            last.message
        );
        assert_eq!((last.line, last.column), (1, 1));
    }
}
