//! Source stage: an immutable snapshot of the repository's files at one revision.

mod dir;
pub mod git;
pub mod local;
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
    /// The file could not be read (a dangling symlink, a FIFO, an I/O error): why.
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

    /// Copies the files and ids of directory `dir` (with its trailing `/`) from `self` into
    /// `into`: how an unchanged git tree is taken over without reading its blobs.
    pub fn copy_dir(&self, dir: &str, into: &mut Snapshot) {
        let from = (Bound::Included(dir), Bound::Unbounded);
        for (path, body) in self.files.range::<str, _>(from) {
            if !path.starts_with(dir) {
                break;
            }
            into.files.insert(path.clone(), body.clone());
        }
        for (path, id) in self.ids.range::<str, _>(from) {
            if !path.starts_with(dir) {
                break;
            }
            into.ids.insert(path.clone(), *id);
        }
    }
}
