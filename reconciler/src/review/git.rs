//! Pull request heads from git: the review's bare mirror fetches `refs/pull/<n>/head` and the
//! base branch, then reads both commits as snapshots.

use crate::source::Snapshot;
use crate::source::git::{GitMirror, callbacks, redact_url};
use crate::targets::guard::Allowances;
use anyhow::{Context, Result};
use git2::{FetchOptions, Oid};
use std::path::Path;

/// A bare mirror of the platform repository holding pull request heads.
pub struct PullMirror {
    mirror: GitMirror,
}

/// The two snapshots a pull request plan compares.
#[derive(Debug, Clone)]
pub struct PullSnapshots {
    /// The base branch's tip.
    pub base: Snapshot,
    /// The pull request's head commit.
    pub head: Snapshot,
    /// Deletions the pull request's commits (those not on the base) allow.
    pub allow: Allowances,
}

impl PullMirror {
    /// Opens (or creates) the mirror of `url` under `cache_dir`.
    pub fn open(url: &str, cache_dir: &Path) -> Result<Self> {
        Ok(PullMirror {
            mirror: GitMirror::open(url, cache_dir)?,
        })
    }

    /// Fetches the status branch `branch` and reads its tree (the run records a plan counts
    /// catch-up against); an empty tree when the remote has no such branch.
    pub fn status_tree(&self, branch: &str) -> Result<cubist_status_ui::StatusTree> {
        self.mirror.fetch(&[branch])?;
        Ok(cubist_status_ui::StatusTree::new(
            crate::report::status_branch::read_status(self.mirror.repo(), branch)?,
        ))
    }

    /// Fetches `refs/pull/<number>/head` and branch `base`, then reads the base tip and the
    /// commit `head_sha`. Fails when the head commit did not arrive (the pull request moved on:
    /// the newer push gets its own event).
    pub fn fetch_pull(&self, number: u64, head_sha: &str, base: &str) -> Result<PullSnapshots> {
        let repo = self.mirror.repo();
        let pull_ref = format!("refs/pull/{number}/head");
        let base_ref = format!("refs/heads/{base}");
        let mut remote = repo.remote_anonymous(self.mirror.url())?;
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks());
        remote
            .fetch(
                &[
                    format!("+{pull_ref}:{pull_ref}"),
                    format!("+{base_ref}:{base_ref}"),
                ],
                Some(&mut opts),
                None,
            )
            .with_context(|| {
                format!(
                    "cannot fetch {pull_ref} and {base_ref} from {}",
                    redact_url(self.mirror.url())
                )
            })?;
        let head = Oid::from_str(head_sha)
            .ok()
            .filter(|oid| repo.find_commit(*oid).is_ok())
            .with_context(|| {
                format!("commit {head_sha} of pull request #{number} is not in {pull_ref}; a newer push replaced it")
            })?;
        let base_tip = repo
            .refname_to_id(&base_ref)
            .with_context(|| format!("base branch `{base}` not found"))?;
        Ok(PullSnapshots {
            base: self.mirror.snapshot(base_tip)?,
            head: self.mirror.snapshot(head)?,
            allow: Allowances::between(repo, head, Some(base_tip)),
        })
    }
}
