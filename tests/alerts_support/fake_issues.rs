//! A fake GitHub issues API behind wiremock: issues and comments persist across requests, and
//! every request is recorded.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// Number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Labels.
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Comment bodies.
    pub comments: Vec<String>,
}

#[derive(Default)]
struct State {
    issues: Vec<Issue>,
    calls: Vec<(String, String)>,
    /// Answer 502 to this many requests first.
    fail_next: usize,
    /// Authorization headers seen.
    auth: Vec<String>,
}

/// The fake; clones share state.
#[derive(Clone, Default)]
pub struct FakeIssues(Arc<Mutex<State>>);

impl FakeIssues {
    /// Starts a wiremock server answering every request from this fake.
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    /// Every issue.
    pub fn issues(&self) -> Vec<Issue> {
        self.0.lock().unwrap().issues.clone()
    }

    /// `(method, path)` of every request so far.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().calls.clone()
    }

    /// Writes (POST, PATCH) so far.
    pub fn writes(&self) -> usize {
        self.calls().iter().filter(|(m, _)| m != "GET").count()
    }

    /// Answers the next `n` requests with HTTP 502.
    pub fn fail_next(&self, n: usize) {
        self.0.lock().unwrap().fail_next = n;
    }

    /// Authorization headers seen.
    pub fn auth(&self) -> Vec<String> {
        self.0.lock().unwrap().auth.clone()
    }
}

fn issue_json(i: &Issue) -> Value {
    json!({"number": i.number, "title": i.title, "body": i.body, "state": i.state,
           "labels": i.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
           "user": {"login": "cubist-bot"}})
}

impl Respond for FakeIssues {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let method = req.method.to_string();
        s.calls.push((method.clone(), req.url.path().to_string()));
        if let Some(a) = req.headers.get("authorization") {
            s.auth.push(a.to_str().unwrap_or_default().to_string());
        }
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return ResponseTemplate::new(502).set_body_string("bad gateway");
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let segs: Vec<&str> = req.url.path().trim_start_matches('/').split('/').collect();
        let query = |k: &str| {
            req.url
                .query_pairs()
                .find(|(q, _)| q == k)
                .map(|(_, v)| v.to_string())
        };
        let page: usize = query("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        match (method.as_str(), segs.as_slice()) {
            ("GET", ["repos", "acme", "alerts", "issues"]) => {
                let label = query("labels").unwrap_or_default();
                let open: Vec<Value> = s
                    .issues
                    .iter()
                    .filter(|i| i.state == "open" && i.labels.contains(&label))
                    .map(issue_json)
                    .collect();
                let list: Vec<Value> = if page == 1 { open } else { Vec::new() };
                ResponseTemplate::new(200).set_body_json(list)
            }
            ("POST", ["repos", "acme", "alerts", "issues"]) => {
                let number = s.issues.len() as u64 + 1;
                let issue = Issue {
                    number,
                    title: body["title"].as_str().unwrap_or_default().into(),
                    body: body["body"].as_str().unwrap_or_default().into(),
                    labels: body["labels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l.as_str().map(String::from))
                        .collect(),
                    state: "open".into(),
                    comments: Vec::new(),
                };
                let answer = issue_json(&issue);
                s.issues.push(issue);
                ResponseTemplate::new(201).set_body_json(answer)
            }
            ("GET", ["repos", "acme", "alerts", "issues", n, "comments"]) => {
                let n: u64 = n.parse().unwrap_or(0);
                let list: Vec<Value> = s
                    .issues
                    .iter()
                    .filter(|i| i.number == n && page == 1)
                    .flat_map(|i| i.comments.iter().enumerate())
                    .map(|(k, c)| json!({"id": n * 1000 + k as u64, "body": c, "user": {"login": "cubist-bot"}}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(list)
            }
            ("POST", ["repos", "acme", "alerts", "issues", n, "comments"]) => {
                let n: u64 = n.parse().unwrap_or(0);
                let Some(issue) = s.issues.iter_mut().find(|i| i.number == n) else {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"message": "Not Found"}));
                };
                issue
                    .comments
                    .push(body["body"].as_str().unwrap_or_default().into());
                let id = n * 1000 + issue.comments.len() as u64 - 1;
                ResponseTemplate::new(201).set_body_json(json!({"id": id, "body": body["body"]}))
            }
            ("PATCH", ["repos", "acme", "alerts", "issues", n]) => {
                let n: u64 = n.parse().unwrap_or(0);
                let Some(issue) = s.issues.iter_mut().find(|i| i.number == n) else {
                    return ResponseTemplate::new(404)
                        .set_body_json(json!({"message": "Not Found"}));
                };
                if let Some(state) = body["state"].as_str() {
                    issue.state = state.into();
                }
                let answer = issue_json(issue);
                ResponseTemplate::new(200).set_body_json(answer)
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
        }
    }
}
