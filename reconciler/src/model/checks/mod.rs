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
pub use quota::{GroupDemand, Workload, peak, workloads};

use super::Model;
use crate::diag::Diagnostic;
use std::collections::HashSet;

/// Runs every semantic check.
pub fn run(model: &Model) -> Vec<Diagnostic> {
    run_with(model, &Rejected::default())
}

/// Manifests left out of the model because of an error already reported. A reference to a name
/// one of them may define is not reported again as unknown: one mistake, one diagnostic.
#[derive(Debug, Default)]
pub struct Rejected {
    names: Vec<(Option<String>, Option<String>, String)>,
    files: Vec<String>,
    /// `names` and `files` in sets, so that a repository with many rejected documents and
    /// many dangling references costs one lookup per reference, not a scan of every rejected
    /// document.
    index: RejectedIndex,
}

/// [`Rejected`] in sets: what [`Rejected::may_define`] looks up.
#[derive(Debug, Default)]
struct RejectedIndex {
    /// `(metadata.name, kind if known)` of every rejected document, whatever its project.
    named: HashSet<(String, Option<String>)>,
    /// `(metadata.name, kind if known, project directory)` of every rejected document.
    named_in: HashSet<(String, Option<String>, Option<String>)>,
    /// A rejected file lies under `clusters/`.
    cluster_file: bool,
    /// A rejected file lies under `templates/`.
    template_file: bool,
    /// The projects with a rejected file in their directory.
    project_files: HashSet<String>,
}

impl RejectedIndex {
    fn of(names: &[(Option<String>, Option<String>, String)], files: &[String]) -> Self {
        let mut index = RejectedIndex::default();
        for (kind, project, name) in names {
            index.named.insert((name.clone(), kind.clone()));
            index
                .named_in
                .insert((name.clone(), kind.clone(), project.clone()));
        }
        for f in files {
            index.cluster_file |= f.starts_with("clusters/");
            index.template_file |= f.starts_with("templates/");
            if let Some((project, _)) = f
                .strip_prefix("projects/")
                .and_then(|rest| rest.split_once('/'))
            {
                index.project_files.insert(project.to_string());
            }
        }
        index
    }
}

impl Rejected {
    /// `names`: `(kind if known, project directory, metadata.name)` of rejected documents.
    /// `files`: files from which no document could be read (YAML errors, not UTF-8, too large,
    /// …) or holding a document without a name: they may define anything in their directory.
    pub fn new(names: Vec<(Option<String>, Option<String>, String)>, files: Vec<String>) -> Self {
        let index = RejectedIndex::of(&names, &files);
        Rejected {
            names,
            files,
            index,
        }
    }

    /// The rejected documents: `(kind if known, project directory, metadata.name)`.
    pub fn names(&self) -> &[(Option<String>, Option<String>, String)] {
        &self.names
    }

    /// The files no document could be read from, or holding a document without a name.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// True if a rejected document may be the `kind` named `name` that `project` refers to.
    pub fn may_define(&self, kind: &str, project: Option<&str>, name: &str) -> bool {
        let index = &self.index;
        let kinds = [Some(kind.to_string()), None];
        let named = if matches!(kind, "Cluster" | "Template") {
            kinds
                .into_iter()
                .any(|k| index.named.contains(&(name.to_string(), k)))
        } else {
            let p = project.map(str::to_string);
            kinds
                .into_iter()
                .any(|k| index.named_in.contains(&(name.to_string(), k, p.clone())))
        };
        let in_project = project.is_some_and(|p| index.project_files.contains(p));
        named
            || match kind {
                "Cluster" => index.cluster_file,
                "Template" => index.template_file || in_project,
                _ => in_project,
            }
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
    let demands: Vec<GroupDemand> = model
        .projects
        .values()
        .flat_map(|p| quota::demands(model, p))
        .collect();
    across_projects_of(model, demands.iter(), diags);
}

/// [`across_projects`] with each project's quota demands (see [`quota::demands`]) found
/// already, in project order.
pub fn across_projects_of<'a>(
    model: &Model,
    demands: impl Iterator<Item = &'a GroupDemand>,
    diags: &mut Vec<Diagnostic>,
) {
    quota::over_capacity(model, demands, diags);
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

#[cfg(test)]
mod tests {
    use super::Rejected;

    fn named(
        kind: Option<&str>,
        project: Option<&str>,
        name: &str,
    ) -> (Option<String>, Option<String>, String) {
        (
            kind.map(str::to_string),
            project.map(str::to_string),
            name.to_string(),
        )
    }

    /// What a rejected document or file may define: its own kind (or any kind when its kind is
    /// unknown), in its own project (clusters and templates: anywhere); a rejected file, any
    /// name in its directory.
    #[test]
    fn may_define_answers_by_kind_project_and_directory() {
        let r = Rejected::new(
            vec![
                named(Some("Pipeline"), Some("team-1"), "train"),
                named(None, Some("team-2"), "any"),
                named(Some("Template"), Some("team-3"), "shared"),
                named(Some("Cluster"), None, "gpu"),
            ],
            vec!["projects/team-10/pipelines/broken.yaml".into()],
        );
        let cases = [
            (("Pipeline", Some("team-1"), "train"), true),
            (("Pipeline", Some("team-2"), "train"), false),
            (("Service", Some("team-1"), "train"), false),
            (("Pipeline", Some("team-2"), "any"), true),
            (("Template", Some("team-2"), "any"), true),
            (("Template", Some("team-9"), "shared"), true),
            (("Cluster", Some("team-9"), "gpu"), true),
            (("Cluster", Some("team-9"), "cpu"), false),
            (("Template", Some("team-9"), "cpu"), false),
            // A rejected file defines anything in its project, and only there.
            (("Pipeline", Some("team-10"), "whatever"), true),
            (("Template", Some("team-10"), "whatever"), true),
            (("Pipeline", Some("team-1"), "whatever"), false),
            (("Cluster", Some("team-10"), "whatever"), false),
        ];
        for ((kind, project, name), want) in cases {
            assert_eq!(
                r.may_define(kind, project, name),
                want,
                "{kind} {project:?} {name}"
            );
        }
        let platform = Rejected::new(
            vec![],
            vec!["clusters/a.yaml".into(), "templates/t.yaml".into()],
        );
        assert!(platform.may_define("Cluster", Some("p"), "x"));
        assert!(platform.may_define("Template", Some("p"), "x"));
        assert!(!platform.may_define("Pipeline", Some("p"), "x"));
    }
}
