//! `cubist serve`: the reconcile loop on its own thread, and one HTTP server for the status
//! page, `/healthz`, `/readyz`, `/metrics` and the GitHub webhook. The server opens at once,
//! before the repository was ever reached, and serves within limits (header-read and idle
//! timeouts, a connection cap).

use super::serve::{
    Control, LoopArgs, cache_dir, config, duration, interval, redact, run_loop, watch,
};
use crate::reconcile::guard;
use crate::report::status_read::StatusReader;
use anyhow::{Context, Result};
use chrono::Utc;
use cubist_status_ui::Liveness;
use cubist_status_ui::server::Limits;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

/// The status page's data: the status branch of the mirror, once the loop has opened it. Each
/// status commit is read once (see [`StatusReader`]); requests until the next one share it.
struct GitStatus {
    mirror: Arc<OnceLock<PathBuf>>,
    branch: String,
    /// The mirror, opened at the first request, and the reader.
    read: Mutex<(Option<git2::Repository>, StatusReader)>,
}

impl cubist_status_ui::StatusSource for GitStatus {
    fn load(&self) -> Result<Arc<cubist_status_ui::StatusTree>> {
        let mirror = self
            .mirror
            .get()
            .context("the repository has not been fetched yet")?;
        // A request that panicked while reading left at worst a reader to start over.
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let (repo, reader) = &mut *read;
        let repo = match repo {
            Some(repo) => repo,
            None => repo.insert(git2::Repository::open_bare(mirror)?),
        };
        reader.read_branch(repo, &self.branch)
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
    /// Several replicas: leader election and cluster sharding with Leases.
    #[command(flatten)]
    pub lease: crate::lease::LeaseArgs,
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
    let metrics = crate::metrics::Metrics::new();
    let cfg = crate::reconcile::Config {
        metrics: Some(metrics.clone()),
        ..config(&args)?
    };
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
    let control = Control {
        replica: super::replicas::start(&rt, &server.lease, nudge_tx.clone())?,
        ..Control::default()
    };
    if let Some(replica) = &control.replica {
        liveness.set_role(replica.clone());
    }
    let (loop_args, loop_cfg, loop_live, loop_mirror, loop_control) = (
        args.clone(),
        cfg.clone(),
        liveness.clone(),
        mirror.clone(),
        control.clone(),
    );
    let loop_cfg_repo = cfg.repo.clone();
    let sharded = control.replica.is_some();
    let (loop_done_tx, loop_done) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let ended = guard::catch(|| {
            run_loop(
                &loop_args,
                loop_cfg,
                nudge_rx,
                &loop_live,
                &loop_control,
                |r| {
                    let _ = loop_mirror.set(r.mirror().path().to_path_buf());
                },
                |o| {
                    // Shared clusters: no replica sees every cluster's result, so none comments.
                    if !sharded {
                        reconciled_tx.send(o)
                    }
                },
            )
        });
        let why = match ended {
            Ok(Ok(_)) if loop_control.stop.load(std::sync::atomic::Ordering::SeqCst) => {
                "cubist is shutting down".to_string()
            }
            Ok(Ok(_)) => "it ended (--once)".to_string(),
            Ok(Err(e)) => redact(&format!("{e:#}"), &loop_cfg_repo),
            Err(panic) => format!("it panicked: {panic}"),
        };
        eprintln!("cubist: the reconcile loop stopped: {why}");
        loop_live.stopped(Utc::now(), &why);
        let _ = loop_done_tx.send(());
    });
    let stop_nudge = nudge_tx.clone();
    rt.block_on(async move {
        let mut app = cubist_status_ui::server::router_with_liveness(
            GitStatus {
                mirror,
                branch: args.status_branch.clone(),
                read: Mutex::default(),
            },
            liveness,
        )
        .merge(crate::metrics::router(metrics.clone()));
        let secret = std::env::var("CUBIST_WEBHOOK_SECRET").ok();
        match cubist_webhook::WebhookConfig::from_secret(secret) {
            Ok(webhook) => {
                let webhook = webhook.with_observer(metrics.delivery_observer());
                let (queue, events) = cubist_webhook::event_queue(256);
                app = app.merge(cubist_webhook::router(webhook, queue));
                // The repository the loop resolved (a plain directory becomes a local repo).
                let reviewer = crate::review::Reviewer::from_env(
                    &cfg.repo,
                    &args.branch,
                    cache_dir(&args).join("review"),
                )
                .map(|r| r.map(|r| r.with_status_branch(&args.status_branch)))
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
                    Some(metrics),
                ));
                println!("webhook: POST /hooks/github");
            }
            Err(e) => println!("{e}"),
        }
        println!("status page: http://{}/", listener.local_addr()?);
        tokio::select! {
            served = cubist_status_ui::server::serve(listener, app, limits) => served?,
            () = super::replicas::shutdown(&control, stop_nudge, loop_done) => {}
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
