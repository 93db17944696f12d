//! Pull request review: plans of pull requests on GitHub, and apply results on merged ones.
//!
//! Plain-data stages: [`git::PullMirror`] (base and head snapshots from `refs/pull/<n>/head`)
//! → [`PrPlan`] (diagnostics, per-cluster plans between the two rendered sets, quota impact)
//! → [`markdown`] (the sticky comment and status lines, pure) → [`Reviewer`] (GitHub calls).
//! [`run`] drives it from the webhook queue; the reconcile loop hands its outcomes over with a
//! [`ReconciledSender`].

pub mod apply;
pub mod config;
pub mod git;
pub mod links;
pub mod markdown;
pub mod plan;
pub mod quota;
mod reviewer;
pub mod run_notice;
pub mod schedule;
mod worker;

#[cfg(test)]
mod tests;

pub use apply::ApplyResult;
pub use config::ReviewConfig;
pub use plan::PrPlan;
pub use reviewer::{APPLY_CONTEXT, Handled, PLAN_CONTEXT, Reviewer, VALIDATE_CONTEXT};
pub use worker::{ReconciledReceiver, ReconciledSender, is_watched_push, reconciled_channel, run};
