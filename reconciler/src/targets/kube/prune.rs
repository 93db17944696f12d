//! Prune: delete an object cubist no longer renders, only if it is still labelled as cubist's
//! and the same project's, and only the very object that was checked (uid + resourceVersion).

use super::error::classify;
use super::{KubeError, KubeTarget};
use crate::render::{MANAGED_BY, ObjectKey, PROJECT_LABEL};
use ::kube::api::{DeleteParams, Preconditions, PropagationPolicy};

/// What pruning one object did.
pub(super) enum Pruned {
    /// Deleted.
    Deleted,
    /// Already gone (or its kind is no longer served).
    Gone,
    /// Left alone because it is not cubist's any more: forget it.
    Kept(String),
    /// Could not delete it now: keep it in the inventory and try again.
    Failed(String),
}

pub(super) async fn prune_one(
    t: &KubeTarget,
    cluster: &str,
    key: &ObjectKey,
    project: Option<&str>,
) -> Result<Pruned, KubeError> {
    let Ok(r) = t.resolve_key(cluster, key).await? else {
        return Ok(Pruned::Gone);
    };
    let api = t.api(&r, &key.namespace);
    let Some(live) = api
        .get_metadata_opt(&key.name)
        .await
        .map_err(|e| classify(cluster, e))?
    else {
        return Ok(Pruned::Gone);
    };
    let labels = live.metadata.labels.clone().unwrap_or_default();
    if labels.get(MANAGED_BY.0).map(String::as_str) != Some(MANAGED_BY.1) {
        return Ok(Pruned::Kept(format!(
            "{key} is no longer rendered but is not pruned: it no longer carries the label {}={}",
            MANAGED_BY.0, MANAGED_BY.1
        )));
    }
    if labels.get(PROJECT_LABEL).map(String::as_str) != project {
        return Ok(Pruned::Kept(format!(
            "{key} is no longer rendered but is not pruned: it is labelled for project {}, not {}",
            labels.get(PROJECT_LABEL).map_or("(none)", String::as_str),
            project.unwrap_or("(none)")
        )));
    }
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions {
            uid: live.metadata.uid.clone(),
            resource_version: live.metadata.resource_version.clone(),
        }),
        ..DeleteParams::default()
    };
    match api.delete(&key.name, &dp).await {
        Ok(_) => Ok(Pruned::Deleted),
        Err(::kube::Error::Api(s)) if s.code == 404 => Ok(Pruned::Gone),
        Err(::kube::Error::Api(s)) if s.code == 409 => Ok(Pruned::Failed(format!(
            "{key} changed while being pruned; will retry: {}",
            s.message
        ))),
        Err(e) => match classify(cluster, e) {
            e @ KubeError::Unreachable { .. } => Err(e),
            e => Ok(Pruned::Failed(format!("{key}: cannot prune: {e}"))),
        },
    }
}
