//! The tree of a status commit: the reconcile's files over the previous tree. Work is
//! proportional to what changed: blob ids are known before anything is written, only new blobs
//! are written, and a directory none of whose files changed since the last write (and whose
//! previous tree is the one that write made) keeps its tree without being walked. A *unit* (a
//! directory handed over as a whole, such as one project's statuses on one cluster) that is
//! the very `Arc` written last time keeps its tree without even being looked at. The new blobs
//! and trees are written together at the end (see [`crate::git_objects`]).

use crate::git_objects::NewObjects;
use anyhow::Result;
use git2::{Oid, Repository};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Paths each reconcile rewrites as a whole; everything else (history) accumulates.
pub const REPLACED: &[&str] = &[
    "status/summary.yaml",
    "status/projects/",
    "status/clusters/",
    "status/runs/",
];

/// One file of a status commit: its git blob id, and its bytes unless the blob is in the
/// mirror's object database already. Equal when their ids are (an id is the hash of the bytes).
#[derive(Debug, Clone)]
pub struct StatusFile {
    /// Blob id of the content.
    pub id: Oid,
    /// The content; `None` for a file read from the status branch whose bytes were not needed
    /// (run records kept by blob id): its blob is in the mirror already.
    pub bytes: Option<Arc<[u8]>>,
}

impl PartialEq for StatusFile {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for StatusFile {}

impl StatusFile {
    /// A file of these bytes (its blob id computed in memory, nothing written).
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = bytes.into();
        StatusFile {
            id: crate::git_objects::object_id(git2::ObjectType::Blob, &bytes),
            bytes: Some(bytes),
        }
    }

    /// The file of blob `id`, read from the mirror's status branch, without its bytes.
    pub fn stored(id: Oid) -> Self {
        StatusFile { id, bytes: None }
    }
}

/// The files of one directory written as a whole, by path inside it.
pub type Unit = Arc<BTreeMap<String, StatusFile>>;

/// Everything a status commit holds: files by path, and units by directory (ending in `/`).
#[derive(Debug, Default)]
pub struct StatusFiles {
    /// Files by path.
    pub files: BTreeMap<String, StatusFile>,
    /// Units by directory.
    pub units: BTreeMap<String, Unit>,
    /// When several replicas share the clusters: which this commit speaks for (the rest is
    /// kept as the previous tree has it; see [`super::status_shard`]).
    pub shard: Option<super::status_shard::Shard>,
}

/// What the last status write made: each file's blob id, each unit with its tree id and each
/// other directory's tree id.
#[derive(Debug, Default)]
pub struct Written {
    files: HashMap<String, Oid>,
    units: HashMap<String, (Unit, Oid)>,
    trees: BTreeMap<String, Oid>,
}

/// Builds the status tree of `files` over `previous` (see the module doc); `written` is what the
/// last write made, and becomes what this one makes once the caller keeps the result. Also
/// returns the pack the new objects were written as, when there was one of cubist's own.
pub(crate) fn build(
    repo: &Repository,
    previous: Option<&git2::Tree>,
    status: &StatusFiles,
    written: &Written,
) -> Result<(Oid, Written, Option<std::path::PathBuf>)> {
    let merged;
    let (files, kept) = match &status.shard {
        Some(shard) => {
            let base = previous
                .and_then(|t| {
                    t.get_path(std::path::Path::new(cubist_status_ui::tree::paths::SUMMARY))
                        .ok()
                })
                .and_then(|e| repo.find_blob(e.id()).ok());
            merged = shard.files(&status.files, base.as_ref().map(|b| b.content()))?;
            (&merged, shard.kept())
        }
        None => (&status.files, Vec::new()),
    };
    /// Marks the directories above `path` (`a/`, `a/b/`) as dirty.
    fn mark<'p>(dirty: &mut HashSet<&'p str>, path: &'p str) {
        let mut end = path.len();
        while let Some(i) = path[..end].rfind('/') {
            if !dirty.insert(&path[..=i]) {
                break; // its ancestors are marked already
            }
            end = i;
        }
    }
    let mut dirty: HashSet<&str> = HashSet::new();
    for (path, f) in files {
        if written.files.get(path) != Some(&f.id) {
            mark(&mut dirty, path);
        }
    }
    for path in written.files.keys() {
        if !files.contains_key(path) {
            mark(&mut dirty, path);
        }
    }
    for dir in &kept {
        // What another writer put there is not known to `written`: look again.
        mark(&mut dirty, dir.trim_end_matches('/'));
    }
    let mut new = NewObjects::default();
    let mut units = BTreeMap::new();
    for (dir, unit) in status.units.iter().filter(|(_, u)| !u.is_empty()) {
        let id = match written.units.get(dir) {
            Some((last, id)) if Arc::ptr_eq(last, unit) => *id,
            _ => {
                mark(&mut dirty, dir.trim_end_matches('/'));
                write_unit(repo, unit, &mut new)?
            }
        };
        units.insert(dir.as_str(), id);
    }
    for dir in written.units.keys() {
        if !units.contains_key(dir.as_str()) {
            mark(&mut dirty, dir.trim_end_matches('/'));
        }
    }
    let mut merge = Merge {
        repo,
        files,
        units: &units,
        kept: &kept,
        dirty,
        previous: &written.trees,
        trees: BTreeMap::new(),
        new: &mut new,
    };
    let root = merge.tree(previous, "")?;
    let trees = merge.trees;
    let pack = new.write(repo)?;
    let made = Written {
        files: files.iter().map(|(p, f)| (p.clone(), f.id)).collect(),
        units: status
            .units
            .iter()
            .filter_map(|(d, u)| Some((d.clone(), (u.clone(), *units.get(d.as_str())?))))
            .collect(),
        trees,
    };
    Ok((root, made, pack))
}

/// Adds the blobs and trees of a unit to `new`; returns its tree id.
fn write_unit(
    repo: &Repository,
    unit: &BTreeMap<String, StatusFile>,
    new: &mut NewObjects,
) -> Result<Oid> {
    let mut merge = Merge {
        repo,
        files: unit,
        units: &BTreeMap::new(),
        kept: &[],
        dirty: HashSet::new(),
        previous: &BTreeMap::new(),
        trees: BTreeMap::new(),
        new,
    };
    merge.tree(None, "")
}

struct Merge<'a> {
    repo: &'a Repository,
    files: &'a BTreeMap<String, StatusFile>,
    /// Tree ids of the units, by directory.
    units: &'a BTreeMap<&'a str, Oid>,
    /// Replaced directories whose previous content stays (see [`StatusFiles::shard`]).
    kept: &'a [String],
    /// Directories (`a/b/`) with a file added, changed or removed since the last write.
    dirty: HashSet<&'a str>,
    previous: &'a BTreeMap<String, Oid>,
    trees: BTreeMap<String, Oid>,
    /// The blobs and trees to write.
    new: &'a mut NewObjects,
}

impl Merge<'_> {
    /// The tree of directory `prefix` (`""` or ending in `/`): the files under it over the
    /// previous tree, whose entries are kept unless [`replaced`]. A directory whose entries are
    /// all unchanged keeps its previous tree.
    fn tree(&mut self, previous: Option<&git2::Tree>, prefix: &str) -> Result<Oid> {
        let old: BTreeMap<String, (Oid, i32)> = previous
            .map(|t| {
                t.iter()
                    .filter_map(|e| Some((e.name().ok()?.to_string(), (e.id(), e.filemode()))))
                    .collect()
            })
            .unwrap_or_default();
        let mut entries: BTreeMap<String, (Oid, i32)> = old
            .iter()
            .filter(|(name, (_, mode))| {
                let dir = if *mode == 0o040000 { "/" } else { "" };
                let path = format!("{prefix}{name}{dir}");
                !replaced(&path) || self.kept.iter().any(|k| path.starts_with(k.as_str()))
            })
            .map(|(n, e)| (n.clone(), *e))
            .collect();
        let mut subdirs: BTreeSet<&str> = BTreeSet::new();
        for (path, file) in self.files.range(prefix.to_string()..) {
            let Some(rest) = path.strip_prefix(prefix) else {
                break;
            };
            match rest.split_once('/') {
                None => {
                    // A file without bytes is a blob of the mirror already.
                    if old.get(rest).map(|(id, _)| id) != Some(&file.id)
                        && let Some(bytes) = &file.bytes
                    {
                        self.new.add(file.id, git2::ObjectType::Blob, bytes.clone());
                    }
                    entries.insert(rest.to_string(), (file.id, 0o100644));
                }
                Some((dir, _)) => {
                    subdirs.insert(dir);
                }
            }
        }
        for (dir, id) in self.units.range(prefix..) {
            let Some(rest) = dir.strip_prefix(prefix) else {
                break;
            };
            match rest.split_once('/') {
                Some((name, "")) => {
                    entries.insert(name.to_string(), (*id, 0o040000));
                }
                Some((name, _)) => {
                    subdirs.insert(name);
                }
                None => {}
            }
        }
        for kept in self.kept {
            // A directory above a kept one is walked, so that the kept one is found.
            if let Some((name, more)) = kept.strip_prefix(prefix).and_then(|r| r.split_once('/'))
                && !more.is_empty()
            {
                subdirs.insert(name);
            }
        }
        for dir in subdirs {
            let path = format!("{prefix}{dir}/");
            let old_id = match old.get(dir) {
                Some((id, 0o040000)) => Some(*id),
                _ => None,
            };
            let unchanged = !self.dirty.contains(path.as_str())
                && old_id.is_some()
                && self.previous.get(&path) == old_id.as_ref();
            let id = if unchanged {
                // Nothing under it changed since the last write, which made this very tree:
                // keep it, and what that write knew of the directories inside it.
                let inside = self.previous.range(path.clone()..);
                for (p, id) in inside.take_while(|(p, _)| p.starts_with(&path)) {
                    self.trees.insert(p.clone(), *id);
                }
                old_id.expect("checked")
            } else {
                let sub = old_id.map(|id| self.repo.find_tree(id)).transpose()?;
                let id = self.tree(sub.as_ref(), &path)?;
                self.trees.insert(path, id);
                id
            };
            entries.insert(dir.to_string(), (id, 0o040000));
        }
        if let Some(t) = previous.filter(|_| entries == old) {
            return Ok(t.id());
        }
        self.new.add_tree(tree_bytes(&entries))
    }
}

/// The bytes of the tree of `entries` (name → id and mode), in git's order (a directory sorts
/// as if its name ended in `/`), made without a lookup per entry.
fn tree_bytes(entries: &BTreeMap<String, (Oid, i32)>) -> Vec<u8> {
    const DIR: i32 = 0o040000;
    fn sort_key(name: &str, mode: i32) -> impl Iterator<Item = u8> + '_ {
        name.bytes().chain((mode == DIR).then_some(b'/'))
    }
    let mut sorted: Vec<(&String, &(Oid, i32))> = entries.iter().collect();
    sorted.sort_by(|(a, (_, ma)), (b, (_, mb))| sort_key(a, *ma).cmp(sort_key(b, *mb)));
    let mut bytes = Vec::with_capacity(entries.len() * 64);
    for (name, (id, mode)) in sorted {
        bytes.extend_from_slice(format!("{mode:o} {name}\0").as_bytes());
        bytes.extend_from_slice(id.as_bytes());
    }
    bytes
}

/// True for a path each reconcile rewrites as a whole (see [`REPLACED`]).
fn replaced(path: &str) -> bool {
    REPLACED
        .iter()
        .any(|r| path == *r || (r.ends_with('/') && path.starts_with(r)))
}
