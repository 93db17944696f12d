//! A revision with an error that is no project's applies nothing anywhere: its status still
//! lists every cluster, `Failed` for that reason, with the objects the last reconcile applied
//! there (they stay in the clusters), instead of leaving the clusters out.

use super::Reconciler;
use crate::report::status_branch::read_status;
use crate::source::local::commit_directory;
use crate::synth::{self, Shape};
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
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let shape = Shape {
        clusters: 2,
        ..Shape::small()
    };
    synth::write(&shape, &src).unwrap();
    let commits = tmp.path().join("commits");
    let repo = commit_directory(&src, &commits, "main").unwrap();
    let cfg = super::Config {
        target_root: tmp.path().join("targets"),
        ..super::Config::local(&repo, tmp.path().join("cache"))
    };
    let mut rec = Reconciler::new(cfg).unwrap();
    let step = |rec: &mut Reconciler| {
        commit_directory(&src, &commits, "main").unwrap();
        rec.mirror().fetch(&["main"]).unwrap();
        let head = rec.mirror().head("main").unwrap();
        rec.reconcile(head).unwrap()
    };
    step(&mut rec);
    let (units, _) = status(&rec);
    assert!(!units.is_empty());
    // One more project on cluster-1: the quotas there add up to more than its capacity, an
    // error of the platform, not of a project.
    let project = src.join("projects/team-0002/project.yaml");
    let text = std::fs::read_to_string(&project).unwrap();
    std::fs::write(
        &project,
        text.replace("clusters: [cluster-0]", "clusters: [cluster-1]"),
    )
    .unwrap();
    let outcome = step(&mut rec);
    assert!(
        outcome
            .diagnostics
            .iter()
            .any(|d| d.is_error() && d.project.is_none()),
        "a repository-wide error"
    );
    let (held_units, summary) = status(&rec);
    assert_eq!(held_units, units, "the objects' statuses stay");
    let states: Vec<(&str, SyncState)> = summary
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.state))
        .collect();
    assert_eq!(
        states,
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
