//! Kill during apply → restart converges. `cubist reconcile --once` runs on a synthetic
//! repository; the test-only hook `CUBIST_TEST_HOLD_APPLY_AFTER` (reconciler/src/reconcile/
//! test_hook.rs) holds the apply after some objects, and the process is SIGKILLed there. A
//! restart must leave the directory target exactly as an uninterrupted reconcile does, with a
//! complete inventory, no temporary files and a status commit for the revision; a third run
//! must write nothing.

use cubist::reconcile::test_hook::HOLD_APPLY_AFTER;
use cubist::reconcile::{Config, Reconciler};
use cubist::report::status_branch::Author;
use cubist::synth::{self, Shape};
use cubist::targets::directory::{DirectoryTarget, INVENTORY_FILE};
use cubist_tests::repo::{cubist_binary, init_with_bare_remote, read_dir_tree};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

const STATUS: &str = "refs/heads/cubist/status";
const HOLD_AFTER: usize = 40;

fn reconcile_once(repo: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(cubist_binary());
    cmd.args(["reconcile", "--once", "--repo"])
        .arg(repo)
        .arg("--cache-dir")
        .arg(cache)
        .env_remove(HOLD_APPLY_AFTER);
    cmd
}

/// Every file below `dir` with its modification time.
fn mtimes(dir: &Path) -> BTreeMap<String, SystemTime> {
    read_dir_tree(dir)
        .into_keys()
        .map(|p| {
            let t = std::fs::metadata(dir.join(&p)).unwrap().modified().unwrap();
            (p, t)
        })
        .collect()
}

#[test]
fn kill_during_apply_then_restart_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let shape = Shape {
        projects: 6,
        clusters: 1,
        ..Shape::small()
    };
    synth::write(&shape, &work).unwrap();
    let (remote, revision) = init_with_bare_remote(tmp.path(), "synthetic platform");
    let cache = tmp.path().join("cache");
    // clusters/cluster-0.yaml targets `../rendered/cluster-0`, relative to the repository.
    let target = tmp.path().join("rendered/cluster-0");

    // 1. Killed mid-apply.
    let mut child = reconcile_once(&remote, &cache)
        .env(HOLD_APPLY_AFTER, HOLD_AFTER.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        seen += &line;
        assert!(
            n > 0,
            "cubist exited before the hook held the apply:\n{seen}"
        );
        if line.contains("test hook: holding the apply") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = read_dir_tree(&target);
    let remote_repo = git2::Repository::open_bare(&remote).unwrap();
    assert!(
        remote_repo.refname_to_id(STATUS).is_err(),
        "killed before the status commit"
    );

    // 2. Restart: converges.
    let out = reconcile_once(&remote, &cache).output().unwrap();
    assert!(
        out.status.success(),
        "restart failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let converged = read_dir_tree(&target);

    // The same as an uninterrupted reconcile of the revision into a fresh directory.
    let clean_root = tmp.path().join("clean");
    let mut clean = Reconciler::new(Config {
        repo: remote.display().to_string(),
        branch: "main".into(),
        status_branch: "cubist/status".into(),
        cache_dir: clean_root.join("cache"),
        target_root: clean_root.join("repo"),
        author: Author::default(),
        push_status: false,
        metrics: None,
    })
    .unwrap();
    let o = clean
        .reconcile(git2::Oid::from_str(&revision).unwrap())
        .unwrap();
    let expected = read_dir_tree(&clean_root.join("rendered/cluster-0"));
    let objects = o.clusters["cluster-0"].desired.len();
    assert!(
        partial.len() > HOLD_AFTER && partial.len() < objects,
        "the kill left a partly applied target ({} of {objects} files)",
        partial.len()
    );
    assert_eq!(
        converged.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(
        converged == expected,
        "every file as a clean reconcile writes it"
    );
    assert!(
        !converged
            .keys()
            .any(|p| p.rsplit('/').next().unwrap().starts_with('.')),
        "no temporary files left"
    );
    let inventory = DirectoryTarget::new(&target).inventory().unwrap();
    assert_eq!(inventory.objects.len(), objects, "inventory complete");
    assert!(converged.contains_key(INVENTORY_FILE));

    let status = remote_repo
        .refname_to_id(STATUS)
        .expect("status branch pushed");
    let message = remote_repo
        .find_commit(status)
        .unwrap()
        .message()
        .unwrap()
        .to_string();
    assert!(
        message.contains(&format!("Cubist-Source-Revision: {revision}")),
        "{message}"
    );

    // 3. A third run writes nothing: no status commit, no file touched.
    let before = mtimes(&target);
    let out = reconcile_once(&remote, &cache).output().unwrap();
    assert!(out.status.success());
    assert_eq!(remote_repo.refname_to_id(STATUS).unwrap(), status);
    assert_eq!(mtimes(&target), before);
    assert_eq!(read_dir_tree(&target), converged);
}
