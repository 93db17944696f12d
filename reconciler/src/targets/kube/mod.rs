//! The Kubernetes target: plans against live objects and applies with server-side apply
//! (field manager `cubist`), through one generic path for every kind: apiVersion + kind →
//! discovered resource → `Api<DynamicObject>`.
//!
//! - **plan** reads each kind once per namespace (a LIST of objects labelled managed-by cubist)
//!   and compares the live `cubist.dev/hash` annotation and values with the rendered object. Only
//!   objects that differ get a server-side dry-run apply, which gives the diff. A no-change plan
//!   is a handful of LISTs and no writes.
//! - **apply** goes stage by stage (CRDs, wait until Established; Namespaces; RBAC and quotas;
//!   workloads), objects of a stage in parallel. `force` only when the object's annotation
//!   `cubist.dev/force-apply: "true"` asks, or to take back fields that were edited by hand
//!   (an `Update` by another manager, see [`KubeOptions::revert_manual_edits`]). Conflicts with
//!   another *applier* are reported per object with the manager and fields, never forced.
//! - **prune** deletes inventory objects no longer rendered, only when the live object still
//!   carries `app.kubernetes.io/managed-by: cubist` and the same `cubist.dev/project`.
//! - A kind the cluster does not serve is one error per object naming the CRD or capability;
//!   the other objects still apply. An unreachable API server is [`KubeError::Unreachable`].

mod apply;
mod client;
mod error;
mod health;
mod judge;
mod live;
mod prune;
mod resolve;
mod ssa;
mod workflows;

pub use client::{
    KUBECONFIG_DIR_ENV, RequestCounts, cluster_kubeconfig, expand_tilde, install_crypto_provider,
    kubeconfig_name,
};
pub use error::{FieldConflict, KubeError, parse_conflicts};
pub use health::{Health, HealthStatus, health_of};
pub use resolve::{capability_of, not_served_message};

use crate::model::kinds::{ClusterSpec, Target as TargetSpec};
use crate::render::{Body, ObjectKey, RenderedObject, RenderedSet};
use crate::targets::{Action, ApplyReport, Change, Plan};
use client::Counters;
use cubist_status_ui::doc::Inventory;
use resolve::Resolver;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Field manager of every write cubist makes.
pub const FIELD_MANAGER: &str = "cubist";
/// Annotation asking cubist to force its apply over other field managers.
pub const FORCE_ANNOTATION: &str = "cubist.dev/force-apply";

/// The environment variable setting how many requests each Kubernetes target keeps in flight
/// ([`KubeOptions::concurrency`]): a whole number from 1 to [`MAX_CONCURRENCY`]; unset, 16.
pub const CONCURRENCY_ENV: &str = "CUBIST_KUBE_CONCURRENCY";
/// The most requests in flight [`CONCURRENCY_ENV`] may ask for.
pub const MAX_CONCURRENCY: usize = 256;

/// The concurrency [`CONCURRENCY_ENV`]'s value asks for (`None`: unset, the default), or why
/// it is refused.
pub fn concurrency_from(value: Option<&std::ffi::OsStr>) -> Result<usize, String> {
    let Some(value) = value else {
        return Ok(KubeOptions::default().concurrency);
    };
    value
        .to_str()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_CONCURRENCY).contains(n))
        .ok_or_else(|| {
            format!(
                "{CONCURRENCY_ENV}={} is not a number of requests from 1 to {MAX_CONCURRENCY}: set it to one (default 16), or unset it",
                value.to_string_lossy().chars().take(40).collect::<String>()
            )
        })
}

/// Tuning of a [`KubeTarget`].
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// Requests in flight at once (LISTs, GETs, applies within a stage).
    pub concurrency: usize,
    /// How long to wait for an applied CRD to become Established.
    pub crd_timeout: Duration,
    /// Dry-run new objects during `plan`, so objects the API server rejects show up there.
    pub validate_creates: bool,
    /// When an apply conflicts only with fields another manager changed with a plain
    /// update/patch (`kubectl edit`, `kubectl patch`, scripts), take them back (force). Conflicts
    /// with another manager that *applies* its own configuration are always reported instead.
    pub revert_manual_edits: bool,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            concurrency: 16,
            crd_timeout: Duration::from_secs(60),
            validate_creates: true,
            revert_manual_edits: true,
        }
    }
}

/// One Kubernetes cluster reached through its API server.
pub struct KubeTarget {
    name: String,
    client: ::kube::Client,
    resolver: Resolver,
    counters: Arc<Counters>,
    options: KubeOptions,
}

impl std::fmt::Debug for KubeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTarget")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KubeTarget {
    /// A client for the cluster of `context` in `kubeconfig` (`~` expanded). Without a kubeconfig:
    /// `$KUBECONFIG` or `~/.kube/config`, else the in-cluster service account. Without a context:
    /// the kubeconfig's current context. Does not contact the cluster.
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<KubeTarget, KubeError> {
        let (config, name) = client::load_config(kubeconfig, context).await?;
        Self::from_config(config, name)
    }

    /// A client for the cluster cubist runs in, through its pod's service account
    /// (`inCluster: true`). Does not contact the cluster.
    pub fn in_cluster(cluster: &str) -> Result<KubeTarget, KubeError> {
        Self::from_config(client::in_cluster_config(cluster)?, cluster.to_string())
    }

    fn from_config(config: ::kube::Config, name: String) -> Result<KubeTarget, KubeError> {
        install_crypto_provider();
        let counters = Arc::new(Counters::default());
        let client = client::build_client(config, counters.clone(), &name)?;
        Ok(KubeTarget {
            name,
            client,
            resolver: Resolver::default(),
            counters,
            options: KubeOptions::default(),
        })
    }

    /// The target of a cluster manifest whose `spec.target` is `kubernetes`, named after the
    /// cluster. Fields changed by hand are taken back only when the cluster asks for
    /// `selfHeal`; otherwise they are conflicts, reported. A kubeconfig the cluster names is
    /// read from the kubeconfig directory only (see [`cluster_kubeconfig`]). Requests in flight:
    /// [`CONCURRENCY_ENV`].
    pub async fn for_cluster(name: &str, spec: &ClusterSpec) -> Result<KubeTarget, KubeError> {
        let concurrency =
            concurrency_from(std::env::var_os(CONCURRENCY_ENV).as_deref()).map_err(|message| {
                KubeError::Config {
                    cluster: name.to_string(),
                    message,
                }
            })?;
        match &spec.target {
            TargetSpec::Kubernetes {
                kubeconfig,
                context,
                in_cluster,
            } => {
                let target = if *in_cluster {
                    KubeTarget::in_cluster(name)?
                } else {
                    KubeTarget::connect(
                        kubeconfig
                            .as_deref()
                            .map(|k| client::cluster_kubeconfig(name, k))
                            .transpose()?
                            .as_deref(),
                        context.as_deref(),
                    )
                    .await?
                };
                Ok(target.named(name).with_options(KubeOptions {
                    concurrency,
                    revert_manual_edits: spec.self_heal,
                    ..KubeOptions::default()
                }))
            }
            TargetSpec::Directory { .. } => Err(KubeError::Config {
                cluster: name.to_string(),
                message: "the cluster's target is a directory, not kubernetes".into(),
            }),
        }
    }

    /// Names the cluster in messages (default: the kubeconfig context).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Replaces the tuning.
    pub fn with_options(mut self, options: KubeOptions) -> Self {
        self.options = options;
        self
    }

    /// The tuning in use.
    pub fn options(&self) -> &KubeOptions {
        &self.options
    }

    /// The cluster's name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying kube client (requests through it are counted too).
    pub fn client(&self) -> &::kube::Client {
        &self.client
    }

    /// Requests sent so far, by kind. Take two snapshots and subtract to count one operation.
    pub fn requests(&self) -> RequestCounts {
        self.counters.get()
    }

    /// The most requests in flight at once (sent, not answered yet) since the last call, or
    /// since the target was built: how parallel an operation really was.
    pub fn take_peak_in_flight(&self) -> u64 {
        self.counters.take_peak_in_flight()
    }

    /// The API server's version (`v1.36.4`): a cheap reachability check.
    pub async fn version(&self) -> Result<String, KubeError> {
        let info = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| error::classify(&self.name, e))?;
        Ok(info.git_version)
    }

    /// Compares the rendered objects with the live ones. Creates and updates come in stage
    /// order, then deletes (inventory objects no longer rendered) in reverse stage order.
    /// Objects that cannot be applied (kind not served, owned by someone else, rejected by the
    /// API server, conflicting with another applier) are [`Action::Conflict`](crate::targets::Action)
    /// changes with a note.
    pub async fn plan(
        &self,
        desired: &RenderedSet,
        inventory: &Inventory,
    ) -> Result<Plan, KubeError> {
        judge::plan(self, desired, inventory, judge::Mode::Plan).await
    }

    /// Carries out a plan; `progress` is called after each object. Returns what happened and
    /// the new inventory (objects cubist now owns in the cluster).
    pub async fn apply(
        &self,
        plan: &Plan,
        inventory: &Inventory,
        progress: &mut (dyn FnMut(&Change) + Send),
    ) -> Result<(ApplyReport, Inventory), KubeError> {
        let done = apply::apply(self, plan, inventory, progress).await?;
        Ok((done.report, done.inventory))
    }

    /// Plans and applies at once, as the reconcile loop does; `hold` may take changes out of
    /// the plan before it is applied (the prune guard). The plan, report and inventory are
    /// those of [`Self::plan`] then [`Self::apply`], but a new object is validated by its apply
    /// rather than by a dry-run first (one request instead of two): one the API server refuses
    /// is, in the returned plan, the conflict with the server's reason that the dry-run would
    /// have made it, and a failure in the report.
    pub async fn plan_and_apply(
        &self,
        desired: &RenderedSet,
        inventory: &Inventory,
        hold: impl FnOnce(&mut Plan) + Send,
        progress: &mut (dyn FnMut(&Change) + Send),
    ) -> Result<(Plan, ApplyReport, Inventory), KubeError> {
        let mut plan = judge::plan(self, desired, inventory, judge::Mode::Apply).await?;
        hold(&mut plan);
        let done = apply::apply(self, &plan, inventory, progress).await?;
        for (i, code, message) in done.rejected {
            let c = &mut plan.changes[i];
            // Only new objects a plan would have dry-run (not those waiting for a CRD).
            if !self.options.validate_creates || c.action != Action::Create || c.note.is_some() {
                continue;
            }
            if code == 404 && !c.key.namespace.is_empty() {
                c.note = Some(judge::after_namespace(&c.key));
            } else {
                c.action = Action::Conflict;
                c.diff = None;
                c.note = Some(message);
            }
        }
        Ok((plan, done.report, done.inventory))
    }

    /// Objects whose live state differs from the rendered one: changed or deleted by hand,
    /// or not applied yet. Reads and dry-runs only.
    pub async fn drift(&self, desired: &RenderedSet) -> Result<Vec<ObjectKey>, KubeError> {
        judge::drift(self, desired).await
    }

    /// Health of one live object ([`health_of`] its status). A missing object, or a kind the
    /// cluster does not serve, is `Unknown` with a message.
    pub async fn health(&self, key: &ObjectKey) -> Result<Health, KubeError> {
        let r = match self.resolve_key(&self.name, key).await? {
            Ok(r) => r,
            Err(message) => return Ok(Health::unknown(message)),
        };
        match self
            .api(&r, &key.namespace)
            .get_opt(&key.name)
            .await
            .map_err(|e| error::classify(&self.name, e))?
        {
            Some(o) => Ok(health_of(
                &key.kind,
                &serde_json::to_value(&o).unwrap_or_default(),
            )),
            None => Ok(Health::unknown(format!("{key} is not in the cluster"))),
        }
    }

    /// Health of many objects at once (one LIST per kind and namespace), in the given order.
    pub async fn health_all(
        &self,
        objects: &[RenderedObject],
    ) -> Result<Vec<(ObjectKey, Health)>, KubeError> {
        let keys: Vec<ObjectKey> = objects.iter().map(RenderedObject::key).collect();
        let wanted: Vec<live::Wanted> = keys
            .iter()
            .zip(objects)
            .map(|(key, o)| live::Wanted {
                key,
                project: o.project.as_deref(),
            })
            .collect();
        let lives = self
            .observe(&self.name, &wanted, &Default::default())
            .await?;
        Ok(keys
            .iter()
            .zip(lives)
            .map(|(k, l)| {
                let h = match l {
                    live::Live::Present(v, _) => health_of(&k.kind, &v),
                    live::Live::NotServed(m) => Health::unknown(m),
                    live::Live::AfterCrd(crd) => Health::unknown(format!("waiting for CRD {crd}")),
                    live::Live::Absent => Health::unknown(format!("{k} is not in the cluster")),
                };
                (k.clone(), h)
            })
            .collect())
    }

    /// The cluster name for messages: the set's or plan's, else the target's.
    fn cluster_name<'a>(&'a self, given: &'a str) -> &'a str {
        if given.is_empty() { &self.name } else { given }
    }
}

/// True when the object asks to be applied with force. Bodies without the annotation's name
/// anywhere in their text (nearly all) are not parsed.
fn wants_force(body: &Body) -> bool {
    body.text().contains(FORCE_ANNOTATION)
        && body
            .to_value()
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(FORCE_ANNOTATION))
            .and_then(Value::as_str)
            == Some("true")
}

/// A short label for an object in diffs: `group/Kind namespace/name`.
fn diff_label(key: &ObjectKey) -> String {
    let group = resolve::group_of(&key.api_version);
    let gk = if group.is_empty() {
        key.kind.clone()
    } else {
        format!("{group}/{}", key.kind)
    };
    if key.namespace.is_empty() {
        format!("{gk}/{}", key.name)
    } else {
        format!("{gk}/{}/{}", key.namespace, key.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reconcile loop runs these on tokio's multi-thread runtime: their futures must be Send.
    #[allow(dead_code)]
    fn futures_are_send(
        t: &KubeTarget,
        set: &RenderedSet,
        inv: &Inventory,
        plan: &Plan,
        key: &ObjectKey,
    ) {
        fn send<T: Send>(_: T) {}
        send(t.plan(set, inv));
        send(t.apply(plan, inv, &mut |_| {}));
        send(t.plan_and_apply(set, inv, |_| {}, &mut |_| {}));
        send(t.drift(set));
        send(t.health(key));
        send(t.health_all(&set.objects));
        send(KubeTarget::connect(None, None));
    }

    #[test]
    fn force_only_when_annotated() {
        assert!(wants_force(&Body::from(
            serde_json::json!({"metadata": {"annotations": {FORCE_ANNOTATION: "true"}}})
        )));
        assert!(!wants_force(&Body::from(
            serde_json::json!({"metadata": {"annotations": {FORCE_ANNOTATION: "yes"}}})
        )));
        assert!(!wants_force(&Body::from(
            serde_json::json!({"metadata": {}})
        )));
        // The name elsewhere (a pod template's annotations) is not the object's own.
        assert!(!wants_force(&Body::from(
            serde_json::json!({"metadata": {},
            "spec": {"template": {"metadata": {"annotations": {FORCE_ANNOTATION: "true"}}}}})
        )));
    }

    #[test]
    fn concurrency_from_the_environment_is_bounded() {
        use std::ffi::OsStr;
        assert_eq!(concurrency_from(None), Ok(16));
        assert_eq!(concurrency_from(Some(OsStr::new("32"))), Ok(32));
        assert_eq!(concurrency_from(Some(OsStr::new(" 1 "))), Ok(1));
        assert_eq!(concurrency_from(Some(OsStr::new("256"))), Ok(256));
        for bad in ["0", "257", "-3", "", "many", "1e3", &"9".repeat(500)] {
            let e = concurrency_from(Some(OsStr::new(bad))).unwrap_err();
            assert!(e.starts_with("CUBIST_KUBE_CONCURRENCY="), "{e}");
            assert!(e.contains("from 1 to 256"), "{e}");
            assert!(e.len() < 200, "the value is cut: {e}");
        }
    }

    #[test]
    fn diff_labels() {
        let k = |av: &str, kind: &str, ns: &str| ObjectKey {
            api_version: av.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: "x".into(),
        };
        assert_eq!(
            diff_label(&k("argoproj.io/v1alpha1", "Workflow", "nlp")),
            "argoproj.io/Workflow/nlp/x"
        );
        assert_eq!(diff_label(&k("v1", "Namespace", "")), "Namespace/x");
    }
}
