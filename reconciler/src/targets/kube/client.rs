//! Building a kube client for one cluster from a kubeconfig, with a request counter layer.

use super::KubeError;
use ::kube::client::{Body, ClientBuilder};
use ::kube::config::{Config, KubeConfigOptions, Kubeconfig};
use http::{Method, Request};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
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

/// The environment variable naming the directory kubeconfigs a repository names are read
/// from. Unset, a cluster that names a kubeconfig is not configured.
pub const KUBECONFIG_DIR_ENV: &str = "CUBIST_KUBECONFIG_DIR";

/// The relative path a cluster's `kubeconfig` names inside the kubeconfig directory, or why it
/// is refused: absolute, `~`, `.` or `..` would let a repository name any file of the host.
pub fn kubeconfig_name(name: &str) -> Result<PathBuf, String> {
    let fix = "name a file inside the kubeconfig directory, such as `prod-bj.yaml`";
    if name.starts_with('~') {
        return Err(format!("kubeconfig `{name}` names a home directory: {fix}"));
    }
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            std::path::Component::Normal(p) => out.push(p),
            _ => {
                return Err(format!(
                    "kubeconfig `{name}` is not a plain path inside the kubeconfig directory (absolute, `.` or `..`): {fix}"
                ));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(format!("kubeconfig `{name}` names no file: {fix}"));
    }
    Ok(out)
}

/// The kubeconfig file a cluster names, in the directory of [`KUBECONFIG_DIR_ENV`]; without
/// that directory, or without the file in it, the cluster is not configured.
pub fn cluster_kubeconfig(cluster: &str, name: &str) -> Result<PathBuf, KubeError> {
    let not_configured = |message: String| KubeError::NotConfigured {
        cluster: cluster.to_string(),
        message,
    };
    let rel = kubeconfig_name(name).map_err(not_configured)?;
    let Some(dir) = std::env::var_os(KUBECONFIG_DIR_ENV).filter(|d| !d.is_empty()) else {
        return Err(not_configured(format!(
            "its kubeconfig `{name}` is read from the kubeconfig directory, and none is set: set {KUBECONFIG_DIR_ENV} to the directory holding `{name}`"
        )));
    };
    let path = Path::new(&dir).join(rel);
    if !path.is_file() {
        return Err(not_configured(format!(
            "there is no kubeconfig `{name}` in {} ({KUBECONFIG_DIR_ENV}): put the cluster's kubeconfig there",
            Path::new(&dir).display()
        )));
    }
    Ok(path)
}

/// Loads the client configuration: the given kubeconfig, else `$KUBECONFIG` / `~/.kube/config`,
/// else the in-cluster service account. Returns it with the context name used. No error quotes
/// a kubeconfig's content (it holds credentials): only its path, and the context's name.
pub async fn load_config(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<(Config, String), KubeError> {
    let label = context.unwrap_or("current context").to_string();
    let config_err = |message: String| KubeError::Config {
        cluster: label.clone(),
        message,
    };
    let invalid = |path: &Path| {
        config_err(format!(
            "{} is not a valid kubeconfig (a YAML file with clusters, contexts and users): replace it",
            path.display()
        ))
    };
    let found = match kubeconfig {
        Some(path) => {
            let path = expand_tilde(path);
            match Kubeconfig::read_from(&path) {
                Ok(kc) => Some((kc, path)),
                Err(_) if !path.is_file() => {
                    return Err(KubeError::NotConfigured {
                        cluster: label.clone(),
                        message: format!("there is no kubeconfig at {}", path.display()),
                    });
                }
                Err(_) => return Err(invalid(&path)),
            }
        }
        None => default_kubeconfig().map_err(|path| invalid(&path))?,
    };
    let (mut config, name) = match found {
        Some((kc, path)) => {
            let name = context
                .map(str::to_string)
                .or_else(|| kc.current_context.clone())
                .unwrap_or_else(|| "default".into());
            let known = kc.contexts.iter().any(|c| c.name == name);
            let options = KubeConfigOptions {
                context: context.map(str::to_string),
                ..Default::default()
            };
            let config = Config::from_custom_kubeconfig(kc, &options).await.map_err(|_| {
                config_err(if known {
                    format!("the context `{name}` of kubeconfig {} cannot be used (a cluster, user or credential it names is missing or invalid): check the file", path.display())
                } else {
                    format!("kubeconfig {} has no context `{name}`: add it, or name another context", path.display())
                })
            })?;
            (config, name)
        }
        None if context.is_none() => match Config::incluster() {
            Ok(config) => (config, "in-cluster".into()),
            Err(_) => {
                return Err(KubeError::NotConfigured {
                    cluster: label,
                    message: "no kubeconfig ($KUBECONFIG, ~/.kube/config) and not running in a cluster: name a kubeconfig in the cluster's spec and set CUBIST_KUBECONFIG_DIR".into(),
                });
            }
        },
        None => {
            return Err(KubeError::NotConfigured {
                cluster: label,
                message: "no kubeconfig ($KUBECONFIG, ~/.kube/config) to find the context in: name a kubeconfig in the cluster's spec and set CUBIST_KUBECONFIG_DIR".into(),
            });
        }
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    Ok((config, name))
}

/// The operator's default kubeconfig (`$KUBECONFIG`'s first file, else `~/.kube/config`) with
/// its path; `None` when there is none; the path when it is not a valid kubeconfig.
fn default_kubeconfig() -> Result<Option<(Kubeconfig, PathBuf)>, PathBuf> {
    let path = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list).next().unwrap_or_default(),
        None => expand_tilde(Path::new("~/.kube/config")),
    };
    if !path.is_file() {
        return Ok(None);
    }
    Kubeconfig::read_from(&path)
        .map(|kc| Some((kc, path.clone())))
        .map_err(|_| path)
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

/// Shared counters behind [`RequestCounts`], and the requests in flight (sent, no answer yet).
#[derive(Debug, Default)]
pub struct Counters {
    reads: AtomicU64,
    dry_runs: AtomicU64,
    writes: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
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

    /// The most requests in flight at once since the last call (or since the client was
    /// built); starts the next period at the number in flight now.
    pub fn take_peak_in_flight(&self) -> u64 {
        let now = self.in_flight.load(Ordering::SeqCst);
        self.peak_in_flight.swap(now, Ordering::SeqCst)
    }

    /// One more request in flight until the returned guard is dropped.
    fn start(self: &Arc<Self>) -> InFlightGuard {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }
}

/// A request in flight; dropped when its answer (or error) arrives, or when it is abandoned.
#[derive(Debug)]
struct InFlightGuard(Arc<Counters>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
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
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        self.counts.count(req.method(), req.uri().query());
        let guard = self.counts.start();
        Counted {
            inner: self.inner.call(req),
            in_flight: Some(guard),
        }
    }
}

/// The answer of a counted request: in flight until it resolves or is dropped.
pub struct Counted<F> {
    inner: F,
    in_flight: Option<InFlightGuard>,
}

impl<F: Future + Unpin> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = Pin::new(&mut self.inner).poll(cx);
        if out.is_ready() {
            // Answered: no longer in flight, even if the caller keeps this future.
            self.in_flight = None;
        }
        out
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
    fn a_kubeconfig_is_a_plain_name_inside_the_kubeconfig_directory() {
        assert_eq!(
            kubeconfig_name("prod/bj.yaml"),
            Ok(PathBuf::from("prod/bj.yaml"))
        );
        for bad in [
            "/etc/shadow",
            "~/.kube/config",
            "../x",
            "a/../../x",
            "./x",
            ".",
        ] {
            assert!(kubeconfig_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_invalid_kubeconfig_is_named_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kc");
        std::fs::write(&path, "clusters: \"ghp_FAKE_TOKEN_0123\"\n").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt
            .block_on(load_config(Some(&path), Some("x")))
            .err()
            .expect("an error");
        let text = err.to_string();
        assert!(text.contains("not a valid kubeconfig"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(!text.contains("ghp_FAKE"), "{text}");
        let text = format!("{err:?}");
        assert!(!text.contains("ghp_FAKE"), "{text}");
    }

    #[test]
    fn peak_in_flight_counts_requests_not_answered_yet() {
        let c = Arc::new(Counters::default());
        let (a, b) = (c.start(), c.start());
        drop(a);
        let d = c.start();
        assert_eq!(c.take_peak_in_flight(), 2);
        // The next period starts at the two still in flight.
        drop((b, d));
        assert_eq!(c.take_peak_in_flight(), 2);
        assert_eq!(c.take_peak_in_flight(), 0);
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
