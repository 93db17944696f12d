//! Server-side apply of one object (field manager `cubist`) and the conflict policy: force only
//! when the object asks, take back fields edited by hand when allowed, report every other
//! conflict with the managers and fields. Used by both plan (dry-runs) and apply.

use super::error::{FieldConflict, classify, parse_conflicts};
use super::{FIELD_MANAGER, FORCE_ANNOTATION, KubeError, KubeTarget, wants_force};
use crate::render::{ObjectKey, RenderedObject};
use ::kube::api::{Patch, PatchParams};
use serde_json::Value;

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

/// True when every conflicting manager changed the object only with plain updates/patches of
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

/// The outcome of applying one object.
pub(super) enum Outcome {
    /// Applied, with a note when fields edited by hand were taken back.
    Applied(Option<String>),
    /// The API server refused the object itself (invalid, forbidden, namespace missing): the
    /// HTTP code (0 when none) and why. What a validating dry-run would have said.
    Rejected(u16, String),
    /// Not applied for another reason (a conflict cubist does not force): why.
    Failed(String),
}

/// Applies one object as the conflict policy says: with force when the object asks for it;
/// taking back fields another manager only edited by hand when
/// [`KubeOptions::revert_manual_edits`](super::KubeOptions) allows; never over another applier.
pub(super) async fn apply_object(
    t: &KubeTarget,
    cluster: &str,
    o: &RenderedObject,
    key: &ObjectKey,
) -> Result<Outcome, KubeError> {
    let force = wants_force(&o.body);
    match ssa(t, cluster, o, key, false, force).await? {
        Ssa::Done(_) => Ok(Outcome::Applied(None)),
        Ssa::Rejected(code, m) => Ok(Outcome::Rejected(code, m)),
        Ssa::Conflict(conflicts) => {
            let live = t.live_object(cluster, key).await?.unwrap_or_default();
            if !force && t.options.revert_manual_edits && imperative_only(&live, &conflicts) {
                let list = conflicts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                return Ok(match ssa(t, cluster, o, key, false, true).await? {
                    Ssa::Done(_) => {
                        Outcome::Applied(Some(format!("took back fields edited by hand: {list}")))
                    }
                    Ssa::Rejected(_, m) => Outcome::Failed(m),
                    Ssa::Conflict(c2) => Outcome::Failed(conflict_note(key, &c2, &live)),
                });
            }
            Ok(Outcome::Failed(conflict_note(key, &conflicts, &live)))
        }
    }
}
