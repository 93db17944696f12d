//! `cubist status-site`: the status page written as static HTML files, read from the status
//! branch of a git repository, of the cubist mirror of a URL, or of a watched plain directory.

use crate::report::status_branch::read_status;
use crate::source::git::{GitMirror, redact_url};
use anyhow::{Context, Result, bail};
use git2::Repository;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `status-site`.
#[derive(clap::Args, Debug)]
pub struct SiteArgs {
    /// Output directory (created when missing); open its `index.html`, or publish it as is.
    #[arg(long)]
    out: PathBuf,
    /// The repository `cubist serve`/`reconcile --repo` watched: a git repository path, a URL
    /// (read through the mirror, fetched first), or a plain directory (read from its local
    /// repository under the cache directory).
    #[arg(long, default_value = "examples-repo")]
    repo: String,
    /// Branch the status commits are on.
    #[arg(long, default_value = "cubist/status")]
    status_branch: String,
    /// Cache directory of the mirror (default: $XDG_CACHE_HOME/cubist or ~/.cache/cubist).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// Writes the site and prints where it is.
pub(super) fn run(args: &SiteArgs) -> Result<ExitCode> {
    let tree = read_tree(&args.repo, &args.status_branch, args.cache_dir.as_deref())?;
    let pages = cubist_status_ui::write_static_site(&tree, &args.out, chrono::Utc::now())
        .with_context(|| format!("cannot write the site to {}", args.out.display()))?;
    println!(
        "wrote {} pages to {}; open {}",
        pages.len(),
        args.out.display(),
        args.out.join("index.html").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The status tree at the tip of `branch` of `repo` (a git repository path, a URL read through
/// the mirror under `cache_dir`, or a watched plain directory); an error when there is none.
pub(super) fn read_tree(
    repo_arg: &str,
    branch: &str,
    cache_dir: Option<&Path>,
) -> Result<cubist_status_ui::StatusTree> {
    let git_dir = status_repository(repo_arg, branch, cache_dir)?;
    let repo = Repository::open(&git_dir)
        .with_context(|| format!("cannot open the git repository {}", git_dir.display()))?;
    let refname = format!("refs/heads/{branch}");
    if repo.refname_to_id(&refname).is_err() {
        bail!(
            "no branch `{branch}` in {}: run `cubist serve` or `cubist reconcile --once` on this \
             repository first",
            redact_url(repo_arg)
        );
    }
    Ok(cubist_status_ui::StatusTree::new(read_status(
        &repo, branch,
    )?))
}

/// The git directory holding the status branch.
fn status_repository(repo: &str, branch: &str, cache_dir: Option<&Path>) -> Result<PathBuf> {
    let cache = super::cache_dir(cache_dir);
    let path = Path::new(repo);
    if repo.contains("://") || repo.contains('@') {
        let mirror = GitMirror::open(repo, &cache)?;
        if let Err(e) = mirror.fetch(&[branch]) {
            eprintln!("cubist: {e:#}; writing the mirror's last copy");
        }
        Ok(mirror.path().to_path_buf())
    } else if Repository::open(path).is_ok() {
        Ok(path.to_path_buf())
    } else if path.is_dir() {
        let local = crate::source::local::repo_path(path, &cache)?;
        if !local.exists() {
            bail!(
                "no status for the directory {} under {}: run `cubist serve --repo {0}` (with the \
                 same --cache-dir) first",
                repo,
                cache.display()
            );
        }
        Ok(local)
    } else {
        bail!("{repo} is neither a git repository nor a directory")
    }
}
