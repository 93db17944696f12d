//! A commit's manifest files read into a [`Snapshot`] straight from the object database,
//! taking over from the snapshot of an earlier commit whatever has the same git id.

use super::{
    FileBody, LINK_NOT_FOLLOWED, MAX_MANIFEST_BYTES, Snapshot, is_manifest_path, is_reported_link,
};
use anyhow::{Context, Result};
use git2::{ObjectType, Oid, Repository};
use std::collections::HashSet;

/// Brings `snap` to the manifest files of `commit` in any repository (see
/// [`GitMirror::update_snapshot`]); an empty snapshot is read in full. Returns the paths it
/// changed (see [`Changed`]).
///
/// [`GitMirror::update_snapshot`]: super::git::GitMirror::update_snapshot
pub fn snapshot_into(repo: &Repository, commit: Oid, snap: &mut Snapshot) -> Result<Changed> {
    let tree = repo
        .find_commit(commit)
        .with_context(|| format!("commit {commit} not found"))?
        .tree()?;
    snap.revision = Some(commit.to_string());
    let mut reader = TreeReader {
        repo,
        odb: repo.odb()?,
        changed: Vec::new(),
        whole: false,
    };
    reader.read(&tree, "", snap)?;
    Ok(reader.changed)
}

/// The paths a snapshot update changed: every file written or removed, every directory
/// removed or read without an earlier tree to compare with (a new one: `""` when the whole
/// snapshot was read). What is under a directory listed may not be listed.
pub type Changed = Vec<String>;

/// Walks a commit's trees into a snapshot.
struct TreeReader<'a> {
    repo: &'a Repository,
    odb: git2::Odb<'a>,
    changed: Changed,
    /// Within a directory read as a whole (see [`TreeReader::read_whole`]).
    whole: bool,
}

impl TreeReader<'_> {
    /// Reads `tree`, the directory `dir` (`""` or ending in `/`), into `snap`, skipping hidden
    /// entries and whatever `snap` holds with the same git id already.
    ///
    /// A named choice: when `snap` holds an earlier tree of `dir`, the two trees' entries are
    /// walked side by side (both sorted as git sorts them) and only entries that differ are
    /// looked at, without a path made or looked up for the others: the `projects/` directory of
    /// 5,000 projects costs a walk of its entries, not 5,000 lookups. When that earlier tree
    /// cannot be read, every entry is looked up.
    fn read(&mut self, tree: &git2::Tree, dir: &str, snap: &mut Snapshot) -> Result<()> {
        let before = snap.ids.insert(dir.to_string(), tree.id());
        match before.map(|id| self.repo.find_tree(id)) {
            Some(Ok(before)) => self.read_changes(&before, tree, dir, snap),
            Some(Err(e)) => {
                tracing::warn!(dir, error = %e, "the earlier tree of a directory is unreadable; comparing each entry");
                self.read_whole(tree, dir, snap)
            }
            None => self.read_whole(tree, dir, snap),
        }
    }

    /// Reads `dir` as a whole, noted as changed once (not each path under it).
    fn read_whole(&mut self, tree: &git2::Tree, dir: &str, snap: &mut Snapshot) -> Result<()> {
        let noting = !self.whole;
        if noting {
            self.changed.push(dir.to_string());
            self.whole = true;
        }
        let read = self.read_all(tree, dir, snap);
        self.whole = !noting;
        read
    }

    /// Notes a path changed, unless it is under a directory read as a whole.
    fn note(&mut self, path: &str) {
        if !self.whole {
            self.changed.push(path.to_string());
        }
    }

    /// Reads the entries of `tree` that differ from `before`'s and removes those it lacks.
    fn read_changes(
        &mut self,
        before: &git2::Tree,
        tree: &git2::Tree,
        dir: &str,
        snap: &mut Snapshot,
    ) -> Result<()> {
        let mut old = before.iter().peekable();
        for entry in tree.iter() {
            while let Some(gone) = old.next_if(|o| git_order(o, &entry).is_lt()) {
                self.remove_entry(&gone, dir, snap);
            }
            match old.next_if(|o| git_order(o, &entry).is_eq()) {
                Some(o) if o.id() == entry.id() && o.filemode() == entry.filemode() => {}
                // A directory changed: read on, against its earlier tree.
                Some(o) if o.kind() == Some(ObjectType::Tree) => {
                    self.read_entry(&entry, dir, snap)?
                }
                Some(o) => {
                    self.remove_entry(&o, dir, snap);
                    self.read_entry(&entry, dir, snap)?;
                }
                None => self.read_entry(&entry, dir, snap)?,
            }
        }
        for gone in old {
            self.remove_entry(&gone, dir, snap);
        }
        Ok(())
    }

    /// Reads every entry of `tree` that `snap` does not hold with the same id, and removes what
    /// `snap` holds under `dir` that `tree` lacks.
    fn read_all(&mut self, tree: &git2::Tree, dir: &str, snap: &mut Snapshot) -> Result<()> {
        let mut present = HashSet::new();
        for entry in tree.iter() {
            let Some(path) = entry_path(&entry, dir) else {
                continue;
            };
            if snap.ids.get(&path) != Some(&entry.id()) {
                self.read_entry(&entry, dir, snap)?;
            }
            present.insert(path);
        }
        for gone in snap
            .children(dir)
            .into_iter()
            .filter(|c| !present.contains(c))
        {
            snap.remove(&gone);
            self.note(&gone);
        }
        Ok(())
    }

    /// Reads one entry of `dir` into `snap`: a directory walked, a manifest (or a link to
    /// report) taken; anything else skipped.
    fn read_entry(
        &mut self,
        entry: &git2::TreeEntry,
        dir: &str,
        snap: &mut Snapshot,
    ) -> Result<()> {
        let Some(path) = entry_path(entry, dir) else {
            return Ok(());
        };
        if path.ends_with('/') {
            return self.read(&self.repo.find_tree(entry.id())?, &path, snap);
        }
        let is_link = entry.filemode() == i32::from(git2::FileMode::Link);
        if is_manifest_path(&path) || (is_link && is_reported_link(&path)) {
            let body = self.body(entry)?;
            snap.ids.insert(path.clone(), entry.id());
            self.note(&path);
            snap.files.insert(path, body);
        }
        Ok(())
    }

    /// Removes from `snap` what an entry of `dir` that is gone put there (nothing if it was
    /// skipped).
    fn remove_entry(&mut self, entry: &git2::TreeEntry, dir: &str, snap: &mut Snapshot) {
        if let Some(path) = entry_path(entry, dir)
            && snap.ids.contains_key(&path)
        {
            snap.remove(&path);
            self.note(&path);
        }
    }

    /// The content of a blob entry; a symlink (to a file or a directory) is not followed (git
    /// stores its target's path): it is unreadable.
    fn body(&self, entry: &git2::TreeEntry) -> Result<FileBody> {
        if entry.filemode() == i32::from(git2::FileMode::Link) {
            return Ok(FileBody::Unreadable(LINK_NOT_FOLLOWED.into()));
        }
        let (size, _) = self.odb.read_header(entry.id())?;
        if size as u64 > MAX_MANIFEST_BYTES {
            return Ok(FileBody::TooLarge(size as u64));
        }
        Ok(FileBody::Bytes(
            self.repo.find_blob(entry.id())?.content().into(),
        ))
    }
}

/// The snapshot path of a tree entry of `dir` (a directory's ends in `/`); `None` for a hidden
/// entry or a submodule.
fn entry_path(entry: &git2::TreeEntry, dir: &str) -> Option<String> {
    let name = entry.name().ok()?;
    if name.starts_with('.') {
        return None;
    }
    match entry.kind() {
        Some(ObjectType::Tree) => Some(format!("{dir}{name}/")),
        Some(ObjectType::Blob) => Some(format!("{dir}{name}")),
        _ => None,
    }
}

/// The order of entries in a git tree: by name, a directory's as if it ended in `/`.
fn git_order(a: &git2::TreeEntry, b: &git2::TreeEntry) -> std::cmp::Ordering {
    let slash = |e: &git2::TreeEntry| (e.kind() == Some(ObjectType::Tree)).then_some(b'/');
    let (a_slash, b_slash) = (slash(a), slash(b));
    let a = a.name_bytes().iter().chain(a_slash.iter());
    a.cmp(b.name_bytes().iter().chain(b_slash.iter()))
}

#[cfg(test)]
mod tests {
    use super::snapshot_into;
    use crate::source::Snapshot;
    use git2::{FileMode, Oid, Repository, Signature};
    use std::collections::BTreeMap;

    /// What a test tree holds at a path.
    #[derive(Clone, Copy)]
    enum Entry {
        File(&'static str),
        Link(&'static str),
        Submodule,
    }

    /// A commit of `entries` (paths with `/` make directories).
    fn commit(repo: &Repository, entries: &[(&str, Entry)]) -> Oid {
        fn tree(repo: &Repository, entries: &[(String, Entry)]) -> Oid {
            let mut b = repo.treebuilder(None).unwrap();
            let mut dirs: BTreeMap<String, Vec<(String, Entry)>> = BTreeMap::new();
            for (path, entry) in entries {
                if let Some((dir, rest)) = path.split_once('/') {
                    dirs.entry(dir.into())
                        .or_default()
                        .push((rest.into(), *entry));
                    continue;
                }
                let (id, mode) = match entry {
                    Entry::File(text) => (repo.blob(text.as_bytes()).unwrap(), FileMode::Blob),
                    Entry::Link(to) => (repo.blob(to.as_bytes()).unwrap(), FileMode::Link),
                    Entry::Submodule => (Oid::from_str(&"1".repeat(40)).unwrap(), FileMode::Commit),
                };
                b.insert(path, id, mode.into()).unwrap();
            }
            for (dir, under) in dirs {
                b.insert(&dir, tree(repo, &under), FileMode::Tree.into())
                    .unwrap();
            }
            b.write().unwrap()
        }
        let entries: Vec<(String, Entry)> =
            entries.iter().map(|(p, e)| (p.to_string(), *e)).collect();
        let tree = repo.find_tree(tree(repo, &entries)).unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        repo.commit(None, &sig, &sig, "test", &tree, &[]).unwrap()
    }

    fn fresh(repo: &Repository, commit: Oid) -> Snapshot {
        let mut snap = Snapshot::default();
        snapshot_into(repo, commit, &mut snap).unwrap();
        snap
    }

    /// A directory's path (`""` is the root).
    fn is_dir(path: &str) -> bool {
        path.is_empty() || path.ends_with('/')
    }

    /// Files added, removed or changed, and directories added or removed.
    fn differing(a: &Snapshot, b: &Snapshot) -> Vec<String> {
        let file = |s: &Snapshot, p: &str| {
            (
                s.ids.get(p).copied(),
                s.files.get(p).map(|f| format!("{f:?}")),
            )
        };
        let paths: std::collections::BTreeSet<&String> = a.ids.keys().chain(b.ids.keys()).collect();
        paths
            .into_iter()
            .filter(|p| match is_dir(p) {
                true => a.ids.contains_key(*p) != b.ids.contains_key(*p),
                false => file(a, p) != file(b, p),
            })
            .cloned()
            .collect()
    }

    fn same(a: &Snapshot, b: &Snapshot) -> bool {
        a.ids == b.ids && format!("{:?}", a.files) == format!("{:?}", b.files)
    }

    #[test]
    fn a_snapshot_brought_from_commit_to_commit_equals_a_fresh_read() {
        use Entry::*;
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(tmp.path()).unwrap();
        let many: Vec<String> = (0..40)
            .map(|i| format!("projects/p{i:02}/project.yaml"))
            .collect();
        let base: Vec<(&str, Entry)> = many
            .iter()
            .map(|p| (p.as_str(), File("kind: Project\n")))
            .collect();
        let with = |extra: &[(&'static str, Entry)]| {
            let mut all = base.clone();
            all.extend_from_slice(extra);
            all
        };
        let steps = [
            with(&[
                ("a.yaml", File("a")),
                ("d/x.yaml", File("x")),
                ("l.yaml", File("l")),
                ("s.yaml", File("s")),
            ]),
            // A file becomes a directory of the same name; a directory a file; a file a link
            // with the same bytes; a file a submodule; a hidden directory and a non-manifest.
            with(&[
                ("a.yaml/x.yaml", File("a")),
                ("d", File("x")),
                ("l.yaml", Link("l")),
                ("s.yaml", Submodule),
                (".hidden/h.yaml", File("h")),
                ("notes.txt", File("n")),
            ]),
            // One project changed, one gone, one added; a file under a hidden directory changed.
            {
                let mut all: Vec<(&str, Entry)> = base
                    .iter()
                    .filter(|(p, _)| !p.contains("p07"))
                    .cloned()
                    .collect();
                all.push((
                    "projects/p03/project.yaml",
                    File("kind: Project # changed\n"),
                ));
                all.retain(|(p, e)| {
                    *p != "projects/p03/project.yaml"
                        || matches!(e, File(t) if t.contains("changed"))
                });
                all.push(("projects/p99/pipelines/x.yaml", File("kind: Pipeline\n")));
                all.push((".hidden/h.yaml", File("h2")));
                all
            },
            with(&[
                ("a.yaml", File("a")),
                ("d/x.yaml", File("x")),
                ("l.yaml", File("l")),
                ("s.yaml", File("s")),
            ]),
            Vec::new(),
            with(&[]),
        ];
        let mut snap = Snapshot::default();
        for (step, entries) in steps.iter().enumerate() {
            let id = commit(&repo, entries);
            let before = snap.clone();
            let changed = snapshot_into(&repo, id, &mut snap).unwrap();
            for path in differing(&before, &snap) {
                assert!(
                    changed
                        .iter()
                        .any(|c| *c == path || (is_dir(c) && path.starts_with(c.as_str()))),
                    "step {step}: {path} changed, not in {changed:?}"
                );
            }
            if step > 0 {
                assert!(
                    !changed.contains(&String::new()),
                    "step {step}: {changed:?}"
                );
            }
            let want = fresh(&repo, id);
            assert!(
                same(&snap, &want),
                "step {step}:\n{:#?}\n{:#?}",
                snap.files.keys().collect::<Vec<_>>(),
                want.files.keys().collect::<Vec<_>>()
            );
        }
    }
}
