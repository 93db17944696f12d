//! The blueprint engine: handlebars in strict mode over the templates in `blueprints/`.
//!
//! Blueprints are YAML with `{{json value}}` for every inserted value: JSON is valid YAML flow
//! syntax, so inserted strings can never break the document or inject fields.
//!
//! Fast path: while rendering, `{{json value}}` writes a placeholder scalar and keeps the value
//! aside; the (small) YAML skeleton is parsed straight into JSON and the placeholders are
//! replaced by the kept values, so inserted values are never printed and parsed back. Anything
//! the fast path cannot take exactly (a placeholder inside a longer scalar or used as a key,
//! anchors, duplicate keys, a YAML error) renders again the plain way, which gives the same
//! result or the same error. Skeletons repeat (the same blueprint with the same shape of
//! context renders the same text), so parsed skeletons are cached by their text.
//!
//! The fast path also renders each blueprint with its partials written out in place (see
//! [`inline_partials`]): handlebars copies every value looked up inside a partial, which made
//! partial-heavy blueprints (workflows, engine jobs) ten times slower than flat ones.

use crate::model::yaml::parse_documents;
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Most skeletons kept; the cache starts over when full.
const MAX_SKELETONS: usize = 4096;

/// The blueprints shipped in the binary: (name, text). Names starting with `_` are partials.
pub const BLUEPRINTS: &[(&str, &str)] = &[
    (
        "_container",
        include_str!("../../../blueprints/_container.yaml.hbs"),
    ),
    (
        "_pod-spec",
        include_str!("../../../blueprints/_pod-spec.yaml.hbs"),
    ),
    (
        "_workflow-spec",
        include_str!("../../../blueprints/_workflow-spec.yaml.hbs"),
    ),
    (
        "namespace",
        include_str!("../../../blueprints/namespace.yaml.hbs"),
    ),
    (
        "serviceaccount",
        include_str!("../../../blueprints/serviceaccount.yaml.hbs"),
    ),
    (
        "rolebinding",
        include_str!("../../../blueprints/rolebinding.yaml.hbs"),
    ),
    (
        "resourcequota",
        include_str!("../../../blueprints/resourcequota.yaml.hbs"),
    ),
    (
        "limitrange",
        include_str!("../../../blueprints/limitrange.yaml.hbs"),
    ),
    (
        "workflowtemplate",
        include_str!("../../../blueprints/workflowtemplate.yaml.hbs"),
    ),
    (
        "cronworkflow",
        include_str!("../../../blueprints/cronworkflow.yaml.hbs"),
    ),
    (
        "workflow",
        include_str!("../../../blueprints/workflow.yaml.hbs"),
    ),
    (
        "pytorchjob",
        include_str!("../../../blueprints/pytorchjob.yaml.hbs"),
    ),
    ("tfjob", include_str!("../../../blueprints/tfjob.yaml.hbs")),
    (
        "mpijob",
        include_str!("../../../blueprints/mpijob.yaml.hbs"),
    ),
    (
        "xgboostjob",
        include_str!("../../../blueprints/xgboostjob.yaml.hbs"),
    ),
    (
        "volcanojob",
        include_str!("../../../blueprints/volcanojob.yaml.hbs"),
    ),
    (
        "rayjob",
        include_str!("../../../blueprints/rayjob.yaml.hbs"),
    ),
    (
        "katib-experiment",
        include_str!("../../../blueprints/katib-experiment.yaml.hbs"),
    ),
    (
        "inferenceservice",
        include_str!("../../../blueprints/inferenceservice.yaml.hbs"),
    ),
    (
        "deployment",
        include_str!("../../../blueprints/deployment.yaml.hbs"),
    ),
    (
        "service",
        include_str!("../../../blueprints/service.yaml.hbs"),
    ),
    ("hpa", include_str!("../../../blueprints/hpa.yaml.hbs")),
];

/// A compiled set of blueprints.
pub struct Blueprints {
    hb: Handlebars<'static>,
    /// Parsed skeletons by their rendered text.
    skeletons: Mutex<HashMap<String, Arc<Skel>>>,
    /// Blueprint name → name of its version with partials written out.
    inlined: HashMap<String, String>,
    /// Placeholders, skeleton cache and flat versions; off only to test them against the plain way.
    fast: bool,
}

impl Blueprints {
    /// The embedded blueprints.
    pub fn embedded() -> anyhow::Result<Self> {
        Self::from_texts(
            BLUEPRINTS
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string())),
        )
    }

    /// The embedded blueprints, with any `<name>.yaml.hbs` found in `dir` replacing its twin.
    pub fn with_overrides(dir: &Path) -> anyhow::Result<Self> {
        let texts = BLUEPRINTS.iter().map(|(name, text)| {
            let path = dir.join(format!("{name}.yaml.hbs"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|_| text.to_string());
            (name.to_string(), text)
        });
        Self::from_texts(texts)
    }

    fn from_texts(texts: impl Iterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        hb.register_helper("json", Box::new(json_helper));
        let texts: Vec<(String, String)> = texts.collect();
        for (name, text) in &texts {
            if name.starts_with('_') {
                hb.register_partial(name, text)
            } else {
                hb.register_template_string(name, text)
            }
            .map_err(|e| anyhow::anyhow!("blueprint `{name}` does not compile: {e}"))?;
        }
        let partials: HashMap<&str, &str> = texts
            .iter()
            .filter(|(n, _)| n.starts_with('_'))
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let mut inlined = HashMap::new();
        for (name, text) in texts.iter().filter(|(n, _)| !n.starts_with('_')) {
            if let Some(flat) =
                inline_partials(text, &partials, &HashMap::new(), 0).filter(|flat| flat != text)
            {
                let flat_name = format!("{name}{INLINED}");
                // A flat version that does not compile just means: no fast path for this one.
                if hb.register_template_string(&flat_name, flat).is_ok() {
                    inlined.insert(name.clone(), flat_name);
                }
            }
        }
        Ok(Blueprints {
            hb,
            skeletons: Mutex::new(HashMap::new()),
            inlined,
            fast: true,
        })
    }

    /// The embedded blueprints rendered only the plain way (every value printed and parsed).
    #[cfg(test)]
    pub(crate) fn embedded_plain() -> Self {
        Blueprints {
            fast: false,
            ..Self::embedded().expect("embedded blueprints")
        }
    }

    /// Renders one blueprint with `context` and parses the YAML result into one object.
    pub fn render(&self, name: &str, context: &Value) -> anyhow::Result<Value> {
        self.render_owned(name, context.clone())
    }

    /// [`Self::render`] taking the context by value (no copy of it is made).
    pub fn render_owned(&self, name: &str, context: Value) -> anyhow::Result<Value> {
        // `Handlebars::render` would copy the context through serde; a `Context` owns it.
        let context = Context::from(context);
        if self.fast
            && let Some(v) = self.render_fast(name, &context)?
        {
            return Ok(v);
        }
        self.render_exact(name, &context)
    }

    /// Placeholders for inserted values; `None` when the result must come from [`Self::render_exact`].
    fn render_fast(&self, name: &str, context: &Context) -> anyhow::Result<Option<Value>> {
        STASH.with(|s| *s.borrow_mut() = Some(Vec::new()));
        let text = self
            .hb
            .render_with_context(self.inlined.get(name).map_or(name, String::as_str), context);
        let mut stash: Vec<Option<Value>> = STASH
            .with(|s| s.borrow_mut().take())
            .unwrap_or_default()
            .into_iter()
            .map(Some)
            .collect();
        // A failing render is redone the plain way, whose error names the blueprint as written.
        let Ok(text) = text else { return Ok(None) };
        let cached = self
            .skeletons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&text)
            .cloned();
        let skeleton = match cached {
            Some(s) => s,
            None => {
                let Some(skeleton) = parse_skeleton(&text) else {
                    return Ok(None);
                };
                let skeleton = Arc::new(skeleton);
                let mut cache = self.skeletons.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= MAX_SKELETONS {
                    cache.clear();
                }
                cache.insert(text, skeleton.clone());
                skeleton
            }
        };
        Ok(skeleton.instantiate(&mut stash))
    }

    /// Renders with inserted values printed as JSON and parses the whole text.
    fn render_exact(&self, name: &str, context: &Context) -> anyhow::Result<Value> {
        let text = self
            .hb
            .render_with_context(name, context)
            .map_err(|e| anyhow::anyhow!("blueprint `{name}` failed: {e}; every value a blueprint uses must be in its context"))?;
        let docs = parse_documents(&format!("blueprints/{name}.yaml.hbs"), &text).map_err(|d| {
            anyhow::anyhow!(
                "blueprint `{name}` produced invalid YAML at line {}: {}\n{text}",
                d.line,
                d.message
            )
        })?;
        match docs.as_slice() {
            [one] => Ok(one.to_json()),
            _ => anyhow::bail!(
                "blueprint `{name}` must produce exactly one object, got {}",
                docs.len()
            ),
        }
    }
}

/// Suffix of the names of blueprints with their partials written out.
const INLINED: &str = "#inlined";

/// A blueprint with every standalone partial call (`{{> name k="v"}}` alone on its line) replaced
/// by the partial's text, indented like the call, and each `{{json k}}` of the partial replaced by
/// `{{json "v"}}`; nested partials inherit the hash like handlebars does. `None` when a partial is
/// used in any other way (not alone on its line, unknown, a hash value that is not a string
/// literal, a hash key used other than as `{{json k}}`), so the blueprint keeps its partials.
fn inline_partials(
    text: &str,
    partials: &HashMap<&str, &str>,
    hash: &HashMap<String, String>,
    depth: usize,
) -> Option<String> {
    if depth > 8 {
        return None;
    }
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim();
        if !body.contains("{{>") {
            out.push_str(&substitute_hash(line, hash)?);
            continue;
        }
        let call = trimmed.strip_prefix("{{>")?.strip_suffix("}}")?;
        if call.contains("{{") || call.contains("}}") {
            return None;
        }
        let mut words = call.split_whitespace();
        let name = words.next()?;
        let mut inner = hash.clone();
        for w in words {
            let (k, v) = w.split_once('=')?;
            let v = v.strip_prefix('"')?.strip_suffix('"')?;
            if v.contains(['"', '\\']) || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return None;
            }
            inner.insert(k.to_string(), v.to_string());
        }
        let partial = inline_partials(partials.get(name)?, partials, &inner, depth + 1)?;
        let indent = &body[..body.len() - body.trim_start().len()];
        for pline in partial.split_inclusive('\n') {
            out.push_str(indent);
            out.push_str(pline);
        }
        if !partial.ends_with('\n') && line.ends_with('\n') {
            out.push('\n');
        }
    }
    Some(out)
}

/// Replaces `{{json k}}` with `{{json "v"}}` for each hash entry; `None` if a hash key appears
/// in any other mustache.
fn substitute_hash(line: &str, hash: &HashMap<String, String>) -> Option<String> {
    if hash.is_empty() || !line.contains("{{") {
        return Some(line.to_string());
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        if rest[start..].starts_with("{{!") {
            // A comment: kept as it is.
            let close = if rest[start..].starts_with("{{!--") {
                "--}}"
            } else {
                "}}"
            };
            let end = start + rest[start..].find(close)? + close.len();
            out.push_str(&rest[start..end]);
            rest = &rest[end..];
            continue;
        }
        let end = start + rest[start..].find("}}")? + 2;
        let tag = &rest[start..end];
        let inside = tag[2..tag.len() - 2].trim();
        let replaced = inside
            .strip_prefix("json ")
            .map(str::trim)
            .and_then(|k| hash.get(k));
        match replaced {
            Some(v) => out.push_str(&format!("{{{{json \"{v}\"}}}}")),
            None => {
                let words = inside.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
                if words.into_iter().any(|w| hash.contains_key(w)) {
                    return None;
                }
                out.push_str(tag);
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    Some(out)
}

thread_local! {
    /// Values `{{json}}` kept aside during a fast render on this thread (`None`: print JSON).
    static STASH: RefCell<Option<Vec<Value>>> = const { RefCell::new(None) };
}

/// Prefix of the placeholder scalar `{{json}}` writes in the fast path: `__cubist_json_<n>__`.
const MARK: &str = "__cubist_json_";

/// `{{json value}}`: the value as compact JSON (a YAML-safe scalar, list or map), or in the
/// fast path a placeholder for it.
fn json_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let param = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
    let kept = STASH.with(|s| {
        s.borrow_mut().as_mut().map(|kept| {
            kept.push(param.value().clone());
            kept.len() - 1
        })
    });
    match kept {
        Some(i) => out.write(&format!("{MARK}{i}__"))?,
        None => {
            let text = serde_json::to_string(param.value())
                .map_err(|e| RenderErrorReason::Other(e.to_string()))?;
            out.write(&text)?;
        }
    }
    Ok(())
}

/// A parsed skeleton: the blueprint's own values, and slots for the values `{{json}}` inserted.
#[derive(Debug)]
enum Skel {
    /// A value of the blueprint text (no slot inside).
    Lit(Value),
    /// The `n`th inserted value.
    Slot(usize),
    Seq(Vec<Skel>),
    Map(Vec<(String, Skel)>),
}

impl Skel {
    /// The object with every slot filled; `None` if a slot has no value.
    fn instantiate(&self, stash: &mut [Option<Value>]) -> Option<Value> {
        Some(match self {
            Skel::Lit(v) => v.clone(),
            Skel::Slot(i) => stash.get_mut(*i)?.take()?,
            Skel::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.instantiate(stash))
                    .collect::<Option<_>>()?,
            ),
            Skel::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Some((k.clone(), v.instantiate(stash)?)))
                    .collect::<Option<_>>()?,
            ),
        })
    }

    /// Collapses a collection without slots into one literal.
    fn collapse(self) -> Skel {
        let literal = |s: &Skel| matches!(s, Skel::Lit(_));
        match self {
            Skel::Seq(items) if items.iter().all(literal) => Skel::Lit(Value::Array(
                items
                    .into_iter()
                    .map(|i| {
                        if let Skel::Lit(v) = i {
                            v
                        } else {
                            unreachable!()
                        }
                    })
                    .collect(),
            )),
            Skel::Map(entries) if entries.iter().all(|(_, v)| literal(v)) => {
                Skel::Lit(Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| {
                            (
                                k,
                                if let Skel::Lit(v) = v {
                                    v
                                } else {
                                    unreachable!()
                                },
                            )
                        })
                        .collect(),
                ))
            }
            other => other,
        }
    }
}

/// Parses the one document of a rendered skeleton, or `None` when only the exact path can.
fn parse_skeleton(text: &str) -> Option<Skel> {
    enum Frame {
        Seq(Vec<Skel>),
        Map(Vec<(String, Skel)>, Option<String>),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut doc: Option<Skel> = None;
    for next in Parser::new_from_str(text) {
        let (event, _) = next.ok()?;
        let node = match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if anchor != 0 => {
                return None;
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq(Vec::new()));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(Vec::new(), None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop()? {
                Frame::Seq(items) => Skel::Seq(items).collapse(),
                Frame::Map(entries, None) => Skel::Map(entries).collapse(),
                Frame::Map(_, Some(_)) => return None,
            },
            Event::Scalar(_, _, anchor, _) if anchor != 0 => return None,
            Event::Scalar(text, style, _, tag) => {
                let as_str =
                    tag.as_ref().is_some_and(|t| t.suffix == "str") || style != ScalarStyle::Plain;
                if text.contains(MARK) {
                    // Only a whole plain scalar that is exactly a placeholder is a slot.
                    let i: usize = text.strip_prefix(MARK)?.strip_suffix("__")?.parse().ok()?;
                    if as_str || matches!(stack.last(), Some(Frame::Map(_, None))) {
                        return None;
                    }
                    Skel::Slot(i)
                } else if as_str {
                    Skel::Lit(Value::String(text.into_owned()))
                } else {
                    Skel::Lit(crate::model::yaml::plain_scalar_json(&text))
                }
            }
            Event::Alias(_) => return None,
            Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::StreamStart
            | Event::StreamEnd
            | Event::Nothing => continue,
        };
        match stack.last_mut() {
            None if doc.is_none() => doc = Some(node),
            None => return None, // a second document
            Some(Frame::Seq(items)) => items.push(node),
            Some(Frame::Map(entries, key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let Skel::Lit(value) = node else { return None };
                    let k = match value {
                        Value::String(s) => s,
                        Value::Null => "null".into(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        Value::Array(_) | Value::Object(_) => return None,
                    };
                    if entries.iter().any(|(e, _)| *e == k) {
                        return None; // duplicate key: the exact path reports it
                    }
                    *key = Some(k);
                }
            },
        }
    }
    match doc? {
        d @ Skel::Map(_) => Some(d),
        d @ Skel::Lit(Value::Object(_)) => Some(d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The fast path and the exact path agree on every embedded blueprint.
    #[test]
    fn fast_and_exact_paths_agree() {
        let b = Blueprints::from_texts(
            [
                ("t".to_string(), "a: {{json x}}\nb: [{{json y}}, 2, 1.5, true, ~, '3', 0x10]\nc:\n  - {{json z}}\n  - k: {{json x}}\n".to_string()),
                ("inline".to_string(), "a: pre {{json n}}\n".to_string()),
                ("key".to_string(), "{{json k}}: 1\n".to_string()),
                ("strict".to_string(), "a: {{missing}}\n".to_string()),
            ]
            .into_iter(),
        )
        .unwrap();
        let ctx =
            json!({"x": "yes: no # {not}", "y": {"m": [1, null]}, "z": 7, "n": 3, "k": "key"});
        let c = Context::from(ctx.clone());
        let fast = b.render_fast("t", &c).unwrap().expect("fast path");
        assert_eq!(fast, b.render_exact("t", &c).unwrap());
        assert_eq!(
            fast,
            json!({"a": "yes: no # {not}", "b": [{"m": [1, null]}, 2, 1.5, true, null, "3", 16], "c": [7, {"k": "yes: no # {not}"}]})
        );
        // Again, from the cache.
        assert_eq!(b.render_fast("t", &c).unwrap().expect("cached"), fast);
        assert_eq!(b.skeletons.lock().unwrap().len(), 1);
        // A placeholder inside a longer scalar, or as a key, falls back to the exact path.
        assert_eq!(b.render_fast("inline", &c).unwrap(), None);
        assert_eq!(b.render("inline", &ctx).unwrap(), json!({"a": "pre 3"}));
        assert_eq!(b.render_fast("key", &c).unwrap(), None);
        assert_eq!(b.render("key", &ctx).unwrap(), json!({"key": 1}));
        // Errors are those of the plain way.
        let err = b.render("strict", &json!({})).unwrap_err().to_string();
        assert!(
            err.contains("blueprint `strict` failed") && !err.contains(INLINED),
            "{err}"
        );
    }

    #[test]
    fn partials_are_written_out_with_their_indent_and_hash() {
        let partials: HashMap<&str, &str> = [
            ("_c", "{{!-- a container: container_name --}}\nname: {{json container_name}}\nimage: {{json image}}\n"),
            ("_p", "policy: {{json restart}}\nc:\n  -\n    {{> _c}}\n"),
            ("_inline", "c:\n  - {{> _c}}\n"),
            ("_b", "{{#if container_name}}x: 1{{/if}}\n"),
        ]
        .into_iter()
        .collect();
        let none = HashMap::new();
        let flat = inline_partials(
            "spec:\n  {{> _p restart=\"Never\" container_name=\"main\"}}\nend: 1\n",
            &partials,
            &none,
            0,
        )
        .unwrap();
        assert_eq!(
            flat,
            "spec:\n  policy: {{json \"Never\"}}\n  c:\n    -\n      {{!-- a container: container_name --}}\n      name: {{json \"main\"}}\n      image: {{json image}}\nend: 1\n"
        );
        // Not alone on its line, or a hash key used in a block: the blueprint keeps its partials.
        assert_eq!(
            inline_partials("{{> _inline}}\n", &partials, &none, 0),
            None
        );
        assert_eq!(
            inline_partials("{{> _b container_name=\"m\"}}\n", &partials, &none, 0),
            None
        );
        assert_eq!(
            inline_partials("{{> _missing}}\n", &partials, &none, 0),
            None
        );
    }

    /// The flat versions of the embedded blueprints render exactly what the originals do.
    #[test]
    fn embedded_blueprints_have_flat_versions() {
        let b = Blueprints::embedded().unwrap();
        for name in [
            "workflowtemplate",
            "workflow",
            "pytorchjob",
            "tfjob",
            "mpijob",
            "xgboostjob",
            "volcanojob",
            "rayjob",
            "katib-experiment",
            "deployment",
            "inferenceservice",
        ] {
            assert!(b.inlined.contains_key(name), "{name} has no flat version");
        }
    }
}
