//! A platform repository in a real bare git repository (the "GitHub" remote, read over
//! file://): commits are made from a working directory with cubist's own
//! `source::local::commit_directory`, and pull request refs are set like GitHub sets them.

use cubist::reconcile::{Config, Reconciler};
use cubist::report::status_branch::Author;
use cubist::source::local::commit_directory;
use git2::{Oid, Repository};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The remote, a working directory holding the files to commit next, and room for caches.
pub struct Platform {
    work: TempDir,
    tmp: TempDir,
    remote: PathBuf,
}

impl Platform {
    /// `main` holds the test corpus's base repository.
    pub fn new() -> Platform {
        let work = cubist_tests::corpus::base();
        let tmp = tempfile::tempdir().unwrap();
        let remote = commit_directory(work.path(), &tmp.path().join("origin"), "main").unwrap();
        Platform { work, tmp, remote }
    }

    /// Replaces `from` with `to` in a file of the working directory; `from` must be present.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let path = self.work.path().join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{rel} lacks {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// Commits the working directory on `branch`; returns the branch's tip.
    pub fn commit(&self, branch: &str) -> String {
        commit_directory(self.work.path(), &self.tmp.path().join("origin"), branch).unwrap();
        self.tip(&format!("refs/heads/{branch}"))
    }

    /// Points `refs/pull/<number>/head` at `sha`, as GitHub does on every push to a pull request.
    pub fn set_pull_head(&self, number: u64, sha: &str) {
        let repo = Repository::open_bare(&self.remote).unwrap();
        let oid = Oid::from_str(sha).unwrap();
        repo.reference(
            &format!("refs/pull/{number}/head"),
            oid,
            true,
            "pull request head",
        )
        .unwrap();
    }

    /// The commit a ref of the remote points at.
    pub fn tip(&self, refname: &str) -> String {
        let repo = Repository::open_bare(&self.remote).unwrap();
        repo.refname_to_id(refname).unwrap().to_string()
    }

    /// The remote as a file:// URL.
    pub fn url(&self) -> String {
        format!("file://{}", self.remote.display())
    }

    /// A directory for a cache of the given name.
    pub fn cache(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// A reconcile loop over the remote's `main`; `local` renders into [`Platform::rendered`].
    pub fn reconciler(&self) -> Reconciler {
        std::fs::create_dir_all(self.tmp.path().join("root")).unwrap();
        Reconciler::new(Config {
            repo: self.url(),
            branch: "main".into(),
            status_branch: "cubist/status".into(),
            cache_dir: self.cache("loop"),
            target_root: self.tmp.path().join("root"),
            author: Author::default(),
            push_status: true,
            metrics: None,
        })
        .unwrap()
    }

    /// Where cluster `local` (`../rendered/local`) is applied.
    pub fn rendered(&self) -> PathBuf {
        self.tmp.path().join("rendered/local")
    }

    /// The working directory.
    pub fn work(&self) -> &Path {
        self.work.path()
    }
}
