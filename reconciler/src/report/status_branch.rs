//! Writes status as one commit per reconcile on the status branch: never on the watched branch,
//! never a force-push. A push race is retried on top of the other writer's commit, so both survive.

use super::status_tree;
use crate::source::git::callbacks;
use anyhow::{Context, Result, bail};
use git2::{Oid, PushOptions, Repository, Signature};
use std::collections::BTreeMap;

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

/// Commits `status` on `branch` of `repo` (a mirror), then pushes it to `remote` if given.
/// Returns the new commit. Retries up to 5 times when the remote moved. `written` is what the
/// previous write made (see [`Written`]); it is updated when this one succeeds.
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
    let refname = format!("refs/heads/{branch}");
    let mut last_err = None;
    for attempt in 0..5 {
        if attempt > 0
            && let Some(url) = remote
        {
            fetch_branch(repo, url, branch)?;
        }
        let parent = repo
            .refname_to_id(&refname)
            .ok()
            .and_then(|id| repo.find_commit(id).ok());
        let previous = parent.as_ref().map(|p| p.tree()).transpose()?;
        let (tree, made) = status_tree::build(repo, previous.as_ref(), status, written)?;
        let tree = repo.find_tree(tree)?;
        if parent.as_ref().is_some_and(|p| p.tree_id() == tree.id()) {
            *written = made;
            return Ok(parent.expect("checked").id());
        }
        let sig = Signature::now(&author.name, &author.email)?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let commit = repo.commit(None, &sig, &sig, message, &tree, &parents)?;
        let Some(url) = remote else {
            repo.reference(&refname, commit, true, "cubist status")?;
            *written = made;
            return Ok(commit);
        };
        match push(repo, url, commit, branch) {
            Ok(()) => {
                repo.reference(&refname, commit, true, "cubist status")?;
                *written = made;
                return Ok(commit);
            }
            Err(e) => {
                tracing::info!(attempt, error = %e, "status push rejected; retrying on top of the new tip");
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("status push failed")))
        .context("could not push the status branch after 5 attempts")
}

fn fetch_branch(repo: &Repository, url: &str, branch: &str) -> Result<()> {
    let mut remote = repo.remote_anonymous(url)?;
    let mut opts = git2::FetchOptions::new();
    opts.remote_callbacks(callbacks());
    remote.fetch(
        &[format!("+refs/heads/{branch}:refs/heads/{branch}")],
        Some(&mut opts),
        None,
    )?;
    Ok(())
}

/// Pushes `commit` to `branch` without force; an error when the remote has moved.
fn push(repo: &Repository, url: &str, commit: Oid, branch: &str) -> Result<()> {
    if let Some(work) = non_bare_local(url) {
        return deliver_local(repo, &work, commit, branch);
    }
    let tmp = format!("refs/cubist/push/{branch}");
    repo.reference(&tmp, commit, true, "cubist status push")?;
    let mut remote = repo.remote_anonymous(url)?;
    let mut cb = callbacks();
    let rejected = std::rc::Rc::new(std::cell::RefCell::new(None::<String>));
    let r2 = rejected.clone();
    cb.push_update_reference(move |_name, status| {
        if let Some(s) = status {
            *r2.borrow_mut() = Some(s.to_string());
        }
        Ok(())
    });
    let mut opts = PushOptions::new();
    opts.remote_callbacks(cb);
    let result = remote.push(&[format!("{tmp}:refs/heads/{branch}")], Some(&mut opts));
    if let Ok(mut r) = repo.find_reference(&tmp) {
        let _ = r.delete();
    }
    result.context("push failed")?;
    if let Some(why) = rejected.borrow().clone() {
        bail!("remote rejected the status push: {why}");
    }
    Ok(())
}

/// The repository at `url` when it is a local working tree (libgit2 cannot push to those).
fn non_bare_local(url: &str) -> Option<Repository> {
    let path = url.strip_prefix("file://").unwrap_or(url);
    if url.contains("://") && !url.starts_with("file://") {
        return None;
    }
    Repository::open(path).ok().filter(|r| !r.is_bare())
}

/// Delivers a status commit into a local working tree's repository the way a push would: the
/// objects are fetched from the mirror, and the branch moves only forward (a moved branch is
/// a rejection, retried on top of it). Its HEAD, index and files are never touched.
fn deliver_local(mirror: &Repository, work: &Repository, commit: Oid, branch: &str) -> Result<()> {
    let refname = format!("refs/heads/{branch}");
    if work
        .head()
        .ok()
        .and_then(|h| h.name().ok().map(str::to_string))
        == Some(refname.clone())
    {
        bail!(
            "the status branch `{branch}` is checked out in {}; check out another branch there",
            work.workdir().unwrap_or(work.path()).display()
        );
    }
    let incoming = format!("refs/cubist/incoming/{branch}");
    let tmp = format!("refs/cubist/push/{branch}");
    mirror.reference(&tmp, commit, true, "cubist status delivery")?;
    let fetched = work
        .remote_anonymous(&mirror.path().display().to_string())
        .and_then(|mut r| r.fetch(&[format!("+{tmp}:{incoming}")], None, None));
    if let Ok(mut r) = mirror.find_reference(&tmp) {
        let _ = r.delete();
    }
    fetched.context("cannot copy the status commit into the local repository")?;
    if let Ok(mut r) = work.find_reference(&incoming) {
        let _ = r.delete();
    }
    match work.refname_to_id(&refname) {
        Ok(old) if old == commit => Ok(()),
        Ok(old) if !work.graph_descendant_of(commit, old)? => {
            bail!("remote rejected the status push: {branch} moved (not a fast-forward)")
        }
        Ok(old) => {
            work.reference_matching(&refname, commit, true, old, "cubist status")?;
            Ok(())
        }
        Err(_) => {
            work.reference(&refname, commit, false, "cubist status")?;
            Ok(())
        }
    }
}

/// All blobs of a tree as `path → blob id`.
fn flatten(tree: &git2::Tree) -> Result<BTreeMap<String, Oid>> {
    let mut out = BTreeMap::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            out.insert(
                format!("{dir}{}", entry.name().unwrap_or_default()),
                entry.id(),
            );
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok(out)
}

/// The status tree at the tip of `branch` as `path → bytes` (empty when the branch is missing).
pub fn read_status(repo: &Repository, branch: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    read_status_ref(repo, &format!("refs/heads/{branch}"))
}

/// The status tree at the commit `refname` (a full ref name) points to; empty when it is missing.
pub fn read_status_ref(repo: &Repository, refname: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    let Ok(id) = repo.refname_to_id(refname) else {
        return Ok(BTreeMap::new());
    };
    let tree = repo.find_commit(id)?.tree()?;
    let mut out = BTreeMap::new();
    for (path, blob) in flatten(&tree)? {
        out.insert(path, repo.find_blob(blob)?.content().to_vec());
    }
    Ok(out)
}
