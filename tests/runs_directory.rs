//! The run controller on a directory target (no engine), through the `cubist` binary on
//! examples-repo: daily-ranker fires daily from three days before the clock
//! (`CUBIST_TEST_NOW`). With `concurrency: 1` exactly one Workflow file is written, valid for
//! Argo's Workflow CRD, and recorded Waiting on the status branch, in `cubist runs` and on the
//! page; a later pass, a restart and a restart without the records write nothing new (the file
//! is read back by its labels); `concurrency: 2` gives two; removing the pipeline removes them.

use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::runs::{ClusterRuns, PipelineRuns};
use cubist_tests::corpus::{copy_tree, examples_repo};
use cubist_tests::repo::{commit_all, cubist_binary, edit, file_names, git, init_with_bare_remote};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

#[path = "alerts_support/fake_issues.rs"]
#[allow(dead_code)]
mod fake_issues;

const NOW: &str = "2026-12-10T12:00:00Z";
const NO_ENGINE: &str = "waiting: directory target has no engine";

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    remote: PathBuf,
}

impl Fixture {
    /// examples-repo with daily-ranker from 2026-12-07, `concurrency: 1`, no `dependsOnPast`
    /// nor `keepLast`, and without recsys's `Run`s (whose Workflows would take the slot).
    fn new() -> Fixture {
        Fixture::with(|_| {})
    }

    /// [`Fixture::new`] with `change` made to the working tree before the first commit.
    fn with(change: impl FnOnce(&Path)) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let work = root.join("work");
        copy_tree(&examples_repo(), &work);
        let ranker = work.join("projects/recsys/pipelines/daily-ranker.yaml");
        edit(&ranker, "startFrom: 2026-11-01", "startFrom: 2026-12-07");
        edit(&ranker, "    dependsOnPast: true\n    keepLast: 5\n", "");
        for f in ["backfill-2026-11.yaml", "rerun-2026-11-20.yaml"] {
            std::fs::remove_file(work.join("projects/recsys/runs").join(f)).unwrap();
        }
        change(&work);
        let (remote, _) = init_with_bare_remote(&root, "platform");
        Fixture {
            _tmp: tmp,
            root,
            remote,
        }
    }

    /// `cubist reconcile --once` at `now` with the cache `cache` (a fresh one is a restart
    /// that knows nothing but the status branch).
    fn once(&self, now: &str, cache: &str) {
        self.once_with(now, cache, &[]);
    }

    /// [`Fixture::once`] with these environment variables.
    fn once_with(&self, now: &str, cache: &str, env: &[(&str, &str)]) {
        let out = Command::new(cubist_binary())
            .envs(env.iter().copied())
            .args(["reconcile", "--once", "--repo"])
            .arg(&self.remote)
            .arg("--cache-dir")
            .arg(self.root.join(cache))
            .arg("--target-root")
            .arg(&self.root)
            .env("CUBIST_TEST_NOW", now)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Commits a change of the working tree and pushes it.
    fn push(&self, message: &str) {
        let work = self.root.join("work");
        commit_all(&work, message);
        git(
            &work,
            &["push", "-q", self.remote.to_str().unwrap(), "main"],
        );
    }

    /// Commits nothing new but a message with `trailer`, and pushes it.
    fn push_allowing(&self, message: &str, trailer: &str) {
        let work = self.root.join("work");
        git(
            &work,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("{message}\n\n{trailer}"),
            ],
        );
        git(
            &work,
            &["push", "-q", self.remote.to_str().unwrap(), "main"],
        );
    }

    /// Marks run `name` Failed, as Argo writes a Workflow's status, in its file.
    fn fail(&self, name: &str) {
        let file = self.runs_dir().join(format!("{name}.yaml"));
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(
            "status:\n  phase: Failed\n  startedAt: 2026-12-10T11:00:00Z\n  finishedAt: 2026-12-10T11:30:00Z\n  message: child 'train' failed\n",
        );
        std::fs::write(&file, text).unwrap();
    }

    fn runs_dir(&self) -> PathBuf {
        self.root.join("rendered/local/recsys/runs")
    }

    /// The run files of daily-ranker, sorted.
    fn files(&self) -> Vec<String> {
        file_names(&self.runs_dir(), "daily-ranker-")
    }

    fn status(&self) -> StatusTree {
        let repo = git2::Repository::open_bare(&self.remote).unwrap();
        StatusTree::new(cubist::report::status_branch::read_status(&repo, "cubist/status").unwrap())
    }

    /// daily-ranker's runs file.
    fn runs_file(&self) -> PipelineRuns {
        self.status()
            .pipeline_runs("recsys", "daily-ranker")
            .expect("daily-ranker's runs files")
            .unwrap()
    }

    /// daily-ranker's records on `local`.
    fn records(&self) -> ClusterRuns {
        self.runs_file().clusters["local"].clone()
    }

    fn cubist(&self, args: &[&str]) -> String {
        let out = Command::new(cubist_binary()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn read_yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    cubist::model::yaml::parse_documents("run", &text)
        .unwrap()
        .remove(0)
        .json
}

#[test]
#[cfg_attr(
    not(has_reference_crds),
    ignore = "needs ../shared/reference/crds (upstream CRDs); see README, Tests"
)]
fn one_waiting_workflow_file_per_slot_never_twice_and_gone_with_its_pipeline() {
    let f = Fixture::new();

    // First reconcile: four executions due (12-07 .. 12-10), one slot: one file, the oldest.
    f.once(NOW, "cache");
    assert_eq!(f.files(), ["daily-ranker-20261207.yaml"]);
    let wf = read_yaml(&f.runs_dir().join("daily-ranker-20261207.yaml"));
    assert_eq!(wf["kind"], "Workflow");
    assert_eq!(wf["metadata"]["namespace"], "recsys");
    assert_eq!(
        wf["metadata"]["labels"]["cubist.dev/pipeline"],
        "daily-ranker"
    );
    assert_eq!(wf["spec"]["workflowTemplateRef"]["name"], "daily-ranker");
    assert_eq!(
        wf["spec"]["arguments"]["parameters"][0]["value"],
        "2026-12-07"
    );
    let errors = cubist_tests::crd_schema::validate_crd("the run file", &wf).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    // The run file is not an object of the target: the inventory does not list it.
    let inventory =
        std::fs::read_to_string(f.root.join("rendered/local/cubist-inventory.yaml")).unwrap();
    assert!(!inventory.contains("daily-ranker-2026"), "{inventory}");
    let rec = f.records();
    assert_eq!(rec.runs.len(), 1, "{rec:?}");
    assert_eq!(rec.runs[0].workflow, "daily-ranker-20261207");
    assert_eq!(rec.runs[0].phase, RunPhase::Waiting);
    assert_eq!(rec.runs[0].message, NO_ENGINE);
    assert_eq!(rec.waiting.as_ref().map(|w| w.count), Some(3), "{rec:?}");

    // `cubist runs` and the page say so.
    let remote = f.remote.to_str().unwrap();
    let table = f.cubist(&["runs", "--pipeline", "daily-ranker", "--repo", remote]);
    assert!(
        table.contains("daily-ranker-20261207") && table.contains(NO_ENGINE),
        "{table}"
    );
    let site = f.root.join("site");
    f.cubist(&[
        "status-site",
        "--out",
        site.to_str().unwrap(),
        "--repo",
        remote,
    ]);
    let page = cubist_tests::repo::read_dir_tree(&site)
        .into_iter()
        .find(|(path, _)| path.contains("pipelines/daily-ranker"))
        .map(|(_, html)| html)
        .expect("daily-ranker's page");
    assert!(page.contains(NO_ENGINE), "{page}");

    // A day later, a restart of the same revision: the slot is still taken, nothing new.
    f.once("2026-12-11T12:00:00Z", "cache");
    assert_eq!(f.files(), ["daily-ranker-20261207.yaml"]);
    let rec = f.records();
    assert_eq!(rec.runs.len(), 1, "{rec:?}");
    assert_eq!(rec.waiting.as_ref().map(|w| w.count), Some(4), "{rec:?}");

    // A restart without the records (status branch gone, fresh cache): the file is read back
    // by its labels, so nothing is written twice and the record comes back.
    git(&f.remote, &["update-ref", "-d", "refs/heads/cubist/status"]);
    f.once("2026-12-11T12:00:00Z", "cache-2");
    assert_eq!(f.files(), ["daily-ranker-20261207.yaml"]);
    let rec = f.records();
    assert_eq!(rec.runs.len(), 1, "{rec:?}");
    assert_eq!(rec.runs[0].phase, RunPhase::Waiting);

    // A file deleted by hand: its run is an Error (gone before it finished), and the slot
    // goes to the next execution.
    std::fs::remove_file(f.runs_dir().join("daily-ranker-20261207.yaml")).unwrap();
    f.once("2026-12-11T12:00:00Z", "cache-2");
    assert_eq!(f.files(), ["daily-ranker-20261208.yaml"]);
    let rec = f.records();
    let gone = rec
        .runs
        .iter()
        .find(|r| r.workflow == "daily-ranker-20261207")
        .unwrap();
    assert_eq!(gone.phase, RunPhase::Error, "{rec:?}");

    // concurrency: 2 gives a second file.
    let ranker = f
        .root
        .join("work/projects/recsys/pipelines/daily-ranker.yaml");
    edit(&ranker, "concurrency: 1", "concurrency: 2");
    f.push("daily-ranker: two at once");
    f.once("2026-12-11T12:00:00Z", "cache-2");
    assert_eq!(
        f.files(),
        ["daily-ranker-20261208.yaml", "daily-ranker-20261209.yaml"]
    );
    let rec = f.records();
    let waiting = rec
        .runs
        .iter()
        .filter(|r| r.phase == RunPhase::Waiting && r.message == NO_ENGINE)
        .count();
    assert_eq!(waiting, 2, "{rec:?}");

    // Removing the pipeline removes its run files and its records.
    std::fs::remove_file(&ranker).unwrap();
    f.push("drop daily-ranker");
    f.once("2026-12-11T12:00:00Z", "cache-2");
    assert_eq!(f.files(), Vec::<String>::new());
    assert!(f.status().pipeline_runs("recsys", "daily-ranker").is_none());
}

/// Removing a project deletes its run files from the directory target, once a trailer allows
/// its objects' deletion (the prune guard holds them, and the run files with them, until then).
#[test]
fn a_removed_project_has_its_run_files_deleted_once_its_objects_are() {
    let f = Fixture::new();
    f.once(NOW, "cache");
    assert_eq!(f.files(), ["daily-ranker-20261207.yaml"]);
    std::fs::remove_dir_all(f.root.join("work/projects/recsys")).unwrap();
    f.push("drop recsys");
    f.once(NOW, "cache");
    assert_eq!(
        f.files(),
        ["daily-ranker-20261207.yaml"],
        "held with its objects"
    );
    f.push_allowing("drop recsys, allowed", "Cubist-Allow-Prune: project/recsys");
    f.once(NOW, "cache");
    assert_eq!(f.files(), Vec::<String>::new());
    assert!(!f.runs_dir().exists(), "its runs directory is gone too");
}

/// A secret part of the webhook URL: never to be seen in the status or on the page.
const HOOK_SECRET: &str = "T0SECRET/B0SECRET/XyzzySecret";

/// A local webhook receiver answering 200 to every POST; returns its URL (with the secret
/// path) and the bodies it received.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/{HOOK_SECRET}",
        listener.local_addr().unwrap()
    );
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let got = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            got.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

/// A URL on a port nothing listens on, with the secret path.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/hooks/{HOOK_SECRET}")
}

#[test]
fn an_alert_that_cannot_be_delivered_is_shown_until_a_delivery_succeeds_once() {
    let f = Fixture::with(|work| {
        edit(
            &work.join("projects/recsys/pipelines/daily-ranker.yaml"),
            "channels: [ml-oncall]",
            "channels: [slack-ml]",
        )
    });
    f.once(NOW, "cache");
    f.fail("daily-ranker-20261207");

    // The channel's URL points at a closed port: the problem is recorded, without the URL.
    let closed = closed_port_url();
    f.once_with(
        "2026-12-10T12:05:00Z",
        "cache",
        &[("CUBIST_ALERTS_SLACK_URL", &closed)],
    );
    let doc = f.runs_file();
    let failed = &doc.clusters["local"].runs;
    let failed = failed
        .iter()
        .find(|r| r.workflow == "daily-ranker-20261207")
        .unwrap();
    assert_eq!(failed.phase, RunPhase::Failed);
    assert!(failed.alerted.is_empty(), "{failed:?}");
    assert_eq!(doc.alert_problems.len(), 1, "{doc:?}");
    let problem = &doc.alert_problems[0];
    assert_eq!(problem.channel, "slack-ml");
    assert!(problem.error.contains("cannot be reached"), "{problem:?}");
    assert_eq!(problem.attempts, 1);
    assert_eq!(problem.runs, ["local/daily-ranker-20261207 Failed"]);
    let since = problem.since;
    let repo = git2::Repository::open_bare(&f.remote).unwrap();
    let status = cubist::report::status_branch::read_status(&repo, "cubist/status").unwrap();
    for (path, bytes) in &status {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("XyzzySecret") && !text.contains(&closed),
            "{path} holds the URL"
        );
    }
    let remote = f.remote.to_str().unwrap();
    let table = f.cubist(&["runs", "--pipeline", "daily-ranker", "--repo", remote]);
    assert!(
        table.contains("ALERTS NOT DELIVERED to channel slack-ml"),
        "{table}"
    );
    assert!(!table.contains("XyzzySecret"), "{table}");
    let site = f.root.join("site");
    f.cubist(&[
        "status-site",
        "--out",
        site.to_str().unwrap(),
        "--repo",
        remote,
    ]);
    let pages = cubist_tests::repo::read_dir_tree(&site);
    let page = |want: &str| {
        pages
            .iter()
            .find(|(path, _)| path.ends_with(want))
            .map(|(_, html)| html.clone())
            .unwrap_or_else(|| panic!("no {want} in {:?}", pages.keys().collect::<Vec<_>>()))
    };
    let pipeline = page("pipelines/daily-ranker/index.html");
    assert!(
        pipeline.contains("Alerts not delivered") && pipeline.contains("slack-ml"),
        "{pipeline}"
    );
    let overview = pages.get("index.html").expect("the overview").clone();
    assert!(overview.contains("not delivered"), "{overview}");
    assert!(pages.values().all(|html| !html.contains("XyzzySecret")));

    // Still failing on the next pass: the same problem, since unchanged.
    f.once_with(
        "2026-12-10T12:10:00Z",
        "cache",
        &[("CUBIST_ALERTS_SLACK_URL", &closed)],
    );
    let doc = f.runs_file();
    assert_eq!(doc.alert_problems.len(), 1);
    assert_eq!(doc.alert_problems[0].since, since);

    // A working receiver: delivered once, the problem cleared; never sent again.
    let (url, bodies) = receiver();
    f.once_with(
        "2026-12-10T12:15:00Z",
        "cache",
        &[("CUBIST_ALERTS_SLACK_URL", &url)],
    );
    assert_eq!(bodies.lock().unwrap().len(), 1);
    assert!(bodies.lock().unwrap()[0].contains("daily-ranker-20261207"));
    let doc = f.runs_file();
    assert!(doc.alert_problems.is_empty(), "{doc:?}");
    f.once_with(
        "2026-12-10T12:20:00Z",
        "cache",
        &[("CUBIST_ALERTS_SLACK_URL", &url)],
    );
    assert_eq!(bodies.lock().unwrap().len(), 1, "delivered exactly once");
}

/// A GitHub issue channel works from the loop: its client is made inside the runtime that
/// delivers (before, it was made outside any runtime and every alert failed with "no Tokio
/// runtime").
#[test]
fn a_failed_run_opens_an_issue_through_the_github_channel() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let github = fake_issues::FakeIssues::default();
    let server = rt.block_on(github.start());
    // The fake serves the issues of acme/alerts.
    let f = Fixture::with(|work| {
        edit(
            &work.join("cubist.yaml"),
            "repo: acme/ml-oncall",
            "repo: acme/alerts",
        )
    });
    f.once(NOW, "cache");
    f.fail("daily-ranker-20261207");
    let api = server.uri();
    f.once_with(
        "2026-12-10T12:05:00Z",
        "cache",
        &[
            ("CUBIST_ALERTS_GITHUB_TOKEN", "ghp_runs_directory_test"),
            ("CUBIST_GITHUB_API", &api),
        ],
    );
    let doc = f.runs_file();
    assert_eq!(github.issues().len(), 1, "{:?}", doc.alert_problems);
    assert!(github.issues()[0].body.contains("daily-ranker-20261207"));
    assert!(doc.alert_problems.is_empty(), "{:?}", doc.alert_problems);
}

#[test]
fn a_restart_on_a_synced_all_directory_revision_decides_the_executions_that_came_due() {
    // Only directory targets (prod-bj and what needs it removed), so a restart at the synced
    // revision would stop early; daily-ranker from 12-10 with two slots.
    let f = Fixture::with(|work| {
        std::fs::remove_file(work.join("clusters/prod-bj.yaml")).unwrap();
        std::fs::remove_file(work.join("projects/vision/services/detector.yaml")).unwrap();
        for p in ["recsys", "vision"] {
            edit(
                &work.join(format!("projects/{p}/project.yaml")),
                "clusters: [local, prod-bj]",
                "clusters: [local]",
            );
        }
        let quota = work.join("projects/vision/quota.yaml");
        let text = std::fs::read_to_string(&quota).unwrap();
        let local_only = text.split("\n---\n").next().unwrap().to_string();
        std::fs::write(&quota, local_only + "\n").unwrap();
        let ranker = work.join("projects/recsys/pipelines/daily-ranker.yaml");
        edit(&ranker, "startFrom: 2026-12-07", "startFrom: 2026-12-10");
        edit(&ranker, "concurrency: 1", "concurrency: 2");
    });
    // 12-10 02:00 in Shanghai has passed: one execution, one file; the next is 12-11 02:00.
    f.once(NOW, "cache");
    assert_eq!(f.files(), ["daily-ranker-20261210.yaml"]);
    let summary = f.status().summary().unwrap().unwrap();
    // The earliest next execution of any schedule: daily-ranker's or an earlier one.
    let due = summary.next_run_due.expect("nextRunDue").to_rfc3339();
    assert!(
        due.as_str() > "2026-12-10T13:00:00" && due.as_str() <= "2026-12-10T18:00:00+00:00",
        "{due}"
    );
    assert!(
        summary
            .clusters
            .iter()
            .all(|c| c.target.starts_with("directory "))
    );
    // An hour later nothing came due: nothing new.
    f.once("2026-12-10T13:00:00Z", "cache");
    assert_eq!(f.files(), ["daily-ranker-20261210.yaml"]);
    // A day later, same revision, a restart: 12-11 came due and takes the free slot. Before,
    // the restart found the revision synced and stopped without deciding it.
    f.once("2026-12-11T12:00:00Z", "cache");
    assert_eq!(
        f.files(),
        ["daily-ranker-20261210.yaml", "daily-ranker-20261211.yaml"]
    );
}

#[test]
fn a_runs_executions_go_through_admission_on_a_directory_target() {
    // The backfill Run of 14 November dates comes back; daily-ranker has one slot.
    let f = Fixture::with(|work| {
        std::fs::copy(
            examples_repo().join("projects/recsys/runs/backfill-2026-11.yaml"),
            work.join("projects/recsys/runs/backfill-2026-11.yaml"),
        )
        .unwrap();
    });
    f.once(NOW, "cache");
    // One Workflow in all (18 executions wait for the slot), the oldest: the Run's 11-01, with
    // the Run's arguments; the apply wrote none of the Run's Workflows as objects.
    let files = f.files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("daily-ranker-20261101-r"), "{files:?}");
    let text = std::fs::read_to_string(f.runs_dir().join(&files[0])).unwrap();
    assert!(text.contains("600"), "the Run's num_round: {text}");
    let inventory =
        std::fs::read_to_string(f.root.join("rendered/local/cubist-inventory.yaml")).unwrap();
    assert!(!inventory.contains("daily-ranker-2026"), "{inventory}");
    let rec = f.records();
    assert_eq!(rec.runs.len(), 1, "{rec:?}");
    assert_eq!(rec.runs[0].phase, RunPhase::Waiting);
    // A later pass writes nothing more while the slot is taken.
    f.once("2026-12-11T12:00:00Z", "cache");
    assert_eq!(f.files(), files);
}
