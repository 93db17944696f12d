//! Nothing from a repository reads or writes outside its boundaries, and a lost target is
//! restored. Symbolic links are never followed (their targets' secrets are never printed,
//! committed or written); kubeconfigs are read from the operator's kubeconfig directory only
//! and never quoted; directory targets stay beside the repository, each in its own directory;
//! a directory target whose files were deleted or edited is written again, after a restart and
//! while the loop runs; temporary files a crash left are deleted.

use cubist::reconcile::{Config, Reconciler};
use cubist::report::status_branch::{Author, read_status};
use cubist::synth::{self, Shape};
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::SyncState;
use cubist_tests::corpus::{copy_tree, examples_repo};
use cubist_tests::repo::{
    cubist_binary, edit, init_with_bare_remote, kept_memory, object_files, read_dir_tree,
};
use std::path::Path;
use std::process::{Command, Output};

const SECRET: &str = "FAKE-SECRET-7f3a9c";

fn cubist(args: &[&str], dir: &Path) -> Output {
    Command::new(cubist_binary())
        .args(args)
        .arg(dir)
        .env_remove("CUBIST_KUBECONFIG_DIR")
        .env_remove("CUBIST_TARGET_ROOT")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A copy of examples-repo at `<tmp>/repo`.
fn examples(tmp: &Path) -> std::path::PathBuf {
    let repo = tmp.join("repo");
    copy_tree(&examples_repo(), &repo);
    repo
}

/// Every blob and commit message reachable from any reference of the repository at `path`.
fn everything_in(path: &Path) -> String {
    let repo = git2::Repository::open(path).unwrap();
    let mut all = String::new();
    for r in repo.references().unwrap() {
        let Some(target) = r.unwrap().target() else {
            continue;
        };
        let mut walk = repo.revwalk().unwrap();
        walk.push(target).unwrap();
        for id in walk {
            let commit = repo.find_commit(id.unwrap()).unwrap();
            all += commit.message().unwrap_or("");
            commit
                .tree()
                .unwrap()
                .walk(git2::TreeWalkMode::PreOrder, |_, e| {
                    if let Ok(blob) = e.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                        all += &String::from_utf8_lossy(blob.content());
                    }
                    git2::TreeWalkResult::Ok
                })
                .unwrap();
        }
    }
    all
}

/// Every file below `dir`, read as text where it is text.
fn files_below(dir: &Path) -> String {
    read_dir_tree(dir).into_values().collect()
}

#[cfg(unix)]
#[test]
fn links_out_of_the_repository_are_reported_and_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("team")).unwrap();
    // Not manifests: any diagnostic quoting them would print the secret.
    std::fs::write(outside.join("env"), format!("token: {SECRET}\n")).unwrap();
    std::fs::write(
        outside.join("team/project.yaml"),
        format!("apiVersion: cubist.dev/v1alpha1\nkind: Project\nmetadata: {{name: {SECRET}}}\n"),
    )
    .unwrap();
    let repo = examples(tmp.path());
    std::os::unix::fs::symlink(outside.join("env"), repo.join("projects/recsys/leak.yaml"))
        .unwrap();
    std::os::unix::fs::symlink(outside.join("team"), repo.join("projects/team")).unwrap();

    let validate = cubist(&["validate"], &repo);
    let shown = text(&validate);
    assert_eq!(validate.status.code(), Some(1), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    for link in ["projects/recsys/leak.yaml", "projects/team"] {
        assert!(
            shown.contains(&format!("{link}: error[E0001]"))
                || shown.contains(&format!("{link}:0:0"))
                || shown.contains(link),
            "{link} reported: {shown}"
        );
    }
    assert!(shown.contains("never follows links"), "{shown}");
    let plan = cubist(&["plan"], &repo);
    assert!(!text(&plan).contains(SECRET), "{}", text(&plan));

    // The loop on the plain directory: the snapshot commit, the status branch and the target
    // never hold the secret either.
    let cache = tmp.path().join("cache");
    let out = Command::new(cubist_binary())
        .args(["reconcile", "--once", "--repo"])
        .arg(&repo)
        .arg("--cache-dir")
        .arg(&cache)
        .env_remove("CUBIST_KUBECONFIG_DIR")
        .output()
        .unwrap();
    assert!(!text(&out).contains(SECRET), "{}", text(&out));
    let local = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".git"))
        .expect("the local repository");
    let committed = everything_in(&local);
    assert!(committed.contains("cubist/status") || !committed.is_empty());
    assert!(
        !committed.contains(SECRET),
        "the local repository holds the secret"
    );
    assert!(!files_below(&tmp.path().join("rendered")).contains(SECRET));
}

#[test]
fn kubeconfigs_outside_the_kubeconfig_directory_are_refused_at_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = examples(tmp.path());
    let cluster = repo.join("clusters/prod-bj.yaml");
    for (named, why) in [
        ("/etc/shadow", "not a plain path"),
        ("../../creds/kc", "not a plain path"),
        ("~/.kube/config", "home directory"),
    ] {
        let text0 = std::fs::read_to_string(&cluster).unwrap();
        let line = text0
            .lines()
            .position(|l| l.contains("kubeconfig:"))
            .unwrap()
            + 1;
        edit(
            &cluster,
            "kubeconfig: prod-bj.yaml",
            &format!("kubeconfig: {named}"),
        );
        let out = cubist(&["validate"], &repo);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{named}: {shown}");
        assert!(
            shown.contains(&format!("clusters/prod-bj.yaml:{line}:")),
            "{named} at its line: {shown}"
        );
        assert!(
            shown.contains("E1003") && shown.contains(why),
            "{named}: {shown}"
        );
        assert!(shown.contains("CUBIST_KUBECONFIG_DIR"), "the fix: {shown}");
        edit(
            &cluster,
            &format!("kubeconfig: {named}"),
            "kubeconfig: prod-bj.yaml",
        );
    }
}

#[test]
fn an_invalid_kubeconfig_is_never_quoted_and_a_missing_one_is_not_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    copy_tree(&examples_repo(), &work);
    let (remote, _) = init_with_bare_remote(tmp.path(), "platform");
    let status_of = |cache: &Path, kubeconfigs: Option<&Path>| {
        let mut cmd = Command::new(cubist_binary());
        cmd.args(["reconcile", "--once", "--repo"])
            .arg(&remote)
            .arg("--cache-dir")
            .arg(cache)
            .env_remove("CUBIST_KUBECONFIG_DIR");
        if let Some(dir) = kubeconfigs {
            cmd.env("CUBIST_KUBECONFIG_DIR", dir);
        }
        let out = cmd.output().unwrap();
        let repo = git2::Repository::open_bare(&remote).unwrap();
        let files = read_status(&repo, "cubist/status").unwrap();
        let summary = StatusTree::new(files).summary().unwrap().unwrap();
        (out, summary, everything_in(&remote))
    };

    // A fresh machine: no kubeconfig directory. prod-bj is not configured (neutral), not Failed.
    let (out, summary, _) = status_of(&tmp.path().join("cache1"), None);
    assert!(out.status.success(), "{}", text(&out));
    let state = |name: &str| {
        summary
            .clusters
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.state)
            .unwrap()
    };
    assert_eq!(state("prod-bj"), SyncState::NotConfigured, "{summary:#?}");
    assert_eq!(state("local"), SyncState::Synced, "{summary:#?}");
    let prod = summary
        .clusters
        .iter()
        .find(|c| c.name == "prod-bj")
        .unwrap();
    assert!(
        prod.errors
            .iter()
            .any(|e| e.message.contains("CUBIST_KUBECONFIG_DIR")),
        "what to set: {prod:#?}"
    );

    // `cubist plan` says so too, and does not fail for it.
    let plan = cubist(&["plan"], &work);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(
        text(&plan).contains("prod-bj is not configured"),
        "{}",
        text(&plan)
    );

    // A kubeconfig that is YAML but not a kubeconfig, holding a token: named, never quoted.
    let kubeconfigs = tmp.path().join("kubeconfigs");
    std::fs::create_dir(&kubeconfigs).unwrap();
    std::fs::write(
        kubeconfigs.join("prod-bj.yaml"),
        format!("clusters: \"{SECRET}\"\nusers: [{{token: {SECRET}}}]\n"),
    )
    .unwrap();
    let (out, _, committed) = status_of(&tmp.path().join("cache2"), Some(&kubeconfigs));
    assert!(!text(&out).contains(SECRET), "{}", text(&out));
    assert!(
        !committed.contains(SECRET),
        "the status branch quotes the kubeconfig"
    );
    assert!(
        committed.contains("not a valid kubeconfig"),
        "the error names it"
    );
}

/// examples-repo with cluster `local` targeting `path`.
fn with_local_target(tmp: &Path, path: &str) -> std::path::PathBuf {
    let repo = examples(tmp);
    edit(
        &repo.join("clusters/local.yaml"),
        "path: ../rendered/local",
        &format!("path: {path}"),
    );
    repo
}

#[test]
fn directory_targets_that_leave_the_target_root_are_refused_and_never_written() {
    let tmp = tempfile::tempdir().unwrap();
    let far = tmp.path().join("far/away");
    for (path, why) in [
        (far.display().to_string(), "is absolute"),
        ("../../../escaped".to_string(), "leaves the target root"),
        ("rendered/local".to_string(), "inside the repository"),
    ] {
        let dir = tempfile::tempdir_in(tmp.path()).unwrap();
        let repo = with_local_target(dir.path(), &path);
        let out = cubist(&["validate"], &repo);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{path}: {shown}");
        assert!(
            shown.contains("E1001") && shown.contains(why),
            "{path}: {shown}"
        );
        assert!(shown.contains("clusters/local.yaml:"), "{shown}");
        let apply = cubist(&["apply"], &repo);
        assert_ne!(apply.status.code(), Some(0), "{}", text(&apply));
        assert!(!far.exists(), "{path}: written to {}", far.display());
        assert!(!dir.path().join("../../escaped").exists());
        assert!(!repo.join("rendered").exists());
    }
}

#[test]
fn two_clusters_never_share_or_nest_a_target_directory() {
    for other in [
        "../rendered/local",
        "../rendered/local/inner",
        "../rendered",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let repo = examples(tmp.path());
        let local = std::fs::read_to_string(repo.join("clusters/local.yaml")).unwrap();
        std::fs::write(
            repo.join("clusters/local2.yaml"),
            local
                .replace("name: local\n", "name: local2\n")
                .replace("path: ../rendered/local", &format!("path: {other}")),
        )
        .unwrap();
        let out = cubist(&["validate"], &repo);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{other}: {shown}");
        assert!(shown.contains("E1002"), "{other}: {shown}");
        assert!(shown.contains("clusters/local2.yaml:"), "{shown}");
    }
}

#[cfg(unix)]
#[test]
fn a_link_in_the_target_path_that_leaves_the_target_root_stops_the_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let repo = examples(tmp.path());
    std::os::unix::fs::symlink(outside.path(), tmp.path().join("rendered")).unwrap();
    let out = cubist(&["apply"], &repo);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("symbolic link"), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written through the link"
    );
}

/// A synthetic platform of directory clusters only, in a bare remote; returns it and the
/// target of its cluster.
fn synthetic(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let work = tmp.join("work");
    let shape = Shape {
        projects: 3,
        clusters: 1,
        ..Shape::small()
    };
    synth::write(&shape, &work).unwrap();
    (
        init_with_bare_remote(tmp, "platform").0,
        tmp.join("rendered/cluster-0"),
    )
}

fn reconcile_once(remote: &Path, cache: &Path) -> Output {
    Command::new(cubist_binary())
        .args(["reconcile", "--once", "--repo"])
        .arg(remote)
        .arg("--cache-dir")
        .arg(cache)
        .output()
        .unwrap()
}

/// Deletes one object file and edits another; leaves temporary files as a crash would.
fn damage(target: &Path) {
    let mut files: Vec<_> = read_dir_tree(target)
        .into_keys()
        .filter(|p| p.contains('/') && p.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() > 2, "{files:?}");
    std::fs::remove_file(target.join(&files[0])).unwrap();
    std::fs::write(target.join(&files[1]), "edited: by hand\n").unwrap();
    std::fs::write(target.join(".cubist-tmpA1b2C3"), "half a fil").unwrap();
    let ns = target.join(&files[2]).parent().unwrap().to_path_buf();
    std::fs::write(ns.join(".cubist-tmpD4e5F6"), "half a fil").unwrap();
}

#[test]
fn a_lost_directory_target_is_restored_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (remote, target) = synthetic(tmp.path());
    let cache = tmp.path().join("cache");
    let out = reconcile_once(&remote, &cache);
    assert!(out.status.success(), "{}", text(&out));
    let clean = read_dir_tree(&target);
    assert!(!clean.is_empty());
    // `--once` keeps what the target's memory knows for the next start: every object file.
    assert_eq!(kept_memory(&cache), Some(object_files(&target)));

    // The next start takes that memory in, yet repairs what changed since.
    damage(&target);
    let out = reconcile_once(&remote, &cache);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        read_dir_tree(&target),
        clean,
        "the target is as a clean run left it"
    );
    assert_eq!(kept_memory(&cache), Some(object_files(&target)));
}

#[test]
fn a_lost_directory_target_is_restored_while_the_loop_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (remote, target) = synthetic(tmp.path());
    let mut r = Reconciler::new(Config {
        repo: remote.display().to_string(),
        branch: "main".into(),
        status_branch: "cubist/status".into(),
        cache_dir: tmp.path().join("cache"),
        target_root: remote.clone(),
        author: Author::default(),
        push_status: false,
        metrics: None,
    })
    .unwrap();
    r.poll().unwrap().expect("the first reconcile");
    let clean = read_dir_tree(&target);
    assert!(
        r.poll().unwrap().is_none(),
        "nothing to do, nothing written"
    );

    damage(&target);
    // The watch hears of the damage on its own thread: a poll that begins before the events
    // arrive sees them next time, as the loop's next poll would. Poll until restored.
    let repo = git2::Repository::open_bare(r.mirror().path()).unwrap();
    let (mut repaired, mut messages) = (0, Vec::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while read_dir_tree(&target) != clean {
        assert!(
            std::time::Instant::now() < deadline,
            "the loop never repaired the target"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        let Some(o) = r.poll().unwrap() else { continue };
        let co = &o.clusters["cluster-0"];
        assert!(
            co.repaired > 0,
            "a status commit only for a repair: {:?}",
            co.report
        );
        repaired += co.repaired;
        let status = repo
            .find_commit(o.status_commit.expect("a status commit"))
            .unwrap();
        messages.push(status.message().unwrap().to_string());
    }
    assert_eq!(repaired, 2, "one deleted, one edited file: {messages:?}");
    let said: usize = messages
        .iter()
        .map(|m| {
            let n = m.split("drift repaired: ").nth(1).expect(m);
            n.split(' ').next().unwrap().parse::<usize>().expect(m)
        })
        .sum();
    assert_eq!(said, 2, "{messages:?}");
    assert!(r.poll().unwrap().is_none(), "repaired, nothing left to do");
}

#[test]
fn the_operator_chooses_the_target_root() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = examples(tmp.path());
    let root = tmp.path().join("srv");
    std::fs::create_dir(&root).unwrap();
    let out = Command::new(cubist_binary())
        .args(["apply", "--cluster", "local", "--target-root"])
        .arg(&root)
        .arg(&repo)
        .env_remove("CUBIST_TARGET_ROOT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.join("rendered/local/cubist-inventory.yaml").is_file());
    assert!(
        !tmp.path().join("rendered").exists(),
        "nothing beside the repository"
    );
}
