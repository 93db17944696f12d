//! `cubist reconcile --once` after a reconcile that left nothing to do stops early, without
//! validating or rendering (reconciler/src/reconcile/resume.rs): only when the status branch
//! shows the head synced, its newest commit was written with the same configuration (trailer
//! `Cubist-Config:`) or that configuration checked it since, and each directory target still
//! holds every file its inventory lists.

use cubist::synth::{self, Shape};
use cubist_tests::repo::{commit_all, cubist_binary, edit, init_with_bare_remote};
use std::path::Path;
use std::process::Command;

const STATUS: &str = "refs/heads/cubist/status";

/// `cubist reconcile --once --repo <repo>` with its cache and targets under `root`; returns
/// its standard output (it must succeed).
fn once(repo: &str, root: &Path) -> String {
    let out = Command::new(cubist_binary())
        .args(["reconcile", "--once", "--repo", repo])
        .arg("--cache-dir")
        .arg(root.join("cache"))
        .arg("--target-root")
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn tip(remote: &git2::Repository) -> git2::Oid {
    remote.refname_to_id(STATUS).expect("status branch pushed")
}

#[test]
fn nothing_new_stops_early_unless_a_file_is_lost_or_the_configuration_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let shape = Shape {
        projects: 3,
        clusters: 1,
        ..Shape::small()
    };
    synth::write(&shape, &tmp.path().join("work")).unwrap();
    let (remote, _) = init_with_bare_remote(tmp.path(), "synthetic platform");
    let path = remote.display().to_string();
    let root = tmp.path();
    let target = tmp.path().join("rendered/cluster-0");
    let git = git2::Repository::open_bare(&remote).unwrap();

    let first = once(&path, root);
    assert!(first.contains("reconciled "), "{first}");
    let synced = tip(&git);
    let message = git
        .find_commit(synced)
        .unwrap()
        .message()
        .unwrap()
        .to_string();
    assert!(
        message.lines().any(|l| l.starts_with("Cubist-Config: ")),
        "{message}"
    );

    // Nothing new: no status commit, nothing said.
    assert_eq!(once(&path, root), "");
    assert_eq!(tip(&git), synced);

    // A file lost from the target: the early stop sees it, the revision is applied again.
    let namespace = target.join("team-0001");
    let lost = std::fs::read_dir(&namespace)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "yaml"))
        .expect("an object file");
    let content = std::fs::read_to_string(&lost).unwrap();
    std::fs::remove_file(&lost).unwrap();
    let repaired = once(&path, root);
    assert!(repaired.contains("reconciled "), "{repaired}");
    assert_eq!(std::fs::read_to_string(&lost).unwrap(), content);
    let after_repair = tip(&git);
    assert_ne!(after_repair, synced, "a status commit for the repair");

    // A file edited by hand is not looked for by the early stop (content is not read) ...
    edit(&lost, "team-0001", "team-0001-edited");
    assert_eq!(once(&path, root), "");
    assert_ne!(std::fs::read_to_string(&lost).unwrap(), content);

    // ... but a run with another configuration (the repository named by URL) does not trust
    // the status branch's word, and compares the target: the file is written again.
    let url = format!("file://{path}");
    let other = once(&url, root);
    assert!(other.contains("reconciled "), "{other}");
    assert_eq!(std::fs::read_to_string(&lost).unwrap(), content);
    let by_other = tip(&git);
    assert_ne!(by_other, after_repair);

    // Back to the first configuration (as after an upgrade of cubist): the newest status
    // commit is another's, so the first run renders and compares the targets, finds them as
    // it says (no status commit) and notes so; the next ones believe it and stop early, as on
    // a status commit of their own (a file edited since is not read).
    assert_eq!(once(&path, root), "");
    assert_eq!(tip(&git), by_other);
    edit(&lost, "team-0001", "team-0001-edited-again");
    assert_eq!(once(&path, root), "", "stopped early");
    assert!(
        std::fs::read_to_string(&lost)
            .unwrap()
            .contains("team-0001-edited-again")
    );
    assert_eq!(tip(&git), by_other);

    // A new commit is reconciled as ever.
    edit(
        &tmp.path().join("work/templates/python.yaml"),
        "PYTHONUNBUFFERED: \"",
        "PYTHONUNBUFFERED: \"x",
    );
    commit_all(&tmp.path().join("work"), "platform: python env");
    cubist_tests::repo::git(
        tmp.path().join("work").as_path(),
        &["push", "-q", &path, "main"],
    );
    let changed = once(&path, root);
    assert!(changed.contains("3 rendered"), "{changed}");
}

/// A restart renders a project's last good state only when the new revision needs it (see
/// `Deferred` in reconciler/src/reconcile/resume.rs): a project broken by the new commit is
/// held with its objects kept (never pruned), one unchanged is skipped with its files left
/// alone, and one changed is rendered at the new revision.
#[test]
fn a_restart_keeps_a_newly_broken_project_and_skips_an_unchanged_one() {
    let tmp = tempfile::tempdir().unwrap();
    let shape = Shape {
        projects: 3,
        clusters: 1,
        ..Shape::small()
    };
    let work = tmp.path().join("work");
    synth::write(&shape, &work).unwrap();
    let (remote, _) = init_with_bare_remote(tmp.path(), "synthetic platform");
    let path = remote.display().to_string();
    let root = tmp.path();
    let target = tmp.path().join("rendered/cluster-0");
    assert!(once(&path, root).contains("3 rendered"));
    let before = cubist_tests::repo::read_dir_tree(&target);
    let under = |tree: &std::collections::BTreeMap<String, String>, ns: &str| {
        tree.iter()
            .filter(|(p, _)| p.starts_with(&format!("{ns}/")))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect::<Vec<_>>()
    };
    assert!(!under(&before, "team-0001").is_empty());

    // team-0001 broken, team-0002 changed, team-0000 as it was.
    std::fs::write(
        work.join("projects/team-0001/services/service-0.yaml"),
        "kind: [not a manifest",
    )
    .unwrap();
    let service = work.join("projects/team-0002/services/service-0.yaml");
    let text = std::fs::read_to_string(&service).unwrap();
    let edited = text.replacen("target: 70", "target: 71", 1);
    assert_ne!(edited, text, "service-0 has an autoscale target");
    std::fs::write(&service, edited).unwrap();
    commit_all(&work, "break one project, change another");
    cubist_tests::repo::git(&work, &["push", "-q", &path, "main"]);

    let out = once(&path, root);
    assert!(out.contains("1 rendered, 1 skipped, 1 held"), "{out}");
    let after = cubist_tests::repo::read_dir_tree(&target);
    assert_eq!(
        under(&after, "team-0001"),
        under(&before, "team-0001"),
        "the broken project's objects are kept as they were"
    );
    assert_eq!(under(&after, "team-0000"), under(&before, "team-0000"));
    assert_ne!(under(&after, "team-0002"), under(&before, "team-0002"));
}
