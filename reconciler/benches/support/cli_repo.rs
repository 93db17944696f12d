//! A synthetic repository committed into a bare git repository, and the `cubist` binary run on
//! it as an operator would (`--repo <bare repo>`: status commits are pushed back into it), with
//! every work file under one temporary directory (set TMPDIR=/dev/shm: on these VMs creating a
//! file costs more than rendering it). Also: the cold validate + render the CLI figures are
//! compared with.

use cubist::render::{Blueprints, render};
use cubist::synth::{self, Shape};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The template a platform-wide change edits (every pipeline's container tasks use it).
pub const TEMPLATE: &str = "templates/python.yaml";

/// The working directory, its bare repository, and where cubist keeps its mirror and targets.
pub struct CliRepo {
    _tmp: tempfile::TempDir,
    /// The working directory (the synthetic repository's files).
    pub src: PathBuf,
    /// The bare repository `--repo` names.
    pub repo: PathBuf,
    cache: PathBuf,
    targets: PathBuf,
}

impl CliRepo {
    /// Writes a synthetic repository of `projects` projects and commits it.
    pub fn new(projects: usize) -> CliRepo {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        let shape = Shape {
            projects,
            ..Shape::default()
        };
        synth::write(&shape, &src).expect("write the synthetic repository");
        let commits = tmp.path().join("commits");
        let repo = cubist::source::local::commit_directory(&src, &commits, "main").expect("commit");
        let (cache, targets) = (tmp.path().join("cache"), tmp.path().join("targets"));
        std::fs::create_dir_all(&targets).expect("mkdir");
        CliRepo {
            src,
            repo,
            cache,
            targets,
            _tmp: tmp,
        }
    }

    /// `cubist <sub>` on the repository, with its cache and target root.
    pub fn cubist(&self, sub: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cubist"));
        c.arg(sub)
            .arg("--repo")
            .arg(&self.repo)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--target-root")
            .arg(&self.targets)
            .env("RUST_LOG", "warn");
        c
    }

    /// Runs `cubist reconcile --once`; returns its wall time and output (it must succeed).
    pub fn reconcile_once(&self) -> (Duration, Output) {
        let t0 = Instant::now();
        let out = self
            .cubist("reconcile")
            .arg("--once")
            .output()
            .expect("run cubist");
        let took = t0.elapsed();
        assert!(
            out.status.success(),
            "cubist reconcile --once failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (took, out)
    }

    /// Replaces the first `from` in a file of the working directory and commits it.
    pub fn edit_and_commit(&self, file: &str, from: &str, to: &str) {
        let path = self.src.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} lacks {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
        let commits = self.repo.parent().expect("the repository's directory");
        cubist::source::local::commit_directory(&self.src, commits, "main").expect("commit");
    }

    /// The loop's configuration for this repository as `cubist reconcile` builds it (the same
    /// mirror cache and target root), for a [`cubist::reconcile::Reconciler`] in the bench's
    /// own process.
    #[allow(dead_code)] // only the `scale` bench runs the loop in process
    pub fn config(&self) -> cubist::reconcile::Config {
        cubist::reconcile::Config {
            target_root: self.targets.join("repository"),
            ..cubist::reconcile::Config::local(&self.repo, self.cache.clone())
        }
    }

    /// The bare repository's status branch tip.
    pub fn status_tip(&self) -> Option<git2::Oid> {
        let repo = git2::Repository::open_bare(&self.repo).ok()?;
        repo.refname_to_id("refs/heads/cubist/status").ok()
    }
}

/// Cold validate + render of the working directory as one CLI run does it (blueprints compiled,
/// files read, every document validated, every project rendered): the median of `runs`.
pub fn cold_validate_render(src: &Path, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t0 = Instant::now();
            let blueprints = Blueprints::embedded().expect("blueprints");
            let snapshot = cubist::source::snapshot_dir(src).expect("snapshot");
            let (model, diags) = cubist::model::load(&snapshot);
            assert!(
                !diags.iter().any(|d| d.is_error()),
                "the repository is valid"
            );
            let sets = render(&model, &blueprints).expect("render");
            assert!(!sets.is_empty());
            t0.elapsed()
        })
        .collect();
    median(&mut times)
}

/// The median of `times`.
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
