//! GitHub webhook payloads → [`HookEvent`], the plain data cubist acts on.

use serde::{Deserialize, Serialize, de::IgnoredAny};

/// Comment prefix that asks cubist for a plan on a pull request.
pub const PLAN_COMMAND: &str = "/cubist plan";

/// `comment.author_association` values allowed to run commands.
///
/// Rule: OWNER, MEMBER and COLLABORATOR may run `/cubist plan`; anyone else
/// (CONTRIBUTOR, FIRST_TIMER, NONE, …) gets 403 and no event. This is GitHub's
/// own claim in the signed payload; a consumer wanting the live repository
/// permission can additionally call `GitHub::has_write_access`.
pub const COMMAND_ASSOCIATIONS: [&str; 3] = ["OWNER", "MEMBER", "COLLABORATOR"];

/// Something cubist should react to, extracted from a verified delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HookEvent {
    /// Commits pushed to a ref (any branch or tag; branch deletions are not reported).
    Push {
        /// `owner/name` of the repository.
        repo: String,
        /// Full ref, e.g. `refs/heads/main`.
        git_ref: String,
        /// Commit the ref pointed at before the push.
        before: String,
        /// Commit the ref points at after the push.
        after: String,
        /// Name of the pusher.
        pusher: String,
        /// Message of the head commit, if the push has one.
        commits_head_message: Option<String>,
    },
    /// A pull request was opened, updated, reopened or marked ready for review.
    PullRequest {
        /// `owner/name` of the base repository.
        repo: String,
        /// Pull request number.
        number: u64,
        /// Head commit to plan.
        head_sha: String,
        /// Head branch name.
        head_ref: String,
        /// Base branch name.
        base_ref: String,
        /// Login of the pull request author.
        author: String,
        /// Whether the pull request is a draft.
        draft: bool,
    },
    /// A pull request was merged.
    PullRequestMerged {
        /// `owner/name` of the base repository.
        repo: String,
        /// Pull request number.
        number: u64,
        /// Commit created on the base branch by the merge.
        merge_sha: String,
        /// Base branch name.
        base_ref: String,
    },
    /// Someone allowed to run commands commented `/cubist plan` on a pull request.
    PlanCommand {
        /// `owner/name` of the repository.
        repo: String,
        /// Pull request number.
        number: u64,
        /// Login of the commenter.
        commenter: String,
        /// The commenter's `author_association` (OWNER, MEMBER or COLLABORATOR).
        author_association: String,
    },
}

impl HookEvent {
    /// Short name of the variant, as used in logs and responses.
    pub fn kind(&self) -> &'static str {
        match self {
            HookEvent::Push { .. } => "push",
            HookEvent::PullRequest { .. } => "pull_request",
            HookEvent::PullRequestMerged { .. } => "pull_request_merged",
            HookEvent::PlanCommand { .. } => "plan_command",
        }
    }

    /// `owner/name` of the repository the event belongs to.
    pub fn repo(&self) -> &str {
        match self {
            HookEvent::Push { repo, .. }
            | HookEvent::PullRequest { repo, .. }
            | HookEvent::PullRequestMerged { repo, .. }
            | HookEvent::PlanCommand { repo, .. } => repo,
        }
    }
}

/// What a verified delivery amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `ping`: the webhook was just configured.
    Pong,
    /// An event to enqueue.
    Event(HookEvent),
    /// Nothing to do; the reason says why.
    Ignored(String),
    /// A command from someone not allowed to run it.
    Forbidden(String),
}

/// The body is not JSON, or lacks a field the event type requires.
#[derive(Debug, thiserror::Error)]
#[error("invalid {event} payload: {source}")]
pub struct PayloadError {
    event: String,
    #[source]
    source: serde_json::Error,
}

/// Interprets the body of a delivery whose `X-GitHub-Event` header is `event`.
pub fn classify(event: &str, body: &[u8]) -> Result<Outcome, PayloadError> {
    let err = |source| PayloadError {
        event: event.to_owned(),
        source,
    };
    match event {
        "ping" => {
            serde_json::from_slice::<IgnoredAny>(body).map_err(err)?;
            Ok(Outcome::Pong)
        }
        "push" => Ok(push(serde_json::from_slice(body).map_err(err)?)),
        "pull_request" => Ok(pull_request(serde_json::from_slice(body).map_err(err)?)),
        "issue_comment" => Ok(issue_comment(serde_json::from_slice(body).map_err(err)?)),
        other => {
            serde_json::from_slice::<IgnoredAny>(body).map_err(err)?;
            Ok(Outcome::Ignored(format!("event {other} is not handled")))
        }
    }
}

/// True when a comment body is a `/cubist plan` command (optionally followed by arguments).
pub fn is_plan_command(body: &str) -> bool {
    body.trim()
        .strip_prefix(PLAN_COMMAND)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
    pusher: Pusher,
    head_commit: Option<HeadCommit>,
}

#[derive(Deserialize)]
struct Pusher {
    name: String,
}

#[derive(Deserialize)]
struct HeadCommit {
    message: String,
}

fn push(p: PushPayload) -> Outcome {
    if p.deleted {
        return Outcome::Ignored(format!("{} was deleted", p.git_ref));
    }
    Outcome::Event(HookEvent::Push {
        repo: p.repository.full_name,
        git_ref: p.git_ref,
        before: p.before,
        after: p.after,
        pusher: p.pusher.name,
        commits_head_message: p.head_commit.map(|c| c.message),
    })
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    number: u64,
    pull_request: PullRequest,
    repository: Repository,
}

#[derive(Deserialize)]
struct PullRequest {
    head: Branch,
    base: Branch,
    user: Login,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    merged: bool,
    merge_commit_sha: Option<String>,
}

#[derive(Deserialize)]
struct Branch {
    sha: String,
    #[serde(rename = "ref")]
    git_ref: String,
}

fn pull_request(p: PullRequestPayload) -> Outcome {
    let pr = p.pull_request;
    match p.action.as_str() {
        "opened" | "synchronize" | "reopened" | "ready_for_review" => {
            Outcome::Event(HookEvent::PullRequest {
                repo: p.repository.full_name,
                number: p.number,
                head_sha: pr.head.sha,
                head_ref: pr.head.git_ref,
                base_ref: pr.base.git_ref,
                author: pr.user.login,
                draft: pr.draft,
            })
        }
        "closed" => match (pr.merged, pr.merge_commit_sha) {
            (true, Some(merge_sha)) => Outcome::Event(HookEvent::PullRequestMerged {
                repo: p.repository.full_name,
                number: p.number,
                merge_sha,
                base_ref: pr.base.git_ref,
            }),
            (true, None) => Outcome::Ignored("merged pull request has no merge_commit_sha".into()),
            (false, _) => Outcome::Ignored("pull request closed without merging".into()),
        },
        other => Outcome::Ignored(format!("pull_request action {other} is not handled")),
    }
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    action: String,
    issue: Issue,
    comment: Comment,
    repository: Repository,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    pull_request: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Comment {
    body: String,
    user: Login,
    author_association: String,
}

fn issue_comment(p: IssueCommentPayload) -> Outcome {
    if p.action != "created" {
        return Outcome::Ignored(format!("issue_comment action {} is not handled", p.action));
    }
    if p.issue.pull_request.is_none() {
        return Outcome::Ignored("comment is on an issue, not a pull request".into());
    }
    if !is_plan_command(&p.comment.body) {
        return Outcome::Ignored("comment is not a cubist command".into());
    }
    let association = p.comment.author_association;
    if !COMMAND_ASSOCIATIONS.contains(&association.as_str()) {
        return Outcome::Forbidden(format!(
            "{} ({association}) may not run {PLAN_COMMAND}; only repository owners, members and collaborators can",
            p.comment.user.login
        ));
    }
    Outcome::Event(HookEvent::PlanCommand {
        repo: p.repository.full_name,
        number: p.issue.number,
        commenter: p.comment.user.login,
        author_association: association,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_command_needs_a_word_boundary() {
        assert!(is_plan_command("/cubist plan"));
        assert!(is_plan_command("  /cubist plan\n"));
        assert!(is_plan_command("/cubist plan please\nthanks"));
        assert!(!is_plan_command("/cubist planet"));
        assert!(!is_plan_command("please /cubist plan"));
        assert!(!is_plan_command("/cubist apply"));
    }

    #[test]
    fn unknown_events_are_ignored_but_must_be_json() {
        assert!(matches!(classify("star", b"{}"), Ok(Outcome::Ignored(_))));
        assert!(classify("star", b"{").is_err());
        assert!(classify("ping", b"not json").is_err());
    }

    #[test]
    fn missing_required_field_is_a_payload_error() {
        let err = classify("push", br#"{"ref":"refs/heads/main"}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid push payload: missing field"),
            "{err}"
        );
    }
}
