//! Building a kube client for one cluster from a kubeconfig, with a request counter layer.

use super::KubeError;
use ::kube::client::{Body, ClientBuilder};
use ::kube::config::{Config, KubeConfigOptions, Kubeconfig};
use http::{Method, Request};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a TCP + TLS connect may take before the cluster counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server may take to answer one request (a 3 MB CRD apply takes about 1 s).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Installs rustls' ring provider as the process default (once; a no-op when one is set).
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `~` and `~/…` expanded against `$HOME`.
pub fn expand_tilde(path: &Path) -> PathBuf {
    let Some(s) = path.to_str() else {
        return path.to_path_buf();
    };
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    match s.strip_prefix('~') {
        Some("") => home().unwrap_or_else(|| path.to_path_buf()),
        Some(rest) if rest.starts_with('/') => home()
            .map(|h| h.join(&rest[1..]))
            .unwrap_or_else(|| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// Loads the client configuration: the given kubeconfig, else `$KUBECONFIG` / `~/.kube/config`,
/// else the in-cluster service account. Returns it with the context name used.
pub async fn load_config(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<(Config, String), KubeError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let label = context.unwrap_or("current context").to_string();
    let config_err = |message: String| KubeError::Config {
        cluster: label.clone(),
        message,
    };
    let (mut config, name) = match kubeconfig {
        Some(path) => {
            let path = expand_tilde(path);
            let kc = Kubeconfig::read_from(&path).map_err(|e| {
                config_err(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            let name = context
                .map(str::to_string)
                .or_else(|| kc.current_context.clone())
                .unwrap_or_else(|| "default".into());
            let config = Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| config_err(format!("kubeconfig {}: {e}", path.display())))?;
            (config, name)
        }
        None if context.is_some() => {
            let config = Config::from_kubeconfig(&options)
                .await
                .map_err(|e| config_err(format!("kubeconfig: {e}")))?;
            (config, label.clone())
        }
        None => {
            let name = Kubeconfig::read()
                .ok()
                .and_then(|k| k.current_context)
                .unwrap_or_else(|| "in-cluster".into());
            let config = Config::infer()
                .await
                .map_err(|e| config_err(format!("no kubeconfig and not in a cluster: {e}")))?;
            (config, name)
        }
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    Ok((config, name))
}

/// The configuration of the pod cubist runs in: the API server of `KUBERNETES_SERVICE_HOST`
/// and `KUBERNETES_SERVICE_PORT`, the service account's token and CA certificate.
pub fn in_cluster_config(cluster: &str) -> Result<Config, KubeError> {
    let mut config = Config::incluster().map_err(|e| KubeError::Config {
        cluster: cluster.to_string(),
        message: format!(
            "inCluster: true, but cubist does not run in a Kubernetes pod with a service \
             account ({e}); run it in the cluster (deploy/) or give a kubeconfig instead"
        ),
    })?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    Ok(config)
}

/// Builds a client from a configuration, counting requests into `counts`.
pub fn build_client(
    config: Config,
    counts: Arc<Counters>,
    cluster: &str,
) -> Result<::kube::Client, KubeError> {
    install_crypto_provider();
    let builder = ClientBuilder::try_from(config).map_err(|e| KubeError::Config {
        cluster: cluster.to_string(),
        message: e.to_string(),
    })?;
    Ok(builder.with_layer(&CountLayer(counts)).build())
}

/// Requests sent to a cluster, by kind (cumulative since the target was built).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// GET (get, list, discovery).
    pub reads: u64,
    /// Server-side dry-runs (`dryRun=All`): never persisted.
    pub dry_runs: u64,
    /// Writes: create, apply, update, patch, delete without dry-run.
    pub writes: u64,
}

impl std::ops::Sub for RequestCounts {
    type Output = RequestCounts;
    fn sub(self, o: RequestCounts) -> RequestCounts {
        RequestCounts {
            reads: self.reads - o.reads,
            dry_runs: self.dry_runs - o.dry_runs,
            writes: self.writes - o.writes,
        }
    }
}

/// Shared counters behind [`RequestCounts`].
#[derive(Debug, Default)]
pub struct Counters {
    reads: AtomicU64,
    dry_runs: AtomicU64,
    writes: AtomicU64,
}

impl Counters {
    /// A snapshot.
    pub fn get(&self) -> RequestCounts {
        RequestCounts {
            reads: self.reads.load(Ordering::Relaxed),
            dry_runs: self.dry_runs.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    fn count(&self, method: &Method, query: Option<&str>) {
        let counter = if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            &self.reads
        } else if query.is_some_and(|q| q.split('&').any(|p| p == "dryRun=All")) {
            &self.dry_runs
        } else {
            &self.writes
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Tower layer counting every request that leaves the client.
#[derive(Clone)]
pub struct CountLayer(pub Arc<Counters>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = CountService<S>;
    fn layer(&self, inner: S) -> CountService<S> {
        CountService {
            inner,
            counts: self.0.clone(),
        }
    }
}

/// Service of [`CountLayer`].
#[derive(Clone)]
pub struct CountService<S> {
    inner: S,
    counts: Arc<Counters>,
}

impl<S> tower::Service<Request<Body>> for CountService<S>
where
    S: tower::Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        self.counts.count(req.method(), req.uri().query());
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_expands_against_home() {
        let home = std::env::var("HOME").unwrap();
        assert_eq!(
            expand_tilde(Path::new("~/.kube/config")),
            Path::new(&home).join(".kube/config")
        );
        assert_eq!(expand_tilde(Path::new("/etc/kube")), Path::new("/etc/kube"));
        assert_eq!(expand_tilde(Path::new("~other/x")), Path::new("~other/x"));
    }

    /// Outside a pod (no `KUBERNETES_SERVICE_HOST`), `inCluster: true` says why it cannot be
    /// used and what to do instead, rather than fall back to a kubeconfig.
    #[test]
    fn in_cluster_outside_a_pod_is_an_error_naming_the_cluster() {
        match in_cluster_config("prod") {
            Err(e) => {
                let e = e.to_string();
                assert!(e.starts_with("cluster prod: inCluster: true, but"), "{e}");
                assert!(e.contains("give a kubeconfig instead"), "{e}");
            }
            Ok(c) => assert!(
                std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
                "in-cluster configuration outside a pod: {}",
                c.cluster_url
            ),
        }
    }

    #[test]
    fn counts_dry_runs_apart_from_writes() {
        let c = Counters::default();
        c.count(&Method::GET, None);
        c.count(&Method::PATCH, Some("fieldManager=cubist&dryRun=All"));
        c.count(&Method::PATCH, Some("fieldManager=cubist"));
        c.count(&Method::DELETE, None);
        assert_eq!(
            c.get(),
            RequestCounts {
                reads: 1,
                dry_runs: 1,
                writes: 2
            }
        );
    }
}
