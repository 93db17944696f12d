//! Applying 1,000 CronWorkflows to a fresh kube-local API server: cubist's Kubernetes target as
//! the reconcile loop drives it (`plan_and_apply`) against `kubectl apply --server-side
//! --validate=false -f DIR` (kubectl's fastest setting) on the same files, each on a fresh
//! server, with the same objects as the result; then a no-change re-apply (time and write
//! requests). Prints the ratio (goal: kubectl takes at least 4× cubist's time), the CPU time of
//! each side (the client's, and the API server's + etcd's), the most requests cubist had in
//! flight, and the bound the server's CPU sets: with every core busy, cubist's apply still takes
//! (server CPU + cubist CPU) / cores.
//!
//! `cargo bench --workspace --bench kube_apply` (needs `tests/kube-local/setup.sh` to have run
//! and /usr/bin/kubectl; prints a notice and exits 0 otherwise). `KUBE_APPLY_N` changes the
//! count, `KUBE_APPLY_CONCURRENCY` cubist's requests in flight.

use cubist::render::hash::content_hash;
use cubist::render::{HASH_ANNOTATION, MANAGED_BY, PROJECT_LABEL, RenderedObject, RenderedSet};
use cubist::targets::Action;
use cubist::targets::kube::{KubeOptions, KubeTarget};
use cubist_status_ui::doc::Inventory;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CRD_FILE: &str = "argoproj.io_cronworkflows.yaml";
const KUBECTL: &str = "/usr/bin/kubectl";

fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kube-local")
}

fn crd_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/crds")
        .join(CRD_FILE)
}

/// A kube-local server, stopped and deleted on drop.
struct Server {
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl Server {
    fn start() -> Server {
        let out = Command::new(kit().join("start.sh"))
            .output()
            .expect("start.sh");
        assert!(
            out.status.success(),
            "start.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kubeconfig = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        Server {
            dir: kubeconfig.parent().unwrap().to_path_buf(),
            kubeconfig,
        }
    }
}

impl Server {
    /// CPU seconds the API server and etcd have used so far.
    fn cpu(&self) -> f64 {
        ["apiserver.pid", "etcd.pid"]
            .iter()
            .map(|f| {
                let pid = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
                cpu_secs(pid.trim()).0
            })
            .sum()
    }
}

/// CPU seconds (user + system) of a process, from `/proc/PID/stat`: its own (every thread), and
/// that of its children it has waited for.
fn cpu_secs(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses: the state is [0], utime [11],
    // stime [12], cutime [13], cstime [14], in clock ticks (100 a second on Linux).
    let f: Vec<f64> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    (at(11) + at(12), at(13) + at(14))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(kit().join("stop.sh"))
            .arg(&self.dir)
            .arg("--rm")
            .output();
    }
}

/// `n` small CronWorkflows over 10 projects, stamped like rendered objects.
fn objects(n: usize) -> RenderedSet {
    let objects = (0..n)
        .map(|i| {
            let project = format!("team-{}", i % 10);
            let name = format!("nightly-{i:04}");
            let mut body = json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "CronWorkflow",
                "metadata": {
                    "name": name,
                    "namespace": project,
                    "labels": {MANAGED_BY.0: MANAGED_BY.1, PROJECT_LABEL: project, "cubist.dev/source": format!("projects.{project}.pipelines.{name}.yaml")},
                    "annotations": {"cubist.dev/source": format!("projects/{project}/pipelines/{name}.yaml")}
                },
                "spec": {
                    "schedules": [format!("{} {} * * *", i % 60, i % 24)],
                    "timezone": "Asia/Shanghai",
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": 300,
                    "workflowSpec": {"workflowTemplateRef": {"name": name}, "arguments": {"parameters": [{"name": "execution_date", "value": "{{workflow.scheduledTime}}"}]}}
                }
            });
            let hash = content_hash(&body);
            body["metadata"]["annotations"][HASH_ANNOTATION] = json!(hash);
            RenderedObject { body: body.into(), hash, project: Some(project), source: format!("projects/team/pipelines/{name}.yaml") }
        })
        .collect();
    let mut set = RenderedSet {
        cluster: "bench".into(),
        objects,
    };
    set.sort();
    set
}

async fn install_crd(kubeconfig: &Path) {
    let t = KubeTarget::connect(Some(kubeconfig), None)
        .await
        .expect("connect");
    let text = std::fs::read_to_string(crd_path()).expect("reference CRD");
    let crd: Value = cubist::model::yaml::parse_documents(CRD_FILE, &text)
        .expect("parse")
        .remove(0)
        .json;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    let api: Api<DynamicObject> = Api::all_with(t.client().clone(), &ar);
    let name = crd["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(
        &name,
        &PatchParams::apply("bench").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("install CRD");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
        let ok = live["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "CRD not established");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every CronWorkflow on a server, by namespace and name: labels, annotations and spec (what
/// an apply sets; not what the server adds).
async fn snapshot(client: &kube::Client) -> BTreeMap<(String, String), Value> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "CronWorkflow"),
        "cronworkflows",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let list = api.list(&Default::default()).await.expect("list");
    list.items
        .into_iter()
        .map(|o| {
            let key = (
                o.metadata.namespace.clone().unwrap_or_default(),
                o.metadata.name.clone().unwrap_or_default(),
            );
            let v = json!({"labels": o.metadata.labels, "annotations": o.metadata.annotations, "spec": o.data["spec"]});
            (key, v)
        })
        .collect()
}

/// Runs kubectl's apply of `dir`: its time and its CPU seconds.
fn kubectl_apply(kubeconfig: &Path, dir: &Path) -> (Duration, f64) {
    let cpu = cpu_secs("self").1;
    let started = Instant::now();
    let out = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "apply",
            "--server-side",
            "--validate=false",
            "--field-manager",
            "kubectl-bench",
            "-f",
        ])
        .arg(dir)
        .output()
        .expect("kubectl");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, cpu_secs("self").1 - cpu)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks harness=false benches to list their tests
    }
    let bin = std::env::var_os("KUBE_LOCAL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/kube-local")
        })
        .join("bin/kube-local-apiserver");
    if !bin.exists() || !Path::new(KUBECTL).exists() || !crd_path().exists() {
        println!(
            "kube_apply: SKIPPED (needs {}, {KUBECTL} and {})",
            bin.display(),
            crd_path().display()
        );
        return;
    }
    let n: usize = std::env::var("KUBE_APPLY_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let set = objects(n);
    let files = tempfile::tempdir().unwrap();
    for o in &set.objects {
        let k = o.key();
        std::fs::write(
            files
                .path()
                .join(format!("{}_{}.json", k.namespace, k.name)),
            serde_json::to_vec_pretty(&o.body).unwrap(),
        )
        .unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // kubectl on a fresh server.
    let kubectl_server = Server::start();
    rt.block_on(install_crd(&kubectl_server.kubeconfig));
    let server_cpu = kubectl_server.cpu();
    let (kubectl_first, kubectl_cpu) = kubectl_apply(&kubectl_server.kubeconfig, files.path());
    let kubectl_server_cpu = kubectl_server.cpu() - server_cpu;
    let (kubectl_again, _) = kubectl_apply(&kubectl_server.kubeconfig, files.path());
    let kubectl_objects = rt.block_on(async {
        let t = KubeTarget::connect(Some(&kubectl_server.kubeconfig), None)
            .await
            .expect("connect");
        snapshot(t.client()).await
    });
    assert_eq!(kubectl_objects.len(), n);
    drop(kubectl_server);
    let concurrency = std::env::var("KUBE_APPLY_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(KubeOptions::default().concurrency);

    // cubist on a fresh server.
    let server = Server::start();
    rt.block_on(async {
        install_crd(&server.kubeconfig).await;
        let t = KubeTarget::connect(Some(&server.kubeconfig), None)
            .await
            .expect("connect")
            .named("bench")
            .with_options(KubeOptions {
                concurrency,
                ..KubeOptions::default()
            });

        let before = t.requests();
        let (cpu, server_cpu) = (cpu_secs("self").0, server.cpu());
        t.take_peak_in_flight();
        let started = Instant::now();
        let (plan, report, inventory) = t
            .plan_and_apply(&set, &Inventory::default(), |_| {}, &mut |_| {})
            .await
            .expect("apply");
        let first = started.elapsed();
        let (cpu, server_cpu) = (cpu_secs("self").0 - cpu, server.cpu() - server_cpu);
        let peak = t.take_peak_in_flight();
        let first_requests = t.requests() - before;
        assert_eq!(report.created, n, "{report:?}");
        assert_eq!(plan.count(Action::Create), n);
        assert!(report.failed.is_empty(), "{:?}", report.failed.first());
        let same = snapshot(t.client()).await == kubectl_objects;

        let before = t.requests();
        let started = Instant::now();
        let (_, report, _) = t
            .plan_and_apply(&set, &inventory, |_| {}, &mut |_| {})
            .await
            .expect("apply");
        let again = started.elapsed();
        let again_requests = t.requests() - before;
        assert_eq!(report.unchanged, n);

        let secs = |d: Duration| d.as_secs_f64();
        println!("kube_apply: {n} CronWorkflows, 10 namespaces, fresh kube-local (apiextensions-apiserver v1.36 + etcd) each");
        println!(
            "  first apply   cubist  {:>7.2} s  (plan and apply, {} concurrent requests: {} writes, {} dry-runs, {} reads)",
            secs(first),
            t.options().concurrency,
            first_requests.writes,
            first_requests.dry_runs,
            first_requests.reads
        );
        println!(
            "                CPU     cubist {cpu:.2} s, API server + etcd {server_cpu:.2} s; at most {peak} requests in flight"
        );
        println!("  first apply   kubectl {:>7.2} s  (kubectl apply --server-side --validate=false -f DIR)", secs(kubectl_first));
        println!(
            "                CPU     kubectl {kubectl_cpu:.2} s, API server + etcd {kubectl_server_cpu:.2} s"
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let floor = (server_cpu + cpu) / cores;
        println!(
            "  bound         cubist  {floor:>7.2} s  with all {cores} cores busy on this CPU: a ratio of at most {:.1}x against this kubectl run",
            secs(kubectl_first) / floor
        );
        let ratio = secs(kubectl_first) / secs(first);
        println!(
            "  ratio kubectl/cubist  {ratio:>7.1}x  (goal >= 4x: {}; live objects the same: {same})",
            if ratio >= 4.0 { "met" } else { "NOT MET" }
        );
        println!(
            "  no-change     cubist  {:>7.3} s  ({} writes, {} dry-runs, {} reads)",
            secs(again),
            again_requests.writes,
            again_requests.dry_runs,
            again_requests.reads
        );
        println!("  no-change     kubectl {:>7.2} s  (kubectl re-apply, for reference)", secs(kubectl_again));
    });
}
