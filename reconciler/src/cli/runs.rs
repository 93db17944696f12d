//! `cubist runs`: the run table of the status branch (`status/runs/<cluster>/<project>/<pipeline>.yaml`),
//! and `cubist runs next PIPELINE`: the next execution times of a pipeline's schedule in the
//! repository, in the schedule's timezone.

use crate::diag::bounded;
use crate::runs::dates::Cadence;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use cubist_status_ui::StatusTree;
use cubist_status_ui::run_table::{
    Attention, attention, duration_secs, duration_words, execution_text, origin_text,
};
use cubist_status_ui::runs::PipelineRuns;
use std::path::PathBuf;
use std::process::ExitCode;

/// Characters of an engine message shown in a table cell.
const MESSAGE_CHARS: usize = 80;
/// Most execution times `runs next` lists.
const MAX_NEXT: usize = 1000;

/// Arguments of `runs`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    /// `next`: upcoming execution times instead of the recorded runs.
    #[command(subcommand)]
    command: Option<RunsCommand>,
    /// The recorded runs.
    #[command(flatten)]
    table: TableArgs,
}

/// Subcommands of `runs`.
#[derive(clap::Subcommand, Debug)]
enum RunsCommand {
    /// The next execution times of a pipeline's schedule, in the schedule's timezone.
    Next(NextArgs),
}

/// Arguments of `runs` without a subcommand.
#[derive(clap::Args, Debug)]
struct TableArgs {
    /// Only this project's pipelines.
    #[arg(long)]
    project: Option<String>,
    /// Only this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Where the status branch is: a git repository path, a URL (read through the mirror,
    /// fetched first) or a plain directory `cubist serve` watched.
    #[arg(long, default_value = ".")]
    repo: String,
    /// Branch the status commits are on.
    #[arg(long, default_value = "cubist/status")]
    status_branch: String,
    /// Cache directory of the mirror (default: $XDG_CACHE_HOME/cubist or ~/.cache/cubist).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// Arguments of `runs next`.
#[derive(clap::Args, Debug)]
struct NextArgs {
    /// Pipeline name.
    pipeline: String,
    /// How many execution times (at most 1000).
    #[arg(short = 'n', default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=MAX_NEXT as i64))]
    n: u32,
    /// The pipeline's project (needed when several projects have a pipeline of that name).
    #[arg(long)]
    project: Option<String>,
    /// Repository root.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// List the executions after this time (RFC 3339) instead of after now.
    #[arg(long)]
    after: Option<String>,
}

/// Runs `runs` or `runs next`.
pub(super) fn run(args: &RunsArgs) -> Result<ExitCode> {
    match &args.command {
        Some(RunsCommand::Next(a)) => next(a),
        None => table(&args.table),
    }
}

fn table(args: &TableArgs) -> Result<ExitCode> {
    let tree =
        super::status_site::read_tree(&args.repo, &args.status_branch, args.cache_dir.as_deref())?;
    let files = select(&tree, args.project.as_deref(), args.pipeline.as_deref())?;
    print!("{}", text_table(&files, Utc::now()));
    Ok(ExitCode::SUCCESS)
}

/// The runs files `project` and `pipeline` select, or an error saying what exists.
fn select(
    tree: &StatusTree,
    project: Option<&str>,
    pipeline: Option<&str>,
) -> Result<Vec<PipelineRuns>> {
    let mut all = Vec::new();
    for file in tree.all_runs().iter() {
        all.push(
            file.clone().map_err(|e| {
                anyhow::anyhow!("{}:{}:{}: {}", e.file, e.line, e.column, e.message)
            })?,
        );
    }
    if all.is_empty() {
        bail!(
            "no runs recorded on the status branch yet: the run controller writes \
             status/runs/<cluster>/<project>/<pipeline>.yaml once a scheduled pipeline or a Run is reconciled"
        );
    }
    let names = |runs: &[&PipelineRuns], f: fn(&PipelineRuns) -> String| {
        let mut v: Vec<String> = runs.iter().map(|r| f(r)).collect();
        v.dedup();
        v.join(", ")
    };
    let everything: Vec<&PipelineRuns> = all.iter().collect();
    let in_project: Vec<&PipelineRuns> = everything
        .iter()
        .copied()
        .filter(|r| project.is_none_or(|p| r.project == p))
        .collect();
    if in_project.is_empty() {
        bail!(
            "no runs for project `{}`; projects with runs: {}",
            bounded(project.unwrap_or_default(), 100),
            names(&everything, |r| r.project.clone())
        );
    }
    let chosen: Vec<&PipelineRuns> = in_project
        .iter()
        .copied()
        .filter(|r| pipeline.is_none_or(|p| r.pipeline == p))
        .collect();
    if chosen.is_empty() {
        bail!(
            "no runs for pipeline `{}`{}; pipelines with runs: {}",
            bounded(pipeline.unwrap_or_default(), 100),
            project.map_or(String::new(), |p| format!(" in project `{p}`")),
            names(&in_project, |r| format!("{}/{}", r.project, r.pipeline))
        );
    }
    Ok(chosen.into_iter().cloned().collect())
}

/// The table `cubist runs` prints: per pipeline, what blocks or waits on each cluster, then one
/// line per run, newest first.
fn text_table(files: &[PipelineRuns], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for (i, runs) in files.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out += &format!("{}/{}", cell(&runs.project), cell(&runs.pipeline));
        if !runs.file.is_empty() {
            out += &format!("  ({})", cell(&runs.file));
        }
        out.push('\n');
        for p in &runs.alert_problems {
            let since = p.since.map_or(String::new(), |t| {
                format!(" since {}", t.format("%Y-%m-%d %H:%M UTC"))
            });
            out += &format!(
                "  ALERTS NOT DELIVERED to channel {}{since} ({} failed attempts): {}\n",
                cell(&p.channel),
                p.attempts,
                cell(&p.error)
            );
        }
        let (failed, blocked) = attention(runs).iter().fold((0, 0), |(f, b), a| match a {
            Attention::Failed { .. } => (f + 1, b),
            Attention::Blocked { .. } => (f, b + 1),
        });
        let mut rows = vec![
            [
                "CLUSTER",
                "EXECUTION",
                "PHASE",
                "DURATION",
                "ORIGIN",
                "WORKFLOW",
                "TASKS",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for (cluster, c) in &runs.clusters {
            if let Some(b) = &c.blocked {
                out += &format!(
                    "  {}: BLOCKED: {}. To unblock: {}\n",
                    cell(cluster),
                    cell(&b.reason),
                    cell(&b.fix)
                );
            }
            if let Some(w) = c.waiting.as_ref().filter(|w| w.count > 0) {
                let oldest = w.oldest.map_or(String::new(), |t| {
                    format!(", oldest {}", t.format("%Y-%m-%d %H:%M %:z"))
                });
                out += &format!(
                    "  {}: {} waiting to start{oldest}\n",
                    cell(cluster),
                    w.count
                );
            }
            for r in &c.runs {
                let duration = duration_secs(r.duration_seconds, r.started, r.finished, now)
                    .map_or("-".to_string(), duration_words);
                let tasks: Vec<String> = r
                    .tasks
                    .iter()
                    .map(|t| {
                        let mut s = format!("{}:{:?}", cell(&t.name), t.phase);
                        if !t.message.is_empty()
                            && t.phase != cubist_status_ui::doc::RunPhase::Succeeded
                        {
                            s += &format!(" ({})", cell(&t.message));
                        }
                        s
                    })
                    .collect();
                let tasks = if tasks.is_empty() {
                    cell(&r.message)
                } else {
                    tasks.join(" ")
                };
                rows.push(vec![
                    cell(cluster),
                    execution_text(r, true),
                    format!("{:?}", r.phase),
                    duration,
                    cell(&origin_text(r)),
                    cell(&r.workflow),
                    tasks,
                ]);
            }
        }
        out += &columns(&rows);
        if failed + blocked > 0 {
            out += &format!("  needs attention: {failed} failed, {blocked} blocked\n");
        }
    }
    out
}

/// A value for one line of the terminal: control characters escaped, newlines as spaces, cut
/// to [`MESSAGE_CHARS`].
fn cell(s: &str) -> String {
    bounded(s, MESSAGE_CHARS).replace('\n', " ")
}

/// Rows as aligned columns (the last one unpadded), indented by two spaces.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from(" ");
        for (i, c) in r.iter().enumerate() {
            line.push(' ');
            line += c;
            if i + 1 < r.len() {
                line += &" ".repeat(widths[i] - c.chars().count() + 1);
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

fn next(args: &NextArgs) -> Result<ExitCode> {
    let Some(model) = super::stages::load_valid(&args.repo, "nothing listed")? else {
        return Ok(ExitCode::from(1));
    };
    let after = match &args.after {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .with_context(|| {
                format!("--after `{t}` is not an RFC 3339 time (2026-12-01T00:00:00Z)")
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    type Pipeline = crate::model::Manifest<crate::model::kinds::PipelineSpec>;
    let found: Vec<(&String, &Pipeline)> = model
        .projects
        .iter()
        .filter(|(p, _)| args.project.as_deref().is_none_or(|want| *p == want))
        .filter_map(|(p, proj)| Some((p, proj.pipelines.get(&args.pipeline)?)))
        .collect();
    let (project, pipeline) = match found[..] {
        [one] => one,
        [] => {
            if let Some(p) = &args.project
                && !model.projects.contains_key(p)
            {
                bail!(
                    "unknown project `{}`; projects are: {}",
                    bounded(p, 100),
                    model
                        .projects
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let all: Vec<String> = model
                .projects
                .iter()
                .filter(|(p, _)| args.project.as_deref().is_none_or(|want| *p == want))
                .flat_map(|(p, proj)| proj.pipelines.keys().map(move |n| format!("{p}/{n}")))
                .collect();
            bail!(
                "unknown pipeline `{}`; pipelines are: {}",
                bounded(&args.pipeline, 100),
                if all.is_empty() {
                    "none".to_string()
                } else {
                    all.join(", ")
                }
            );
        }
        _ => bail!(
            "pipeline `{}` is in several projects ({}); choose one with --project",
            args.pipeline,
            found
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let Some(schedule) = &pipeline.spec.schedule else {
        bail!(
            "pipeline `{project}/{}` has no schedule: it runs only when a Run names it ({})",
            args.pipeline,
            pipeline.file()
        );
    };
    let cadence =
        Cadence::new(schedule).map_err(|e| anyhow::anyhow!("{}: {e}", pipeline.file()))?;
    let words = cubist_status_ui::cron::describe_cron(&schedule.cron)
        .unwrap_or_else(|| schedule.cron.clone());
    println!(
        "{project}/{}: {words} ({}, {})",
        args.pipeline,
        schedule.cron,
        cadence.timezone()
    );
    for e in cadence.next(after, args.n as usize) {
        println!("{}", e.at.format("%Y-%m-%d %H:%M %:z %a"));
    }
    Ok(ExitCode::SUCCESS)
}
