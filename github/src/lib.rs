//! The outbound GitHub REST client cubist uses to report: sticky PR comments, commit
//! statuses, merged-PR lookup, permission checks and alert issues, with bounded retries.
//! The inbound side (webhook deliveries) is the `cubist-webhook` crate.

mod issues;
mod pulls;
mod retry;
mod token;
mod truncate;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderName, StatusCode, header};
use octocrab::Octocrab;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use tracing::warn;

pub use issues::OpenIssue;
pub use pulls::PullInfo;
pub use retry::RetryPolicy;
pub use token::GitHubToken;
pub use truncate::{GITHUB_COMMENT_LIMIT, truncate_comment};

use retry::{Verdict, verdict};

/// Base URL of github.com's REST API. GitHub Enterprise uses `https://HOST/api/v3`.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
/// GitHub's limit on a commit status description, in characters.
pub const STATUS_DESCRIPTION_LIMIT: usize = 140;
const PER_PAGE: usize = 100;
/// Pages of comments searched for a sticky marker (10 000 comments).
const MAX_PAGES: usize = 100;

/// Errors from the GitHub client. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// The token could not be read.
    #[error("{0}")]
    Token(String),
    /// The client could not be built.
    #[error(
        "cannot build GitHub client for {base_url}: {message}; use a URL like https://api.github.com"
    )]
    Client {
        /// The configured base URL.
        base_url: String,
        /// What went wrong.
        message: String,
    },
    /// A caller-supplied value cannot go into an API path or body.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// GitHub answered with a non-retryable (or still failing) HTTP error.
    #[error("GitHub API {method} {path} failed with HTTP {status}: {message}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status code.
        status: u16,
        /// GitHub's `message`, or the start of the body.
        message: String,
    },
    /// Still rate limited after the allowed tries, or asked to wait longer than allowed.
    #[error("GitHub API {method} {path} is rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// How long GitHub asked to wait.
        retry_after: Duration,
    },
    /// No HTTP answer (connection, TLS, timeout) after the allowed tries.
    #[error(
        "cannot reach GitHub API for {method} {path}: {source}; check the base URL and network"
    )]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Underlying error.
        #[source]
        source: Box<octocrab::Error>,
    },
    /// A 2xx answer whose body was not what the API documents.
    #[error("unexpected answer from GitHub API {method} {path}: {source}")]
    Decode {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// State of a commit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitState {
    /// Check passed.
    Success,
    /// Check failed.
    Failure,
    /// Check is running.
    Pending,
    /// Check could not run.
    Error,
}

/// A commit status to set (`POST /repos/{owner}/{repo}/statuses/{sha}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    /// Status state.
    pub state: CommitState,
    /// Status name, e.g. `cubist/validate`.
    pub context: String,
    /// Short text; cut to 140 characters when sent.
    pub description: String,
    /// Link shown next to the status.
    pub target_url: Option<String>,
}

impl CommitStatus {
    /// A status without a target URL.
    pub fn new(
        state: CommitState,
        context: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            state,
            context: context.into(),
            description: description.into(),
            target_url: None,
        }
    }

    /// Sets the link shown next to the status.
    pub fn with_target_url(mut self, url: impl Into<String>) -> Self {
        self.target_url = Some(url.into());
        self
    }
}

/// GitHub REST client (octocrab underneath, rustls with ring). `Debug` hides the token.
#[derive(Clone)]
pub struct GitHub {
    client: Octocrab,
    base_url: String,
    retry: RetryPolicy,
    author: Option<String>,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct IssueComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<CommentUser>,
}

#[derive(Deserialize)]
struct CommentUser {
    login: String,
}

#[derive(Deserialize)]
struct PullSummary {
    number: u64,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
}

#[derive(Deserialize)]
struct Permission {
    #[serde(default)]
    permission: String,
    #[serde(default)]
    role_name: Option<String>,
}

#[derive(Clone, Copy)]
enum Verb {
    Get,
    Post,
    Patch,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Patch => "PATCH",
        }
    }
}

impl GitHub {
    /// Builds a client for `base_url` (e.g. [`DEFAULT_BASE_URL`], or a GitHub Enterprise / test server URL).
    /// Must be called inside a Tokio runtime (octocrab spawns its connection task).
    pub fn new(base_url: &str, token: GitHubToken) -> Result<Self, GitHubError> {
        let client_err = |message: String| GitHubError::Client {
            base_url: base_url.to_owned(),
            message,
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(client_err(
                "no Tokio runtime; create the client inside the async runtime".into(),
            ));
        }
        let client = Octocrab::builder()
            .base_uri(base_url)
            .map_err(|e| client_err(e.to_string()))?
            .personal_token(token.expose().to_owned())
            .add_header(header::ACCEPT, "application/vnd.github+json".into())
            .add_header(
                HeaderName::from_static("x-github-api-version"),
                "2022-11-28".into(),
            )
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| client_err(e.to_string()))?;
        Ok(Self {
            client,
            base_url: base_url.to_owned(),
            retry: RetryPolicy::default(),
            author: None,
        })
    }

    /// Only comments written by `login` (cubist's own account or app bot, e.g.
    /// `cubist-bot` or `cubist[bot]`) count as the sticky comment, so nobody can take it over
    /// by posting the marker first.
    pub fn with_comment_author(mut self, login: impl Into<String>) -> Self {
        self.author = Some(login.into());
        self
    }

    /// Replaces the retry policy (tests use millisecond delays).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Creates or updates the one comment on pull request `pr_number` that contains
    /// `marker` (e.g. `<!-- cubist:plan -->`); returns its id. The marker is prepended
    /// when `body` lacks it, and the body is cut to GitHub's comment limit.
    ///
    /// Searches the issue's comments page by page (100 per page, first match wins; only
    /// comments by [`GitHub::with_comment_author`] when set),
    /// then `PATCH /repos/{o}/{r}/issues/comments/{id}`, or
    /// `POST /repos/{o}/{r}/issues/{n}/comments` when none matches.
    pub async fn upsert_sticky_comment(
        &self,
        owner: &str,
        repo: &str,
        pr_number: u64,
        marker: &str,
        body: &str,
    ) -> Result<u64, GitHubError> {
        if marker.trim().is_empty() {
            return Err(GitHubError::InvalidArgument(
                "sticky comment marker is empty; use a hidden marker like <!-- cubist:plan -->"
                    .into(),
            ));
        }
        let base = repo_path(owner, repo)?;
        let text = with_marker(marker, body);
        if let Some(id) = self.find_comment(owner, repo, pr_number, marker).await? {
            let path = format!("{base}/issues/comments/{id}");
            let updated: IssueComment = self
                .call(Verb::Patch, &path, Some(&json!({ "body": text })))
                .await?;
            return Ok(updated.id);
        }
        let path = format!("{base}/issues/{pr_number}/comments");
        let created: IssueComment = self
            .call(Verb::Post, &path, Some(&json!({ "body": text })))
            .await?;
        Ok(created.id)
    }

    /// The first comment of issue or pull request `number` that contains `marker` (only
    /// comments by [`GitHub::with_comment_author`] when set), searched page by page (100 per
    /// page, at most 10 000 comments).
    pub async fn find_comment(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        marker: &str,
    ) -> Result<Option<u64>, GitHubError> {
        let base = repo_path(owner, repo)?;
        for page in 1..=MAX_PAGES {
            let path = format!("{base}/issues/{number}/comments?per_page={PER_PAGE}&page={page}");
            let comments: Vec<IssueComment> = self.call(Verb::Get, &path, None).await?;
            let found = comments
                .iter()
                .filter(|c| self.is_ours(c.user.as_ref()))
                .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
            if let Some(existing) = found {
                return Ok(Some(existing.id));
            }
            if comments.len() < PER_PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// True when `user` wrote it as cubist: any author unless [`GitHub::with_comment_author`]
    /// is set.
    fn is_ours(&self, user: Option<&CommentUser>) -> bool {
        match (&self.author, user) {
            (None, _) => true,
            (Some(a), Some(u)) => u.login.eq_ignore_ascii_case(a),
            (Some(_), None) => false,
        }
    }

    /// Posts a new comment on issue or pull request `pr_number` (cut to GitHub's limit); returns its id.
    pub async fn comment(
        &self,
        owner: &str,
        repo: &str,
        pr_number: u64,
        body: &str,
    ) -> Result<u64, GitHubError> {
        let path = format!("{}/issues/{pr_number}/comments", repo_path(owner, repo)?);
        let body = truncate_comment(body, GITHUB_COMMENT_LIMIT);
        let created: IssueComment = self
            .call(Verb::Post, &path, Some(&json!({ "body": body })))
            .await?;
        Ok(created.id)
    }

    /// Sets a commit status on `sha` (`POST /repos/{o}/{r}/statuses/{sha}`).
    pub async fn set_commit_status(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), GitHubError> {
        let path = format!("{}/statuses/{}", repo_path(owner, repo)?, commit_sha(sha)?);
        let mut body = json!({
            "state": status.state,
            "context": status.context,
            "description": cut_description(&status.description),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        let _: Value = self.call(Verb::Post, &path, Some(&body)).await?;
        Ok(())
    }

    /// Number of the merged pull request that `sha` belongs to, if any
    /// (`GET /repos/{o}/{r}/commits/{sha}/pulls`; prefers the PR whose merge commit is `sha`).
    pub async fn merged_pull_for_commit(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
    ) -> Result<Option<u64>, GitHubError> {
        let path = format!(
            "{}/commits/{}/pulls",
            repo_path(owner, repo)?,
            commit_sha(sha)?
        );
        let pulls: Vec<PullSummary> = self.call(Verb::Get, &path, None).await?;
        let merged = || pulls.iter().filter(|p| p.merged_at.is_some());
        let exact = merged().find(|p| p.merge_commit_sha.as_deref() == Some(sha));
        Ok(exact.or_else(|| merged().next()).map(|p| p.number))
    }

    /// Whether `user` may write to the repository (admin, maintain or write role).
    /// A user GitHub does not know (404) has no access.
    pub async fn has_write_access(
        &self,
        owner: &str,
        repo: &str,
        user: &str,
    ) -> Result<bool, GitHubError> {
        let path = format!(
            "{}/collaborators/{}/permission",
            repo_path(owner, repo)?,
            name_segment("user", user)?
        );
        match self.call::<Permission>(Verb::Get, &path, None).await {
            Ok(p) => {
                let role = p.role_name.as_deref().unwrap_or(&p.permission);
                Ok(matches!(role, "admin" | "maintain" | "write")
                    || matches!(p.permission.as_str(), "admin" | "write"))
            }
            Err(GitHubError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends one API call with retries and decodes the 2xx body as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, GitHubError> {
        let text = self.send(verb, path, body).await?;
        let text = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        serde_json::from_str(text).map_err(|source| GitHubError::Decode {
            method: verb.name(),
            path: path.to_owned(),
            source,
        })
    }

    async fn send(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, GitHubError> {
        let method = verb.name();
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let sent = match verb {
                Verb::Get => self.client._get(path).await,
                Verb::Post => self.client._post(path, body).await,
                Verb::Patch => self.client._patch(path, body).await,
            };
            let (status, headers, text) = match sent {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match self.client.body_to_string(response).await {
                        Ok(text) => (status, headers, text),
                        Err(source) => (StatusCode::BAD_GATEWAY, headers, source.to_string()),
                    }
                }
                Err(source) => {
                    if attempt >= max_attempts {
                        return Err(GitHubError::Transport {
                            method,
                            path: path.to_owned(),
                            source: Box::new(source),
                        });
                    }
                    let wait = self.retry.backoff(attempt);
                    warn!(
                        method,
                        path,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "GitHub API unreachable: {source}; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    continue;
                }
            };
            if status.is_success() {
                return Ok(text);
            }
            let fail = || GitHubError::Status {
                method,
                path: path.to_owned(),
                status: status.as_u16(),
                message: error_message(&text),
            };
            let (wait, rate_limited) =
                match verdict(status, &headers, &text, attempt, &self.retry, unix_now()) {
                    Verdict::Fatal => return Err(fail()),
                    Verdict::ServerError(wait) => (wait, false),
                    Verdict::RateLimited(wait) => (wait, true),
                };
            if rate_limited && (attempt >= max_attempts || wait > self.retry.max_delay) {
                return Err(GitHubError::RateLimited {
                    method,
                    path: path.to_owned(),
                    retry_after: wait,
                });
            }
            if attempt >= max_attempts {
                return Err(fail());
            }
            let wait = wait.min(self.retry.max_delay);
            warn!(
                method,
                path,
                attempt,
                status = status.as_u16(),
                wait_ms = wait.as_millis() as u64,
                "GitHub API call failed; retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// GitHub's `message` field of an error body, or the first 200 characters of it.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// `body` with `marker` guaranteed present, cut to GitHub's comment limit.
fn with_marker(marker: &str, body: &str) -> String {
    if body.contains(marker) {
        let text = truncate_comment(body, GITHUB_COMMENT_LIMIT);
        if text.contains(marker) {
            return text;
        }
    }
    let room = GITHUB_COMMENT_LIMIT.saturating_sub(marker.chars().count() + 1);
    format!("{marker}\n{}", truncate_comment(body, room))
}

fn cut_description(description: &str) -> String {
    if description.chars().count() <= STATUS_DESCRIPTION_LIMIT {
        return description.to_owned();
    }
    let mut cut: String = description
        .chars()
        .take(STATUS_DESCRIPTION_LIMIT - 1)
        .collect();
    cut.push('…');
    cut
}

fn repo_path(owner: &str, repo: &str) -> Result<String, GitHubError> {
    Ok(format!(
        "/repos/{}/{}",
        name_segment("owner", owner)?,
        name_segment("repo", repo)?
    ))
}

/// Checks a GitHub login / repository name for use in a path; `[bot]` suffixes are percent-encoded.
fn name_segment(what: &str, value: &str) -> Result<String, GitHubError> {
    let valid = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.[]".contains(c));
    if !valid {
        return Err(GitHubError::InvalidArgument(format!(
            "{what} {value:?} is not a valid GitHub name (letters, digits, '-', '_', '.')"
        )));
    }
    Ok(value.replace('[', "%5B").replace(']', "%5D"))
}

fn commit_sha(sha: &str) -> Result<&str, GitHubError> {
    if (4..=64).contains(&sha.len()) && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(GitHubError::InvalidArgument(format!(
            "{sha:?} is not a commit SHA (hex digits)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_is_cut_to_140_chars() {
        assert_eq!(cut_description("short"), "short");
        let long = "x".repeat(500);
        let cut = cut_description(&long);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn marker_is_always_present() {
        let m = "<!-- cubist:plan -->";
        assert_eq!(with_marker(m, "hello"), format!("{m}\nhello"));
        assert_eq!(with_marker(m, &format!("{m}\nhi")), format!("{m}\nhi"));
        let huge = format!("{}{m}", "line\n".repeat(20_000));
        let text = with_marker(m, &huge);
        assert!(text.starts_with(m) && text.chars().count() <= GITHUB_COMMENT_LIMIT);
    }

    #[test]
    fn path_segments_are_validated() {
        assert_eq!(
            name_segment("user", "renovate[bot]").unwrap(),
            "renovate%5Bbot%5D"
        );
        assert!(name_segment("owner", "a/b").is_err());
        assert!(name_segment("repo", "..").is_err());
        assert!(name_segment("repo", "").is_err());
        assert!(commit_sha("deadbeef").is_ok());
        assert!(commit_sha("main").is_err());
        assert!(commit_sha("../x").is_err());
    }

    #[test]
    fn error_message_prefers_github_message() {
        assert_eq!(
            error_message(r#"{"message":"Not Found","documentation_url":"x"}"#),
            "Not Found"
        );
        assert_eq!(
            error_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn new_outside_runtime_is_an_error_not_a_panic() {
        let err = GitHub::new(DEFAULT_BASE_URL, GitHubToken::new("t").unwrap()).unwrap_err();
        assert!(err.to_string().contains("no Tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn debug_hides_token() {
        let gh = GitHub::new(
            "http://127.0.0.1:9",
            GitHubToken::new("ghp_topsecret").unwrap(),
        )
        .unwrap();
        let shown = format!("{gh:?}");
        assert!(
            !shown.contains("ghp_topsecret") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
