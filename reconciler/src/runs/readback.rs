//! What a live Argo Workflow says about its run: phase, times, message and, per task of the
//! DAG (from `status.nodes`), phase, times, retries and message. Every value read is bounded:
//! a Workflow's status is written by the engine, but anyone with access to the cluster can
//! write it too.

use chrono::{DateTime, Utc};
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::TaskRecord;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Longest message kept (characters); longer ones are cut with `…`.
pub const MAX_MESSAGE: usize = 300;
/// Most tasks kept per run.
pub const MAX_TASKS: usize = 200;

/// What one Workflow's status says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// The run's phase (Pending until the engine set one).
    pub phase: RunPhase,
    /// `status.startedAt`.
    pub started: Option<DateTime<Utc>>,
    /// `status.finishedAt`.
    pub finished: Option<DateTime<Utc>>,
    /// `status.message`, bounded.
    pub message: String,
    /// Per task, in start order.
    pub tasks: Vec<TaskRecord>,
}

/// An Argo phase as a run phase (Argo's node phases `Skipped` and `Omitted` are Skipped).
pub fn phase_of(p: Option<&str>) -> RunPhase {
    match p {
        None | Some("") | Some("Pending") => RunPhase::Pending,
        Some("Running") => RunPhase::Running,
        Some("Succeeded") => RunPhase::Succeeded,
        Some("Failed") => RunPhase::Failed,
        Some("Error") => RunPhase::Error,
        Some("Skipped" | "Omitted") => RunPhase::Skipped,
        Some(_) => RunPhase::Unknown,
    }
}

/// Reads a Workflow's status.
pub fn observe(workflow: &Value) -> Observed {
    let status = workflow.get("status").unwrap_or(&Value::Null);
    Observed {
        phase: phase_of(status.get("phase").and_then(Value::as_str)),
        started: time(status.get("startedAt")),
        finished: time(status.get("finishedAt")),
        message: message(status.get("message")),
        tasks: tasks(status.get("nodes")),
    }
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A message, at most [`MAX_MESSAGE`] characters.
pub fn message(v: Option<&Value>) -> String {
    let s = v.and_then(Value::as_str).unwrap_or_default();
    if s.chars().count() <= MAX_MESSAGE {
        return s.to_string();
    }
    s.chars().take(MAX_MESSAGE - 1).chain(['…']).collect()
}

/// True for the display name of one attempt of a retried task (`train(1)`).
fn is_attempt(name: &str) -> bool {
    name.strip_suffix(')')
        .and_then(|s| s.rsplit_once('('))
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The DAG's tasks from `status.nodes`: a `Retry` node is a task whose attempts are its
/// children (retries = attempts - 1); a `Pod` (or `Skipped`/`Suspend`) node that is no retry's
/// attempt is a task without retries. The DAG node itself and attempts are not tasks.
fn tasks(nodes: Option<&Value>) -> Vec<TaskRecord> {
    let Some(nodes) = nodes.and_then(Value::as_object) else {
        return Vec::new();
    };
    let attempts: BTreeSet<&str> = nodes
        .values()
        .filter(|n| n.get("type").and_then(Value::as_str) == Some("Retry"))
        .flat_map(|n| {
            n.get("children")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(Value::as_str)
        .collect();
    let mut out: BTreeMap<String, TaskRecord> = BTreeMap::new();
    for (id, n) in nodes {
        let kind = n.get("type").and_then(Value::as_str).unwrap_or_default();
        let name = n
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(kind, "Retry" | "Pod" | "Skipped" | "Suspend")
            || attempts.contains(id.as_str())
            || is_attempt(name)
            || name.is_empty()
            || out.len() >= MAX_TASKS
        {
            continue;
        }
        let retries = match kind {
            "Retry" => n.get("children").and_then(Value::as_array).map_or(0, |c| {
                c.len().saturating_sub(1).min(u32::MAX as usize) as u32
            }),
            _ => 0,
        };
        let name: String = name.chars().take(MAX_MESSAGE).collect();
        out.insert(
            name.clone(),
            TaskRecord {
                name,
                phase: phase_of(n.get("phase").and_then(Value::as_str)),
                started: time(n.get("startedAt")),
                finished: time(n.get("finishedAt")),
                retries,
                message: message(n.get("message")),
            },
        );
    }
    let mut tasks: Vec<TaskRecord> = out.into_values().collect();
    tasks.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.name.cmp(&b.name)));
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_phase_times_and_tasks_with_retries() {
        let wf = json!({"status": {
            "phase": "Failed",
            "startedAt": "2026-12-01T18:00:05Z",
            "finishedAt": "2026-12-01T18:20:40Z",
            "message": "child 'p-1-2' failed",
            "nodes": {
                "p-1": {"type": "DAG", "displayName": "p-20261202", "phase": "Failed", "children": ["p-2", "p-3"]},
                "p-2": {"type": "Pod", "displayName": "extract", "phase": "Succeeded",
                        "startedAt": "2026-12-01T18:00:06Z", "finishedAt": "2026-12-01T18:05:00Z"},
                "p-3": {"type": "Retry", "displayName": "train", "phase": "Failed",
                        "startedAt": "2026-12-01T18:05:01Z", "finishedAt": "2026-12-01T18:20:39Z",
                        "message": "No more retries left", "children": ["p-4", "p-5", "p-6"]},
                "p-4": {"type": "Pod", "displayName": "train(0)", "phase": "Failed"},
                "p-5": {"type": "Pod", "displayName": "train(1)", "phase": "Failed"},
                "p-6": {"type": "Pod", "displayName": "train(2)", "phase": "Failed"},
                "p-7": {"type": "Skipped", "displayName": "publish", "phase": "Omitted"},
            }
        }});
        let o = observe(&wf);
        assert_eq!(o.phase, RunPhase::Failed);
        assert_eq!(
            (o.finished.unwrap() - o.started.unwrap()).num_seconds(),
            1235
        );
        let t: Vec<(&str, RunPhase, u32)> = o
            .tasks
            .iter()
            .map(|t| (t.name.as_str(), t.phase, t.retries))
            .collect();
        assert_eq!(
            t,
            [
                ("publish", RunPhase::Skipped, 0),
                ("extract", RunPhase::Succeeded, 0),
                ("train", RunPhase::Failed, 2),
            ]
        );
        assert_eq!(o.tasks[2].message, "No more retries left");
    }

    #[test]
    fn a_new_workflow_is_pending_and_hostile_status_is_bounded() {
        assert_eq!(observe(&json!({})).phase, RunPhase::Pending);
        assert_eq!(
            observe(&json!({"status": {"phase": "Exploded"}})).phase,
            RunPhase::Unknown
        );
        let long = "x".repeat(10_000);
        let mut nodes = serde_json::Map::new();
        for i in 0..1000 {
            nodes.insert(
                format!("n{i}"),
                json!({"type": "Pod", "displayName": format!("t{i}{long}"), "message": long}),
            );
        }
        nodes.insert(
            "bad".into(),
            json!({"type": "Retry", "displayName": 7, "children": "no"}),
        );
        let o = observe(
            &json!({"status": {"message": long, "startedAt": "yesterday", "nodes": nodes}}),
        );
        assert_eq!(o.message.chars().count(), MAX_MESSAGE);
        assert_eq!(o.tasks.len(), MAX_TASKS);
        assert!(
            o.tasks.iter().all(|t| t.name.chars().count() <= MAX_MESSAGE
                && t.message.chars().count() <= MAX_MESSAGE)
        );
        assert_eq!(o.started, None);
    }
}
