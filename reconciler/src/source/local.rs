//! Local authoring: a plain directory committed into a git repository under the cache
//! directory, so that the loop reads it like any remote (first run and on every change).

use anyhow::{Context, Result};
use git2::{Repository, Signature};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Commits the files of `dir` (all of them but hidden ones and, in a git working tree, those
/// its `.gitignore` ignores; symbolic links as links, never followed, which the snapshot
/// reports; FIFOs and sockets are left out) on `branch` of a repository kept under `cache`, never
/// writing `dir` itself (nor its `.git`); a commit is made only when the content changed.
/// Returns the repository path.
pub fn commit_directory(dir: &Path, cache: &Path, branch: &str) -> Result<PathBuf> {
    super::git::trust_stored_object_ids();
    let abs = absolute(dir)?;
    let path = repo_path(dir, cache)?;
    let repo = match Repository::open_bare(&path) {
        Ok(r) => r,
        Err(_) => {
            std::fs::create_dir_all(&path)?;
            Repository::init_bare(&path)?
        }
    };
    let worktree = Repository::open(&abs).ok();
    let ignored = |rel: &Path| {
        worktree
            .as_ref()
            .is_some_and(|w| w.is_path_ignored(rel).unwrap_or(false))
    };
    let tree = tree_of(&repo, &abs, Path::new(""), &ignored)?;
    let refname = format!("refs/heads/{branch}");
    let parent = repo
        .refname_to_id(&refname)
        .ok()
        .and_then(|id| repo.find_commit(id).ok());
    if parent.as_ref().is_some_and(|p| p.tree_id() == tree) {
        return Ok(path);
    }
    let sig = Signature::now("cubist local", "cubist@localhost")?;
    let tree = repo.find_tree(tree)?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(
        Some(&refname),
        &sig,
        &sig,
        &format!("local: snapshot of {}", abs.display()),
        &tree,
        &parents,
    )?;
    Ok(path)
}

/// Where [`commit_directory`] keeps the repository of `dir` under `cache` (it may not exist yet).
pub fn repo_path(dir: &Path, cache: &Path) -> Result<PathBuf> {
    let abs = absolute(dir)?;
    let name = hex::encode(&Sha256::digest(abs.display().to_string().as_bytes())[..8]);
    Ok(cache.join(format!("local-{name}.git")))
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    dir.canonicalize()
        .with_context(|| format!("{} does not exist", dir.display()))
}

/// The tree of `root/rel`, leaving out hidden and `ignored` paths (relative to `root`).
fn tree_of(
    repo: &Repository,
    root: &Path,
    rel: &Path,
    ignored: &dyn Fn(&Path) -> bool,
) -> Result<git2::Oid> {
    let mut tb = repo.treebuilder(None)?;
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || ignored(&rel.join(&name)) {
            continue;
        }
        let path = e.path();
        let ft = e.file_type()?;
        if ft.is_symlink() {
            // A link stays a link, whatever it points to: it is never read through (it could
            // lead out of the directory), and the snapshot reports it (E0001).
            let target = std::fs::read_link(&path)
                .with_context(|| format!("cannot read the link {}", path.display()))?;
            let target = target.to_string_lossy().into_owned();
            tb.insert(&name, repo.blob(target.as_bytes())?, 0o120000)?;
        } else if ft.is_dir() {
            let sub = tree_of(repo, root, &rel.join(&name), ignored)?;
            if !repo.find_tree(sub)?.is_empty() {
                tb.insert(&name, sub, 0o040000)?;
            }
        } else if ft.is_file() {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            tb.insert(&name, repo.blob(&bytes)?, 0o100644)?;
        }
    }
    Ok(tb.write()?)
}
