//! `cubist reconcile --repo <git working tree> --watch`: saving a file re-reconciles (through
//! the file watcher, not the poll interval, which is an hour here), and a new status commit
//! appears in the private repository cubist keeps under its cache directory. The user's
//! repository is never written: HEAD, index, refs and working tree stay as they were.

use cubist::synth::{self, Shape};
use cubist_tests::repo::{cubist_binary, git, init_and_commit};
use git2::{Oid, Repository};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STATUS: &str = "refs/heads/cubist/status";
/// Generous: only a hung watcher takes this long.
const PATIENCE: Duration = Duration::from_secs(120);

/// Kills the watcher when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The user's repository as git sees it: HEAD, refs, index bytes and `git status`.
fn user_state(work: &Path) -> (String, String, Vec<u8>, String) {
    (
        std::fs::read_to_string(work.join(".git/HEAD")).unwrap(),
        git(work, &["for-each-ref"]),
        std::fs::read(work.join(".git/index")).unwrap(),
        // `--no-optional-locks`: `git status` itself must not refresh the index.
        git(work, &["--no-optional-locks", "status", "--porcelain"]),
    )
}

/// Waits until the private repository's status branch reconciles a revision other than `not`.
fn wait_for_status(private: &Path, not: Option<Oid>) -> (Oid, Oid) {
    let started = Instant::now();
    loop {
        if let Ok(repo) = Repository::open_bare(private)
            && let Ok(status) = repo.refname_to_id(STATUS)
        {
            let message = repo
                .find_commit(status)
                .unwrap()
                .message()
                .unwrap()
                .to_string();
            let source = message
                .lines()
                .find_map(|l| l.strip_prefix("Cubist-Source-Revision: "))
                .and_then(|s| Oid::from_str(s).ok())
                .expect("status commit names its source revision");
            if Some(source) != not {
                return (status, source);
            }
        }
        assert!(started.elapsed() < PATIENCE, "no new status commit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn saving_a_file_reconciles_without_touching_the_user_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let shape = Shape {
        projects: 2,
        clusters: 1,
        ..Shape::small()
    };
    synth::write(&shape, &work).unwrap();
    std::fs::write(work.join(".gitignore"), "scratch/\n").unwrap();
    init_and_commit(&work, "synthetic platform");
    // Ignored by git, so not part of the platform either.
    std::fs::create_dir(work.join("scratch")).unwrap();
    std::fs::write(work.join("scratch/draft.yaml"), "not: [valid\n").unwrap();
    let before = user_state(&work);

    let mut child = Command::new(cubist_binary())
        .args(["reconcile", "--watch", "--interval", "1h", "--repo"])
        .arg(&work)
        .arg("--cache-dir")
        .arg(tmp.path().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let _running = Running(child);
    let mut lines = stdout.lines();
    let private: PathBuf = loop {
        let line = lines
            .next()
            .expect("cubist printed where it keeps snapshots")
            .unwrap();
        if let Some((_, path)) = line.split_once("` are in ") {
            break path.trim().into();
        }
    };
    assert!(
        !private.starts_with(&work),
        "the private repository is not in the user's"
    );
    let (first_status, first_source) = wait_for_status(&private, None);
    let rendered = tmp.path().join("rendered/cluster-0/team-0001");
    let rendered_first = cubist_tests::repo::read_dir_tree(&rendered);
    assert!(!rendered_first.is_empty(), "the first reconcile applied");

    // Save a change: a new status commit for a new snapshot that holds the change.
    let service = work.join("projects/team-0001/services/service-0.yaml");
    let text = std::fs::read_to_string(&service).unwrap();
    std::fs::write(&service, text.replace("target: 70", "target: 60")).unwrap();
    let (status, source) = wait_for_status(&private, Some(first_source));
    let repo = Repository::open_bare(&private).unwrap();
    assert!(repo.graph_descendant_of(status, first_status).unwrap());
    let snapshot = repo.find_commit(source).unwrap().tree().unwrap();
    let saved = snapshot
        .get_path(Path::new("projects/team-0001/services/service-0.yaml"))
        .unwrap()
        .to_object(&repo)
        .unwrap();
    let saved = String::from_utf8_lossy(saved.as_blob().unwrap().content()).into_owned();
    assert!(
        saved.contains("target: 60"),
        "the snapshot holds the saved file"
    );
    assert_ne!(
        cubist_tests::repo::read_dir_tree(&rendered),
        rendered_first,
        "the change reached the directory target"
    );

    // The user's repository: only the saved file differs (`git status`, trimmed), nothing of
    // git's was written.
    let (head, refs, index, status_text) = user_state(&work);
    assert_eq!((&head, &refs, &index), (&before.0, &before.1, &before.2));
    assert_eq!(
        status_text, "M projects/team-0001/services/service-0.yaml",
        "only the user's own edit"
    );
}
