//! Pull request lookup: what a `/cubist plan` comment needs to plan (head commit, base branch).

use serde::Deserialize;

use super::{GitHub, GitHubError, Verb, repo_path};

/// The parts of a pull request cubist plans from (`GET /repos/{o}/{r}/pulls/{n}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullInfo {
    /// Pull request number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// Head commit.
    pub head_sha: String,
    /// Base branch name.
    pub base_ref: String,
}

#[derive(Deserialize)]
struct Pull {
    number: u64,
    state: String,
    head: Branch,
    base: Branch,
}

#[derive(Deserialize)]
struct Branch {
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
}

impl GitHub {
    /// Head commit, base branch and state of pull request `number`.
    pub async fn pull_request(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<PullInfo, GitHubError> {
        let path = format!("{}/pulls/{number}", repo_path(owner, repo)?);
        let pull: Pull = self.call(Verb::Get, &path, None).await?;
        Ok(PullInfo {
            number: pull.number,
            state: pull.state,
            head_sha: pull.head.sha,
            base_ref: pull.base.git_ref,
        })
    }
}
