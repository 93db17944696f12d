//! `cubist reconcile` and `cubist serve`: the GitOps loop, with the status page, `/healthz`,
//! `/readyz` and the GitHub webhook on one HTTP server.

use crate::reconcile::schedule::{self, Schedule};
use crate::reconcile::{Config, Reconciler, guard};
use crate::report::status_branch::{Author, read_status};
use crate::source::watch::{DEBOUNCE, DirectoryWatcher, watch_directory};
use anyhow::{Context, Result};
use chrono::Utc;
use cubist_status_ui::Liveness;
use cubist_status_ui::server::Limits;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock, mpsc};
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

/// Parses `--interval`.
fn interval(s: &str) -> Result<Duration> {
    duration("--interval", s)
}

/// Parses the duration `s` of the option `flag`: `60s`, `5m`, `1h`, at least one second.
fn duration(flag: &str, s: &str) -> Result<Duration> {
    match crate::render::duration_seconds(s) {
        Some(0) => anyhow::bail!("{flag} `{s}` must be at least 1s"),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => anyhow::bail!("{flag} `{s}` is not a duration like 30s, 5m or 1h"),
    }
}

/// `cubist reconcile`: the loop without a server.
pub(super) fn reconcile(args: LoopArgs) -> Result<ExitCode> {
    let cfg = config(&args)?;
    let (tx, rx) = mpsc::channel();
    let _watcher = watch(&args, tx)?;
    let liveness = Liveness::new(interval(&args.interval)?, Utc::now());
    run_loop(&args, cfg, rx, &liveness, |_| {}, |_| {})
}

/// Runs the loop: a pass at the interval or when nudged, backoff after failures (one
/// [`Schedule`]). Each pass is recorded in `liveness`; a panic in a pass is a failed pass (the
/// reconciler is opened again, as after a restart), never the end of the loop.
fn run_loop(
    args: &LoopArgs,
    cfg: Config,
    nudges: mpsc::Receiver<()>,
    liveness: &Liveness,
    mut on_ready: impl FnMut(&Reconciler),
    mut on_outcome: impl FnMut(&crate::reconcile::Outcome),
) -> Result<ExitCode> {
    let mut schedule = Schedule::new(interval(&args.interval)?);
    let mut reconciler: Option<Reconciler> = None;
    loop {
        let connected = reconciler.is_some();
        let pass =
            guard::catch(|| pass(args, &cfg, &mut reconciler, &mut on_ready, &mut on_outcome));
        let result = pass.unwrap_or_else(|panic| {
            reconciler = None;
            Err(anyhow::anyhow!("internal error (cubist panicked): {panic}"))
        });
        let wait = match result {
            Ok(()) => {
                liveness.pass_completed(Utc::now());
                schedule.succeeded()
            }
            Err(e) if args.once => {
                return if connected || reconciler.is_some() {
                    eprintln!("cubist: reconcile failed ({e:#})");
                    Ok(ExitCode::from(1))
                } else {
                    Err(e)
                };
            }
            Err(e) => {
                let wait = schedule.failed();
                let why = if reconciler.is_some() {
                    format!("reconcile failed: {e:#}")
                } else {
                    format!("the repository is not reachable yet: {e:#}")
                };
                let why = redact(&why, &cfg.repo);
                eprintln!(
                    "cubist: {why}; {}retrying in {}s",
                    if reconciler.is_some() {
                        "the last good state keeps serving; "
                    } else {
                        ""
                    },
                    wait.as_secs()
                );
                liveness.pass_failed(Utc::now(), &why);
                wait
            }
        };
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        schedule::wait(&nudges, wait);
    }
}

/// One pass: open the reconciler if it is not yet (fetching the repository for the first
/// time), commit the local directory again when authoring locally, poll, report.
fn pass(
    args: &LoopArgs,
    cfg: &Config,
    reconciler: &mut Option<Reconciler>,
    on_ready: &mut impl FnMut(&Reconciler),
    on_outcome: &mut impl FnMut(&crate::reconcile::Outcome),
) -> Result<()> {
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
            on_ready(r);
            if args.watch {
                println!(
                    "watching {}: snapshots and the status branch `{}` are in {}",
                    args.repo,
                    args.status_branch,
                    r.config().repo
                );
            }
            r
        }
    };
    if let Some(o) = r.poll()? {
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
fn redact(message: &str, repo: &str) -> String {
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

/// The status page's data: the status branch of the mirror, once the loop has opened it.
struct GitStatus {
    mirror: Arc<OnceLock<PathBuf>>,
    branch: String,
}

impl cubist_status_ui::StatusSource for GitStatus {
    fn load(&self) -> Result<cubist_status_ui::StatusTree> {
        let mirror = self
            .mirror
            .get()
            .context("the repository has not been fetched yet")?;
        let repo = git2::Repository::open_bare(mirror)?;
        Ok(cubist_status_ui::StatusTree::new(read_status(
            &repo,
            &self.branch,
        )?))
    }
}

/// Options of `cubist serve`'s HTTP server.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Time a client has to send a request's head (and, on a kept-alive connection, to start
    /// the next request) before the connection is closed.
    #[arg(long, default_value = "10s")]
    pub header_timeout: String,
    /// A connection on which nothing was read or written for this long is closed.
    #[arg(long, default_value = "60s")]
    pub idle_timeout: String,
    /// Connections served at once; more wait in the listen backlog until one closes.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

impl ServerArgs {
    fn limits(&self) -> Result<Limits> {
        Ok(Limits {
            header_timeout: duration("--header-timeout", &self.header_timeout)?,
            idle_timeout: duration("--idle-timeout", &self.idle_timeout)?,
            max_connections: self.max_connections as usize,
        })
    }
}

/// `cubist serve`: the loop plus the status page (and the webhook when a secret is set). The
/// server opens at once, before the repository was ever reached: the page and `/readyz` say
/// why the loop is not live.
pub(super) fn serve(args: LoopArgs, server: ServerArgs) -> Result<ExitCode> {
    let cfg = config(&args)?;
    let limits = server.limits()?;
    let liveness = Arc::new(Liveness::new(interval(&args.interval)?, Utc::now()));
    let (nudge_tx, nudge_rx) = mpsc::channel::<()>();
    let _watcher = watch(&args, nudge_tx.clone())?;
    let (reconciled_tx, reconciled_rx) = crate::review::reconciled_channel();
    let mirror = Arc::new(OnceLock::new());
    let rt = tokio::runtime::Runtime::new()?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&server.listen))
        .with_context(|| format!("cannot listen on {}", server.listen))?;
    let (loop_args, loop_cfg, loop_live, loop_mirror) =
        (args.clone(), cfg.clone(), liveness.clone(), mirror.clone());
    std::thread::spawn(move || {
        let ended = guard::catch(|| {
            run_loop(
                &loop_args,
                loop_cfg,
                nudge_rx,
                &loop_live,
                |r| {
                    let _ = loop_mirror.set(r.mirror().path().to_path_buf());
                },
                |o| reconciled_tx.send(o),
            )
        });
        let why = match ended {
            Ok(Ok(_)) => "it ended (--once)".to_string(),
            Ok(Err(e)) => format!("{e:#}"),
            Err(panic) => format!("it panicked: {panic}"),
        };
        eprintln!("cubist: the reconcile loop stopped: {why}");
        loop_live.stopped(Utc::now(), &why);
    });
    rt.block_on(async move {
        let mut app = cubist_status_ui::server::router_with_liveness(
            GitStatus {
                mirror,
                branch: args.status_branch.clone(),
            },
            liveness,
        );
        let secret = std::env::var("CUBIST_WEBHOOK_SECRET").ok();
        match cubist_webhook::WebhookConfig::from_secret(secret) {
            Ok(webhook) => {
                let (queue, events) = cubist_webhook::event_queue(256);
                app = app.merge(cubist_webhook::router(webhook, queue));
                // The repository the loop resolved (a plain directory becomes a local repo).
                let reviewer = crate::review::Reviewer::from_env(
                    &cfg.repo,
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
        println!("status page: http://{}/", listener.local_addr()?);
        cubist_status_ui::server::serve(listener, app, limits).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
