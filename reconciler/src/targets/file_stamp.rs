//! A file's stamp as `stat` gives it (size, modification and change times, inode), and when it
//! may be trusted: like git's index, only once the file is older than the clock's granularity,
//! as a file written less than [`SETTLE`] before it was stamped could be edited again within
//! the same timestamp tick, same size, and keep its stamp. Until then a file is read again,
//! but need not be parsed when its bytes are the ones known ([`bytes_digest`]). Used by the
//! directory targets' memory and by the run-file cache of the run controller.

use std::fs::Metadata;
use std::time::{Duration, SystemTime};

/// The SHA-256 of a file's bytes: files with the same bytes hold the same object, so a file
/// read again whose stamp cannot be trusted yet (written less than [`SETTLE`] ago) need not be
/// parsed when its bytes are the ones remembered.
pub(crate) type BytesDigest = [u8; 32];

/// The [`BytesDigest`] of `bytes`.
pub(crate) fn bytes_digest(bytes: &[u8]) -> BytesDigest {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// How old a file must be before its stamp is trusted (timestamps tick in jiffies, ≤ 10 ms).
pub(crate) const SETTLE: Duration = Duration::from_secs(1);

/// A file's identity and last change, as far as `stat` tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) len: u64,
    pub(crate) modified: Option<SystemTime>,
    #[cfg(unix)]
    pub(crate) changed: (i64, i64),
    #[cfg(unix)]
    pub(crate) inode: u64,
}

impl Stamp {
    /// The stamp of a file with this metadata.
    pub(crate) fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            changed: (meta.ctime(), meta.ctime_nsec()),
            #[cfg(unix)]
            inode: meta.ino(),
        }
    }

    /// The file's inode, where the platform has them.
    pub(crate) fn inode(&self) -> Option<u64> {
        #[cfg(unix)]
        return Some(self.inode);
        #[cfg(not(unix))]
        return None;
    }

    /// True when the file is old enough for a later change to change the stamp.
    pub(crate) fn settled(&self) -> bool {
        self.modified
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= SETTLE)
    }
}
