//! The reviewer: plans pull requests and reports reconciles on GitHub (one sticky plan comment
//! per pull request, `cubist/validate`, `cubist/plan` and `cubist/apply` statuses).

use super::apply::{APPLY_MARKER, ApplyResult, apply_comment, apply_status};
use super::config::ReviewConfig;
use super::git::PullMirror;
use super::links::Links;
use super::markdown::{PLAN_MARKER, plan_comment, plan_status, validate_status};
use super::plan::PrPlan;
use super::run_notice;
use crate::render::Blueprints;
use anyhow::{Context, Result};
use cubist_github::{CommitState, CommitStatus, GITHUB_COMMENT_LIMIT, GitHub, GitHubToken};
use cubist_webhook::HookEvent;
use std::path::PathBuf;
use std::sync::Arc;

/// Context of the validation status.
pub const VALIDATE_CONTEXT: &str = "cubist/validate";
/// Context of the plan status.
pub const PLAN_CONTEXT: &str = "cubist/plan";
/// Context of the apply status.
pub const APPLY_CONTEXT: &str = "cubist/apply";

/// What the reviewer did with one event or reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Planned pull request `number` at `head_sha`; `comment_id` is its sticky comment.
    Planned {
        /// Pull request number.
        number: u64,
        /// The planned head commit.
        head_sha: String,
        /// Id of the plan comment.
        comment_id: u64,
    },
    /// Set `cubist/apply` on `revision`, and commented on the merged pull request if one was found.
    Reported {
        /// The reconciled commit.
        revision: String,
        /// `(pull request number, comment id)`.
        pull: Option<(u64, u64)>,
    },
    /// Nothing to do, and why.
    Ignored(String),
}

/// Plans pull requests and reports reconciles of one repository.
#[derive(Debug, Clone)]
pub struct Reviewer {
    cfg: Arc<ReviewConfig>,
    gh: GitHub,
    links: Links,
    status_branch: Option<String>,
}

impl Reviewer {
    /// A reviewer reporting through `gh`.
    pub fn new(cfg: ReviewConfig, gh: GitHub) -> Self {
        let links = Links {
            web_base: cfg.web_base.clone(),
            owner: cfg.owner.clone(),
            name: cfg.name.clone(),
        };
        Reviewer {
            cfg: Arc::new(cfg),
            gh,
            links,
            status_branch: None,
        }
    }

    /// Reads run records from the status branch `branch` of the repository, so that a plan
    /// that changes a schedule counts catch-up runs against what already ran.
    pub fn with_status_branch(mut self, branch: impl Into<String>) -> Self {
        self.status_branch = Some(branch.into());
        self
    }

    /// A reviewer from the environment (see [`ReviewConfig::from_env`]); `None` without a
    /// token. Call inside the Tokio runtime.
    pub fn from_env(repo_url: &str, branch: &str, cache_dir: PathBuf) -> Result<Option<Self>> {
        let Some((cfg, token)) = ReviewConfig::from_env(repo_url, branch, cache_dir)? else {
            return Ok(None);
        };
        Ok(Some(Self::with_token(cfg, token)?))
    }

    /// A reviewer talking to `cfg.api_base` with `token`. Call inside the Tokio runtime.
    pub fn with_token(cfg: ReviewConfig, token: GitHubToken) -> Result<Self> {
        let mut gh = GitHub::new(&cfg.api_base, token)?;
        if let Some(login) = &cfg.login {
            gh = gh.with_comment_author(login);
        }
        Ok(Self::new(cfg, gh))
    }

    /// The settings.
    pub fn config(&self) -> &ReviewConfig {
        &self.cfg
    }

    /// Acts on one webhook event: plans pull requests into the watched branch and
    /// `/cubist plan` commands of users with write access; everything else is ignored.
    pub async fn handle(&self, event: &HookEvent) -> Result<Handled> {
        let (owner, name) = (&self.cfg.owner, &self.cfg.name);
        if !event.repo().eq_ignore_ascii_case(&self.cfg.full_name()) {
            return Ok(ignored(format!(
                "event of {}, not of {}/{name}",
                event.repo(),
                owner
            )));
        }
        match event {
            HookEvent::PullRequest {
                number,
                head_sha,
                base_ref,
                ..
            } => self.plan_pull(*number, head_sha, base_ref).await,
            HookEvent::PlanCommand {
                number, commenter, ..
            } => {
                if !self.gh.has_write_access(owner, name, commenter).await? {
                    return Ok(ignored(format!(
                        "{commenter} has no write access; /cubist plan on #{number} ignored"
                    )));
                }
                let pull = self.gh.pull_request(owner, name, *number).await?;
                if pull.state != "open" {
                    return Ok(ignored(format!("#{number} is {}", pull.state)));
                }
                self.plan_pull(*number, &pull.head_sha, &pull.base_ref)
                    .await
            }
            HookEvent::PullRequestMerged { number, .. } => Ok(ignored(format!(
                "#{number} merged: reported once its merge commit is reconciled"
            ))),
            HookEvent::Push { git_ref, .. } => Ok(ignored(format!(
                "push to {git_ref}: the reconcile loop handles pushes"
            ))),
        }
    }

    /// Plans pull request `number` at `head_sha` against the tip of `base_ref`, updates its
    /// sticky comment and sets `cubist/validate` and `cubist/plan` on the head. Pull requests
    /// into another branch than the watched one are ignored.
    pub async fn plan_pull(&self, number: u64, head_sha: &str, base_ref: &str) -> Result<Handled> {
        if base_ref != self.cfg.branch {
            return Ok(ignored(format!(
                "#{number} targets `{base_ref}`, not the watched branch `{}`",
                self.cfg.branch
            )));
        }
        let (owner, name) = (&self.cfg.owner, &self.cfg.name);
        let cfg = self.cfg.clone();
        let (head, base) = (head_sha.to_string(), base_ref.to_string());
        let status_branch = self.status_branch.clone();
        let computed = tokio::task::spawn_blocking(move || -> Result<PrPlan> {
            let mirror = PullMirror::open(&cfg.repo_url, &cfg.cache_dir)?;
            let snapshots = mirror.fetch_pull(number, &head, &base)?;
            let blueprints = Blueprints::embedded()?;
            // Without run records, catch-up is counted from the schedule alone.
            let status = status_branch.and_then(|b| {
                mirror
                    .status_tree(&b)
                    .inspect_err(|e| tracing::warn!("review: no run records: {e:#}"))
                    .ok()
            });
            let runs = |p: &str, n: &str| status.as_ref()?.pipeline_runs(p, n)?.ok();
            Ok(PrPlan::compute_with_runs(
                &base,
                &snapshots.base,
                &snapshots.head,
                &snapshots.allow,
                &blueprints,
                &runs,
                chrono::Utc::now(),
            ))
        })
        .await
        .context("the plan task panicked")
        .and_then(|r| r);
        let plan = match computed {
            Ok(plan) => plan,
            Err(e) => {
                let status = CommitStatus::new(
                    CommitState::Error,
                    PLAN_CONTEXT,
                    format!("cubist could not plan: {e}"),
                );
                self.gh
                    .set_commit_status(owner, name, head_sha, &status)
                    .await?;
                return Err(e.context(format!("planning #{number} at {head_sha}")));
            }
        };
        let body = plan_comment(&plan, &self.links, GITHUB_COMMENT_LIMIT);
        let comment_id = self
            .gh
            .upsert_sticky_comment(owner, name, number, PLAN_MARKER, &body)
            .await?;
        let url = self.links.comment(number, comment_id);
        for (context, (state, text)) in [
            (VALIDATE_CONTEXT, validate_status(&plan)),
            (PLAN_CONTEXT, plan_status(&plan)),
        ] {
            let status = CommitStatus::new(state, context, text).with_target_url(&url);
            self.gh
                .set_commit_status(owner, name, head_sha, &status)
                .await?;
        }
        Ok(Handled::Planned {
            number,
            head_sha: head_sha.to_string(),
            comment_id,
        })
    }

    /// Reports a reconcile: comments the result on the merged pull request of the revision
    /// (one sticky comment) and sets `cubist/apply` on the revision.
    pub async fn report_apply(&self, result: &ApplyResult) -> Result<Handled> {
        let (owner, name) = (&self.cfg.owner, &self.cfg.name);
        let sha = &result.revision;
        let pull = match self.gh.merged_pull_for_commit(owner, name, sha).await? {
            Some(number) => {
                let body = apply_comment(result, &self.links);
                let id = self
                    .gh
                    .upsert_sticky_comment(owner, name, number, APPLY_MARKER, &body)
                    .await?;
                Some((number, id))
            }
            None => None,
        };
        let (state, text) = apply_status(result);
        let mut status = CommitStatus::new(state, APPLY_CONTEXT, text);
        if let Some((number, id)) = pull {
            status = status.with_target_url(self.links.comment(number, id));
        }
        self.gh.set_commit_status(owner, name, sha, &status).await?;
        Ok(Handled::Reported {
            revision: sha.clone(),
            pull,
        })
    }
}

impl Reviewer {
    /// Comments on the merged pull request of each `Run` whose executions have all finished
    /// (once: a record on the status branch says it was done, and the comment is sticky per
    /// Run). Needs [`Reviewer::with_status_branch`]; returns `(run, pull request, comment)`
    /// per Run handled (`None`s when it was pushed without a pull request).
    pub async fn report_runs(&self) -> Result<Vec<(String, Option<(u64, u64)>)>> {
        let Some(status_branch) = self.status_branch.clone() else {
            return Ok(Vec::new());
        };
        let (owner, name) = (&self.cfg.owner, &self.cfg.name);
        let (cfg, branch) = (self.cfg.clone(), status_branch.clone());
        let pending = tokio::task::spawn_blocking(move || run_notice::pending(&cfg, &branch))
            .await
            .context("the run check panicked")??;
        let mut records = Vec::new();
        let mut done = Vec::new();
        for (f, commit) in pending {
            let commented = async {
                let pull = if commit.is_empty() {
                    None
                } else {
                    self.gh.merged_pull_for_commit(owner, name, &commit).await?
                };
                let Some(number) = pull else {
                    return Ok::<_, anyhow::Error>((None, None));
                };
                let marker = run_notice::marker(&f.project, &f.run);
                let body = run_notice::comment(&f, &commit, &self.links);
                let id = self
                    .gh
                    .upsert_sticky_comment(owner, name, number, &marker, &body)
                    .await?;
                Ok((pull, Some(id)))
            };
            // A failure leaves this Run unrecorded: the next check tries it again, and the
            // comment is sticky, so it is never posted twice.
            let (pull, comment) = match commented.await {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!("review: run {}/{}: {e:#}", f.project, f.run);
                    continue;
                }
            };
            done.push((format!("{}/{}", f.project, f.run), pull.zip(comment)));
            records.push(run_notice::RunComment {
                project: f.project,
                run: f.run,
                file: f.file,
                commit,
                pull,
                comment,
                at: Some(chrono::Utc::now()),
            });
        }
        let cfg = self.cfg.clone();
        tokio::task::spawn_blocking(move || run_notice::record(&cfg, &status_branch, &records))
            .await
            .context("recording run comments panicked")??;
        Ok(done)
    }
}

fn ignored(why: String) -> Handled {
    Handled::Ignored(why)
}
