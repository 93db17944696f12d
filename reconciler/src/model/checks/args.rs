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
    node_counts(model, diags);
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

/// Task args completed with the defaults of the template's parameters.
pub fn with_defaults(parameters: Option<&Value>, args: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(props) = parameters
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object)
    {
        for (k, schema) in props {
            if let Some(d) = schema.get("default") {
                out.insert(k.clone(), d.clone());
            }
        }
    }
    out.extend(args.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// Worker replicas of a task: its `workers` argument, else the template's `workers`, else 1.
pub fn workers(args: &Map<String, Value>, t: &TemplateSpec) -> u64 {
    args.get("workers")
        .and_then(Value::as_u64)
        .or(t.workers.map(u64::from))
        .unwrap_or(1)
}

/// The pods that run an engine's program, which templates get as `{{nodes}}`: the master (or
/// chief, or head) and the workers for PyTorchJob, TFJob, XGBoostJob, Volcano and RayJob; the
/// workers for MPIJob (its launcher only starts `mpirun`; one slot per worker); 1 otherwise.
pub fn nodes(engine: &str, workers: u64) -> u64 {
    match engine {
        "pytorchjob" | "tfjob" | "xgboostjob" | "volcano" | "ray" => workers + 1,
        "mpijob" => workers,
        _ => 1,
    }
}

/// The flags through which a program of `engine` is told a node count, and what they count:
/// torchrun's `--nnodes` the nodes; mpirun's and horovodrun's `-np`/`-n`/`--num-proc` the
/// processes (one slot per worker). TFJob, XGBoostJob and RayJob programs learn their peers from
/// the operator (TF_CONFIG; WORLD_SIZE, RANK and MASTER_ADDR; the Ray head), not from a flag.
fn count_flags(engine: &str) -> &'static [&'static str] {
    match engine {
        "pytorchjob" => &["--nnodes"],
        "mpijob" => &["-np", "-n", "--np", "--num-proc"],
        _ => &[],
    }
}

/// The node counts `words` state through `flags` (`--flag=N` or `--flag N`), each with the
/// index of the word holding it; `{{param}}` values are looked up in `args`. Ranges (`1:4`)
/// and values from the environment are not counts cubist can compare.
fn stated_counts(words: &[String], flags: &[&str], args: &Map<String, Value>) -> Vec<(usize, u64)> {
    let value = |text: &str| -> Option<u64> {
        let text = text.trim();
        match text.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) {
            Some(name) => args.get(name.trim()).and_then(|v| match v {
                Value::String(s) => s.trim().parse().ok(),
                v => v.as_u64(),
            }),
            None => text.parse().ok(),
        }
    };
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        for flag in flags {
            if w == flag {
                if let Some(n) = words.get(i + 1).and_then(|next| value(next)) {
                    out.push((i + 1, n));
                }
            } else if let Some(n) = w
                .strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
                .and_then(value)
            {
                out.push((i, n));
            }
        }
    }
    out
}

/// Warns where a template's command or args state a node count other than the pods its engine
/// starts for a task (with the task's args, and each run's overrides).
fn node_counts(model: &Model, diags: &mut Vec<Diagnostic>) {
    let empty = Map::new();
    for project in model.projects.values() {
        for p in project.pipelines.values() {
            let runs = project
                .runs
                .values()
                .filter(|r| r.spec.pipeline == p.name())
                .flat_map(|r| r.spec.args.iter().map(move |(task, o)| (Some(r), task, o)));
            let own = p.spec.tasks.iter().map(|t| (None, &t.name, &empty));
            for (run, task_name, overrides) in own.chain(runs) {
                let Some((i, task)) = p
                    .spec
                    .tasks
                    .iter()
                    .enumerate()
                    .find(|(_, t)| &t.name == task_name)
                else {
                    continue;
                };
                let Some(t) = model.template(project, &task.template) else {
                    continue;
                };
                let flags = count_flags(&t.spec.engine);
                if flags.is_empty() || (run.is_some() && !overrides.contains_key("workers")) {
                    continue;
                }
                let mut args =
                    with_defaults(t.spec.parameters.as_ref(), &merge(&task.args, overrides));
                let workers = workers(&args, &t.spec);
                let expected = nodes(&t.spec.engine, workers);
                args.entry("nodes").or_insert_with(|| Value::from(expected));
                let words: Vec<String> =
                    t.spec.command.iter().chain(&t.spec.args).cloned().collect();
                for (_, stated) in stated_counts(&words, flags, &args) {
                    if stated == expected {
                        continue;
                    }
                    let at = match run {
                        Some(r) => r.doc.at_key(&format!("spec/args/{task_name}"), "workers"),
                        None => p.doc.at(&format!("spec/tasks/{i}/template")),
                    };
                    let pods = match t.spec.engine.as_str() {
                        "mpijob" => format!("{workers} worker(s), one slot each"),
                        _ => format!("{expected} pods (1 master + {workers} worker(s))"),
                    };
                    diags.push(
                        Diagnostic::warning(
                            codes::NODE_COUNT,
                            &at,
                            format!(
                                "task `{task_name}` runs template `{}` ({}) with a node count of {stated}, but the engine starts {pods}",
                                t.name(),
                                t.spec.engine
                            ),
                        )
                        .help(format!(
                            "in the template's args, use `{{{{nodes}}}}` ({expected} here) for the node count; `{{{{workers}}}}` counts worker replicas only"
                        )),
                    );
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts come from `--flag=N`, `--flag N` and `{{param}}` values; ranges and environment
    /// values are not compared.
    #[test]
    fn stated_counts_read_flags_and_placeholders() {
        let words: Vec<String> = [
            "--nnodes={{workers}}",
            "-np",
            "{{nodes}}",
            "--nnodes=1:4",
            "--nnodes",
            "$(PET_NNODES)",
            "--nnodesx=9",
            "-n",
            "6",
        ]
        .map(String::from)
        .to_vec();
        let args: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"workers": 3, "nodes": "4"})).unwrap();
        assert_eq!(
            stated_counts(&words, count_flags("pytorchjob"), &args),
            vec![(0, 3)]
        );
        assert_eq!(
            stated_counts(&words, count_flags("mpijob"), &args),
            vec![(2, 4), (8, 6)]
        );
        assert!(stated_counts(&words, count_flags("tfjob"), &args).is_empty());
        assert_eq!(nodes("pytorchjob", 3), 4);
        assert_eq!(nodes("mpijob", 3), 3);
        assert_eq!(nodes("container", 3), 1);
    }
}
