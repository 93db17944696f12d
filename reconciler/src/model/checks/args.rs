//! Task arguments against their template's `parameters` JSON Schema; errors point into the
//! pipeline (or run) file at the offending argument.

use crate::diag::{Diagnostic, codes};
use crate::model::kinds::TemplateSpec;
use crate::model::schema::{closest, pointer_segments};
use crate::model::{Document, Manifest, Model};
use jsonschema::{Validator, error::ValidationErrorKind};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Compiled `parameters` schemas, one per template document.
#[derive(Default)]
struct Cache(HashMap<(String, usize), Option<Validator>>);

impl Cache {
    fn validator(
        &mut self,
        t: &Manifest<TemplateSpec>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<&Validator> {
        self.0
            .entry((t.file().to_string(), t.doc.index))
            .or_insert_with(|| {
                let schema = t.spec.parameters.clone().unwrap_or_else(|| serde_json::json!({"type": "object"}));
                jsonschema::draft202012::new(&schema)
                    .map_err(|e| {
                        // The error's instance path points into the parameters schema.
                        let inner = e.instance_path().as_str().to_string();
                        let shown = pointer_segments(&inner).join(".");
                        let what = if shown.is_empty() { String::new() } else { format!(" at `{shown}`") };
                        diags.push(
                            Diagnostic::error(
                                codes::PARAMETERS_SCHEMA,
                                &t.at(&format!("spec/parameters{inner}")),
                                format!("parameters of template `{}` are not a valid JSON Schema{what}: {e}", t.name()),
                            )
                            .help("fix `parameters` (JSON Schema 2020-12), e.g. `type` is one of string, integer, number, boolean, object, array, null"),
                        )
                    })
                    .ok()
            })
            .as_ref()
    }
}

pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    let mut cache = Cache::default();
    // Every template's parameters, used or not.
    for t in model
        .templates
        .values()
        .chain(model.projects.values().flat_map(|p| p.templates.values()))
    {
        cache.validator(t, diags);
    }
    for project in model.projects.values() {
        for p in project.pipelines.values() {
            for (i, task) in p.spec.tasks.iter().enumerate() {
                let Some(t) = model.template(project, &task.template) else {
                    continue;
                };
                let Some(v) = cache.validator(t, diags) else {
                    continue;
                };
                let base = format!("spec/tasks/{i}/args");
                report(
                    v,
                    &Value::Object(task.args.clone()),
                    None,
                    t,
                    &task.name,
                    (&p.doc, &base),
                    diags,
                );
            }
        }
        for r in project.runs.values() {
            let Some(p) = project.pipelines.get(&r.spec.pipeline) else {
                continue;
            };
            for (task_name, overrides) in &r.spec.args {
                let base = format!("spec/args/{task_name}");
                let Some(task) = p.spec.tasks.iter().find(|t| &t.name == task_name) else {
                    let names: Vec<String> = p.spec.tasks.iter().map(|t| t.name.clone()).collect();
                    let hint = closest(task_name, &names)
                        .map(|n| format!("did you mean `{n}`? "))
                        .unwrap_or_default();
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_TASK,
                            &r.doc.at_key("spec/args", task_name),
                            format!(
                                "run `{}` overrides args of unknown task `{task_name}`",
                                r.name()
                            ),
                        )
                        .help(format!(
                            "{hint}pipeline `{}` has tasks: {}",
                            p.name(),
                            names.join(", ")
                        )),
                    );
                    continue;
                };
                let Some(t) = model.template(project, &task.template) else {
                    continue;
                };
                let Some(v) = cache.validator(t, diags) else {
                    continue;
                };
                let merged = merge(&task.args, overrides);
                report(
                    v,
                    &Value::Object(merged),
                    Some(overrides),
                    t,
                    task_name,
                    (&r.doc, &base),
                    diags,
                );
            }
        }
    }
}

/// Task args with a run's overrides on top.
pub fn merge(base: &Map<String, Value>, overrides: &Map<String, Value>) -> Map<String, Value> {
    let mut out = base.clone();
    out.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// Reports `args` against a template's parameters, at `(document, path of the args mapping)`.
/// With `overrides` (a run), only what the run itself passes is reported: errors of the
/// pipeline's own args are reported in the pipeline file, once.
fn report(
    v: &Validator,
    args: &Value,
    overrides: Option<&Map<String, Value>>,
    t: &Manifest<TemplateSpec>,
    task: &str,
    (doc, base): (&Document, &str),
    diags: &mut Vec<Diagnostic>,
) {
    if v.is_valid(args) {
        return;
    }
    let template = t.name();
    let declared: Vec<String> = t
        .spec
        .parameters
        .as_ref()
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let overridden = |key: &str| overrides.is_none_or(|o| o.contains_key(key));
    for err in v.iter_errors(args) {
        let path = err.instance_path().as_str().to_string();
        let segments = pointer_segments(&path);
        if segments.first().is_some_and(|k| !overridden(k)) {
            continue; // a value the run does not touch
        }
        let shown = segments.join(".");
        let mut at = doc.at(&format!("{base}{path}"));
        let (message, help) = match err.kind() {
            // Overrides only add arguments: a missing one is missing in the pipeline too.
            ValidationErrorKind::Required { .. } if overrides.is_some() => continue,
            ValidationErrorKind::Required { property } => (
                format!(
                    "task `{task}` is missing argument `{}` required by template `{template}`",
                    property.as_str().unwrap_or_default()
                ),
                format!(
                    "add `{}` under the task's `args`",
                    property.as_str().unwrap_or_default()
                ),
            ),
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let unexpected: Vec<&String> = unexpected
                    .iter()
                    .filter(|u| !path.is_empty() || overridden(u.as_str()))
                    .collect();
                let Some(first) = unexpected.first() else {
                    continue;
                };
                at = doc.at_key(&format!("{base}{path}"), first);
                let hint = closest(first, &declared)
                    .map(|d| format!("did you mean `{d}`? "))
                    .unwrap_or_default();
                let names: Vec<String> = unexpected.iter().map(|u| format!("`{u}`")).collect();
                (
                    format!(
                        "task `{task}` passes argument(s) {} that template `{template}` does not declare",
                        names.join(", ")
                    ),
                    format!(
                        "{hint}remove them or add them to the template's `parameters` (declared: {})",
                        if declared.is_empty() {
                            "none".to_string()
                        } else {
                            declared.join(", ")
                        }
                    ),
                )
            }
            _ => (
                format!("argument `{shown}` of task `{task}`: {err}"),
                format!("give a value that template `{template}`'s parameters accept"),
            ),
        };
        diags.push(Diagnostic::error(codes::ARGS, &at, message).help(help));
    }
}
