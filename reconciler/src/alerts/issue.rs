//! The GitHub issue channel: one open issue per failing pipeline, labelled [`LABEL`] and found
//! again by the marker in its body. A failure opens it, or comments on it when it is open; a
//! success comments and closes it. Every comment carries the run's marker and is not written
//! twice, so an alert resent after a crash (sent, but not yet recorded) changes nothing.

use super::due::Action;
use super::message::Alert;
use cubist_github::{GitHub, GitHubError, OpenIssue};
use cubist_status_ui::doc::RunPhase;

/// The label of alert issues.
pub const LABEL: &str = "cubist-alert";

/// Delivers `alert` as an issue, an issue comment or a close.
pub(super) async fn deliver(
    gh: &GitHub,
    owner: &str,
    repo: &str,
    alert: &Alert<'_>,
    action: Action,
) -> Result<(), GitHubError> {
    let open = gh
        .find_open_issue(owner, repo, LABEL, &alert.issue_marker())
        .await?;
    let mention = action == Action::Notify;
    let run_marker = alert.run_marker();
    match (alert.phase, open) {
        (RunPhase::Succeeded, None) => Ok(()),
        (RunPhase::Succeeded, Some(issue)) => {
            if !reported(gh, owner, repo, &issue, &run_marker).await? {
                gh.comment(owner, repo, issue.number, &alert.comment_body(mention))
                    .await?;
            }
            gh.close_issue(owner, repo, issue.number).await
        }
        (_, None) => {
            gh.open_issue(
                owner,
                repo,
                &alert.issue_title(),
                &alert.issue_body(mention),
                LABEL,
            )
            .await?;
            Ok(())
        }
        (_, Some(issue)) => {
            if !reported(gh, owner, repo, &issue, &run_marker).await? {
                gh.comment(owner, repo, issue.number, &alert.comment_body(mention))
                    .await?;
            }
            Ok(())
        }
    }
}

/// True when the issue's body or one of its comments already reports this run's phase.
async fn reported(
    gh: &GitHub,
    owner: &str,
    repo: &str,
    issue: &OpenIssue,
    run_marker: &str,
) -> Result<bool, GitHubError> {
    if issue.body.contains(run_marker) {
        return Ok(true);
    }
    Ok(gh
        .find_comment(owner, repo, issue.number, run_marker)
        .await?
        .is_some())
}
