//! `GET /metrics` of a running `cubist serve`, parsed by a strict OpenMetrics parser and checked
//! against what was just observed: objects per state equal the status branch's counts, each
//! reconcile counts once with its result, fetch failures and failed passes count, webhook
//! deliveries count by outcome. Label values from a repository are escaped.

use cubist::metrics::Metrics;
use cubist::reconcile::Outcome;
use cubist::report::status_branch::read_status;
use cubist::synth::{self, Shape};
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::{ClusterStatus, StateCounts, Summary, SyncState};
use cubist_status_ui::runs::{ClusterRuns, PipelineRuns, RunRecord};
use cubist_tests::procs::{Lines, Running, spawn_all};
use cubist_tests::repo::{commit_all, cubist_binary, git, small_shape, synthetic_with_bare_remote};
use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous: only there so that a broken build fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(120);

const SECRET: &str = "metrics-test-secret";

type Exposition = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

/// An HTTP exchange on a fresh connection: status code, headers (lowercase names) and body.
fn http(addr: &str, head: &str, body: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        s,
        "{head}Host: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (code, headers.to_ascii_lowercase(), body.to_string())
}

/// `GET /metrics`, checked for its content type and parsed strictly (a malformed exposition
/// fails the test).
fn scrape(addr: &str) -> Exposition {
    let (code, headers, body) = http(addr, "GET /metrics HTTP/1.1\r\n", b"");
    assert_eq!(code, 200, "{body}");
    assert!(
        headers.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{headers}"
    );
    parse_openmetrics(&body).unwrap_or_else(|e| panic!("not OpenMetrics ({e:?}):\n{body}"))
}

/// Scrapes until `done` holds (what a pass records at its very end may come just after the
/// line it prints).
fn scrape_until(addr: &str, done: impl Fn(&Exposition) -> bool) -> Exposition {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let m = scrape(addr);
        if done(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "metrics never got there");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn number(v: &OpenMetricsValue) -> f64 {
    match v {
        OpenMetricsValue::Gauge(n) | OpenMetricsValue::Unknown(n) => n.as_f64(),
        OpenMetricsValue::Counter(c) => c.value.as_f64(),
        OpenMetricsValue::Histogram(h) => h.count.expect("a histogram count") as f64,
        other => panic!("unexpected value {other:?}"),
    }
}

/// The value of the sample of `family` with exactly `labels` (a histogram's count), if any.
fn sample(m: &Exposition, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let fam = m
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    fam.iter_samples()
        .find(|s| {
            let set = s.get_labelset().unwrap();
            set.iter().count() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|s| number(&s.value))
}

/// [`sample`], absent counting as 0 (a counter not incremented yet has no series).
fn value(m: &Exposition, family: &str, labels: &[(&str, &str)]) -> f64 {
    sample(m, family, labels).unwrap_or(0.0)
}

fn reconciles(m: &Exposition, result: &str) -> f64 {
    value(m, "cubist_reconciles", &[("result", result)])
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

/// `cubist_objects` and `cubist_cluster_state` say what `summary` says, for each cluster.
fn assert_clusters_match(m: &Exposition, summary: &Summary) {
    assert!(!summary.clusters.is_empty());
    for c in &summary.clusters {
        let n = |state| {
            value(
                m,
                "cubist_objects",
                &[("cluster", &c.name), ("state", state)],
            )
        };
        let counts = &c.counts;
        let seen = [
            ("Synced", counts.synced),
            ("OutOfSync", counts.out_of_sync),
            ("Failed", counts.failed),
            ("Unreachable", counts.unreachable),
            ("Held", counts.held),
            ("NotConfigured", counts.not_configured),
        ];
        for (state, want) in seen {
            assert_eq!(n(state), want as f64, "{} {state}", c.name);
        }
        let state = format!("{:?}", c.state);
        let one = |s: &str| {
            value(
                m,
                "cubist_cluster_state",
                &[("cluster", &c.name), ("state", s)],
            )
        };
        assert_eq!(one(&state), 1.0, "{} is {state}", c.name);
        let total: f64 = seen.iter().map(|(s, _)| one(s)).sum();
        assert_eq!(total, 1.0, "{} is in one state", c.name);
    }
}

fn push(work: &Path, remote: &Path) -> String {
    let rev = commit_all(work, "change");
    git(work, &["push", "-q", remote.to_str().unwrap(), "HEAD:main"]);
    rev
}

/// A webhook delivery of `event` with the signature `signature`.
fn deliver(addr: &str, event: &str, signature: &str, body: &[u8]) -> u16 {
    let head = format!(
        "POST /hooks/github HTTP/1.1\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: {event}\r\nX-GitHub-Delivery: d-{}\r\nX-Hub-Signature-256: {signature}\r\n",
        rand_id()
    );
    http(addr, &head, body).0
}

fn rand_id() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn metrics_follow_the_reconciles_the_fetches_and_the_webhook() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (work, remote, first) = synthetic_with_bare_remote(root);
    let mut cmd = Command::new(cubist_binary());
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1s",
        "--repo",
    ])
    .arg(&remote)
    .arg("--cache-dir")
    .arg(root.join("cache"))
    .env("CUBIST_WEBHOOK_SECRET", SECRET)
    .env_remove("CUBIST_GITHUB_TOKEN")
    .env_remove("CUBIST_GITHUB_TOKEN_FILE");
    let (_running, mut lines): (Running, Lines) = spawn_all(cmd);
    let addr = lines
        .wait_for(PATIENCE, |l| l.starts_with("status page: http://"))
        .trim_start_matches("status page: http://")
        .trim_end_matches('/')
        .to_string();
    lines.wait_for(PATIENCE, |l| {
        l.starts_with(&format!("reconciled {}", &first[..7]))
    });

    // The first reconcile: one success, gauges equal to the status commit's summary.
    let m = scrape(&addr);
    let first_summary = summary(&remote);
    assert_eq!(first_summary.revision, first);
    assert_eq!(reconciles(&m, "success"), 1.0);
    assert_eq!(reconciles(&m, "degraded") + reconciles(&m, "error"), 0.0);
    assert_clusters_match(&m, &first_summary);
    let cluster = &first_summary.clusters[0].name;
    assert!(
        value(
            &m,
            "cubist_objects",
            &[("cluster", cluster), ("state", "Synced")]
        ) > 0.0
    );
    assert_eq!(value(&m, "cubist_cluster_up", &[("cluster", cluster)]), 1.0);
    assert_eq!(value(&m, "cubist_reconcile_duration_seconds", &[]), 1.0);
    assert!(value(&m, "cubist_git_fetch_duration_seconds", &[]) >= 1.0);
    assert_eq!(value(&m, "cubist_git_fetch_errors", &[]), 0.0);
    // The pass ends just after it prints its line.
    let m = scrape_until(&addr, |m| {
        value(m, "cubist_reconcile_last_success_timestamp_seconds", &[]) > 0.0
    });
    let last = value(&m, "cubist_reconcile_last_success_timestamp_seconds", &[]);
    let now = rand_id() as f64 / 1e9;
    assert!(
        last > now - 60.0 && last <= now,
        "last success {last}, now {now}"
    );

    // A valid change: exactly one more success.
    synth::write(
        &Shape {
            projects: 3,
            ..small_shape()
        },
        &work,
    )
    .unwrap();
    let second = push(&work, &remote);
    lines.wait_for(PATIENCE, |l| {
        l.starts_with(&format!("reconciled {}", &second[..7]))
    });
    let m = scrape(&addr);
    assert_eq!(reconciles(&m, "success"), 2.0);
    let second_summary = summary(&remote);
    assert_eq!(second_summary.revision, second);
    assert_clusters_match(&m, &second_summary);
    let synced = |s: &Summary| s.clusters[0].counts.synced;
    assert!(
        synced(&second_summary) > synced(&first_summary),
        "a third project's objects"
    );

    // A broken project: the reconcile holds it and counts as degraded.
    let project = work.join("projects/team-0000/project.yaml");
    let text = std::fs::read_to_string(&project).unwrap();
    std::fs::write(
        &project,
        text.replacen("spec:", "spec:\n  nosuchfield: 1", 1),
    )
    .unwrap();
    let third = push(&work, &remote);
    let line = lines.wait_for(PATIENCE, |l| {
        l.starts_with(&format!("reconciled {}", &third[..7]))
    });
    assert!(line.ends_with(" 1 held, 1 error(s)"), "{line}");
    let m = scrape(&addr);
    assert_eq!(reconciles(&m, "degraded"), 1.0, "{:?}", summary(&remote));
    assert_eq!(reconciles(&m, "success"), 2.0);
    let sum: f64 = ["success", "degraded", "error"]
        .iter()
        .map(|r| reconciles(&m, r))
        .sum();
    assert_eq!(value(&m, "cubist_reconcile_duration_seconds", &[]), sum);
    assert_clusters_match(&m, &summary(&remote));

    // Webhook deliveries: a wrong signature is rejected, a forged event name is `other`, a
    // signed ping is a pong.
    let ping = br#"{"zen":"ok"}"#;
    assert_eq!(deliver(&addr, "push", "sha256=00", ping), 401);
    assert_eq!(deliver(&addr, "x\"}\\n", "sha256=00", ping), 401);
    let signed = cubist_webhook::signature::sign(SECRET.as_bytes(), ping);
    assert_eq!(deliver(&addr, "ping", &signed, ping), 200);
    let m = scrape(&addr);
    let delivered = |event, outcome| {
        value(
            &m,
            "cubist_webhook_deliveries",
            &[("event", event), ("outcome", outcome)],
        )
    };
    assert_eq!(delivered("push", "rejected"), 1.0);
    assert_eq!(delivered("other", "rejected"), 1.0);
    assert_eq!(delivered("ping", "pong"), 1.0);
    let series = m.families["cubist_webhook_deliveries"]
        .iter_samples()
        .count();
    assert_eq!(series, 3, "no series for the forged event name");

    // The remote goes away: fetches fail, passes count as errors, the gauges stay.
    let before = scrape(&addr);
    std::fs::rename(&remote, root.join("gone.git")).unwrap();
    lines.wait_for(PATIENCE, |l| l.contains("retrying in"));
    let m = scrape_until(&addr, |m| reconciles(m, "error") >= 1.0);
    assert!(value(&m, "cubist_git_fetch_errors", &[]) >= 1.0);
    let last = |m: &Exposition| value(m, "cubist_reconcile_last_success_timestamp_seconds", &[]);
    assert!(last(&m) <= last(&before) + 1.5, "no pass succeeded since");
    assert_eq!(
        value(
            &m,
            "cubist_objects",
            &[("cluster", cluster), ("state", "Synced")]
        ),
        value(
            &before,
            "cubist_objects",
            &[("cluster", cluster), ("state", "Synced")]
        )
    );
}

/// The outcome of a reconcile without errors that wrote `commit`.
fn written(commit: git2::Oid) -> Outcome {
    Outcome {
        status_commit: Some(commit),
        ..Default::default()
    }
}

/// A summary of one cluster named `name`, with some objects synced.
fn summary_of(name: &str) -> Summary {
    Summary {
        revision: "0".repeat(40),
        clusters: vec![ClusterStatus {
            name: name.into(),
            state: SyncState::Held,
            counts: StateCounts {
                synced: 3,
                held: 2,
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A commit of `repo` whose tree holds `status/summary.yaml` = `summary` and, for each of
/// `runs`, `status/runs/<project>/<pipeline>.yaml`.
fn status_commit(repo: &git2::Repository, summary: &Summary, runs: &[PipelineRuns]) -> git2::Oid {
    use cubist_status_ui::yaml::to_yaml;
    let mut files = vec![("status/summary.yaml".to_string(), to_yaml(summary).unwrap())];
    for r in runs {
        let path = format!("status/runs/{}/{}.yaml", r.project, r.pipeline);
        files.push((path, to_yaml(r).unwrap()));
    }
    let files = files
        .into_iter()
        .map(|(p, t)| (p, t.into_bytes()))
        .collect();
    let tree = cubist::report::status_branch::tree_with(repo, None, &files).unwrap();
    let tree = repo.find_tree(tree).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    repo.commit(None, &sig, &sig, "status", &tree, &[]).unwrap()
}

#[test]
fn hostile_names_are_escaped_and_gone_clusters_and_pipelines_lose_their_series() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init_bare(tmp.path()).unwrap();
    let hostile = "a\"b\\c\nd} e=\"1\",# EOF";
    let run = |phase| RunRecord {
        phase,
        ..Default::default()
    };
    let runs = PipelineRuns {
        project: hostile.into(),
        pipeline: "p\"}".into(),
        clusters: [(
            hostile.to_string(),
            ClusterRuns {
                runs: vec![
                    run(cubist_status_ui::doc::RunPhase::Running),
                    run(cubist_status_ui::doc::RunPhase::Succeeded),
                    run(cubist_status_ui::doc::RunPhase::Succeeded),
                ],
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    };
    let metrics = Metrics::new();
    // Written through git as the loop does: names a path can hold (no `/`), the rest in labels.
    let safe = PipelineRuns {
        project: "proj".into(),
        pipeline: "pipe".into(),
        ..runs.clone()
    };
    let commit = status_commit(&repo, &summary_of(hostile), std::slice::from_ref(&safe));
    metrics.reconciled(&repo, &written(commit), Duration::from_millis(5));
    let text = metrics.encode();
    let m = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e:?}:\n{text}"));
    let objects = |state| {
        value(
            &m,
            "cubist_objects",
            &[("cluster", hostile), ("state", state)],
        )
    };
    assert_eq!(
        (objects("Synced"), objects("Held"), objects("Failed")),
        (3.0, 2.0, 0.0)
    );
    assert_eq!(value(&m, "cubist_cluster_up", &[("cluster", hostile)]), 1.0);
    assert_eq!(
        reconciles(&m, "degraded"),
        1.0,
        "a Held cluster is not a success"
    );
    let pipe = |m: &Exposition, project: &str, pipeline: &str, phase: &str| {
        sample(
            m,
            "cubist_pipeline_runs",
            &[
                ("project", project),
                ("pipeline", pipeline),
                ("cluster", hostile),
                ("phase", phase),
            ],
        )
    };
    assert_eq!(pipe(&m, "proj", "pipe", "Succeeded"), Some(2.0));
    assert_eq!(pipe(&m, "proj", "pipe", "Running"), Some(1.0));
    assert_eq!(pipe(&m, "proj", "pipe", "Failed"), None);

    // Set directly, hostile project and pipeline names too.
    metrics.set_pipeline_runs(&[runs]);
    let text = metrics.encode();
    let m = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e:?}:\n{text}"));
    assert_eq!(pipe(&m, hostile, "p\"}", "Succeeded"), Some(2.0));
    assert_eq!(pipe(&m, "proj", "pipe", "Succeeded"), None, "replaced");

    // The next status commit has another cluster and no runs: the old series are gone.
    let commit = status_commit(&repo, &summary_of("other"), &[]);
    metrics.reconciled(&repo, &written(commit), Duration::from_millis(5));
    let text = metrics.encode();
    let m = parse_openmetrics(&text).unwrap();
    assert_eq!(
        sample(
            &m,
            "cubist_objects",
            &[("cluster", hostile), ("state", "Synced")]
        ),
        None
    );
    assert_eq!(
        sample(&m, "cubist_cluster_up", &[("cluster", hostile)]),
        None
    );
    assert_eq!(
        value(
            &m,
            "cubist_objects",
            &[("cluster", "other"), ("state", "Synced")]
        ),
        3.0
    );
    let runs = m.families.get("cubist_pipeline_runs");
    assert_eq!(runs.map_or(0, |f| f.iter_samples().count()), 0);
}
