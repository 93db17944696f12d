//! Status commits are never lost: several writers share one status branch through every local
//! transport (a bare repository by `file://` URL and by path, a working repository by path and
//! by URL), as threads and as processes. Afterwards every commit a writer was told it wrote is
//! on the branch, each writer's last file is in its tree, and the remote's reflog shows only
//! fast-forwards. Also: a status ref that is not a commit, in the mirror and on the remote.

use cubist::report::status_branch::{
    Author, StatusFile, StatusFiles, Written, read_status, write_status,
};
use cubist_tests::procs::{Running, spawn};
use cubist_tests::repo::git;
use cubist_tests::status_writer::{self, BRANCH, Writes, writer};
use git2::{Oid, Repository};
use std::path::PathBuf;
use std::process::Command;
use tempfile::TempDir;

const REFNAME: &str = "refs/heads/cubist/status";
const ROUNDS: usize = 30;

/// A remote repository for the status branch, and the URL writers are given.
struct Remote {
    _tmp: TempDir,
    path: PathBuf,
    url: String,
}

impl Remote {
    /// A bare repository that keeps a reflog of its branches (git's default is none when bare).
    fn bare(by_url: bool) -> Remote {
        let tmp = tempfile::tempdir().unwrap();
        // By URL, a name to percent-encode.
        let path = tmp.path().join(if by_url {
            "status remote.git"
        } else {
            "remote.git"
        });
        std::fs::create_dir(&path).unwrap();
        git(&path, &["init", "-q", "--bare"]);
        git(&path, &["config", "core.logAllRefUpdates", "true"]);
        Remote::new(tmp, path, by_url)
    }

    /// A working repository with `main` checked out (the status branch is not).
    fn working(by_url: bool) -> Remote {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("work");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("README"), "platform\n").unwrap();
        cubist_tests::repo::init_and_commit(&path, "first");
        Remote::new(tmp, path, by_url)
    }

    fn new(tmp: TempDir, path: PathBuf, by_url: bool) -> Remote {
        let url = if by_url {
            format!("file://{}", path.display()).replace(' ', "%20")
        } else {
            path.display().to_string()
        };
        Remote {
            _tmp: tmp,
            path,
            url,
        }
    }

    /// Serves the (bare) repository with `git daemon`, pushes allowed: a network transport
    /// (git's own upload-pack and receive-pack, over TCP). Returns the daemon and its URL.
    fn served(&self) -> (Running, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = self.path.parent().unwrap();
        // git-daemon itself: `git daemon` would run it as a child that outlives a killed `git`.
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .unwrap()
            .stdout;
        let exec_path = PathBuf::from(String::from_utf8(exec_path).unwrap().trim());
        let mut cmd = Command::new(exec_path.join("git-daemon"));
        cmd.args(["--export-all", "--enable=receive-pack", "--reuseaddr"])
            .args(["--listen=127.0.0.1", &format!("--port={port}")])
            .arg(format!("--base-path={}", base.display()))
            .arg(base);
        let (daemon, _) = spawn(cmd);
        // Generous, only so that a daemon that never listens does not hang the test.
        let listening = (0..300).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(listening, "git daemon did not listen on port {port}");
        let name = self.path.file_name().unwrap().to_string_lossy();
        (daemon, format!("git://127.0.0.1:{port}/{name}"))
    }

    fn repo(&self) -> Repository {
        Repository::open(&self.path).unwrap()
    }
}

/// Checks the remote after the writers are done (see the module doc).
fn check(remote: &Remote, writes: &[Writes], errors: &[String]) {
    let repo = remote.repo();
    let tip = repo.refname_to_id(REFNAME).expect("status branch written");
    let mut lost = Vec::new();
    for (id, _) in writes.iter().flatten() {
        if *id != tip && !repo.graph_descendant_of(tip, *id).unwrap_or(false) {
            lost.push(*id);
        }
    }
    let total: usize = writes.iter().map(Vec::len).sum();
    eprintln!("{total} of {} writes succeeded", writes.len() * ROUNDS);
    assert!(
        lost.is_empty(),
        "{} of {total} status commits reported written are not on the branch: {lost:?}",
        lost.len()
    );
    let files = read_status(&repo, BRANCH).unwrap();
    for (w, ok) in writes.iter().enumerate() {
        let last = ok
            .last()
            .map(|(_, round)| *round)
            .expect("a write succeeded");
        assert_eq!(
            files.get(&format!("writers/{w}.txt")).map(Vec::as_slice),
            Some(format!("round {last}\n").as_bytes()),
            "writer {w}'s last file is in the tip's tree"
        );
    }
    let reflog = repo.reflog(REFNAME).unwrap();
    let mut forced = Vec::new();
    for e in reflog.iter() {
        let (old, new) = (e.id_old(), e.id_new());
        if !old.is_zero() && old != new && !repo.graph_descendant_of(new, old).unwrap_or(false) {
            forced.push(format!("{old} -> {new}"));
        }
    }
    assert!(
        forced.is_empty(),
        "{} of {} updates of the branch were not fast-forwards: {forced:?}",
        forced.len(),
        reflog.len()
    );
    assert_eq!(
        reflog.len(),
        total,
        "one branch update per status commit reported written"
    );
    // Contention may exhaust a write's attempts; that is reported, never a lost commit.
    for e in errors {
        assert!(e.contains("attempts"), "unexpected error: {e}");
    }
    assert!(
        total * 4 >= writes.len() * ROUNDS * 3,
        "at most a quarter of the writes gave up: {errors:?}"
    );
}

/// `n` writer threads through `remote`.
fn threads(remote: &Remote, n: usize) {
    threads_by(remote, &remote.url, n);
}

/// `n` writer threads through `remote`, reached at `url`.
fn threads_by(remote: &Remote, url: &str, n: usize) {
    let results: Vec<(Writes, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|w| s.spawn(move || writer(url, w, ROUNDS)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (writes, errors): (Vec<Writes>, Vec<Vec<String>>) = results.into_iter().unzip();
    check(remote, &writes, &errors.concat());
}

/// Three writer threads (two on a working repository) through each local transport.
#[test]
fn threads_share_each_local_transport() {
    for (what, remote, writers) in [
        ("a bare repository by file:// URL", Remote::bare(true), 3),
        ("a bare repository by path", Remote::bare(false), 3),
        ("a working repository by path", Remote::working(false), 3),
        (
            "a working repository by file:// URL",
            Remote::working(true),
            2,
        ),
    ] {
        eprintln!("writers through {what}");
        threads(&remote, writers);
    }
}

/// Over a network transport, the remote's receive-pack compares the old id under its lock.
#[test]
fn threads_share_a_bare_remote_over_the_git_protocol() {
    let remote = Remote::bare(false);
    let (_daemon, url) = remote.served();
    threads_by(&remote, &url, 3);
}

/// Two writer processes (`status-cas-writer`, the same writer as the threads') and one thread.
#[test]
fn processes_share_a_bare_remote() {
    let remote = Remote::bare(true);
    let children: Vec<_> = (0..2)
        .map(|w| {
            Command::new(env!("CARGO_BIN_EXE_status-cas-writer"))
                .args([remote.url.as_str(), &w.to_string(), &ROUNDS.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mine, mut errors) = writer(&remote.url, 2, ROUNDS);
    let mut writes = Vec::new();
    for (w, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "child writer {w} failed");
        let (ok, errs) = status_writer::parse_report(&String::from_utf8_lossy(&out.stdout));
        errors.extend(errs);
        writes.push(ok);
    }
    writes.push(mine);
    check(&remote, &writes, &errors);
}

/// Points `refname` of `repo` at `id` by writing the ref file, as a broken tool might (libgit2
/// and git refuse to).
fn point_ref(repo: &Repository, refname: &str, id: Oid) {
    let file = repo.path().join(refname);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, format!("{id}\n")).unwrap();
}

/// A tree, a blob and a dangling id in `repo`, with what a message calls them.
fn non_commits(repo: &Repository) -> Vec<(Oid, &'static str)> {
    let blob = repo.blob(b"not a commit\n").unwrap();
    let mut tb = repo.treebuilder(None).unwrap();
    tb.insert("file", blob, 0o100644).unwrap();
    let tree = tb.write().unwrap();
    let dangling = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
    vec![(tree, "tree"), (blob, "blob"), (dangling, "missing")]
}

fn one_file(round: usize) -> StatusFiles {
    let mut files = StatusFiles::default();
    files.insert(
        "status/summary.yaml",
        StatusFile::new(format!("round: {round}\n").into_bytes()),
    );
    files
}

/// One status commit through `url`, from a new mirror.
fn write_once(url: &str) -> anyhow::Result<Oid> {
    let dir = tempfile::tempdir().unwrap();
    let mirror = Repository::init_bare(dir.path()).unwrap();
    let author = Author::default();
    let mut written = Written::default();
    write_status(
        &mirror,
        Some(url),
        BRANCH,
        &author,
        "s\n",
        &one_file(1),
        &mut written,
    )
}

/// Without a remote the mirror is the only record: a status ref that is not a commit is kept
/// under `refs/cubist/broken/` (when the object exists) and a new history is started, once.
#[test]
fn mirror_status_ref_not_a_commit_is_set_aside_and_rebuilt() {
    for (i, kind) in ["tree", "blob", "missing"].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = Repository::init_bare(dir.path()).unwrap();
        let (bad, what) = non_commits(&mirror)[i];
        assert_eq!(what, kind);
        point_ref(&mirror, REFNAME, bad);
        let err = read_status(&mirror, BRANCH).expect_err("a broken status ref is an error");
        let text = format!("{err:#}");
        assert!(
            text.contains(REFNAME) && text.contains(kind) && text.contains(&bad.to_string()),
            "{text}"
        );

        let mut written = Written::default();
        let author = Author::default();
        let first = write_status(
            &mirror,
            None,
            BRANCH,
            &author,
            "s1\n",
            &one_file(1),
            &mut written,
        )
        .expect("a fresh status history is started");
        let c = mirror.find_commit(first).unwrap();
        assert_eq!(c.parent_count(), 0, "{kind}: a new history");
        assert_eq!(mirror.refname_to_id(REFNAME).unwrap(), first);
        let second = write_status(
            &mirror,
            None,
            BRANCH,
            &author,
            "s2\n",
            &one_file(2),
            &mut written,
        )
        .unwrap();
        assert_eq!(
            mirror.find_commit(second).unwrap().parent_id(0).unwrap(),
            first
        );

        let kept: Vec<(String, Oid)> = mirror
            .references_glob("refs/cubist/broken/*")
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.name().unwrap().to_string(), r.target().unwrap())
            })
            .collect();
        if kind == "missing" {
            assert!(kept.is_empty(), "a missing object cannot be kept: {kept:?}");
        } else {
            assert_eq!(kept.len(), 1, "{kind}: set aside once: {kept:?}");
            assert_eq!(kept[0].1, bad);
            assert!(kept[0].0.starts_with("refs/cubist/broken/cubist/status/"));
        }
    }
}

/// A remote status branch that is not a commit cannot be replaced without forcing: the write
/// is refused with the ref, what it points at and the fix, and the remote is left as it was.
#[test]
fn remote_status_ref_not_a_commit_is_refused_with_the_fix() {
    for transport in ["file", "path", "git"] {
        let remote = Remote::bare(transport == "file");
        let served = (transport == "git").then(|| remote.served());
        let url = served
            .as_ref()
            .map_or(remote.url.as_str(), |(_, url)| url.as_str());
        let repo = remote.repo();
        let (tree, _) = non_commits(&repo)[0];
        point_ref(&repo, REFNAME, tree);
        let err = write_once(url).expect_err("a remote status ref that is not a commit is refused");
        let text = format!("{err:#}");
        for part in [REFNAME, "tree", &tree.to_string(), "git push", url] {
            assert!(text.contains(part), "{part:?} missing from: {text}");
        }
        assert_eq!(repo.refname_to_id(REFNAME).unwrap(), tree, "left as it was");
    }
}

/// A status branch that is checked out in a working repository is refused (its files would
/// no longer match the branch), and nothing is written there.
#[test]
fn checked_out_status_branch_is_refused() {
    let remote = Remote::working(false);
    git(&remote.path, &["checkout", "-q", "-b", BRANCH]);
    let head = remote.repo().refname_to_id(REFNAME).unwrap();
    let err = write_once(&remote.url).expect_err("refused");
    assert!(format!("{err:#}").contains("checked out"), "{err:#}");
    assert_eq!(remote.repo().refname_to_id(REFNAME).unwrap(), head);
}

/// A status commit of many files goes to a local remote as the mirror's own pack (linked or
/// copied with its index, not rebuilt object by object), and git itself finds the remote
/// whole; a second commit over it changing a few files arrives as well.
#[test]
fn a_large_status_commit_reaches_a_local_remote_as_its_pack() {
    let remote = Remote::bare(false);
    let dir = tempfile::tempdir().unwrap();
    let mirror = Repository::init_bare(dir.path()).unwrap();
    let many = |round: usize| {
        let mut files = StatusFiles::default();
        for i in 0..200 {
            let bytes = format!("object: {i}\nround: {}\n", if i < 5 { round } else { 0 });
            files.insert(
                &format!("status/clusters/c/p/ConfigMap/o{i}.yaml"),
                StatusFile::new(bytes.into_bytes()),
            );
        }
        files
    };
    let mut written = Written::default();
    let packs = |path: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path.join("objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".pack"))
            .collect();
        names.sort();
        names
    };
    let author = Author::default();
    for round in 1..=2 {
        let url = remote.url.clone();
        let files = many(round);
        let id = write_status(
            &mirror,
            Some(&url),
            BRANCH,
            &author,
            "s\n",
            &files,
            &mut written,
        )
        .unwrap();
        assert_eq!(remote.repo().refname_to_id(REFNAME).unwrap(), id);
        let tree = read_status(&remote.repo(), BRANCH).unwrap();
        for (path, file) in &files.root.files() {
            let bytes = file.bytes.as_deref().expect("written with its bytes");
            assert_eq!(tree[path], bytes, "{path} in round {round}");
        }
    }
    let shared = packs(&remote.path);
    assert_eq!(
        shared.len(),
        1,
        "the first commit's pack, shared: {shared:?}"
    );
    assert!(
        packs(dir.path()).contains(&shared[0]),
        "the mirror's own pack"
    );
    git(
        &remote.path,
        &["fsck", "--full", "--strict", "--no-dangling"],
    );
}
