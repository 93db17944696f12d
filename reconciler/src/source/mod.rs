//! Source stage: an immutable snapshot of the repository's files at one revision.

mod dir;
pub mod git;
pub(crate) mod git_tree;
pub mod local;
pub(crate) mod remote;
pub mod watch;

pub use dir::snapshot_dir;

use git2::Oid;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

/// The files of a platform repository at one revision: plain data handed to the model stage.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The git revision (full sha), or `None` for a working directory.
    pub revision: Option<String>,
    /// Repository-relative path (`/` separators) → file contents. Only manifest candidates
    /// (`.yaml`/`.yml`) are included; oversized files are kept as [`FileBody::TooLarge`].
    pub files: BTreeMap<String, FileBody>,
    /// Git object ids when read from a commit (empty for a working directory): the blob id of
    /// every file in `files`, and the tree id of every directory read, keyed by its path with a
    /// trailing `/` (`""` is the root). Equal ids mean equal content.
    pub ids: BTreeMap<String, Oid>,
}

/// The content of one file in a snapshot.
#[derive(Debug, Clone)]
pub enum FileBody {
    /// The bytes of the file.
    Bytes(Arc<[u8]>),
    /// The file exceeds [`MAX_MANIFEST_BYTES`]; its size in bytes. Its bytes are never read.
    TooLarge(u64),
    /// The file could not be read (a symbolic link, a FIFO, an I/O error): why.
    Unreadable(String),
}

impl FileBody {
    /// The bytes of a file, or [`FileBody::TooLarge`] over the size limit.
    pub fn limited(bytes: Vec<u8>) -> FileBody {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            FileBody::TooLarge(bytes.len() as u64)
        } else {
            FileBody::Bytes(bytes.into())
        }
    }
}

/// Why a symbolic link in a repository is unreadable: cubist never follows one, in a working
/// directory or in a commit, so that no repository makes it read a file outside itself.
pub const LINK_NOT_FOLLOWED: &str = "it is a symbolic link, and cubist never follows links (they can lead out of the repository): replace it with a copy of the file or directory it names";

/// True for the symbolic links a snapshot reports (as [`LINK_NOT_FOLLOWED`]): those named like
/// manifests, and those in (or standing for) the directories manifests live in, `clusters/`,
/// `projects/` and `templates/`, where a link could stand for manifests. Other links, like
/// other files that are not manifests, are left out; no link is ever followed.
pub fn is_reported_link(path: &str) -> bool {
    let top = path.split('/').next().unwrap_or("");
    !path.split('/').any(|part| part.starts_with('.'))
        && (is_manifest_path(path) || matches!(top, "clusters" | "projects" | "templates"))
}

/// Manifests larger than this are rejected without being read.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// True for paths the model reads: `.yaml`/`.yml` files outside hidden directories.
pub fn is_manifest_path(path: &str) -> bool {
    (path.ends_with(".yaml") || path.ends_with(".yml"))
        && !path.split('/').any(|part| part.starts_with('.'))
}

impl Snapshot {
    /// Adds a file, applying the size limit.
    pub fn insert(&mut self, path: String, bytes: Vec<u8>) {
        self.files.insert(path, FileBody::limited(bytes));
    }

    /// The paths of the files and directories directly inside directory `dir` (`""` or
    /// ending in `/`) that the snapshot has ids of; each costs one lookup, however deep.
    pub fn children(&self, dir: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut from = Bound::Excluded(dir.to_string());
        while let Some((path, _)) = self
            .ids
            .range::<str, _>((from.as_ref().map(String::as_str), Bound::Unbounded))
            .next()
        {
            let Some(rest) = path.strip_prefix(dir) else {
                break;
            };
            match rest.split_once('/') {
                // Everything under `dir/name/` sorts before `dir/name0` ('0' follows '/').
                Some((name, _)) => {
                    out.push(format!("{dir}{name}/"));
                    from = Bound::Included(format!("{dir}{name}0"));
                }
                None => {
                    out.push(path.clone());
                    from = Bound::Excluded(path.clone());
                }
            }
        }
        out
    }

    /// Removes the file at `path`, or everything under the directory `path` (ending in `/`).
    pub fn remove(&mut self, path: &str) {
        remove_under(&mut self.ids, path);
        remove_under(&mut self.files, path);
    }
}

/// Removes the entry at `path` of a path-keyed map, or every entry under the directory `path`.
fn remove_under<V>(map: &mut BTreeMap<String, V>, path: &str) {
    let under = |p: &String| p == path || (path.ends_with('/') && p.starts_with(path));
    let gone: Vec<String> = map
        .range::<str, _>((Bound::Included(path), Bound::Unbounded))
        .map(|(p, _)| p)
        .take_while(|p| under(p))
        .cloned()
        .collect();
    for p in gone {
        map.remove(&p);
    }
}
