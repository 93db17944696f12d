//! Writes status as one commit per reconcile on the status branch: never on the watched branch,
//! never forced. A race with another writer is retried on top of its commit, so both survive.

use super::status_push::{self, Delivery};
use super::status_read::StatusReader;
use super::status_tree;
use crate::source::remote::Remote;
use anyhow::{Result, bail};
use git2::{Oid, Repository, Signature};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use super::status_dir::{Dir, Node};
pub use super::status_tree::{REPLACED, StatusFile, StatusFiles, Written};

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
        let (tree, m, pack) = status_tree::build(repo, previous, status, written)?;
        made = Some(m);
        Ok((tree, pack))
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
        Ok((tree_with(repo, previous, files)?, None))
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

/// Builds a commit with the tree `build` makes over the branch's tree (and the pack it wrote
/// its objects as, if any) and moves the branch to it (see [`write_status`]), again on top of
/// another writer's commit when one came first.
fn commit_retrying(
    repo: &Repository,
    remote: Option<&str>,
    branch: &str,
    author: &Author,
    message: &str,
    mut build: impl FnMut(Option<&git2::Tree>) -> Result<(Oid, Option<std::path::PathBuf>)>,
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
        let (tree, pack) = build(previous.as_ref())?;
        let tree = repo.find_tree(tree)?;
        if let Some(p) = parent.as_ref().filter(|p| p.tree_id() == tree.id()) {
            return Ok(p.id());
        }
        let sig = Signature::now(&author.name, &author.email)?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let commit = repo.commit(None, &sig, &sig, message, &tree, &parents)?;
        match status_push::deliver(repo, remote.as_ref(), branch, commit, base, pack.as_deref())? {
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

/// The files under `dir` (ending in `/`) of the status tree at the tip of `branch`, with
/// their blob ids: `(path, id)` (empty when the branch or the directory is missing). Reads
/// that subtree's trees alone, no blob.
pub fn read_status_dir(repo: &Repository, branch: &str, dir: &str) -> Result<Vec<(String, Oid)>> {
    let Ok(tip) = repo.refname_to_id(&format!("refs/heads/{branch}")) else {
        return Ok(Vec::new());
    };
    let root = repo.find_commit(tip)?.tree()?;
    let Ok(entry) = root.get_path(std::path::Path::new(dir.trim_end_matches('/'))) else {
        return Ok(Vec::new());
    };
    let Ok(tree) = repo.find_tree(entry.id()) else {
        return Ok(Vec::new()); // not a directory
    };
    let mut files = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |parent, e| {
        // A name that is not UTF-8 names no status file.
        if e.kind() == Some(git2::ObjectType::Blob)
            && let Ok(name) = e.name()
        {
            files.push((format!("{dir}{parent}{name}"), e.id()));
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok(files)
}

/// The status tree at the commit `refname` (a full ref name) points to; empty when it is
/// missing, an error naming it when it is not a commit.
pub fn read_status_ref(repo: &Repository, refname: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    // The reader is dropped at once: the tree is then this function's alone.
    let tree = StatusReader::default().read_ref(repo, refname)?;
    Ok(Arc::try_unwrap(tree).map_or_else(
        |t| t.files().clone(),
        cubist_status_ui::StatusTree::into_files,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_of_the_status_branch_is_read_alone_with_blob_ids() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        assert!(
            read_status_dir(&repo, "cubist/status", "status/runs/")
                .unwrap()
                .is_empty()
        );
        let files: BTreeMap<String, Vec<u8>> = [
            ("status/summary.yaml", "revision: x\n"),
            ("status/runs/c1/p/a.yaml", "a\n"),
            ("status/runs/c1/p/b.yaml", "b\n"),
            ("status/runs/p/old.yaml", "old\n"),
            ("status/runsx/c1/p/a.yaml", "not under runs/\n"),
        ]
        .into_iter()
        .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
        .collect();
        let tree = repo
            .find_tree(tree_with(&repo, None, &files).unwrap())
            .unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        repo.commit(
            Some("refs/heads/cubist/status"),
            &sig,
            &sig,
            "s",
            &tree,
            &[],
        )
        .unwrap();
        let mut got = read_status_dir(&repo, "cubist/status", "status/runs/").unwrap();
        got.sort();
        let want: Vec<(String, Oid)> = files
            .iter()
            .filter(|(p, _)| p.starts_with("status/runs/"))
            .map(|(p, b)| {
                (
                    p.clone(),
                    Oid::hash_object(git2::ObjectType::Blob, b).unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want);
        assert!(
            read_status_dir(&repo, "cubist/status", "status/none/")
                .unwrap()
                .is_empty()
        );
        assert!(
            read_status_dir(&repo, "cubist/status", "status/summary.yaml/")
                .unwrap()
                .is_empty()
        );
    }

    /// A file taken from the status branch without its bytes (run records read from the kept
    /// cache) is written by its id: over a tree where another writer changed that path, the
    /// commit holds the blob again, and a local remote receives it whole.
    #[test]
    fn a_file_without_its_bytes_is_written_from_the_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = Repository::init_bare(dir.path().join("mirror")).unwrap();
        let remote_path = dir.path().join("remote.git");
        let remote = Repository::init_bare(&remote_path).unwrap();
        let url = remote_path.to_str().unwrap();
        let path = "status/runs/c1/p/a.yaml";
        let files = |file: StatusFile| {
            let mut files = StatusFiles::default();
            files.insert(path, file);
            files
        };
        let (author, mut written) = (Author::default(), Written::default());
        let first = StatusFile::new(b"records: 1\n".to_vec());
        write_status(
            &mirror,
            Some(url),
            "s",
            &author,
            "1",
            &files(first.clone()),
            &mut written,
        )
        .unwrap();
        let other = BTreeMap::from([(path.to_string(), b"records: 2\n".to_vec())]);
        add_status_files(&mirror, Some(url), "s", &author, "2", &other).unwrap();
        let stored = files(StatusFile::stored(first.id));
        let tip =
            write_status(&mirror, Some(url), "s", &author, "3", &stored, &mut written).unwrap();
        for repo in [&mirror, &remote] {
            assert_eq!(repo.refname_to_id("refs/heads/s").unwrap(), tip);
            let tree = repo.find_commit(tip).unwrap().tree().unwrap();
            let entry = tree.get_path(std::path::Path::new(path)).unwrap();
            assert_eq!(entry.id(), first.id);
            let blob = repo.find_blob(entry.id()).unwrap();
            assert_eq!(blob.content(), b"records: 1\n");
        }
    }
}
