//! Real GitHub payloads, signed with a test secret, through the router.

mod common;

use axum::http::StatusCode;
use common::{app, assert_empty, payload, send, signed};
use cubist_webhook::HookEvent;
use serde_json::json;

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn ping_answers_pong_without_event() {
    let (app, mut rx) = app(8);
    let body = payload("ping.json").to_string();
    let (status, json, _) = send(&app, signed("ping", "d-ping", body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "pong");
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn branch_push_becomes_push_event() {
    let (app, mut rx) = app(8);
    let body = payload("push.with-new-branch.json").to_string();
    let (status, json, _) = send(&app, signed("push", "d-push", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(json, json!({"status": "queued", "event": "push"}));
    assert_eq!(
        rx.try_recv(),
        Some(HookEvent::Push {
            repo: "Codertocat/Hello-World".into(),
            git_ref: "refs/heads/master".into(),
            before: "0000000000000000000000000000000000000000".into(),
            after: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
            pusher: "Codertocat".into(),
            commits_head_message: Some("Initial commit".into()),
        })
    );
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn push_to_main_is_reported_with_after_sha() {
    let (app, mut rx) = app(8);
    let mut body = payload("push.json");
    body["ref"] = json!("refs/heads/main");
    body["deleted"] = json!(false);
    body["after"] = json!("a10867b14bb761a232cd80139fbd4c0d33264240");
    let (status, _, _) = send(&app, signed("push", "d-main", body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    match rx.try_recv() {
        Some(HookEvent::Push {
            git_ref,
            after,
            commits_head_message,
            ..
        }) => {
            assert_eq!(git_ref, "refs/heads/main");
            assert_eq!(after, "a10867b14bb761a232cd80139fbd4c0d33264240");
            assert_eq!(
                commits_head_message, None,
                "push.json has head_commit: null"
            );
        }
        other => panic!("expected a push event, got {other:?}"),
    }
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn deletion_push_is_ignored() {
    let (app, mut rx) = app(8);
    // push.json as published is a tag deletion (deleted: true).
    let (status, json, _) = send(
        &app,
        signed("push", "d-del", payload("push.json").to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(json["status"], "ignored");
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn pull_request_actions_become_pull_request_events() {
    let (app, mut rx) = app(8);
    for (i, action) in ["opened", "synchronize", "reopened"]
        .into_iter()
        .enumerate()
    {
        let body = payload(&format!("pull_request.{action}.json")).to_string();
        let (status, json, _) =
            send(&app, signed("pull_request", &format!("d-pr-{i}"), body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{action}: {json}");
        assert_eq!(
            rx.try_recv(),
            Some(HookEvent::PullRequest {
                repo: "Codertocat/Hello-World".into(),
                number: 2,
                head_sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821".into(),
                head_ref: "changes".into(),
                base_ref: "master".into(),
                author: "Codertocat".into(),
                draft: false,
            }),
            "{action}"
        );
    }
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn ready_for_review_of_a_draft_is_reported() {
    let (app, mut rx) = app(8);
    let mut body = payload("pull_request.opened.json");
    body["action"] = json!("ready_for_review");
    body["pull_request"]["draft"] = json!(false);
    let (status, _, _) = send(&app, signed("pull_request", "d-rfr", body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(matches!(
        rx.try_recv(),
        Some(HookEvent::PullRequest { number: 2, .. })
    ));
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn merged_close_becomes_pull_request_merged() {
    let (app, mut rx) = app(8);
    let mut body = payload("pull_request.closed.json");
    body["pull_request"]["merged"] = json!(true);
    let (status, _, _) = send(&app, signed("pull_request", "d-merged", body.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        rx.try_recv(),
        Some(HookEvent::PullRequestMerged {
            repo: "Codertocat/Hello-World".into(),
            number: 2,
            merge_sha: "c4295bd74fb0f4fda03689c3df3f2803b658fd85".into(),
            base_ref: "master".into(),
        })
    );
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn unmerged_close_and_other_events_are_ignored() {
    let (app, mut rx) = app(8);
    let closed = payload("pull_request.closed.json").to_string();
    let (status, json, _) = send(&app, signed("pull_request", "d-closed", closed)).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::ACCEPTED, Some("ignored"))
    );
    let review = payload("pull_request_review.submitted.json").to_string();
    let (status, json, _) = send(&app, signed("pull_request_review", "d-review", review)).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::ACCEPTED, Some("ignored"))
    );
    assert_empty(&mut rx);
}

fn plan_comment(association: &str, body: &str) -> String {
    let mut p = payload("issue_comment.created.json");
    p["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"});
    p["comment"]["body"] = json!(body);
    p["comment"]["author_association"] = json!(association);
    p.to_string()
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn plan_command_from_member_becomes_plan_command() {
    let (app, mut rx) = app(8);
    let body = plan_comment("MEMBER", "  /cubist plan\r\n");
    let (status, json, _) = send(&app, signed("issue_comment", "d-plan", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    assert_eq!(
        rx.try_recv(),
        Some(HookEvent::PlanCommand {
            repo: "Codertocat/Hello-World".into(),
            number: 1,
            commenter: "Codertocat".into(),
            author_association: "MEMBER".into(),
        })
    );
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn plan_command_from_outsider_is_forbidden() {
    let (app, mut rx) = app(8);
    let body = plan_comment("NONE", "/cubist plan");
    let (status, json, _) = send(&app, signed("issue_comment", "d-plan-none", body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json["status"], "forbidden");
    assert_empty(&mut rx);
}

#[tokio::test]
#[cfg_attr(
    not(has_reference_webhooks),
    ignore = "needs ../shared/reference/github-webhooks (real GitHub payloads); see README, Tests"
)]
async fn ordinary_comments_and_issue_comments_are_ignored() {
    let (app, mut rx) = app(8);
    // The published payload: an OWNER comment on a plain issue.
    let mut on_issue = payload("issue_comment.created.json");
    on_issue["comment"]["body"] = json!("/cubist plan");
    let (status, _, _) = send(&app, signed("issue_comment", "d-c1", on_issue.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let chatter = plan_comment("OWNER", "looks good, will /cubist plan later");
    let (status, json, _) = send(&app, signed("issue_comment", "d-c2", chatter)).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::ACCEPTED, Some("ignored"))
    );
    assert_empty(&mut rx);
}
