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
use std::time::{Duration, Instant};

/// One revision, read and validated.
pub(super) struct Revision {
    /// The valid part of the repository.
    pub model: Model,
    /// Every diagnostic.
    pub diags: Vec<Diagnostic>,
    /// Project → digest of its inputs (see [`input_hashes`]).
    pub input_hashes: BTreeMap<String, String>,
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
/// directories, and each project's directory id and hash.
#[derive(Default)]
struct Hashes {
    platform: Option<[u8; 32]>,
    projects: BTreeMap<String, (Oid, String)>,
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
        let input_hashes = input_hashes(&snapshot, &mut self.hashes);
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
    path.strip_prefix("projects/")
        .and_then(|r| r.split_once('/'))
        .is_some_and(|(name, _)| !name.is_empty())
}

/// For each project directory `projects/<p>/`, a digest of everything its validation and
/// rendering depend on: the git tree id of its directory and the blob id of every file outside
/// the project directories (platform, clusters, templates). Empty for a snapshot without git
/// ids. The digest of the files outside is taken from `last` unless it was dropped (they
/// changed), and a project whose directory id is the same keeps its hash; the project
/// directories are found by skipping over each one's files, not by visiting them.
fn input_hashes(snapshot: &Snapshot, last: &mut Hashes) -> BTreeMap<String, String> {
    if last.platform.is_none() {
        // Every hash covers the files outside: none is kept once they changed.
        last.projects.clear();
    }
    let platform = *last
        .platform
        .get_or_insert_with(|| platform_digest(snapshot));
    let mut projects = BTreeMap::new();
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
        let Some(name) = name else { continue };
        let hash = match last.projects.get(name) {
            Some((known, hash)) if known == id => hash.clone(),
            _ => hex::encode(
                Sha256::new()
                    .chain_update(platform)
                    .chain_update(id.as_bytes())
                    .finalize(),
            ),
        };
        projects.insert(name.to_string(), (*id, hash));
    }
    let hashes = projects
        .iter()
        .map(|(name, (_, hash))| (name.clone(), hash.clone()))
        .collect();
    last.projects = projects;
    hashes
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
        let afresh = |snap: &Snapshot| input_hashes(snap, &mut Hashes::default());
        let mut last = Hashes::default();
        let first = input_hashes(&snap, &mut last);
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            vec!["a", "a-b", "a0", "b"],
            "every project directory, none of their files"
        );
        // A project changed, the files outside not: its hash alone is new.
        snap.ids.insert("projects/a/".into(), id(40));
        let next = input_hashes(&snap, &mut last);
        assert_eq!(next, afresh(&snap));
        assert_ne!(next["a"], first["a"]);
        assert_eq!(next["b"], first["b"]);
        // A file outside changed (the reader drops the digest): every hash is new.
        snap.ids.insert("projects/README.yaml".into(), id(41));
        last.platform = None;
        let after = input_hashes(&snap, &mut last);
        assert_eq!(after, afresh(&snap));
        assert_ne!(after["b"], first["b"]);
        assert!(in_project("projects/a/p.yaml") && in_project("projects/a/"));
        assert!(!in_project("projects/README.yaml") && !in_project("clusters/a.yaml"));
    }
}
