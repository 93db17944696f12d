//! Pipelines → Argo WorkflowTemplate; each execution a `Run` asks for → a whole Workflow (its
//! args overrides applied), which the run controller creates when admission lets it (see
//! `crate::runs`). Scheduled executions are Workflows the controller makes from the
//! WorkflowTemplate; no CronWorkflow is rendered. Distributed engines become Argo `resource`
//! steps creating the engine's object.

use super::pod::{ContainerSpec, container, pod, substitute};
use super::stamp::project_labels;
use super::{Out, RenderError, obj};
use crate::model::checks::args::{merge, nodes, with_defaults, workers};
use crate::model::duration::duration_seconds;
use crate::model::kinds::{ClusterSpec, PipelineSpec, TemplateSpec};
use crate::model::{Manifest, Model, Project};
use crate::runs::dates::Cadence;
use crate::runs::due::run_executions;
use crate::runs::naming::{Origin, workflow_name};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub(super) fn render(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    out: &mut Out,
) -> Result<(), RenderError> {
    for p in project.pipelines.values() {
        let source = p.file().to_string();
        let ctx = workflow_context(model, project, cluster, p, &BTreeMap::new(), out)?;
        out.emit(
            "workflowtemplate",
            &source,
            with(
                ctx,
                json!({"name": p.name(), "execution_date": "", "execution_time": ""}),
            ),
        )?;
    }
    for r in project.runs.values() {
        let Some(p) = project.pipelines.get(&r.spec.pipeline) else {
            continue;
        };
        let source = r.file().to_string();
        let ctx = workflow_context(model, project, cluster, p, &r.spec.args, out)?;
        let cadence = cadence_of(&p.spec);
        let origin = Origin::Run(r.name().to_string());
        for e in run_executions(cadence.as_ref(), &r.spec) {
            let name = workflow_name(p.name(), cadence.as_ref(), &e, &origin);
            out.emit(
                "workflow",
                &source,
                with(
                    ctx.clone(),
                    json!({
                        "name": name, "execution_date": e.date().to_string(),
                        "execution_time": e.at.format("%H:%M").to_string(), "pipeline": p.name(),
                    }),
                ),
            )?;
        }
    }
    Ok(())
}

/// A pipeline's parsed schedule, if it has one (validation rejected a bad one already).
pub fn cadence_of(p: &PipelineSpec) -> Option<Cadence> {
    p.schedule.as_ref().and_then(|s| Cadence::new(s).ok())
}

fn with(base: Value, extra: Value) -> Value {
    let mut v = base;
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

/// Context shared by a pipeline's WorkflowTemplate and its Runs' Workflows.
fn workflow_context(
    model: &Model,
    project: &Project,
    cluster: &Manifest<ClusterSpec>,
    p: &Manifest<PipelineSpec>,
    overrides: &BTreeMap<String, Map<String, Value>>,
    out: &Out,
) -> Result<Value, RenderError> {
    let mut labels = project_labels(project.name(), p.file());
    labels["cubist.dev/pipeline"] = json!(p.name());
    let pod_ctx = pod(model, project, &cluster.spec);
    let mut tasks = Vec::new();
    for task in &p.spec.tasks {
        let t = model.template(project, &task.template).ok_or_else(|| {
            out.error(p.file(), format!("template `{}` not found", task.template))
        })?;
        let mut args = with_defaults(
            t.spec.parameters.as_ref(),
            &merge(&task.args, overrides.get(&task.name).unwrap_or(&Map::new())),
        );
        let workers = workers(&args, &t.spec);
        let nodes = nodes(&t.spec.engine, workers);
        args.entry("nodes").or_insert_with(|| json!(nodes));
        let spec = ContainerSpec {
            image: &t.spec.image,
            command: t
                .spec
                .command
                .iter()
                .map(|c| substitute(c, &args))
                .collect(),
            args: t.spec.args.iter().map(|a| substitute(a, &args)).collect(),
            env: vec![
                &project.manifest.spec.env,
                &t.spec.env,
                &p.spec.env,
                &task.env,
            ],
            secret_env: vec![
                &project.manifest.spec.secret_env,
                &t.spec.secret_env,
                &p.spec.secret_env,
            ],
            resources: task
                .resources
                .as_ref()
                .map_or_else(|| t.spec.resources.clone(), |r| r.over(&t.spec.resources)),
            owner: &p.spec.owner,
        };
        let c = container(project, &spec);
        let resource = match t.spec.engine.as_str() {
            "container" => Value::Null,
            engine => {
                let job_ctx = obj([
                    (
                        "generate_name",
                        Value::String(format!("{}-{}-", p.name(), task.name)),
                    ),
                    ("pod_labels", labels.clone()),
                    ("container", c.clone()),
                    ("pod", pod_ctx.clone()),
                    ("workers", json!(workers)),
                    ("replicas", json!(workers + 1)),
                    (
                        "entrypoint",
                        Value::String(shell_join(spec.command.iter().chain(spec.args.iter()))),
                    ),
                ]);
                let (blueprint, job_ctx) = engine_context(engine, &t.spec, job_ctx);
                let manifest = out.json_text(blueprint, p.file(), job_ctx)?;
                let (success, failure) = conditions(engine);
                obj([
                    ("success", json!(success)),
                    ("failure", json!(failure)),
                    ("manifest", Value::String(manifest)),
                ])
            }
        };
        tasks.push(obj([
            ("name", json!(task.name)),
            ("after", json!(task.after)),
            ("retries", json!(task.retries.filter(|r| *r > 0))),
            (
                "timeout_seconds",
                json!(task.timeout.as_deref().and_then(duration_seconds)),
            ),
            ("container", c),
            ("resource", resource),
        ]));
    }
    Ok(obj([
        ("namespace", json!(project.name())),
        ("tasks", Value::Array(tasks)),
        ("pod", pod_ctx),
        ("pod_labels", labels),
        ("parallelism", json!(p.spec.parallelism)),
        (
            "timeout_seconds",
            json!(p.spec.timeout.as_deref().and_then(duration_seconds)),
        ),
    ]))
}

/// The blueprint of an engine and its extra context (Katib's experiment settings).
fn engine_context(engine: &str, t: &TemplateSpec, mut ctx: Value) -> (&'static str, Value) {
    let blueprint = match engine {
        "pytorchjob" => "pytorchjob",
        "tfjob" => "tfjob",
        "mpijob" => "mpijob",
        "xgboostjob" => "xgboostjob",
        "volcano" => "volcanojob",
        "ray" => "rayjob",
        _ => "katib-experiment",
    };
    if blueprint == "katib-experiment" {
        let e = t.experiment.as_ref();
        let mut objective = json!({
            "type": e.map_or("maximize", |e| e.objective.kind.as_str()),
            "objectiveMetricName": e.map_or("accuracy", |e| e.objective.metric.as_str()),
        });
        if let Some(goal) = e.and_then(|e| e.objective.goal) {
            objective["goal"] = json!(goal);
        }
        if let Some(extra) = e
            .map(|e| &e.objective.additional_metrics)
            .filter(|m| !m.is_empty())
        {
            objective["additionalMetricNames"] = json!(extra);
        }
        let search = e.map(|e| e.search.as_slice()).unwrap_or_default();
        let as_str = |v: &Option<Value>| {
            v.as_ref().map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let parameters: Vec<Value> = search
            .iter()
            .map(|s| {
                let mut space = Map::new();
                for (k, v) in [
                    ("min", as_str(&s.min)),
                    ("max", as_str(&s.max)),
                    ("step", as_str(&s.step)),
                ] {
                    if let Some(v) = v {
                        space.insert(k.into(), json!(v));
                    }
                }
                if !s.values.is_empty() {
                    space.insert(
                        "list".into(),
                        json!(
                            s.values
                                .iter()
                                .map(|v| as_str(&Some(v.clone())).unwrap_or_default())
                                .collect::<Vec<_>>()
                        ),
                    );
                }
                json!({"name": s.name, "parameterType": s.kind, "feasibleSpace": space})
            })
            .collect();
        let trial_parameters: Vec<Value> = search
            .iter()
            .map(|s| json!({"name": s.name, "reference": s.name}))
            .collect();
        let o = ctx.as_object_mut().expect("object");
        o.insert("objective".into(), objective);
        o.insert(
            "algorithm".into(),
            json!(e.map_or("random", |e| e.algorithm.as_str())),
        );
        o.insert(
            "parallel_trials".into(),
            json!(e.and_then(|e| e.parallel_trials).unwrap_or(3)),
        );
        o.insert(
            "max_trials".into(),
            json!(e.and_then(|e| e.max_trials).unwrap_or(12)),
        );
        o.insert(
            "max_failed_trials".into(),
            json!(e.and_then(|e| e.max_failed_trials).unwrap_or(3)),
        );
        o.insert("parameters".into(), json!(parameters));
        o.insert("trial_parameters".into(), json!(trial_parameters));
    }
    (blueprint, ctx)
}

/// Argo `successCondition` / `failureCondition` for an engine's object.
fn conditions(engine: &str) -> (&'static str, &'static str) {
    match engine {
        "pytorchjob" | "xgboostjob" => (
            "status.replicaStatuses.Master.succeeded > 0",
            "status.replicaStatuses.Master.failed > 0",
        ),
        "tfjob" => (
            "status.replicaStatuses.Chief.succeeded > 0",
            "status.replicaStatuses.Chief.failed > 0",
        ),
        "mpijob" => (
            "status.replicaStatuses.Launcher.succeeded > 0",
            "status.replicaStatuses.Launcher.failed > 0",
        ),
        "volcano" => (
            "status.state.phase == Completed",
            "status.state.phase in (Failed, Aborted, Terminated)",
        ),
        "ray" => (
            "status.jobStatus == SUCCEEDED",
            "status.jobStatus in (FAILED, STOPPED)",
        ),
        _ => (
            r#"status.conditions.#(type=="Succeeded").status == True"#,
            r#"status.conditions.#(type=="Failed").status == True"#,
        ),
    }
}

/// Joins words into one shell command line, quoting where needed.
fn shell_join<'a>(words: impl Iterator<Item = &'a String>) -> String {
    words
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@{}%+".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
