//! The blueprint engine: handlebars in strict mode over the templates in `blueprints/`.
//!
//! Blueprints are YAML with `{{json value}}` for every inserted value: JSON is valid YAML flow
//! syntax, so inserted strings can never break the document or inject fields. A value a
//! blueprint uses that is not in its context is an error, in helpers too (see [`helpers`]).
//!
//! Fast path: while rendering, `{{json value}}` writes a placeholder scalar and keeps the value
//! aside; the (small) YAML skeleton is parsed straight into JSON and the placeholders are
//! replaced by the kept values, so inserted values are never printed and parsed back; values of
//! the context are moved into the object rather than copied. Anything the fast path cannot take
//! exactly (a placeholder inside a longer scalar or used as a key, anchors, duplicate keys, a
//! YAML error, a render error) renders again on the slow path, which gives the same result or the
//! same error. Skeletons repeat (the same blueprint with the same shape of context renders the
//! same text), so parsed skeletons are cached by their text.
//!
//! The fast path also renders each blueprint with its partials written out in place (see
//! [`inline_partials`]). A blueprint whose text depends only on the shape of its context (see
//! [`shape`]) renders once per shape: the skeleton and where its values come from are kept, and
//! every further context of that shape fills them without handlebars.

use super::helpers::{self, Fill, with_placeholders};
use super::inline::inline_partials;
use super::shape;
use super::skeleton::{self, Skeleton};
use crate::model::yaml::parse_documents;
use handlebars::{Context, Handlebars, RenderErrorReason};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Most skeletons (and most recipes) kept; a cache starts over when full.
const MAX_SKELETONS: usize = 4096;

/// A skeleton and how to fill it, kept for one blueprint and one shape of context.
struct Recipe {
    skeleton: Arc<Skeleton>,
    fill: Fill,
}

/// A cache of values that are costly to make, keyed by text hashed with foldhash (not
/// SipHash: each lookup hashes a whole rendered text or shape).
type Cache<K, V> = Mutex<HashMap<K, Arc<V>, foldhash::fast::RandomState>>;

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
    ("role", include_str!("../../../blueprints/role.yaml.hbs")),
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
    (
        "httproute",
        include_str!("../../../blueprints/httproute.yaml.hbs"),
    ),
    (
        "virtualservice",
        include_str!("../../../blueprints/virtualservice.yaml.hbs"),
    ),
];

/// A compiled set of blueprints.
pub struct Blueprints {
    hb: Handlebars<'static>,
    /// Parsed skeletons by their rendered text.
    skeletons: Cache<String, Skeleton>,
    /// Recipes by blueprint name and shape of context.
    recipes: Cache<Vec<u8>, Recipe>,
    /// Blueprints whose fast text depends only on the shape of the context.
    by_shape: HashSet<String>,
    /// Blueprint name → name of its version with partials written out.
    inlined: HashMap<String, String>,
    /// Placeholders, skeleton cache and flat versions; off only to test them against the slow path.
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
        helpers::register(&mut hb);
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
        let mut by_shape = HashSet::new();
        for (name, text) in texts.iter().filter(|(n, _)| !n.starts_with('_')) {
            let mut fast_text = text.as_str();
            let flat = inline_partials(text, &partials, &HashMap::new(), 0);
            if let Some(flat) = flat.as_ref().filter(|flat| *flat != text) {
                let flat_name = format!("{name}{INLINED}");
                // A flat version that does not compile just means: no fast path for this one.
                if hb.register_template_string(&flat_name, flat).is_ok() {
                    inlined.insert(name.clone(), flat_name);
                    fast_text = flat;
                }
            }
            if shape::is_shape_determined(fast_text) {
                by_shape.insert(name.clone());
            }
        }
        Ok(Blueprints {
            hb,
            skeletons: Mutex::default(),
            recipes: Mutex::default(),
            by_shape,
            inlined,
            fast: true,
        })
    }

    /// The embedded blueprints rendered only on the slow path (every value printed and parsed).
    #[cfg(test)]
    pub(crate) fn embedded_slow_path() -> Self {
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
        if !self.fast {
            return self.render_exact(name, &context);
        }
        match self.render_fast(name, context) {
            Ok(v) => Ok(v),
            Err(context) => self.render_exact(name, &context),
        }
    }

    /// Placeholders for inserted values; gives the context back when the result must come from
    /// [`Self::render_exact`].
    fn render_fast(&self, name: &str, mut context: Context) -> Result<Value, Context> {
        let (key, recipe) = self.recipe(name, context.data());
        if let Some(recipe) = recipe {
            return Ok(recipe
                .skeleton
                .instantiate(recipe.fill.values(&mut context)));
        }
        let flat = self.inlined.get(name).map_or(name, String::as_str);
        let (text, inserted) =
            with_placeholders(&context, || self.hb.render_with_context(flat, &context));
        // A failing render is redone on the slow path, whose error names the blueprint as written.
        let Ok(text) = text else { return Err(context) };
        let Some(skeleton) = self.skeleton(text) else {
            return Err(context);
        };
        if skeleton.slots() != inserted.len() {
            return Err(context);
        }
        let Some(fill) = Fill::new(inserted, context.data()) else {
            return Err(context);
        };
        let value = skeleton.instantiate(fill.values(&mut context));
        if let Some(key) = key.filter(|_| fill.is_reusable()) {
            keep(&self.recipes, key, Arc::new(Recipe { skeleton, fill }));
        }
        Ok(value)
    }

    /// [`Self::render_owned`]'s object as compact JSON text, as `serde_json::to_string` writes
    /// it; from a kept recipe, the object is written without being built.
    pub fn render_json_text(&self, name: &str, context: Value) -> anyhow::Result<String> {
        if let (true, (_, Some(recipe))) = (self.fast, self.recipe(name, &context)) {
            let context = Context::from(context);
            return Ok(recipe.skeleton.to_json_text(&recipe.fill.refs(&context)));
        }
        Ok(super::json_text::to_string(
            &self.render_owned(name, context)?,
        ))
    }

    /// The shape key of a context for blueprint `name` (for blueprints rendered per shape), and
    /// the recipe kept for it, if any.
    fn recipe(&self, name: &str, context: &Value) -> (Option<Vec<u8>>, Option<Arc<Recipe>>) {
        let key = self
            .by_shape
            .contains(name)
            .then(|| shape::key(name, context));
        let recipe = key
            .as_ref()
            .and_then(|k| cached(&self.recipes, k.as_slice()));
        (key, recipe)
    }

    /// The parsed skeleton of a rendered text, from the cache if it was seen before.
    fn skeleton(&self, text: String) -> Option<Arc<Skeleton>> {
        if let Some(s) = cached(&self.skeletons, text.as_str()) {
            return Some(s);
        }
        let skeleton = Arc::new(skeleton::parse(&text)?);
        keep(&self.skeletons, text, skeleton.clone());
        Some(skeleton)
    }

    /// Renders with inserted values printed as JSON and parses the whole text.
    fn render_exact(&self, name: &str, context: &Context) -> anyhow::Result<Value> {
        let text = self
            .hb
            .render_with_context(name, context)
            .map_err(|e| anyhow::anyhow!(render_error(name, &e)))?;
        let docs = parse_documents(&format!("blueprints/{name}.yaml.hbs"), &text).map_err(|d| {
            anyhow::anyhow!(
                "blueprint `{name}` produced invalid YAML at line {}: {}\n{text}",
                d.line,
                d.message
            )
        })?;
        let count = docs.len();
        match <[_; 1]>::try_from(docs) {
            Ok([one]) => Ok(one.json),
            Err(_) => {
                anyhow::bail!("blueprint `{name}` must produce exactly one object, got {count}")
            }
        }
    }
}

/// The value a cache holds for `key`.
fn cached<K, Q, V>(cache: &Cache<K, V>, key: &Q) -> Option<Arc<V>>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache.get(key).cloned()
}

/// Keeps a value in a cache, emptying the cache first when it is full.
fn keep<K: std::hash::Hash + Eq, V>(cache: &Cache<K, V>, key: K, value: Arc<V>) {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= MAX_SKELETONS {
        cache.clear();
    }
    cache.insert(key, value);
}

/// A render error of blueprint `name` in words: where (the partial, if the error is in one),
/// and for a missing value, which one.
fn render_error(name: &str, e: &handlebars::RenderError) -> String {
    let partial = e
        .template_name
        .as_deref()
        .filter(|t| *t != name)
        .map(|t| format!(" in partial `{t}`"))
        .unwrap_or_default();
    let at = match (e.line_no, e.column_no) {
        (Some(line), Some(col)) => format!(" at line {line}, column {col}"),
        _ => String::new(),
    };
    match e.reason() {
        RenderErrorReason::MissingVariable(value) => format!(
            "blueprint `{name}` failed{partial}{at}: {} is not in its context; every value a blueprint uses must be in its context",
            value
                .as_deref()
                .map_or("a value".to_string(), |v| format!("`{v}`"))
        ),
        reason => format!("blueprint `{name}` failed{partial}{at}: {reason}"),
    }
}

/// Suffix of the names of blueprints with their partials written out.
const INLINED: &str = "#inlined";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn blueprints(texts: &[(&str, &str)]) -> Blueprints {
        Blueprints::from_texts(texts.iter().map(|(n, t)| (n.to_string(), t.to_string()))).unwrap()
    }

    /// The fast path and the exact path agree, whether inserted values are moved out of the
    /// context, copied (used twice, or inside another inserted value) or scalars.
    #[test]
    fn fast_and_exact_paths_agree() {
        let b = blueprints(&[
            (
                "t",
                "a: {{json x}}\nb: [{{json y}}, 2, 1.5, true, ~, '3', 0x10]\nc:\n  - {{json z}}\n  - k: {{json x}}\n",
            ),
            (
                "shared",
                "a: {{json y}}\nb: {{json y.m}}\nc: {{json w}}\nd: {{json w}}\ne: {{json v}}\n",
            ),
            ("inline", "a: pre {{json n}}\n"),
            ("key", "{{json k}}: 1\n"),
        ]);
        let ctx = json!({"x": "yes: no # {not}", "y": {"m": [1, null]}, "z": 7, "n": 3, "k": "key",
            "w": {"p": 1}, "v": [{"q": [2]}]});
        let fast = |name: &str| b.render_fast(name, Context::from(ctx.clone())).ok();
        let exact = |name: &str| b.render_exact(name, &Context::from(ctx.clone())).unwrap();
        let t = fast("t").expect("fast path");
        assert_eq!(t, exact("t"));
        assert_eq!(
            t,
            json!({"a": "yes: no # {not}", "b": [{"m": [1, null]}, 2, 1.5, true, null, "3", 16], "c": [7, {"k": "yes: no # {not}"}]})
        );
        // Again, from the cache.
        assert_eq!(fast("t").expect("cached"), t);
        assert_eq!(b.skeletons.lock().unwrap().len(), 1);
        // A context of the same shape fills the kept recipe; another shape renders again.
        let same_shape = json!({"x": "other", "y": {"m": [5, null]}, "z": 8, "n": 1, "k": "k2",
            "w": {"p": 2}, "v": [{"q": [3]}]});
        let other_shape = json!({"x": "", "y": {"m": [5]}, "z": 8, "n": 1, "k": "k2",
            "w": {"p": 2}, "v": []});
        for ctx in [same_shape, other_shape] {
            let fast = b.render_fast("t", Context::from(ctx.clone())).ok();
            assert_eq!(
                fast,
                Some(b.render_exact("t", &Context::from(ctx)).unwrap())
            );
        }
        assert_eq!(b.recipes.lock().unwrap().len(), 2);
        // JSON text from a recipe is what serde_json writes of the rendered object.
        let esc = blueprints(&[(
            "esc",
            "'k\"é': {{json x}}\nlit: \"tab\\t\"\nn: [1.5, {{json y}}]\n",
        )]);
        for x in [json!("a\"b\\c\u{1}"), json!({"é": [null, true]})] {
            let ctx = json!({"x": x, "y": -3});
            let value = esc.render("esc", &ctx).unwrap();
            let text = esc.render_json_text("esc", ctx).unwrap();
            assert_eq!(text, serde_json::to_string(&value).unwrap());
        }
        assert_eq!(esc.recipes.lock().unwrap().len(), 2);
        let shared = fast("shared").expect("fast path");
        assert_eq!(shared, exact("shared"));
        assert_eq!(
            shared,
            json!({"a": {"m": [1, null]}, "b": [1, null], "c": {"p": 1}, "d": {"p": 1}, "e": [{"q": [2]}]})
        );
        // A placeholder inside a longer scalar, or as a key, falls back to the exact path.
        assert_eq!(fast("inline"), None);
        assert_eq!(b.render("inline", &ctx).unwrap(), json!({"a": "pre 3"}));
        assert_eq!(fast("key"), None);
        assert_eq!(b.render("key", &ctx).unwrap(), json!({"key": 1}));
    }

    /// A value that is not in the context fails the render, in a helper parameter too, with the
    /// blueprint, the line and the value; the fast path reports the error of the slow path.
    #[test]
    fn a_missing_value_fails_with_its_name_and_line() {
        let texts = [
            ("_part", "x: 1\ny: {{json gone}}\n"),
            ("plain", "a: 1\nb: {{missing}}\n"),
            ("json", "a: 1\nb:\n  c: {{json nosuchfield}}\n"),
            ("nested", "a: {{json x.nosuch}}\n"),
            ("if", "{{#if nosuch}}\na: 1\n{{/if}}\nb: 2\n"),
            ("unless", "{{#unless nosuch}}\na: 1\n{{/unless}}\nb: 2\n"),
            ("each", "a:\n{{#each list}}\n  - {{json name}}\n{{/each}}\n"),
            ("partial", "a:\n  {{> _part}}\n"),
        ];
        let engines = [
            blueprints(&texts),
            Blueprints {
                fast: false,
                ..blueprints(&texts)
            },
        ];
        let ctx = json!({"x": {"y": 1}, "list": [{"name": "n"}, {"nom": "typo"}]});
        for (name, expected) in [
            (
                "plain",
                "blueprint `plain` failed at line 2, column 4: `missing` is not in its context",
            ),
            (
                "json",
                "blueprint `json` failed at line 3, column 6: `nosuchfield` is not in its context",
            ),
            (
                "nested",
                "blueprint `nested` failed at line 1, column 4: `x.nosuch` is not in its context",
            ),
            (
                "if",
                "blueprint `if` failed at line 1, column 1: `nosuch` is not in its context",
            ),
            (
                "unless",
                "blueprint `unless` failed at line 1, column 1: `nosuch` is not in its context",
            ),
            (
                "each",
                "blueprint `each` failed at line 3, column 5: `name` is not in its context",
            ),
            (
                "partial",
                "blueprint `partial` failed in partial `_part` at line 2, column 4: `gone` is not in its context",
            ),
        ] {
            for engine in &engines {
                let err = engine.render(name, &ctx).unwrap_err().to_string();
                assert!(
                    err.starts_with(expected),
                    "{name} (fast: {}): {err}",
                    engine.fast
                );
            }
        }
        // Present but null or empty is a value: false for `if`, `null` for `json`.
        let b = blueprints(&[(
            "ok",
            "{{#if n}}\na: 1\n{{/if}}\nb: {{json n}}\nc: {{json e}}\n",
        )]);
        assert_eq!(
            b.render("ok", &json!({"n": null, "e": []})).unwrap(),
            json!({"b": null, "c": []})
        );
    }

    /// The embedded blueprints have flat versions, and each renders once per shape of context.
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
        for (name, _) in BLUEPRINTS.iter().filter(|(n, _)| !n.starts_with('_')) {
            assert!(b.by_shape.contains(*name), "{name} renders once per shape");
        }
    }
}
