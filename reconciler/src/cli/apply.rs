//! `cubist plan` and `cubist apply` against each cluster's target.

use super::stages::load_and_render;
use super::{Format, PlanArgs};
use crate::model::kinds::Target as TargetSpec;
use crate::report::plan;
use crate::targets::Plan;
use crate::targets::cluster_target::ClusterTarget;
use crate::targets::desired::Desired;
use crate::targets::guard::{Allowances, guard};
use cubist_status_ui::doc::Inventory;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Plans every cluster (of `args.cluster`), holding the deletions the prune guard stops unless
/// `--allow-prune`; with `apply`, applies directory targets. Exit 1 when something failed or
/// deletions were held by `apply`.
pub(super) fn run(args: &PlanArgs, apply: bool) -> anyhow::Result<ExitCode> {
    let (repo, cluster, format) = (args.repo.as_path(), args.cluster.as_deref(), args.format);
    let base = super::targets_base(repo, args.target_root.as_deref());
    let Some(r) = load_and_render(repo, cluster)? else {
        return Ok(ExitCode::from(1));
    };
    let allow = if args.allow_prune {
        Allowances::all()
    } else {
        Allowances::default()
    };
    // Targets are asked through one async interface; a directory's answers never wait.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut plans: Vec<Plan> = Vec::new();
    let mut skipped = Vec::new();
    let mut failed = false;
    for (name, set) in &r.sets {
        let spec = &r.model.clusters[name].spec;
        if let TargetSpec::Kubernetes { .. } = spec.target {
            if apply {
                skipped.push((
                    name.clone(),
                    "kubernetes targets are applied by `cubist reconcile` or `cubist serve`, which record what cubist owns in the status branch; `cubist plan` shows the diff against the live cluster".into(),
                ));
                continue;
            }
            let _span = tracing::info_span!("plan", cluster = %name).entered();
            match super::kube_plan::plan(&rt, repo, name, spec, set) {
                Ok((mut p, note)) => {
                    guard(&mut p, spec.prune_limit, &allow);
                    if let Some(n) = note {
                        eprintln!("note: {n}");
                    }
                    plans.push(p);
                }
                Err(e) => {
                    // Absent credentials are a neutral state, not a failure of the plan.
                    let neutral = crate::targets::kube::KubeError::find(&e)
                        .is_some_and(|k| k.is_not_configured());
                    failed |= !neutral;
                    skipped.push((name.clone(), format!("{e:#}")));
                }
            }
            continue;
        }
        let target = match ClusterTarget::directory(&base, spec, None) {
            Ok(t) => t,
            Err(why) => {
                skipped.push((name.clone(), why));
                continue;
            }
        };
        // The directory keeps its own record of what it owns.
        let owned = Inventory::default();
        let mut p = rt.block_on(target.plan(&Desired::from_set(set.clone()), &owned))?;
        guard(&mut p, spec.prune_limit, &allow);
        if apply {
            let _span = tracing::info_span!("apply", cluster = %name).entered();
            let bar = progress_bar(p.changes.len() as u64, name);
            let (report, _) = rt.block_on(target.apply(&p, &owned, &mut |_| bar.inc(1)))?;
            bar.finish_and_clear();
            for (obj, err) in &report.failed {
                eprintln!("error: cluster {name}: {obj}: {err}");
            }
            failed |= !report.failed.is_empty();
            if let Some(h) = &p.held {
                failed = true;
                eprintln!(
                    "error: cluster {name}: {} deletion(s) held by the prune guard; rerun with --allow-prune to delete them",
                    h.changes.len()
                );
            }
            tracing::info!(
                created = report.created,
                updated = report.updated,
                deleted = report.deleted,
                "applied"
            );
        }
        plans.push(p);
    }
    let out = match format {
        Format::Json => plan::json(&plans, &skipped),
        Format::Markdown => plan::markdown(&plans, &skipped),
        Format::Text => plan::text(&plans, &skipped),
    };
    print!("{out}");
    if apply && format == Format::Text {
        println!(
            "{}",
            if plans.iter().all(Plan::is_empty) {
                "applied: 0 changes"
            } else {
                "applied"
            }
        );
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress bar on a terminal; hidden otherwise (tracing spans carry progress there).
fn progress_bar(len: u64, cluster: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("applying to {cluster}"));
    bar
}
