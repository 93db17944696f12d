//! Health of a live object, per kind, from its status alone (pure functions).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Running as desired, or finished successfully.
    Healthy,
    /// Not there yet: rolling out, pending, running.
    Progressing,
    /// Failed, or cannot make progress.
    Degraded,
    /// Not known: missing, not served, or a status cubist cannot read.
    Unknown,
}

/// Health of one object, with a short explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Overall health.
    pub status: HealthStatus,
    /// Why, for people (`2/3 replicas available`, `phase Failed: child pod OOMKilled`).
    pub message: String,
}

impl Health {
    fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Health {
            status,
            message: message.into(),
        }
    }
    /// Healthy, with a message.
    pub fn healthy(message: impl Into<String>) -> Self {
        Health::new(HealthStatus::Healthy, message)
    }
    /// Progressing, with a message.
    pub fn progressing(message: impl Into<String>) -> Self {
        Health::new(HealthStatus::Progressing, message)
    }
    /// Degraded, with a message.
    pub fn degraded(message: impl Into<String>) -> Self {
        Health::new(HealthStatus::Degraded, message)
    }
    /// Unknown, with a message.
    pub fn unknown(message: impl Into<String>) -> Self {
        Health::new(HealthStatus::Unknown, message)
    }
}

/// Health of a live object of `kind` (the full object: apiVersion, metadata, spec, status).
pub fn health_of(kind: &str, obj: &Value) -> Health {
    let group = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|a| a.rsplit_once('/'))
        .map_or("", |(g, _)| g);
    let status = obj.get("status").unwrap_or(&Value::Null);
    match (group, kind) {
        ("apps", "Deployment" | "StatefulSet") => deployment(obj, status),
        ("serving.kserve.io", "InferenceService") => ready_condition(status, "InferenceService"),
        ("argoproj.io", "Workflow") => workflow(status),
        ("argoproj.io", "CronWorkflow") => cron_workflow(obj, status),
        (
            "kubeflow.org",
            "PyTorchJob" | "TFJob" | "MPIJob" | "XGBoostJob" | "PaddleJob" | "JAXJob",
        ) => training_job(status),
        ("kubeflow.org", "Experiment") => katib_experiment(status),
        ("ray.io", "RayJob") => ray_job(status),
        ("batch.volcano.sh", "Job") => volcano_job(status),
        ("batch", "Job") => batch_job(status),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            match condition(status, "Established") {
                Some(("True", _, _)) => Health::healthy("established"),
                _ => Health::progressing("waiting to be established"),
            }
        }
        _ => generic(status),
    }
}

/// `(status, reason, message)` of the condition of this type.
fn condition<'a>(status: &'a Value, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let c = status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?;
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
    Some((s("status"), s("reason"), s("message")))
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// `reason: message`, or whichever is there.
fn because(reason: &str, message: &str) -> String {
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_string(),
        (true, false) => message.to_string(),
        (true, true) => String::new(),
    }
}

fn with_detail(head: &str, detail: &str) -> String {
    if detail.is_empty() {
        head.to_string()
    } else {
        format!("{head} ({detail})")
    }
}

fn deployment(obj: &Value, status: &Value) -> Health {
    let want = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if int(status, "observedGeneration").unwrap_or(0) < generation {
        return Health::progressing("waiting for the controller to observe the new spec");
    }
    if let Some(("False", reason, message)) = condition(status, "Progressing")
        && reason == "ProgressDeadlineExceeded"
    {
        return Health::degraded(because(reason, message));
    }
    let available = int(status, "availableReplicas").unwrap_or(0);
    let updated = int(status, "updatedReplicas").unwrap_or(0);
    let msg = format!("{available}/{want} replicas available");
    if updated < want {
        Health::progressing(format!("{updated}/{want} replicas updated, {msg}"))
    } else if available < want {
        Health::progressing(msg)
    } else {
        Health::healthy(msg)
    }
}

fn ready_condition(status: &Value, what: &str) -> Health {
    match condition(status, "Ready") {
        Some(("True", _, _)) => Health::healthy(format!("{what} is ready")),
        Some(("False", reason, message)) => Health::degraded(with_detail(
            &format!("{what} is not ready"),
            &because(reason, message),
        )),
        Some((_, reason, message)) => Health::progressing(with_detail(
            &format!("{what} is becoming ready"),
            &because(reason, message),
        )),
        None => Health::progressing(format!("{what} has no Ready condition yet")),
    }
}

fn workflow(status: &Value) -> Health {
    let message = str_at(status, "/message").unwrap_or_default();
    match str_at(status, "/phase").unwrap_or_default() {
        "Succeeded" => Health::healthy("workflow succeeded"),
        p @ ("Failed" | "Error") => Health::degraded(with_detail(
            &format!("workflow {}", p.to_lowercase()),
            message,
        )),
        "Running" => Health::progressing(with_detail(
            "workflow running",
            str_at(status, "/progress").unwrap_or_default(),
        )),
        "Pending" => Health::progressing(with_detail("workflow pending", message)),
        "" => Health::progressing("waiting for the workflow controller"),
        other => Health::unknown(format!("workflow phase {other}")),
    }
}

fn cron_workflow(obj: &Value, status: &Value) -> Health {
    for kind in ["SpecError", "SubmissionError"] {
        if let Some(("True", _, message)) = condition(status, kind) {
            return Health::degraded(with_detail(kind, message));
        }
    }
    let active = status
        .get("active")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let suspended = obj
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let last = str_at(status, "/lastScheduledTime");
    let mut msg = match last {
        Some(t) => format!("last scheduled {t}, {active} active"),
        None => format!("not scheduled yet, {active} active"),
    };
    if suspended {
        msg.push_str(", suspended");
    }
    if let Some(failed) = int(status, "failed").filter(|n| *n > 0) {
        msg.push_str(&format!(", {failed} failed"));
    }
    Health::healthy(msg)
}

/// Kubeflow training jobs: the newest true condition among Created/Running/Restarting/Succeeded/Failed.
fn training_job(status: &Value) -> Health {
    if let Some(("True", reason, message)) = condition(status, "Failed") {
        return Health::degraded(with_detail("job failed", &because(reason, message)));
    }
    if let Some(("True", _, _)) = condition(status, "Succeeded") {
        return Health::healthy("job succeeded");
    }
    for (kind, what) in [
        ("Restarting", "job restarting"),
        ("Running", "job running"),
        ("Created", "job created"),
    ] {
        if let Some(("True", reason, message)) = condition(status, kind) {
            let _ = reason;
            return Health::progressing(with_detail(what, message));
        }
    }
    Health::progressing("waiting for the training operator")
}

fn katib_experiment(status: &Value) -> Health {
    if let Some(("True", reason, message)) = condition(status, "Failed") {
        return Health::degraded(with_detail("experiment failed", &because(reason, message)));
    }
    if let Some(("True", reason, message)) = condition(status, "Succeeded") {
        return Health::healthy(with_detail(
            "experiment succeeded",
            &because(reason, message),
        ));
    }
    let trials = |k: &str| int(status, k).unwrap_or(0);
    if let Some(("True", _, _)) = condition(status, "Running") {
        return Health::progressing(format!(
            "experiment running: {} trials, {} succeeded, {} failed",
            trials("trials"),
            trials("trialsSucceeded"),
            trials("trialsFailed")
        ));
    }
    if let Some(("True", _, _)) = condition(status, "Restarting") {
        return Health::progressing("experiment restarting");
    }
    if let Some(("True", _, _)) = condition(status, "Created") {
        return Health::progressing("experiment created");
    }
    Health::progressing("waiting for the katib controller")
}

fn ray_job(status: &Value) -> Health {
    let message = str_at(status, "/message").unwrap_or_default();
    if let Some(d @ ("Failed" | "ValidationFailed")) = str_at(status, "/jobDeploymentStatus") {
        return Health::degraded(with_detail(
            &format!("deployment {d}"),
            &because(str_at(status, "/reason").unwrap_or_default(), message),
        ));
    }
    match str_at(status, "/jobStatus").unwrap_or_default() {
        "SUCCEEDED" => Health::healthy("ray job succeeded"),
        s @ ("FAILED" | "STOPPED") => Health::degraded(with_detail(
            &format!("ray job {}", s.to_lowercase()),
            message,
        )),
        s @ ("PENDING" | "RUNNING") => Health::progressing(with_detail(
            &format!("ray job {}", s.to_lowercase()),
            message,
        )),
        "" => Health::progressing(with_detail(
            "waiting for the ray cluster",
            str_at(status, "/jobDeploymentStatus").unwrap_or_default(),
        )),
        other => Health::unknown(format!("ray job status {other}")),
    }
}

fn volcano_job(status: &Value) -> Health {
    let message = because(
        str_at(status, "/state/reason").unwrap_or_default(),
        str_at(status, "/state/message").unwrap_or_default(),
    );
    match str_at(status, "/state/phase").unwrap_or_default() {
        "Completed" => Health::healthy("job completed"),
        p @ ("Failed" | "Aborted" | "Terminated") => {
            Health::degraded(with_detail(&format!("job {}", p.to_lowercase()), &message))
        }
        p @ ("Pending" | "Running" | "Restarting" | "Completing" | "Aborting" | "Terminating") => {
            let running = int(status, "running").unwrap_or(0);
            Health::progressing(with_detail(
                &format!("job {}, {running} pods running", p.to_lowercase()),
                &message,
            ))
        }
        "" => Health::progressing("waiting for the volcano controller"),
        other => Health::unknown(format!("job phase {other}")),
    }
}

fn batch_job(status: &Value) -> Health {
    if let Some(("True", reason, message)) = condition(status, "Failed") {
        return Health::degraded(with_detail("job failed", &because(reason, message)));
    }
    if let Some(("True", _, _)) = condition(status, "Complete") {
        return Health::healthy("job complete");
    }
    Health::progressing(format!(
        "{} pods active",
        int(status, "active").unwrap_or(0)
    ))
}

/// Kinds without a rule: a Ready condition if there is one, else present means healthy.
fn generic(status: &Value) -> Health {
    if condition(status, "Ready").is_some() {
        return ready_condition(status, "object");
    }
    Health::healthy("present")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn st(h: Health) -> HealthStatus {
        h.status
    }

    #[test]
    fn deployment_counts_available_replicas() {
        let d = |avail: i64, updated: i64| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 3},
                   "status": {"observedGeneration": 2, "availableReplicas": avail, "updatedReplicas": updated}})
        };
        assert_eq!(
            health_of("Deployment", &d(3, 3)),
            Health::healthy("3/3 replicas available")
        );
        assert_eq!(
            st(health_of("Deployment", &d(1, 3))),
            HealthStatus::Progressing
        );
        assert_eq!(
            st(health_of("Deployment", &d(3, 1))),
            HealthStatus::Progressing
        );
        let stale = json!({"apiVersion": "apps/v1", "metadata": {"generation": 3}, "spec": {"replicas": 1}, "status": {"observedGeneration": 2, "availableReplicas": 1, "updatedReplicas": 1}});
        assert_eq!(
            st(health_of("Deployment", &stale)),
            HealthStatus::Progressing
        );
        let stuck = json!({"apiVersion": "apps/v1", "spec": {"replicas": 1}, "status": {"conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet x has timed out progressing."}]}});
        let h = health_of("Deployment", &stuck);
        assert_eq!(h.status, HealthStatus::Degraded);
        assert!(h.message.contains("timed out"));
    }

    #[test]
    fn inference_service_ready_condition() {
        let isvc = |s: &str| {
            json!({"apiVersion": "serving.kserve.io/v1beta1", "status": {"conditions": [
            {"type": "PredictorReady", "status": s}, {"type": "Ready", "status": s, "reason": "RevisionMissing", "message": "revision not found"}]}})
        };
        assert_eq!(
            st(health_of("InferenceService", &isvc("True"))),
            HealthStatus::Healthy
        );
        let h = health_of("InferenceService", &isvc("False"));
        assert_eq!(h.status, HealthStatus::Degraded);
        assert!(
            h.message.contains("RevisionMissing: revision not found"),
            "{}",
            h.message
        );
        assert_eq!(
            st(health_of("InferenceService", &isvc("Unknown"))),
            HealthStatus::Progressing
        );
        assert_eq!(
            st(health_of(
                "InferenceService",
                &json!({"apiVersion": "serving.kserve.io/v1beta1"})
            )),
            HealthStatus::Progressing
        );
    }

    #[test]
    fn workflow_phase() {
        let wf = |p: &str| json!({"apiVersion": "argoproj.io/v1alpha1", "status": {"phase": p, "message": "child 'train' failed", "progress": "1/3"}});
        assert_eq!(
            st(health_of("Workflow", &wf("Succeeded"))),
            HealthStatus::Healthy
        );
        assert_eq!(
            health_of("Workflow", &wf("Failed")),
            Health::degraded("workflow failed (child 'train' failed)")
        );
        assert_eq!(
            st(health_of("Workflow", &wf("Error"))),
            HealthStatus::Degraded
        );
        assert_eq!(
            health_of("Workflow", &wf("Running")),
            Health::progressing("workflow running (1/3)")
        );
        assert_eq!(
            st(health_of("Workflow", &wf("Pending"))),
            HealthStatus::Progressing
        );
        assert_eq!(
            st(health_of(
                "Workflow",
                &json!({"apiVersion": "argoproj.io/v1alpha1", "spec": {}})
            )),
            HealthStatus::Progressing
        );
    }

    #[test]
    fn cron_workflow_schedule_and_errors() {
        let ok = json!({"apiVersion": "argoproj.io/v1alpha1", "spec": {"suspend": false},
            "status": {"lastScheduledTime": "2026-11-20T02:00:00Z", "active": [{"name": "a"}]}});
        assert_eq!(
            health_of("CronWorkflow", &ok),
            Health::healthy("last scheduled 2026-11-20T02:00:00Z, 1 active")
        );
        let fresh = json!({"apiVersion": "argoproj.io/v1alpha1", "spec": {"suspend": true}});
        assert_eq!(
            health_of("CronWorkflow", &fresh),
            Health::healthy("not scheduled yet, 0 active, suspended")
        );
        let bad = json!({"apiVersion": "argoproj.io/v1alpha1", "status": {"conditions": [{"type": "SpecError", "status": "True", "message": "invalid cron"}]}});
        assert_eq!(
            health_of("CronWorkflow", &bad),
            Health::degraded("SpecError (invalid cron)")
        );
    }

    #[test]
    fn training_jobs_conditions() {
        let job = |conds: Value| json!({"apiVersion": "kubeflow.org/v1", "status": {"conditions": conds}});
        let created = json!([{"type": "Created", "status": "True"}]);
        let running = json!([{"type": "Created", "status": "True"}, {"type": "Running", "status": "True", "message": "PyTorchJob x is running."}]);
        let done = json!([{"type": "Created", "status": "True"}, {"type": "Running", "status": "False"}, {"type": "Succeeded", "status": "True"}]);
        let failed = json!([{"type": "Running", "status": "False"}, {"type": "Failed", "status": "True", "reason": "PyTorchJobFailed", "message": "pod master-0 exited 1"}]);
        for kind in ["PyTorchJob", "TFJob", "MPIJob", "XGBoostJob"] {
            assert_eq!(
                st(health_of(kind, &job(created.clone()))),
                HealthStatus::Progressing
            );
            assert_eq!(
                health_of(kind, &job(running.clone())),
                Health::progressing("job running (PyTorchJob x is running.)")
            );
            assert_eq!(
                st(health_of(kind, &job(done.clone()))),
                HealthStatus::Healthy
            );
            let h = health_of(kind, &job(failed.clone()));
            assert_eq!(h.status, HealthStatus::Degraded);
            assert!(h.message.contains("exited 1"));
        }
        assert_eq!(
            st(health_of(
                "PyTorchJob",
                &json!({"apiVersion": "kubeflow.org/v1"})
            )),
            HealthStatus::Progressing
        );
    }

    #[test]
    fn ray_job_status() {
        let rj = |s: &str, d: &str| json!({"apiVersion": "ray.io/v1", "status": {"jobStatus": s, "jobDeploymentStatus": d}});
        assert_eq!(
            st(health_of("RayJob", &rj("SUCCEEDED", "Complete"))),
            HealthStatus::Healthy
        );
        assert_eq!(
            st(health_of("RayJob", &rj("FAILED", "Complete"))),
            HealthStatus::Degraded
        );
        assert_eq!(
            st(health_of("RayJob", &rj("STOPPED", "Complete"))),
            HealthStatus::Degraded
        );
        assert_eq!(
            st(health_of("RayJob", &rj("RUNNING", "Running"))),
            HealthStatus::Progressing
        );
        assert_eq!(
            st(health_of("RayJob", &rj("", "Initializing"))),
            HealthStatus::Progressing
        );
        assert_eq!(
            st(health_of("RayJob", &rj("", "Failed"))),
            HealthStatus::Degraded
        );
    }

    #[test]
    fn volcano_job_phase() {
        let vj = |p: &str| json!({"apiVersion": "batch.volcano.sh/v1alpha1", "status": {"state": {"phase": p}, "running": 2}});
        assert_eq!(
            st(health_of("Job", &vj("Completed"))),
            HealthStatus::Healthy
        );
        assert_eq!(st(health_of("Job", &vj("Failed"))), HealthStatus::Degraded);
        assert_eq!(st(health_of("Job", &vj("Aborted"))), HealthStatus::Degraded);
        assert_eq!(
            health_of("Job", &vj("Running")),
            Health::progressing("job running, 2 pods running")
        );
        assert_eq!(
            st(health_of("Job", &vj("Pending"))),
            HealthStatus::Progressing
        );
        // batch/v1 Job is told apart by its group.
        let bj = json!({"apiVersion": "batch/v1", "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(st(health_of("Job", &bj)), HealthStatus::Healthy);
    }

    #[test]
    fn katib_experiment_conditions() {
        let ex = |t: &str| {
            json!({"apiVersion": "kubeflow.org/v1beta1", "status": {"trials": 4, "trialsSucceeded": 3, "trialsFailed": 1,
            "conditions": [{"type": "Created", "status": "True"}, {"type": t, "status": "True", "reason": "ExperimentGoalReached"}]}})
        };
        assert_eq!(
            st(health_of("Experiment", &ex("Succeeded"))),
            HealthStatus::Healthy
        );
        assert_eq!(
            st(health_of("Experiment", &ex("Failed"))),
            HealthStatus::Degraded
        );
        assert_eq!(
            health_of("Experiment", &ex("Running")),
            Health::progressing("experiment running: 4 trials, 3 succeeded, 1 failed")
        );
    }

    #[test]
    fn other_kinds_present_is_healthy() {
        assert_eq!(
            st(health_of(
                "WorkflowTemplate",
                &json!({"apiVersion": "argoproj.io/v1alpha1", "spec": {}})
            )),
            HealthStatus::Healthy
        );
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(
            st(health_of("CustomResourceDefinition", &crd)),
            HealthStatus::Healthy
        );
    }
}
