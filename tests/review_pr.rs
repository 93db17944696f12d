//! Pull request review end to end: signed GitHub deliveries (the real payloads) through the
//! webhook router into the review worker, a real bare git repository as the remote, and a fake
//! GitHub that records every call. Covers the acceptance path (a cycle fails, a fix turns the
//! same comment green, the merge is applied and reported) and `/cubist plan` re-plans.

mod review_support;

use axum::http::StatusCode;
use review_support::fake_github::{Call, FakeGitHub, TOKEN, calls};
use review_support::platform::Platform;
use review_support::{PR, deliver, payload, plan_command, pull_request, reviewer, signed};
use serde_json::{Value, json};

const DAILY: &str = "projects/p/pipelines/daily.yaml";
const COMMENTS: &str = "/repos/acme/platform/issues/2/comments";
const FIRST_PAGE: &str = "/repos/acme/platform/issues/2/comments?per_page=100&page=1";

fn status_call(sha: &str, state: &str, context: &str, description: &str, url: &str) -> Call {
    (
        "POST".into(),
        format!("/repos/acme/platform/statuses/{sha}"),
        json!({"state": state, "context": context, "description": description, "target_url": url}),
    )
}

fn comment_url(id: u64) -> String {
    format!("https://github.com/acme/platform/pull/2#issuecomment-{id}")
}

/// The body of a call, as text.
fn text(call: &Call) -> &str {
    call.2["body"].as_str().expect("a comment body")
}

/// `local +0 ~N -0` → N.
fn changed_on_local(description: &Value) -> usize {
    let d = description.as_str().unwrap();
    let rest = d
        .strip_prefix("local +0 ~")
        .unwrap_or_else(|| panic!("{d}"));
    rest.strip_suffix(" -0").unwrap().parse().unwrap()
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn cycle_fails_fix_turns_the_same_comment_green_and_merge_is_reported() {
    let github = FakeGitHub::default();
    let server = github.start().await;
    let platform = Platform::new();
    let mut reconciler = platform.reconciler();
    reconciler.poll().unwrap().expect("main reconciled");
    let reviewer = reviewer(&server, &platform);

    // 1. The pull request's first push makes the DAG cyclic.
    platform.edit(
        DAILY,
        "args: {script: extract.py}",
        "after: [report]\n      args: {script: extract.py}",
    );
    let broken = platform.commit("changes");
    platform.set_pull_head(PR, &broken);
    let opened = signed("pull_request", "d-opened", &pull_request("opened", &broken));
    let done = deliver(&reviewer, vec![opened], &[]).await;
    assert_eq!((done.codes, done.nudges), (vec![StatusCode::ACCEPTED], 0));
    let got = calls(&server).await;
    assert_eq!(got.len(), 4, "{got:#?}");
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("GET", FIRST_PAGE));
    assert_eq!((got[1].0.as_str(), got[1].1.as_str()), ("POST", COMMENTS));
    let comment = text(&got[1]);
    assert!(
        comment.starts_with("<!-- cubist:plan -->\n### cubist plan: ❌ 1 error"),
        "{comment}"
    );
    let link = format!("https://github.com/acme/platform/blob/{broken}/{DAILY}#L15");
    assert!(
        comment.contains(&format!("**E0402** [`{DAILY}:15:15`]({link})")),
        "{comment}"
    );
    assert!(
        comment.contains("cycle: extract → train → report → extract"),
        "{comment}"
    );
    let id = github.comments(PR)[0].0;
    assert_eq!(
        got[2],
        status_call(
            &broken,
            "failure",
            "cubist/validate",
            &format!("1 error; first: E0402 {DAILY}:15"),
            &comment_url(id)
        )
    );
    assert_eq!(
        got[3],
        status_call(
            &broken,
            "failure",
            "cubist/plan",
            "not planned: the head has 1 validation error",
            &comment_url(id)
        )
    );

    // 2. A fixing push (synchronize) also gives `train` a second worker.
    platform.edit(
        DAILY,
        "after: [report]\n      args: {script: extract.py}",
        "args: {script: extract.py}",
    );
    platform.edit(DAILY, "workers: 1}", "workers: 2}");
    let fixed = platform.commit("changes");
    platform.set_pull_head(PR, &fixed);
    let sync = signed(
        "pull_request",
        "d-sync",
        &pull_request("synchronize", &fixed),
    );
    let done = deliver(&reviewer, vec![sync], &[]).await;
    assert_eq!(done.codes, vec![StatusCode::ACCEPTED]);
    let got = calls(&server).await[4..].to_vec();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("GET", FIRST_PAGE));
    let patch = format!("/repos/acme/platform/issues/comments/{id}");
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        ("PATCH", patch.as_str()),
        "the same comment is updated"
    );
    let comment = text(&got[1]);
    assert!(
        comment.contains("### cubist plan: ✅ valid")
            && comment.contains(&format!("Head [`{}`]", &fixed[..7])),
        "{comment}"
    );
    assert!(
        comment.contains("| `p` | `local` | cpu | 13 | 17 | 32 |"),
        "{comment}"
    );
    assert!(
        comment.contains("<details><summary>change <code>WorkflowTemplate p/daily</code>"),
        "{comment}"
    );
    assert_eq!(
        github.comments(PR),
        vec![(id, comment.to_string())],
        "still one comment"
    );
    assert_eq!(
        got[2],
        status_call(
            &fixed,
            "success",
            "cubist/validate",
            "valid: no errors, 0 warnings",
            &comment_url(id)
        )
    );
    assert_eq!(
        (
            got[3].1.as_str(),
            got[3].2["state"].as_str(),
            got[3].2["context"].as_str()
        ),
        (
            format!("/repos/acme/platform/statuses/{fixed}").as_str(),
            Some("success"),
            Some("cubist/plan")
        )
    );
    let planned = changed_on_local(&got[3].2["description"]);
    assert!(planned >= 1);

    // 3. Merge (a squash onto main): GitHub sends the push and the close; the push nudges the loop.
    let merged = platform.commit("main");
    github.add_merge(&merged, PR);
    let mut push = payload("push.json");
    push["ref"] = json!("refs/heads/main");
    push["deleted"] = json!(false);
    push["before"] = json!(platform.tip("refs/heads/changes"));
    push["after"] = json!(merged);
    let mut closed = pull_request("closed", &fixed);
    closed["pull_request"]["merged"] = json!(true);
    closed["pull_request"]["merge_commit_sha"] = json!(merged);
    let requests = vec![
        signed("push", "d-push", &push),
        signed("pull_request", "d-closed", &closed),
    ];
    let done = deliver(&reviewer, requests, &[]).await;
    assert_eq!(
        (done.codes, done.nudges),
        (vec![StatusCode::ACCEPTED; 2], 1)
    );
    assert_eq!(
        calls(&server).await.len(),
        8,
        "a push or a merge alone reports nothing"
    );

    // The nudged loop reconciles the merge and hands its outcome to the worker.
    let outcome = reconciler.poll().unwrap().expect("the merge is new");
    assert_eq!(outcome.revision, merged);
    let done = deliver(&reviewer, Vec::new(), &[outcome]).await;
    assert_eq!(done.nudges, 0);
    let got = calls(&server).await[8..].to_vec();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert_eq!(
        got[0],
        (
            "GET".into(),
            format!("/repos/acme/platform/commits/{merged}/pulls"),
            Value::Null
        )
    );
    assert_eq!((got[1].0.as_str(), got[1].1.as_str()), ("GET", FIRST_PAGE));
    assert_eq!(
        (got[2].0.as_str(), got[2].1.as_str()),
        ("POST", COMMENTS),
        "the apply result is its own comment"
    );
    let apply = text(&got[2]);
    assert!(
        apply.starts_with("<!-- cubist:apply -->\n### cubist apply: ✅ applied"),
        "{apply}"
    );
    assert!(
        apply.contains(&format!("| `local` | ✅ applied | {planned} | 0 |")),
        "{apply}"
    );
    let apply_id = github.comments(PR)[1].0;
    assert_eq!(
        got[3],
        status_call(
            &merged,
            "success",
            "cubist/apply",
            &format!("applied: local +{planned} -0"),
            &comment_url(apply_id)
        )
    );
    let template = std::fs::read_to_string(
        platform
            .rendered()
            .join("p/argoproj.io_WorkflowTemplate_daily.yaml"),
    )
    .unwrap();
    // workers: 2 → torchrun is told {{nodes}} = 1 master + 2 workers.
    assert!(
        template.contains("--nnodes=3"),
        "the merge is on the cluster"
    );
    assert!(!apply.contains(TOKEN) && !github.comments(PR)[0].1.contains(TOKEN));
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn plan_command_from_a_writer_replans_the_current_head() {
    let github = FakeGitHub::default();
    let server = github.start().await;
    let platform = Platform::new();
    let reviewer = reviewer(&server, &platform);
    platform.edit(DAILY, "workers: 1}", "workers: 2}");
    let head = platform.commit("changes");
    platform.set_pull_head(PR, &head);
    github.add_writer("Codertocat");
    github.add_pull(PR, &head, "main");
    let old = github.add_comment(PR, "<!-- cubist:plan -->\nan older plan");

    let command = plan_command("COLLABORATOR");
    let done = deliver(
        &reviewer,
        vec![signed("issue_comment", "d-cmd", &command)],
        &[],
    )
    .await;
    assert_eq!(done.codes, vec![StatusCode::ACCEPTED]);
    let got = calls(&server).await;
    let shape: Vec<(&str, &str)> = got.iter().map(|c| (c.0.as_str(), c.1.as_str())).collect();
    let status = format!("/repos/acme/platform/statuses/{head}");
    let patch = format!("/repos/acme/platform/issues/comments/{old}");
    assert_eq!(
        shape,
        vec![
            (
                "GET",
                "/repos/acme/platform/collaborators/Codertocat/permission"
            ),
            ("GET", "/repos/acme/platform/pulls/2"),
            ("GET", FIRST_PAGE),
            ("PATCH", patch.as_str()),
            ("POST", status.as_str()),
            ("POST", status.as_str()),
        ]
    );
    assert!(text(&got[3]).contains("### cubist plan: ✅ valid"));
    assert_eq!(github.comments(PR).len(), 1);
}
