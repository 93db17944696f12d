//! How the loop is set up: the watched repository, branches, cache and target root.

use crate::report::status_branch::Author;
use std::path::PathBuf;

/// How the loop is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Remote URL or path of the platform repository.
    pub repo: String,
    /// Watched branch (desired state).
    pub branch: String,
    /// Branch status commits go to (observed state).
    pub status_branch: String,
    /// Where the bare mirror lives.
    pub cache_dir: PathBuf,
    /// The directory that stands for the repository when directory targets are placed: a
    /// target `../<dir>` is written in its parent (the target root), and nowhere else.
    pub target_root: PathBuf,
    /// Author of status commits.
    pub author: Author,
    /// Push status commits to the remote (false: keep them in the mirror only).
    pub push_status: bool,
    /// Where fetches and passes are recorded (`cubist serve`'s `/metrics`); `None`: nowhere.
    pub metrics: Option<crate::metrics::Metrics>,
}

impl Config {
    /// The loop on a local repository at `repo` (branch `main`, status on `cubist/status`, kept
    /// in the mirror under `cache_dir`, not pushed), with directory targets relative to `repo`.
    pub fn local(repo: &std::path::Path, cache_dir: PathBuf) -> Config {
        Config {
            repo: repo.display().to_string(),
            branch: "main".into(),
            status_branch: "cubist/status".into(),
            cache_dir,
            target_root: repo.to_path_buf(),
            author: Author::default(),
            push_status: false,
            metrics: None,
        }
    }
}
