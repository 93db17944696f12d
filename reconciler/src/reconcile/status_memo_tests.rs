//! The status commit a reconcile makes by changing the previous commit's files (only what
//! changed is made again, see `report::status_doc`) holds what one made from nothing holds.

use super::Reconciler;
use super::synth_loop::SynthLoop;
use crate::report::status_branch::{REPLACED, read_status};
use crate::synth::edit;
use cubist_status_ui::tree::paths;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The status branch's files each reconcile writes whole, but the summary (it says when).
fn replaced_files(rec: &Reconciler) -> BTreeMap<String, Vec<u8>> {
    let mut files = read_status(rec.mirror().repo(), &rec.cfg.status_branch).unwrap();
    files.retain(|p, _| p != paths::SUMMARY && REPLACED.iter().any(|r| p.starts_with(r)));
    files
}

/// The projects the summary on the status branch lists.
fn summary_projects(rec: &Reconciler) -> Vec<cubist_status_ui::doc::ProjectStatus> {
    let files = read_status(rec.mirror().repo(), &rec.cfg.status_branch).unwrap();
    let summary: cubist_status_ui::doc::Summary =
        cubist_status_ui::yaml::from_yaml(&files[paths::SUMMARY]).unwrap();
    summary.projects
}

/// `/<project>/` and `/<project>.yaml` of the synthetic projects no longer in `src`.
fn projects_gone(src: &Path) -> Vec<String> {
    (0..10)
        .map(|i| format!("team-{i:04}"))
        .filter(|p| !src.join("projects").join(p).exists())
        .flat_map(|p| [format!("/{p}/"), format!("/{p}.yaml")])
        .collect()
}

#[test]
fn each_status_commit_holds_what_one_made_from_nothing_does() {
    let mut lp = SynthLoop::new();
    let src = lp.src.clone();
    let projects = src.join("projects");
    let service = projects.join("team-0001/services/service-0.yaml");
    let broken = projects.join("team-0004/services/service-0.yaml");
    let (to_1, to_0) = (
        projects.join("team-0002/project.yaml"),
        projects.join("team-0001/project.yaml"),
    );
    type Step<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let steps: Vec<Step> = vec![
        ("first", Box::new(|| {})),
        (
            "one service",
            Box::new(|| edit(&service, "target: 70", "target: 71")),
        ),
        (
            "a broken service",
            Box::new(|| edit(&broken, "target: 70", "target: seventy")),
        ),
        (
            "two projects swap clusters",
            Box::new(|| {
                edit(&to_1, "clusters: [cluster-0]", "clusters: [cluster-1]");
                edit(&to_0, "clusters: [cluster-1]", "clusters: [cluster-0]");
            }),
        ),
        (
            "a project gone",
            Box::new(|| fs::remove_dir_all(projects.join("team-0005")).unwrap()),
        ),
        (
            "a project copied",
            Box::new(|| {
                let to = projects.join("team-0099/services");
                fs::create_dir_all(&to).unwrap();
                let project = fs::read_to_string(projects.join("team-0001/project.yaml")).unwrap();
                fs::write(
                    projects.join("team-0099/project.yaml"),
                    project.replace("team-0001", "team-0099"),
                )
                .unwrap();
                fs::copy(&service, to.join("s.yaml")).unwrap();
            }),
        ),
        (
            "the broken service mended",
            Box::new(|| edit(&broken, "target: seventy", "target: 70")),
        ),
        (
            "a platform template that every project fails",
            Box::new(|| {
                edit(
                    &src.join("templates/python.yaml"),
                    "required: [script]",
                    "required: [script, extra]",
                )
            }),
        ),
        (
            "the template mended",
            Box::new(|| {
                edit(
                    &src.join("templates/python.yaml"),
                    "required: [script, extra]",
                    "required: [script]",
                )
            }),
        ),
        (
            "a comment in a platform template (every project rendered again, as loaded)",
            Box::new(|| {
                let path = src.join("templates/python.yaml");
                let text = fs::read_to_string(&path).unwrap();
                fs::write(&path, format!("{text}# reviewed\n")).unwrap();
            }),
        ),
        ("nothing", Box::new(|| {})),
    ];
    for (step, change) in &steps {
        change();
        let head = lp.commit();
        let rec = &mut lp.rec;
        rec.reconcile(head).unwrap();
        let changed = replaced_files(rec);
        let listed = summary_projects(rec);
        // The same revision again, with nothing kept of the last status commit; then the next
        // step goes on from what was kept.
        let memo = std::mem::take(&mut rec.status_memo);
        let written = std::mem::take(&mut rec.status_written);
        rec.reconcile(head).unwrap();
        let from_nothing = replaced_files(rec);
        assert_eq!(
            listed,
            summary_projects(rec),
            "{step}: the summary's projects"
        );
        (rec.status_memo, rec.status_written) = (memo, written);
        assert_eq!(
            changed.keys().collect::<Vec<_>>(),
            from_nothing.keys().collect::<Vec<_>>(),
            "{step}: the same paths"
        );
        for (path, bytes) in &changed {
            assert_eq!(
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(&from_nothing[path]),
                "{step}: {path}"
            );
        }
        // A project gone leaves no digest and no run records behind (its objects' deletion is
        // held by the prune guard: their statuses stay).
        let gone = projects_gone(&src);
        let left =
            |p: &String| !p.starts_with(paths::CLUSTERS_DIR) && gone.iter().any(|g| p.contains(g));
        assert!(
            !changed.keys().any(left),
            "{step}: nothing of {gone:?} stays: {:?}",
            changed.keys().filter(|p| left(p)).collect::<Vec<_>>()
        );
        assert!(
            changed.keys().any(|p| p.starts_with(paths::RUNS_DIR))
                && changed.keys().any(|p| p.starts_with(paths::PROJECTS_DIR))
                && changed.keys().any(|p| p.starts_with(paths::CLUSTERS_DIR)),
            "{step}: run records, digests and units are all compared: {:?}",
            changed.keys().collect::<Vec<_>>()
        );
    }
}
