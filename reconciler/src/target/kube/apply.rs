//! Apply: server-side apply stage by stage, CRDs first (waiting until Established), then prune.

use super::error::{FieldConflict, classify, parse_conflicts};
use super::prune::{Pruned, prune_one};
use super::{FIELD_MANAGER, FORCE_ANNOTATION, KubeError, KubeTarget, wants_force};
use crate::render::{ObjectKey, RenderedObject};
use crate::target::order::stage_of;
use crate::target::{Action, ApplyReport, Change, Plan};
use ::kube::api::{Patch, PatchParams};
use cubist_status_ui::doc::{Inventory, InventoryEntry};
use futures::{StreamExt, stream};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The answer to one server-side apply.
pub(super) enum Ssa {
    /// Applied (or would be, for a dry-run): the resulting object.
    Done(Value),
    /// Other field managers own fields cubist sets to other values.
    Conflict(Vec<FieldConflict>),
    /// Refused (invalid, forbidden, kind not served...): the HTTP code (0 when none) and why,
    /// in one sentence.
    Rejected(u16, String),
}

/// Server-side applies one rendered object (field manager `cubist`).
pub(super) async fn ssa(
    t: &KubeTarget,
    cluster: &str,
    o: &RenderedObject,
    key: &ObjectKey,
    dry_run: bool,
    force: bool,
) -> Result<Ssa, KubeError> {
    let r = match t.resolve_key(cluster, key).await? {
        Ok(r) => r,
        Err(message) => return Ok(Ssa::Rejected(0, message)),
    };
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    if force {
        pp = pp.force();
    }
    if dry_run {
        pp = pp.dry_run();
    }
    match t
        .api(&r, &key.namespace)
        .patch(&key.name, &pp, &Patch::Apply(&o.body))
        .await
    {
        Ok(obj) => Ok(Ssa::Done(serde_json::to_value(&obj).unwrap_or_default())),
        Err(::kube::Error::Api(s)) if s.code == 409 && !parse_conflicts(&s).is_empty() => {
            Ok(Ssa::Conflict(parse_conflicts(&s)))
        }
        Err(::kube::Error::Api(s)) => Ok(Ssa::Rejected(
            s.code,
            format!(
                "{key} was rejected by cluster {cluster}: {} (HTTP {})",
                s.message, s.code
            ),
        )),
        Err(e) => match classify(cluster, e) {
            e @ KubeError::Unreachable { .. } => Err(e),
            e => Ok(Ssa::Rejected(0, format!("{key}: {e}"))),
        },
    }
}

/// `(manager, operation, subresource)` of each managedFields entry of a live object.
fn managers(live: &Value) -> Vec<(&str, &str, &str)> {
    fn s<'a>(e: &'a Value, k: &str) -> &'a str {
        e.get(k).and_then(Value::as_str).unwrap_or_default()
    }
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| (s(e, "manager"), s(e, "operation"), s(e, "subresource")))
        .collect()
}

/// True when every conflicting manager changed the object only with updates/patches (not apply) of
/// the object itself (hand edits), never by applying its own configuration nor through a
/// subresource (a controller's `scale`/`status`).
pub(super) fn imperative_only(live: &Value, conflicts: &[FieldConflict]) -> bool {
    let entries = managers(live);
    !conflicts.is_empty()
        && conflicts.iter().all(|c| {
            let mine: Vec<_> = entries.iter().filter(|(m, _, _)| *m == c.manager).collect();
            !mine.is_empty()
                && mine
                    .iter()
                    .all(|(_, op, sub)| *op == "Update" && sub.is_empty())
        })
}

/// The per-object message for a conflict cubist does not force.
pub(super) fn conflict_note(key: &ObjectKey, conflicts: &[FieldConflict], live: &Value) -> String {
    let entries = managers(live);
    let parts: Vec<String> = conflicts
        .iter()
        .map(|c| {
            let how = match entries.iter().find(|(m, _, _)| *m == c.manager) {
                Some((_, "Apply", _)) => " (applies its own configuration)",
                Some((_, _, sub)) if !sub.is_empty() => " (through a subresource)",
                Some(_) => " (edited by hand)",
                None => "",
            };
            format!(
                "field manager \"{}\"{how} owns {}",
                c.manager,
                c.fields.join(", ")
            )
        })
        .collect();
    format!(
        "{key}: conflict with another field manager: {}; cubist does not force: remove these fields from the other manager's configuration, \
         or set annotation {FORCE_ANNOTATION}: \"true\" to take them over",
        parts.join("; ")
    )
}

/// The outcome of applying one change.
enum Outcome {
    Applied(Option<String>),
    Failed(String),
}

async fn apply_one(t: &KubeTarget, cluster: &str, c: &Change) -> Result<Outcome, KubeError> {
    let o = c.desired.as_ref().expect("create/update carry the object");
    let force = wants_force(&o.body);
    match ssa(t, cluster, o, &c.key, false, force).await? {
        Ssa::Done(_) => Ok(Outcome::Applied(None)),
        Ssa::Rejected(_, m) => Ok(Outcome::Failed(m)),
        Ssa::Conflict(conflicts) => {
            let live = live_object(t, cluster, &c.key).await?.unwrap_or_default();
            if !force && t.options.revert_manual_edits && imperative_only(&live, &conflicts) {
                let list = conflicts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                return Ok(match ssa(t, cluster, o, &c.key, false, true).await? {
                    Ssa::Done(_) => {
                        Outcome::Applied(Some(format!("took back fields edited by hand: {list}")))
                    }
                    Ssa::Rejected(_, m) => Outcome::Failed(m),
                    Ssa::Conflict(c2) => Outcome::Failed(conflict_note(&c.key, &c2, &live)),
                });
            }
            Ok(Outcome::Failed(conflict_note(&c.key, &conflicts, &live)))
        }
    }
}

/// The live object, if any.
async fn live_object(
    t: &KubeTarget,
    cluster: &str,
    key: &ObjectKey,
) -> Result<Option<Value>, KubeError> {
    let Ok(r) = t.resolve_key(cluster, key).await? else {
        return Ok(None);
    };
    let o = t
        .api(&r, &key.namespace)
        .get_opt(&key.name)
        .await
        .map_err(|e| classify(cluster, e))?;
    Ok(o.map(|o| serde_json::to_value(&o).unwrap_or_default()))
}

pub(super) async fn apply(
    t: &KubeTarget,
    plan: &Plan,
    inventory: &Inventory,
    progress: &mut (dyn FnMut(&Change) + Send),
) -> Result<(ApplyReport, Inventory), KubeError> {
    let cluster = t.cluster_name(&plan.cluster).to_string();
    let cluster = cluster.as_str();
    let mut inv: BTreeMap<ObjectKey, InventoryEntry> = inventory
        .objects
        .iter()
        .map(|e| (ObjectKey::from(e), e.clone()))
        .collect();
    let mut report = ApplyReport::default();
    let n = t.options.concurrency.max(1);

    for stage in 0..=3u8 {
        let mut writes = Vec::new();
        for c in plan.changes.iter().filter(|c| c.action != Action::Delete) {
            let Some(o) = c.desired.as_ref().filter(|o| o.stage() == stage) else {
                continue;
            };
            match c.action {
                Action::Create | Action::Update => writes.push(c),
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
            .map(|c| async move { (c, apply_one(t, cluster, c).await) })
            .collect();
        let mut results = stream::iter(writes).buffer_unordered(n);
        while let Some((c, outcome)) = results.next().await {
            let o = c.desired.as_ref().expect("create/update carry the object");
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
    Ok((
        report,
        Inventory {
            objects: inv.into_values().collect(),
        },
    ))
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
            let live = live_object(t, cluster, &c.key).await?;
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
