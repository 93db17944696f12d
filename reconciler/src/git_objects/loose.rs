//! Loose objects written directly, as the packs are (see [`super::pack_file`]): the id is
//! known, so nothing is hashed again, and the content is stored without compression (zlib
//! "stored" blocks). libgit2's writer hashed each object again with its collision-detecting
//! SHA-1 and deflated it, which took more time than the rest of a one-file status commit at
//! 5,000 projects (a 600 KB summary, trees of thousands of entries). Git and libgit2 read such
//! objects as any other.
//!
//! As libgit2 does by default, an object is written to a temporary file in its directory and
//! renamed into place (readers see all of it or nothing), read-only, without a sync.

use super::pack_file::{zlib_stored, zlib_stored_len};
use anyhow::{Context, Result};
use git2::{ObjectType, Oid};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `data` as the loose object `id` of `kind` into `objects` (a repository's `objects`
/// directory), unless it is there already.
pub(crate) fn write(objects: &Path, id: Oid, kind: ObjectType, data: &[u8]) -> Result<()> {
    let hex = id.to_string();
    let dir = objects.join(&hex[..2]);
    let path = dir.join(&hex[2..]);
    if path.exists() {
        return Ok(());
    }
    let mut body = format!("{} {}\0", kind.str(), data.len()).into_bytes();
    body.extend_from_slice(data);
    let mut bytes = Vec::with_capacity(zlib_stored_len(body.len()));
    zlib_stored(&body, &mut bytes);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Named as git's own temporary objects, which `git gc` cleans up when left behind.
    let tmp = dir.join(format!("tmp_obj_cubist_{}_{n}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        let mut perms = file.metadata()?.permissions();
        perms.set_readonly(true);
        file.set_permissions(perms)?;
        drop(file);
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing the object {}", path.display()));
    }
    Ok(())
}
