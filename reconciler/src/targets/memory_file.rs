//! A directory target's memory kept in the cache directory between processes, as git keeps its
//! index: for each object file, its stamp (size, modification and change times, inode), the
//! hash of the object it held and the digest of its bytes. A `reconcile --once` (or a restart of
//! the loop) takes it in and then stats the files instead of reading and parsing every one of
//! them (17,000 for 500 projects). A file is believed exactly as a memory of the same process
//! would believe it: only while its stamp is the one kept, and only if that stamp was settled
//! when taken (see [`super::memory`]); any other file is read as without a memory.
//!
//! The kept file names the target directory it is for, and a file that cannot be read whole is
//! ignored (everything is read again), so a damaged or stale one costs time, never correctness.

use super::memory::{KnownFile, Memory};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The first line of a kept memory.
#[derive(Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Header {
    /// Layout version.
    version: u32,
    /// The target directory.
    root: PathBuf,
}

/// What a version of cubist writes and reads.
const VERSION: u32 = 1;

/// One object file, a line of its own.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    path: String,
    len: u64,
    modified: (u64, u32),
    changed: (i64, i64),
    inode: u64,
    hash: String,
    bytes: String,
    settled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project: Option<String>,
}

/// Where the memory of the target directory `root` is kept under the cache directory `dir`.
fn file_for(dir: &Path, root: &Path) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    dir.join("targets")
        .join(format!("{}.memory", hex::encode(&digest[..12])))
}

/// Writes what `memory` knows of the files under `root` to the cache directory `dir`.
#[cfg(unix)]
pub fn save(memory: &Memory, dir: &Path, root: &Path) -> Result<()> {
    let header = Header {
        version: VERSION,
        root: root.to_path_buf(),
    };
    let mut text = serde_json::to_string(&header)?;
    text.push('\n');
    for k in memory.known_files(root) {
        let line = Line {
            path: k.path,
            len: k.len,
            modified: (k.modified.as_secs(), k.modified.subsec_nanos()),
            changed: k.changed,
            inode: k.inode,
            hash: k.hash,
            bytes: hex::encode(k.bytes),
            settled: k.settled,
            project: k.project,
        };
        text.push_str(&serde_json::to_string(&line)?);
        text.push('\n');
    }
    let file = file_for(dir, root);
    super::directory::write_atomic(&file, &text)
        .map(drop)
        .with_context(|| format!("cannot keep the memory of {}", root.display()))
}

/// Nothing is kept where files have no inode and change time.
#[cfg(not(unix))]
pub fn save(_memory: &Memory, _dir: &Path, _root: &Path) -> Result<()> {
    Ok(())
}

/// Gives `memory` what was kept in the cache directory `dir` for the files under `root`;
/// nothing when none was kept, or the kept file is for another directory, of another version,
/// or damaged (a debug log says why). Returns how many files it gave.
pub fn load(memory: &Memory, dir: &Path, root: &Path) -> usize {
    let file = file_for(dir, root);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return 0;
    };
    match parse(&text, root) {
        Ok(known) => {
            let n = known.len();
            memory.take_known(root, known);
            n
        }
        Err(why) => {
            tracing::debug!(file = %file.display(), why, "the kept memory of a target directory is not used");
            0
        }
    }
}

/// The files a kept memory lists, if it is whole and for `root`.
fn parse(text: &str, root: &Path) -> Result<Vec<KnownFile>, String> {
    let mut lines = text.lines();
    let header: Header =
        serde_json::from_str(lines.next().ok_or("empty")?).map_err(|e| format!("header: {e}"))?;
    if header.version != VERSION || header.root != root {
        return Err("kept for another directory or version".into());
    }
    if !cfg!(unix) {
        return Err("files have no inode here".into());
    }
    lines
        .map(|l| {
            let line: Line = serde_json::from_str(l).map_err(|e| e.to_string())?;
            let inside = Path::new(&line.path)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside || line.path.is_empty() {
                return Err(format!("{} is not a path inside the directory", line.path));
            }
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(&line.bytes, &mut bytes).map_err(|e| e.to_string())?;
            let (secs, nanos) = line.modified;
            if nanos >= 1_000_000_000 {
                return Err("a modification time out of range".into());
            }
            Ok(KnownFile {
                path: line.path,
                len: line.len,
                modified: Duration::new(secs, nanos),
                #[cfg(unix)]
                changed: line.changed,
                #[cfg(unix)]
                inode: line.inode,
                hash: line.hash,
                bytes,
                settled: line.settled,
                project: line.project,
            })
        })
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::render::RenderedSet;
    use crate::targets::directory::DirectoryTarget;
    use crate::targets::{Action, config_maps};

    fn actions(target: &DirectoryTarget, set: &RenderedSet) -> Vec<Action> {
        let plan = target.plan(set).unwrap();
        plan.changes.iter().map(|c| c.action).collect()
    }

    /// A memory kept by one process is taken in by the next: files whose stamps are the kept
    /// ones are believed without being read, any other file is read.
    #[test]
    fn a_kept_memory_is_believed_while_the_stamps_hold() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, cache) = (tmp.path().join("t"), tmp.path().join("cache"));
        let desired = config_maps(&["a", "b", "c"]);
        let memory = Memory::default();
        let target = DirectoryTarget::new(&root)
            .with_memory(memory.clone())
            .without_diffs();
        target
            .apply(&target.plan(&desired).unwrap(), &mut |_| {})
            .unwrap();
        // Files as old as an earlier reconcile's: their stamps are settled once looked at.
        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        for o in &desired.objects {
            let f = std::fs::File::options()
                .write(true)
                .open(target.path_of(&o.key()))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        assert_eq!(actions(&target, &desired), [Action::Unchanged; 3]);
        save(&memory, &cache, &root).unwrap();

        let next = |cache_text: Option<&str>| {
            if let Some(text) = cache_text {
                std::fs::write(file_for(&cache, &root), text).unwrap();
            }
            let memory = Memory::default();
            let n = load(&memory, &cache, &root);
            let target = DirectoryTarget::new(&root)
                .with_memory(memory)
                .without_diffs();
            (n, actions(&target, &desired))
        };
        let kept = std::fs::read_to_string(file_for(&cache, &root)).unwrap();
        assert_eq!(next(None), (3, vec![Action::Unchanged; 3]));
        // Believed without reading: a kept hash that says otherwise is taken at its word.
        let b = &desired.objects[1].hash;
        let lying = kept.replacen(b.as_str(), "sha256:another", 1);
        assert_eq!(
            next(Some(&lying)),
            (
                3,
                vec![Action::Unchanged, Action::Update, Action::Unchanged]
            )
        );
        // A file changed since: read, whatever the memory says.
        std::fs::write(
            target.path_of(&desired.objects[2].key()),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ns}\ndata: {k: w}\n",
        )
        .unwrap();
        assert_eq!(
            next(Some(&kept)),
            (
                3,
                vec![Action::Unchanged, Action::Unchanged, Action::Update]
            )
        );
        // A kept file deleted before this process's watch began: planned as a create by
        // every plan until written, though the watch, started later, never heard of it.
        std::fs::write(file_for(&cache, &root), &kept).unwrap();
        let memory = Memory::default();
        assert_eq!(load(&memory, &cache, &root), 3);
        let target = DirectoryTarget::new(&root)
            .with_memory(memory)
            .without_diffs();
        std::fs::remove_file(target.path_of(&desired.objects[0].key())).unwrap();
        for plan in 0..3 {
            let got = actions(&target, &desired);
            assert_eq!(got[0], Action::Create, "plan {plan}");
        }
        // Damaged, of another version, or for another directory: not used at all.
        let damaged = format!("{}{{\"path\": 1}}\n", kept);
        let other_version = kept.replacen("\"version\":1", "\"version\":2", 1);
        let escaping = kept.replacen("\"path\":\"ns/", "\"path\":\"../ns/", 1);
        assert!(other_version != kept && escaping != kept && lying != kept);
        for text in [damaged.as_str(), &other_version, &escaping, "", "\n"] {
            assert_eq!(next(Some(text)).0, 0, "{text:.80}");
        }
        let elsewhere = tmp.path().join("u");
        assert_eq!(load(&Memory::default(), &cache, &elsewhere), 0);
    }
}
