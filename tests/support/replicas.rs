//! `cubist serve` replicas sharing clusters through Leases on kube-local (`tests/leases.rs`,
//! `tests/runs_shared.rs`): the Lease CRD of the kit, and one replica process with its log and
//! its role as `/readyz` states it.

use crate::kube_local::{Server, crd_resource, established, kit, wait_until};
use crate::procs::{Lines, Running, http_get, spawn, spawn_all};
use crate::repo::cubist_binary;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Lease timing of the replicas (seconds): duration, renew deadline, retry period.
pub const DURATION: u64 = 4;
/// See [`DURATION`].
pub const DEADLINE: u64 = 3;
/// See [`DURATION`].
pub const RETRY: u64 = 1;
/// How long a replica is waited for.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Installs the Lease CRD of the kit and waits until it is served.
pub async fn install_lease_crd(client: &kube::Client) {
    let path = kit().join("lease-crd.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let crd = cubist::model::yaml::parse_documents("lease-crd.yaml", &text)
        .unwrap_or_else(|d| panic!("lease-crd.yaml: {}", d.message))
        .remove(0)
        .json;
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &crd_resource());
    let pp = PatchParams::apply("cubist-tests").force();
    crds.patch("leases.coordination.k8s.io", &pp, &Patch::Apply(&crd))
        .await
        .unwrap();
    wait_until(Duration::from_secs(60), || async {
        let live = crds.get("leases.coordination.k8s.io").await.unwrap();
        established(&serde_json::to_value(live).unwrap())
    })
    .await;
}

/// One `cubist serve` replica.
pub struct Replica {
    /// Its `--replica-id`.
    pub id: String,
    /// The process.
    pub running: Running,
    /// What it prints.
    pub lines: Lines,
    /// Its status page's address.
    pub addr: String,
}

impl Replica {
    /// A replica of the repository `remote` (caches under `root`), with Leases on `server`,
    /// whose clusters' kubeconfigs are in the server's directory.
    pub fn start(id: &str, remote: &Path, root: &Path, server: &Server) -> Replica {
        Replica::start_with(
            id,
            remote,
            root,
            server,
            server.kubeconfig.parent().unwrap(),
            &[],
        )
    }

    /// [`Replica::start`] with the clusters' kubeconfigs in `kubeconfigs`
    /// (`CUBIST_KUBECONFIG_DIR`) and more environment `env`.
    pub fn start_with(
        id: &str,
        remote: &Path,
        root: &Path,
        server: &Server,
        kubeconfigs: &Path,
        env: &[(&str, String)],
    ) -> Replica {
        let mut cmd = Command::new(cubist_binary());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--interval", "2s"])
            .arg("--repo")
            .arg(remote)
            .arg("--cache-dir")
            .arg(root.join(format!("cache-{id}")))
            .args(["--lease-namespace", "cubist-system", "--replica-id", id])
            .arg("--lease-kubeconfig")
            .arg(&server.kubeconfig)
            .args(["--lease-duration", &format!("{DURATION}s")])
            .args(["--lease-renew-deadline", &format!("{DEADLINE}s")])
            .args(["--lease-retry", &format!("{RETRY}s")])
            .env("CUBIST_KUBECONFIG_DIR", kubeconfigs)
            .env("CUBIST_LOG", "cubist=info")
            .env_remove("CUBIST_WEBHOOK_SECRET");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (running, mut lines) = spawn_all(cmd);
        let line = lines.wait_for(PATIENCE, |l| l.starts_with("status page: http://"));
        let addr = line
            .trim_start_matches("status page: http://")
            .trim_end_matches('/')
            .to_string();
        Replica {
            id: id.to_string(),
            running,
            lines,
            addr,
        }
    }

    /// The role line of `/readyz`: `replica <id> of <n>: <role>; clusters: <a, b | none>`.
    pub fn role(&self) -> String {
        let (_, body) = http_get(&self.addr, "/readyz", PATIENCE);
        body.lines()
            .find(|l| l.starts_with("replica "))
            .unwrap_or_else(|| panic!("{}: /readyz has no role line: {body}", self.id))
            .to_string()
    }

    /// The clusters its role line lists.
    pub fn owned(&self) -> BTreeSet<String> {
        let role = self.role();
        let list = role.split("clusters: ").nth(1).unwrap_or("none");
        if list == "none" {
            return BTreeSet::new();
        }
        list.split(", ").map(str::to_string).collect()
    }

    /// Status commits this replica wrote, from its log (`status commit written commit=<id>`,
    /// colours taken out).
    pub fn status_commits(&mut self) -> Vec<String> {
        self.lines
            .printed()
            .into_iter()
            .map(|l| without_colours(&l))
            .filter(|l| l.contains("status commit written"))
            .filter_map(|l| {
                let commit = l.split("commit=").nth(1)?;
                Some(commit.split_whitespace().next()?.to_string())
            })
            .collect()
    }

    /// Kills the process with SIGKILL (no Lease released, no status commit finished).
    pub fn kill(&mut self) {
        drop(std::mem::replace(&mut self.running, exited()));
    }
}

/// `line` without ANSI colour sequences (`ESC [ … m`).
fn without_colours(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A child that has exited already, in place of a replica's process that was killed.
fn exited() -> Running {
    spawn(Command::new("true")).0
}
