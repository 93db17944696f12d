//! `cubist serve` as one of several replicas (`--lease-namespace`), and its shutdown on
//! SIGTERM or SIGINT: the running pass finishes (its status commit included), the Leases are
//! released so that the other replicas take over at once, and the process exits 0.

use super::serve::Control;
use crate::lease::client::LeaseClient;
use crate::lease::{LeaseArgs, Replica};
use crate::targets::kube::KubeTarget;
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Starts the Lease driver on `rt` when `--lease-namespace` is set; `nudge` wakes the loop
/// when the clusters this replica owns change. `None`: the process is alone.
pub(super) fn start(
    rt: &tokio::runtime::Runtime,
    args: &LeaseArgs,
    nudge: mpsc::Sender<()>,
) -> Result<Option<Arc<Replica>>> {
    let Some(namespace) = args.namespace() else {
        return Ok(None);
    };
    let timing = args.timing()?;
    let identity = args.identity();
    let target = rt
        .block_on(async {
            match args.kubeconfig() {
                Some(k) => KubeTarget::connect(Some(&k), None).await,
                None => KubeTarget::in_cluster("leases"),
            }
        })
        .map_err(anyhow::Error::from)
        .context("cannot set up the client for the Leases (--lease-kubeconfig, or in-cluster)")?;
    let client = LeaseClient::new(
        target.client().clone(),
        &namespace,
        &identity,
        timing.duration,
    );
    let replica = Replica::new(identity);
    println!(
        "replicas: Leases in namespace {namespace} as {} (duration {}s, renew deadline {}s, retry {}s)",
        replica.identity(),
        timing.duration.as_secs(),
        timing.renew_deadline.as_secs(),
        timing.retry.as_secs()
    );
    rt.spawn(crate::lease::run(
        client,
        replica.clone(),
        args.lease_prefix.clone(),
        timing,
        move || {
            let _ = nudge.send(());
        },
    ));
    Ok(Some(replica))
}

/// Waits for SIGTERM or SIGINT, then stops the loop after its running pass, waits for it, and
/// releases the Leases (at most 30 s for the release).
pub(super) async fn shutdown(
    control: &Control,
    nudge: mpsc::Sender<()>,
    loop_done: tokio::sync::oneshot::Receiver<()>,
) {
    signal().await;
    request_stop(&control.stop, &nudge);
    let _ = loop_done.await;
    if let Some(replica) = &control.replica {
        replica.stop();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !replica.released() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!("cubist: stopped");
}

/// On SIGTERM or SIGINT, asks the loop (without a server or Leases) to stop after its running
/// pass: a thread with its own small runtime waits for the signal, then sets the stop flag and
/// nudges the loop out of its wait.
pub(super) fn stop_on_signal(control: &Control, nudge: mpsc::Sender<()>) -> anyhow::Result<()> {
    let stop = control.stop.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    std::thread::Builder::new()
        .name("cubist-signal".into())
        .spawn(move || {
            runtime.block_on(signal());
            request_stop(&stop, &nudge);
        })?;
    Ok(())
}

/// Asks the loop to stop after its running pass, and nudges it out of a wait between passes.
fn request_stop(stop: &AtomicBool, nudge: &mpsc::Sender<()>) {
    println!("cubist: stopping: the running pass finishes first");
    stop.store(true, Ordering::SeqCst);
    let _ = nudge.send(());
}

/// SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C).
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
