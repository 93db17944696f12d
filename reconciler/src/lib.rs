//! cubist: a GitOps control plane for machine-learning platforms.
//!
//! Data flows one way through stages with one job each:
//! [`source`] (a snapshot of the repository at a revision) → [`model`] (parse + validate into a
//! typed model) → `render` (blueprints → objects per cluster) → `target` (plan, apply, prune) →
//! `report` (status branch, PR comments, page); [`review`] plans pull requests on GitHub. The values between stages are plain data.

pub mod cli;
pub mod diag;
pub mod model;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod review;
pub mod source;
pub mod synth;
pub mod target;
