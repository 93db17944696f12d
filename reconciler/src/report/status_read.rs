//! Reads the status tree of a status-branch commit. A [`StatusReader`] keeps the last tree it
//! read: asked again for the same commit it returns that very tree (with what was decoded of
//! it), and for a new commit it reads only the blobs that changed, taking every unchanged
//! directory over from the last tree without walking it. The status page reads the branch so:
//! once per status commit, not per request.

use super::status_push::{self, Tip};
use anyhow::{Result, bail};
use cubist_status_ui::StatusTree;
use git2::{ObjectType, Oid, Repository};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The last status tree read, to read the next one incrementally.
#[derive(Default)]
pub struct StatusReader {
    last: Option<Loaded>,
}

/// A tree as read: the commit, the tree, each file's blob id and each directory's tree id.
struct Loaded {
    commit: Oid,
    tree: Arc<StatusTree>,
    blobs: HashMap<String, Oid>,
    dirs: BTreeMap<String, Oid>,
}

impl StatusReader {
    /// The status tree at the tip of `branch` of `repo` (empty when the branch is missing).
    pub fn read_branch(&mut self, repo: &Repository, branch: &str) -> Result<Arc<StatusTree>> {
        self.read_ref(repo, &format!("refs/heads/{branch}"))
    }

    /// The status tree at the commit `refname` (a full ref name) points to; empty when it is
    /// missing, an error naming it when it is not a commit.
    pub fn read_ref(&mut self, repo: &Repository, refname: &str) -> Result<Arc<StatusTree>> {
        match status_commit(repo, refname)? {
            Some(id) => self.read_commit(repo, id),
            None => Ok(Arc::new(StatusTree::default())),
        }
    }

    /// The status tree of commit `id`.
    pub fn read_commit(&mut self, repo: &Repository, id: Oid) -> Result<Arc<StatusTree>> {
        if let Some(last) = self.last.as_ref().filter(|l| l.commit == id) {
            return Ok(last.tree.clone());
        }
        let root = repo.find_commit(id)?.tree()?;
        let mut walk = Walk {
            repo,
            last: self.last.as_ref(),
            files: BTreeMap::new(),
            blobs: HashMap::new(),
            dirs: BTreeMap::new(),
        };
        walk.dir(&root, "")?;
        let tree = StatusTree::new(walk.files);
        if let Some(last) = &self.last {
            tree.keep_decoded(&last.tree);
        }
        let (blobs, dirs) = (walk.blobs, walk.dirs);
        let tree = Arc::new(tree);
        self.last = Some(Loaded {
            commit: id,
            tree: tree.clone(),
            blobs,
            dirs,
        });
        Ok(tree)
    }
}

/// The file at `path` in the tree of commit `id`, `None` when there is none.
pub fn read_file(repo: &Repository, id: Oid, path: &str) -> Result<Option<Vec<u8>>> {
    let tree = repo.find_commit(id)?.tree()?;
    let entry = match tree.get_path(std::path::Path::new(path)) {
        Ok(entry) => entry,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match entry.kind() {
        Some(ObjectType::Blob) => Ok(Some(repo.find_blob(entry.id())?.content().to_vec())),
        _ => Ok(None),
    }
}

/// The commit `refname` points to (a symbolic ref is followed); `None` when it is missing, an
/// error naming it when it is not a commit.
pub fn status_commit(repo: &Repository, refname: &str) -> Result<Option<Oid>> {
    // A symbolic ref is read where it leads (only writing needs the ref itself to be a commit).
    let resolved = repo.find_reference(refname).and_then(|r| r.resolve());
    let name = resolved
        .as_ref()
        .ok()
        .and_then(|r| r.name().ok())
        .unwrap_or(refname);
    match status_push::tip(repo, name)? {
        Tip::Missing => Ok(None),
        Tip::Commit(id) => Ok(Some(id)),
        Tip::NotCommit(found) => bail!("{name} points at {found}, not a commit"),
    }
}

/// One read of a tree over the last one.
struct Walk<'a> {
    repo: &'a Repository,
    last: Option<&'a Loaded>,
    files: BTreeMap<String, Vec<u8>>,
    blobs: HashMap<String, Oid>,
    dirs: BTreeMap<String, Oid>,
}

impl Walk<'_> {
    /// Reads the files of `tree`, the directory `prefix` (`""` or ending in `/`).
    fn dir(&mut self, tree: &git2::Tree, prefix: &str) -> Result<()> {
        for entry in tree.iter() {
            let Ok(name) = entry.name() else {
                continue; // not UTF-8: no status file is named so
            };
            let (id, path) = (entry.id(), format!("{prefix}{name}"));
            match entry.kind() {
                Some(ObjectType::Blob) => {
                    let bytes = match self.last.filter(|l| l.blobs.get(&path) == Some(&id)) {
                        Some(last) => last.tree.files()[&path].clone(),
                        None => self.repo.find_blob(id)?.content().to_vec(),
                    };
                    self.files.insert(path.clone(), bytes);
                    self.blobs.insert(path, id);
                }
                Some(ObjectType::Tree) => {
                    let dir = path + "/";
                    self.dirs.insert(dir.clone(), id);
                    match self.last.filter(|l| l.dirs.get(&dir) == Some(&id)) {
                        Some(last) => self.take_over(last, &dir),
                        None => {
                            let repo = self.repo;
                            self.dir(&repo.find_tree(id)?, &dir)?
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Takes the files and directories under `dir` (unchanged since `last`) from it.
    fn take_over(&mut self, last: &Loaded, dir: &str) {
        for (path, bytes) in last.tree.files().range(dir.to_string()..) {
            if !path.starts_with(dir) {
                break;
            }
            self.files.insert(path.clone(), bytes.clone());
            self.blobs.insert(path.clone(), last.blobs[path]);
        }
        let inside = last.dirs.range(dir.to_string()..);
        for (path, id) in inside.take_while(|(p, _)| p.starts_with(dir)) {
            self.dirs.insert(path.clone(), *id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits `files` (path → content) as the status branch's next commit.
    fn commit(repo: &Repository, files: &[(&str, &str)]) -> Oid {
        let files = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect();
        let tree = super::super::status_branch::tree_with(repo, None, &files).unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let sig = git2::Signature::now("t", "t@localhost").unwrap();
        let parent = repo
            .refname_to_id("refs/heads/cubist/status")
            .ok()
            .map(|id| repo.find_commit(id).unwrap());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        repo.commit(
            Some("refs/heads/cubist/status"),
            &sig,
            &sig,
            "status",
            &tree,
            &parents,
        )
        .unwrap()
    }

    #[test]
    fn each_commit_is_read_once_and_the_next_one_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut reader = StatusReader::default();
        assert!(
            reader
                .read_branch(&repo, "cubist/status")
                .unwrap()
                .files()
                .is_empty()
        );

        commit(
            &repo,
            &[
                ("status/summary.yaml", "revision: a\n"),
                ("status/clusters/c/p/Kind/x.yaml", "x: 1\n"),
                ("status/clusters/c/q/Kind/y.yaml", "y: 1\n"),
                ("status/history/d/1.yaml", "h: 1\n"),
            ],
        );
        let first = reader.read_branch(&repo, "cubist/status").unwrap();
        let again = reader.read_branch(&repo, "cubist/status").unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same commit is not read again"
        );

        let files = [
            ("status/summary.yaml", "revision: b\n"),
            ("status/clusters/c/p/Kind/x.yaml", "x: 1\n"),
            ("status/clusters/c/q/Kind/y.yaml", "y: 2\n"),
            ("status/clusters/c/q/Kind/z.yaml", "z: 1\n"),
            ("status/history/d/1.yaml", "h: 1\n"),
            ("status/history/d/2.yaml", "h: 2\n"),
        ];
        let second = commit(&repo, &files);
        let read = reader.read_branch(&repo, "cubist/status").unwrap();
        let expected: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect();
        assert_eq!(
            read.files(),
            &expected,
            "read over the first, the same as read afresh"
        );
        let fresh = StatusReader::default().read_commit(&repo, second).unwrap();
        assert_eq!(fresh.files(), &expected);

        // A file removed, a directory removed.
        commit(&repo, &[("status/summary.yaml", "revision: c\n")]);
        let read = reader.read_branch(&repo, "cubist/status").unwrap();
        assert_eq!(
            read.files().keys().collect::<Vec<_>>(),
            ["status/summary.yaml"]
        );
    }
}
