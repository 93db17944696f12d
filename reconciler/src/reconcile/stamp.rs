//! What a status commit was written with, as the trailer `Cubist-Config:` of its message: a
//! digest of the running cubist executable (its bytes) and of the settings that decide what a
//! reconcile writes where (repository, watched branch, status branch, target root). `cubist
//! reconcile --once` believes a status commit that shows the head synced only when it carries
//! this process's digest (see `Reconciler::synced_at_head`).

use super::Config;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The trailer's key, with its separator.
const TRAILER: &str = "Cubist-Config: ";

/// The sha256 of the running executable's bytes; `None` when it cannot be read. Remembered in
/// `cache_dir` (see [`remembered`]) when given.
fn executable(cache_dir: Option<&Path>) -> Option<&'static str> {
    static EXE: OnceLock<Option<String>> = OnceLock::new();
    EXE.get_or_init(|| {
        let exe = std::env::current_exe().ok()?;
        let file = cache_dir.map(|d| d.join(DIGEST_FILE));
        if let Some(known) = file.as_deref().and_then(|f| remembered(f, &exe)) {
            return Some(known);
        }
        let before = std::fs::metadata(&exe).ok()?;
        let mut bytes = std::fs::File::open(&exe).ok()?;
        let mut hash = Sha256::new();
        std::io::copy(&mut bytes, &mut hash).ok()?;
        let digest = hex::encode(hash.finalize());
        if let Some(file) = file {
            remember(&file, &exe, &before, &digest);
        }
        Some(digest)
    })
    .as_deref()
}

/// The file in the cache directory that remembers the executable's digest.
const DIGEST_FILE: &str = "executable-sha256";

/// `None` where the platform has no inode and change time: the digest is not remembered.
#[cfg(not(unix))]
fn identity(_exe: &Path, _meta: &std::fs::Metadata) -> Option<String> {
    None
}

/// What identifies an executable's bytes without reading them, as git's index trusts a file:
/// path, device, inode, size, modification and change times. Any write to the file changes
/// its change time, which no one can set.
#[cfg(unix)]
fn identity(exe: &Path, meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    Some(format!(
        "{}\n{} {} {} {}.{} {}.{}",
        exe.display(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    ))
}

/// The digest `file` remembers for `exe` when its identity is unchanged: hashing the executable
/// (175 MB with its line tables) took longer than all else a `reconcile --once` with nothing
/// new does. Anything else in the file (another executable, a changed one, a damaged file) is
/// ignored, and the executable is hashed again.
fn remembered(file: &Path, exe: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let (id, digest) = text.strip_suffix('\n')?.rsplit_once('\n')?;
    let meta = std::fs::metadata(exe).ok()?;
    let valid = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    (valid && Some(id) == identity(exe, &meta).as_deref()).then(|| digest.to_string())
}

/// Writes `digest` of `exe` to `file`, when `exe` had not changed while it was hashed and was
/// last changed at least a second before (a change within the same clock tick could leave the
/// times as they were); best effort: the digest is only a shortcut.
fn remember(file: &Path, exe: &Path, before: &std::fs::Metadata, digest: &str) {
    let Ok(after) = std::fs::metadata(exe) else {
        return;
    };
    let settled = after
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age >= Duration::from_secs(1));
    let Some(id) = identity(exe, &after) else {
        return;
    };
    if settled && Some(&id) == identity(exe, before).as_ref() {
        let text = format!("{id}\n{digest}\n");
        if let Err(e) = crate::targets::directory::write_atomic(file, &text) {
            tracing::debug!(error = %format!("{e:#}"), "cannot remember the executable's digest");
        }
    }
}

/// Starts hashing the executable on another thread (or reading its digest remembered in
/// `cache_dir`), so that it is ready (or nearly) when the first status commit or the early stop
/// of `--once` needs it.
pub(super) fn prepare(cache_dir: &Path) {
    let dir = cache_dir.to_path_buf();
    std::thread::spawn(move || executable(Some(&dir)));
}

/// The digest of the executable and of `cfg`; `None` when the executable cannot be read.
pub(super) fn digest(cfg: &Config) -> Option<String> {
    let exe = executable(Some(&cfg.cache_dir))?;
    let root = cfg
        .target_root
        .canonicalize()
        .or_else(|_| std::path::absolute(&cfg.target_root))
        .unwrap_or_else(|_| cfg.target_root.clone());
    let root = root.to_string_lossy();
    let mut hash = Sha256::new();
    for part in [exe, &cfg.repo, &cfg.branch, &cfg.status_branch, &root] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    Some(hex::encode(&hash.finalize()[..16]))
}

/// The file in the cache directory naming the status commit a configuration checked.
const CHECKED_FILE: &str = "checked-status";

/// The line of [`CHECKED_FILE`] for status commit `tip` and configuration digest `digest`.
fn checked_line(tip: git2::Oid, digest: &str) -> String {
    format!("{tip} {digest}\n")
}

/// Notes in the cache directory that `cfg` found the targets as status commit `tip` says,
/// rendering the revision itself: a status commit written by another configuration (another
/// cubist executable, say) is then believed by `reconcile --once` as one `cfg` wrote. Without
/// it, every `--once` after an upgrade rendered everything again until a new revision came.
/// A failure is logged: the note only saves time.
pub(super) fn note_checked(cfg: &Config, tip: git2::Oid) {
    let Some(digest) = digest(cfg) else {
        return;
    };
    let file = cfg.cache_dir.join(CHECKED_FILE);
    let line = checked_line(tip, &digest);
    if std::fs::read_to_string(&file).is_ok_and(|t| t == line) {
        return;
    }
    if let Err(e) = crate::targets::directory::write_atomic(&file, &line) {
        tracing::debug!(file = %file.display(), error = %e, "cannot note the checked status");
    }
}

/// True when the cache directory `cache_dir` notes that the configuration of digest `digest`
/// checked status commit `tip` (see [`note_checked`]).
pub(super) fn checked(cache_dir: &Path, tip: git2::Oid, digest: &str) -> bool {
    std::fs::read_to_string(cache_dir.join(CHECKED_FILE))
        .is_ok_and(|t| t == checked_line(tip, digest))
}

/// The trailer line of `digest` for a status commit message (with its newline).
pub(super) fn trailer(digest: &str) -> String {
    format!("{TRAILER}{digest}\n")
}

/// The digest the status commit `message` carries, if any.
pub(super) fn of_message(message: &str) -> Option<&str> {
    message.lines().rev().find_map(|l| l.strip_prefix(TRAILER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_digest_holds_while_the_executable_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (exe, file) = (dir.path().join("cubist"), dir.path().join(DIGEST_FILE));
        let digest = "ab".repeat(32);
        let written = |bytes: &[u8], age: u64| {
            let f = std::fs::File::create(&exe).unwrap();
            std::io::Write::write_all(&mut &f, bytes).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(age))
                .unwrap();
            std::fs::metadata(&exe).unwrap()
        };
        // Changed a moment ago: not remembered (another change could keep its times).
        let meta = written(b"one", 0);
        remember(&file, &exe, &meta, &digest);
        assert!(!file.exists());
        let meta = written(b"one", 10);
        remember(&file, &exe, &meta, &digest);
        assert_eq!(remembered(&file, &exe), Some(digest.clone()));
        // Rewritten (even with the same size and modification time): hashed again.
        written(b"two", 10);
        assert_eq!(remembered(&file, &exe), None);
        // Damaged, or naming another file: ignored.
        let meta = written(b"two", 10);
        remember(&file, &exe, &meta, &digest);
        assert_eq!(remembered(&file, &exe), Some(digest.clone()));
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace(&digest, "xyz")).unwrap();
        assert_eq!(remembered(&file, &exe), None);
        std::fs::write(&file, &text).unwrap();
        assert_eq!(remembered(&file, &dir.path().join("other")), None);
    }

    #[test]
    fn the_digest_follows_the_configuration_and_reads_back_from_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::local(dir.path(), dir.path().join("cache"));
        let d = digest(&cfg).expect("the test executable is readable");
        assert_eq!(digest(&cfg).as_deref(), Some(d.as_str()), "stable");
        let moved = Config {
            target_root: dir.path().join("elsewhere"),
            ..cfg.clone()
        };
        assert_ne!(digest(&moved).unwrap(), d, "another target root");
        let other = Config {
            status_branch: "other/status".into(),
            ..cfg
        };
        assert_ne!(digest(&other).unwrap(), d, "another status branch");
        let message = format!(
            "status: abc 1 rendered\n\nCubist-Source-Revision: abc\n{}",
            trailer(&d)
        );
        assert_eq!(of_message(&message), Some(d.as_str()));
        assert_eq!(
            of_message("status: abc\n\nCubist-Source-Revision: abc\n"),
            None
        );
    }
}
