//! kube-local: a real Kubernetes API server (apiextensions-apiserver + etcd, CRDs only) for
//! tests, started from the kit in `tests/kube-local`, with the upstream CRDs of every engine
//! ([`crate::reference::crds`]) installed.

use cubist::render::ObjectKey;
use cubist::targets::kube::KubeTarget;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The kit's scripts (`tests/kube-local`).
pub fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kube-local")
}

/// The kube-local cache the build found (`~/.cache/kube-local` unless `KUBE_LOCAL_CACHE` was
/// set when the tests were built). Tests that need it carry
/// `#[cfg_attr(not(has_kube_local), ignore = "…")]`.
pub fn cache() -> &'static Path {
    Path::new(env!("KUBE_LOCAL_CACHE"))
}

/// The built API server.
pub fn apiserver_binary() -> PathBuf {
    cache().join("bin/kube-local-apiserver")
}

/// Points examples-repo's `prod-bj` cluster file at `server`: its `kubeconfig` becomes the
/// server's kubeconfig file name, and `CUBIST_KUBECONFIG_DIR` (the directory the operator sets,
/// read by every reconcile of this process) the server's directory.
pub fn point_prod_bj_at(cluster_file: &Path, server: &Server) {
    crate::repo::edit(
        cluster_file,
        "kubeconfig: prod-bj.yaml\n      context: prod-bj",
        &format!(
            "kubeconfig: {}",
            server.kubeconfig.file_name().unwrap().to_str().unwrap()
        ),
    );
    // SAFETY: every caller sets the same value, once per test process, and no other thread of
    // these tests writes the environment.
    unsafe { std::env::set_var("CUBIST_KUBECONFIG_DIR", server.kubeconfig.parent().unwrap()) };
}

/// One running kube-local: its state directory and kubeconfig.
pub struct Server {
    /// State directory (etcd data, certificates).
    pub dir: PathBuf,
    /// Kubeconfig for the server.
    pub kubeconfig: PathBuf,
}

impl Server {
    /// Starts a server in `dir` (a new one when `None`), and a reaper that stops it and deletes
    /// its state when this test process exits, however it exits. The reaper outlives this
    /// process on purpose: it is never waited for.
    #[allow(clippy::zombie_processes)]
    pub fn start(dir: Option<&Path>) -> Server {
        let server = Server::run_start(dir);
        let script = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; '{}' '{}' --rm",
            std::process::id(),
            kit().join("stop.sh").display(),
            server.dir.display()
        );
        Command::new("bash")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn reaper");
        server
    }

    fn run_start(dir: Option<&Path>) -> Server {
        assert!(
            apiserver_binary().exists(),
            "{} is missing: run `bash tests/kube-local/setup.sh`",
            apiserver_binary().display()
        );
        let mut cmd = Command::new(kit().join("start.sh"));
        cmd.env("KUBE_LOCAL_CACHE", cache());
        if let Some(d) = dir {
            cmd.arg(d);
        }
        let out = cmd.output().expect("run start.sh");
        assert!(
            out.status.success(),
            "start.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kubeconfig = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        Server {
            dir: kubeconfig.parent().unwrap().to_path_buf(),
            kubeconfig,
        }
    }

    /// Stops the server, keeping its state.
    pub fn stop(&self) {
        let out = Command::new(kit().join("stop.sh"))
            .arg(&self.dir)
            .output()
            .expect("run stop.sh");
        assert!(out.status.success());
    }

    /// Starts the server again on the same state (etcd data kept, same ports when free).
    pub fn restart(&self) -> Server {
        Server::run_start(Some(&self.dir))
    }

    /// A Kubernetes target named `name` connected to this server.
    pub async fn target(&self, name: &str) -> KubeTarget {
        KubeTarget::connect(Some(&self.kubeconfig), None)
            .await
            .expect("connect")
            .named(name)
    }
}

/// A new server with every reference CRD installed, a runtime, and a client of it (through a
/// target named `cluster`).
pub fn with_crds(cluster: &str) -> (Server, tokio::runtime::Runtime, kube::Client) {
    let server = Server::start(None);
    let rt = runtime();
    let client = rt.block_on(async {
        let t = server.target(cluster).await;
        install_crds(t.client(), &[]).await;
        t.client().clone()
    });
    (server, rt, client)
}

/// The server shared by this file's tests, with every reference CRD installed.
pub fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let started = Instant::now();
        let (server, _, _) = with_crds("local");
        eprintln!(
            "kube-local at {} ready with CRDs in {:?}",
            server.dir.display(),
            started.elapsed()
        );
        server
    })
}

/// Runs a test's body on a new runtime with a target named `local` on the [`shared`] server.
pub fn on_shared_server<F, Fut>(test: F)
where
    F: FnOnce(KubeTarget) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let server = shared();
    runtime().block_on(async { test(server.target("local").await).await });
}

/// A two-thread tokio runtime for a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The CustomResourceDefinition resource.
pub fn crd_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    )
}

/// True when a CRD's Established condition is True.
pub fn established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

/// Installs reference CRDs with server-side apply (three at a time) and waits until they are
/// Established and discovery lists each served version's resource (the API server updates
/// discovery on its own after Established: a target resolving kinds in between would find
/// them not served).
pub async fn install_crds(client: &kube::Client, only: &[&str]) {
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &crd_resource());
    let all = crate::reference::crds(only);
    assert!(!all.is_empty());
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(3));
    let mut tasks = tokio::task::JoinSet::new();
    for crd in all {
        let (crds, slots) = (crds.clone(), slots.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            let name = crd
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap()
                .to_string();
            let pp = PatchParams::apply("cubist-tests").force();
            let live = crds
                .patch(&name, &pp, &Patch::Apply(&crd))
                .await
                .unwrap_or_else(|e| panic!("install CRD {name}: {e}"));
            (name, serde_json::to_value(live).unwrap())
        });
    }
    for (name, crd) in tasks.join_all().await {
        if !established(&crd) {
            wait_until(Duration::from_secs(60), || async {
                established(&serde_json::to_value(crds.get(&name).await.unwrap()).unwrap())
            })
            .await;
        }
        let group = crd["spec"]["group"].as_str().unwrap().to_string();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap().to_string();
        let served: Vec<String> = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["served"] == true)
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        for version in served {
            let gv = format!("{group}/{version}");
            wait_until(Duration::from_secs(60), || async {
                client
                    .list_api_group_resources(&gv)
                    .await
                    .is_ok_and(|l| l.resources.iter().any(|r| r.name == plural))
            })
            .await;
        }
    }
}

/// Polls `f` every 100 ms until it is true; panics after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "condition not met after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The dynamic API of a live object's kind.
pub async fn dynamic(client: &kube::Client, key: &ObjectKey) -> Api<DynamicObject> {
    let (group, version) = key
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", &key.api_version));
    let (ar, _) =
        kube::discovery::pinned_kind(client, &GroupVersionKind::gvk(group, version, &key.kind))
            .await
            .expect("kind served");
    Api::namespaced_with(client.clone(), &key.namespace, &ar)
}

/// A live object as JSON, `None` when absent.
pub async fn get(client: &kube::Client, key: &ObjectKey) -> Option<Value> {
    dynamic(client, key)
        .await
        .get_opt(&key.name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}
