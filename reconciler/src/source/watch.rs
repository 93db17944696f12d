//! Local authoring: a working directory watched for saves (inotify, FSEvents, … through
//! `notify`). A burst of events (an editor's save, a `git checkout`) becomes one callback once
//! the directory has been quiet for a moment.

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// How long a directory must stay quiet after a change before it is reconciled.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Watches a directory until dropped.
pub struct DirectoryWatcher {
    _watcher: RecommendedWatcher,
}

/// Watches `dir` recursively and calls `on_change` once per burst of changes, `quiet` after the
/// last one. Changes inside hidden directories (`.git`, …) and mere reads are ignored.
pub fn watch_directory(
    dir: &Path,
    quiet: Duration,
    on_change: impl Fn() + Send + 'static,
) -> Result<DirectoryWatcher> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot watch {}: it does not exist", dir.display()))?;
    let (tx, rx) = mpsc::channel::<()>();
    let watched = root.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && is_change(&event.kind)
            && event.paths.iter().any(|p| !is_hidden(&watched, p))
        {
            let _ = tx.send(());
        }
    })
    .context("cannot start the file watcher")?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch {}", root.display()))?;
    std::thread::Builder::new()
        .name("cubist-watch".into())
        .spawn(move || debounce(&rx, quiet, on_change))?;
    Ok(DirectoryWatcher { _watcher: watcher })
}

/// Calls `on_change` after each burst of messages; returns when the watcher is dropped.
fn debounce(rx: &mpsc::Receiver<()>, quiet: Duration, on_change: impl Fn()) {
    while rx.recv().is_ok() {
        loop {
            match rx.recv_timeout(quiet) {
                Ok(()) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        on_change();
    }
}

/// True for events that may change content: not opening or reading a file (cubist's own reads
/// of the directory must not wake it again).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// True for paths below a hidden directory or file of `root` (or outside it).
fn is_hidden(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return true;
    };
    rel.components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
}
