//! The loop and the HTTP server never stall silently: `cubist reconcile` waits between polls
//! and backs off while the remote is down; a panic in one reconcile holds that revision with an
//! internal error in its status and the loop goes on; `cubist serve` opens its page at once while
//! the remote is down (and says so, with `/readyz` 503); slow clients cannot starve the server.
//! Each test runs the built `cubist` binary on a synthetic repository.

use cubist::reconcile::test_hook::PANIC_ON_PATH;
use cubist::reconcile::{Config, Reconciler};
use cubist::report::status_branch::read_status;
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::{Summary, SyncState};
use cubist_tests::procs::{Lines, Running, spawn_all};
use cubist_tests::repo::{
    commit_all, cubist_binary, git, kept_memory, object_files, read_dir_tree,
    synthetic_with_bare_remote,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous: only there so that a broken build fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(120);

/// Commits everything in `work` and pushes it to `remote`'s `main`; returns the commit.
fn push(work: &Path, remote: &Path) -> String {
    let rev = commit_all(work, "change");
    git(work, &["push", "-q", remote.to_str().unwrap(), "HEAD:main"]);
    rev
}

/// The status summary on `remote`'s status branch.
fn summary(remote: &Path) -> Summary {
    let repo = git2::Repository::open_bare(remote).unwrap();
    let files = read_status(&repo, "cubist/status").unwrap();
    StatusTree::new(files)
        .summary()
        .expect("a summary")
        .expect("a readable summary")
}

/// A running `cubist` whose stdout and stderr lines arrive on one channel; killed when dropped.
struct Proc {
    running: Running,
    lines: Lines,
}

impl Proc {
    fn start(cmd: Command) -> Proc {
        let (running, lines) = spawn_all(cmd);
        Proc { running, lines }
    }

    /// The first line not returned before that matches `want`; fails with the output when
    /// cubist exits or [`PATIENCE`] runs out.
    fn wait_for(&mut self, want: impl Fn(&str) -> bool) -> String {
        self.lines.wait_for(PATIENCE, want)
    }

    /// Every line printed during the next `window`.
    fn lines_during(&mut self, window: Duration) -> Vec<String> {
        self.lines.lines_during(window)
    }

    /// `cubist serve`'s address, from its `status page: http://ADDR/` line.
    fn address(&mut self) -> String {
        let line = self.wait_for(|l| l.starts_with("status page: http://"));
        line.trim_start_matches("status page: http://")
            .trim_end_matches('/')
            .to_string()
    }
}

/// CPU time (user + system, in clock ticks) a child has used so far, from `/proc`.
fn cpu_ticks(child: &Running) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
    // Fields after the command name (which may hold spaces): state is the 3rd field overall,
    // utime and stime the 14th and 15th.
    let rest = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn cubist(args: &[&str], repo: &str, cache: &Path) -> Command {
    let mut cmd = Command::new(cubist_binary());
    cmd.args(args)
        .args(["--repo", repo, "--interval", "1s", "--cache-dir"])
        .arg(cache)
        .env_remove(PANIC_ON_PATH);
    cmd
}

/// `GET path` on a fresh connection: status code and body.
fn get(addr: &str, path: &str) -> (u16, String) {
    cubist_tests::procs::http_get(addr, path, PATIENCE)
}

/// Polls `GET path` until it answers `code` with a body that holds `text` (the loop retries
/// with backoff); returns the body.
fn wait_for_answer(addr: &str, path: &str, code: u16, text: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (got, body) = get(addr, path);
        if got == code && body.contains(text) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {got}: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn reconcile_waits_and_backs_off_while_the_remote_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, remote, _) = synthetic_with_bare_remote(tmp.path());
    let cache = tmp.path().join("cache");
    let mut p = Proc::start(cubist(&["reconcile"], remote.to_str().unwrap(), &cache));
    p.wait_for(|l| l.starts_with("reconciled "));
    p.wait_for(|l| l.starts_with("  cluster cluster-0: "));
    // Idle at a 1 s interval: a handful of polls in 3 s, each printing nothing and using a
    // few milliseconds of CPU (a loop that does not wait burns all it gets).
    let before = cpu_ticks(&p.running);
    let idle = p.lines_during(Duration::from_secs(3));
    let used = cpu_ticks(&p.running) - before;
    assert!(idle.is_empty(), "idle polls printed: {idle:?}");
    assert!(used < 50, "{used} CPU ticks (1/100 s) in 3 s of idling");
    // The remote goes away: 1 s, 2 s, 4 s backoff, so at most four attempts fail in 5 s.
    std::fs::rename(&remote, tmp.path().join("gone.git")).unwrap();
    let lines = p.lines_during(Duration::from_secs(5));
    let retrying = lines.iter().filter(|l| l.contains("retrying in")).count();
    assert!(
        (1..=4).contains(&retrying),
        "{retrying} failed attempts in 5 s (expected 1 to 4); first lines: {:?}",
        &lines[..lines.len().min(5)]
    );
}

#[test]
fn reconcile_stops_on_sigterm_after_its_pass_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, remote, _) = synthetic_with_bare_remote(tmp.path());
    let cache = tmp.path().join("cache");
    let mut p = Proc::start(cubist(&["reconcile"], remote.to_str().unwrap(), &cache));
    p.wait_for(|l| l.starts_with("reconciled "));
    // A new commit is reconciled, then SIGTERM arrives while the loop waits for the next poll:
    // the process exits 0 (Kubernetes' stop, or Ctrl-C) with the status commit written. Before,
    // the signal killed it (no exit code).
    std::fs::write(work.join("README.md"), "another commit\n").unwrap();
    let next = push(&work, &remote);
    p.wait_for(|l| l.starts_with(&format!("reconciled {}", &next[..7])));
    let status = p.running.terminate(PATIENCE);
    assert!(
        status.success(),
        "cubist reconcile ended with {status} on SIGTERM"
    );
    let printed = p.lines.printed();
    assert!(
        printed.iter().any(|l| l.contains("stopping")),
        "says it stops: {printed:?}"
    );
    assert_eq!(
        summary(&remote).revision,
        next,
        "the last pass's status commit is written"
    );
    // What the target's memory knows is kept for the next start: every object file.
    let target = tmp.path().join("rendered/cluster-0");
    let objects = object_files(&target);
    assert!(!objects.is_empty());
    assert_eq!(kept_memory(&cache), Some(objects));
}

#[test]
fn a_panic_holds_the_revision_and_the_loop_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, remote, first) = synthetic_with_bare_remote(tmp.path());
    let cache = tmp.path().join("cache");
    let mut cmd = cubist(&["reconcile"], remote.to_str().unwrap(), &cache);
    cmd.env(PANIC_ON_PATH, "poison");
    let mut p = Proc::start(cmd);
    p.wait_for(|l| l.starts_with("reconciled "));

    // A commit that makes the reconcile panic (after it was read: the reader's cache is ahead),
    // with a project change that must still be applied by the next commit.
    let project = work.join("projects/team-0000/project.yaml");
    let text = std::fs::read_to_string(&project).unwrap();
    let edited = text.replace("minio.storage", "minio2.storage");
    assert_ne!(edited, text);
    std::fs::write(&project, edited).unwrap();
    std::fs::write(work.join("poison"), "x").unwrap();
    let poisoned = push(&work, &remote);
    let line = p.wait_for(|l| l.starts_with(&format!("reconciled {}", &poisoned[..7])));
    assert!(
        line.contains("1 error(s)"),
        "{line}: is the binary built with the test hooks (`cargo build --workspace --bin cubist` \
         turns on the feature test-hooks for the tests)?"
    );
    let held = summary(&remote);
    assert_eq!(held.revision, poisoned);
    let internal = held
        .errors
        .iter()
        .find(|e| e.code == "E0998")
        .unwrap_or_else(|| panic!("no internal error in {:?}", held.errors));
    assert!(internal.message.contains("internal error"), "{internal:?}");
    assert!(internal.message.contains("report"), "{internal:?}");
    assert!(!held.clusters.is_empty(), "the clusters are listed");
    assert!(
        held.clusters.iter().all(|c| c.state == SyncState::Failed),
        "a panicked revision is not shown synced: {:?}",
        held.clusters
    );

    // The next commit is reconciled as if nothing had happened.
    std::fs::remove_file(work.join("poison")).unwrap();
    let fixed = push(&work, &remote);
    let line = p.wait_for(|l| l.starts_with(&format!("reconciled {}", &fixed[..7])));
    assert!(line.contains(" 0 error(s)"), "{line}");
    let after = summary(&remote);
    assert_eq!(after.revision, fixed);
    assert!(after.errors.is_empty(), "{:?}", after.errors);
    assert!(!after.clusters.is_empty());
    assert!(
        after.clusters.iter().all(|c| c.state == SyncState::Synced),
        "{:?}",
        after.clusters
    );
    drop(p);

    // The target holds exactly what a loop that never saw the panicking commit writes.
    let clean_root = tmp.path().join("clean");
    let mut clean = Reconciler::new(Config {
        target_root: clean_root.join("repo"),
        ..Config::local(&remote, clean_root.join("cache"))
    })
    .unwrap();
    for rev in [&first, &fixed] {
        clean.reconcile(git2::Oid::from_str(rev).unwrap()).unwrap();
    }
    let expected = read_dir_tree(&clean_root.join("rendered/cluster-0"));
    assert!(
        expected
            .values()
            .any(|text| text.contains("minio2.storage"))
    );
    let applied = read_dir_tree(&tmp.path().join("rendered/cluster-0"));
    assert_eq!(
        applied.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(
        applied == expected,
        "every file as the clean loop writes it"
    );
}

#[test]
fn serve_opens_at_once_while_the_remote_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("remote.git");
    let url = format!("file://{}", remote.display());
    let cache = tmp.path().join("cache");
    let mut cmd = cubist(&["serve", "--listen", "127.0.0.1:0"], &url, &cache);
    cmd.env_remove("CUBIST_WEBHOOK_SECRET");
    let mut p = Proc::start(cmd);
    let addr = p.address();

    assert_eq!(get(&addr, "/healthz").0, 200);
    // Not ready from the start; once the first fetch failed, /readyz says why.
    assert_eq!(get(&addr, "/readyz").0, 503);
    wait_for_answer(&addr, "/readyz", 503, "not reachable yet");
    let (code, page) = get(&addr, "/");
    assert_eq!(code, 503);
    assert!(page.contains("reconcile loop stalled since"), "{page}");
    assert!(page.contains("not reachable yet"), "{page}");

    // The remote appears: the loop reconciles, the server is ready, the banner is gone.
    synthetic_with_bare_remote(tmp.path());
    wait_for_answer(&addr, "/readyz", 200, "ready");
    let page = wait_for_answer(&addr, "/", 200, "");
    assert!(!page.contains("stalled"), "{page}");
    assert!(page.contains("Synced"), "{page}");
}

#[test]
fn slow_clients_do_not_starve_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, remote, _) = synthetic_with_bare_remote(tmp.path());
    let cache = tmp.path().join("cache");
    // 256 file descriptors; 300 clients that send half a request and wait.
    let serve = cubist(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--header-timeout",
            "1s",
            "--max-connections",
            "128",
        ],
        remote.to_str().unwrap(),
        &cache,
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(serve.get_program())
        .args(serve.get_args())
        .env_remove(PANIC_ON_PATH)
        .env_remove("CUBIST_WEBHOOK_SECRET");
    let mut p = Proc::start(cmd);
    let addr = p.address();
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: slow\r\n").unwrap();
            s
        })
        .collect();

    assert_eq!(get(&addr, "/healthz").0, 200);
    // The server closes a half-sent request after the header timeout.
    let first = &mut slow[0];
    first.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 1024];
    match first.read(&mut buf) {
        Ok(_) => {} // end of stream, or a 408 before closing
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "the half-sent connection was not closed: {e}"
        ),
    }
    let (code, _) = get(&addr, "/");
    assert_eq!(code, 200);
}

#[test]
fn a_connection_on_which_nothing_moves_is_closed_after_the_idle_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, remote, _) = synthetic_with_bare_remote(tmp.path());
    let cache = tmp.path().join("cache");
    // The header timeout is far longer than the test waits: only the idle timeout can close it.
    let mut cmd = cubist(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--header-timeout",
            "1h",
            "--idle-timeout",
            "1s",
        ],
        remote.to_str().unwrap(),
        &cache,
    );
    cmd.env_remove("CUBIST_WEBHOOK_SECRET");
    let mut p = Proc::start(cmd);
    let addr = p.address();
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    stalled.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 1024];
    if let Err(e) = stalled.read(&mut buf) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "the idle connection was not closed: {e}"
        );
    }
    assert_eq!(get(&addr, "/healthz").0, 200);
}
