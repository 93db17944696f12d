//! A named optimisation of the run controller on directory targets: *quiet projects*. A pass
//! of the controller reads a project's run files and decides admission for each of its
//! pipelines, though on a directory target nothing moves a run on unless a file changes. When
//! a project's last pass changed none of its records and depended only on what is checked
//! here (the same rendered project, its clusters applied as before, no schedule's next
//! execution come, no alert to retry, no catch-up left for a later pass, directory targets
//! only), and the watch of each of its targets saw none of its run files touched since, the
//! next pass would decide the same: its records are kept as they are. When every project is
//! quiet and the projects are the same, the whole pass is skipped. Whenever one of these
//! cannot be known (no watch, lost events, a Kubernetes cluster), the project's pass runs in
//! full, as without the memo.

use super::Good;
use super::outcome::Outcome;
use crate::model::Project;
use crate::model::kinds::{RunSpec, Schedule};
use chrono::{DateTime, Utc};
use cubist_status_ui::runs::PipelineRuns;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Per directory cluster: the projects whose run files its watch saw touched since the last
/// pass; `None` when it cannot tell.
pub(super) type Touched = BTreeMap<String, Option<HashSet<String>>>;

/// What the controller reads of a project: each pipeline's name, file and schedule, and each
/// `Run`'s name, file and spec. A change elsewhere (a template, a service) re-renders the
/// project without changing what it decides.
#[derive(PartialEq)]
struct Inputs {
    pipelines: Vec<(String, String, Option<Schedule>)>,
    runs: Vec<(String, String, Arc<RunSpec>)>,
}

impl Inputs {
    fn of(project: &Project) -> Inputs {
        Inputs {
            pipelines: project
                .pipelines
                .values()
                .map(|p| {
                    (
                        p.name().to_string(),
                        p.file().to_string(),
                        p.spec.schedule.clone(),
                    )
                })
                .collect(),
            runs: project
                .runs
                .values()
                .map(|r| (r.name().to_string(), r.file().to_string(), r.spec.clone()))
                .collect(),
        }
    }
}

/// What one project's pass depended on, kept when its next pass may keep its records.
pub(super) struct QuietProject {
    good: Arc<Good>,
    /// What the controller read of it.
    inputs: Inputs,
    /// Its directory clusters: root, and whether applied with no deletion held.
    clusters: Vec<(String, PathBuf, (bool, bool))>,
    /// Its Kubernetes clusters, all out of reach then (nothing was listed nor created).
    unreachable: Vec<String>,
    /// The earliest next execution of its schedules: from then on, runs may come due.
    until: Option<DateTime<Utc>>,
    /// Its share of the summary's `nextRunDue`.
    pub(super) next_due: Option<DateTime<Utc>>,
}

/// The memo of the last pass, changed in place by the next one (a quiet project's memo stays).
#[derive(Default)]
pub(super) struct Memo {
    /// The clusters this replica owned (`None`: alone).
    owned: Option<BTreeSet<String>>,
    /// Every project the pass saw, in order, as rendered then.
    projects: Vec<Arc<Good>>,
    /// The directory clusters' roots.
    roots: BTreeMap<String, PathBuf>,
    /// The projects with a pipeline to run that were looked at and are not quiet after it.
    loud: BTreeSet<String>,
    /// The quiet projects with a pipeline to run, by name.
    quiet: BTreeMap<String, QuietProject>,
}

/// Whether cluster `name` of `outcome` was applied, and with no deletion held.
pub(super) fn settled(outcome: &Outcome, name: &str) -> (bool, bool) {
    outcome.clusters.get(name).map_or((false, false), |co| {
        let held = co.plan.as_ref().is_some_and(|p| p.held.is_some());
        (co.skipped.is_none(), !held)
    })
}

/// True when the run controller looks at Kubernetes cluster `name` in a pass with `outcome`:
/// it was reached, is configured and not waiting to retry.
pub(super) fn reachable(outcome: &Outcome, name: &str) -> bool {
    outcome
        .clusters
        .get(name)
        .is_some_and(|co| !co.unreachable && !co.not_configured && co.retry_in.is_none())
}

/// The records of `project` in `docs` (keyed by project, pipeline, cluster).
pub(super) fn of_project<'a>(
    docs: &'a BTreeMap<(String, String, String), Arc<PipelineRuns>>,
    project: &'a str,
) -> impl Iterator<Item = (&'a (String, String, String), &'a Arc<PipelineRuns>)> {
    docs.range((project.to_string(), String::new(), String::new())..)
        .take_while(move |((p, _, _), _)| p == project)
}

/// A test of whether a project is one of `names` (sorted), for projects asked in order (as a
/// map's `retain` visits them): one pass over both instead of a lookup per project.
pub(super) fn one_of<'a>(names: &'a [&'a str]) -> impl FnMut(&str) -> bool + 'a {
    let mut names = names.iter().peekable();
    move |project| {
        while names.next_if(|n| **n < project).is_some() {}
        names.peek().is_some_and(|n| **n == project)
    }
}

impl QuietProject {
    /// The memo of a project's pass that changed none of its records (`docs`), on directory
    /// clusters `dirs` and Kubernetes clusters `unreachable` out of reach; `None` when the
    /// records leave something for the next pass to do (an alert to retry, catch-up cut short).
    pub(super) fn after<'a>(
        good: &Arc<Good>,
        dirs: &BTreeMap<&str, &Path>,
        unreachable: Vec<&str>,
        outcome: &Outcome,
        until: Option<DateTime<Utc>>,
        next_due: Option<DateTime<Utc>>,
        mut docs: impl Iterator<Item = &'a PipelineRuns>,
    ) -> Option<QuietProject> {
        let settled_records = docs.all(|d| {
            d.alert_problems.is_empty()
                && d.clusters
                    .values()
                    .all(|c| c.waiting.as_ref().is_none_or(|w| !w.more_due))
        });
        settled_records.then(|| QuietProject {
            good: good.clone(),
            inputs: Inputs::of(&good.project),
            clusters: dirs
                .iter()
                .map(|(c, root)| (c.to_string(), root.to_path_buf(), settled(outcome, c)))
                .collect(),
            unreachable: unreachable.into_iter().map(str::to_string).collect(),
            until,
            next_due,
        })
    }
}

impl QuietProject {
    /// True when what the project's clusters and the clock say is as its memo assumed: its
    /// clusters applied as then, its Kubernetes ones still out of reach, and no execution of
    /// its schedules come due.
    fn still(&self, outcome: &Outcome, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| now < u)
            && self
                .clusters
                .iter()
                .all(|(c, _, s)| settled(outcome, c) == *s)
            && self.unreachable.iter().all(|c| !reachable(outcome, c))
    }

    /// Takes the project as now rendered as `good` (what the controller reads of it
    /// unchanged).
    pub(super) fn renew(&mut self, good: &Arc<Good>) {
        self.good = good.clone();
    }
}

impl Memo {
    /// Starts a pass over `current` by the replica owning `owned`; the memos of quiet projects
    /// stay until [`Memo::keep_only`].
    pub(super) fn begin(
        &mut self,
        owned: Option<BTreeSet<String>>,
        roots: BTreeMap<String, PathBuf>,
        current: &BTreeMap<String, Arc<Good>>,
    ) {
        self.owned = owned;
        self.roots = roots;
        self.projects = current.values().cloned().collect();
        self.loud.clear();
    }

    /// True when a pass of `project`, rendered as `good` and placed on the directory
    /// clusters `dirs` and the Kubernetes clusters `kube`, would decide now what its last one
    /// did: it was quiet, its pipelines and `Run`s are the same, it is placed the same, its
    /// clusters were applied as then (its Kubernetes ones still out of reach), no execution
    /// came due since, and no watch saw its run files touched.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn holds(
        &self,
        project: &str,
        good: &Arc<Good>,
        dirs: &BTreeMap<&str, &Path>,
        kube: &[&str],
        outcome: &Outcome,
        now: DateTime<Utc>,
        touched: &Touched,
    ) -> bool {
        let Some(q) = self.quiet.get(project) else {
            return false;
        };
        (Arc::ptr_eq(&q.good, good) || q.inputs == Inputs::of(&good.project))
            && q.unreachable.iter().eq(kube.iter())
            && q.clusters.len() == dirs.len()
            && q.clusters.iter().zip(dirs).all(|((c, root, _), (d, dir))| {
                c == d
                    // Both from the same roots: their bytes, not their components.
                    && root.as_os_str() == dir.as_os_str()
                    && touched
                        .get(c)
                        .is_some_and(|t| t.as_ref().is_some_and(|t| !t.contains(project)))
            })
            && q.still(outcome, now)
    }

    /// True when the pass may be skipped whole: on the revision of the last one (`refresh`),
    /// with the same clusters owned and resolved to the same directories, the same projects
    /// rendered the same (so placed the same), no watch saw any run file touched since, and
    /// every project with runs was quiet and still is (its clusters applied as then, its
    /// Kubernetes ones still out of reach, no execution come due).
    pub(super) fn whole_pass_quiet(
        &self,
        current: &BTreeMap<String, Arc<Good>>,
        owned: Option<&BTreeSet<String>>,
        roots: &BTreeMap<String, PathBuf>,
        outcome: &Outcome,
        now: DateTime<Utc>,
        touched: &Touched,
    ) -> bool {
        self.owned.as_ref() == owned
            && &self.roots == roots
            && self.projects.len() == current.len()
            && self
                .projects
                .iter()
                .zip(current.values())
                .all(|(x, y)| Arc::ptr_eq(x, y))
            && touched
                .values()
                .all(|t| t.as_ref().is_some_and(|t| t.is_empty()))
            && self.loud.is_empty()
            && self.quiet.values().all(|q| q.still(outcome, now))
    }

    /// The last pass's memo of `project`, when it was quiet.
    pub(super) fn quiet_mut(&mut self, project: &str) -> Option<&mut QuietProject> {
        self.quiet.get_mut(project)
    }

    /// Keeps the memos of the projects `quiet` (in order) alone: the others are run again,
    /// gone or no longer placed.
    pub(super) fn keep_only(&mut self, quiet: &[&str]) {
        let mut kept = one_of(quiet);
        self.quiet.retain(|project, _| kept(project));
    }

    /// Notes that `project` was looked at in this pass, and is quiet after it when `quiet`.
    pub(super) fn ran(&mut self, project: &str, quiet: Option<QuietProject>) {
        match quiet {
            Some(q) => {
                self.quiet.insert(project.to_string(), q);
            }
            None => {
                self.loud.insert(project.to_string());
            }
        }
    }
}
