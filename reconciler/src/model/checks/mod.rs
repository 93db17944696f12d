//! Semantic checks over the typed model: each returns diagnostics with its own codes.

mod args;
mod dag;
mod quota;
mod refs;
mod schedule;
mod services;

pub use dag::topological_order;
pub use quota::{Workload, workloads};

use super::Model;
use crate::diag::Diagnostic;

/// Runs every semantic check.
pub fn run(model: &Model) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    refs::check(model, &mut diags);
    dag::check(model, &mut diags);
    schedule::check(model, &mut diags);
    args::check(model, &mut diags);
    services::check(model, &mut diags);
    quota::check(model, &mut diags);
    diags
}

/// The cluster capability an engine needs.
pub fn capability_for_engine(engine: &str) -> &'static str {
    match engine {
        "pytorchjob" | "tfjob" | "mpijob" | "xgboostjob" => "training-operator",
        "volcano" => "volcano",
        "ray" => "kuberay",
        "katib" => "katib",
        _ => "argo-workflows",
    }
}
