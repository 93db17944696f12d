//! The tree of a status commit: the reconcile's files over the previous tree. Work is
//! proportional to what changed: blob ids are known before anything is written, only new blobs
//! are written, and a directory that is the very [`Dir`] written before keeps its tree without
//! being walked (a change to a `Dir` copies the directories on its path, which are then the
//! only ones walked). The new blobs and trees are written together at the end (see
//! [`crate::git_objects`]).

use super::status_dir::{Dir, Node};
use crate::git_objects::NewObjects;
use anyhow::Result;
use git2::{ObjectType, Oid, Repository};
use std::collections::BTreeMap;

pub use super::status_dir::StatusFile;

/// Paths each reconcile rewrites as a whole; everything else (history) accumulates.
pub const REPLACED: &[&str] = &[
    "status/summary.yaml",
    "status/projects/",
    "status/clusters/",
    "status/runs/",
];

const FILE: i32 = 0o100644;
/// A tree entry's id and mode.
type Entry = (Oid, i32);
const DIR: i32 = 0o040000;

/// Everything a status commit holds.
#[derive(Debug, Default)]
pub struct StatusFiles {
    /// The files, by path.
    pub root: Dir,
    /// When several replicas share the clusters: which this commit speaks for (the rest is
    /// kept as the previous tree has it; see [`super::status_shard`]).
    pub shard: Option<super::status_shard::Shard>,
}

impl StatusFiles {
    /// Puts `file` at `path`.
    pub fn insert(&mut self, path: &str, file: StatusFile) {
        self.root.insert_file(path, file);
    }
}

/// What the last status write made: its files, whose directories' trees are in the repository.
#[derive(Debug, Default)]
pub struct Written {
    root: Option<Dir>,
}

/// Builds the status tree of `status` over `previous` (see the module doc); `written` is what
/// the last write made, and becomes what this one makes once the caller keeps the result. Also
/// returns the pack the new objects were written as, when there was one of cubist's own.
pub(crate) fn build(
    repo: &Repository,
    previous: Option<&git2::Tree>,
    status: &StatusFiles,
    written: &Written,
) -> Result<(Oid, Written, Option<std::path::PathBuf>)> {
    let (ours, kept) = match &status.shard {
        Some(shard) => {
            let base = previous
                .and_then(|t| {
                    t.get_path(std::path::Path::new(cubist_status_ui::tree::paths::SUMMARY))
                        .ok()
                })
                .and_then(|e| repo.find_blob(e.id()).ok());
            let merged = shard.merge(&status.root, base.as_ref().map(|b| b.content()))?;
            (merged, shard.kept())
        }
        None => (status.root.clone(), Vec::new()),
    };
    let mut build = Build {
        repo,
        kept: &kept,
        new: NewObjects::default(),
        made: Vec::new(),
    };
    let root = build.merge(Some(&ours), written.root.as_ref(), previous, "")?;
    let root = match root {
        Some(id) => id,
        None => build.add_tree(Vec::new(), previous.map(|t| t.id())),
    };
    let Build { new, made, .. } = build;
    let pack = new.write(repo)?;
    for (dir, id) in made {
        dir.mark_written(id);
    }
    Ok((root, Written { root: Some(ours) }, pack))
}

struct Build<'a> {
    repo: &'a Repository,
    /// Replaced directories whose previous content stays (see [`StatusFiles::shard`]).
    kept: &'a [String],
    /// The blobs and trees to write.
    new: NewObjects,
    /// The directories whose trees this build made, marked written once they are.
    made: Vec<(Dir, Oid)>,
}

impl Build<'_> {
    /// The tree of directory `prefix` (`""` or ending in `/`) where the previous tree's
    /// entries stay unless [`replaced`]: `ours` over `previous`. `last` is what the last write
    /// had there. `None` when the directory ends up empty.
    fn merge(
        &mut self,
        ours: Option<&Dir>,
        last: Option<&Dir>,
        previous: Option<&git2::Tree>,
        prefix: &str,
    ) -> Result<Option<Oid>> {
        // Each name with the previous tree's entry (id, mode) and ours.
        let mut names: BTreeMap<String, (Option<Entry>, Option<&Node>)> = BTreeMap::new();
        for e in previous.into_iter().flat_map(|t| t.iter()) {
            // A name that is not UTF-8 names no status file.
            if let Ok(name) = e.name() {
                names.insert(name.to_string(), (Some((e.id(), e.filemode())), None));
            }
        }
        for (name, node) in ours.into_iter().flat_map(|o| o.entries()) {
            names.entry(name.to_string()).or_default().1 = Some(node);
        }
        let mut entries = Vec::with_capacity(names.len());
        for (name, (prev, node)) in names {
            let repo = self.repo;
            let prev_tree = || match prev {
                Some((id, DIR)) => repo.find_tree(id).map(Some),
                _ => Ok(None),
            };
            match node {
                Some(Node::File(f)) => {
                    let known = prev.is_some_and(|(id, _)| id == f.id)
                        || last_file(last, &name).is_some_and(|l| l.id == f.id);
                    self.add_blob(f, known);
                    entries.push((name, f.id, FILE));
                }
                Some(Node::Dir(d)) => {
                    let path = format!("{prefix}{name}/");
                    let id = if self.keeps(&path) {
                        prev.filter(|(_, mode)| *mode == DIR).map(|(id, _)| id)
                    } else if replaced(&path) && !self.holds_kept(&path) {
                        let last = last_dir(last, &name);
                        // The previous tree is read only where nothing written is known.
                        let known = d.written().is_some() || last.is_some();
                        let prev_tree = if known { None } else { prev_tree()? };
                        self.tree_of(d, last, prev_tree.as_ref())?
                    } else {
                        let prev_tree = prev_tree()?;
                        self.merge(Some(d), last_dir(last, &name), prev_tree.as_ref(), &path)?
                    };
                    if let Some(id) = id {
                        entries.push((name, id, DIR));
                    }
                }
                None => {
                    let Some((id, mode)) = prev else { continue };
                    let path = format!("{prefix}{name}{}", if mode == DIR { "/" } else { "" });
                    if mode == DIR && !self.keeps(&path) && self.holds_kept(&path) {
                        let prev_tree = prev_tree()?;
                        if let Some(id) = self.merge(None, None, prev_tree.as_ref(), &path)? {
                            entries.push((name, id, DIR));
                        }
                    } else if !replaced(&path) || self.keeps(&path) {
                        entries.push((name, id, mode));
                    }
                }
            }
        }
        if entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.add_tree(entries, previous.map(|t| t.id()))))
    }

    /// The tree of `dir`, which replaces whatever was there: its kept id when it is the very
    /// directory written before; else made from its entries, where a file is written unless
    /// `last` (what the last write had there) or `previous` (the previous commit's tree there)
    /// has it. `None` when it holds no file.
    fn tree_of(
        &mut self,
        dir: &Dir,
        last: Option<&Dir>,
        previous: Option<&git2::Tree>,
    ) -> Result<Option<Oid>> {
        if let Some(id) = dir.written() {
            return Ok(Some(id));
        }
        let mut entries = Vec::new();
        for (name, node) in dir.entries() {
            match node {
                Node::File(f) => {
                    let known = last_file(last, name).is_some_and(|l| l.id == f.id)
                        || previous
                            .and_then(|t| t.get_name(name))
                            .is_some_and(|e| e.id() == f.id);
                    self.add_blob(f, known);
                    entries.push((name.to_string(), f.id, FILE));
                }
                Node::Dir(sub) => {
                    let sub_last = last_dir(last, name);
                    // The previous commit's tree is read only where nothing written is known.
                    let sub_previous = match previous {
                        Some(t) if sub.written().is_none() && sub_last.is_none() => t
                            .get_name(name)
                            .filter(|e| e.filemode() == DIR)
                            .map(|e| self.repo.find_tree(e.id()))
                            .transpose()?,
                        _ => None,
                    };
                    if let Some(id) = self.tree_of(sub, sub_last, sub_previous.as_ref())? {
                        entries.push((name.to_string(), id, DIR));
                    }
                }
            }
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let had = previous.map(|t| t.id()).or(last.and_then(Dir::written));
        let id = self.add_tree(entries, had);
        self.made.push((dir.clone(), id));
        Ok(Some(id))
    }

    /// Adds the blob of `f` unless it is `known` to be in the repository (or has no bytes: a
    /// file read from the mirror).
    fn add_blob(&mut self, f: &StatusFile, known: bool) {
        if !known && let Some(bytes) = &f.bytes {
            self.new.add(f.id, ObjectType::Blob, bytes.clone());
        }
    }

    /// Adds the tree of `entries` unless its id is `had` (a tree in the repository already);
    /// returns the id.
    fn add_tree(&mut self, entries: Vec<(String, Oid, i32)>, had: Option<Oid>) -> Oid {
        let bytes = tree_bytes(entries);
        let id = crate::git_objects::object_id(ObjectType::Tree, &bytes);
        if had != Some(id) {
            self.new.add(id, ObjectType::Tree, bytes.into());
        }
        id
    }

    /// True when `path` (a directory, ending in `/`) is, or is inside, a kept directory.
    fn keeps(&self, path: &str) -> bool {
        self.kept.iter().any(|k| path.starts_with(k.as_str()))
    }

    /// True when a kept directory is strictly inside `path`.
    fn holds_kept(&self, path: &str) -> bool {
        self.kept
            .iter()
            .any(|k| k.len() > path.len() && k.starts_with(path))
    }
}

/// The file `name` directly inside `dir`.
fn last_file<'d>(dir: Option<&'d Dir>, name: &str) -> Option<&'d StatusFile> {
    match dir?.entry(name)? {
        Node::File(f) => Some(f),
        Node::Dir(_) => None,
    }
}

/// The directory `name` directly inside `dir`.
fn last_dir<'d>(dir: Option<&'d Dir>, name: &str) -> Option<&'d Dir> {
    match dir?.entry(name)? {
        Node::Dir(d) => Some(d),
        Node::File(_) => None,
    }
}

/// The bytes of the tree of `entries` (name, id, mode), in git's order (a directory sorts as
/// if its name ended in `/`), made without a lookup per entry.
fn tree_bytes(mut entries: Vec<(String, Oid, i32)>) -> Vec<u8> {
    fn sort_key(name: &str, mode: i32) -> impl Iterator<Item = u8> + '_ {
        name.bytes().chain((mode == DIR).then_some(b'/'))
    }
    entries.sort_by(|(a, _, ma), (b, _, mb)| sort_key(a, *ma).cmp(sort_key(b, *mb)));
    let mut bytes = Vec::with_capacity(entries.len() * 64);
    for (name, id, mode) in entries {
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
