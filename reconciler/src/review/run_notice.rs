//! The comment on the merged pull request that added a `Run`, once every execution it asked
//! for has finished: per cluster and date the phase, duration and failed tasks with their
//! message, and a link to the Run's file. What was commented is recorded on the status branch
//! (`status/run-comments/<project>/<run>.yaml`), so each Run gets it once, across restarts.

use super::links::Links;
use crate::report::plan::escape_html;
use chrono::{DateTime, NaiveDate, Utc};
use cubist_status_ui::StatusTree;
use cubist_status_ui::doc::RunPhase;
use cubist_status_ui::run_table::{duration_words, is_finished};
use cubist_status_ui::runs::RunRecord;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Directory of the records of Run comments on the status branch.
pub const RUN_COMMENTS_DIR: &str = "status/run-comments/";
/// Most failed tasks listed per run.
const MAX_FAILED_TASKS: usize = 10;
/// Characters of a task's message shown.
const MESSAGE_CHARS: usize = 300;

/// `status/run-comments/<project>/<run>.yaml`.
pub fn record_path(project: &str, run: &str) -> String {
    format!("{RUN_COMMENTS_DIR}{project}/{run}.yaml")
}

/// The hidden marker of the one comment about Run `project/run`.
pub fn marker(project: &str, run: &str) -> String {
    format!("<!-- cubist:run {project}/{run} -->")
}

/// What was done about a finished Run (the record on the status branch).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RunComment {
    /// Project name.
    pub project: String,
    /// The `Run` manifest's name.
    pub run: String,
    /// Its file.
    pub file: String,
    /// The commit of the watched branch that added the file (empty when not found).
    pub commit: String,
    /// The merged pull request of that commit; `None` when it was pushed without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull: Option<u64>,
    /// The comment's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<u64>,
    /// When it was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// A `Run` whose executions have all finished, with the newest attempt of each.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRun {
    /// Project name.
    pub project: String,
    /// The `Run` manifest's name.
    pub run: String,
    /// Its file.
    pub file: String,
    /// `(cluster, newest attempt)` per execution, oldest execution first.
    pub runs: Vec<(String, RunRecord)>,
}

/// The Runs of the status tree that have finished and have no comment record yet. `dates`
/// gives the execution dates a Run asks for (from its manifest at the watched branch's tip;
/// `None` when the manifest is gone, then what is recorded counts): a Run is finished when, on
/// every cluster that ran it, each of those dates has a record whose newest attempt finished.
pub fn finished_runs(
    tree: &StatusTree,
    dates: impl Fn(&str, &str) -> Option<BTreeSet<NaiveDate>>,
) -> Vec<FinishedRun> {
    // (project, run) → file, cluster → (execution key → newest attempt).
    type PerCluster = BTreeMap<String, BTreeMap<String, RunRecord>>;
    let mut found: BTreeMap<(String, String), (String, PerCluster)> = BTreeMap::new();
    for file in tree.all_runs().iter().filter_map(|f| f.as_ref().ok()) {
        for (cluster, c) in &file.clusters {
            for r in c.runs.iter().filter(|r| r.origin.kind == "run") {
                if r.origin.run.is_empty() {
                    continue;
                }
                let key = (file.project.clone(), r.origin.run.clone());
                let entry = found
                    .entry(key)
                    .or_insert_with(|| (r.origin.file.clone(), BTreeMap::new()));
                let execution = r
                    .execution
                    .map(|t| t.to_rfc3339())
                    .or(r.date.map(|d| d.to_string()))
                    .unwrap_or_else(|| r.workflow.clone());
                // Records are newest first: the first one of an execution is its newest attempt.
                entry
                    .1
                    .entry(cluster.clone())
                    .or_default()
                    .entry(execution)
                    .or_insert_with(|| r.clone());
            }
        }
    }
    let mut out = Vec::new();
    for ((project, run), (file, clusters)) in found {
        if tree.get(&record_path(&project, &run)).is_some() {
            continue;
        }
        let all_finished = clusters
            .values()
            .all(|execs| execs.values().all(|r| is_finished(r.phase)));
        if !all_finished {
            continue;
        }
        // Only now the Run's manifest is looked at (reading the repository costs more).
        let wanted = dates(&project, &run);
        let covered = clusters.values().all(|execs| {
            wanted.as_ref().is_none_or(|want| {
                let have: BTreeSet<NaiveDate> = execs
                    .values()
                    .filter_map(|r| r.date.or(r.execution.map(|t| t.date_naive())))
                    .collect();
                want.is_subset(&have)
            })
        });
        if !covered {
            continue;
        }
        let mut runs: Vec<(String, RunRecord)> = clusters
            .into_iter()
            .flat_map(|(c, execs)| execs.into_values().map(move |r| (c.clone(), r)))
            .collect();
        runs.sort_by(|a, b| (a.1.execution, &a.0).cmp(&(b.1.execution, &b.0)));
        out.push(FinishedRun {
            project,
            run,
            file,
            runs,
        });
    }
    out
}

/// The comment: a verdict, one row per cluster and execution, failed tasks with their message,
/// and the Run's file at `commit`.
pub fn comment(f: &FinishedRun, commit: &str, links: &Links) -> String {
    let failed = f
        .runs
        .iter()
        .filter(|(_, r)| matches!(r.phase, RunPhase::Failed | RunPhase::Error))
        .count();
    let verdict = if failed == 0 {
        "✅ every execution finished".to_string()
    } else {
        format!("❌ {failed} of {} executions failed", f.runs.len())
    };
    let file_link = if commit.is_empty() {
        format!("`{}`", f.file)
    } else {
        format!("[`{}`]({})", f.file, links.blob(commit, &f.file, 0))
    };
    let mut out = format!(
        "{}\n### cubist run `{}/{}`: {verdict}\n\nThe executions of {file_link}, added by this pull request:\n\n| cluster | date | phase | duration | failed tasks |\n|---|---|---|---:|---|\n",
        marker(&f.project, &f.run),
        f.project,
        f.run
    );
    for (cluster, r) in &f.runs {
        let date = r
            .date
            .map(|d| d.to_string())
            .or(r.execution.map(|t| t.format("%Y-%m-%d %H:%M").to_string()))
            .unwrap_or_else(|| "—".into());
        let duration = r.duration_seconds.map_or("—".to_string(), duration_words);
        let failed_tasks: Vec<String> = r
            .tasks
            .iter()
            .filter(|t| matches!(t.phase, RunPhase::Failed | RunPhase::Error))
            .take(MAX_FAILED_TASKS)
            .map(|t| {
                let msg = crate::diag::bounded(&t.message, MESSAGE_CHARS).replace('\n', " ");
                if msg.is_empty() {
                    format!("`{}`", t.name)
                } else {
                    format!("`{}`: {}", t.name, cell(&msg))
                }
            })
            .collect();
        let failed_tasks = if failed_tasks.is_empty() && !r.message.is_empty() && failed > 0 {
            cell(&crate::diag::bounded(&r.message, MESSAGE_CHARS).replace('\n', " "))
        } else if failed_tasks.is_empty() {
            "—".to_string()
        } else {
            failed_tasks.join("<br>")
        };
        out += &format!(
            "| `{cluster}` | {date} | {:?} | {duration} | {failed_tasks} |\n",
            r.phase
        );
    }
    out
}

/// Text for a markdown table cell: HTML escaped, `|` escaped.
fn cell(s: &str) -> String {
    escape_html(s).replace('|', "\\|")
}

/// Most commits of the watched branch looked through for the one that added a Run's file.
const MAX_WALK: usize = 5_000;

/// Fetches `branch` and `status_branch` into the review mirror at `cfg`, and returns the Runs
/// that finished without a comment record, each with the commit of `branch` that added its
/// file (empty when not found within [`MAX_WALK`] commits).
pub fn pending(
    cfg: &super::ReviewConfig,
    status_branch: &str,
) -> anyhow::Result<Vec<(FinishedRun, String)>> {
    let mirror = crate::source::git::GitMirror::open(&cfg.repo_url, &cfg.cache_dir)?;
    mirror.fetch(&[&cfg.branch, status_branch])?;
    let repo = mirror.repo();
    let tree = StatusTree::new(crate::report::status_branch::read_status(
        repo,
        status_branch,
    )?);
    let Some(tip) = mirror.head(&cfg.branch) else {
        return Ok(Vec::new());
    };
    let model = std::cell::OnceCell::new();
    let dates = |project: &str, run: &str| {
        let model = model.get_or_init(|| {
            let snapshot = mirror.snapshot(tip).ok()?;
            Some(crate::model::load(&snapshot).0)
        });
        let spec = &model.as_ref()?.projects.get(project)?.runs.get(run)?.spec;
        Some(crate::runs::due::run_dates(spec).into_iter().collect())
    };
    let mut out = Vec::new();
    for f in finished_runs(&tree, dates) {
        let commit = adding_commit(repo, tip, &f.file)?
            .map(|c| c.to_string())
            .unwrap_or_default();
        out.push((f, commit));
    }
    Ok(out)
}

/// The commit on the first-parent history of `tip` whose tree has `path` and whose first
/// parent's does not.
fn adding_commit(
    repo: &git2::Repository,
    tip: git2::Oid,
    path: &str,
) -> anyhow::Result<Option<git2::Oid>> {
    if path.is_empty() {
        return Ok(None);
    }
    let has = |c: &git2::Commit| {
        c.tree()
            .is_ok_and(|t| t.get_path(std::path::Path::new(path)).is_ok())
    };
    let mut commit = repo.find_commit(tip)?;
    if !has(&commit) {
        return Ok(None);
    }
    for _ in 0..MAX_WALK {
        let Ok(parent) = commit.parent(0) else {
            return Ok(Some(commit.id()));
        };
        if !has(&parent) {
            return Ok(Some(commit.id()));
        }
        commit = parent;
    }
    Ok(None)
}

/// Writes the records on `status_branch` of the repository at `cfg` (through the review
/// mirror, sent to the remote like the loop's status commits).
pub fn record(
    cfg: &super::ReviewConfig,
    status_branch: &str,
    records: &[RunComment],
) -> anyhow::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let mirror = crate::source::git::GitMirror::open(&cfg.repo_url, &cfg.cache_dir)?;
    let mut files = BTreeMap::new();
    for r in records {
        let text = cubist_status_ui::yaml::to_yaml(r).map_err(|e| anyhow::anyhow!("{e}"))?;
        files.insert(record_path(&r.project, &r.run), text.into_bytes());
    }
    let names: Vec<String> = records
        .iter()
        .map(|r| format!("{}/{}", r.project, r.run))
        .collect();
    crate::report::status_branch::add_status_files(
        mirror.repo(),
        Some(&cfg.repo_url),
        status_branch,
        &crate::report::status_branch::Author::default(),
        &format!("status: run comments: {}", names.join(", ")),
        &files,
    )?;
    Ok(())
}
