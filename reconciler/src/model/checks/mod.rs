//! Semantic checks over the typed model: each returns diagnostics with its own codes.

mod alerts;
pub mod args;
mod clusters;
mod dag;
pub mod names;
pub mod quota;
mod refs;
pub mod schedule;
pub mod services;
mod targets;

pub use dag::topological_order;
pub use quota::{Workload, peak, workloads};

use super::Model;
use crate::diag::Diagnostic;

/// Runs every semantic check.
pub fn run(model: &Model) -> Vec<Diagnostic> {
    run_with(model, &Rejected::default())
}

/// Manifests left out of the model because of an error already reported. A reference to a name
/// one of them may define is not reported again as unknown: one mistake, one diagnostic.
#[derive(Debug, Default)]
pub struct Rejected {
    /// `(kind if known, project directory, metadata.name)` of rejected documents.
    pub names: Vec<(Option<String>, Option<String>, String)>,
    /// Files from which no document could be read (YAML errors, not UTF-8, too large, …) or
    /// holding a document without a name: they may define anything in their directory.
    pub files: Vec<String>,
}

impl Rejected {
    /// True if a rejected document may be the `kind` named `name` that `project` refers to.
    pub fn may_define(&self, kind: &str, project: Option<&str>, name: &str) -> bool {
        let in_project = |path: &str| {
            project.is_some_and(|p| {
                path.strip_prefix("projects/")
                    .and_then(|r| r.strip_prefix(p))
                    .is_some_and(|r| r.starts_with('/'))
            })
        };
        self.names.iter().any(|(k, p, n)| {
            n == name
                && k.as_deref().is_none_or(|k| k == kind)
                && (matches!(kind, "Cluster" | "Template") || p.as_deref() == project)
        }) || self.files.iter().any(|f| match kind {
            "Cluster" => f.starts_with("clusters/"),
            "Template" => f.starts_with("templates/") || in_project(f),
            _ => in_project(f),
        })
    }
}

/// Runs every semantic check; references to `rejected` manifests are not reported.
pub fn run_with(model: &Model, rejected: &Rejected) -> Vec<Diagnostic> {
    let mut diags = per_project(model, rejected);
    across_projects(model, &mut diags);
    diags
}

/// Every check that looks at one project at a time, with the platform, and reports at that
/// project's files (all but [`across_projects`]). The schedule and quota checks (two thirds of
/// the work) run on a second thread; diagnostics come in the same order either way.
pub fn per_project(model: &Model, rejected: &Rejected) -> Vec<Diagnostic> {
    let collect = |check: &dyn Fn(&mut Vec<Diagnostic>)| {
        let mut diags = Vec::new();
        check(&mut diags);
        diags
    };
    std::thread::scope(|s| {
        let heavy = s.spawn(|| {
            (
                collect(&|d| schedule::check(model, d)),
                collect(&|d| quota::check(model, d)),
            )
        });
        let mut diags = collect(&|d| {
            refs::check(model, rejected, d);
            alerts::check(model, rejected, d);
            dag::check(model, d);
        });
        let rest = collect(&|d| {
            args::check(model, d);
            services::check(model, d);
            names::check(model, d);
        });
        let (schedule, quota) = heavy
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        diags.extend(schedule);
        diags.extend(rest);
        diags.extend(quota);
        diags
    })
}

/// The checks across projects: project quotas against resource-group capacity; and the
/// clusters' targets.
pub fn across_projects(model: &Model, diags: &mut Vec<Diagnostic>) {
    quota::capacity(model, diags);
    targets::check(model, diags);
    clusters::check(model, diags);
    alerts::unique_channels(model, diags);
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
