//! `cubist reconcile` and `cubist serve`: the GitOps loop, with the status page and the GitHub
//! webhook on one HTTP server.

use crate::reconcile::{Config, MAX_BACKOFF, Reconciler, backoff};
use crate::report::status_branch::{Author, read_status};
use crate::source::watch::{DEBOUNCE, DirectoryWatcher, watch_directory};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

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

fn cache_dir(args: &LoopArgs) -> PathBuf {
    super::cache_dir(args.cache_dir.as_deref())
}

/// Builds the loop's configuration; a plain directory becomes a local git repository.
fn config(args: &LoopArgs) -> Result<Config> {
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
    })
}

/// The working directory whose content is committed before each poll: `--repo` with `--watch`,
/// or a plain directory that is not a git repository.
fn local_authoring(args: &LoopArgs) -> Option<&Path> {
    let path = Path::new(&args.repo);
    (path.is_dir() && (args.watch || git2::Repository::open(path).is_err())).then_some(path)
}

/// With `--watch`, a watcher that nudges the loop after each burst of saves.
fn watch(args: &LoopArgs, nudge: mpsc::Sender<()>) -> Result<Option<DirectoryWatcher>> {
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

/// Parses `60s`, `5m`, `1h`.
fn interval(s: &str) -> Result<Duration> {
    crate::render::duration_seconds(s)
        .map(Duration::from_secs)
        .with_context(|| format!("--interval `{s}` is not a duration like 30s, 5m or 1h"))
}

/// `cubist reconcile`: the loop without a server.
pub(super) fn reconcile(args: LoopArgs) -> Result<ExitCode> {
    let (tx, rx) = mpsc::channel();
    let _watcher = watch(&args, tx)?;
    run_loop(&args, rx, |_| {}, |_| {})
}

/// Runs the loop: poll at the interval or when nudged; back off with jitter on failures.
fn run_loop(
    args: &LoopArgs,
    nudges: mpsc::Receiver<()>,
    mut on_ready: impl FnMut(&Reconciler),
    mut on_outcome: impl FnMut(&crate::reconcile::Outcome),
) -> Result<ExitCode> {
    let every = interval(&args.interval)?;
    let mut failures = 0;
    let mut reconciler = loop {
        match Reconciler::new(config(args)?) {
            Ok(r) => break r,
            Err(e) if !args.once => {
                failures += 1;
                let wait = backoff(failures, MAX_BACKOFF);
                eprintln!(
                    "cubist: cannot reach the repository ({e:#}); retrying in {}s",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
            }
            Err(e) => return Err(e),
        }
    };
    on_ready(&reconciler);
    if args.watch {
        println!(
            "watching {}: snapshots and the status branch `{}` are in {}",
            args.repo,
            args.status_branch,
            reconciler.config().repo
        );
    }
    failures = 0;
    let local = local_authoring(args).filter(|_| !args.once);
    loop {
        if let Some(dir) = local {
            // Local authoring: commit the directory again if it changed.
            if let Err(e) =
                crate::source::local::commit_directory(dir, &cache_dir(args), &args.branch)
            {
                eprintln!("cubist: {e:#}");
            }
        }
        let wait = match reconciler.poll() {
            Ok(Some(o)) => {
                on_outcome(&o);
                let errors = o.diagnostics.iter().filter(|d| d.is_error()).count();
                println!(
                    "reconciled {} : {} rendered, {} skipped, {} held, {errors} error(s)",
                    &o.revision[..7],
                    o.projects_rendered,
                    o.projects_skipped,
                    o.projects_held.len()
                );
                for (c, co) in &o.clusters {
                    match (&co.plan, &co.skipped) {
                        (Some(p), _) => {
                            println!("  cluster {c}: {}", crate::report::plan::counts(p))
                        }
                        (None, Some(why)) => println!("  cluster {c}: skipped: {why}"),
                        _ => {}
                    }
                }
                failures = 0;
                every
            }
            Ok(None) => every,
            Err(e) => {
                failures += 1;
                let w = backoff(failures, MAX_BACKOFF);
                eprintln!(
                    "cubist: reconcile failed ({e:#}); the last good state keeps serving; retrying in {}s",
                    w.as_secs()
                );
                if args.once {
                    return Ok(ExitCode::from(1));
                }
                w
            }
        };
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        // A nudge (webhook push) wakes the loop early; bursts coalesce into one poll.
        if nudges.recv_timeout(wait).is_ok() {
            while nudges.try_recv().is_ok() {}
        }
    }
}

/// The status page's data: the status branch of the mirror.
struct GitStatus {
    mirror: PathBuf,
    branch: String,
}

impl cubist_status_ui::StatusSource for GitStatus {
    fn load(&self) -> Result<cubist_status_ui::StatusTree> {
        let repo = git2::Repository::open_bare(&self.mirror)?;
        Ok(cubist_status_ui::StatusTree::new(read_status(
            &repo,
            &self.branch,
        )?))
    }
}

/// `cubist serve`: the loop plus the status page (and the webhook when a secret is set).
pub(super) fn serve(args: LoopArgs, listen: String) -> Result<ExitCode> {
    let (nudge_tx, nudge_rx) = mpsc::channel::<()>();
    let _watcher = watch(&args, nudge_tx.clone())?;
    let (ready_tx, ready_rx) = mpsc::channel::<(PathBuf, String)>();
    let (reconciled_tx, reconciled_rx) = crate::review::reconciled_channel();
    let loop_args = args.clone();
    let looper = std::thread::spawn(move || {
        run_loop(
            &loop_args,
            nudge_rx,
            |r| {
                let _ = ready_tx.send((r.mirror().path().to_path_buf(), r.config().repo.clone()));
            },
            |o| reconciled_tx.send(o),
        )
    });
    let (mirror, repo_url) = ready_rx
        .recv()
        .map_err(|_| anyhow::anyhow!("the reconcile loop stopped before it started"))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut app = cubist_status_ui::router(GitStatus {
            mirror,
            branch: args.status_branch.clone(),
        });
        let secret = std::env::var("CUBIST_WEBHOOK_SECRET").ok();
        match cubist_webhook::WebhookConfig::from_secret(secret) {
            Ok(cfg) => {
                let (queue, events) = cubist_webhook::event_queue(256);
                app = app.merge(cubist_webhook::router(cfg, queue));
                // The repository the loop resolved (a plain directory becomes a local repo).
                let reviewer = crate::review::Reviewer::from_env(
                    &repo_url,
                    &args.branch,
                    cache_dir(&args).join("review"),
                )
                .unwrap_or_else(|e| {
                    eprintln!("cubist: pull request review disabled: {e:#}");
                    None
                });
                if reviewer.is_some() {
                    println!("pull request review: on");
                }
                tokio::spawn(crate::review::run(
                    events,
                    reconciled_rx,
                    reviewer,
                    args.branch.clone(),
                    move || {
                        let _ = nudge_tx.send(());
                    },
                ));
                println!("webhook: POST /hooks/github");
            }
            Err(e) => println!("{e}"),
        }
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!("status page: http://{}/", listener.local_addr()?);
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })?;
    looper
        .join()
        .map_err(|_| anyhow::anyhow!("reconcile loop panicked"))?
}
