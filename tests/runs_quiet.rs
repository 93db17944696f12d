//! The run controller's quiet pass (`reconcile/runs_quiet.rs`) in the loop, on examples-repo's
//! directory target: once a pass changes nothing, the next polls skip the controller
//! (`cubist_run_controller_passes_total{pass="quiet"}` counts them); a run file changed as an
//! engine would change it ends the quiet, and the change is recorded and acted on (the finished
//! run frees the `concurrency` slot for the next execution) as without the memo; a new revision
//! that changes another project keeps recsys's records; the clock passing the next execution
//! ends the quiet too. One test: it moves the controller's clock (`CUBIST_TEST_NOW`) for the
//! whole process.

use cubist::metrics::Metrics;
use cubist::reconcile::{Config, Reconciler};
use cubist::report::status_branch::Author;
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::RunPhase;
use cubist_tests::corpus::{copy_tree, examples_repo};
use cubist_tests::repo::{commit_all, edit, file_names, git, init_with_bare_remote};
use std::path::Path;
use std::time::{Duration, Instant};

/// The counter of controller passes of kind `pass` in `metrics`.
fn passes(metrics: &Metrics, pass: &str) -> u64 {
    let line = format!("cubist_run_controller_passes_total{{pass=\"{pass}\"}} ");
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&line)?.parse().ok())
        .unwrap_or(0)
}

/// daily-ranker's run file names on the `local` directory target, sorted.
fn run_files(runs: &Path) -> Vec<String> {
    file_names(runs, "daily-ranker-")
}

/// Polls until `done` or 10 s have passed (the watch tells of file changes on its own thread).
fn poll_until(r: &mut Reconciler, what: &str, mut done: impl FnMut(&mut Reconciler) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        r.poll().unwrap();
        if done(r) {
            return;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn quiet_polls_skip_the_controller_until_a_run_file_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let work = root.join("work");
    copy_tree(&examples_repo(), &work);
    // Catch-up from a few days ago with one slot: one run at a time, more due behind it.
    let ranker = work.join("projects/recsys/pipelines/daily-ranker.yaml");
    let start = (chrono::Utc::now() - chrono::Duration::days(4)).format("%Y-%m-%d");
    edit(
        &ranker,
        "startFrom: 2026-11-01",
        &format!("startFrom: {start}"),
    );
    edit(&ranker, "    dependsOnPast: true\n    keepLast: 5\n", "");
    for f in ["backfill-2026-11.yaml", "rerun-2026-11-20.yaml"] {
        std::fs::remove_file(work.join("projects/recsys/runs").join(f)).unwrap();
    }
    let (remote, _) = init_with_bare_remote(root, "platform");
    let metrics = Metrics::new();
    let mut r = Reconciler::new(Config {
        repo: remote.display().to_string(),
        branch: "main".into(),
        status_branch: "cubist/status".into(),
        cache_dir: root.join("cache"),
        // Directory targets are resolved beside it: `../rendered/local` is under `root`.
        target_root: work.clone(),
        author: Author::default(),
        push_status: false,
        metrics: Some(metrics.clone()),
    })
    .unwrap();
    let runs = root.join("rendered/local/recsys/runs");

    r.poll().unwrap().expect("the first reconcile");
    let first = run_files(&runs);
    assert_eq!(first.len(), 1, "concurrency 1: {first:?}");
    assert_eq!(passes(&metrics, "full"), 1);
    assert_eq!(passes(&metrics, "quiet"), 0);

    // The first pass wrote a file (a change): the next one looks again, then polls are quiet.
    poll_until(&mut r, "a quiet pass", |_| passes(&metrics, "quiet") > 0);
    let full = passes(&metrics, "full");
    assert!(full >= 2, "{full}");
    for _ in 0..3 {
        assert!(r.poll().unwrap().is_none(), "a quiet poll writes nothing");
    }
    assert_eq!(passes(&metrics, "full"), full, "still quiet");

    // The run finishes, as an engine would write it: the quiet ends, the record says so, and
    // the freed slot admits the next execution.
    let file = runs.join(&first[0]);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(
        "status:\n  phase: Succeeded\n  startedAt: 2026-12-01T18:00:00Z\n  finishedAt: 2026-12-01T18:30:00Z\n",
    );
    std::fs::write(&file, text).unwrap();
    poll_until(&mut r, "the next run admitted", |_| {
        run_files(&runs).len() == 2
    });
    assert!(passes(&metrics, "full") > full);
    let repo = git2::Repository::open_bare(r.mirror().path()).unwrap();
    let tree = StatusTree::new(
        cubist::report::status_branch::read_status(&repo, "cubist/status").unwrap(),
    );
    let doc = tree
        .pipeline_runs("recsys", "daily-ranker")
        .expect("daily-ranker's records")
        .unwrap();
    let recorded = &doc.clusters["local"].runs;
    let phase = |name: &str| {
        let name = name.trim_end_matches(".yaml");
        recorded
            .iter()
            .find(|r| r.workflow == name)
            .map(|r| r.phase)
    };
    assert_eq!(phase(&first[0]), Some(RunPhase::Succeeded), "{recorded:?}");
    let next = run_files(&runs)
        .into_iter()
        .find(|n| *n != first[0])
        .unwrap();
    assert_eq!(phase(&next), Some(RunPhase::Waiting), "{recorded:?}");
    let waiting = doc.clusters["local"]
        .waiting
        .clone()
        .expect("more executions due");

    // A new revision that changes only nlp: recsys's records are kept as they were.
    poll_until(&mut r, "quiet again", |_| passes(&metrics, "quiet") > 1);
    edit(
        &work.join("projects/nlp/project.yaml"),
        "LLM fine-tuning",
        "LLM fine-tuning (quiet test)",
    );
    commit_all(&work, "nlp: description");
    git(&work, &["push", "-q", remote.to_str().unwrap(), "main"]);
    let o = r.poll().unwrap().expect("the new revision");
    assert_eq!(o.projects_rendered, 1, "only nlp re-renders");
    let status = |r: &Reconciler| {
        let repo = git2::Repository::open_bare(r.mirror().path()).unwrap();
        StatusTree::new(cubist::report::status_branch::read_status(&repo, "cubist/status").unwrap())
            .pipeline_runs("recsys", "daily-ranker")
            .expect("daily-ranker's records")
            .unwrap()
    };
    assert_eq!(status(&r), doc, "recsys's records are kept");

    // The clock passes daily-ranker's next execution: it comes due and waits for the slot.
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    // SAFETY: this binary has one test; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("CUBIST_TEST_NOW", later.to_rfc3339()) };
    let full = passes(&metrics, "full");
    poll_until(&mut r, "more executions waiting", |r| {
        status(r).clusters["local"]
            .waiting
            .as_ref()
            .is_some_and(|w| w.count > waiting.count)
    });
    assert!(passes(&metrics, "full") > full);
    assert_eq!(run_files(&runs).len(), 2, "the slot is still taken");
}
