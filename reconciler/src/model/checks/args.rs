//! Task arguments against their template's `parameters` JSON Schema; errors point into the
//! pipeline (or run) file at the offending argument.

use crate::diag::{Diagnostic, Location, codes};
use crate::model::kinds::TemplateSpec;
use crate::model::schema::pointer_segments;
use crate::model::{Manifest, Model};
use jsonschema::{Validator, error::ValidationErrorKind};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Compiled `parameters` schemas, one per template document.
#[derive(Default)]
struct Cache(HashMap<(String, usize), Option<Validator>>);

impl Cache {
    fn validator(&mut self, t: &Manifest<TemplateSpec>, diags: &mut Vec<Diagnostic>) -> Option<&Validator> {
        self.0
            .entry((t.file().to_string(), t.doc.index))
            .or_insert_with(|| {
                let schema = t.spec.parameters.clone().unwrap_or_else(|| serde_json::json!({"type": "object"}));
                jsonschema::draft202012::new(&schema)
                    .map_err(|e| {
                        diags.push(
                            Diagnostic::error(codes::PARAMETERS_SCHEMA, &t.at("spec/parameters"), format!("parameters of template `{}` are not a valid JSON Schema: {e}", t.name()))
                                .help("fix `parameters` (JSON Schema 2020-12)"),
                        )
                    })
                    .ok()
            })
            .as_ref()
    }
}

pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    let mut cache = Cache::default();
    for project in model.projects.values() {
        for p in project.pipelines.values() {
            for (i, task) in p.spec.tasks.iter().enumerate() {
                let Some(t) = model.template(project, &task.template) else { continue };
                let Some(v) = cache.validator(t, diags) else { continue };
                let base = format!("spec/tasks/{i}/args");
                report(v, &Value::Object(task.args.clone()), t.name(), &task.name, |path| p.at(&format!("{base}{path}")), diags);
            }
        }
        for r in project.runs.values() {
            let Some(p) = project.pipelines.get(&r.spec.pipeline) else { continue };
            for (task_name, overrides) in &r.spec.args {
                let base = format!("spec/args/{task_name}");
                let Some(task) = p.spec.tasks.iter().find(|t| &t.name == task_name) else {
                    let names: Vec<&str> = p.spec.tasks.iter().map(|t| t.name.as_str()).collect();
                    diags.push(
                        Diagnostic::error(codes::UNKNOWN_TASK, &r.doc.at_key("spec/args", task_name), format!("run `{}` overrides args of unknown task `{task_name}`", r.name()))
                            .help(format!("pipeline `{}` has tasks: {}", p.name(), names.join(", "))),
                    );
                    continue;
                };
                let Some(t) = model.template(project, &task.template) else { continue };
                let Some(v) = cache.validator(t, diags) else { continue };
                let merged = merge(&task.args, overrides);
                report(v, &Value::Object(merged), t.name(), task_name, |path| r.at(&format!("{base}{path}")), diags);
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

fn report(v: &Validator, args: &Value, template: &str, task: &str, at: impl Fn(&str) -> Location, diags: &mut Vec<Diagnostic>) {
    for err in v.iter_errors(args) {
        let path = err.instance_path().as_str().to_string();
        let shown = pointer_segments(&path).join(".");
        let (message, help) = match err.kind() {
            ValidationErrorKind::Required { property } => (
                format!("task `{task}` is missing argument `{}` required by template `{template}`", property.as_str().unwrap_or_default()),
                format!("add `{}` under the task's `args`", property.as_str().unwrap_or_default()),
            ),
            ValidationErrorKind::AdditionalProperties { unexpected } => (
                format!("task `{task}` passes argument(s) {} that template `{template}` does not declare", unexpected.join(", ")),
                "remove them or add them to the template's `parameters`".to_string(),
            ),
            _ => (
                format!("argument `{shown}` of task `{task}`: {err}"),
                format!("give a value that template `{template}`'s parameters accept"),
            ),
        };
        diags.push(Diagnostic::error(codes::ARGS, &at(&path), message).help(help));
    }
}
