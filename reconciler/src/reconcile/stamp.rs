//! What a status commit was written with, as the trailer `Cubist-Config:` of its message: a
//! digest of the running cubist executable (its bytes) and of the settings that decide what a
//! reconcile writes where (repository, watched branch, status branch, target root). `cubist
//! reconcile --once` believes a status commit that shows the head synced only when it carries
//! this process's digest (see `Reconciler::synced_at_head`).

use super::Config;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The trailer's key, with its separator.
const TRAILER: &str = "Cubist-Config: ";

/// The sha256 of the running executable's bytes; `None` when it cannot be read.
fn executable() -> Option<&'static str> {
    static EXE: OnceLock<Option<String>> = OnceLock::new();
    EXE.get_or_init(|| {
        let mut file = std::fs::File::open(std::env::current_exe().ok()?).ok()?;
        let mut hash = Sha256::new();
        std::io::copy(&mut file, &mut hash).ok()?;
        Some(hex::encode(hash.finalize()))
    })
    .as_deref()
}

/// Starts hashing the executable on another thread, so that its digest is ready (or nearly)
/// when the first status commit or the early stop of `--once` needs it.
pub(super) fn prepare() {
    std::thread::spawn(executable);
}

/// The digest of the executable and of `cfg`; `None` when the executable cannot be read.
pub(super) fn digest(cfg: &Config) -> Option<String> {
    let exe = executable()?;
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
