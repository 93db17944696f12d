//! The reconcile boundary: a panic anywhere in one pass (a bug in cubist that some manifest
//! triggers) is caught here. The loop's caches are dropped, as after a restart; the revision is
//! held at the last good state with an internal error (E0998) in its status commit; and the
//! loop goes on with the next commit.

use super::clusters::Clusters;
use super::{ClusterOutcome, Outcome, Reconciler, inputs};
use crate::diag::{Diagnostic, Location, codes};
use crate::model::Model;
use crate::report::status_branch::Written;
use crate::report::status_read::{self, StatusReader};
use anyhow::Result;
use cubist_status_ui::doc::{ClusterStatus, Summary};
use cubist_status_ui::tree::paths;
use git2::Oid;
use std::any::Any;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// Runs `f`; a panic in it becomes `Err` with the panic's message.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}

/// The message a panic was raised with.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

impl Reconciler {
    /// Runs one pass on `head`; after a panic, holds `head` with an internal error.
    pub(super) fn guarded(
        &mut self,
        head: Oid,
        pass: impl FnOnce(&mut Self) -> Result<Option<Outcome>>,
    ) -> Result<Option<Outcome>> {
        // Prune allowances count from the last revision that reached the clusters.
        let allow_since = self.allow_since;
        match catch(|| pass(self)) {
            Ok(result) => result,
            Err(message) => {
                tracing::error!(revision = %head, panic = %message, "reconcile panicked");
                self.allow_since = allow_since;
                self.forget_caches();
                self.hold_after_panic(head, &message).map(Some)
            }
        }
    }

    /// Drops every cache a panicking pass may have left half-updated (the reader's previous
    /// snapshot, the status memo, the cluster targets' memories and clients); what cubist owns
    /// in each cluster is read again from the status branch, as after a restart. The last good
    /// projects are kept: they are only replaced once a pass has written its status.
    fn forget_caches(&mut self) {
        self.reader = inputs::Reader::default();
        self.status_memo = crate::report::status_doc::Memo::default();
        self.status_written = Written::default();
        self.clusters = Clusters::new(
            self.cfg.target_root.clone(),
            Some(self.cfg.cache_dir.clone()),
            self.clusters.watches(),
        );
        self.resume_inventories();
    }

    /// Seeds each Kubernetes cluster's inventory from the status branch (a directory target
    /// keeps its own); returns the branch's summary, its newest commit and that commit's
    /// message (`None` when the status is missing or corrupt: then nothing is seeded). Only the
    /// summary is read unless some cluster is a Kubernetes one.
    pub(super) fn resume_inventories(&mut self) -> Option<(Summary, Oid, String)> {
        let repo = self.mirror.repo();
        let refname = format!("refs/heads/{}", self.cfg.status_branch);
        let tip = status_read::status_commit(repo, &refname).ok()??;
        let summary = status_read::read_file(repo, tip, paths::SUMMARY).ok()??;
        let summary: Summary = cubist_status_ui::yaml::from_yaml(&summary).ok()?;
        let commit = repo.find_commit(tip).ok()?;
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let kube = |c: &&ClusterStatus| c.target.starts_with("kubernetes");
        if summary.clusters.iter().any(|c| kube(&c)) {
            let tree = StatusReader::default().read_commit(repo, tip).ok()?;
            for c in summary.clusters.iter().filter(kube) {
                if let Some(Ok(inventory)) = tree.inventory(&c.name) {
                    self.clusters.resume_inventory(&c.name, inventory);
                }
            }
        }
        Some((summary, tip, message))
    }

    /// Writes the status of a revision whose pass panicked: every project held at its last
    /// good revision, every cluster failed (nothing, or only part, of the revision was
    /// applied), and the internal error. Until the next commit
    /// the revision is not tried again (a panic is a bug that would come back).
    fn hold_after_panic(&mut self, head: Oid, message: &str) -> Result<Outcome> {
        let started = Instant::now();
        // Every project restored after a restart is held too (a render that panics again
        // leaves those not rendered out, as before).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.restore_all()));
        let last = self.last.take();
        let model = match &last {
            Some(l) => l.model.clone(),
            None => Model {
                projects: self
                    .good
                    .iter()
                    .map(|(n, g)| (n.clone(), g.project.clone()))
                    .collect(),
                ..Model::default()
            },
        };
        let why = "not applied (or only in part): cubist hit an internal error on this revision";
        let clusters = not_applied(last.as_ref(), &model, why);
        let diagnostic = Diagnostic::error(
            codes::INTERNAL,
            &Location::default(),
            format!(
                "internal error: cubist panicked while reconciling this revision ({message}). \
                 This is a bug in cubist, not in the repository: every project stays at its \
                 last good revision until the next commit. Please report it to the cubist \
                 maintainers with this message and the server log."
            ),
        );
        let outcome = Outcome {
            revision: head.to_string(),
            projects_held: self.good.keys().cloned().collect(),
            clusters,
            diagnostics: vec![diagnostic],
            ..Outcome::default()
        };
        let current = self.good.clone();
        let commit = self.write(&model, &current, &outcome, started, "internal error: held")?;
        self.last_revision = Some(head);
        Ok(Outcome {
            status_commit: Some(commit),
            ..outcome
        })
    }
}

/// The clusters of `model` that the last reconcile reported, each `Failed` for `why` (this
/// revision was not applied there), with what the last one applied there and owned: the
/// objects stay as they were, and the status says so instead of leaving the clusters out.
pub(super) fn not_applied(
    last: Option<&super::Last>,
    model: &Model,
    why: &str,
) -> BTreeMap<String, ClusterOutcome> {
    last.iter()
        .flat_map(|l| &l.outcome.clusters)
        .filter(|(name, _)| model.clusters.contains_key(*name))
        .map(|(name, co)| {
            let mut failed = ClusterOutcome::failed(co.desired.clone(), why.into());
            failed.inventory = co.inventory.clone();
            failed.applied_at = co.applied_at;
            (name.clone(), failed)
        })
        .collect()
}
