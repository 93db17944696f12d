//! Plan and drift: each rendered object against what the cluster holds.

use super::live::{
    Live, Owner, Wanted, clean, contains_but_revision, crd_kinds, live_hash, overlay,
};
use super::ssa::{Ssa, conflict_note, imperative_only, ssa};
use super::{KubeError, KubeTarget, diff_label, wants_force};
use crate::render::order::stage_of;
use crate::render::{ObjectKey, RenderedObject, RenderedSet};
use crate::targets::{Action, Change, Plan, unified_diff};
use cubist_status_ui::doc::{Inventory, InventoryEntry};
use futures::{StreamExt, TryStreamExt, stream};
use std::cmp::Reverse;
use std::collections::HashSet;

/// What the comparison is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A plan: diffs, and new objects validated by a dry-run.
    Plan,
    /// A plan applied right away: diffs; new objects are validated by their apply (one
    /// request instead of two), see [`KubeTarget::plan_and_apply`].
    Apply,
    /// Drift detection: no diffs, no validation.
    Drift,
}

pub(super) async fn plan(
    t: &KubeTarget,
    desired: &RenderedSet,
    inventory: &Inventory,
    mode: Mode,
) -> Result<Plan, KubeError> {
    let cluster = t.cluster_name(&desired.cluster).to_string();
    let owned: HashSet<ObjectKey> = inventory.objects.iter().map(ObjectKey::from).collect();
    let mut changes = compare(t, &cluster, &desired.objects, &owned, mode).await?;

    let rendered: HashSet<ObjectKey> = desired.objects.iter().map(RenderedObject::key).collect();
    let mut gone: Vec<&InventoryEntry> = inventory
        .objects
        .iter()
        .filter(|e| !rendered.contains(&ObjectKey::from(*e)))
        .collect();
    gone.sort_by_cached_key(|e| Reverse((stage_of(&e.kind), ObjectKey::from(*e))));
    let keys: Vec<ObjectKey> = gone.iter().map(|e| ObjectKey::from(*e)).collect();
    let wanted: Vec<Wanted> = keys
        .iter()
        .zip(&gone)
        .map(|(key, e)| Wanted {
            key,
            project: e.project.as_deref(),
        })
        .collect();
    let lives = t.observe(&cluster, &wanted, &Default::default()).await?;
    for ((key, e), live) in keys.into_iter().zip(&gone).zip(lives) {
        let label = diff_label(&key);
        let (action, diff, note) = match live {
            Live::Present(v, Owner::Cubist) => (
                Action::Delete,
                Some(unified_diff(Some(&clean(&v)), None, &label)),
                None,
            ),
            Live::Present(_, owner) => {
                let why = match owner {
                    Owner::OtherProject(p) => format!("it is now labelled for project {p}"),
                    _ => "it no longer carries the label app.kubernetes.io/managed-by=cubist"
                        .to_string(),
                };
                (
                    Action::Conflict,
                    None,
                    Some(format!(
                        "{key} is no longer rendered but is not pruned: {why}; cubist forgets it"
                    )),
                )
            }
            Live::Absent => (Action::Delete, None, Some("already gone".to_string())),
            Live::NotServed(_) | Live::AfterCrd(_) => (
                Action::Delete,
                None,
                Some("its kind is no longer served; already gone".to_string()),
            ),
        };
        changes.push(Change {
            key,
            action,
            project: e.project.clone(),
            source: e.source.clone(),
            diff,
            desired: None,
            note,
        });
    }
    Ok(Plan {
        cluster,
        changes,
        untouched: 0,
        held: None,
    })
}

pub(super) async fn drift(
    t: &KubeTarget,
    desired: &RenderedSet,
) -> Result<Vec<ObjectKey>, KubeError> {
    let cluster = t.cluster_name(&desired.cluster).to_string();
    let changes = compare(t, &cluster, &desired.objects, &HashSet::new(), Mode::Drift).await?;
    Ok(changes
        .into_iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Update))
        .map(|c| c.key)
        .collect())
}

/// The note of a new namespaced object the API server cannot validate before its namespace
/// exists.
pub(super) fn after_namespace(key: &ObjectKey) -> String {
    format!(
        "validated when applied, after namespace {} exists",
        key.namespace
    )
}

/// One change per rendered object, in order.
async fn compare(
    t: &KubeTarget,
    cluster: &str,
    objects: &[RenderedObject],
    owned: &HashSet<ObjectKey>,
    mode: Mode,
) -> Result<Vec<Change>, KubeError> {
    let keys: Vec<ObjectKey> = objects.iter().map(RenderedObject::key).collect();
    // Only CRDs are parsed for this, and not kept (bodies are kept as text).
    let crd_bodies: Vec<serde_json::Value> = objects
        .iter()
        .filter(|o| o.key_parts()[1] == "CustomResourceDefinition")
        .map(|o| o.body.to_value())
        .collect();
    let crds = crd_kinds(crd_bodies.iter());
    let wanted: Vec<Wanted> = keys
        .iter()
        .zip(objects)
        .map(|(key, o)| Wanted {
            key,
            project: o.project.as_deref(),
        })
        .collect();
    let lives = t.observe(cluster, &wanted, &crds).await?;
    let judged: Vec<_> = objects
        .iter()
        .zip(keys)
        .zip(lives)
        .map(|((o, key), live)| {
            let owned = owned.contains(&key);
            judge(t, cluster, o, key, live, owned, mode)
        })
        .collect();
    stream::iter(judged)
        .buffered(t.options.concurrency.max(1))
        .try_collect()
        .await
}

async fn judge(
    t: &KubeTarget,
    cluster: &str,
    o: &RenderedObject,
    key: ObjectKey,
    live: Live,
    owned: bool,
    mode: Mode,
) -> Result<Change, KubeError> {
    let label = diff_label(&key);
    let plan = mode != Mode::Drift;
    let change =
        |key: ObjectKey, action: Action, diff: Option<String>, note: Option<String>| Change {
            key,
            action,
            project: o.project.clone(),
            source: o.source.clone(),
            diff: if plan { diff } else { None },
            desired: Some(o.clone()),
            note,
        };
    let created = || plan.then(|| unified_diff(None, Some(&o.body.to_value()), &label));
    Ok(match live {
        Live::NotServed(message) => change(key, Action::Conflict, None, Some(message)),
        Live::AfterCrd(crd) => change(
            key,
            Action::Create,
            created(),
            Some(format!("applied once CRD {crd} is established")),
        ),
        Live::Absent => {
            if mode == Mode::Plan && t.options.validate_creates {
                match ssa(t, cluster, o, &key, true, wants_force(&o.body)).await? {
                    // The namespace does not exist yet (it is created in an earlier stage).
                    Ssa::Rejected(404, _) if !key.namespace.is_empty() => {
                        let note = after_namespace(&key);
                        return Ok(change(key, Action::Create, created(), Some(note)));
                    }
                    Ssa::Rejected(_, message) => {
                        return Ok(change(key, Action::Conflict, None, Some(message)));
                    }
                    _ => {}
                }
            }
            change(key, Action::Create, created(), None)
        }
        Live::Present(_, Owner::OtherProject(p)) => {
            let note = format!("{key} exists and belongs to project {p}; cubist leaves it alone");
            change(key, Action::Conflict, None, Some(note))
        }
        Live::Present(_, Owner::Unlabelled) if !owned => {
            let note = format!(
                "{key} exists but cubist does not manage it (no label {}={}); delete it, or add the label to let cubist take it over",
                crate::render::MANAGED_BY.0,
                crate::render::MANAGED_BY.1
            );
            change(key, Action::Conflict, None, Some(note))
        }
        Live::Present(v, _) => {
            if live_hash(&v) == Some(o.hash.as_str())
                && contains_but_revision(&v, o.body.to_value())
            {
                return Ok(change(key, Action::Unchanged, None, None));
            }
            match ssa(t, cluster, o, &key, true, wants_force(&o.body)).await? {
                Ssa::Done(result) => {
                    let (before, after) = (clean(&v), clean(&result));
                    if before == after {
                        change(key, Action::Unchanged, None, None)
                    } else {
                        let diff = plan.then(|| unified_diff(Some(&before), Some(&after), &label));
                        change(key, Action::Update, diff, None)
                    }
                }
                Ssa::Conflict(conflicts)
                    if t.options.revert_manual_edits && imperative_only(&v, &conflicts) =>
                {
                    let list = conflicts
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ");
                    let diff = plan.then(|| {
                        unified_diff(
                            Some(&clean(&v)),
                            Some(&clean(&overlay(&v, &o.body.to_value()))),
                            &label,
                        )
                    });
                    change(
                        key,
                        Action::Update,
                        diff,
                        Some(format!("takes back fields edited by hand: {list}")),
                    )
                }
                Ssa::Conflict(conflicts) => change(
                    key.clone(),
                    Action::Conflict,
                    None,
                    Some(conflict_note(&key, &conflicts, &v)),
                ),
                Ssa::Rejected(_, message) => change(key, Action::Conflict, None, Some(message)),
            }
        }
    })
}
