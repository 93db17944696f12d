//! apiVersion + kind → the resource that serves it, discovered per group-version (never the
//! whole cluster: `/api` may not exist) and cached per cluster.

use super::{KubeError, error::classify};
use ::kube::core::GroupVersion;
use ::kube::discovery::{ApiCapabilities, ApiResource, Scope, oneshot};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A group-version whose kinds were listed less than this long ago is not listed again when a
/// kind is missing from it (a CRD may have been installed since).
const RECHECK_MISSING: Duration = Duration::from_secs(10);

/// A resolved kind.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The resource (plural, group, version).
    pub resource: ApiResource,
    /// True for namespaced kinds.
    pub namespaced: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    /// kind → resolved; empty when the group-version is not served at all.
    kinds: HashMap<String, Resolved>,
    at: Instant,
}

/// Per-cluster discovery cache.
#[derive(Debug, Default)]
pub struct Resolver {
    cache: Mutex<HashMap<String, Entry>>,
}

impl Resolver {
    /// The resource serving `kind` of `api_version`, `None` when the cluster does not serve it.
    pub async fn resolve(
        &self,
        client: &::kube::Client,
        cluster: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Resolved>, KubeError> {
        let fresh = {
            let cache = self.cache.lock().expect("resolver lock");
            match cache.get(api_version) {
                Some(e) if e.kinds.contains_key(kind) => return Ok(e.kinds.get(kind).cloned()),
                Some(e) => e.at.elapsed() < RECHECK_MISSING,
                None => false,
            }
        };
        if fresh {
            return Ok(None);
        }
        let entry = self.discover(client, cluster, api_version).await?;
        let found = entry.kinds.get(kind).cloned();
        self.cache
            .lock()
            .expect("resolver lock")
            .insert(api_version.to_string(), entry);
        Ok(found)
    }

    /// Forgets every version of a group (after a CRD of that group changed).
    pub fn invalidate_group(&self, group: &str) {
        self.cache
            .lock()
            .expect("resolver lock")
            .retain(|av, _| group_of(av) != group);
    }

    async fn discover(
        &self,
        client: &::kube::Client,
        cluster: &str,
        api_version: &str,
    ) -> Result<Entry, KubeError> {
        let missing = || Entry {
            kinds: HashMap::new(),
            at: Instant::now(),
        };
        let Ok(gv) = api_version.parse::<GroupVersion>() else {
            return Ok(missing());
        };
        match oneshot::pinned_group(client, &gv).await {
            Ok(group) => {
                let kinds = group
                    .versioned_resources(&gv.version)
                    .into_iter()
                    .map(|(resource, caps)| {
                        let r = resolved(resource, &caps);
                        (r.resource.kind.clone(), r)
                    })
                    .collect();
                Ok(Entry {
                    kinds,
                    at: Instant::now(),
                })
            }
            // A group-version nobody serves is a 404; kube-local answers `/api/v1` with a 404 whose
            // body is not a Status, which reaches here as an empty status (code 0).
            Err(::kube::Error::Api(s)) if s.code == 404 || s.code == 0 || s.is_not_found() => {
                Ok(missing())
            }
            Err(::kube::Error::Discovery(_)) => Ok(missing()),
            Err(e) => Err(classify(cluster, e)),
        }
    }
}

fn resolved(resource: ApiResource, caps: &ApiCapabilities) -> Resolved {
    Resolved {
        namespaced: caps.scope == Scope::Namespaced,
        resource,
    }
}

/// The group of an apiVersion (`""` for the core `v1`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Built-in API groups of Kubernetes (served by kube-apiserver itself, not by CRDs).
fn builtin_group(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

/// The cluster capability (`Cluster.spec.capabilities`) whose operator brings a kind.
pub fn capability_of(group: &str, kind: &str) -> Option<&'static str> {
    Some(match group {
        "argoproj.io" => "argo-workflows",
        "serving.kserve.io" => "kserve",
        "kubeflow.org" if matches!(kind, "Experiment" | "Suggestion" | "Trial") => "katib",
        "kubeflow.org" => "training-operator",
        "batch.volcano.sh" | "scheduling.volcano.sh" | "bus.volcano.sh" => "volcano",
        "ray.io" => "kuberay",
        _ => return None,
    })
}

/// One clear sentence for a kind the cluster does not serve, with what to do about it.
pub fn not_served_message(cluster: &str, api_version: &str, kind: &str) -> String {
    let group = group_of(api_version);
    let head = format!("{kind} {api_version} is not served by cluster {cluster}");
    match capability_of(group, kind) {
        Some(cap) => format!("{head}: install the CRD or drop the `{cap}` capability"),
        None if builtin_group(group) => format!(
            "{head}: it is a built-in Kubernetes kind and this API server does not serve the `{}` API (not a full Kubernetes API server?)",
            if group.is_empty() {
                "core/v1".to_string()
            } else {
                api_version.to_string()
            }
        ),
        None => format!("{head}: install the CRD that defines it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_served_names_the_capability() {
        assert_eq!(
            not_served_message("prod-bj", "kubeflow.org/v1", "PyTorchJob"),
            "PyTorchJob kubeflow.org/v1 is not served by cluster prod-bj: install the CRD or drop the `training-operator` capability"
        );
        assert!(not_served_message("c", "kubeflow.org/v1beta1", "Experiment").contains("`katib`"));
        assert!(not_served_message("c", "v1", "Namespace").contains("built-in Kubernetes kind"));
        assert!(not_served_message("c", "apps/v1", "Deployment").contains("`apps/v1`"));
        assert!(
            not_served_message("c", "rbac.authorization.k8s.io/v1", "RoleBinding")
                .contains("built-in")
        );
        assert!(
            not_served_message("c", "example.com/v1", "Widget")
                .ends_with("install the CRD that defines it")
        );
    }
}
