//! The files of one status commit (see docs/status-format.md).

use super::digest::{error_entry, plain_error, project_digest};
use super::{Config, Good, Outcome};
use crate::model::Model;
use crate::target::Action;
use cubist_status_ui::doc::{self, SyncState};
use cubist_status_ui::tree::paths;

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Every status document of a reconcile as `path → YAML`. A document equal to the one `memo`
/// holds for its path is not serialised again; `memo` then holds this reconcile's documents.
#[allow(clippy::too_many_arguments)]
pub(super) fn files(
    model: &Model,
    current: &BTreeMap<String, Arc<Good>>,
    o: &Outcome,
    author: &str,
    message: &str,
    duration_ms: u64,
    cfg: &Config,
    memo: &mut Memo,
) -> BTreeMap<String, Vec<u8>> {
    let now = chrono::Utc::now();
    let mut files = BTreeMap::new();
    let mut next = Memo::default();
    let mut put = |path: String, value: &dyn erased::Yaml| {
        let yaml = value.yaml(&path, memo, &mut next);
        files.insert(path, yaml);
    };
    let errors = |project: Option<&str>| -> Vec<doc::ErrorEntry> {
        o.diagnostics
            .iter()
            .filter(|d| d.is_error() && d.project.as_deref() == project)
            .map(error_entry)
            .collect()
    };
    let mut clusters = Vec::new();
    let mut history_clusters = Vec::new();
    for (name, co) in &o.clusters {
        let target = match &model.clusters[name].spec.target {
            crate::model::kinds::Target::Directory { path } => format!("directory {path}"),
            crate::model::kinds::Target::Kubernetes { context, .. } => {
                format!("kubernetes {}", context.as_deref().unwrap_or("default"))
            }
        };
        let mut changes = doc::ChangeCounts::default();
        let mut counts = doc::StateCounts::default();
        let mut cluster_errors = Vec::new();
        if let (Some(plan), Some(report)) = (&co.plan, &co.report) {
            changes.created = plan.count(Action::Create) as u64;
            changes.changed = plan.count(Action::Update) as u64;
            changes.deleted = plan.count(Action::Delete) as u64;
            changes.unchanged = plan.count(Action::Unchanged) as u64;
            let failed: BTreeMap<&str, &str> = report
                .failed
                .iter()
                .map(|(k, e)| (k.as_str(), e.as_str()))
                .collect();
            for obj in &co.desired.objects {
                let key = obj.key();
                let err = failed.get(key.to_string().as_str());
                let state = if err.is_some() {
                    SyncState::Failed
                } else {
                    SyncState::Synced
                };
                match state {
                    SyncState::Failed => counts.failed += 1,
                    _ => counts.synced += 1,
                }
                let project = obj.project.as_deref();
                let held = project.is_some_and(|p| o.projects_held.iter().any(|h| h == p));
                put(
                    paths::object(name, project, &key.kind, &key.name),
                    &doc::ObjectStatus {
                        api_version: key.api_version.clone(),
                        kind: key.kind.clone(),
                        namespace: key.namespace.clone(),
                        name: key.name.clone(),
                        state,
                        hash: obj.hash.clone(),
                        revision: obj
                            .body
                            .pointer("/metadata/annotations/cubist.dev~1revision")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        message: err.map(|e| e.to_string()).unwrap_or_else(|| {
                            if held {
                                "held at last good revision".into()
                            } else {
                                String::new()
                            }
                        }),
                        health: None,
                        source: obj.source.clone(),
                    },
                );
            }
            cluster_errors.extend(
                report
                    .failed
                    .iter()
                    .map(|(k, e)| plain_error("apply", format!("{k}: {e}"))),
            );
            put(
                paths::inventory(name),
                &doc::Inventory {
                    objects: co
                        .desired
                        .objects
                        .iter()
                        .map(|obj| {
                            let k = obj.key();
                            doc::InventoryEntry {
                                api_version: k.api_version,
                                kind: k.kind,
                                namespace: k.namespace,
                                name: k.name,
                                project: obj.project.clone().unwrap_or_default(),
                                hash: obj.hash.clone(),
                            }
                        })
                        .collect(),
                },
            );
        }
        if let Some(why) = &co.skipped {
            cluster_errors.push(plain_error("skipped", why.clone()));
        }
        let state = if co.skipped.is_some() || !cluster_errors.is_empty() {
            SyncState::Failed
        } else {
            SyncState::Synced
        };
        history_clusters.push(doc::HistoryCluster {
            name: name.clone(),
            state,
            changes: changes.clone(),
        });
        clusters.push(doc::ClusterStatus {
            name: name.clone(),
            target,
            state,
            revision: o.revision.clone(),
            applied_at: co.report.as_ref().map(|_| now),
            counts,
            health: doc::HealthCounts {
                unknown: co.desired.objects.len() as u64,
                ..Default::default()
            },
            changes: doc::ChangeCounts {
                skipped: o.projects_skipped as u64,
                ..changes
            },
            errors: cluster_errors,
        });
    }
    let mut projects = Vec::new();
    for (name, project) in &model.projects {
        let held = o.projects_held.contains(name);
        let good = current.get(name);
        projects.push(doc::ProjectStatus {
            name: name.clone(),
            display_name: project
                .manifest
                .spec
                .display_name
                .clone()
                .unwrap_or_default(),
            state: if held {
                doc::ProjectState::Failed
            } else {
                doc::ProjectState::Ready
            },
            revision: good.map(|g| g.revision.clone()).unwrap_or_default(),
            errors: errors(Some(name)),
        });
        let shown = good.map(|g| &g.project).unwrap_or(project);
        put(paths::project(name), &project_digest(model, shown));
    }
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
        projects,
        errors: repo_errors.clone(),
    };
    put(paths::SUMMARY.to_string(), &summary);
    let all_errors: Vec<doc::ErrorEntry> = o
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(error_entry)
        .collect();
    put(
        paths::history(now, &o.revision),
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
    );
    *memo = next;
    files
}

/// The status documents of the previous reconcile with their YAML, by path.
#[derive(Default)]
pub(super) struct Memo {
    docs: HashMap<String, (Box<dyn Any + Send>, Vec<u8>)>,
}

/// Serialises any status document without naming its type.
mod erased {
    use super::Memo;

    /// A status document that can be written as YAML.
    pub trait Yaml {
        /// The YAML of the document at `path`: the bytes `previous` holds when it holds an
        /// equal document there, serialised otherwise; recorded in `next` either way.
        fn yaml(&self, path: &str, previous: &mut Memo, next: &mut Memo) -> Vec<u8>;
    }

    impl<T: serde::Serialize + PartialEq + Clone + Send + 'static> Yaml for T {
        fn yaml(&self, path: &str, previous: &mut Memo, next: &mut Memo) -> Vec<u8> {
            let bytes = match previous.docs.remove(path) {
                Some((doc, bytes)) if doc.downcast_ref::<T>() == Some(self) => bytes,
                _ => cubist_status_ui::yaml::to_yaml(self)
                    .expect("status documents serialise")
                    .into_bytes(),
            };
            next.docs
                .insert(path.to_string(), (Box::new(self.clone()), bytes.clone()));
            bytes
        }
    }
}
