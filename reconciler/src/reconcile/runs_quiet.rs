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
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
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

/// The memo of the last pass.
#[derive(Default)]
pub(super) struct Memo {
    /// The clusters this replica owned (`None`: alone).
    owned: Option<BTreeSet<String>>,
    /// Every project the pass saw, in order, as rendered then.
    projects: Vec<(String, Arc<Good>)>,
    /// The directory clusters' roots.
    roots: BTreeMap<String, PathBuf>,
    /// The projects with a pipeline to run, looked at or kept.
    with_runs: HashSet<String>,
    /// The quiet ones among them.
    quiet: HashMap<String, QuietProject>,
}

/// Whether cluster `name` of `outcome` was applied, and with no deletion held.
fn settled(outcome: &Outcome, name: &str) -> (bool, bool) {
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

impl QuietProject {
    /// The memo of a project's pass that changed none of its records (`docs`), on directory
    /// clusters `dirs` and Kubernetes clusters `unreachable` out of reach; `None` when the
    /// records leave something for the next pass to do (an alert to retry, catch-up cut short).
    pub(super) fn after<'a>(
        good: &Arc<Good>,
        dirs: &BTreeMap<&str, PathBuf>,
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
                .map(|(c, root)| (c.to_string(), root.clone(), settled(outcome, c)))
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

    /// The same memo for the project now rendered as `good` (what the controller reads of it
    /// unchanged).
    pub(super) fn renewed(mut self, good: &Arc<Good>) -> QuietProject {
        self.good = good.clone();
        self
    }
}

impl Memo {
    /// Starts the memo of a pass over `current` by the replica owning `owned`.
    pub(super) fn begin(
        owned: Option<BTreeSet<String>>,
        roots: BTreeMap<String, PathBuf>,
        current: &BTreeMap<String, Arc<Good>>,
    ) -> Memo {
        Memo {
            owned,
            roots,
            projects: current
                .iter()
                .map(|(n, g)| (n.clone(), g.clone()))
                .collect(),
            with_runs: HashSet::new(),
            quiet: HashMap::new(),
        }
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
        dirs: &BTreeMap<&str, PathBuf>,
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
                    && root == dir
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
                .zip(current)
                .all(|((a, x), (b, y))| a == b && Arc::ptr_eq(x, y))
            && touched
                .values()
                .all(|t| t.as_ref().is_some_and(|t| t.is_empty()))
            && self
                .with_runs
                .iter()
                .all(|p| self.quiet.get(p).is_some_and(|q| q.still(outcome, now)))
    }

    /// Takes the last pass's memo of quiet `project`.
    pub(super) fn take(&mut self, project: &str) -> Option<QuietProject> {
        self.quiet.remove(project)
    }

    /// Notes that `project` was looked at in this pass.
    pub(super) fn ran(&mut self, project: &str) {
        self.with_runs.insert(project.to_string());
    }

    /// Notes that `project` is quiet after this pass.
    pub(super) fn keep(&mut self, project: &str, q: QuietProject) {
        self.with_runs.insert(project.to_string());
        self.quiet.insert(project.to_string(), q);
    }
}
