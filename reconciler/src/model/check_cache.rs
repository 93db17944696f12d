//! Semantic diagnostics kept per project between loads of revision after revision. Every check
//! but one looks at one project at a time (with the platform: clusters, templates) and reports
//! at that project's files; so a project whose directory has the same git tree id, while no
//! file outside the project directories changed, has the same diagnostics as last time. Only
//! the other projects are checked again, in a model holding just them. The check across
//! projects (quotas against resource-group capacity) runs every time, on each project's quota
//! demands, kept like its diagnostics.

use super::Model;
use super::checks::{self, GroupDemand, Rejected};
use crate::diag::Diagnostic;
use crate::source::Snapshot;
use git2::Oid;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

/// Each project's diagnostics and quota demands with the tree id they were found for.
#[derive(Default)]
pub(super) struct CheckCache {
    /// Digest of the ids of every file outside `projects/` when the entries were made.
    platform: Option<Vec<u8>>,
    projects: HashMap<String, Checked>,
}

/// What the checks found for one project: its directory's tree id when they ran, its
/// diagnostics and its quota demands (for the check across projects).
struct Checked {
    tree: Oid,
    diags: Vec<Diagnostic>,
    demands: Vec<GroupDemand>,
}

impl CheckCache {
    /// Every semantic diagnostic of `model`, read from `snapshot`: kept ones for unchanged
    /// projects, found now for the others and for the platform. `changed`, when known, names
    /// every project whose directory may have changed since the previous run (the others are
    /// not looked up).
    pub fn run(
        &mut self,
        snapshot: &Snapshot,
        model: &Model,
        rejected: &Rejected,
        changed: Option<&BTreeSet<String>>,
    ) -> Vec<Diagnostic> {
        let platform = platform_digest(snapshot, rejected);
        if platform.is_none() || platform != self.platform {
            self.projects.clear();
        }
        self.platform = platform;
        match changed {
            Some(changed) => changed
                .iter()
                .filter(|p| !model.projects.contains_key(*p))
                .for_each(|gone| drop(self.projects.remove(gone))),
            None => self.projects.retain(|p, _| model.projects.contains_key(p)),
        }
        let tree = |p: &str| snapshot.ids.get(&format!("projects/{p}/")).copied();
        let (kept, fresh): (Vec<&String>, Vec<&String>) = match changed {
            Some(changed) => model
                .projects
                .keys()
                .partition(|p| !changed.contains(*p) && self.projects.contains_key(*p)),
            None => model.projects.keys().partition(|p| {
                tree(p).is_some_and(|id| self.projects.get(*p).is_some_and(|c| c.tree == id))
            }),
        };
        let view = Model {
            projects: fresh
                .iter()
                .map(|p| ((*p).clone(), model.projects[*p].clone()))
                .collect(),
            revision: model.revision.clone(),
            platform: model.platform.clone(),
            clusters: model.clusters.clone(),
            templates: model.templates.clone(),
        };
        let mut diags = checks::per_project(&view, rejected);
        let mut found: BTreeMap<&str, Vec<Diagnostic>> = BTreeMap::new();
        for d in &diags {
            if let Some(p) = d.project.as_deref() {
                found.entry(p).or_default().push(d.clone());
            }
        }
        // Projects without a tree id (a snapshot without ids) are not kept.
        let mut unkept: Vec<GroupDemand> = Vec::new();
        for p in &fresh {
            let demands = checks::quota::demands(model, &model.projects[*p]);
            match tree(p) {
                Some(tree) => {
                    let diags = found.remove(p.as_str()).unwrap_or_default();
                    let checked = Checked {
                        tree,
                        diags,
                        demands,
                    };
                    self.projects.insert((*p).clone(), checked);
                }
                None => unkept.extend(demands),
            }
        }
        for p in kept {
            diags.extend(self.projects[p].diags.iter().cloned());
        }
        let demands = model
            .projects
            .keys()
            .filter_map(|p| self.projects.get(p))
            .flat_map(|c| &c.demands)
            .chain(&unkept);
        checks::across_projects_of(model, demands, &mut diags);
        diags
    }
}

/// A digest of the git ids of every file and directory outside `projects/`, and of the
/// rejected manifests (a rejected template in one project may define a name another refers
/// to); `None` for a snapshot without ids (a working directory), always checked in full.
fn platform_digest(snapshot: &Snapshot, rejected: &Rejected) -> Option<Vec<u8>> {
    if snapshot.ids.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(format!("{:?}{:?}", rejected.names(), rejected.files()));
    let outside = snapshot
        .ids
        .range::<str, _>((Bound::Unbounded, Bound::Excluded("projects/")))
        .chain(
            snapshot
                .ids
                .range::<str, _>((Bound::Included("projects0"), Bound::Unbounded)),
        );
    for (path, id) in outside.filter(|(p, _)| !p.is_empty()) {
        h.update(path.as_bytes());
        h.update(id.as_bytes());
    }
    Some(h.finalize().to_vec())
}

#[cfg(test)]
pub(super) mod tests {
    use crate::model::{Loader, load};
    use crate::source::Snapshot;
    use crate::source::snapshot_dir;
    use git2::{ObjectType, Oid};
    use std::path::Path;

    /// `snapshot` with git-like ids: each file's blob id, and for each directory a digest of
    /// what is under it (equal ids, equal content), as a commit's snapshot has.
    pub(in crate::model) fn with_ids(mut snapshot: Snapshot) -> Snapshot {
        let mut dirs: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
        for (path, body) in &snapshot.files {
            let crate::source::FileBody::Bytes(bytes) = body else {
                continue;
            };
            let id = Oid::hash_object(ObjectType::Blob, bytes).unwrap();
            snapshot.ids.insert(path.clone(), id);
            for (i, _) in path.match_indices('/') {
                let under = dirs.entry(path[..=i].to_string()).or_default();
                under.extend_from_slice(path.as_bytes());
                under.extend_from_slice(id.as_bytes());
            }
        }
        for (dir, content) in dirs {
            let id = Oid::hash_object(ObjectType::Tree, &content).unwrap();
            snapshot.ids.insert(dir, id);
        }
        snapshot
    }

    /// `base` with the first `from` of `path` replaced by `to`, its ids made again.
    pub(in crate::model) fn edited(base: &Snapshot, path: &str, from: &str, to: &str) -> Snapshot {
        let mut s = Snapshot {
            ids: Default::default(),
            ..base.clone()
        };
        let crate::source::FileBody::Bytes(bytes) = &s.files[path] else {
            panic!("{path} has bytes");
        };
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.contains(from), "{path} lacks {from}");
        let new = text.replacen(from, to, 1);
        s.files.insert(
            path.to_string(),
            crate::source::FileBody::Bytes(new.into_bytes().into()),
        );
        with_ids(s)
    }

    #[test]
    fn revision_after_revision_gives_the_diagnostics_of_a_full_load() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo");
        let base = with_ids(snapshot_dir(&repo).unwrap());
        let pipeline = "projects/recsys/pipelines/daily-ranker.yaml";
        let broken = edited(
            &base,
            pipeline,
            "cron: \"0 2 * * *\"",
            "cron: \"0 25 * * *\"",
        );
        let platform = edited(
            &broken,
            "templates/python.yaml",
            "required: [script]",
            "required: [script, extra]",
        );
        // Another project changes while the broken one is kept: its error is still reported.
        let other = edited(&broken, "projects/nlp/project.yaml", "NLP team", "NLP");
        let mut loader = Loader::default();
        for (step, snapshot) in [&base, &broken, &other, &platform, &broken, &base]
            .into_iter()
            .enumerate()
        {
            let (_, incremental) = loader.load(snapshot);
            let (_, full) = load(snapshot);
            assert_eq!(incremental, full, "step {step}");
            let errors = full.iter().filter(|d| d.is_error()).count();
            assert_eq!(errors > 0, step != 0 && step != 5, "step {step}: {full:?}");
        }
    }
}
