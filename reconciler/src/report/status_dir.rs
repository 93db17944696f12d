//! The files of a status commit as a tree of shared directories. Cloning a [`Dir`] is cheap,
//! and changing a clone copies only the directories on the changed path: the others stay the
//! very same, so the reconcile after a one-file change hands over a tree in which all but a few
//! directories are the ones written last time, and the commit skips them by identity (see
//! [`super::status_tree`]).

use git2::Oid;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// One file of a status commit: its git blob id, and its bytes unless the blob is in the
/// mirror's object database already. Equal when their ids are (an id is the hash of the bytes).
#[derive(Debug, Clone)]
pub struct StatusFile {
    /// Blob id of the content.
    pub id: Oid,
    /// The content; `None` for a file read from the status branch whose bytes were not needed
    /// (run records kept by blob id): its blob is in the mirror already.
    pub bytes: Option<Arc<[u8]>>,
}

impl PartialEq for StatusFile {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for StatusFile {}

impl StatusFile {
    /// A file of these bytes (its blob id computed in memory, nothing written).
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = bytes.into();
        StatusFile {
            id: crate::git_objects::object_id(git2::ObjectType::Blob, &bytes),
            bytes: Some(bytes),
        }
    }

    /// The file of blob `id`, read from the mirror's status branch, without its bytes.
    pub fn stored(id: Oid) -> Self {
        StatusFile { id, bytes: None }
    }
}

/// An entry of a [`Dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A file.
    File(StatusFile),
    /// A directory.
    Dir(Dir),
}

/// A directory of status files, shared (see the module doc). Once its tree is in the
/// repository, the tree's id is kept with it; any change makes a copy without it.
#[derive(Debug, Clone, Default)]
pub struct Dir(Arc<DirData>);

#[derive(Debug, Default)]
struct DirData {
    entries: BTreeMap<Arc<str>, Node>,
    written: OnceLock<Oid>,
}

impl PartialEq for Dir {
    /// The same files at the same paths (at once when they are the very same directory).
    fn eq(&self, other: &Self) -> bool {
        self.same(other) || self.0.entries == other.0.entries
    }
}

impl Eq for Dir {}

impl Clone for DirData {
    /// The same entries; the copy is about to change, so its tree is not the written one.
    fn clone(&self) -> Self {
        DirData {
            entries: self.entries.clone(),
            written: OnceLock::new(),
        }
    }
}

impl Dir {
    /// The directory of these files (`path → file`, paths `/`-separated).
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, StatusFile)>) -> Dir {
        let mut dir = Dir::default();
        for (path, file) in files {
            dir.insert(path, Node::File(file));
        }
        dir
    }

    /// Puts `node` at `path` (`a/b.yaml`, or `a/b/` for a directory), replacing what was
    /// there; the directories above it are made (or copied when shared).
    pub fn insert(&mut self, path: &str, node: Node) {
        let path = path.trim_end_matches('/');
        let data = self.change();
        match path.split_once('/') {
            None => {
                data.entries.insert(path.into(), node);
            }
            Some((name, rest)) => {
                if !matches!(data.entries.get(name), Some(Node::Dir(_))) {
                    data.entries.insert(name.into(), Node::Dir(Dir::default()));
                }
                if let Some(Node::Dir(sub)) = data.entries.get_mut(name) {
                    sub.insert(rest, node);
                }
            }
        }
    }

    /// Puts the file at `path`.
    pub fn insert_file(&mut self, path: &str, file: StatusFile) {
        self.insert(path, Node::File(file));
    }

    /// Removes what is at `path` (a file, or a directory with a trailing `/` or not), and the
    /// directories it leaves empty. Nothing is copied when there is nothing there.
    pub fn remove(&mut self, path: &str) {
        let path = path.trim_end_matches('/');
        if self.get(path).is_none() {
            return;
        }
        let data = self.change();
        match path.split_once('/') {
            None => {
                data.entries.remove(path);
            }
            Some((name, rest)) => {
                let Some(Node::Dir(sub)) = data.entries.get_mut(name) else {
                    return;
                };
                sub.remove(rest);
                if sub.is_empty() {
                    data.entries.remove(name);
                }
            }
        }
    }

    /// What is at `path`, if anything.
    pub fn get(&self, path: &str) -> Option<&Node> {
        let path = path.trim_end_matches('/');
        match path.split_once('/') {
            None => self.0.entries.get(path),
            Some((name, rest)) => match self.0.entries.get(name)? {
                Node::Dir(sub) => sub.get(rest),
                Node::File(_) => None,
            },
        }
    }

    /// The file at `path`, if there is one.
    pub fn file(&self, path: &str) -> Option<&StatusFile> {
        match self.get(path)? {
            Node::File(f) => Some(f),
            Node::Dir(_) => None,
        }
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    /// Its entries, by name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.0.entries.iter().map(|(n, e)| (&**n, e))
    }

    /// The entry `name` directly inside it.
    pub fn entry(&self, name: &str) -> Option<&Node> {
        self.0.entries.get(name)
    }

    /// Every file under it, by path.
    pub fn files(&self) -> BTreeMap<String, StatusFile> {
        let mut out = BTreeMap::new();
        self.collect("", &mut out);
        out
    }

    fn collect(&self, prefix: &str, out: &mut BTreeMap<String, StatusFile>) {
        for (name, node) in &self.0.entries {
            match node {
                Node::File(f) => {
                    out.insert(format!("{prefix}{name}"), f.clone());
                }
                Node::Dir(d) => d.collect(&format!("{prefix}{name}/"), out),
            }
        }
    }

    /// True when both are the very same directory (not only equal).
    pub fn same(&self, other: &Dir) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The id of its tree, once that tree is in the repository.
    pub(crate) fn written(&self) -> Option<Oid> {
        self.0.written.get().copied()
    }

    /// Records that its tree, `id`, is in the repository (see [`super::status_tree`]).
    pub(crate) fn mark_written(&self, id: Oid) {
        let _ = self.0.written.set(id);
    }

    /// Its data, to change: copied first when shared, and no longer the written tree.
    fn change(&mut self) -> &mut DirData {
        let data = Arc::make_mut(&mut self.0);
        data.written = OnceLock::new();
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> StatusFile {
        StatusFile::new(text.as_bytes().to_vec())
    }

    #[test]
    fn a_change_copies_only_the_directories_on_its_path() {
        let mut a = Dir::from_files([
            ("x/one/f.yaml", file("1")),
            ("x/two/f.yaml", file("2")),
            ("y.yaml", file("y")),
        ]);
        let Some(Node::Dir(two)) = a.get("x/two") else {
            panic!("x/two is a directory")
        };
        let two = two.clone();
        let before = a.clone();
        a.insert_file("x/one/f.yaml", file("1b"));
        // The copy changed; the original did not, and the untouched directory is shared.
        assert_eq!(a.file("x/one/f.yaml"), Some(&file("1b")));
        assert_eq!(before.file("x/one/f.yaml"), Some(&file("1")));
        let Some(Node::Dir(still)) = a.get("x/two/") else {
            panic!("x/two is a directory")
        };
        assert!(still.same(&two));
        assert!(!a.same(&before));
    }

    #[test]
    fn removing_drops_emptied_directories_and_copies_nothing_when_absent() {
        let mut a = Dir::from_files([("x/one/f.yaml", file("1")), ("y.yaml", file("y"))]);
        let before = a.clone();
        a.remove("x/none.yaml");
        assert!(
            a.same(&before),
            "removing what is not there changes nothing"
        );
        a.remove("x/one/f.yaml");
        assert!(a.get("x").is_none(), "an emptied directory goes too");
        assert_eq!(a.files().keys().collect::<Vec<_>>(), vec!["y.yaml"]);
        assert_eq!(before.files().len(), 2);
        // A file where a directory was (and back) replaces it.
        a.insert_file("y.yaml/z", file("z"));
        assert_eq!(a.files().keys().collect::<Vec<_>>(), vec!["y.yaml/z"]);
    }

    #[test]
    fn a_changed_copy_is_not_the_written_tree() {
        let mut a = Dir::from_files([("f", file("1"))]);
        let id = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        a.mark_written(id);
        let b = a.clone();
        assert_eq!(b.written(), Some(id));
        a.insert_file("g", file("2"));
        assert_eq!(a.written(), None);
        assert_eq!(b.written(), Some(id));
    }
}
