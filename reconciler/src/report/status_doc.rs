//! The files of one status commit (see docs/status-format.md).

use super::digest::{error_entry, plain_error, project_digest};
use crate::model::Model;
use crate::reconcile::{ClusterOutcome, ClusterState, Config, Good, HealthCounts, Outcome, Owned};
use crate::render::{ObjectKey, RenderedObject};
use crate::report::status_branch::{Dir, Node, StatusFile, StatusFiles};
use crate::report::status_yaml::{inventory_file, object_status_file, yaml_file};
use crate::report::summary_file::Entry;
use crate::targets::Action;
use crate::targets::desired::Group;
use crate::targets::guard::Held;
use crate::targets::kube::HealthStatus;
use cubist_status_ui::doc::{self, SyncState};
use cubist_status_ui::doc::{Inventory, InventoryEntry};
use cubist_status_ui::runs::PipelineRuns;
use cubist_status_ui::tree::paths;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Every status file of a reconcile, made by changing the previous reconcile's (`memo`): one
/// unit per project and cluster (`status/clusters/<cluster>/<project>/`: its objects' statuses
/// and inventory), one digest per project, one file per pipeline's run records on a cluster,
/// the summary and a history record. A unit whose inputs are the same as last time (same
/// objects, all applied, nothing else to say) is the previous one, not built again; a document
/// equal to the one `memo` holds is not serialised or hashed again, and only the paths of what
/// changed are touched. `memo` then holds this reconcile's.
#[allow(clippy::too_many_arguments)]
pub(crate) fn files(
    model: &Model,
    current: &BTreeMap<String, Arc<Good>>,
    o: &Outcome,
    runs: &BTreeMap<(String, String, String), Arc<PipelineRuns>>,
    author: &str,
    message: &str,
    duration_ms: u64,
    cfg: &Config,
    memo: &mut Memo,
    next_run_due: Option<chrono::DateTime<chrono::Utc>>,
) -> StatusFiles {
    let now = chrono::Utc::now();
    let mut root = std::mem::take(&mut memo.root);
    if let Some(history) = memo.history.take() {
        root.remove(&history);
    }
    let mut out = Files { root, memo };
    let mut errors_of: HashMap<Option<&str>, Vec<doc::ErrorEntry>> = HashMap::new();
    for d in o.diagnostics.iter().filter(|d| d.is_error()) {
        errors_of
            .entry(d.project.as_deref())
            .or_default()
            .push(error_entry(d));
    }
    let errors = |project: Option<&str>| errors_of.get(&project).cloned().unwrap_or_default();
    let held: BTreeSet<&str> = o.projects_held.iter().map(String::as_str).collect();
    let mut clusters = Vec::new();
    let mut history_clusters = Vec::new();
    for (name, co) in &o.clusters {
        let target = match &model.clusters[name].spec.target {
            crate::model::kinds::Target::Directory { path } => format!("directory {path}"),
            crate::model::kinds::Target::Kubernetes {
                in_cluster: true, ..
            } => "kubernetes in-cluster".to_string(),
            crate::model::kinds::Target::Kubernetes { context, .. } => {
                format!("kubernetes {}", context.as_deref().unwrap_or("default"))
            }
        };
        let mut changes = doc::ChangeCounts::default();
        if let (Some(plan), Some(_)) = (&co.plan, &co.report) {
            changes.created = plan.count(Action::Create) as u64;
            changes.changed = plan.count(Action::Update) as u64;
            changes.deleted = plan.count(Action::Delete) as u64;
            changes.unchanged = plan.count(Action::Unchanged) as u64;
        }
        let health = co.health_counts().map_or(
            doc::HealthCounts {
                unknown: co.desired.len() as u64,
                ..Default::default()
            },
            health_counts_doc,
        );
        let failures = co.failures();
        let mut counts = doc::StateCounts::default();
        for made in out.units(name, units(co, &failures, &held)) {
            counts.synced += made.synced;
            counts.out_of_sync += made.out_of_sync;
            counts.failed += made.failed;
            counts.unreachable += made.unreachable;
            counts.held += made.held;
            counts.not_configured += made.not_configured;
        }
        // Listed by the object as written ("Kind namespace/name").
        let mut failed: Vec<(String, &String)> =
            failures.iter().map(|(k, e)| (k.to_string(), e)).collect();
        failed.sort_unstable();
        let mut cluster_errors: Vec<doc::ErrorEntry> = failed
            .iter()
            .map(|(k, e)| plain_error("apply", format!("{k}: {e}")))
            .collect();
        if let Some(why) = &co.skipped {
            // A cluster that is not configured is a note on what to set; its retries are not news.
            let retry = co
                .retry_in
                .filter(|_| !co.not_configured)
                .map(|d| format!(" (retrying in {}s)", d.as_secs().max(1)))
                .unwrap_or_default();
            let code = if co.not_configured {
                doc::NOT_CONFIGURED_CODE
            } else if co.unreachable {
                "unreachable"
            } else {
                "skipped"
            };
            cluster_errors.push(plain_error(code, format!("{why}{retry}")));
        }
        let state = sync_state(co.state());
        history_clusters.push(doc::HistoryCluster {
            name: name.clone(),
            state,
            changes,
        });
        clusters.push(doc::ClusterStatus {
            name: name.clone(),
            target,
            state,
            revision: o.revision.clone(),
            applied_at: co.applied_at,
            counts,
            health,
            changes: doc::ChangeCounts {
                skipped: o.projects_skipped as u64,
                ..changes
            },
            errors: cluster_errors,
            held: co.held().map(held_doc),
        });
    }
    out.drop_clusters(&o.clusters);
    let mut projects = Vec::new();
    let mut digests = Vec::new();
    let live = live_by_project(&o.clusters);
    let mut all_runs = runs.iter().peekable();
    for (name, project) in &model.projects {
        let held = held.contains(name.as_str());
        let good = current.get(name);
        let plain = Entry::Plain {
            name,
            project,
            good,
            held,
        };
        projects.push(match errors_of.get(&Some(name.as_str())) {
            None => plain,
            Some(errors) => Entry::Made(doc::ProjectStatus {
                errors: errors.clone(),
                ..plain.status()
            }),
        });
        // Both in project order.
        while all_runs.next_if(|((p, _, _), _)| p < name).is_some() {}
        let mut runs = Vec::new();
        while let Some((_, d)) = all_runs.next_if(|((p, _, _), _)| p == name) {
            runs.push(d);
        }
        digests.push(DigestInput {
            name,
            good,
            held,
            project,
            runs,
        });
    }
    out.digests(model, &live, digests);
    // A held project the model could not load (its project.yaml is broken) is still listed:
    // Failed, with its errors, under its last good revision.
    let unloaded: BTreeSet<&str> = o
        .projects_held
        .iter()
        .map(String::as_str)
        .chain(
            o.diagnostics
                .iter()
                .filter(|d| d.is_error())
                .filter_map(|d| d.project.as_deref()),
        )
        .filter(|p| !model.projects.contains_key(*p))
        .collect();
    for name in unloaded {
        let good = current.get(name);
        projects.push(Entry::Made(doc::ProjectStatus {
            name: name.to_string(),
            display_name: good
                .and_then(|g| g.project.manifest.spec.display_name.clone())
                .unwrap_or_default(),
            state: doc::ProjectState::Failed,
            revision: good.map(|g| g.revision.clone()).unwrap_or_default(),
            errors: errors(Some(name)),
        }));
    }
    projects.sort_by(|a, b| a.name().cmp(b.name()));
    out.runs(runs);
    let repo_errors = errors(None);
    let summary = doc::Summary {
        revision: o.revision.clone(),
        reconciled_at: Some(now),
        duration_ms,
        author: author.to_string(),
        message: message.to_string(),
        repo_url: cfg
            .repo
            .starts_with("http")
            .then(|| cfg.repo.trim_end_matches(".git").to_string()),
        clusters,
        projects: Vec::new(),
        errors: repo_errors.clone(),
        next_run_due,
    };
    let file = out.memo.summary.file(summary, projects);
    out.root.insert_file(paths::SUMMARY, file);
    let all_errors: Vec<doc::ErrorEntry> = o
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(error_entry)
        .collect();
    let history = paths::history(now, &o.revision);
    out.root.insert_file(
        &history,
        yaml_file(
            &doc::HistoryRecord {
                revision: o.revision.clone(),
                author: author.to_string(),
                message: message.to_string(),
                reconciled_at: Some(now),
                duration_ms,
                clusters: history_clusters,
                projects_rendered: o.projects_rendered as u64,
                projects_skipped: o.projects_skipped as u64,
                errors: all_errors,
            },
            None,
        ),
    );
    let Files { root, memo } = out;
    memo.history = Some(history);
    memo.root = root.clone();
    StatusFiles { root, shard: None }
}

/// What one unit's files say: a project's objects in a cluster and what cubist owns of them.
struct UnitInput<'a> {
    co: &'a ClusterOutcome,
    project: Option<&'a String>,
    group: Option<&'a Group>,
    owned: Vec<&'a InventoryEntry>,
    failures: &'a BTreeMap<ObjectKey, String>,
    held: bool,
    /// Every object is applied and synced, and cubist owns exactly the group: the unit's
    /// files follow from the group and `held` alone.
    settled: bool,
}

impl UnitInput<'_> {
    /// About how many objects it has a status for.
    fn size(&self) -> usize {
        self.group.map_or(0, |g| g.len()).max(self.owned.len())
    }
}

/// The units of a cluster: each project with desired or owned objects there.
fn units<'a>(
    co: &'a ClusterOutcome,
    failures: &'a BTreeMap<ObjectKey, String>,
    held: &BTreeSet<&str>,
) -> Vec<UnitInput<'a>> {
    let listed = match &co.inventory {
        Some(Owned::Listed(inv)) => Some(inv),
        _ => None,
    };
    let mut owned: BTreeMap<Option<&String>, Vec<&InventoryEntry>> = BTreeMap::new();
    for e in listed.into_iter().flat_map(|inv| &inv.objects) {
        owned.entry(e.project.as_ref()).or_default().push(e);
    }
    let settled = co.inventory == Some(Owned::Desired)
        && failures.is_empty()
        && co.health.is_empty()
        && co.drifted.is_empty()
        && !co.unreachable
        && co.skipped.is_none();
    let mut projects: Vec<Option<&String>> =
        co.desired.projects.keys().map(Option::as_ref).collect();
    projects.extend(owned.keys().copied());
    projects.sort();
    projects.dedup();
    projects
        .into_iter()
        .map(|project| UnitInput {
            co,
            project,
            group: co.desired.projects.get(&project.cloned()),
            owned: owned.remove(&project).unwrap_or_default(),
            failures,
            held: project.is_some_and(|p| held.contains(p.as_str())),
            settled,
        })
        .collect()
}

/// The status documents' state of a cluster in the given state.
fn sync_state(state: ClusterState) -> SyncState {
    match state {
        ClusterState::Synced => SyncState::Synced,
        ClusterState::OutOfSync => SyncState::OutOfSync,
        ClusterState::Failed => SyncState::Failed,
        ClusterState::Unreachable => SyncState::Unreachable,
        ClusterState::Held => SyncState::Held,
        ClusterState::NotConfigured => SyncState::NotConfigured,
    }
}

/// The status documents' health counts of a cluster's.
fn health_counts_doc(h: HealthCounts) -> doc::HealthCounts {
    doc::HealthCounts {
        healthy: h.healthy,
        progressing: h.progressing,
        degraded: h.degraded,
        unknown: h.unknown,
    }
}

/// The status document of held deletions: counts, the first objects, reasons and the fix.
fn held_doc(h: &Held) -> doc::HeldPrune {
    doc::HeldPrune {
        deletions: h.changes.len() as u64,
        owned: h.owned as u64,
        projects: h
            .by_project()
            .into_iter()
            .map(|(p, n)| (p, n as u64))
            .collect(),
        objects: h
            .changes
            .iter()
            .take(doc::HeldPrune::MAX_OBJECTS)
            .map(|c| c.key.to_string())
            .collect(),
        reasons: h.reasons.clone(),
        allow: h.allow.clone(),
        help: h.how_to_allow(),
    }
}

/// One object's state within its cluster.
fn object_state(co: &ClusterOutcome, key: &ObjectKey, failed: bool) -> SyncState {
    if co.not_configured {
        SyncState::NotConfigured
    } else if co.unreachable {
        SyncState::Unreachable
    } else if failed || (co.skipped.is_some() && co.report.is_none()) {
        SyncState::Failed
    } else if co.drifted.contains(key) {
        SyncState::OutOfSync
    } else {
        SyncState::Synced
    }
}

/// The statuses of the unit's owned objects whose deletion the prune guard holds.
fn held_objects(u: &UnitInput) -> Vec<doc::ObjectStatus> {
    let Some(held) = u.co.held() else {
        return Vec::new();
    };
    let owned: HashMap<[&str; 4], &InventoryEntry> =
        u.owned.iter().map(|e| (e.key_parts(), *e)).collect();
    held.changes
        .iter()
        .filter(|c| c.project.as_ref() == u.project)
        .map(|c| doc::ObjectStatus {
            api_version: c.key.api_version.clone(),
            kind: c.key.kind.clone(),
            namespace: c.key.namespace.clone(),
            name: c.key.name.clone(),
            state: SyncState::Held,
            hash: owned
                .get(&c.key.key_parts())
                .map(|e| e.hash.clone())
                .unwrap_or_default(),
            revision: String::new(),
            message: format!(
                "no longer rendered; its deletion is held by the prune guard: {}",
                held.allow.join(" or ")
            ),
            health: None,
            source: c.source.clone(),
        })
        .collect()
}

/// Adds what the clusters report to a project's digest: each service's health per cluster (its
/// InferenceService or Deployment), and each pipeline's runs from its run records.
fn fill_live(digest: &mut doc::ProjectDigest, live: &Live, runs: &[&Arc<PipelineRuns>]) {
    for &(cluster, co, obj) in live.get(digest.name.as_str()).into_iter().flatten() {
        let key = obj.key();
        let Some(h) = co.health.get(&key) else {
            continue;
        };
        if matches!(key.kind.as_str(), "InferenceService" | "Deployment")
            && let Some(s) = digest.services.iter_mut().find(|s| s.file == obj.source)
        {
            s.health.insert(cluster.clone(), health_of(h.status));
        }
    }
    for doc in runs {
        let Some(p) = digest.pipelines.iter_mut().find(|p| p.name == doc.pipeline) else {
            continue;
        };
        for (cluster, c) in &doc.clusters {
            p.runs.extend(c.runs.iter().map(|r| doc::RunDigest {
                name: r.workflow.clone(),
                cluster: cluster.clone(),
                date: r.date,
                phase: r.phase,
            }));
        }
    }
    for p in &mut digest.pipelines {
        // Newest first.
        p.runs
            .sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.cluster.cmp(&b.cluster)));
    }
}

/// The objects whose health a cluster reported, by project: `(cluster, outcome, object)`.
type Live<'a> = HashMap<&'a str, Vec<(&'a String, &'a ClusterOutcome, &'a RenderedObject)>>;

/// Indexes the objects of clusters that report health (directory targets do not) by project,
/// so each project's digest looks only at its own.
fn live_by_project(clusters: &BTreeMap<String, ClusterOutcome>) -> Live<'_> {
    let mut live: Live = HashMap::new();
    for (cluster, co) in clusters.iter().filter(|(_, co)| !co.health.is_empty()) {
        for obj in co.desired.objects() {
            if let Some(p) = obj.project.as_deref() {
                live.entry(p).or_default().push((cluster, co, obj));
            }
        }
    }
    live
}

/// The page's health from the Kubernetes target's.
fn health_of(h: HealthStatus) -> doc::Health {
    match h {
        HealthStatus::Healthy => doc::Health::Healthy,
        HealthStatus::Progressing => doc::Health::Progressing,
        HealthStatus::Degraded => doc::Health::Degraded,
        HealthStatus::Unknown => doc::Health::Unknown,
    }
}

/// The previous reconcile's status files, and what they were made from: its documents by
/// path, its units by cluster and project, its project digests and its run records.
#[derive(Default)]
pub(crate) struct Memo {
    /// Its files (this reconcile's are made by changing them).
    root: Dir,
    /// Where its history record is (each reconcile writes a new one).
    history: Option<String>,
    /// The lines of each project in the summary.
    summary: super::summary_file::ProjectLines,
    /// Units by cluster, then by project (`None`: the cluster's own objects).
    units: BTreeMap<String, BTreeMap<Option<String>, UnitMade>>,
    /// Digests by project.
    digests: BTreeMap<String, DigestMade>,
    /// Run records by project, pipeline and cluster, with their files.
    runs: BTreeMap<RunKey, (Arc<PipelineRuns>, StatusFile)>,
}

/// The key of a pipeline's run records on one cluster: project, pipeline, cluster.
type RunKey = (String, String, String);

/// A project digest as written, with the last good state and run records it was made from
/// when these alone decided it.
struct DigestMade {
    from: Option<(Arc<Good>, Vec<Arc<PipelineRuns>>)>,
    digest: Option<doc::ProjectDigest>,
    file: StatusFile,
}

/// What one project's digest is made of.
struct DigestInput<'a> {
    name: &'a String,
    good: Option<&'a Arc<Good>>,
    held: bool,
    project: &'a crate::model::Project,
    runs: Vec<&'a Arc<PipelineRuns>>,
}

impl Memo {
    /// Takes `file`, read from the status branch at `path`, as the file of the run records
    /// `doc` (parsed from it, one cluster's): written again only once they change. Ignored
    /// unless `path` is where these records are written.
    pub(crate) fn seed_runs(&mut self, path: String, doc: Arc<PipelineRuns>, file: StatusFile) {
        let Some(cluster) = doc
            .clusters
            .keys()
            .next()
            .filter(|_| doc.clusters.len() == 1)
        else {
            return;
        };
        if path != paths::cluster_runs(cluster, &doc.project, &doc.pipeline) {
            return;
        }
        let key = (doc.project.clone(), doc.pipeline.clone(), cluster.clone());
        self.root.insert_file(&path, file.clone());
        self.runs.insert(key, (doc, file));
    }
}

/// A unit as written, with the states of its objects counted and its documents (to reuse
/// the file of each that is the same next time).
struct UnitMade {
    /// The group it was made from, when that and `held` alone decided its files.
    settled_group: Option<Group>,
    held: bool,
    unit: Dir,
    counts: doc::StateCounts,
    /// Its objects' statuses, by path inside the unit.
    objects: HashMap<String, (doc::ObjectStatus, StatusFile)>,
    inventory: Option<(Inventory, StatusFile)>,
}

/// Objects per thread when units are built in parallel.
const MIN_OBJECTS_PER_THREAD: usize = 512;

/// Pairs each item of `new` (in key order) with the value of `old` under its key (`cmp`
/// orders an item against a key and its value); also returns the keys of `old` that no item
/// has.
#[allow(clippy::type_complexity)]
pub(super) fn pair_up<N, K: Ord + Clone, V>(
    new: Vec<N>,
    old: &BTreeMap<K, V>,
    cmp: impl Fn(&N, &K, &V) -> std::cmp::Ordering,
) -> (Vec<(N, Option<&V>)>, Vec<K>) {
    use std::cmp::Ordering::{Equal, Greater};
    let mut old = old.iter().peekable();
    let mut gone = Vec::new();
    let paired = new
        .into_iter()
        .map(|n| {
            while let Some((k, _)) = old.next_if(|(k, v)| cmp(&n, k, v) == Greater) {
                gone.push(k.clone());
            }
            let last = old.next_if(|(k, v)| cmp(&n, k, v) == Equal).map(|(_, v)| v);
            (n, last)
        })
        .collect();
    gone.extend(old.map(|(k, _)| k.clone()));
    (paired, gone)
}

/// Removes the entries `gone` from `old`, and their files (at `path` of each) from `root`.
fn remove_gone<K: Ord, V>(
    root: &mut Dir,
    old: &mut BTreeMap<K, V>,
    gone: Vec<K>,
    path: impl Fn(&K) -> String,
) {
    for key in gone {
        root.remove(&path(&key));
        old.remove(&key);
    }
}

/// Makes the files of one status commit by changing the previous commit's: only documents
/// that changed are serialised again, and only their paths are touched.
struct Files<'m> {
    root: Dir,
    memo: &'m mut Memo,
}

impl Files<'_> {
    /// Puts the units of `cluster` (see [`build_unit`]), built in parallel, and removes those
    /// it no longer has; returns the counts of each. A unit whose inputs are the previous
    /// one's (the same group, settled, held alike) is that one, not built again.
    fn units(&mut self, cluster: &str, inputs: Vec<UnitInput>) -> Vec<doc::StateCounts> {
        let mut old = self.memo.units.remove(cluster).unwrap_or_default();
        let (work, gone) = pair_up(inputs, &old, |u, k, _| u.project.cmp(&k.as_ref()));
        let reused = |(u, last): &(UnitInput, Option<&UnitMade>)| {
            last.is_some_and(|last| {
                u.settled
                    && last.held == u.held
                    && last
                        .settled_group
                        .as_ref()
                        .zip(u.group)
                        .is_some_and(|(a, b)| Arc::ptr_eq(a, b))
            })
        };
        // Decided before anything is built: only the units built are handed to threads.
        let todo: Vec<&(UnitInput, Option<&UnitMade>)> =
            work.iter().filter(|w| !reused(w)).collect();
        let objects: usize = todo.iter().map(|(u, _)| u.size()).sum();
        let min = (todo.len() * MIN_OBJECTS_PER_THREAD).div_ceil(objects.max(1));
        let built = crate::par::map_in_runs(&todo, min, |(u, last)| build_unit(u, *last));
        let mut built = built.into_iter();
        let mut counts = Vec::with_capacity(work.len());
        let mut changed = Vec::new();
        for w in &work {
            let (u, last) = w;
            if reused(w) {
                counts.push(
                    last.expect("a unit is reused only when there was one")
                        .counts,
                );
                continue;
            }
            let mut made = built.next().expect("one unit built per unit not reused");
            counts.push(made.counts);
            match last.filter(|l| l.unit == made.unit) {
                Some(l) => made.unit = l.unit.clone(),
                None => self.root.insert(
                    &paths::unit(cluster, u.project.map(String::as_str)),
                    Node::Dir(made.unit.clone()),
                ),
            }
            changed.push((u.project.cloned(), made));
        }
        drop(work);
        remove_gone(&mut self.root, &mut old, gone, |p| {
            paths::unit(cluster, p.as_deref())
        });
        old.extend(changed);
        self.memo.units.insert(cluster.to_string(), old);
        counts
    }

    /// Removes the units of the clusters not in `clusters`.
    fn drop_clusters(&mut self, clusters: &BTreeMap<String, ClusterOutcome>) {
        let gone: Vec<String> = self
            .memo
            .units
            .keys()
            .filter(|c| !clusters.contains_key(*c))
            .cloned()
            .collect();
        for cluster in gone {
            self.memo.units.remove(&cluster);
            self.root
                .remove(&format!("{}{cluster}/", paths::CLUSTERS_DIR));
        }
    }

    /// Puts the digest of each project, built in parallel, and removes those of projects gone:
    /// the previous file when the project's last good state and its run records are the same
    /// ones and no cluster reports on its objects, built otherwise (its previous file kept when
    /// the digest is the same).
    fn digests(&mut self, model: &Model, live: &Live, inputs: Vec<DigestInput>) {
        let mut old = std::mem::take(&mut self.memo.digests);
        let (work, gone) = pair_up(inputs, &old, |d, k, _| d.name.cmp(k));
        let settled = |d: &DigestInput<'_>| {
            d.good
                .filter(|_| !d.held && !live.contains_key(d.name.as_str()))
                .cloned()
        };
        // Decided before anything is built: only the digests built are handed to threads.
        let todo: Vec<&(DigestInput, Option<&DigestMade>)> = work
            .iter()
            .filter(|(d, last)| {
                let settled = settled(d);
                let same = |(g, runs): &(Arc<Good>, Vec<Arc<PipelineRuns>>)| {
                    settled.as_ref().is_some_and(|s| Arc::ptr_eq(g, s))
                        && runs.len() == d.runs.len()
                        && runs.iter().zip(&d.runs).all(|(a, b)| Arc::ptr_eq(a, b))
                };
                !last.is_some_and(|l| l.from.as_ref().is_some_and(same))
            })
            .collect();
        let made = crate::par::map_in_runs(&todo, 64, |(d, last)| {
            let from = settled(d).map(|g| (g, d.runs.iter().map(|r| Arc::clone(r)).collect()));
            let shown = d.good.map(|g| &*g.project).unwrap_or(d.project);
            let mut digest = project_digest(model, shown);
            fill_live(&mut digest, live, &d.runs);
            let previous = last.and_then(|l| Some((l.digest.as_ref()?, &l.file)));
            let file = yaml_file(&digest, previous);
            DigestMade {
                from,
                digest: Some(digest),
                file,
            }
        });
        let mut changed = Vec::new();
        for ((d, last), made) in todo.into_iter().zip(made) {
            if last.is_none_or(|l| l.file != made.file) {
                self.root
                    .insert_file(&paths::project(d.name), made.file.clone());
            }
            changed.push((d.name.clone(), made));
        }
        drop(work);
        remove_gone(&mut self.root, &mut old, gone, |name| paths::project(name));
        old.extend(changed);
        self.memo.digests = old;
    }

    /// Puts the file of each pipeline's run records on each cluster, and removes those gone:
    /// records that are the same (the loop keeps the same `Arc` for records that did not
    /// change) keep their file.
    fn runs(&mut self, runs: &BTreeMap<RunKey, Arc<PipelineRuns>>) {
        let mut old = std::mem::take(&mut self.memo.runs);
        // The same records are under the same key (their project, pipeline and cluster): the
        // keys of most are not compared.
        let (work, gone) = pair_up(runs.iter().collect(), &old, |(k, doc), old, (last, _)| {
            if Arc::ptr_eq(doc, last) {
                std::cmp::Ordering::Equal
            } else {
                (*k).cmp(old)
            }
        });
        // Records the loop did not change are the same `Arc`; others are compared.
        let changed: Vec<_> = work
            .into_iter()
            .filter(|((_, doc), last)| !last.is_some_and(|(l, _)| Arc::ptr_eq(l, doc)))
            .collect();
        let files = crate::par::map_in_runs(&changed, 16, |((_, doc), last)| {
            yaml_file(&***doc, last.map(|(l, f)| (&**l, f)))
        });
        let mut updated = Vec::with_capacity(changed.len());
        for (((key, doc), last), file) in changed.into_iter().zip(files) {
            if last.is_none_or(|(_, f)| *f != file) {
                let (project, pipeline, cluster) = key;
                let path = paths::cluster_runs(cluster, project, pipeline);
                self.root.insert_file(&path, file.clone());
            }
            updated.push((key.clone(), (doc.clone(), file)));
        }
        remove_gone(
            &mut self.root,
            &mut old,
            gone,
            |(project, pipeline, cluster)| paths::cluster_runs(cluster, project, pipeline),
        );
        old.extend(updated);
        self.memo.runs = old;
    }
}

/// The files of the unit `u`: each object's status and the inventory, reusing the file
/// `last` wrote of every document that did not change.
fn build_unit(u: &UnitInput, last: Option<&UnitMade>) -> UnitMade {
    let co = u.co;
    let mut files = BTreeMap::new();
    let mut objects = HashMap::with_capacity(u.size());
    let mut counts = doc::StateCounts::default();
    let mut object_file = |rel: String, status: doc::ObjectStatus| {
        let previous = last.and_then(|l| l.objects.get(&rel)).map(|(d, f)| (d, f));
        let file = object_status_file(&status, previous);
        files.insert(rel.clone(), file.clone());
        objects.insert(rel, (status, file));
    };
    for obj in u.group.into_iter().flat_map(|g| g.iter()) {
        let key = obj.key();
        let err = u.failures.get(&key);
        let state = object_state(co, &key, err.is_some());
        match state {
            SyncState::Synced => counts.synced += 1,
            SyncState::OutOfSync => counts.out_of_sync += 1,
            SyncState::Failed => counts.failed += 1,
            SyncState::Unreachable => counts.unreachable += 1,
            SyncState::Held => counts.held += 1,
            SyncState::NotConfigured => counts.not_configured += 1,
        }
        let health = co.health.get(&key).map(|h| doc::ObjectHealth {
            status: health_of(h.status),
            message: h.message.clone(),
        });
        let message = match (err, state) {
            (Some(e), _) => e.clone(),
            (None, SyncState::OutOfSync) => co.note(&key).map_or_else(
                || {
                    "differs from the desired state (changed in the cluster, or not applied yet)"
                        .to_string()
                },
                |n| format!("changed in the cluster: {n}"),
            ),
            (None, SyncState::Unreachable) => "cluster unreachable".into(),
            (None, SyncState::NotConfigured) => "cluster not configured".into(),
            _ if u.held => "held at last good revision".into(),
            _ => String::new(),
        };
        let rel = paths::object_in_unit(&key.kind, &key.name);
        let status = doc::ObjectStatus {
            api_version: key.api_version.clone(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            state,
            hash: obj.hash.clone(),
            revision: obj.body.revision().to_string(),
            message,
            health,
            source: obj.source.clone(),
        };
        object_file(rel, status);
    }
    for status in held_objects(u) {
        counts.held += 1;
        let rel = paths::object_in_unit(&status.kind, &status.name);
        object_file(rel, status);
    }
    let mut owned: Vec<InventoryEntry> = match &co.inventory {
        Some(Owned::Desired) => u
            .group
            .into_iter()
            .flat_map(|g| g.iter())
            .map(InventoryEntry::from)
            .collect(),
        _ => u.owned.iter().map(|e| (*e).clone()).collect(),
    };
    let inventory = (!owned.is_empty()).then(|| {
        owned.sort();
        let inventory = Inventory { objects: owned };
        let previous = last.and_then(|l| l.inventory.as_ref()).map(|(d, f)| (d, f));
        let file = inventory_file(&inventory, previous);
        files.insert(paths::INVENTORY.to_string(), file.clone());
        (inventory, file)
    });
    UnitMade {
        settled_group: u.group.filter(|_| u.settled).cloned(),
        held: u.held,
        unit: Dir::from_files(files.iter().map(|(p, f)| (p.as_str(), f.clone()))),
        counts,
        objects,
        inventory,
    }
}
