//! Apply: server-side apply stage by stage, CRDs first (waiting until Established), then prune.

use super::prune::{Pruned, prune_one};
use super::ssa::{Outcome, apply_object};
use super::{KubeError, KubeTarget};
use crate::render::ObjectKey;
use crate::render::order::stage_of;
use crate::targets::{Action, ApplyReport, Change, Plan};
use cubist_status_ui::doc::{Inventory, InventoryEntry};
use futures::{StreamExt, stream};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What an apply did.
pub(super) struct Applied {
    /// Counts and per-object failures.
    pub report: ApplyReport,
    /// Objects cubist owns in the cluster now.
    pub inventory: Inventory,
    /// Changes (indexes into the plan's) the API server refused, with its HTTP code and reason.
    pub rejected: Vec<(usize, u16, String)>,
}

pub(super) async fn apply(
    t: &KubeTarget,
    plan: &Plan,
    inventory: &Inventory,
    progress: &mut (dyn FnMut(&Change) + Send),
) -> Result<Applied, KubeError> {
    let cluster = t.cluster_name(&plan.cluster).to_string();
    let cluster = cluster.as_str();
    let mut inv: BTreeMap<ObjectKey, InventoryEntry> = inventory
        .objects
        .iter()
        .map(|e| (ObjectKey::from(e), e.clone()))
        .collect();
    let mut report = ApplyReport::default();
    let mut rejected = Vec::new();
    let n = t.options.concurrency.max(1);

    for stage in 0..=3u8 {
        let mut writes = Vec::new();
        for (i, c) in plan.changes.iter().enumerate() {
            if c.action == Action::Delete {
                continue;
            }
            let Some(o) = c.desired.as_ref().filter(|o| o.stage() == stage) else {
                continue;
            };
            match c.action {
                Action::Create | Action::Update => writes.push((i, c, o)),
                Action::Unchanged => {
                    report.unchanged += 1;
                    inv.insert(c.key.clone(), InventoryEntry::from(o));
                    progress(c);
                }
                _ => {
                    report.failed.push((
                        c.key.clone(),
                        c.note.clone().unwrap_or_else(|| "conflict".into()),
                    ));
                    progress(c);
                }
            }
        }
        let mut crds = Vec::new();
        let writes: Vec<_> = writes
            .into_iter()
            .map(|(i, c, o)| async move { (i, c, o, apply_object(t, cluster, o, &c.key).await) })
            .collect();
        let mut results = stream::iter(writes).buffer_unordered(n);
        while let Some((i, c, o, outcome)) = results.next().await {
            match outcome? {
                Outcome::Applied(note) => {
                    if c.action == Action::Create {
                        report.created += 1
                    } else {
                        report.updated += 1
                    }
                    if let Some(note) = note {
                        tracing::info!(cluster, object = %c.key, "{note}");
                    }
                    inv.insert(c.key.clone(), InventoryEntry::from(o));
                    if c.key.kind == "CustomResourceDefinition" {
                        crds.push(c);
                    }
                }
                Outcome::Rejected(code, message) => {
                    report.failed.push((c.key.clone(), message.clone()));
                    rejected.push((i, code, message));
                }
                Outcome::Failed(message) => report.failed.push((c.key.clone(), message)),
            }
            progress(c);
        }
        drop(results);
        for (c, err) in wait_established(t, cluster, &crds).await? {
            report.failed.push((c.key.clone(), err));
        }
    }

    // Objects no longer rendered, workloads first.
    let deletes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| {
            c.action == Action::Delete || (c.action == Action::Conflict && c.desired.is_none())
        })
        .collect();
    let stages: BTreeSet<u8> = deletes.iter().map(|c| stage_of(&c.key.kind)).collect();
    for stage in stages.into_iter().rev() {
        let batch: Vec<_> = deletes
            .iter()
            .copied()
            .filter(|c| stage_of(&c.key.kind) == stage)
            .map(|c| async move {
                if c.action == Action::Conflict {
                    return (c, Ok(Pruned::Kept(c.note.clone().unwrap_or_default())));
                }
                (c, prune_one(t, cluster, &c.key, c.project.as_deref()).await)
            })
            .collect();
        let mut results = stream::iter(batch).buffer_unordered(n);
        while let Some((c, outcome)) = results.next().await {
            match outcome? {
                Pruned::Deleted => {
                    report.deleted += 1;
                    inv.remove(&c.key);
                }
                Pruned::Gone => {
                    inv.remove(&c.key);
                }
                Pruned::Kept(message) => {
                    report.failed.push((c.key.clone(), message));
                    inv.remove(&c.key);
                }
                Pruned::Failed(message) => report.failed.push((c.key.clone(), message)),
            }
            progress(c);
        }
    }
    Ok(Applied {
        report,
        inventory: Inventory {
            objects: inv.into_values().collect(),
        },
        rejected,
    })
}

/// Waits until each applied CRD is Established and discovery lists its kind (forgetting what
/// was cached of its group).
/// Returns the CRDs that did not get there in time.
async fn wait_established<'a>(
    t: &KubeTarget,
    cluster: &str,
    crds: &[&'a Change],
) -> Result<Vec<(&'a Change, String)>, KubeError> {
    let deadline = Instant::now() + t.options.crd_timeout;
    let mut failed = Vec::new();
    'crds: for c in crds {
        // A CRD's body, parsed for this wait only.
        let body = c.desired.as_ref().map(|o| o.body.to_value());
        let group = body
            .as_ref()
            .and_then(|b| b.pointer("/spec/group"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        loop {
            let live = t.live_object(cluster, &c.key).await?;
            let established = live
                .as_ref()
                .and_then(|v| v.pointer("/status/conditions"))
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
            if established {
                break;
            }
            if Instant::now() >= deadline {
                failed.push((
                    *c,
                    format!(
                        "CRD {} was not Established after {:?}",
                        c.key.name, t.options.crd_timeout
                    ),
                ));
                t.resolver.invalidate_group(&group);
                continue 'crds;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Discovery may lag behind Established: wait until every served version lists the kind.
        let body = body.as_ref();
        let kind = body
            .and_then(|b| b.pointer("/spec/names/kind"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let versions = body
            .and_then(|b| b.pointer("/spec/versions"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for v in versions.iter().filter(|v| v["served"] != false) {
            let Some(version) = v.get("name").and_then(Value::as_str) else {
                continue;
            };
            let api_version = format!("{group}/{version}");
            loop {
                t.resolver.invalidate_group(&group);
                if t.resolver
                    .resolve(&t.client, cluster, &api_version, kind)
                    .await?
                    .is_some()
                {
                    break;
                }
                if Instant::now() >= deadline {
                    failed.push((*c, format!("CRD {} is Established but {kind} {api_version} is not in discovery after {:?}", c.key.name, t.options.crd_timeout)));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(failed)
}
