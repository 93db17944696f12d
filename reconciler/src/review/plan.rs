//! A pull request's plan, computed from two snapshots (base tip and head): the head's
//! diagnostics, per cluster what merging would create / change / delete, and quota impact.

use super::quota::{QuotaImpact, quota_impact};
use super::schedule::{ScheduleChange, schedule_changes};
use crate::diag::Diagnostic;
use crate::render::{
    Blueprints, HASH_ANNOTATION, ObjectKey, REVISION_ANNOTATION, RenderedObject, RenderedSet,
    render,
};
use crate::source::Snapshot;
use crate::targets::guard::{Allowances, guard};
use crate::targets::{Action, Change, Plan, unified_diff};
use cubist_status_ui::runs::PipelineRuns;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Everything a pull request comment and its statuses show.
#[derive(Debug, Clone, Default)]
pub struct PrPlan {
    /// The base branch.
    pub base_ref: String,
    /// The base branch's tip the head is compared with.
    pub base_sha: String,
    /// The planned head commit.
    pub head_sha: String,
    /// The head's diagnostics (errors and warnings), sorted by file and line.
    pub diagnostics: Vec<Diagnostic>,
    /// Why nothing was planned (the head does not validate or render), if so.
    pub not_planned: Option<String>,
    /// Per cluster, base → head.
    pub plans: Vec<Plan>,
    /// Peak usage and limits that change, per project and cluster.
    pub quota: Vec<QuotaImpact>,
    /// Caveats about the comparison (e.g. the base does not render).
    pub notes: Vec<String>,
    /// Pipelines whose executions the merge changes.
    pub schedules: Vec<ScheduleChange>,
}

impl PrPlan {
    /// Number of error diagnostics of the head.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Validates and renders `base` and `head`, and plans every cluster of either. Deletions
    /// the prune guard would hold after the merge (with the head's `pruneLimit` and the
    /// allowances `allow` of the pull request's commits) are held in the plans.
    pub fn compute(
        base_ref: &str,
        base: &Snapshot,
        head: &Snapshot,
        allow: &Allowances,
        blueprints: &Blueprints,
    ) -> PrPlan {
        Self::compute_with_runs(
            base_ref,
            base,
            head,
            allow,
            blueprints,
            &|_, _| None,
            chrono::Utc::now(),
        )
    }

    /// [`PrPlan::compute`], with schedule changes counted against the runs files `runs`
    /// gives per project and pipeline, at `now`.
    pub fn compute_with_runs(
        base_ref: &str,
        base: &Snapshot,
        head: &Snapshot,
        allow: &Allowances,
        blueprints: &Blueprints,
        runs: &dyn Fn(&str, &str) -> Option<PipelineRuns>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> PrPlan {
        let (head_model, diagnostics) = crate::model::load(head);
        let mut plan = PrPlan {
            base_ref: base_ref.to_string(),
            base_sha: base.revision.clone().unwrap_or_default(),
            head_sha: head.revision.clone().unwrap_or_default(),
            diagnostics,
            ..PrPlan::default()
        };
        let errors = plan.errors();
        if errors > 0 {
            plan.not_planned = Some(format!(
                "the head has {errors} validation error{}",
                if errors == 1 { "" } else { "s" }
            ));
            return plan;
        }
        let head_sets = match render(&head_model, blueprints) {
            Ok(sets) => without_run_workflows(sets),
            Err(e) => {
                plan.not_planned = Some(format!("render failed: {e}"));
                return plan;
            }
        };
        let (base_model, base_diags) = crate::model::load(base);
        let base_sets = match render(&base_model, blueprints) {
            Ok(sets) => without_run_workflows(sets),
            Err(e) => {
                plan.notes.push(format!(
                    "`{base_ref}` does not render ({e}); changes are shown against empty clusters"
                ));
                BTreeMap::new()
            }
        };
        if base_diags.iter().any(Diagnostic::is_error) {
            plan.notes.push(format!(
                "`{base_ref}` has validation errors: projects with errors are held at their last good revision there, so the clusters may differ from this comparison"
            ));
        }
        let clusters: BTreeSet<&String> = base_sets.keys().chain(head_sets.keys()).collect();
        plan.plans = clusters
            .into_iter()
            .map(|c| {
                let mut p = diff_sets(c, base_sets.get(c), head_sets.get(c));
                let limit = head_model.clusters.get(c).and_then(|c| c.spec.prune_limit);
                guard(&mut p, limit, allow);
                p
            })
            .collect();
        plan.quota = quota_impact(&base_model, &head_model);
        plan.schedules = schedule_changes(&base_model, &head_model, runs, now);
        plan
    }
}

/// The sets without the Workflows render made for `Run` manifests: the run controller creates
/// those when admitted and the loop never applies them, so the plan does not list them either
/// (the comment's schedule section and the merged-PR run notice speak of runs).
fn without_run_workflows(mut sets: BTreeMap<String, RenderedSet>) -> BTreeMap<String, RenderedSet> {
    for set in sets.values_mut() {
        set.objects.retain(|o| !crate::runs::workflow::is_run(o));
    }
    sets
}

/// The plan that takes a cluster from `base` to `head`: creates and updates in `head`'s
/// (apply) order, then deletes in reverse order. Objects compare by content hash; diffs leave
/// out the revision and hash annotations and redact Secret values.
pub fn diff_sets(cluster: &str, base: Option<&RenderedSet>, head: Option<&RenderedSet>) -> Plan {
    let before: BTreeMap<ObjectKey, &RenderedObject> =
        objects(base).iter().map(|o| (o.key(), o)).collect();
    let mut changes = Vec::new();
    let mut kept = BTreeSet::new();
    for o in objects(head) {
        let key = o.key();
        let old = before.get(&key).copied();
        let action = match old {
            None => Action::Create,
            Some(b) if b.hash == o.hash => Action::Unchanged,
            Some(_) => Action::Update,
        };
        kept.insert(key.clone());
        changes.push(change(key, action, old, Some(o)));
    }
    for o in objects(base).iter().rev() {
        let key = o.key();
        if !kept.contains(&key) {
            changes.push(change(key, Action::Delete, Some(o), None));
        }
    }
    Plan {
        cluster: cluster.to_string(),
        changes,
        untouched: 0,
        held: None,
    }
}

fn change(
    key: ObjectKey,
    action: Action,
    old: Option<&RenderedObject>,
    new: Option<&RenderedObject>,
) -> Change {
    let known = new.or(old).expect("an object on one side");
    let diff = (action != Action::Unchanged).then(|| {
        let namespace = if key.namespace.is_empty() {
            "_cluster"
        } else {
            &key.namespace
        };
        let label = format!("{namespace}/{}/{}", key.kind, key.name);
        unified_diff(
            old.map(|o| unstamped(o.body.to_value())).as_ref(),
            new.map(|o| unstamped(o.body.to_value())).as_ref(),
            &label,
        )
    });
    Change {
        key,
        action,
        project: known.project.clone(),
        source: known.source.clone(),
        diff,
        desired: None,
        note: None,
    }
}

fn objects(set: Option<&RenderedSet>) -> &[RenderedObject] {
    set.map(|s| s.objects.as_slice()).unwrap_or_default()
}

/// The body without the revision and hash annotations (they change with every commit).
fn unstamped(mut body: Value) -> Value {
    if let Some(a) = body
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(REVISION_ANNOTATION);
        a.remove(HASH_ANNOTATION);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::hash::content_hash;
    use serde_json::json;

    fn obj(kind: &str, name: &str, data: Value) -> RenderedObject {
        let body = json!({"apiVersion": "v1", "kind": kind,
            "metadata": {"name": name, "namespace": "p", "annotations": {REVISION_ANNOTATION: name}},
            "data": data});
        RenderedObject {
            hash: content_hash(&body),
            body: body.into(),
            project: Some("p".into()),
            source: format!("projects/p/{name}.yaml"),
        }
    }

    fn set(objects: Vec<RenderedObject>) -> RenderedSet {
        RenderedSet {
            cluster: "local".into(),
            objects,
        }
    }

    #[test]
    fn creates_changes_and_deletes_by_hash() {
        let base = set(vec![
            obj("ConfigMap", "same", json!({"a": "1"})),
            obj("ConfigMap", "edited", json!({"a": "1"})),
            obj("ConfigMap", "gone", json!({"a": "1"})),
        ]);
        let mut same = obj("ConfigMap", "same", json!({"a": "1"}));
        same.body
            .edit(|b| b["metadata"]["annotations"][REVISION_ANNOTATION] = json!("newer"));
        let head = set(vec![
            same,
            obj("ConfigMap", "edited", json!({"a": "2"})),
            obj("ConfigMap", "new", json!({"b": "1"})),
        ]);
        let plan = diff_sets("local", Some(&base), Some(&head));
        let actions: Vec<(String, Action)> = plan
            .changes
            .iter()
            .map(|c| (c.key.name.clone(), c.action))
            .collect();
        assert_eq!(
            actions,
            vec![
                ("same".into(), Action::Unchanged),
                ("edited".into(), Action::Update),
                ("new".into(), Action::Create),
                ("gone".into(), Action::Delete),
            ]
        );
        let edited = plan.changes[1].diff.as_deref().unwrap();
        assert!(
            edited.contains("-  a: '1'") || edited.contains("-  a: \"1\""),
            "{edited}"
        );
        assert!(!edited.contains(REVISION_ANNOTATION), "{edited}");
        assert!(plan.changes[0].diff.is_none());
        let all_gone = diff_sets("local", Some(&base), None);
        assert!(all_gone.changes.iter().all(|c| c.action == Action::Delete));
    }

    #[test]
    fn secret_values_never_reach_a_diff() {
        let head = set(vec![obj("Secret", "creds", json!({"password": "hunter2"}))]);
        let plan = diff_sets("local", None, Some(&head));
        let diff = plan.changes[0].diff.as_deref().unwrap();
        assert!(
            !diff.contains("hunter2") && diff.contains("<redacted>"),
            "{diff}"
        );
    }
}
