//! `cubist reconcile`: the GitOps loop (which `cubist serve`, in `server.rs`, runs next to its
//! HTTP server).

use crate::reconcile::schedule::{self, Schedule};
use crate::reconcile::{Config, Reconciler, guard};
use crate::report::status_branch::Author;
use crate::source::watch::{DEBOUNCE, DirectoryWatcher, watch_directory};
use anyhow::{Context, Result};
use chrono::Utc;
use cubist_status_ui::Liveness;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// What steers the loop from outside: the replica it shares clusters as (see `crate::lease`),
/// and a stop request (SIGTERM), honoured between passes.
#[derive(Debug, Default, Clone)]
pub(super) struct Control {
    /// Shares the clusters with other replicas.
    pub replica: Option<Arc<crate::lease::Replica>>,
    /// Set to stop after the running pass (nudge the loop so that a wait ends at once).
    pub stop: Arc<AtomicBool>,
}

/// Options shared by `reconcile` and `serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoopArgs {
    /// Repository URL (https://, ssh://, file://) or local path. A plain directory that is not
    /// a git repository is committed into a local repository under the cache directory.
    #[arg(long, default_value = "examples-repo")]
    pub repo: String,
    /// Watched branch.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Branch status commits go to.
    #[arg(long, default_value = "cubist/status")]
    pub status_branch: String,
    /// Poll interval (e.g. 60s, 5m).
    #[arg(long, default_value = "60s")]
    pub interval: String,
    /// Reconcile once and exit.
    #[arg(long)]
    pub once: bool,
    /// Local authoring: `--repo` is a working directory (a plain one or a git working tree);
    /// re-reconcile when a file is saved. Its content is committed to a private repository
    /// under the cache directory, where the status branch is written too: the directory, its
    /// branches, HEAD and index are never written.
    #[arg(long, conflicts_with = "once")]
    pub watch: bool,
    /// Cache directory for the mirror (default: $XDG_CACHE_HOME/cubist or ~/.cache/cubist).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Author of status commits, `Name <email>`.
    #[arg(long, default_value = "cubist <cubist@localhost>")]
    pub author: String,
    /// Directory targets (`../<dir>`) are written in this directory instead of the one that
    /// holds the repository (env CUBIST_TARGET_ROOT).
    #[arg(long)]
    pub target_root: Option<PathBuf>,
}

pub(super) fn cache_dir(args: &LoopArgs) -> PathBuf {
    super::cache_dir(args.cache_dir.as_deref())
}

/// Builds the loop's configuration; a plain directory becomes a local git repository.
pub(super) fn config(args: &LoopArgs) -> Result<Config> {
    let cache = cache_dir(args);
    let author = match args.author.split_once('<') {
        Some((n, e)) => Author {
            name: n.trim().to_string(),
            email: e.trim_end_matches('>').trim().to_string(),
        },
        None => Author {
            name: args.author.clone(),
            email: "cubist@localhost".into(),
        },
    };
    let path = Path::new(&args.repo);
    let (repo, target_root) = if let Some(dir) = local_authoring(args) {
        let local = crate::source::local::commit_directory(dir, &cache, &args.branch)?;
        (local.display().to_string(), dir.to_path_buf())
    } else if args.repo.contains("://") || args.repo.contains('@') {
        (args.repo.clone(), std::env::current_dir()?)
    } else {
        anyhow::ensure!(
            git2::Repository::open(path).is_ok(),
            "--repo {} is neither a URL, a git repository nor a directory",
            args.repo
        );
        (
            path.canonicalize()?.display().to_string(),
            path.to_path_buf(),
        )
    };
    let target_root = super::targets_base(&target_root, args.target_root.as_deref());
    Ok(Config {
        repo,
        branch: args.branch.clone(),
        status_branch: args.status_branch.clone(),
        cache_dir: cache,
        target_root,
        author,
        push_status: true,
        metrics: None,
    })
}

/// The working directory whose content is committed before each poll: `--repo` with `--watch`,
/// or a plain directory that is not a git repository.
fn local_authoring(args: &LoopArgs) -> Option<&Path> {
    let path = Path::new(&args.repo);
    (path.is_dir() && (args.watch || git2::Repository::open(path).is_err())).then_some(path)
}

/// With `--watch`, a watcher that nudges the loop after each burst of saves.
pub(super) fn watch(args: &LoopArgs, nudge: mpsc::Sender<()>) -> Result<Option<DirectoryWatcher>> {
    if !args.watch {
        return Ok(None);
    }
    let dir = local_authoring(args).with_context(|| {
        format!(
            "--watch needs --repo to be a local directory, not {}",
            args.repo
        )
    })?;
    let watcher = watch_directory(dir, DEBOUNCE, move || {
        let _ = nudge.send(());
    })?;
    Ok(Some(watcher))
}

/// Parses `--interval`.
pub(super) fn interval(s: &str) -> Result<Duration> {
    duration("--interval", s)
}

/// Parses the duration `s` of the option `flag`: `60s`, `5m`, `1h` (zero is refused).
pub(super) fn duration(flag: &str, s: &str) -> Result<Duration> {
    crate::model::duration::duration_seconds(s)
        .map(Duration::from_secs)
        .with_context(|| format!("{flag} `{s}` is not a duration like 30s, 5m or 1h"))
}

/// `cubist reconcile`: the loop without a server. SIGTERM or SIGINT stops it after the running
/// pass (its status commit included), exiting 0.
pub(super) fn reconcile(args: LoopArgs) -> Result<ExitCode> {
    let cfg = config(&args)?;
    let (tx, rx) = mpsc::channel();
    let control = Control::default();
    super::replicas::stop_on_signal(&control, tx.clone())?;
    let _watcher = watch(&args, tx)?;
    let liveness = Liveness::new(interval(&args.interval)?, Utc::now());
    run_loop(&args, cfg, rx, &liveness, &control, |_| {}, |_| {})
}

/// Runs the loop: a pass at the interval or when nudged, backoff after failures (one
/// [`Schedule`]). Each pass is recorded in `liveness`; a panic in a pass is a failed pass (the
/// reconciler is opened again, as after a restart), never the end of the loop.
pub(super) fn run_loop(
    args: &LoopArgs,
    cfg: Config,
    nudges: mpsc::Receiver<()>,
    liveness: &Liveness,
    control: &Control,
    mut on_ready: impl FnMut(&Reconciler),
    mut on_outcome: impl FnMut(&crate::reconcile::Outcome),
) -> Result<ExitCode> {
    let mut schedule = Schedule::new(interval(&args.interval)?);
    let mut reconciler: Option<Reconciler> = None;
    loop {
        let started = Instant::now();
        let pass = guard::catch(|| {
            pass(
                args,
                &cfg,
                control,
                &mut reconciler,
                &mut on_ready,
                &mut on_outcome,
            )
        });
        // Whether the repository was reached: failures before are "not reachable yet".
        let (result, reached) = match pass {
            Ok(result) => (result, reconciler.is_some()),
            Err(panic) => {
                // Opened again on the next pass, as after a restart.
                reconciler = None;
                let e = anyhow::anyhow!("internal error (cubist panicked): {panic}");
                (Err(e), true)
            }
        };
        if let Some(m) = &cfg.metrics {
            m.pass_ended(result.is_ok(), started.elapsed());
        }
        let wait = match result {
            Ok(()) => {
                liveness.pass_completed(Utc::now());
                schedule.succeeded()
            }
            Err(e) if args.once && !reached => return Err(e),
            Err(e) if args.once => {
                eprintln!("cubist: reconcile failed ({e:#})");
                return Ok(ExitCode::from(1));
            }
            Err(e) => {
                let wait = schedule.failed();
                let why = if reached {
                    format!("reconcile failed: {e:#}")
                } else {
                    format!("the repository is not reachable yet: {e:#}")
                };
                let why = redact(&why, &cfg.repo);
                let keeps = if reached {
                    "the last good state keeps serving; "
                } else {
                    ""
                };
                eprintln!("cubist: {why}; {keeps}retrying in {}s", wait.as_secs());
                liveness.pass_failed(Utc::now(), &why);
                wait
            }
        };
        if args.once {
            if let Some(r) = &reconciler {
                r.keep_target_memories();
            }
            // The process ends here: freeing what the reconciler holds (every project's
            // rendered objects) would only hold up the exit, by about 50 ms at 500 projects.
            std::mem::forget(reconciler);
            return Ok(ExitCode::SUCCESS);
        }
        let stopping = || control.stop.load(Ordering::SeqCst);
        if !stopping() {
            schedule::wait(&nudges, wait);
        }
        if stopping() {
            if let Some(r) = &reconciler {
                r.keep_target_memories();
            }
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// One pass: open the reconciler if it is not yet (fetching the repository for the first
/// time), commit the local directory again when authoring locally, poll, report.
fn pass(
    args: &LoopArgs,
    cfg: &Config,
    control: &Control,
    reconciler: &mut Option<Reconciler>,
    on_ready: &mut impl FnMut(&Reconciler),
    on_outcome: &mut impl FnMut(&crate::reconcile::Outcome),
) -> Result<()> {
    let started = Instant::now();
    let r = match reconciler {
        Some(r) => {
            if let Some(dir) = local_authoring(args).filter(|_| !args.once) {
                // Local authoring: commit the directory again if it changed.
                if let Err(e) =
                    crate::source::local::commit_directory(dir, &cache_dir(args), &args.branch)
                {
                    eprintln!("cubist: {e:#}");
                }
            }
            r
        }
        None => {
            let r = reconciler.insert(Reconciler::new(cfg.clone())?);
            if let Some(replica) = &control.replica {
                r.set_replica(replica.clone());
            }
            if args.once {
                r.single_pass();
            }
            on_ready(r);
            if args.watch {
                println!(
                    "watching {}: snapshots and the status branch `{}` are in {}",
                    args.repo,
                    args.status_branch,
                    r.config().repo
                );
            }
            // Nothing new since the status branch's last word: stop without rendering.
            if args.once && r.synced_at_head() {
                return Ok(());
            }
            r
        }
    };
    if let Some(o) = r.poll()? {
        on_outcome(&o);
        if let Some(m) = &cfg.metrics {
            m.reconciled(r.mirror().repo(), &o, started.elapsed());
        }
        let errors = o.diagnostics.iter().filter(|d| d.is_error()).count();
        println!(
            "reconciled {} : {} rendered, {} skipped, {} held, {errors} error(s)",
            &o.revision[..7],
            o.projects_rendered,
            o.projects_skipped,
            o.projects_held.len()
        );
        // Formatted only when info is logged.
        let stages = || {
            o.timings
                .stages()
                .map(|(n, d)| format!("{n} {d:.0?}"))
                .join(", ")
        };
        tracing::info!(took = ?started.elapsed(), stages = %stages(), "reconcile stages");
        for (c, co) in &o.clusters {
            match (&co.plan, &co.skipped) {
                (Some(p), _) => println!("  cluster {c}: {}", crate::report::plan::counts(p)),
                (None, Some(why)) => println!("  cluster {c}: skipped: {why}"),
                _ => {}
            }
        }
    }
    Ok(())
}

/// `message` with the credentials of the repository URL `repo` (`user:token@`), if it has
/// any, replaced by `***`: messages go to the log, the page and `/readyz`.
pub(super) fn redact(message: &str, repo: &str) -> String {
    let Some((scheme_end, at)) = repo.find("://").zip(repo.find('@')) else {
        return message.to_string();
    };
    match repo.get(scheme_end + 3..at) {
        Some(userinfo) if at > scheme_end && !userinfo.is_empty() => {
            message.replace(userinfo, "***")
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_of_the_repository_url_are_not_repeated() {
        let url = "https://bot:s3cr3t@git.example.com/acme/platform.git";
        let message = format!("cannot fetch main from {url}: 401");
        let redacted = redact(&message, url);
        assert!(!redacted.contains("s3cr3t"), "{redacted}");
        assert!(redacted.contains("https://***@git.example.com/acme/platform.git"));
        assert_eq!(redact("no url here", "/srv/platform"), "no url here");
    }

    #[test]
    fn durations_are_whole_seconds_of_at_least_one() {
        assert_eq!(
            duration("--interval", "5m").unwrap(),
            Duration::from_secs(300)
        );
        let zero = duration("--header-timeout", "0s").unwrap_err().to_string();
        assert!(
            zero.contains("--header-timeout `0s` is not a duration"),
            "{zero}"
        );
        assert!(duration("--interval", "soon").is_err());
    }
}
