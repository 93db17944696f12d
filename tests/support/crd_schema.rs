//! Upstream CRD schemas as validators: each served version's `openAPIV3Schema` converted to
//! JSON Schema with the apiserver's rules (fields the schema does not declare are rejected),
//! read from the reference CRDs at test time (`crate::reference`).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The string at `pointer` in `v` (empty when absent).
fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// OpenAPI v3 structural schema → JSON Schema (draft 4) with apiserver semantics.
pub fn to_json_schema(s: &Value, top: bool) -> Value {
    let Value::Object(m) = s else {
        return s.clone();
    };
    let mut out = Map::new();
    let preserve = m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let int_or_string = m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    for (k, v) in m {
        match k.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                let props: Map<String, Value> = v
                    .as_object()
                    .expect("properties map")
                    .iter()
                    .map(|(name, sub)| {
                        // The apiserver validates the top-level metadata (ObjectMeta) itself.
                        if top && name == "metadata" {
                            (name.clone(), json!({"type": "object"}))
                        } else {
                            (name.clone(), to_json_schema(sub, false))
                        }
                    })
                    .collect();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" | "not" if v.is_object() => {
                out.insert(k.clone(), to_json_schema(v, false));
            }
            "allOf" | "anyOf" | "oneOf" => {
                out.insert(
                    k.clone(),
                    Value::Array(
                        v.as_array()
                            .expect("list")
                            .iter()
                            .map(|x| to_json_schema(x, false))
                            .collect(),
                    ),
                );
            }
            "format" | "nullable" | "x-kubernetes-int-or-string" => {}
            "type" if int_or_string => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if int_or_string {
        out.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    // The apiserver keeps apiVersion, kind and metadata at the root even where the schema does
    // not declare them (Istio's CRDs declare only spec and status).
    if top && let Some(Value::Object(props)) = out.get_mut("properties") {
        for (name, kind) in [
            ("apiVersion", "string"),
            ("kind", "string"),
            ("metadata", "object"),
        ] {
            props.entry(name).or_insert_with(|| json!({"type": kind}));
        }
    }
    if out.get("type") == Some(&json!("object"))
        && out.contains_key("properties")
        && !out.contains_key("additionalProperties")
        && !preserve
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if m.get("nullable") == Some(&Value::Bool(true)) {
        return json!({"anyOf": [{"type": "null"}, Value::Object(out)]});
    }
    Value::Object(out)
}

struct Crd {
    /// served version name → converted schema.
    versions: BTreeMap<String, jsonschema::Validator>,
}

/// (group, kind) → CRD, read from `shared/reference/crds/` at test time.
fn crds() -> &'static BTreeMap<(String, String), Crd> {
    static C: OnceLock<BTreeMap<(String, String), Crd>> = OnceLock::new();
    C.get_or_init(|| {
        let mut out = BTreeMap::new();
        for doc in crate::reference::crds(&[]) {
            let group = str_at(&doc, "/spec/group").to_string();
            let kind = str_at(&doc, "/spec/names/kind").to_string();
            let mut versions = BTreeMap::new();
            for v in doc
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if v["served"] != true {
                    continue;
                }
                let schema = to_json_schema(
                    v.pointer("/schema/openAPIV3Schema")
                        .expect("openAPIV3Schema"),
                    true,
                );
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft4)
                    .should_validate_formats(false)
                    .build(&schema)
                    .unwrap_or_else(|e| {
                        panic!(
                            "schema of {group}/{kind} {} does not compile: {e}",
                            v["name"]
                        )
                    });
                versions.insert(
                    v["name"].as_str().unwrap_or_default().to_string(),
                    validator,
                );
            }
            out.insert((group, kind), Crd { versions });
        }
        out
    })
}

/// Validates one object against its CRD; returns the failures (object, instance path, message).
pub fn validate_crd(what: &str, v: &Value) -> Result<Vec<String>, String> {
    let (group, version) = str_at(v, "/apiVersion")
        .rsplit_once('/')
        .ok_or_else(|| format!("{what}: apiVersion has no group"))?;
    let kind = str_at(v, "/kind");
    let crd = crds()
        .get(&(group.to_string(), kind.to_string()))
        .ok_or_else(|| format!("{what}: no CRD for {group} {kind}"))?;
    let validator = crd
        .versions
        .get(version)
        .ok_or_else(|| format!("{what}: version {version} of {group} {kind} is not served"))?;
    Ok(validator
        .iter_errors(v)
        .map(|e| format!("{what}: at `{}`: {e}", e.instance_path()))
        .collect())
}
