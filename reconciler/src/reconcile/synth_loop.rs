//! For the reconcile tests: a reconciler of a synthetic repository (small, two clusters)
//! written to a working directory, each state of which a test commits and has fetched.

use super::{Config, Reconciler};
use crate::source::local::commit_directory;
use crate::synth::{self, Shape};
use git2::Oid;
use std::path::PathBuf;

/// The working directory, and the reconciler of what is committed from it.
pub(super) struct SynthLoop {
    /// The working directory a test edits.
    pub src: PathBuf,
    commits: PathBuf,
    /// The reconciler (directory targets under the loop's own root).
    pub rec: Reconciler,
    _tmp: tempfile::TempDir,
}

impl SynthLoop {
    /// The synthetic repository written and committed, and a reconciler of it (nothing
    /// reconciled yet).
    pub fn new() -> SynthLoop {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let shape = Shape {
            clusters: 2,
            ..Shape::small()
        };
        synth::write(&shape, &src).unwrap();
        let commits = tmp.path().join("commits");
        let repo = commit_directory(&src, &commits, "main").unwrap();
        let cfg = Config {
            target_root: tmp.path().join("targets"),
            ..Config::local(&repo, tmp.path().join("cache"))
        };
        let rec = Reconciler::new(cfg).unwrap();
        SynthLoop {
            src,
            commits,
            rec,
            _tmp: tmp,
        }
    }

    /// Commits the working directory as it stands and has the reconciler fetch it; returns
    /// the new head.
    pub fn commit(&mut self) -> Oid {
        commit_directory(&self.src, &self.commits, "main").unwrap();
        self.rec.mirror().fetch(&["main"]).unwrap();
        self.rec.mirror().head("main").unwrap()
    }
}
