//! Snapshot of a working directory on disk.

use super::{FileBody, MAX_MANIFEST_BYTES, Snapshot, is_manifest_path};
use anyhow::{Context, Result};
use std::path::Path;

/// Reads every manifest candidate below `root` into a [`Snapshot`] (revision `None`).
/// Hidden directories (`.git`, …) are skipped. A symbolic link is never followed (it could
/// lead out of the repository): a link that could stand for manifests (see
/// [`super::is_reported_link`]) becomes [`FileBody::Unreadable`] saying so, as in a git source. A candidate that
/// cannot be read (a FIFO, an I/O error) and a directory that cannot be listed become
/// [`FileBody::Unreadable`] too.
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
    let entries = std::fs::read_dir(root)
        .with_context(|| format!("cannot list {}: check its permissions", root.display()))?;
    let mut candidates = Vec::new();
    let mut deeper = Vec::new();
    walk(
        entries,
        "",
        &mut snap,
        &mut candidates,
        Some((2, &mut deeper)),
    );
    // The directories two levels down (each project's own) are listed in parallel.
    let listed = crate::par::map_in_runs(&deeper, MIN_DIRS_PER_THREAD, |(rel, path)| {
        let mut part = (Snapshot::default(), Vec::new());
        list(rel, path, &mut part.0, &mut part.1, None);
        part
    });
    for (part, found) in listed {
        snap.files.extend(part.files);
        candidates.extend(found);
    }
    for (rel, body) in read_all(&candidates) {
        snap.files.insert(rel, body);
    }
    Ok(snap)
}

/// Below this many files per thread, files are read on one thread.
const MIN_FILES_PER_THREAD: usize = 64;
/// Below this many directories per thread, directories are listed on one thread.
const MIN_DIRS_PER_THREAD: usize = 16;

/// Reads the candidates `(repository path, file)`, spread over the cores in contiguous runs
/// (system calls are most of the work); candidates that are directories are left out.
fn read_all(candidates: &[(String, std::path::PathBuf)]) -> Vec<(String, FileBody)> {
    crate::par::map_in_runs(candidates, MIN_FILES_PER_THREAD, |(rel, path)| {
        Some((rel.clone(), read_entry(path)?))
    })
    .into_iter()
    .flatten()
    .collect()
}

/// A directory to list: its repository path and its path on disk.
type Dir = (String, std::path::PathBuf);

/// Lists the tree below `prefix`: unlistable directories go into `snap` as unreadable, manifest
/// candidates into `candidates` to be read. With `deeper = (n, dirs)`, directories `n` levels
/// down are not entered but put in `dirs`, to be listed with [`list`].
fn walk(
    entries: std::fs::ReadDir,
    prefix: &str,
    snap: &mut Snapshot,
    candidates: &mut Vec<(String, std::path::PathBuf)>,
    mut deeper: Option<(usize, &mut Vec<Dir>)>,
) {
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    entries.sort_by_cached_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = format!("{prefix}{name}");
        let kind = entry.file_type();
        if kind.as_ref().is_ok_and(|t| t.is_symlink()) {
            if super::is_reported_link(&rel) {
                let why = FileBody::Unreadable(super::LINK_NOT_FOLLOWED.into());
                snap.files.insert(rel, why);
            }
        } else if kind.is_ok_and(|t| t.is_dir()) {
            match deeper.as_mut() {
                Some((1, dirs)) => dirs.push((rel, entry.path())),
                Some((n, dirs)) => {
                    let deeper = Some((*n - 1, &mut **dirs));
                    list(&rel, &entry.path(), snap, candidates, deeper);
                }
                None => list(&rel, &entry.path(), snap, candidates, None),
            }
        } else if is_manifest_path(&rel) {
            candidates.push((rel, entry.path()));
        }
    }
}

/// [`walk`] of the directory `path` at repository path `rel`; unlistable, it goes into `snap`
/// as unreadable.
fn list(
    rel: &str,
    path: &Path,
    snap: &mut Snapshot,
    candidates: &mut Vec<(String, std::path::PathBuf)>,
    deeper: Option<(usize, &mut Vec<Dir>)>,
) {
    match std::fs::read_dir(path) {
        Ok(sub) => walk(sub, &format!("{rel}/"), snap, candidates, deeper),
        Err(e) => {
            let why = format!("cannot list the directory: {e}");
            snap.files
                .insert(rel.to_string(), FileBody::Unreadable(why));
        }
    }
}

/// The content of a manifest candidate that is not a directory; `None` for a directory. A
/// link is not followed: it is unreadable.
pub(super) fn read_entry(path: &Path) -> Option<FileBody> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => return None,
        Ok(m) => m,
        Err(e) => return Some(FileBody::Unreadable(e.to_string())),
    };
    Some(if meta.is_symlink() {
        FileBody::Unreadable(super::LINK_NOT_FOLLOWED.into())
    } else if !meta.is_file() {
        FileBody::Unreadable("it is not a regular file (a FIFO, socket or device)".into())
    } else if meta.len() > MAX_MANIFEST_BYTES {
        FileBody::TooLarge(meta.len())
    } else {
        match read_file(path, &meta) {
            Ok(bytes) => FileBody::limited(bytes),
            Err(e) => FileBody::Unreadable(e.to_string()),
        }
    })
}

/// The bytes of the regular file `meta` describes, in one buffer of its size. Unlike
/// `std::fs::read`, it asks the file for no size: the caller's metadata has it. Reading stops
/// past the manifest size limit (a file that grew since then is still seen as too large). A
/// file replaced (by a link) since `meta` was read is not read.
fn read_file(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let file = std::fs::File::open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let opened = file.metadata()?;
        if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
            return Err(std::io::Error::other(
                "it was replaced while being read; read it again",
            ));
        }
    }
    file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn entries_that_cannot_be_read_become_unreadable_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("real.yaml"), "a: 1\n").unwrap();
        std::fs::create_dir(root.join("dir.yaml")).unwrap();
        std::fs::write(root.join("dir.yaml/inner.yaml"), "b: 2\n").unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("fifo.yaml"))
            .status()
            .unwrap();
        assert!(fifo.success());

        let snap = snapshot_dir(root).expect("a snapshot, not an error");
        let text = |p: &str| match &snap.files[p] {
            FileBody::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{p}: {other:?}"),
        };
        assert_eq!(text("real.yaml"), "a: 1\n");
        assert_eq!(text("dir.yaml/inner.yaml"), "b: 2\n");
        assert!(
            matches!(&snap.files["fifo.yaml"], FileBody::Unreadable(why) if why.contains("not a regular file"))
        );
        assert!(!snap.files.contains_key("dir.yaml"));
    }

    #[test]
    fn symbolic_links_are_never_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("secret.yaml"),
            "token: s3cr3t-outside\n",
        )
        .unwrap();
        std::fs::create_dir(outside.path().join("projects")).unwrap();
        std::fs::write(
            outside.path().join("projects/p.yaml"),
            "token: s3cr3t-dir\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("real.yaml"), "a: 1\n").unwrap();
        symlink("real.yaml", root.join("inside.yaml")).unwrap();
        symlink(
            outside.path().join("secret.yaml"),
            root.join("outside.yaml"),
        )
        .unwrap();
        symlink(outside.path().join("projects"), root.join("projects")).unwrap();
        symlink("missing.yaml", root.join("dangling.yaml")).unwrap();
        symlink("loop.yaml", root.join("loop.yaml")).unwrap();
        symlink(outside.path().join("secret.yaml"), root.join("README")).unwrap();

        let snap = snapshot_dir(root).expect("a snapshot, not an error");
        for link in [
            "inside.yaml",
            "outside.yaml",
            "projects",
            "dangling.yaml",
            "loop.yaml",
        ] {
            match &snap.files.get(link) {
                Some(FileBody::Unreadable(why)) => {
                    assert_eq!(why, crate::source::LINK_NOT_FOLLOWED)
                }
                other => panic!("{link}: {other:?}"),
            }
        }
        assert!(
            !snap.files.keys().any(|p| p.starts_with("projects/")),
            "{:?}",
            snap.files.keys()
        );
        assert!(
            !snap.files.contains_key("README"),
            "a link that is no manifest is left out"
        );
        assert!(!format!("{snap:?}").contains("s3cr3t"), "{snap:?}");
    }
}
