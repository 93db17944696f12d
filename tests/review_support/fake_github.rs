//! A small in-memory GitHub behind wiremock: issue comments that persist across requests,
//! commit statuses, merged-PR lookup, collaborator permissions and pull requests. Every
//! request is recorded by wiremock, so tests assert the exact calls made.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The token the reviewer under test uses.
pub const TOKEN: &str = "ghp_review_test_token";

#[derive(Default)]
struct State {
    /// issue number → `(comment id, body)` in creation order.
    comments: BTreeMap<u64, Vec<(u64, String)>>,
    next_id: u64,
    writers: BTreeSet<String>,
    /// commit sha → merged pull request number.
    merged: BTreeMap<String, u64>,
    /// pull request number → `(head sha, base ref, state)`.
    pulls: BTreeMap<u64, (String, String, String)>,
}

/// The fake; clones share state.
#[derive(Clone, Default)]
pub struct FakeGitHub(Arc<Mutex<State>>);

/// One request as `(method, path?query, JSON body or null)`.
pub type Call = (String, String, Value);

impl FakeGitHub {
    /// Starts a wiremock server answering every request from this fake.
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    /// Lets `user` write to the repository.
    pub fn add_writer(&self, user: &str) {
        self.0.lock().unwrap().writers.insert(user.into());
    }

    /// Records that `sha` is the merge commit of pull request `number`.
    pub fn add_merge(&self, sha: &str, number: u64) {
        self.0.lock().unwrap().merged.insert(sha.into(), number);
    }

    /// Records an open pull request.
    pub fn add_pull(&self, number: u64, head: &str, base: &str) {
        let pull = (head.to_string(), base.to_string(), "open".to_string());
        self.0.lock().unwrap().pulls.insert(number, pull);
    }

    /// Adds a comment as if someone had written it; returns its id.
    pub fn add_comment(&self, issue: u64, body: &str) -> u64 {
        let mut s = self.0.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.comments.entry(issue).or_default().push((id, body.into()));
        id
    }

    /// The comments of an issue as `(id, body)`.
    pub fn comments(&self, issue: u64) -> Vec<(u64, String)> {
        let s = self.0.lock().unwrap();
        s.comments.get(&issue).cloned().unwrap_or_default()
    }
}

impl Respond for FakeGitHub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let segs: Vec<&str> = req.url.path().trim_start_matches('/').split('/').collect();
        let num = |s: &str| s.parse::<u64>().expect("number in path");
        let page = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .map_or(1, |(_, v)| v.parse::<u64>().unwrap());
        match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["repos", _, _, "issues", n, "comments"]) => {
                let list: Vec<Value> = match page {
                    1 => s.comments.get(&num(n)).cloned().unwrap_or_default(),
                    _ => Vec::new(),
                }
                .into_iter()
                .map(|(id, body)| json!({"id": id, "body": body}))
                .collect();
                ResponseTemplate::new(200).set_body_json(list)
            }
            ("POST", ["repos", _, _, "issues", n, "comments"]) => {
                s.next_id += 1;
                let id = s.next_id;
                let text = body["body"].as_str().unwrap().to_string();
                s.comments
                    .entry(num(n))
                    .or_default()
                    .push((id, text.clone()));
                ResponseTemplate::new(201).set_body_json(json!({"id": id, "body": text}))
            }
            ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
                let id = num(id);
                let text = body["body"].as_str().unwrap().to_string();
                let found = s
                    .comments
                    .values_mut()
                    .flatten()
                    .find(|(i, _)| *i == id)
                    .map(|c| c.1 = text.clone());
                match found {
                    Some(()) => {
                        ResponseTemplate::new(200).set_body_json(json!({"id": id, "body": text}))
                    }
                    None => not_found(),
                }
            }
            ("POST", ["repos", _, _, "statuses", _]) => {
                ResponseTemplate::new(201).set_body_json(json!({"id": 1, "state": body["state"]}))
            }
            ("GET", ["repos", _, _, "commits", sha, "pulls"]) => {
                let pulls: Vec<Value> = s
                    .merged
                    .get(*sha)
                    .map(|n| json!({"number": n, "state": "closed", "merged_at": "2026-01-05T10:00:00Z", "merge_commit_sha": sha}))
                    .into_iter()
                    .collect();
                ResponseTemplate::new(200).set_body_json(pulls)
            }
            ("GET", ["repos", _, _, "collaborators", user, "permission"]) => {
                let (permission, role) = if s.writers.contains(*user) {
                    ("write", "write")
                } else {
                    ("read", "read")
                };
                ResponseTemplate::new(200)
                    .set_body_json(json!({"permission": permission, "role_name": role}))
            }
            ("GET", ["repos", _, _, "pulls", n]) => match s.pulls.get(&num(n)) {
                Some((head, base, state)) => ResponseTemplate::new(200).set_body_json(json!({
                    "number": num(n), "state": state,
                    "head": {"ref": "changes", "sha": head}, "base": {"ref": base, "sha": "0"},
                })),
                None => not_found(),
            },
            _ => not_found(),
        }
    }
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))
}

/// Every request the server received, in order, as `(method, path?query, body)`; each must
/// carry the reviewer's token.
pub async fn calls(server: &MockServer) -> Vec<Call> {
    let requests = server.received_requests().await.expect("recording is on");
    requests
        .iter()
        .map(|r| {
            assert_eq!(
                r.headers.get("authorization").map(|v| v.to_str().unwrap()),
                Some(format!("Bearer {TOKEN}").as_str()),
                "{} {}",
                r.method,
                r.url
            );
            let query = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
            let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (
                r.method.to_string(),
                format!("{}{query}", r.url.path()),
                body,
            )
        })
        .collect()
}
