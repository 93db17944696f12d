//! YAML → JSON values with their positions, built from parser events (the line reader of
//! [`super::yaml_lines`] for the usual manifest, saphyr-parser for everything else).
//!
//! Why our own builder: it rejects duplicate keys, bounds alias expansion (no "billion laughs"),
//! bounds nesting depth, and keeps the line and column of every key and value (in a
//! [`Positions`] table beside the value) so that a JSON Schema instance path maps back to
//! `file:line:col`. The JSON value is built directly: no intermediate tree.

use super::positions::{KeyRef, Positions, Shape};
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

/// A scalar resolved with the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn into_json(self) -> Json {
        match self {
            Scalar::Null => Json::Null,
            Scalar::Bool(b) => Json::Bool(b),
            Scalar::Int(i) => Json::from(i),
            Scalar::Float(f) => serde_json::Number::from_f64(f)
                .map(Json::Number)
                .unwrap_or_else(|| Json::String(f.to_string())),
            Scalar::Str(s) => Json::String(s),
        }
    }

    /// The scalar as a mapping key.
    fn into_key(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
        }
    }
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
                        resolve_plain(&text)
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
                self.docs.push(Parsed { json, positions });
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

    fn syntax_error(&self, line: u32, col: u32, info: &str) -> Diagnostic {
        let text_line = self
            .text
            .lines()
            .nth(line.saturating_sub(1) as usize)
            .unwrap_or("");
        let indent: String = text_line
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        if let Some(tab) = indent.find('\t') {
            return Diagnostic::error(
                codes::TAB_INDENT,
                &self.at(line, tab as u32 + 1),
                "tab character used for indentation",
            )
            .help("YAML indentation must use spaces; replace the tab with spaces");
        }
        // The parser notices some mistakes only on a later line: point at the mistake itself.
        let stopped = format!("the parser stopped at line {line}, column {col}: {info}");
        if (info.contains("mapping values are not allowed")
            || info.contains("simple key expect ':'"))
            && let Some((l, c, text)) = missing_colon(self.text, line)
        {
            let fixed = match text.split_once(char::is_whitespace) {
                Some((k, v)) => format!("{k}: {}", v.trim_start()),
                None => format!("{text}:"),
            };
            return Diagnostic::error(
                codes::YAML_SYNTAX,
                &self.at(l, c),
                format!("YAML syntax error: `{text}` is not a `key: value` pair ({stopped})"),
            )
            .help(format!("add the missing `:` after the key, e.g. `{fixed}`"));
        }
        if (info.contains("flow") || info.contains("':' indicator"))
            && let Some((l, c, open)) = unclosed_flow(self.text, line, col)
            && l < line
        {
            let close = if open == '{' { '}' } else { ']' };
            return Diagnostic::error(
                codes::YAML_SYNTAX,
                &self.at(l, c),
                format!("YAML syntax error: `{open}` is never closed ({stopped})"),
            )
            .help(format!(
                "close it with `{close}` (and separate its items with `,`)"
            ));
        }
        Diagnostic::error(
            codes::YAML_SYNTAX,
            &self.at(line, col),
            format!("YAML syntax error: {info}"),
        )
        .help("fix the YAML at this position (check indentation, quotes and `:` after keys)")
    }
}

/// For an error at `line` where a plain value ran into a `key:`, the line before that holds
/// text without any `:` (a key whose `:` is missing): its 1-based position and text.
fn missing_colon(text: &str, line: u32) -> Option<(u32, u32, String)> {
    let lines: Vec<&str> = text.lines().take(line.saturating_sub(1) as usize).collect();
    let content = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    let mut i = lines.iter().rposition(|l| content(l))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let plain = |l: &str| {
        !l.contains(':')
            && !l
                .trim_start()
                .starts_with(['-', '[', '{', '"', '\'', '|', '>', '&', '*', '!', '%'])
    };
    if !plain(lines[i]) {
        return None;
    }
    // A multi-line plain value: go back to its first line.
    while i > 0
        && content(lines[i - 1])
        && plain(lines[i - 1])
        && indent(lines[i - 1]) == indent(lines[i])
    {
        i -= 1;
    }
    let l = lines[i];
    Some((
        i as u32 + 1,
        (l[..indent(l)].chars().count() + 1) as u32,
        l.trim().to_string(),
    ))
}

/// The innermost flow collection (`{` or `[`) still open at `line`:`col`, with its position.
/// Quoted scalars and comments are skipped.
fn unclosed_flow(text: &str, line: u32, col: u32) -> Option<(u32, u32, char)> {
    let mut open: Vec<(u32, u32, char)> = Vec::new();
    for (i, l) in text.lines().enumerate().take(line as usize) {
        let ln = i as u32 + 1;
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let mut chars = l.chars().enumerate().peekable();
        while let Some((j, c)) = chars.next() {
            let cn = j as u32 + 1;
            if ln == line && cn >= col {
                break;
            }
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some(q) if c == q => {
                    if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => match c {
                    '#' if prev.is_whitespace() => break,
                    '"' | '\''
                        if l[..l.char_indices().nth(j).map_or(l.len(), |(b, _)| b)]
                            .trim_end()
                            .chars()
                            .last()
                            .is_none_or(|p| ":-[{,?".contains(p)) =>
                    {
                        quote = Some(c)
                    }
                    '{' | '[' => open.push((ln, cn, c)),
                    '}' | ']'
                        if open
                            .last()
                            .is_some_and(|(_, _, o)| (*o == '{') == (c == '}')) =>
                    {
                        open.pop();
                    }
                    _ => {}
                },
            }
            prev = c;
        }
    }
    open.pop()
}

/// A plain (unquoted) scalar resolved with the YAML 1.2 core schema, as JSON.
pub fn plain_scalar_json(s: &str) -> serde_json::Value {
    resolve_plain(s).into_json()
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
fn resolve_plain(s: &str) -> Scalar {
    // Every null, boolean and number starts with one of these: most text is known at once.
    let special = |b: &u8| {
        matches!(
            b,
            b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'.' | b'+' | b'-' | b'0'..=b'9'
        )
    };
    if s.as_bytes().first().is_some_and(|b| !special(b)) {
        return Scalar::Str(s.to_string());
    }
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Scalar::Int(i);
        }
    }
    if let Some(hex) = s.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Scalar::Int(i);
    }
    if let Some(oct) = s.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Scalar::Int(i);
    }
    if looks_like_float(digits)
        && let Ok(f) = s.parse::<f64>()
    {
        return Scalar::Float(f);
    }
    Scalar::Str(s.to_string()) // an exact-size copy: the parser's buffers hold 32 bytes or more
}

fn looks_like_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = {
        let mut parts = mantissa.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
            && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()))
            && (frac.is_some() || exp.is_some())
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn plain_scalars_of_every_leading_character() {
        let cases = [
            ("~", json!(null)),
            ("", json!(null)),
            ("NULL", json!(null)),
            ("nope", json!("nope")),
            ("True", json!(true)),
            ("FALSE", json!(false)),
            ("-12", json!(-12)),
            ("+7", json!(7)),
            ("0o17", json!(15)),
            (".5", json!(0.5)),
            ("-.inf", json!("-inf")),
            ("1e3", json!(1000.0)),
            ("e5", json!("e5")),
            ("yes", json!("yes")),
            ("Ünïcode", json!("Ünïcode")),
        ];
        for (text, expected) in cases {
            assert_eq!(plain_scalar_json(text), expected, "{text:?}");
        }
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
