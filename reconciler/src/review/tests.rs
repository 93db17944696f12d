//! The review stages on the test corpus's base repository: plan → comment and statuses.

use super::apply::{ApplyResult, ClusterApply, apply_comment, apply_status};
use super::links::Links;
use super::markdown::{PLAN_MARKER, plan_comment, plan_status, validate_status};
use super::plan::PrPlan;
use crate::reconcile::HealthCounts;
use crate::render::Blueprints;
use crate::source::{Snapshot, snapshot_dir};
use crate::targets::Action;
use crate::targets::guard::Allowances;
use cubist_github::{CommitState, GITHUB_COMMENT_LIMIT};
use std::path::Path;

const BASE: &str = "1111111111111111111111111111111111111111";
const HEAD: &str = "2222222222222222222222222222222222222222";
const DAILY: &str = "projects/p/pipelines/daily.yaml";

fn links() -> Links {
    Links {
        web_base: "https://github.com".into(),
        owner: "acme".into(),
        name: "platform".into(),
    }
}

/// The corpus base, with `edit` applied to `DAILY`, as a snapshot at `sha`.
fn snapshot(sha: &str, edit: impl Fn(String) -> String) -> Snapshot {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/_base");
    let mut snap = snapshot_dir(&base).unwrap();
    let crate::source::FileBody::Bytes(daily) = &snap.files[DAILY] else {
        panic!("daily.yaml is read");
    };
    let text = edit(String::from_utf8(daily.to_vec()).unwrap());
    snap.insert(DAILY.into(), text.into_bytes());
    snap.revision = Some(sha.into());
    snap
}

fn plan(edit: impl Fn(String) -> String) -> PrPlan {
    let blueprints = Blueprints::embedded().unwrap();
    PrPlan::compute(
        "main",
        &snapshot(BASE, |s| s),
        &snapshot(HEAD, edit),
        &Default::default(),
        &blueprints,
    )
}

fn cycle(s: String) -> String {
    s.replacen(
        "      template: python\n      args: {script: extract.py}",
        "      template: python\n      after: [report]\n      args: {script: extract.py}",
        1,
    )
}

fn more_workers(s: String) -> String {
    s.replacen("workers: 1}", "workers: 2}", 1)
}

#[test]
fn a_cycle_is_linked_at_its_line_and_fails_validation() {
    let plan = plan(cycle);
    assert_eq!(plan.errors(), 1, "{:?}", plan.diagnostics);
    assert!(plan.plans.is_empty() && plan.not_planned.is_some());
    let md = plan_comment(&plan, &links(), GITHUB_COMMENT_LIMIT);
    assert!(md.starts_with(PLAN_MARKER), "{md}");
    let link = format!("(https://github.com/acme/platform/blob/{HEAD}/{DAILY}#L15)");
    assert!(
        md.contains(&format!("**E0402** [`{DAILY}:15:15`]{link}")),
        "{md}"
    );
    assert!(md.contains("extract → train → report → extract"), "{md}");
    assert!(
        md.contains("Not planned: the head has 1 validation error."),
        "{md}"
    );
    assert_eq!(
        validate_status(&plan),
        (
            CommitState::Failure,
            format!("1 error; first: E0402 {DAILY}:15")
        )
    );
    assert_eq!(
        plan_status(&plan),
        (
            CommitState::Failure,
            "not planned: the head has 1 validation error".into()
        )
    );
}

#[test]
fn a_valid_head_is_planned_per_cluster_with_quota_impact() {
    let plan = plan(more_workers);
    assert_eq!(plan.errors(), 0, "{:?}", plan.diagnostics);
    let local = &plan.plans[0];
    assert_eq!(local.cluster, "local");
    assert_eq!(
        (local.count(Action::Create), local.count(Action::Delete)),
        (0, 0)
    );
    let changed = local.count(Action::Update);
    assert!(changed >= 1, "{local:?}");
    // parallelism 2: train (2 → 3 replicas of 4 cpu) + report (1), plus the service (2 × 2).
    let cpu = plan
        .quota
        .iter()
        .find(|q| q.resource == "cpu")
        .expect("cpu row");
    assert_eq!(
        (cpu.show(cpu.before), cpu.show(cpu.after)),
        ("13".into(), "17".into())
    );
    let md = plan_comment(&plan, &links(), GITHUB_COMMENT_LIMIT);
    let unchanged = local.count(Action::Unchanged);
    assert!(
        md.contains(&format!("| `local` | 0 | {changed} | 0 | {unchanged} |")),
        "{md}"
    );
    assert!(
        md.contains("| `p` | `local` | cpu | 13 | 17 | 32 |"),
        "{md}"
    );
    assert!(md.contains("<details><summary>change <code>"), "{md}");
    assert!(
        md.contains("-      - --nnodes=1") || md.contains("--nnodes=2"),
        "{md}"
    );
    assert_eq!(
        plan_status(&plan),
        (CommitState::Success, format!("local +0 ~{changed} -0"))
    );
    assert_eq!(validate_status(&plan).0, CommitState::Success);
}

#[test]
fn diffs_that_do_not_fit_are_left_out_with_a_note() {
    let plan = plan(more_workers);
    let full = plan_comment(&plan, &links(), GITHUB_COMMENT_LIMIT);
    let limit = full.chars().count() - 10;
    let cut = plan_comment(&plan, &links(), limit);
    assert!(cut.chars().count() <= limit);
    assert!(
        cut.starts_with(PLAN_MARKER) && cut.contains("| `local` |"),
        "{cut}"
    );
    assert!(
        cut.contains("changes' diffs did not fit in a GitHub comment"),
        "{cut}"
    );
    assert!(!full.contains("did not fit"));
}

/// The reconcile of `HEAD` with `local` as `cluster` says, and its apply comment.
fn merged(cluster: ClusterApply) -> (ApplyResult, String) {
    let result = ApplyResult {
        revision: HEAD.into(),
        clusters: vec![ClusterApply {
            cluster: "local".into(),
            ..cluster
        }],
        ..Default::default()
    };
    let md = apply_comment(&result, &links());
    (result, md)
}

#[test]
fn apply_comment_shows_each_cluster_and_fails_on_failures() {
    let (mut result, md) = merged(ClusterApply {
        applied: 3,
        pruned: 1,
        unchanged: 40,
        health: Some(HealthCounts {
            healthy: 43,
            progressing: 1,
            ..Default::default()
        }),
        ..Default::default()
    });
    assert!(
        md.contains("| `local` | ✅ applied | 3 | 1 | 40 | 0 | 43 healthy, 1 progressing |"),
        "{md}"
    );
    assert_eq!(
        apply_status(&result),
        (CommitState::Success, "applied: local +3 -1".into())
    );
    result.clusters[0].failed = vec![("Workflow p/x".into(), "<forbidden>".into())];
    result.clusters.push(ClusterApply {
        cluster: "prod".into(),
        skipped: Some("unreachable".into()),
        ..Default::default()
    });
    let md = apply_comment(&result, &links());
    assert!(
        md.contains("| `local` | ❌ failed |") && md.contains("&lt;forbidden&gt;"),
        "{md}"
    );
    assert!(md.contains("| `prod` | ⚠️ skipped: unreachable |"), "{md}");
    assert_eq!(
        apply_status(&result),
        (
            CommitState::Failure,
            "incomplete: local 1 failed; prod skipped".into()
        )
    );
}

/// A head that removes project `p`, planned with the trailers `message` allows.
fn plan_without_p(message: &str) -> PrPlan {
    let mut head = snapshot(HEAD, |s| s);
    head.files
        .retain(|path, _| !path.starts_with("projects/p/"));
    let mut allow = Allowances::default();
    allow.read_message(message);
    let blueprints = Blueprints::embedded().unwrap();
    PrPlan::compute("main", &snapshot(BASE, |s| s), &head, &allow, &blueprints)
}

#[test]
fn a_head_that_removes_a_project_warns_that_its_deletions_would_be_held() {
    let plan = plan_without_p("remove p");
    assert_eq!(plan.errors(), 0, "{:?}", plan.diagnostics);
    let local = &plan.plans[0];
    let held = local.held.as_ref().expect("deletions held");
    assert!(!held.changes.is_empty() && local.count(Action::Delete) == 0);
    let md = plan_comment(&plan, &links(), GITHUB_COMMENT_LIMIT);
    assert!(
        md.contains("### cubist plan: ⚠️ valid, deletions would be held"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "> **Deletions held on `local`**: {} of the {} objects",
            held.changes.len(),
            held.owned
        )),
        "{md}"
    );
    assert!(md.contains("> - project `p` would lose all"), "{md}");
    assert!(md.contains("`Cubist-Allow-Prune: project/p`"), "{md}");
    let (state, text) = plan_status(&plan);
    assert_eq!(state, CommitState::Failure);
    assert!(
        text.starts_with("action required: deletions would be held (local -"),
        "{text}"
    );

    // Merged as is: the apply comment and `cubist/apply` say the deletions were held.
    let (result, md) = merged(ClusterApply {
        unchanged: held.owned - held.changes.len(),
        prune_held: Some(held.clone()),
        ..Default::default()
    });
    assert!(
        md.contains("| `local` | ⚠️ applied, deletions held |"),
        "{md}"
    );
    assert!(md.contains("> **Deletions held on `local`**"), "{md}");
    let (state, text) = apply_status(&result);
    assert_eq!(state, CommitState::Failure);
    assert!(
        text.contains(&format!("({} deletions held)", held.changes.len())),
        "{text}"
    );

    let allowed = plan_without_p("remove p\n\nCubist-Allow-Prune: project/p");
    assert!(allowed.plans[0].held.is_none());
    assert_eq!(allowed.plans[0].count(Action::Delete), held.changes.len());
    assert_eq!(plan_status(&allowed).0, CommitState::Success);
    let md = plan_comment(&allowed, &links(), GITHUB_COMMENT_LIMIT);
    assert!(!md.contains("Deletions held"), "{md}");
}

/// `daily` moved from 02:00 to 06:00 (and `keepLast: 1` when `keep`), planned on 2026-11-05
/// 08:00 in Shanghai against `runs`.
fn schedule_plan(keep: bool, runs: Option<cubist_status_ui::runs::PipelineRuns>) -> PrPlan {
    let blueprints = Blueprints::embedded().unwrap();
    let head = snapshot(HEAD, |s| {
        let s = s.replacen("cron: \"0 2 * * *\"", "cron: \"0 6 * * *\"", 1);
        if keep {
            s.replacen(
                "startFrom: 2026-11-01",
                "startFrom: 2026-11-01\n    keepLast: 1",
                1,
            )
        } else {
            s
        }
    });
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-05T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let lookup = move |p: &str, n: &str| runs.clone().filter(|_| (p, n) == ("p", "daily"));
    PrPlan::compute_with_runs(
        "main",
        &snapshot(BASE, |s| s),
        &head,
        &Allowances::default(),
        &blueprints,
        &lookup,
        now,
    )
}

#[test]
fn a_schedule_change_shows_next_dates_before_and_after_and_its_catch_up() {
    use cubist_status_ui::runs::{ClusterRuns, PipelineRuns};
    // No runs file: every execution from startFrom to now is due again.
    let moved = schedule_plan(false, None);
    assert_eq!(moved.errors(), 0, "{:?}", moved.diagnostics);
    let md = plan_comment(&moved, &links(), GITHUB_COMMENT_LIMIT);
    let section = &md[md.find("#### Schedules").expect("a schedules section")..];
    assert!(
        section.contains("**`p/daily`**: `0 2 * * * Asia/Shanghai` → `0 6 * * * Asia/Shanghai`"),
        "{section}"
    );
    assert!(
        section.contains("| 1 | 2026-11-06 02:00 +08:00 | 2026-11-06 06:00 +08:00 |"),
        "{section}"
    );
    assert!(section.contains("| 5 | 2026-11-10 02:00 +08:00 | 2026-11-10 06:00 +08:00 |"));
    assert!(
        section.contains("Catch-up from 2026-10-31 16:00 UTC (executions up to now not yet recorded): 5 runs on each cluster of the project."),
        "{section}"
    );

    // With runs settled through 2026-11-04 02:00, the 06:00 executions before it are known.
    let mut runs = PipelineRuns::default();
    runs.clusters.insert(
        "local".into(),
        ClusterRuns {
            settled_through: chrono::DateTime::parse_from_rfc3339("2026-11-04T02:00:00+08:00").ok(),
            ..ClusterRuns::default()
        },
    );
    let md = plan_comment(
        &schedule_plan(false, Some(runs.clone())),
        &links(),
        GITHUB_COMMENT_LIMIT,
    );
    assert!(md.contains("not yet recorded): `local`: 2 runs."), "{md}");
    let md = plan_comment(
        &schedule_plan(true, Some(runs)),
        &links(),
        GITHUB_COMMENT_LIMIT,
    );
    assert!(
        md.contains(
            "`local`: 2 executions due: the newest 1 run, 1 recorded as Skipped (`keepLast: 1`)."
        ),
        "{md}"
    );

    // A change that leaves the executions alone has no section.
    let md = plan_comment(&plan(more_workers), &links(), GITHUB_COMMENT_LIMIT);
    assert!(!md.contains("#### Schedules"), "{md}");
}
