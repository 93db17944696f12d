//! A rendered object's body, kept as its compact JSON text.
//!
//! A parsed `serde_json::Value` takes about seven times the memory of the text (a map entry, a
//! heap key and an index slot per field): 500 projects' 18,000 objects kept 184 MB of values
//! for 25 MiB of text. The text is what a cluster receives anyway. Code that reads fields again
//! and again asks for the value parsed once and kept ([`Body::value`]); code that only needs a
//! value for a moment (a diff, one apply) takes a copy with [`Body::to_value`], so that memory
//! is not kept; a file's YAML is written from the text ([`Body::to_yaml`]). There is no
//! `Deref` to a value: which of the two a reader pays for is written at each place.

use super::json_text;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// A rendered object's body: compact JSON text, its identity, and the parsed value once a
/// reader asks for it. Clones share all three.
#[derive(Clone)]
pub struct Body(Arc<Inner>);

struct Inner {
    text: Box<str>,
    /// apiVersion, kind, namespace, name.
    key: [Box<str>; 4],
    /// The revision annotation.
    revision: Box<str>,
    value: OnceLock<Value>,
}

impl Body {
    /// The body of `value` (an object with apiVersion, kind and metadata).
    pub fn new(value: &Value) -> Body {
        let text = json_text::to_string(value);
        let field = |v: Option<&Value>, k: &str| -> Box<str> {
            v.and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into()
        };
        let meta = value.get("metadata");
        Body(Arc::new(Inner {
            // Copied into a block of its own size: the text is written into a buffer grown by
            // doubling, and an allocator may keep a block shrunk by less than half in place
            // (mimalloc does), so `into_boxed_str` kept up to half of each body unused.
            text: text.as_str().into(),
            key: [
                field(Some(value), "apiVersion"),
                field(Some(value), "kind"),
                field(meta, "namespace"),
                field(meta, "name"),
            ],
            revision: field(
                meta.and_then(|m| m.get("annotations")),
                super::REVISION_ANNOTATION,
            ),
            value: OnceLock::new(),
        }))
    }

    /// The compact JSON text, as `serde_json::to_string` writes the value.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// The parsed value, parsed on first use and kept as long as the body (for readers that
    /// come back to it; see [`Body::to_value`] for one-off uses).
    pub fn value(&self) -> &Value {
        self.0.value.get_or_init(|| parse(&self.0.text))
    }

    /// A parsed copy that is not kept (for one-off uses such as writing the object's file).
    pub fn to_value(&self) -> Value {
        match self.0.value.get() {
            Some(v) => v.clone(),
            None => parse(&self.0.text),
        }
    }

    /// The object as a YAML document, written from the text (what a directory target writes).
    pub fn to_yaml(&self) -> String {
        super::yaml_out::json_to_yaml(&self.0.text)
    }

    /// Changes the value with `f` (the text and identity follow).
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        let mut value = self.to_value();
        f(&mut value);
        *self = Body::new(&value);
    }

    /// The `cubist.dev/revision` annotation (empty when there is none).
    pub fn revision(&self) -> &str {
        &self.0.revision
    }

    /// apiVersion, kind, namespace (empty when cluster-scoped) and name.
    pub fn key_parts(&self) -> [&str; 4] {
        let [a, k, ns, n] = &self.0.key;
        [a, k, ns, n]
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("a body is JSON text written from a value")
}

impl From<Value> for Body {
    fn from(value: Value) -> Body {
        Body::new(&value)
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.0.text == other.0.text
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.text)
    }
}

/// Serialises the value: the kept one if a reader parsed it, else a copy that is not kept.
impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.value.get() {
            Some(v) => v.serialize(s),
            None => parse(&self.0.text).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Body, D::Error> {
        Value::deserialize(d).map(Body::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The text is serde_json's; the value reads back; the identity comes from the value.
    #[test]
    fn keeps_text_identity_and_value() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "n", "namespace": "ns", "labels": {"é": "a\"b"}}, "data": {"k": 1.5}});
        let body = Body::from(v.clone());
        assert_eq!(body.text(), serde_json::to_string(&v).unwrap());
        assert_eq!(body.key_parts(), ["v1", "ConfigMap", "ns", "n"]);
        assert_eq!(body.to_value(), v);
        assert_eq!(body.to_yaml(), super::super::yaml_out::to_yaml(&v));
        assert_eq!(body.value(), &v);
        assert_eq!(body, body.clone());
        let mut renamed = body.clone();
        renamed.edit(|v| v["metadata"]["name"] = json!("m"));
        assert_eq!(renamed.key_parts()[3], "m");
        assert_eq!(renamed.revision(), "");
        renamed.edit(|v| {
            v["metadata"]["annotations"] = json!({super::super::REVISION_ANNOTATION: "abc"})
        });
        assert_eq!(renamed.revision(), "abc");
        assert!(renamed.text().contains(r#""name":"m""#));
        assert_eq!(body.key_parts()[3], "n");
        let back: Body = serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap();
        assert_eq!(back, body);
        let cluster_scoped =
            Body::from(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}));
        assert_eq!(cluster_scoped.key_parts(), ["v1", "Namespace", "", "x"]);
    }

    /// One-off readers (a copy, the YAML, serialising for a request) leave the body as text;
    /// only `value()` parses for good.
    #[test]
    fn only_value_keeps_a_parsed_value() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}});
        let body = Body::from(v.clone());
        assert_eq!(body.to_value(), v);
        assert_eq!(body.to_yaml(), super::super::yaml_out::to_yaml(&v));
        assert_eq!(serde_json::to_value(&body).unwrap(), v);
        assert!(
            body.0.value.get().is_none(),
            "a one-off reader kept the value"
        );
        assert_eq!(body.value(), &v);
        assert!(body.0.value.get().is_some());
        assert_eq!(serde_json::to_value(&body).unwrap(), v);
    }
}
