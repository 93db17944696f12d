//! YAML → JSON values with their positions, built from parser events (the line reader of
//! [`super::yaml_lines`] for the usual manifest, saphyr-parser for everything else).
//!
//! Why our own builder: it rejects duplicate keys, bounds alias expansion (no "billion laughs"),
//! bounds nesting depth, and keeps the line and column of every key and value (in a
//! [`Positions`] table beside the value) so that a JSON Schema instance path maps back to
//! `file:line:col`. The JSON value is built directly: no intermediate tree. Scalars resolve
//! with the YAML 1.2 core schema ([`super::yaml_scalar`]); a syntax error is located where the
//! mistake was made ([`super::yaml_syntax`]).

use super::positions::{KeyRef, Positions, Shape};
use super::yaml_scalar::{Scalar, resolve_unquoted};
use crate::diag::{Diagnostic, Location, codes};
use saphyr_parser::{Event, ScalarStyle, Span};
use serde_json::Value as Json;
use std::collections::HashMap;

/// Most nodes that alias expansion may add to one file.
pub const MAX_ALIAS_NODES: usize = 100_000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 128;

/// One YAML document: its value, resolved with the YAML 1.2 core schema, and where each part
/// of it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The value.
    pub json: Json,
    /// The 1-based line and column of every value and key.
    pub positions: Positions,
}

/// Parses every document of a YAML text. An error stops at the first problem in the file,
/// located at its line and column; nothing of a broken file is used.
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Parsed>, Diagnostic> {
    Builder {
        file,
        text,
        docs: Vec::new(),
        stack: Vec::new(),
        positions: Positions::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        spare_items: Vec::new(),
    }
    .run()
}

/// A sequence or mapping being read; its entry in the document's [`Positions`] is `spot`.
enum Frame {
    Seq {
        spot: u32,
        anchor: usize,
        items: Vec<Json>,
    },
    Map {
        spot: u32,
        anchor: usize,
        /// The entries read so far: a hash map, so a duplicate key is found in constant time.
        entries: serde_json::Map<String, Json>,
        key: Option<(String, KeyRef)>,
    },
}

/// What an anchor stands for: a scalar, or a collection with its subtree of positions.
enum Anchored {
    Scalar(Scalar),
    Collection {
        json: Json,
        spots: std::ops::Range<u32>,
        size: usize,
    },
}

struct Builder<'a> {
    file: &'a str,
    text: &'a str,
    docs: Vec<Parsed>,
    stack: Vec<Frame>,
    /// Positions of the document being read.
    positions: Positions,
    anchors: HashMap<usize, Anchored>,
    alias_nodes: usize,
    /// Emptied buffers of closed sequences, reused by the next ones.
    spare_items: Vec<Vec<Json>>,
}

fn pos(span: &Span) -> (u32, u32) {
    (span.start.line() as u32, span.start.col() as u32 + 1)
}

impl Builder<'_> {
    fn at(&self, line: u32, col: u32) -> Location {
        Location {
            file: self.file.to_string(),
            line: line as usize,
            column: col as usize,
        }
    }

    /// Reads the text with the fast line reader, or with saphyr when it gives up.
    fn run(mut self) -> Result<Vec<Parsed>, Diagnostic> {
        for next in super::yaml_lines::parse(self.text) {
            let (event, span) = next.map_err(|e| {
                self.syntax_error(
                    e.marker().line() as u32,
                    e.marker().col() as u32 + 1,
                    e.info(),
                )
            })?;
            let (line, col) = pos(&span);
            match event {
                Event::SequenceStart(anchor, _) => {
                    self.check_depth(line, col)?;
                    let spot = self.open(line, col, Shape::Seq);
                    let items = self.spare_items.pop().unwrap_or_default();
                    self.stack.push(Frame::Seq {
                        spot,
                        anchor,
                        items,
                    });
                }
                Event::MappingStart(anchor, _) => {
                    self.check_depth(line, col)?;
                    let spot = self.open(line, col, Shape::Map);
                    self.stack.push(Frame::Map {
                        spot,
                        anchor,
                        entries: serde_json::Map::new(),
                        key: None,
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (json, spot, anchor) = match self.stack.pop() {
                        Some(Frame::Seq {
                            spot,
                            anchor,
                            mut items,
                        }) => {
                            let json = Json::Array(items.drain(..).collect());
                            self.spare_items.push(items);
                            (json, spot, anchor)
                        }
                        Some(Frame::Map {
                            spot,
                            anchor,
                            entries,
                            ..
                        }) => (Json::Object(entries), spot, anchor),
                        None => continue,
                    };
                    self.positions.close(spot);
                    if anchor != 0 {
                        let spots = self.positions.subtree(spot);
                        let size = self.positions.size(spots.clone());
                        let json = json.clone();
                        self.anchors
                            .insert(anchor, Anchored::Collection { json, spots, size });
                    }
                    self.push_collection(json, spot)?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let as_str = tag.as_ref().is_some_and(|t| t.suffix == "str")
                        || style != ScalarStyle::Plain;
                    let value = if as_str {
                        Scalar::Str(text.into_owned())
                    } else {
                        resolve_unquoted(&text)
                    };
                    if anchor != 0 {
                        self.anchors.insert(anchor, Anchored::Scalar(value.clone()));
                    }
                    self.push_scalar(value, line, col)?;
                }
                Event::Alias(id) => {
                    let size = match self.anchors.get(&id) {
                        None => {
                            return Err(self.syntax_error(line, col, "alias to an unknown anchor"));
                        }
                        Some(Anchored::Scalar(_)) => 1,
                        Some(Anchored::Collection { size, .. }) => *size,
                    };
                    self.alias_nodes += size;
                    if self.alias_nodes > MAX_ALIAS_NODES {
                        return Err(Diagnostic::error(
                            codes::ALIAS_LIMIT,
                            &self.at(line, col),
                            format!("YAML aliases expand to more than {MAX_ALIAS_NODES} nodes in this file"),
                        )
                        .help("this looks like an alias bomb; write the values out or use fewer nested aliases"));
                    }
                    match &self.anchors[&id] {
                        Anchored::Scalar(value) => self.push_scalar(value.clone(), line, col)?,
                        Anchored::Collection { json, spots, .. } => {
                            let (json, spots) = (json.clone(), spots.clone());
                            self.paste(json, spots, line, col)?;
                        }
                    }
                }
                Event::DocumentStart(_)
                | Event::DocumentEnd
                | Event::StreamStart
                | Event::StreamEnd
                | Event::Nothing => {}
            }
        }
        Ok(self.docs)
    }

    fn check_depth(&self, line: u32, col: u32) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::error(
                codes::YAML_SYNTAX,
                &self.at(line, col),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            )
            .help("flatten the document; manifests never need this depth"));
        }
        Ok(())
    }

    /// The key the next value belongs to: the pending key of the mapping being read.
    fn pending_key(&self) -> Option<KeyRef> {
        match self.stack.last() {
            Some(Frame::Map {
                key: Some((_, k)), ..
            }) => Some(*k),
            _ => None,
        }
    }

    /// Adds the position of a value starting at `line`:`col`.
    fn open(&mut self, line: u32, col: u32, shape: Shape) -> u32 {
        let key = self.pending_key();
        self.positions.open(line, col, shape, key)
    }

    /// True when the mapping being read waits for a key (the next value is one).
    fn wants_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    /// A scalar: the key the current mapping waits for, or a value.
    fn push_scalar(&mut self, value: Scalar, line: u32, col: u32) -> Result<(), Diagnostic> {
        if self.wants_key() {
            return self.push_key(value.into_key(), line, col);
        }
        let shape = if value == Scalar::Null {
            Shape::Null
        } else {
            Shape::Scalar
        };
        self.open(line, col, shape);
        self.push_value(value.into_json());
        Ok(())
    }

    /// A finished sequence or mapping whose position entry is `spot`.
    fn push_collection(&mut self, json: Json, spot: u32) -> Result<(), Diagnostic> {
        if self.wants_key() {
            let (line, col) = self.positions.start_of(spot);
            return Err(self.collection_key(line, col));
        }
        self.push_value(json);
        Ok(())
    }

    /// An alias of an anchored sequence or mapping, at `line`:`col`.
    fn paste(
        &mut self,
        json: Json,
        spots: std::ops::Range<u32>,
        line: u32,
        col: u32,
    ) -> Result<(), Diagnostic> {
        if self.wants_key() {
            return Err(self.collection_key(line, col));
        }
        let key = self.pending_key();
        self.positions.paste(spots, line, col, key);
        self.push_value(json);
        Ok(())
    }

    fn collection_key(&self, line: u32, col: u32) -> Diagnostic {
        Diagnostic::error(
            codes::YAML_SYNTAX,
            &self.at(line, col),
            "a mapping key must be a plain value, not a list or mapping",
        )
        .help("use a string key")
    }

    /// Makes `name` the key of the next value of the mapping being read.
    fn push_key(&mut self, name: String, line: u32, col: u32) -> Result<(), Diagnostic> {
        let Some(Frame::Map { spot, entries, .. }) = self.stack.last() else {
            unreachable!("a key is only read in a mapping");
        };
        if entries.contains_key(&name) {
            let (first_line, first_col) = self.positions.key_of(*spot, &name).unwrap_or_default();
            return Err(Diagnostic::error(
                codes::DUPLICATE_KEY,
                &self.at(line, col),
                format!("duplicate key `{name}` (first defined at line {first_line}, column {first_col})"),
            )
            .help("remove one of the two entries; YAML keeps only one and cubist will not guess which"));
        }
        let key_ref = self.positions.key(&name, line, col);
        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
            *key = Some((name, key_ref));
        }
        Ok(())
    }

    /// Adds a value (its position is recorded already) to the collection being read, or ends
    /// the document with it.
    fn push_value(&mut self, json: Json) {
        match self.stack.last_mut() {
            None => {
                let positions = std::mem::replace(&mut self.positions, Positions::new());
                self.docs.push(Parsed {
                    json,
                    positions: positions.finished(),
                });
                // The parser forgets anchors between documents: their positions go too.
                self.anchors.clear();
            }
            Some(Frame::Seq { items, .. }) => items.push(json),
            Some(Frame::Map { entries, key, .. }) => {
                let (name, _) = key.take().expect("a mapping value follows its key");
                entries.insert(name, json);
            }
        }
    }

    /// The syntax error at `line`:`col` (see [`super::yaml_syntax`]).
    fn syntax_error(&self, line: u32, col: u32, info: &str) -> Diagnostic {
        super::yaml_syntax::syntax_error(self.text, |l, c| self.at(l, c), line, col, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_nested_values() {
        let docs = parse_documents(
            "a.yaml",
            "spec:\n  tasks:\n    - name: x\n      after: [y, z]\n",
        )
        .unwrap();
        assert_eq!(
            docs[0]
                .positions
                .locate(["spec", "tasks", "0", "after", "1"]),
            (4, 18)
        );
        assert_eq!(
            docs[0]
                .positions
                .locate_key(["spec", "tasks", "0"], "after"),
            (4, 7)
        );
    }

    #[test]
    fn core_schema_scalars() {
        let docs = parse_documents(
            "a.yaml",
            "a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 2026-11-01\ng: 0x1f\nh: 1e3\n",
        )
        .unwrap();
        let j = &docs[0].json;
        assert_eq!(j["a"], 1);
        assert_eq!(j["b"], 1.5);
        assert_eq!(j["c"], true);
        assert!(j["d"].is_null());
        assert_eq!(j["e"], "1");
        assert_eq!(j["f"], "2026-11-01");
        assert_eq!(j["g"], 31);
        assert_eq!(j["h"], 1000.0);
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_positions() {
        let err = parse_documents("a.yaml", "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(
            (err.code, err.line, err.column),
            (codes::DUPLICATE_KEY, 3, 1)
        );
        assert!(err.message.contains("line 1"), "{}", err.message);
    }

    /// `n` keys `k0: 0` … in one mapping under `spec:`, as the line reader and as saphyr read
    /// them (a leading `!!map` tag makes the line reader give up).
    fn wide_mapping(n: usize, saphyr: bool) -> String {
        let mut text = String::from(if saphyr { "spec: !!map\n" } else { "spec:\n" });
        for i in 0..n {
            text += &format!("  k{i}: {i}\n");
        }
        text
    }

    #[test]
    fn a_mapping_of_100000_keys_loads_with_either_reader() {
        for saphyr in [false, true] {
            let docs = parse_documents("wide.yaml", &wide_mapping(100_000, saphyr)).unwrap();
            let spec = docs[0].json["spec"].as_object().unwrap();
            assert_eq!(spec.len(), 100_000, "saphyr: {saphyr}");
            assert_eq!(spec.keys().nth(99_999).map(String::as_str), Some("k99999"));
            assert_eq!(docs[0].positions.locate(["spec", "k99999"]), (100_001, 11));
        }
    }

    #[test]
    fn a_duplicate_among_100000_keys_is_reported_at_its_line() {
        for saphyr in [false, true] {
            let mut text = wide_mapping(100_000, saphyr);
            text += "  k17: again\n";
            let err = parse_documents("wide.yaml", &text).unwrap_err();
            assert_eq!(
                (err.code, err.line, err.column),
                (codes::DUPLICATE_KEY, 100_002, 3),
                "saphyr: {saphyr}"
            );
            assert!(
                err.message.contains("first defined at line 19, column 3"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn alias_bomb_is_rejected() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        let err = parse_documents("bomb.yaml", &text).unwrap_err();
        assert_eq!(err.code, codes::ALIAS_LIMIT);
    }

    #[test]
    fn small_aliases_expand() {
        let docs = parse_documents("a.yaml", "base: &b {cpu: 1}\nother: *b\n").unwrap();
        assert_eq!(docs[0].json["other"]["cpu"], 1);
    }

    #[test]
    fn multi_document_files() {
        let docs = parse_documents("a.yaml", "a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].positions.locate([]), (3, 1));
    }

    #[test]
    fn missing_colon_is_reported_on_its_own_line() {
        let err =
            parse_documents("a.yaml", "spec:\n  owner alice\n  tasks:\n    - x\n").unwrap_err();
        assert_eq!((err.code, err.line, err.column), (codes::YAML_SYNTAX, 2, 3));
        assert!(
            err.help
                .as_deref()
                .is_some_and(|h| h.contains("`owner: alice`")),
            "{:?}",
            err.help
        );
        let err =
            parse_documents("a.yaml", "a: 1\nowner alice\nschedule:\n  cron: x\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 1));
        // A `:` on the line before: the parser's position stands.
        let err = parse_documents("a.yaml", "spec:\n  a: 1\n   b: 2\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 5));
    }

    #[test]
    fn unclosed_flow_collection_is_reported_where_it_opens() {
        let err = parse_documents(
            "a.yaml",
            "spec:\n  resources: {cpu: 2, gpu: {a100: 1}\n  replicas: 1\n",
        )
        .unwrap_err();
        assert_eq!(
            (err.code, err.line, err.column),
            (codes::YAML_SYNTAX, 2, 14)
        );
        assert!(
            err.message.contains("`{` is never closed"),
            "{}",
            err.message
        );
        let err = parse_documents("a.yaml", "spec:\n  after: [a, \"b]\", c\n  replicas: 1\n")
            .unwrap_err();
        assert_eq!((err.line, err.column), (2, 10));
        // Multi-line flow collections that are closed are fine.
        assert!(parse_documents("a.yaml", "a: [\n  1,\n  2\n]\nb: {x: '{'}\n").is_ok());
    }

    #[test]
    fn tab_indentation_is_named() {
        let err = parse_documents("a.yaml", "spec:\n\tname: x\n").unwrap_err();
        assert_eq!((err.code, err.line), (codes::TAB_INDENT, 2));
    }
}
