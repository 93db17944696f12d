//! `cubist reconcile --once` after a reconcile that left nothing to do stops early, without
//! validating or rendering (reconciler/src/reconcile/resume.rs): only when the status branch
//! shows the head synced, its newest commit was written with the same configuration (trailer
//! `Cubist-Config:`), and each directory target still holds every file its inventory lists.

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
    assert_ne!(tip(&git), after_repair);

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
