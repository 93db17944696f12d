//! cubist: a GitOps control plane for machine-learning platforms.
//!
//! Data flows one way through stages with one job each:
//! [`source`] (a snapshot of the repository at a revision) → [`model`] (parse + validate into a
//! typed model) → `render` (blueprints → objects per cluster) → [`targets`] (plan, apply, prune) →
//! `report` (status branch, PR comments, page); [`review`] plans pull requests on GitHub. The values between stages are plain data.

/// mimalloc for every binary that links cubist (the CLI, benches, tests): rendering allocates
/// millions of small values on several threads, where it spends a third less time than glibc.
/// Built with `no_thp`: mimalloc does not advise the kernel to back its memory with transparent
/// huge pages. It returns freed memory to the system after a few milliseconds, so each reconcile
/// faults its memory in again, and a huge page is zeroed whole (2 MiB) at its first touch: that
/// made a first reconcile of 500 projects about a quarter slower (`cargo bench --bench reconcile`
/// with `MIMALLOC_ALLOW_THP=0` against without). A kernel set to use huge pages `always` still
/// does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod alerts;
pub mod cli;
pub mod diag;
mod git_objects;
pub mod lease;
pub mod metrics;
pub mod model;
pub mod par;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod review;
pub mod runs;
pub mod source;
pub mod synth;
pub mod targets;
