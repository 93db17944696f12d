//! Where the values and keys of one YAML document were written, kept beside its JSON value so
//! that a JSON Schema instance path or a model path maps back to `file:line:col`.
//!
//! One flat table per document instead of a tree: an entry per value in document order, each
//! knowing where its subtree ends, and the key names of all mappings in one string.

use std::collections::HashMap;

/// The 1-based line and column of every value of one document, and of every mapping key.
#[derive(Debug, Clone, PartialEq)]
pub struct Positions {
    /// One entry per value, in document order (a value's children follow it).
    spots: Vec<Spot>,
    /// The names of the mapping keys, one after the other (see [`Spot::key`]).
    keys: String,
    /// The children of each long sequence, in order: a path into its `i`th item is one lookup,
    /// not a walk over the items before it (which made locating every item quadratic).
    long_seqs: HashMap<u32, Vec<u32>>,
}

/// Sequences with at least this many items get an entry in [`Positions::long_seqs`].
const LONG_SEQ: usize = 32;

/// The position of one value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spot {
    line: u32,
    col: u32,
    /// Index one past the last entry of this value's subtree ([`OPEN`] until it is closed).
    end: u32,
    /// The key of this value, when it is a mapping value.
    key: Option<KeyRef>,
    shape: Shape,
}

/// The end of a sequence or mapping still being read: its subtree is every entry after it.
const OPEN: u32 = u32::MAX;

/// What kind of value an entry is: enough to walk a path and to point at a null's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `null`, `~` or nothing: it has no text of its own.
    Null,
    /// Any other scalar.
    Scalar,
    /// A sequence.
    Seq,
    /// A mapping.
    Map,
}

/// A mapping key: its position and where its name is in [`Positions::keys`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct KeyRef {
    line: u32,
    col: u32,
    start: u32,
    len: u32,
}

impl Positions {
    /// An empty table, to be filled in document order by the YAML reader.
    pub(super) fn new() -> Positions {
        Positions {
            spots: Vec::new(),
            keys: String::new(),
            long_seqs: HashMap::new(),
        }
    }

    /// The table of a finished document, in storage of its exact size: it lives as long as the
    /// model, and growing it by doubling left up to half of each table unused (`shrink_to_fit`
    /// is not enough: an allocator may keep a block shrunk by less than half in place, as
    /// mimalloc does).
    pub(super) fn finished(self) -> Positions {
        Positions {
            spots: self.spots.as_slice().to_vec(),
            keys: self.keys.as_str().to_string(),
            long_seqs: self.long_seqs,
        }
    }

    /// Records a mapping key's name and position, for the value that follows it.
    pub(super) fn key(&mut self, name: &str, line: u32, col: u32) -> KeyRef {
        let start = self.keys.len() as u32;
        self.keys.push_str(name);
        KeyRef {
            line,
            col,
            start,
            len: name.len() as u32,
        }
    }

    /// Adds a value that starts at `line`:`col`; returns its index. A sequence or mapping is
    /// closed with [`Positions::close`] once its children are added.
    pub(super) fn open(&mut self, line: u32, col: u32, shape: Shape, key: Option<KeyRef>) -> u32 {
        let index = self.spots.len() as u32;
        let end = match shape {
            Shape::Seq | Shape::Map => OPEN,
            Shape::Null | Shape::Scalar => index + 1,
        };
        self.spots.push(Spot {
            line,
            col,
            end,
            key,
            shape,
        });
        index
    }

    /// Where the value at `index` starts.
    pub(super) fn start_of(&self, index: u32) -> (u32, u32) {
        let spot = &self.spots[index as usize];
        (spot.line, spot.col)
    }

    /// Ends the subtree of the value at `index` after the last entry added.
    pub(super) fn close(&mut self, index: u32) {
        let end = self.spots.len() as u32;
        self.spots[index as usize].end = end;
        let i = index as usize;
        if self.spots[i].shape == Shape::Seq && self.children(i).nth(LONG_SEQ - 1).is_some() {
            let items = self.children(i).map(|c| c as u32).collect();
            self.long_seqs.insert(index, items);
        }
    }

    /// The entries of the value at `index` and its subtree.
    pub(super) fn subtree(&self, index: u32) -> std::ops::Range<u32> {
        index..self.spots[index as usize].end
    }

    /// Copies the subtree `range` (an alias of an anchored value) to the end, its top value
    /// moved to `line`:`col` under `key`; the values inside keep the anchor's positions.
    pub(super) fn paste(
        &mut self,
        range: std::ops::Range<u32>,
        line: u32,
        col: u32,
        key: Option<KeyRef>,
    ) {
        let shift = self.spots.len() as u32 - range.start;
        let first = self.spots.len();
        self.spots
            .extend_from_within(range.start as usize..range.end as usize);
        for spot in &mut self.spots[first..] {
            spot.end += shift;
        }
        let top = &mut self.spots[first];
        (top.line, top.col, top.key) = (line, col, key);
    }

    /// Number of values and keys in the subtree `range`, not counting the top value's key.
    pub(super) fn size(&self, range: std::ops::Range<u32>) -> usize {
        let spots = &self.spots[range.start as usize..range.end as usize];
        spots.len() + spots.iter().skip(1).filter(|s| s.key.is_some()).count()
    }

    /// Position of the key `name` of the mapping at `index`, if it has that key.
    pub(super) fn key_of(&self, index: u32, name: &str) -> Option<(u32, u32)> {
        let child = self.child(index as usize, name)?;
        self.spots[child].key.map(|k| (k.line, k.col))
    }

    /// The value at a path of segments (keys and list indexes), or the deepest value on the
    /// way: its `(line, column)`. A null mapping value has no text of its own: its key's.
    pub fn locate<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> (u32, u32) {
        let Some(root) = self.spots.first() else {
            return (0, 0);
        };
        let mut index = 0;
        let mut pos = (root.line, root.col);
        for seg in segments {
            let Some(child) = self.child(index, seg) else {
                break;
            };
            let spot = &self.spots[child];
            pos = match spot.key {
                Some(k) if spot.shape == Shape::Null => (k.line, k.col),
                _ => (spot.line, spot.col),
            };
            index = child;
        }
        pos
    }

    /// Position of `key` in the mapping at `segments` (falls back to [`Positions::locate`]).
    pub fn locate_key<'a>(
        &self,
        segments: impl IntoIterator<Item = &'a str> + Clone,
        key: &str,
    ) -> (u32, u32) {
        let mut index = 0;
        if self.spots.is_empty() {
            return self.locate(segments);
        }
        for seg in segments.clone() {
            match self.child(index, seg) {
                Some(child) => index = child,
                None => return self.locate(segments),
            }
        }
        self.key_of(index as u32, key)
            .unwrap_or_else(|| self.locate(segments))
    }

    /// The child of the value at `index` named by a path segment: a mapping's key, or a
    /// sequence's index.
    fn child(&self, index: usize, seg: &str) -> Option<usize> {
        let mut children = self.children(index);
        match self.spots.get(index)?.shape {
            Shape::Map => children.find(|&c| self.key_name(c) == Some(seg)),
            Shape::Seq => {
                let n = seg.parse::<usize>().ok()?;
                match self.long_seqs.get(&(index as u32)) {
                    Some(items) => items.get(n).map(|&c| c as usize),
                    None => children.nth(n),
                }
            }
            Shape::Null | Shape::Scalar => None,
        }
    }

    /// Indexes of the direct children of the value at `index`, in document order. Only
    /// entries inside the table are read: the last child of the last value ends the table.
    fn children(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self
            .spots
            .get(index)
            .map_or(0, |s| s.end as usize)
            .min(self.spots.len());
        let mut next = index + 1;
        std::iter::from_fn(move || {
            let child = next;
            if child >= end {
                return None;
            }
            // A subtree always ends after its top value: the walk moves forward.
            next = (self.spots[child].end as usize).max(child + 1);
            Some(child)
        })
    }

    fn key_name(&self, index: usize) -> Option<&str> {
        let k = self.spots[index].key?;
        self.keys.get(k.start as usize..(k.start + k.len) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{a: [x, ~], b: ~}` written as `a: [x, ~]` on line 1 and `b:` on line 2.
    fn sample() -> Positions {
        let mut p = Positions::new();
        let root = p.open(1, 1, Shape::Map, None);
        let a = p.key("a", 1, 1);
        let seq = p.open(1, 4, Shape::Seq, Some(a));
        p.open(1, 5, Shape::Scalar, None);
        p.open(1, 8, Shape::Null, None);
        p.close(seq);
        let b = p.key("b", 2, 1);
        p.open(2, 3, Shape::Null, Some(b));
        p.close(root);
        p
    }

    #[test]
    fn paths_lead_to_values_and_null_values_to_their_keys() {
        let p = sample();
        assert_eq!(p.locate(["a", "1"]), (1, 8), "a null list item is itself");
        assert_eq!(p.locate(["b"]), (2, 1), "a null mapping value is its key");
        assert_eq!(p.locate(["a", "7"]), (1, 4), "the deepest value on the way");
        assert_eq!(p.locate_key([], "b"), (2, 1));
        assert_eq!(p.locate_key(["a"], "0"), (1, 4), "a list has no keys");
        assert_eq!(p.size(p.subtree(0)), 7, "5 values and 2 keys");
    }

    /// The positions of every document of a YAML text.
    fn read(text: &str) -> Vec<Positions> {
        crate::model::yaml::parse_documents("a.yaml", text)
            .unwrap()
            .into_iter()
            .map(|d| d.positions)
            .collect()
    }

    #[test]
    fn a_key_missing_from_the_last_mapping_is_the_mapping_itself() {
        let last_doc = &read("a: 1\nspec:\n  image: x\n")[0];
        assert_eq!(last_doc.locate(["spec", "resources"]), (3, 3));
        assert_eq!(last_doc.locate(["spec", "resources", "cpu"]), (3, 3));
        assert_eq!(last_doc.locate_key(["spec"], "resources"), (3, 3));
        assert_eq!(last_doc.locate_key(["spec", "resources"], "cpu"), (3, 3));
        let docs = read("a: 1\n---\nspec:\n  image: x\n---\nb:\n  c: 2\n");
        assert_eq!(docs[1].locate(["spec", "resources"]), (4, 3));
        assert_eq!(docs[2].locate(["b", "d"]), (7, 3));
        assert_eq!(docs[2].locate_key(["b"], "d"), (7, 3));
    }

    #[test]
    fn empty_and_short_collections_at_the_end_have_no_children() {
        for (text, path, at) in [
            ("a: {}\n", &["a", "x"][..], (1, 4)),
            ("a: []\n", &["a", "0"], (1, 4)),
            ("a: [1]\n", &["a", "3"], (1, 4)),
            ("a: [1]\n", &["a", "x"], (1, 4)),
            ("{}\n", &["x"], (1, 1)),
            ("[]\n", &["0"], (1, 1)),
            ("a:\n  - b: {}\n", &["a", "0", "b", "c"], (2, 8)),
            ("x\n", &["x"], (1, 1)),
            ("a: ~\n", &["a", "b"], (1, 1)),
        ] {
            let p = &read(text)[0];
            assert_eq!(p.locate(path.iter().copied()), at, "{text:?} {path:?}");
            assert_eq!(p.locate_key(path.iter().copied(), "k"), at, "{text:?}");
        }
        assert_eq!(Positions::new().locate(["a"]), (0, 0));
        assert_eq!(Positions::new().locate_key(["a"], "b"), (0, 0));
    }

    /// Every item of a 100,000-item sequence is found where it was written, one lookup each.
    #[test]
    fn items_of_a_long_sequence_are_found_directly() {
        let n = 100_000;
        let mut text = String::from("tasks:\n");
        for i in 0..n {
            text += &format!("  - {{name: t{i}, template: x}}\n");
        }
        text += "short: [a, b]\n";
        let p = &read(&text)[0];
        for i in 0..n {
            let line = i as u32 + 2;
            assert_eq!(
                p.locate(["tasks", &i.to_string(), "template"]),
                (line, 25 + digits(i))
            );
        }
        assert_eq!(
            p.locate(["tasks", &n.to_string()]),
            (2, 3),
            "past the end: the list"
        );
        assert_eq!(p.locate(["short", "1"]), (n as u32 + 2, 12));
        assert_eq!(p.long_seqs.len(), 1, "only the long list is indexed");
    }

    fn digits(i: usize) -> u32 {
        i.to_string().len() as u32
    }

    #[test]
    fn a_pasted_subtree_keeps_inner_positions() {
        let mut p = sample();
        let c = p.key("c", 3, 1);
        p.paste(p.subtree(1), 3, 4, Some(c));
        p.close(0);
        assert_eq!(p.locate(["c"]), (3, 4));
        assert_eq!(p.locate(["c", "0"]), (1, 5));
        assert_eq!(
            p.locate(["b"]),
            (2, 1),
            "entries before the copy are intact"
        );
    }
}
