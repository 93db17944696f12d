//! A faster writer of the status documents' YAML, byte for byte what serde-saphyr writes.
//!
//! Serialising the status of a first full reconcile (17,000 object statuses, 2,000 run
//! records, 500 project digests) spent most of its time in serde-saphyr deciding, for every
//! string, whether it may be written plain. Here the value is first laid out as a tree; each
//! scalar's text is serde-saphyr's own for that scalar alone, asked once per distinct scalar
//! and thread, except strings of a kind it always writes plain (checked by the tests against
//! serde-saphyr). The layout is serde-saphyr's block style.
//!
//! Anything outside what this writer knows (a scalar serde-saphyr writes on several lines, a
//! list directly in a list, tuple structs, enum variants with data, bytes) makes it give up:
//! [`to_yaml`] returns `None` and the caller serialises with serde-saphyr.

use serde::ser::{self, Serialize};
use std::cell::RefCell;
use std::fmt;

/// The YAML serde-saphyr writes for `value`, or `None` when this writer does not know how.
pub fn to_yaml<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    let node = value.serialize(Tree).ok()?;
    let mut out = String::with_capacity(512);
    match &node {
        Node::Map(entries) if !entries.is_empty() => write_map(entries, 0, false, &mut out),
        Node::Seq(items) if !items.is_empty() => write_seq(items, 0, &mut out),
        other => {
            push_inline(other, &mut out);
            out.push('\n');
        }
    }
    Some(out)
}

/// Writes documents holding `s` in every place (a value, a map key, a list item, a field of a
/// list item, nested maps) with this writer and with serde-saphyr: an error shows the first
/// document whose bytes differ. For fuzzing (`fuzz/`) and tests.
pub fn compare_with_serde_saphyr(s: &str) -> Result<(), String> {
    use std::collections::BTreeMap;
    fn same<T: Serialize>(s: &str, doc: &T) -> Result<(), String> {
        let slow = serde_saphyr::to_string(doc).map_err(|e| e.to_string())?;
        match to_yaml(doc) {
            Some(fast) if fast != slow => Err(format!(
                "for {s:?}: serde-saphyr wrote\n{slow}\nthe fast writer\n{fast}"
            )),
            _ => Ok(()),
        }
    }
    same(s, &BTreeMap::from([("v", s)]))?;
    same(s, &BTreeMap::from([(s, vec![s, s])]))?;
    same(s, &vec![BTreeMap::from([("kind", s), ("n", "1")]); 2])?;
    let nested = BTreeMap::from([(s, vec![BTreeMap::from([(s, s)])])]);
    same(s, &BTreeMap::from([(s, nested)]))
}

/// True when serde-saphyr writes string `value` plain, as a map value on one line: this
/// writer's own answer ([`string_text`]), remembered per thread.
pub fn writes_plain(value: &str) -> bool {
    string_text(value, false).as_deref() == Some(value)
}

/// A value laid out: scalars already as their YAML text.
enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

/// Writes a scalar's text, or an empty container's inline form.
fn push_inline(node: &Node, out: &mut String) {
    out.push_str(match node {
        Node::Scalar(text) => text,
        Node::Map(_) => "{}",
        Node::Seq(_) => "[]",
    });
}

fn push_indent(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A non-empty map; `indented`: the first key's indent is written already (after a dash).
fn write_map(entries: &[(String, Node)], indent: usize, indented: bool, out: &mut String) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 || !indented {
            push_indent(indent, out);
        }
        out.push_str(key);
        out.push(':');
        match value {
            Node::Map(m) if !m.is_empty() => {
                out.push('\n');
                write_map(m, indent + 2, false, out);
            }
            Node::Seq(s) if !s.is_empty() => {
                out.push('\n');
                // A list in a map sits at its key's indent.
                write_seq(s, indent, out);
            }
            other => {
                out.push(' ');
                push_inline(other, out);
                out.push('\n');
            }
        }
    }
}

/// A non-empty list. It holds no non-empty list: serde-saphyr writes one on the dash line, a
/// layout not made here, and the tree is refused when it is made ([`SeqNode`]).
fn write_seq(items: &[Node], indent: usize, out: &mut String) {
    for item in items {
        push_indent(indent, out);
        out.push('-');
        match item {
            Node::Map(m) if !m.is_empty() => {
                out.push(' ');
                write_map(m, indent + 2, true, out);
            }
            Node::Seq(s) if !s.is_empty() => unreachable!("a list in a list is refused"),
            other => {
                out.push(' ');
                push_inline(other, out);
                out.push('\n');
            }
        }
    }
}

/// Why the writer gave up (the caller falls back to serde-saphyr).
#[derive(Debug)]
pub(crate) struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not written by the fast YAML writer")
    }
}

impl std::error::Error for GiveUp {}

impl ser::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

/// The most scalars remembered per thread; the memo starts over beyond.
const MEMO_MAX: usize = 8192;

thread_local! {
    /// serde-saphyr's text of a string value, and of a map key, by string.
    static MEMO: RefCell<[foldhash::HashMap<String, Option<String>>; 2]> = RefCell::new(Default::default());
}

/// Strings serde-saphyr writes plain wherever they stand: an ASCII letter, then letters,
/// digits and `-_./` (and `:` inside a value), longer than any word it quotes (`false`,
/// `null`, `.nan`...) and shorter than where it starts folding. Tested against serde-saphyr.
fn always_plain(s: &str, key: bool) -> bool {
    let b = s.as_bytes();
    (9..=72).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|&c| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'-' | b'_' | b'.' | b'/')
                || (!key && c == b':')
        })
        && !b.ends_with(b":")
}

/// serde-saphyr's text of string `s` as a value (`key`: as a map key), when one line.
fn string_text(s: &str, key: bool) -> Option<String> {
    if always_plain(s, key) {
        return Some(s.to_string());
    }
    MEMO.with_borrow_mut(|memo| {
        let memo = &mut memo[usize::from(key)];
        if let Some(known) = memo.get(s) {
            return known.clone();
        }
        if memo.len() >= MEMO_MAX {
            memo.clear();
        }
        let text = if key { ask_key(s) } else { ask_value(&s) };
        memo.insert(s.to_string(), text.clone());
        text
    })
}

/// serde-saphyr's text of `value` alone as a map value, when one line.
fn ask_value<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    #[derive(serde::Serialize)]
    struct One<'a, T: ?Sized> {
        v: &'a T,
    }
    let doc = serde_saphyr::to_string(&One { v: value }).ok()?;
    let text = doc.strip_prefix("v: ")?.strip_suffix('\n')?;
    (!text.contains('\n')).then(|| text.to_string())
}

/// serde-saphyr's text of `key` as a map key, when one line.
fn ask_key(key: &str) -> Option<String> {
    let doc = serde_saphyr::to_string(&std::collections::BTreeMap::from([(key, 0)])).ok()?;
    let text = doc.strip_suffix(": 0\n")?;
    (!text.contains('\n')).then(|| text.to_string())
}

/// Builds the [`Node`] of a value.
struct Tree;

/// A string value's node.
fn string_node(s: &str) -> Result<Node, GiveUp> {
    string_text(s, false).map(Node::Scalar).ok_or(GiveUp)
}

/// Serializer methods for what the writer does not lay out: each gives up.
macro_rules! give_up {
    ($($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ret, GiveUp> {
            Err(GiveUp)
        })*
    };
}

/// Serializer methods for integers: written as Rust displays them, as serde-saphyr does.
macro_rules! integers {
    ($($name:ident($int:ty)),* $(,)?) => {
        $(fn $name(self, v: $int) -> Result<Node, GiveUp> {
            Ok(Node::Scalar(v.to_string()))
        })*
    };
}

impl ser::Serializer for Tree {
    type Ok = Node;
    type Error = GiveUp;
    type SerializeSeq = SeqNode;
    type SerializeTuple = SeqNode;
    type SerializeTupleStruct = ser::Impossible<Node, GiveUp>;
    type SerializeTupleVariant = ser::Impossible<Node, GiveUp>;
    type SerializeMap = MapNode;
    type SerializeStruct = MapNode;
    type SerializeStructVariant = ser::Impossible<Node, GiveUp>;

    fn serialize_bool(self, v: bool) -> Result<Node, GiveUp> {
        Ok(Node::Scalar(if v { "true" } else { "false" }.into()))
    }
    integers! {
        serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64),
        serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64),
    }
    fn serialize_f32(self, v: f32) -> Result<Node, GiveUp> {
        ask_value(&v).map(Node::Scalar).ok_or(GiveUp)
    }
    fn serialize_f64(self, v: f64) -> Result<Node, GiveUp> {
        ask_value(&v).map(Node::Scalar).ok_or(GiveUp)
    }
    fn serialize_char(self, v: char) -> Result<Node, GiveUp> {
        string_node(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<Node, GiveUp> {
        string_node(v)
    }
    fn serialize_none(self) -> Result<Node, GiveUp> {
        Ok(Node::Scalar("null".into()))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Node, GiveUp> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Node, GiveUp> {
        Ok(Node::Scalar("null".into()))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Node, GiveUp> {
        string_node(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Node, GiveUp> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Node, GiveUp> {
        Err(GiveUp)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqNode, GiveUp> {
        Ok(SeqNode(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqNode, GiveUp> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapNode, GiveUp> {
        Ok(MapNode {
            entries: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapNode, GiveUp> {
        self.serialize_map(Some(len))
    }
    give_up! {
        serialize_bytes(&[u8]) -> Node;
        serialize_unit_struct(&'static str) -> Node;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// A list being laid out.
struct SeqNode(Vec<Node>);

impl ser::SerializeSeq for SeqNode {
    type Ok = Node;
    type Error = GiveUp;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GiveUp> {
        let item = value.serialize(Tree)?;
        if matches!(&item, Node::Seq(s) if !s.is_empty()) {
            return Err(GiveUp);
        }
        self.0.push(item);
        Ok(())
    }
    fn end(self) -> Result<Node, GiveUp> {
        Ok(Node::Seq(self.0))
    }
}

impl ser::SerializeTuple for SeqNode {
    type Ok = Node;
    type Error = GiveUp;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GiveUp> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Node, GiveUp> {
        ser::SerializeSeq::end(self)
    }
}

/// A map (or struct) being laid out.
struct MapNode {
    entries: Vec<(String, Node)>,
    key: Option<String>,
}

impl ser::SerializeMap for MapNode {
    type Ok = Node;
    type Error = GiveUp;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), GiveUp> {
        self.key = Some(key.serialize(KeyText)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), GiveUp> {
        let key = self.key.take().ok_or(GiveUp)?;
        self.entries.push((key, value.serialize(Tree)?));
        Ok(())
    }
    fn end(self) -> Result<Node, GiveUp> {
        Ok(Node::Map(self.entries))
    }
}

impl ser::SerializeStruct for MapNode {
    type Ok = Node;
    type Error = GiveUp;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), GiveUp> {
        let key = string_text(name, true).ok_or(GiveUp)?;
        self.entries.push((key, value.serialize(Tree)?));
        Ok(())
    }
    fn end(self) -> Result<Node, GiveUp> {
        Ok(Node::Map(self.entries))
    }
}

/// A map key's text: string keys only.
struct KeyText;

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = GiveUp;
    type SerializeSeq = ser::Impossible<String, GiveUp>;
    type SerializeTuple = ser::Impossible<String, GiveUp>;
    type SerializeTupleStruct = ser::Impossible<String, GiveUp>;
    type SerializeTupleVariant = ser::Impossible<String, GiveUp>;
    type SerializeMap = ser::Impossible<String, GiveUp>;
    type SerializeStruct = ser::Impossible<String, GiveUp>;
    type SerializeStructVariant = ser::Impossible<String, GiveUp>;

    fn serialize_str(self, v: &str) -> Result<String, GiveUp> {
        string_text(v, true).ok_or(GiveUp)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, GiveUp> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, GiveUp> {
        value.serialize(self)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, GiveUp> {
        Err(GiveUp)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, GiveUp> {
        Err(GiveUp)
    }
    give_up! {
        serialize_bool(bool) -> String;
        serialize_i8(i8) -> String;
        serialize_i16(i16) -> String;
        serialize_i32(i32) -> String;
        serialize_i64(i64) -> String;
        serialize_u8(u8) -> String;
        serialize_u16(u16) -> String;
        serialize_u32(u32) -> String;
        serialize_u64(u64) -> String;
        serialize_f32(f32) -> String;
        serialize_f64(f64) -> String;
        serialize_char(char) -> String;
        serialize_bytes(&[u8]) -> String;
        serialize_none() -> String;
        serialize_unit() -> String;
        serialize_unit_struct(&'static str) -> String;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

#[cfg(test)]
mod tests;
