//! Git repositories, directory trees and the `cubist` binary, for tests that run the loop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Runs `git` in `dir` with no user/system config leaking in; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args([
            "-c",
            "user.name=alice",
            "-c",
            "user.email=alice@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Makes `dir` (already holding files) a git repository with one commit of everything on `main`;
/// returns the commit.
pub fn init_and_commit(dir: &Path, message: &str) -> String {
    git(dir, &["init", "-q", "-b", "main"]);
    commit_all(dir, message)
}

/// Makes `root/work` (already holding files) a repository with one commit on `main` and clones
/// it bare to `root/remote.git`, the remote a loop fetches from and pushes status commits to
/// (libgit2 pushes to no other kind); returns the remote and the commit.
pub fn init_with_bare_remote(root: &Path, message: &str) -> (PathBuf, String) {
    let first = init_and_commit(&root.join("work"), message);
    git(root, &["clone", "-q", "--bare", "work", "remote.git"]);
    (root.join("remote.git"), first)
}

/// The shape of [`synthetic_with_bare_remote`]'s platform: 2 projects, 1 cluster.
pub fn small_shape() -> cubist::synth::Shape {
    cubist::synth::Shape {
        projects: 2,
        clusters: 1,
        ..cubist::synth::Shape::small()
    }
}

/// A [`small_shape`] synthetic platform at `root/work` with its bare remote (see
/// [`init_with_bare_remote`]); returns the working tree, the remote and the first commit.
pub fn synthetic_with_bare_remote(root: &Path) -> (PathBuf, PathBuf, String) {
    let work = root.join("work");
    cubist::synth::write(&small_shape(), &work).unwrap();
    let (remote, first) = init_with_bare_remote(root, "synthetic platform");
    (work, remote, first)
}

/// Commits everything in the working tree of `dir`; returns the new commit.
pub fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// Every file under `dir` as `relative path → content` (empty when `dir` is missing).
pub fn read_dir_tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root)
                        .expect("below root")
                        .display()
                        .to_string(),
                    std::fs::read_to_string(&p).expect("read file"),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Replaces the first `from` with `to` in a file; the text must be present.
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read file to edit");
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).expect("write edited file");
}

/// The `cubist` binary of this workspace, next to the test executable
/// (`<target>/<profile>/deps/<test>` → `<target>/<profile>/cubist`): only the `cubist`
/// package's own tests get `CARGO_BIN_EXE_cubist`. `cargo test --workspace` builds it; alone,
/// run `cargo build --workspace --bin cubist` first (the workspace build turns on the
/// `test-hooks` feature the tests need). Panics when it is missing or older than a source file of
/// the `cubist` package, rather than test a stale binary.
pub fn cubist_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("<target>/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("cubist{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build --workspace --bin cubist`",
                bin.display()
            )
        });
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reconciler/src");
    if let Some(newer) = newest_file(&sources).filter(|(t, _)| *t > built) {
        panic!(
            "{} is older than {}: run `cargo build --workspace --bin cubist`",
            bin.display(),
            newer.1.display()
        );
    }
    bin
}

/// The most recently modified file below `dir`.
fn newest_file(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            if path.is_dir() {
                newest_file(&path)
            } else {
                Some((e.metadata().ok()?.modified().ok()?, path))
            }
        })
        .max()
}

/// The names of the files in `dir` that start with `prefix`, sorted (none when `dir` is absent).
pub fn file_names(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The files a directory target's memory kept in the cache directory `cache` lists
/// (`targets/*.memory`, one at most), by path inside the target, sorted; `None` when none was
/// kept.
pub fn kept_memory(cache: &Path) -> Option<Vec<String>> {
    let mut kept: Vec<PathBuf> = std::fs::read_dir(cache.join("targets"))
        .ok()?
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "memory"))
        .collect();
    assert!(kept.len() <= 1, "one kept memory per target: {kept:?}");
    let text = std::fs::read_to_string(kept.pop()?).expect("read the kept memory");
    let mut paths: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| {
            let line: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            line["path"].as_str().expect("a path").to_string()
        })
        .collect();
    paths.sort();
    Some(paths)
}

/// The object files of a directory target (not its inventory, run files or temporary files),
/// sorted.
pub fn object_files(target: &Path) -> Vec<String> {
    read_dir_tree(target)
        .into_keys()
        .filter(|p| p.contains('/') && !p.contains("/runs/") && p.ends_with(".yaml"))
        .collect()
}
