//! The body of a run Workflow the controller creates: a scheduled execution runs the pipeline's
//! WorkflowTemplate (`workflowTemplateRef` with the `execution_date` and `execution_time`
//! parameters); a `Run` manifest's execution is the whole Workflow render made for it (its args
//! overrides applied). Metadata (name, labels, annotations) comes from [`super::naming`]. No
//! `ttlStrategy` is set: Argo's own garbage collection applies, and the records keep the run.

use super::admission::At;
use super::naming::{self, Origin};
use serde_json::{Value, json};

/// The Workflow of one run: `spec` is `None` for a scheduled execution (the WorkflowTemplate's
/// reference is used), the rendered Workflow's spec for a `Run`'s.
pub fn body(
    project: &str,
    pipeline: &str,
    name: &str,
    at: At,
    origin: &Origin,
    attempt: u32,
    spec: Option<&Value>,
) -> Value {
    let spec = spec.cloned().unwrap_or_else(|| {
        json!({
            "workflowTemplateRef": {"name": pipeline},
            "arguments": {"parameters": [
                {"name": "execution_date", "value": at.date_naive().to_string()},
                {"name": "execution_time", "value": at.format("%H:%M").to_string()},
            ]},
        })
    });
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "namespace": project,
            "labels": naming::labels(project, pipeline, &at, origin),
            "annotations": naming::annotations(&at, attempt),
        },
        "spec": spec,
    })
}

/// True for a Workflow render made for a `Run` manifest: on a Kubernetes cluster the run
/// controller creates it when admitted; it is never applied.
pub fn is_run(o: &crate::render::RenderedObject) -> bool {
    let [api_version, kind, _, _] = o.key_parts();
    kind == "Workflow" && api_version == "argoproj.io/v1alpha1"
}
