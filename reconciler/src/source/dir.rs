//! Snapshot of a working directory on disk.

use super::{FileBody, MAX_MANIFEST_BYTES, Snapshot, is_manifest_path};
use anyhow::{Context, Result};
use std::path::Path;

/// Reads every manifest candidate below `root` into a [`Snapshot`] (revision `None`).
/// Hidden directories (`.git`, …) and symlinks are skipped.
pub fn snapshot_dir(root: &Path) -> Result<Snapshot> {
    let meta = std::fs::metadata(root).with_context(|| {
        format!(
            "cannot read repository directory {}: check the path",
            root.display()
        )
    })?;
    anyhow::ensure!(
        meta.is_dir(),
        "{} is not a directory: pass the repository's root directory",
        root.display()
    );
    let mut snap = Snapshot::default();
    walk(root, "", &mut snap)?;
    Ok(snap)
}

fn walk(dir: &Path, prefix: &str, snap: &mut Snapshot) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &rel, snap)?;
        } else if kind.is_file() && is_manifest_path(&rel) {
            let size = entry.metadata()?.len();
            if size > MAX_MANIFEST_BYTES {
                snap.files.insert(rel, FileBody::TooLarge(size));
            } else {
                let bytes =
                    std::fs::read(entry.path()).with_context(|| format!("cannot read {rel}"))?;
                snap.insert(rel, bytes);
            }
        }
    }
    Ok(())
}
