//! The GitHub API client against a local wiremock server.

use std::time::Duration;

use cubist_github::{CommitState, CommitStatus, GitHub, GitHubError, GitHubToken, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const MARKER: &str = "<!-- cubist:plan -->";
const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

fn client(server: &MockServer) -> GitHub {
    GitHub::new(&server.uri(), GitHubToken::new("test-token").unwrap())
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(2),
        })
}

fn body_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn sticky_comment_is_created_then_updated_in_place() {
    let server = MockServer::start().await;
    let gh = client(&server);

    // First upsert: no comments yet → POST creates one carrying the marker.
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "body": "lgtm"}])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/7/comments"))
        .and(header("authorization", "Bearer test-token"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 42, "body": "x"})))
        .expect(1)
        .mount(&server)
        .await;
    let id = gh
        .upsert_sticky_comment("o", "r", 7, MARKER, "## Plan\n1 change")
        .await
        .unwrap();
    assert_eq!(id, 42);

    // Second upsert: the marked comment is on the second page → PATCH that id.
    let page1: Vec<Value> = (0..100)
        .map(|i| json!({"id": 1000 + i, "body": format!("chatter {i}")}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page1))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 42, "body": format!("{MARKER}\n## Plan\n1 change")}])),
        )
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/o/r/issues/comments/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42, "body": "x"})))
        .expect(1)
        .mount(&server)
        .await;
    let id = gh
        .upsert_sticky_comment("o", "r", 7, MARKER, "## Plan\n2 changes")
        .await
        .unwrap();
    assert_eq!(id, 42);

    let requests = server.received_requests().await.unwrap();
    let writes: Vec<_> = requests
        .iter()
        .filter(|r| r.method.as_str() != "GET")
        .collect();
    assert_eq!(writes.len(), 2, "one create, one update");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].url.path()),
        ("POST", "/repos/o/r/issues/7/comments")
    );
    assert_eq!(
        body_of(writes[0]),
        json!({"body": format!("{MARKER}\n## Plan\n1 change")})
    );
    assert_eq!(
        (writes[1].method.as_str(), writes[1].url.path()),
        ("PATCH", "/repos/o/r/issues/comments/42")
    );
    assert_eq!(
        body_of(writes[1]),
        json!({"body": format!("{MARKER}\n## Plan\n2 changes")})
    );
    assert!(
        requests
            .iter()
            .all(|r| r.headers.get("authorization").unwrap() == "Bearer test-token")
    );
}

#[tokio::test]
async fn commit_status_is_posted_with_truncated_description() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/o/r/statuses/{SHA}")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let status = CommitStatus::new(CommitState::Failure, "cubist/validate", "d".repeat(300))
        .with_target_url("https://cubist.example/runs/1");
    client(&server)
        .set_commit_status("o", "r", SHA, &status)
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    let sent = body_of(&requests[0]);
    assert_eq!(sent["state"], "failure");
    assert_eq!(sent["context"], "cubist/validate");
    assert_eq!(sent["target_url"], "https://cubist.example/runs/1");
    assert_eq!(sent["description"].as_str().unwrap().chars().count(), 140);
}

#[tokio::test]
async fn server_error_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/o/r/statuses/{SHA}")))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/o/r/statuses/{SHA}")))
        .and(body_json(
            json!({"state": "pending", "context": "cubist/plan", "description": "planning"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let status = CommitStatus::new(CommitState::Pending, "cubist/plan", "planning");
    client(&server)
        .set_commit_status("o", "r", SHA, &status)
        .await
        .unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn secondary_rate_limit_is_retried_after_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/3/comments"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/issues/3/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 9})))
        .mount(&server)
        .await;
    let id = client(&server).comment("o", "r", 3, "hello").await.unwrap();
    assert_eq!(id, 9);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn retries_are_bounded_and_4xx_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/commits/{SHA}/pulls")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = client(&server)
        .merged_pull_for_commit("o", "r", SHA)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GitHubError::Status { status: 503, .. }),
        "{err}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        4,
        "max_attempts"
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(422).set_body_json(json!({"message": "Validation Failed"})),
        )
        .mount(&server)
        .await;
    let err = client(&server).comment("o", "r", 1, "x").await.unwrap_err();
    assert!(
        err.to_string().contains("HTTP 422: Validation Failed"),
        "{err}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn rate_limit_longer_than_allowed_fails_fast() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    let err = client(&server)
        .has_write_access("o", "r", "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GitHubError::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(3600))
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn merged_pull_for_commit_picks_the_merged_one() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/r/commits/{SHA}/pulls")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"number": 5, "state": "closed", "merged_at": null, "merge_commit_sha": "aaaa"},
            {"number": 6, "state": "open", "merged_at": null, "merge_commit_sha": null},
            {"number": 8, "state": "closed", "merged_at": "2024-05-01T10:00:00Z", "merge_commit_sha": SHA},
        ])))
        .mount(&server)
        .await;
    assert_eq!(
        client(&server)
            .merged_pull_for_commit("o", "r", SHA)
            .await
            .unwrap(),
        Some(8)
    );

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"number": 6, "merged_at": null}])),
        )
        .mount(&server)
        .await;
    assert_eq!(
        client(&server)
            .merged_pull_for_commit("o", "r", SHA)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn write_access_follows_permission_and_role() {
    let server = MockServer::start().await;
    let answers = [
        (
            "admin",
            json!({"permission": "admin", "role_name": "admin"}),
        ),
        (
            "maint",
            json!({"permission": "write", "role_name": "maintain"}),
        ),
        (
            "writer",
            json!({"permission": "write", "role_name": "write"}),
        ),
        (
            "triager",
            json!({"permission": "read", "role_name": "triage"}),
        ),
        ("reader", json!({"permission": "read", "role_name": "read"})),
    ];
    for (user, answer) in &answers {
        Mock::given(method("GET"))
            .and(path(format!("/repos/o/r/collaborators/{user}/permission")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/repos/o/r/collaborators/ghost/permission"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&server)
        .await;
    let gh = client(&server);
    let mut got = Vec::new();
    for user in ["admin", "maint", "writer", "triager", "reader", "ghost"] {
        got.push(gh.has_write_access("o", "r", user).await.unwrap());
    }
    assert_eq!(got, [true, true, true, false, false, false]);
}

#[tokio::test]
async fn github_enterprise_base_path_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v3/repos/o/r/issues/1/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 3})))
        .expect(1)
        .mount(&server)
        .await;
    let gh = GitHub::new(
        &format!("{}/api/v3", server.uri()),
        GitHubToken::new("t").unwrap(),
    )
    .unwrap();
    assert_eq!(gh.comment("o", "r", 1, "hi").await.unwrap(), 3);
}

#[tokio::test]
async fn pull_request_gives_head_base_and_state() {
    let server = MockServer::start().await;
    // The fields cubist reads, as GitHub's GET /pulls/{n} sends them (most others left out).
    Mock::given(method("GET"))
        .and(path("/repos/o/r/pulls/2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 2, "state": "open", "title": "Update the README",
            "head": {"ref": "changes", "sha": SHA, "label": "o:changes"},
            "base": {"ref": "main", "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"},
        })))
        .expect(1)
        .mount(&server)
        .await;
    let pull = client(&server).pull_request("o", "r", 2).await.unwrap();
    assert_eq!(
        pull,
        cubist_github::PullInfo {
            number: 2,
            state: "open".into(),
            head_sha: SHA.into(),
            base_ref: "main".into(),
        }
    );
}

#[tokio::test]
async fn sticky_comment_of_another_author_is_not_taken_over() {
    let server = MockServer::start().await;
    let gh = client(&server).with_comment_author("cubist[bot]");
    // Someone posted the marker first; cubist's own comment comes later.
    Mock::given(method("GET"))
        .and(path("/repos/o/r/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 5, "body": format!("{MARKER} gotcha"), "user": {"login": "mallory"}},
            {"id": 9, "body": format!("{MARKER}\nold plan"), "user": {"login": "cubist[bot]"}},
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/o/r/issues/comments/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9})))
        .expect(1)
        .mount(&server)
        .await;
    let id = gh
        .upsert_sticky_comment("o", "r", 7, MARKER, "new plan")
        .await
        .unwrap();
    assert_eq!(id, 9);
    let writes: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() != "GET")
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(writes, ["/repos/o/r/issues/comments/9"]);
}
