//! Run Workflows, which the run controller creates outside the inventory (the prune never
//! deletes them; Argo may garbage-collect finished ones): list a project's by label, create
//! one if absent.

use super::{KubeError, KubeTarget, error};
use crate::render::ObjectKey;
use ::kube::api::{DynamicObject, ListParams, PostParams};
use serde_json::Value;

/// apiVersion of Argo Workflows.
const API_VERSION: &str = "argoproj.io/v1alpha1";

/// Most Workflows read per LIST page.
const PAGE: u32 = 500;

impl KubeTarget {
    /// Every Workflow in `namespace` matching the label `selector` (e.g.
    /// `cubist.dev/project=nlp`), as JSON; none when the cluster does not serve Workflows.
    pub async fn list_workflows(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<Value>, KubeError> {
        let key = workflow_key(namespace, "");
        let Ok(r) = self.resolve_key(&self.name, &key).await? else {
            return Ok(Vec::new());
        };
        let api = self.api(&r, namespace);
        let mut out = Vec::new();
        let mut params = ListParams::default().labels(selector).limit(PAGE);
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| error::classify(&self.name, e))?;
            out.extend(
                page.items
                    .iter()
                    .map(|o| serde_json::to_value(o).unwrap_or_default()),
            );
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => params = params.continue_token(&c),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Creates the Workflow `body` unless one of its name exists (HTTP 409): `true` when this
    /// call created it. The name is deterministic, so a retry after a crash never makes two.
    pub async fn create_workflow(&self, body: &Value) -> Result<bool, KubeError> {
        let ns = body
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let key = workflow_key(ns, "");
        let r = match self.resolve_key(&self.name, &key).await? {
            Ok(r) => r,
            Err(message) => {
                return Err(KubeError::Api {
                    cluster: self.name.clone(),
                    code: 404,
                    message,
                });
            }
        };
        let obj: DynamicObject =
            serde_json::from_value(body.clone()).map_err(|e| KubeError::Api {
                cluster: self.name.clone(),
                code: 400,
                message: format!("not a Workflow: {e}"),
            })?;
        match self.api(&r, ns).create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(true),
            Err(::kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(error::classify(&self.name, e)),
        }
    }
}

fn workflow_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        api_version: API_VERSION.into(),
        kind: "Workflow".into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}
