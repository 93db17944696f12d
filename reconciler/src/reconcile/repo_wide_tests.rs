//! A revision with an error that is no project's applies nothing anywhere: its status still
//! lists every cluster, `Failed` for that reason, with the objects the last reconcile applied
//! there (they stay in the clusters), instead of leaving the clusters out.

use super::Reconciler;
use super::synth_loop::SynthLoop;
use crate::report::status_branch::read_status;
use cubist_status_ui::doc::{Summary, SyncState};
use cubist_status_ui::tree::paths;
use std::collections::BTreeMap;

/// The status files of each cluster's units, and the summary.
fn status(rec: &Reconciler) -> (Vec<String>, Summary) {
    let files: BTreeMap<String, Vec<u8>> =
        read_status(rec.mirror().repo(), &rec.cfg.status_branch).unwrap();
    let units = files
        .keys()
        .filter(|p| p.starts_with(paths::CLUSTERS_DIR))
        .cloned()
        .collect();
    let summary = cubist_status_ui::yaml::from_yaml(&files[paths::SUMMARY]).unwrap();
    (units, summary)
}

#[test]
fn a_repository_wide_error_keeps_every_cluster_in_the_status() {
    let mut lp = SynthLoop::new();
    let step = |lp: &mut SynthLoop| {
        let head = lp.commit();
        lp.rec.reconcile(head).unwrap()
    };
    step(&mut lp);
    let (units, _) = status(&lp.rec);
    assert!(!units.is_empty());
    // One more project on cluster-1: the quotas there add up to more than its capacity, an
    // error of the platform, not of a project.
    let project = lp.src.join("projects/team-0002/project.yaml");
    let text = std::fs::read_to_string(&project).unwrap();
    std::fs::write(
        &project,
        text.replace("clusters: [cluster-0]", "clusters: [cluster-1]"),
    )
    .unwrap();
    let outcome = step(&mut lp);
    assert!(
        outcome
            .diagnostics
            .iter()
            .any(|d| d.is_error() && d.project.is_none()),
        "a repository-wide error"
    );
    let (held_units, summary) = status(&lp.rec);
    assert_eq!(held_units, units, "the objects' statuses stay");
    assert_eq!(
        crate::report::status_shard::cluster_states(&summary),
        vec![
            ("cluster-0", SyncState::Failed),
            ("cluster-1", SyncState::Failed)
        ]
    );
    assert!(
        summary.clusters[0].errors[0]
            .message
            .contains("not applied"),
        "{:?}",
        summary.clusters[0].errors
    );
}
