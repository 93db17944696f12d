//! The run Workflows of a directory target, which has no engine: the run controller writes
//! each scheduled Workflow it admits to `<target>/<project>/runs/<workflow>.yaml` (through the
//! target's atomic write), and reads them back as "the cluster's Workflows". The files are not
//! in the target's inventory: plan, prune and repair never touch them.
//!
//! Every read is bounded (file count and size), links are never followed, and a file that
//! does not parse or carries no run labels is left alone.

use crate::model::yaml::parse_documents;
use crate::targets::directory::{TEMP_PREFIX, write_atomic};
use crate::targets::file_stamp::{BytesDigest, Stamp, bytes_digest};
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The directory of a project's run files, inside its namespace directory.
pub const RUNS_DIR: &str = "runs";
/// Most files read per project and pass (more are left unread, with a warning).
pub const MAX_FILES: usize = 5_000;
/// Largest run file read (bytes); larger ones are skipped with a warning.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// `<root>/<project>/runs`.
pub fn runs_dir(root: &Path, project: &str) -> PathBuf {
    root.join(project).join(RUNS_DIR)
}

/// The file of run Workflow `name` of `project`.
pub fn run_file(root: &Path, project: &str, name: &str) -> PathBuf {
    runs_dir(root, project).join(format!("{name}.yaml"))
}

/// True when `path` exists and is a link (never followed).
fn is_link(path: &Path) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
}

/// Fails when the project's namespace directory or its runs directory is a link: a write or
/// read through it could leave the target.
fn check_no_links(root: &Path, project: &str) -> Result<()> {
    for dir in [root.join(project), runs_dir(root, project)] {
        anyhow::ensure!(
            !is_link(&dir),
            "{} is a symbolic link: cubist never reads or writes a target through links; remove it",
            dir.display()
        );
    }
    Ok(())
}

/// The run Workflows of `project` in the target at `root` (its runs directory), as JSON.
/// Deletes temporary files a crash left there.
pub fn list(root: &Path, project: &str, cache: &Cache) -> Result<Vec<Value>> {
    anyhow::ensure!(
        !project.is_empty()
            && !project.contains(['/', '\\', '\0'])
            && project != ".."
            && project != ".",
        "project name `{project}` is not a plain directory name"
    );
    check_no_links(root, project)?;
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(runs_dir(root, project)) else {
        return Ok(Vec::new());
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if name.starts_with(TEMP_PREFIX) {
            std::fs::remove_file(e.path())
                .with_context(|| format!("cannot delete {}", e.path().display()))?;
        } else if name.ends_with(".yaml") {
            files.push(e.path());
        }
    }
    files.sort();
    if files.len() > MAX_FILES {
        tracing::warn!(
            project,
            files = files.len(),
            "more run Workflow files than {MAX_FILES}; the rest are not read"
        );
        files.truncate(MAX_FILES);
    }
    Ok(files
        .iter()
        .filter_map(|f| read(f, cache).map(Arc::unwrap_or_clone))
        .collect())
}

/// Most files a [`Cache`] remembers; it starts over beyond.
const MAX_CACHED: usize = 200_000;

/// The objects of run files read or written before, by path, with the file's stamp (size,
/// modification and change times, inode) and the digest of its bytes then: a file whose stamp
/// is the same is not parsed again. A stamp is trusted alone only when it was taken once the
/// file was older than the clock's granularity (see `targets::file_stamp`); before,
/// the file is read and its bytes compared. Shared by the threads of a controller pass (each
/// project's files are its own).
#[derive(Debug, Default)]
pub struct Cache(Mutex<HashMap<PathBuf, Known>>);

/// What a [`Cache`] keeps of one file.
#[derive(Debug, Clone)]
struct Known {
    stamp: Stamp,
    /// The stamp was settled when the file was read or written: it alone tells an edit since.
    settled: bool,
    /// The digest of its bytes; `None` when they were not read (too large, unreadable).
    bytes: Option<BytesDigest>,
    /// Its object, shared: handing it out costs no copy of the object.
    body: Option<Arc<Value>>,
}

impl Known {
    /// What a read or a write found: the file's stamp then, its bytes and its object.
    fn new(stamp: Stamp, bytes: Option<BytesDigest>, body: Option<Arc<Value>>) -> Known {
        Known {
            settled: stamp.settled(),
            stamp,
            bytes,
            body,
        }
    }
}

impl Cache {
    /// What is kept for `path` if its stamp is still `st`.
    fn get(&self, path: &Path, st: &Stamp) -> Option<Known> {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        known.get(path).filter(|k| k.stamp == *st).cloned()
    }

    /// Keeps what a read or a write of `path` found.
    fn put(&self, path: &Path, known: Known) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_CACHED {
            kept.clear();
        }
        kept.insert(path.to_path_buf(), known);
    }
}

/// One file's object, if it is a small, parseable YAML document (from `cache` when the file
/// is unchanged).
fn read(path: &Path, cache: &Cache) -> Option<Arc<Value>> {
    let meta = path.symlink_metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let stamp = Stamp::of(&meta);
    let kept = cache.get(path, &stamp);
    if let Some(k) = kept.as_ref().filter(|k| k.settled) {
        return k.body.clone();
    }
    let (bytes, text) = load(path, &meta);
    // Kept while too recent for its stamp to show an edit: the bytes decide, and once they
    // are seen unchanged under a settled stamp, the stamp alone does from then on.
    if let Some(k) = kept.filter(|k| k.bytes.is_some() && k.bytes == bytes) {
        if stamp.settled() {
            cache.put(path, Known::new(stamp, bytes, k.body.clone()));
        }
        return k.body;
    }
    let body = text.and_then(|text| parse(path, &text)).map(Arc::new);
    cache.put(path, Known::new(stamp, bytes, body.clone()));
    body
}

/// The digest of a file's bytes and its text; nothing when it is too large or unreadable.
fn load(path: &Path, meta: &std::fs::Metadata) -> (Option<BytesDigest>, Option<String>) {
    if meta.len() > MAX_FILE_BYTES {
        tracing::warn!(path = %path.display(), "run Workflow file larger than {MAX_FILE_BYTES} bytes; not read");
        return (None, None);
    }
    match std::fs::read_to_string(path) {
        Ok(text) => (Some(bytes_digest(text.as_bytes())), Some(text)),
        Err(_) => (None, None),
    }
}

/// The object of one file's text.
fn parse(path: &Path, text: &str) -> Option<Value> {
    match parse_documents(&path.display().to_string(), text) {
        Ok(docs) => docs.into_iter().next().map(|d| d.json),
        Err(d) => {
            tracing::warn!(path = %path.display(), error = %d.message, "run Workflow file unreadable; left alone");
            None
        }
    }
}

/// Writes run Workflow `body` (built by `runs::workflow::body`) of `project` to its file,
/// atomically, and keeps it in `cache` as the file's object: reading the file back would give
/// `body` (the YAML writer's output reads back as the value it wrote). Returns false when the
/// file was there already (created once, never twice).
pub fn create(root: &Path, project: &str, name: &str, body: &Value, cache: &Cache) -> Result<bool> {
    check_no_links(root, project)?;
    let path = run_file(root, project, name);
    if path.symlink_metadata().is_ok() {
        return Ok(false);
    }
    let text = format!(
        "# A run cubist admitted. This directory target has no engine: the run waits here.\n{}",
        crate::render::yaml_out::to_yaml(body)
    );
    let meta = write_atomic(&path, &text)?;
    let bytes = Some(bytes_digest(text.as_bytes()));
    cache.put(
        &path,
        Known::new(Stamp::of(&meta), bytes, Some(Arc::new(body.clone()))),
    );
    Ok(true)
}

/// Deletes the controller's run files of `project` whose pipeline `keep` refuses (a pipeline
/// removed, or without schedule and `Run`s). Returns how many were deleted.
pub fn prune(
    root: &Path,
    project: &str,
    keep: impl Fn(&str) -> bool,
    cache: &Cache,
) -> Result<usize> {
    let dir = runs_dir(root, project);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    check_no_links(root, project)?;
    let mut deleted = 0;
    for e in entries.filter_map(|e| e.ok()).take(MAX_FILES) {
        let path = e.path();
        let Some(body) = read(&path, cache) else {
            continue;
        };
        let Some(id) = super::naming::identity(&body) else {
            continue;
        };
        if id.project == project && !keep(&id.pipeline) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot delete {}", path.display()))?;
            deleted += 1;
        }
    }
    let _ = std::fs::remove_dir(&dir); // only when empty
    Ok(deleted)
}

#[cfg(all(test, unix))]
mod tests;
