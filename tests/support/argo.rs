//! Playing Argo's controller on kube-local (`tests/runs_kube.rs`, `tests/runs_shared.rs`): list
//! a pipeline's Workflows and write a Workflow's `status` the way Argo does (no status
//! subresource in Argo's CRD).

use chrono::Utc;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::{Value, json};

/// The Workflows of one namespace of a kube-local, and Argo's controller for them.
pub struct Argo {
    /// The Workflows of the namespace.
    pub api: Api<DynamicObject>,
    /// The runtime the calls run on.
    pub rt: tokio::runtime::Runtime,
}

impl Argo {
    /// The Workflows of `namespace` through `client`, called on `rt`.
    pub fn new(client: kube::Client, namespace: &str, rt: tokio::runtime::Runtime) -> Argo {
        let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow");
        let api = Api::namespaced_with(client, namespace, &ApiResource::from_gvk(&gvk));
        Argo { api, rt }
    }

    /// The Workflows of a pipeline, oldest execution first (names sort by date).
    pub fn workflows(&self, pipeline: &str) -> Vec<Value> {
        let lp = ListParams::default().labels(&format!("cubist.dev/pipeline={pipeline}"));
        let mut got: Vec<Value> = self
            .rt
            .block_on(self.api.list(&lp))
            .unwrap()
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect();
        got.sort_by_key(|w| w["metadata"]["name"].as_str().unwrap().to_string());
        got
    }

    /// Their names, in order.
    pub fn names(&self, pipeline: &str) -> Vec<String> {
        self.workflows(pipeline)
            .iter()
            .map(|w| w["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// Writes the status Argo's controller would: phase, times, one task node.
    pub fn finish(&self, name: &str, phase: &str) {
        let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let status = json!({"status": {
            "phase": phase, "startedAt": now, "finishedAt": now,
            "message": if phase == "Failed" { "child 'train' failed" } else { "" },
            "nodes": {format!("{name}-1"): {"id": format!("{name}-1"), "name": format!("{name}.train"),
                "displayName": "train", "type": "Pod", "phase": phase, "startedAt": now, "finishedAt": now}},
        }});
        let pp = PatchParams {
            field_manager: Some("workflow-controller".into()),
            ..Default::default()
        };
        self.rt
            .block_on(self.api.patch(name, &pp, &Patch::Merge(status)))
            .unwrap();
    }
}
