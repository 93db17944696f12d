//! Source stage: an immutable snapshot of the repository's files at one revision.

mod dir;
pub mod git;
pub mod local;

pub use dir::snapshot_dir;

use std::collections::BTreeMap;
use std::sync::Arc;

/// The files of a platform repository at one revision: plain data handed to the model stage.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The git revision (full sha), or `None` for a working directory.
    pub revision: Option<String>,
    /// Repository-relative path (`/` separators) → file contents. Only manifest candidates
    /// (`.yaml`/`.yml`) are included; oversized files are kept as [`FileBody::TooLarge`].
    pub files: BTreeMap<String, FileBody>,
}

/// The content of one file in a snapshot.
#[derive(Debug, Clone)]
pub enum FileBody {
    /// The bytes of the file.
    Bytes(Arc<[u8]>),
    /// The file exceeds [`MAX_MANIFEST_BYTES`]; its size in bytes. Its bytes are never read.
    TooLarge(u64),
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
        let body = if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            FileBody::TooLarge(bytes.len() as u64)
        } else {
            FileBody::Bytes(bytes.into())
        };
        self.files.insert(path, body);
    }
}
