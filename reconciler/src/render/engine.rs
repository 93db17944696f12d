//! The blueprint engine: handlebars in strict mode over the templates in `blueprints/`.
//!
//! Blueprints are YAML with `{{json value}}` for every inserted value: JSON is valid YAML flow
//! syntax, so inserted strings can never break the document or inject fields.

use crate::model::yaml::parse_documents;
use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason};
use serde_json::Value;
use std::path::Path;

/// The blueprints shipped in the binary: (name, text). Names starting with `_` are partials.
pub const BLUEPRINTS: &[(&str, &str)] = &[
    ("_container", include_str!("../../../blueprints/_container.yaml.hbs")),
    ("_pod-spec", include_str!("../../../blueprints/_pod-spec.yaml.hbs")),
    ("_workflow-spec", include_str!("../../../blueprints/_workflow-spec.yaml.hbs")),
    ("namespace", include_str!("../../../blueprints/namespace.yaml.hbs")),
    ("serviceaccount", include_str!("../../../blueprints/serviceaccount.yaml.hbs")),
    ("rolebinding", include_str!("../../../blueprints/rolebinding.yaml.hbs")),
    ("resourcequota", include_str!("../../../blueprints/resourcequota.yaml.hbs")),
    ("limitrange", include_str!("../../../blueprints/limitrange.yaml.hbs")),
    ("workflowtemplate", include_str!("../../../blueprints/workflowtemplate.yaml.hbs")),
    ("cronworkflow", include_str!("../../../blueprints/cronworkflow.yaml.hbs")),
    ("workflow", include_str!("../../../blueprints/workflow.yaml.hbs")),
    ("pytorchjob", include_str!("../../../blueprints/pytorchjob.yaml.hbs")),
    ("tfjob", include_str!("../../../blueprints/tfjob.yaml.hbs")),
    ("mpijob", include_str!("../../../blueprints/mpijob.yaml.hbs")),
    ("xgboostjob", include_str!("../../../blueprints/xgboostjob.yaml.hbs")),
    ("volcanojob", include_str!("../../../blueprints/volcanojob.yaml.hbs")),
    ("rayjob", include_str!("../../../blueprints/rayjob.yaml.hbs")),
    ("katib-experiment", include_str!("../../../blueprints/katib-experiment.yaml.hbs")),
    ("inferenceservice", include_str!("../../../blueprints/inferenceservice.yaml.hbs")),
    ("deployment", include_str!("../../../blueprints/deployment.yaml.hbs")),
    ("service", include_str!("../../../blueprints/service.yaml.hbs")),
    ("hpa", include_str!("../../../blueprints/hpa.yaml.hbs")),
];

/// A compiled set of blueprints.
pub struct Blueprints {
    hb: Handlebars<'static>,
}

impl Blueprints {
    /// The embedded blueprints.
    pub fn embedded() -> anyhow::Result<Self> {
        Self::from_texts(BLUEPRINTS.iter().map(|(n, t)| (n.to_string(), t.to_string())))
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
        for (name, text) in texts {
            if name.starts_with('_') {
                hb.register_partial(&name, text)
            } else {
                hb.register_template_string(&name, text)
            }
            .map_err(|e| anyhow::anyhow!("blueprint `{name}` does not compile: {e}"))?;
        }
        Ok(Blueprints { hb })
    }

    /// Renders one blueprint with `context` and parses the YAML result into one object.
    pub fn render(&self, name: &str, context: &Value) -> anyhow::Result<Value> {
        let text = self
            .hb
            .render(name, context)
            .map_err(|e| anyhow::anyhow!("blueprint `{name}` failed: {e}; every value a blueprint uses must be in its context"))?;
        let docs = parse_documents(&format!("blueprints/{name}.yaml.hbs"), &text)
            .map_err(|d| anyhow::anyhow!("blueprint `{name}` produced invalid YAML at line {}: {}\n{text}", d.line, d.message))?;
        match docs.as_slice() {
            [one] => Ok(one.to_json()),
            _ => anyhow::bail!("blueprint `{name}` must produce exactly one object, got {}", docs.len()),
        }
    }
}

/// `{{json value}}`: the value as compact JSON (a YAML-safe scalar, list or map).
fn json_helper(h: &Helper, _: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let param = h.param(0).ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
    let text = serde_json::to_string(param.value()).map_err(|e| RenderErrorReason::Other(e.to_string()))?;
    out.write(&text)?;
    Ok(())
}
