//! Reading revision after revision incrementally: a commit's snapshot takes over every unchanged
//! git tree and blob of the previous one, the model loader reuses every unchanged file's
//! parsed documents, and each project's input hash comes from git ids: kept for a project
//! whose directory id is the same while the files outside the project directories are.

use crate::diag::Diagnostic;
use crate::model::{Loader, Model};
use crate::source::Snapshot;
use crate::source::git::GitMirror;
use anyhow::Result;
use git2::Oid;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One revision, read and validated.
pub(super) struct Revision {
    /// The valid part of the repository.
    pub model: Model,
    /// Every diagnostic.
    pub diags: Vec<Diagnostic>,
    /// Project → digest of its inputs (see [`input_hashes`]).
    pub input_hashes: Arc<BTreeMap<String, String>>,
    /// Time spent reading the commit's files.
    pub snapshot_time: Duration,
}

/// The previous snapshot and the loader's cache.
#[derive(Default)]
pub(super) struct Reader {
    loader: Loader,
    previous: Option<Snapshot>,
    hashes: Hashes,
}

/// What the last input hashes were made of: the digest of the files outside the project
/// directories, and each project's directory id; and the hashes, as handed out.
#[derive(Default)]
struct Hashes {
    platform: Option<[u8; 32]>,
    ids: BTreeMap<String, Oid>,
    hashes: Arc<BTreeMap<String, String>>,
}

impl Reader {
    /// Reads and validates a commit of the mirror, reusing what earlier reads saw.
    pub fn read(&mut self, mirror: &GitMirror, revision: Oid) -> Result<Revision> {
        let started = Instant::now();
        // Taken out while updated: a failed update leaves no half-updated snapshot behind.
        let (snapshot, since) = match self.previous.take() {
            Some(mut previous) => {
                let before = previous.revision.clone();
                let changed = mirror.update_snapshot(revision, &mut previous)?;
                (previous, before.map(|b| (b, changed)))
            }
            None => (mirror.snapshot(revision)?, None),
        };
        let snapshot_time = started.elapsed();
        let since = since.as_ref().map(|(b, c)| (b.as_str(), &c[..]));
        // The files outside the project directories are as last time when the update changed
        // paths inside project directories alone.
        let platform_same = since.is_some_and(|(_, changed)| changed.iter().all(|p| in_project(p)));
        if !platform_same {
            self.hashes.platform = None;
        }
        let (model, diags) = self.loader.load_since(&snapshot, since);
        let changed = since.map(|(_, changed)| changed);
        let input_hashes = input_hashes(&snapshot, changed, &mut self.hashes);
        self.previous = Some(snapshot);
        Ok(Revision {
            model,
            diags,
            input_hashes,
            snapshot_time,
        })
    }
}

/// True for a path inside a project directory (`projects/<p>/…`, or the directory itself).
fn in_project(path: &str) -> bool {
    project_of(path).is_some()
}

/// For each project directory `projects/<p>/`, a digest of everything its validation and
/// rendering depend on: the git tree id of its directory and the blob id of every file outside
/// the project directories (platform, clusters, templates). Empty for a snapshot without git
/// ids. The digest of the files outside is taken from `last` unless it was dropped (they
/// changed). When it was kept and `changed` lists the paths changed since the snapshot `last`
/// was made for, only the projects with a changed path are looked at; otherwise the project
/// directories are found by skipping over each one's files, not by visiting them, and a
/// project whose directory id is the same keeps its hash.
fn input_hashes(
    snapshot: &Snapshot,
    changed: Option<&[String]>,
    last: &mut Hashes,
) -> Arc<BTreeMap<String, String>> {
    match (last.platform, changed) {
        (Some(platform), Some(changed)) => {
            let mut names: Vec<&str> = changed.iter().filter_map(|p| project_of(p)).collect();
            names.sort_unstable();
            names.dedup();
            for name in names {
                let id = snapshot.ids.get(&format!("projects/{name}/"));
                project_hash(platform, name, id.copied(), last);
            }
        }
        _ => all_hashes(snapshot, last),
    }
    last.hashes.clone()
}

/// Makes every input hash again (see [`input_hashes`]).
fn all_hashes(snapshot: &Snapshot, last: &mut Hashes) {
    if last.platform.is_none() {
        // Every hash covers the files outside: none is kept once they changed.
        last.ids.clear();
    }
    let platform = *last
        .platform
        .get_or_insert_with(|| platform_digest(snapshot));
    let mut found = BTreeMap::new();
    let mut next = std::ops::Bound::Included("projects/".to_string());
    while let Some((path, id)) = snapshot
        .ids
        .range::<String, _>((next.as_ref(), std::ops::Bound::Unbounded))
        .next()
    {
        let Some(rest) = path.strip_prefix("projects/") else {
            break;
        };
        let name = match rest.split_once('/') {
            Some((name, "")) if !name.is_empty() => Some(name),
            _ => None,
        };
        // Past this directory's contents (`/` sorts just before `0`), or past this entry.
        next = match name {
            Some(name) => std::ops::Bound::Included(format!("projects/{name}0")),
            None => std::ops::Bound::Excluded(path.clone()),
        };
        if let Some(name) = name {
            found.insert(name.to_string(), *id);
        }
    }
    let gone: Vec<String> = last
        .hashes
        .keys()
        .filter(|n| !found.contains_key(*n))
        .cloned()
        .collect();
    for name in gone {
        project_hash(platform, &name, None, last);
    }
    for (name, id) in &found {
        project_hash(platform, name, Some(*id), last);
    }
}

/// Sets the input hash of project `name`, whose directory id is `id` (`None`: it has no
/// directory, and no hash); kept when its id is the one it was made for.
fn project_hash(platform: [u8; 32], name: &str, id: Option<Oid>, last: &mut Hashes) {
    let Some(id) = id else {
        last.ids.remove(name);
        if last.hashes.contains_key(name) {
            Arc::make_mut(&mut last.hashes).remove(name);
        }
        return;
    };
    if last.ids.get(name) == Some(&id) && last.hashes.contains_key(name) {
        return;
    }
    let hash = hex::encode(
        Sha256::new()
            .chain_update(platform)
            .chain_update(id.as_bytes())
            .finalize(),
    );
    last.ids.insert(name.to_string(), id);
    Arc::make_mut(&mut last.hashes).insert(name.to_string(), hash);
}

/// The project a path inside a project directory is in (`projects/<p>/…`, or the directory
/// itself).
fn project_of(path: &str) -> Option<&str> {
    path.strip_prefix("projects/")
        .and_then(|r| r.split_once('/'))
        .map(|(name, _)| name)
        .filter(|name| !name.is_empty())
}

/// The digest of the files outside the project directories: each one's path and blob id.
fn platform_digest(snapshot: &Snapshot) -> [u8; 32] {
    let mut platform = Sha256::new();
    for (path, id) in &snapshot.ids {
        // A file (directories, the root `""` included, end their key in `/`).
        if !in_project(path) && !path.is_empty() && !path.ends_with('/') {
            platform.update(path.as_bytes());
            platform.update(id.as_bytes());
        }
    }
    platform.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_input_hashes_are_the_ones_made_afresh() {
        let id = |n: u8| Oid::from_bytes(&[n; 20]).unwrap();
        let mut snap = Snapshot::default();
        let paths = [
            "",
            "clusters/",
            "clusters/a.yaml",
            "projects/",
            "projects/README.yaml",
            "projects/a/",
            "projects/a/p.yaml",
            "projects/a-b/",
            "projects/a-b/x/",
            "projects/a-b/x/y.yaml",
            "projects/a0/",
            "projects/b/",
            "projects/b/q.yaml",
        ];
        for (n, p) in paths.iter().enumerate() {
            snap.ids.insert(p.to_string(), id(n as u8 + 1));
        }
        let afresh = |snap: &Snapshot| input_hashes(snap, None, &mut Hashes::default());
        let mut last = Hashes::default();
        let first = input_hashes(&snap, None, &mut last);
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            vec!["a", "a-b", "a0", "b"],
            "every project directory, none of their files"
        );
        // A project changed, the files outside not: its hash alone is new, whether the
        // changed paths are known or every directory is looked at.
        snap.ids.insert("projects/a/".into(), id(40));
        let changed = ["projects/a/p.yaml".to_string()];
        let mut walked = Hashes {
            platform: last.platform,
            ids: last.ids.clone(),
            hashes: Arc::new((*last.hashes).clone()),
        };
        let next = input_hashes(&snap, Some(&changed), &mut last);
        assert_eq!(next, afresh(&snap));
        assert_eq!(input_hashes(&snap, None, &mut walked), next);
        assert_ne!(next["a"], first["a"]);
        assert_eq!(next["b"], first["b"]);
        // A project gone and one new, each reported by its directory.
        snap.ids.remove("projects/a0/");
        snap.ids.insert("projects/c/".into(), id(42));
        let changed = ["projects/a0/".to_string(), "projects/c/".to_string()];
        let next = input_hashes(&snap, Some(&changed), &mut last);
        assert_eq!(next, afresh(&snap));
        assert_eq!(next.keys().collect::<Vec<_>>(), vec!["a", "a-b", "b", "c"]);
        // A project gone without its path reported: a walk of every directory drops it.
        snap.ids.remove("projects/c/");
        assert_eq!(input_hashes(&snap, None, &mut last), afresh(&snap));
        // A file outside changed (the reader drops the digest): every hash is new, and the
        // changed paths are not enough.
        snap.ids.insert("projects/README.yaml".into(), id(41));
        last.platform = None;
        let changed = ["projects/README.yaml".to_string()];
        let after = input_hashes(&snap, Some(&changed), &mut last);
        assert_eq!(after, afresh(&snap));
        assert_ne!(after["b"], first["b"]);
        assert!(in_project("projects/a/p.yaml") && in_project("projects/a/"));
        assert!(!in_project("projects/README.yaml") && !in_project("clusters/a.yaml"));
    }
}
