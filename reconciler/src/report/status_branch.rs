//! Writes status as one commit per reconcile on the status branch: never on the watched branch,
//! never forced. A race with another writer is retried on top of its commit, so both survive.

use super::status_push::{self, Delivery, Remote};
use super::status_read::StatusReader;
use super::status_tree;
use anyhow::{Result, bail};
use git2::{Oid, Repository, Signature};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use super::status_tree::{REPLACED, StatusFile, StatusFiles, Unit, Written};

/// Who status commits are written as.
#[derive(Debug, Clone)]
pub struct Author {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "cubist".into(),
            email: "cubist@localhost".into(),
        }
    }
}

/// How many times a status commit is built and sent before giving up (until the next reconcile).
const ATTEMPTS: u32 = 10;

/// Commits `status` on `branch` of `repo` (a mirror), and sends it to `remote` if given; returns
/// the new commit. The branch only ever moves from the commit the new one was built on to the
/// new one (see the `status_push` module); when another writer moved it first, the commit is
/// built again on top of theirs, in up to 10 attempts with a growing random wait. `written` is
/// what the previous write made (see [`Written`]); it is updated when this one succeeds.
#[allow(clippy::too_many_arguments)]
pub fn write_status(
    repo: &Repository,
    remote: Option<&str>,
    branch: &str,
    author: &Author,
    message: &str,
    status: &StatusFiles,
    written: &mut Written,
) -> Result<Oid> {
    let mut made = None;
    let id = commit_retrying(repo, remote, branch, author, message, |previous| {
        let (tree, m) = status_tree::build(repo, previous, status, written)?;
        made = Some(m);
        Ok(tree)
    })?;
    if let Some(m) = made {
        *written = m;
    }
    Ok(id)
}

/// Adds (or replaces) `files` on `branch`, leaving everything else of its tree as it is (a
/// writer beside the reconcile loop, such as the reviewer recording what it commented);
/// moves the branch like [`write_status`] does.
pub fn add_status_files(
    repo: &Repository,
    remote: Option<&str>,
    branch: &str,
    author: &Author,
    message: &str,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Oid> {
    commit_retrying(repo, remote, branch, author, message, |previous| {
        tree_with(repo, previous, files)
    })
}

/// Writes the tree of `base` (none: empty) with `files` (path → content) added or replaced, and
/// returns its id.
pub fn tree_with(
    repo: &Repository,
    base: Option<&git2::Tree>,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Oid> {
    let mut update = git2::build::TreeUpdateBuilder::new();
    for (path, bytes) in files {
        update.upsert(path.as_str(), repo.blob(bytes)?, git2::FileMode::Blob);
    }
    let empty;
    let base = match base {
        Some(t) => t,
        None => {
            empty = repo.find_tree(repo.treebuilder(None)?.write()?)?;
            &empty
        }
    };
    Ok(update.create_updated(repo, base)?)
}

/// Builds a commit with the tree `build` makes over the branch's tree and moves the branch to
/// it (see [`write_status`]), again on top of another writer's commit when one came first.
fn commit_retrying(
    repo: &Repository,
    remote: Option<&str>,
    branch: &str,
    author: &Author,
    message: &str,
    mut build: impl FnMut(Option<&git2::Tree>) -> Result<Oid>,
) -> Result<Oid> {
    let remote = remote.map(Remote::open).transpose()?;
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(status_push::retry_delay(attempt));
        }
        let base = status_push::base(repo, remote.as_ref(), branch, attempt > 0)?;
        let parent = base.map(|id| repo.find_commit(id)).transpose()?;
        let previous = parent.as_ref().map(|p| p.tree()).transpose()?;
        let tree = repo.find_tree(build(previous.as_ref())?)?;
        if let Some(p) = parent.as_ref().filter(|p| p.tree_id() == tree.id()) {
            return Ok(p.id());
        }
        let sig = Signature::now(&author.name, &author.email)?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let commit = repo.commit(None, &sig, &sig, message, &tree, &parents)?;
        match status_push::deliver(repo, remote.as_ref(), branch, commit, base)? {
            Delivery::Done => {
                tracing::info!(commit = %commit, "status commit written");
                return Ok(commit);
            }
            Delivery::Moved(why) => {
                tracing::info!(attempt, %why, "the status branch moved; building on top of it");
                last = why;
            }
        }
    }
    bail!(
        "could not move the status branch `{branch}` forward in {ATTEMPTS} attempts: each time \
         another writer had moved it first or it was refused (last: {last}). Nothing was forced; \
         the next reconcile tries again"
    )
}

/// The status tree at the tip of `branch` as `path → bytes` (empty when the branch is missing).
pub fn read_status(repo: &Repository, branch: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    read_status_ref(repo, &format!("refs/heads/{branch}"))
}

/// The status tree at the commit `refname` (a full ref name) points to; empty when it is
/// missing, an error naming it when it is not a commit.
pub fn read_status_ref(repo: &Repository, refname: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    // The reader is dropped at once: the tree is then this function's alone.
    let tree = StatusReader::default().read_ref(repo, refname)?;
    Ok(Arc::try_unwrap(tree).map_or_else(|t| t.files.clone(), |t| t.files))
}
