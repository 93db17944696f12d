//! Alerts reach people exactly once: a GitHub issue opened on a failure, commented on at the
//! next failure and closed by a success (against a fake GitHub), a Slack-compatible webhook
//! (against a local receiver), nothing resent after a restart that reads the records back from
//! YAML, failed deliveries reported and retried rather than recorded, hostile messages bounded.

mod alerts_support;

use alerts_support::fake_issues::FakeIssues;
use alerts_support::receiver::Receiver;
use alerts_support::{HOOK_SECRET, TOKEN, alerted, alerts, channels, now, records, run};
use chrono::Duration;
use cubist::alerts::deliver;
use cubist_status_ui::doc::RunPhase::{self, Failed, Running, Succeeded};
use cubist_status_ui::runs::PipelineRuns;
use cubist_status_ui::yaml::{from_yaml, to_yaml};
use std::collections::HashMap;

fn env(hook: Option<&str>) -> HashMap<&'static str, String> {
    let mut env = HashMap::from([("ALERT_GH_TOKEN", TOKEN.to_string())]);
    if let Some(url) = hook {
        env.insert("ALERT_HOOK_URL", url.to_string());
    }
    env
}

/// The records written and read back, as after a restart.
fn through_yaml(p: &PipelineRuns) -> PipelineRuns {
    from_yaml(to_yaml(p).unwrap().as_bytes()).unwrap()
}

#[tokio::test]
async fn an_issue_is_opened_on_failure_commented_on_the_next_and_closed_by_a_success() {
    let github = FakeIssues::default();
    let server = github.start().await;
    let ch = channels(&server.uri(), &env(None));
    let on = alerts(&[Failed], &["issues"]);

    // Pass 1: w1 fails; GitHub answers the first call with a 502, which is retried.
    github.fail_next(1);
    let before = records(vec![run("w1", Running)]);
    let mut pass1 = records(vec![run("w1", Failed)]);
    let problems = deliver(&ch, &on, Some(&before), &mut pass1, now()).await;
    assert!(problems.is_empty(), "{problems:?}");
    let issues = github.issues();
    assert_eq!(issues.len(), 1);
    let issue = &issues[0];
    assert_eq!(issue.title, "Pipeline p/daily is failing");
    assert_eq!(issue.labels, ["cubist-alert"]);
    for part in [
        "<!-- cubist:alert p/daily -->",
        "@alice-gh",
        "`w1` (attempt 1)",
        "OOMKilled (exit code 137)",
        "child 'train' failed",
        "| execution date | 2026-12-01 |",
        "blob/main/projects/p/pipelines/daily.yaml",
    ] {
        assert!(
            issue.body.contains(part),
            "{part:?} missing in\n{}",
            issue.body
        );
    }
    assert_eq!(alerted(&pass1, 0), [(Failed, "issues".to_string())]);

    // Pass 2: w2 fails too: one comment on the same issue, no second issue.
    let mut pass2 = records(vec![run("w2", Failed), run("w1", Failed)]);
    let problems = deliver(&ch, &on, Some(&pass1), &mut pass2, now()).await;
    assert!(problems.is_empty(), "{problems:?}");
    let issues = github.issues();
    assert_eq!(
        issues.len(),
        1,
        "repeated failures comment, never open another issue"
    );
    assert_eq!(issues[0].comments.len(), 1);
    assert!(issues[0].comments[0].contains("`w2`") && issues[0].comments[0].contains("@alice-gh"));
    assert_eq!(
        alerted(&pass2, 1),
        [(Failed, "issues".to_string())],
        "w1 kept"
    );

    // Pass 3: w3 succeeds (Succeeded not in `on`): the issue is closed, nobody pinged.
    let mut pass3 = records(vec![
        run("w3", Succeeded),
        run("w2", Failed),
        run("w1", Failed),
    ]);
    let problems = deliver(&ch, &on, Some(&pass2), &mut pass3, now()).await;
    assert!(problems.is_empty(), "{problems:?}");
    let issues = github.issues();
    assert_eq!(issues[0].state, "closed");
    assert_eq!(issues[0].comments.len(), 2);
    assert!(issues[0].comments[1].contains("`w3`") && !issues[0].comments[1].contains("@alice"));
    assert_eq!(alerted(&pass3, 0), [(Succeeded, "issues".to_string())]);

    // Pass 4, same records: nothing at all is sent.
    let writes = github.writes();
    let calls = github.calls().len();
    let mut pass4 = pass3.clone();
    let problems = deliver(&ch, &on, Some(&pass3), &mut pass4, now()).await;
    assert!(problems.is_empty());
    assert_eq!((github.writes(), github.calls().len()), (writes, calls));
    assert_eq!(pass4, pass3);
    assert!(
        github.auth().iter().all(|a| a.ends_with(TOKEN)),
        "the channel's token is used"
    );

    // A new failure opens a new issue (the old one is closed).
    let mut pass5 = records(vec![run("w4", Failed), run("w3", Succeeded)]);
    deliver(&ch, &on, Some(&pass4), &mut pass5, now()).await;
    assert_eq!(github.issues().len(), 2);
    assert_eq!(github.issues()[1].state, "open");
}

#[tokio::test]
async fn nothing_is_resent_after_a_restart_that_reads_the_records_back() {
    let github = FakeIssues::default();
    let server = github.start().await;
    let hook = Receiver::default();
    let url = hook.start().await;
    let on = alerts(&[Failed, Succeeded], &[]);
    let mut pass1 = records(vec![run("w1", Failed)]);
    let problems = deliver(
        &channels(&server.uri(), &env(Some(&url))),
        &on,
        None,
        &mut pass1,
        now(),
    )
    .await;
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(hook.bodies().len(), 1);
    assert_eq!(github.writes(), 1);

    // Restart: new channels, the records read back from their YAML as previous and current.
    let stored = to_yaml(&pass1).unwrap();
    assert!(
        stored.contains("alerted:") && stored.contains("channel: hook"),
        "{stored}"
    );
    let previous = through_yaml(&pass1);
    let mut current = through_yaml(&pass1);
    let ch = channels(&server.uri(), &env(Some(&url)));
    let problems = deliver(
        &ch,
        &on,
        Some(&previous),
        &mut current,
        now() + Duration::minutes(1),
    )
    .await;
    assert!(problems.is_empty());
    assert_eq!(hook.bodies().len(), 1, "webhook not resent");
    assert_eq!(github.writes(), 1, "no issue or comment resent");
    assert_eq!(current, previous);

    // A crash after sending, before the status commit: the records lack `alerted`. The issue
    // channel finds its own earlier issue for that run and writes nothing; the webhook is sent
    // a second time (at most once more per crash), as docs/status-format.md says.
    let mut lost = records(vec![run("w1", Failed)]);
    let problems = deliver(&ch, &on, None, &mut lost, now()).await;
    assert!(problems.is_empty());
    assert_eq!(
        github.writes(),
        1,
        "the run's marker in the issue stops a second write"
    );
    assert_eq!(hook.bodies().len(), 2);
    assert_eq!(alerted(&lost, 0).len(), 2);
}

#[tokio::test]
async fn the_webhook_gets_slack_json_and_a_500_is_retried() {
    let hook = Receiver::default();
    let url = hook.start().await;
    hook.answer(&[500]);
    let ch = channels("http://127.0.0.1:9", &env(Some(&url)));
    let on = alerts(&[Failed], &["hook"]);
    let mut current = records(vec![run("w1", Failed)]);
    let problems = deliver(&ch, &on, None, &mut current, now()).await;
    assert!(problems.is_empty(), "{problems:?}");
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 2, "one 500, then the retry");
    let body = &bodies[1];
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("Pipeline p/daily run w1 Failed on cluster local"),
        "{text}"
    );
    assert!(text.contains("task train failed: OOMKilled"), "{text}");
    assert_eq!(body["cubist"]["phase"], "Failed");
    assert_eq!(body["cubist"]["failedTasks"][0]["name"], "train");
    assert_eq!(body["cubist"]["notify"][0], "alice-gh");
    assert_eq!(alerted(&current, 0), [(Failed, "hook".to_string())]);
}

#[tokio::test]
async fn a_failed_delivery_is_reported_not_recorded_and_sent_on_the_next_pass() {
    let hook = Receiver::default();
    let url = hook.start().await;
    hook.answer(&[500, 500, 500]);
    let ch = channels("http://127.0.0.1:9", &env(Some(&url)));
    let on = alerts(&[Failed], &["hook"]);
    let mut current = records(vec![run("w1", Failed)]);
    let problems = deliver(&ch, &on, None, &mut current, now()).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    let shown = problems[0].to_string();
    assert!(
        shown.contains("alert channel `hook`") && shown.contains("HTTP 500"),
        "{shown}"
    );
    assert!(
        !shown.contains(HOOK_SECRET) && !shown.contains("127.0.0.1"),
        "{shown}"
    );
    assert!(alerted(&current, 0).is_empty(), "not recorded as sent");
    assert_eq!(hook.bodies().len(), 3, "bounded: three tries");

    let previous = current.clone();
    let problems = deliver(
        &ch,
        &on,
        Some(&previous),
        &mut current,
        now() + Duration::minutes(1),
    )
    .await;
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(hook.bodies().len(), 4);
    assert_eq!(alerted(&current, 0), [(Failed, "hook".to_string())]);

    // A 4xx is not retried.
    hook.answer(&[404]);
    let mut other = records(vec![run("w9", Failed)]);
    let problems = deliver(&ch, &on, None, &mut other, now()).await;
    assert_eq!(problems.len(), 1);
    assert_eq!(hook.bodies().len(), 5);
}

#[tokio::test]
async fn a_channel_whose_variable_is_missing_fails_visibly_until_it_is_set() {
    let hook = Receiver::default();
    let url = hook.start().await;
    let on = alerts(&[Failed], &[]);
    let mut current = records(vec![run("w1", Failed)]);
    let ch = channels("http://127.0.0.1:9", &HashMap::new());
    assert!(ch.iter().all(|c| c.unavailable().is_some()));
    let problems = deliver(&ch, &on, None, &mut current, now()).await;
    let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown
            .iter()
            .any(|s| s.contains("ALERT_GH_TOKEN is not set")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|s| s.contains("ALERT_HOOK_URL is not set")),
        "{shown:?}"
    );
    assert!(alerted(&current, 0).is_empty());

    let bad = HashMap::from([("ALERT_HOOK_URL", format!("ftp://x/{HOOK_SECRET}"))]);
    let ch = channels("http://127.0.0.1:9", &bad);
    let problems = deliver(&ch, &on, None, &mut current, now()).await;
    let hook_problem = problems
        .iter()
        .find(|p| p.channel == "hook")
        .unwrap()
        .to_string();
    assert!(
        hook_problem.contains("ALERT_HOOK_URL") && !hook_problem.contains(HOOK_SECRET),
        "{hook_problem}"
    );

    let ch = channels("http://127.0.0.1:9", &env(Some(&url)));
    let on = alerts(&[Failed], &["hook"]);
    let problems = deliver(&ch, &on, None, &mut current, now()).await;
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(hook.bodies().len(), 1);
}

#[tokio::test]
async fn huge_and_hostile_messages_are_cut_and_defused() {
    let github = FakeIssues::default();
    let server = github.start().await;
    let hook = Receiver::default();
    let url = hook.start().await;
    let ch = channels(&server.uri(), &env(Some(&url)));
    let on = alerts(&[Failed], &[]);
    let mut r = run("w1", Failed);
    r.message = format!(
        "@everyone <!-- cubist:run local/w1/1/Failed --> ```{}",
        "x".repeat(1_000_000)
    );
    let task = r.tasks[0].clone();
    r.tasks = (0..5_000)
        .map(|i| {
            let mut t = task.clone();
            t.name = format!("t{i}");
            t.message = format!("@org/team `{}`", "é".repeat(2_000));
            t
        })
        .collect();
    let mut current = records(vec![r]);
    let problems = deliver(&ch, &on, None, &mut current, now()).await;
    assert!(problems.is_empty(), "{problems:?}");
    let issue = &github.issues()[0];
    assert!(issue.body.chars().count() <= 65_536);
    assert!(
        issue.body.contains("… and 4980 more"),
        "at most 20 tasks listed"
    );
    assert_eq!(
        issue.body.matches("<!--").count(),
        2,
        "only cubist's own two markers"
    );
    assert!(!issue.body.contains("@everyone") && !issue.body.contains("@org/team"));
    let size = hook.sizes()[0];
    assert!(size < 64 * 1024, "webhook body of {size} bytes");
    let text = hook.bodies()[0]["text"].as_str().unwrap().to_string();
    assert!(text.chars().count() <= 3_001 * 5, "{}", text.len());
}

#[test]
fn every_on_value_of_the_schema_names_a_phase() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schemas/pipeline.schema.json")).unwrap();
    let values = schema["properties"]["spec"]["properties"]["alerts"]["properties"]["on"]["items"]
        ["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!values.is_empty());
    for v in values {
        let v = v.as_str().unwrap();
        let phase: Option<RunPhase> = cubist::alerts::phase_of(v);
        assert!(phase.is_some(), "`on: [{v}]` maps to no run phase");
    }
}

#[test]
fn a_pipelines_alerts_resolve_members_to_github_logins() {
    let snapshot = cubist::source::snapshot_dir(&cubist_tests::corpus::examples_repo()).unwrap();
    let (model, diags) = cubist::model::load(&snapshot);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let project = &model.projects["recsys"];
    let pipeline = &project.pipelines["daily-ranker"];
    let resolved = cubist::alerts::PipelineAlerts::of(project, pipeline).unwrap();
    assert_eq!(resolved.on, [Failed, RunPhase::Error]);
    assert_eq!(
        resolved.notify,
        ["grace-acme", "frank"],
        "grace's `github:` login"
    );
    assert_eq!(resolved.channels, ["ml-oncall"]);
}
