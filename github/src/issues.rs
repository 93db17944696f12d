//! Issues: the one open issue per failing pipeline that alerts keep (found again by a label and
//! a marker in its body, never by memory), opened, commented on and closed.

use serde::Deserialize;
use serde_json::json;

use super::{CommentUser, GitHub, GitHubError, MAX_PAGES, PER_PAGE, Verb, repo_path};
use crate::truncate::{GITHUB_COMMENT_LIMIT, truncate_comment};

/// GitHub's limit on an issue title, in characters.
pub const ISSUE_TITLE_LIMIT: usize = 256;

/// An open issue found by its marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIssue {
    /// Issue number.
    pub number: u64,
    /// Its body (the text it was opened with).
    pub body: String,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<CommentUser>,
    /// Present when the "issue" is a pull request.
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

impl GitHub {
    /// The first open issue labelled `label` whose body contains `marker` (only issues opened
    /// by [`GitHub::with_comment_author`] when set; pull requests never), searched page by page
    /// (`GET /repos/{o}/{r}/issues?state=open&labels=…`, at most 10 000 issues).
    pub async fn find_open_issue(
        &self,
        owner: &str,
        repo: &str,
        label: &str,
        marker: &str,
    ) -> Result<Option<OpenIssue>, GitHubError> {
        let base = repo_path(owner, repo)?;
        let label = label_query(label)?;
        if marker.trim().is_empty() {
            return Err(GitHubError::InvalidArgument(
                "issue marker is empty; use a hidden marker like <!-- cubist:alert p/x -->".into(),
            ));
        }
        for page in 1..=MAX_PAGES {
            let path =
                format!("{base}/issues?state=open&labels={label}&per_page={PER_PAGE}&page={page}");
            let issues: Vec<Issue> = self.call(Verb::Get, &path, None).await?;
            let found = issues.iter().find(|i| {
                i.pull_request.is_none()
                    && self.is_ours(i.user.as_ref())
                    && i.body.as_deref().is_some_and(|b| b.contains(marker))
            });
            if let Some(issue) = found {
                return Ok(Some(OpenIssue {
                    number: issue.number,
                    body: issue.body.clone().unwrap_or_default(),
                }));
            }
            if issues.len() < PER_PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// Opens an issue labelled `label` (`POST /repos/{o}/{r}/issues`; the title cut to 256
    /// characters, the body to GitHub's limit); returns its number.
    pub async fn open_issue(
        &self,
        owner: &str,
        repo: &str,
        title: &str,
        body: &str,
        label: &str,
    ) -> Result<u64, GitHubError> {
        let path = format!("{}/issues", repo_path(owner, repo)?);
        label_query(label)?;
        let title: String = title.chars().take(ISSUE_TITLE_LIMIT).collect();
        let body = truncate_comment(body, GITHUB_COMMENT_LIMIT);
        let created: Issue = self
            .call(
                Verb::Post,
                &path,
                Some(&json!({ "title": title, "body": body, "labels": [label] })),
            )
            .await?;
        Ok(created.number)
    }

    /// Closes issue `number` as completed (`PATCH /repos/{o}/{r}/issues/{n}`).
    pub async fn close_issue(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<(), GitHubError> {
        let path = format!("{}/issues/{number}", repo_path(owner, repo)?);
        let _: Issue = self
            .call(
                Verb::Patch,
                &path,
                Some(&json!({ "state": "closed", "state_reason": "completed" })),
            )
            .await?;
        Ok(())
    }
}

/// A label for a query string: letters, digits, `-`, `_`, `.` and `:` only (1 to 50).
fn label_query(label: &str) -> Result<&str, GitHubError> {
    let valid = (1..=50).contains(&label.len())
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if valid {
        Ok(label)
    } else {
        Err(GitHubError::InvalidArgument(format!(
            "label {label:?} must be 1 to 50 letters, digits, '-', '_', '.' or ':'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cannot_break_the_query() {
        assert!(label_query("cubist-alert").is_ok());
        assert!(label_query("a&state=closed").is_err());
        assert!(label_query("").is_err());
        assert!(label_query(&"x".repeat(51)).is_err());
    }
}
