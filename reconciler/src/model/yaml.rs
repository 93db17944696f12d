//! YAML → position-carrying node tree, built from saphyr-parser events.
//!
//! Why our own tree: it rejects duplicate keys, bounds alias expansion (no "billion laughs"),
//! bounds nesting depth, and keeps the line and column of every key and value so that a JSON
//! Schema instance path maps back to `file:line:col`.

use crate::diag::{Diagnostic, Location, codes};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;

/// Most nodes that alias expansion may add to one file.
pub const MAX_ALIAS_NODES: usize = 100_000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 128;

/// A YAML value with the position where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

/// A YAML value, resolved with the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order; keys are unique.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

impl Node {
    /// The value at a JSON pointer-like path of segments, or the deepest node on the way.
    /// Returns `(line, column)`; with `key_of_last`, the position of the last segment's key.
    pub fn locate<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> (u32, u32) {
        let mut node = self;
        let mut pos = (self.line, self.col);
        for seg in segments {
            let next = match &node.value {
                Value::Map(entries) => entries.iter().find(|(k, _)| k.name == seg).map(|(k, v)| {
                    // A null value has no text of its own: point at its key.
                    if matches!(v.value, Value::Null) {
                        (v, (k.line, k.col))
                    } else {
                        (v, (v.line, v.col))
                    }
                }),
                Value::Seq(items) => seg
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|v| (v, (v.line, v.col))),
                _ => None,
            };
            match next {
                Some((n, p)) => {
                    node = n;
                    pos = p;
                }
                None => break,
            }
        }
        pos
    }

    /// Position of `key` in the mapping at `segments` (falls back to [`Node::locate`]).
    pub fn locate_key<'a>(
        &self,
        segments: impl IntoIterator<Item = &'a str> + Clone,
        key: &str,
    ) -> (u32, u32) {
        let mut node = self;
        for seg in segments.clone() {
            let next = match &node.value {
                Value::Map(entries) => entries.iter().find(|(k, _)| k.name == seg).map(|(_, v)| v),
                Value::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return self.locate(segments),
            }
        }
        if let Value::Map(entries) = &node.value
            && let Some((k, _)) = entries.iter().find(|(k, _)| k.name == key)
        {
            return (k.line, k.col);
        }
        self.locate(segments)
    }

    /// Converts to JSON for schema validation and typed deserialisation.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Number of nodes in this subtree.
    pub fn size(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|(_, v)| 1 + v.size()).sum(),
            _ => 0,
        }
    }
}

/// Parses every document of a YAML text. An error stops at the first problem in the file,
/// located at its line and column; nothing of a broken file is used.
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Node>, Diagnostic> {
    Builder {
        file,
        text,
        docs: Vec::new(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
    }
    .run()
}

enum Frame {
    Seq {
        start: (u32, u32),
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: (u32, u32),
        anchor: usize,
        entries: Vec<(Key, Node)>,
        key: Option<Key>,
    },
}

struct Builder<'a> {
    file: &'a str,
    text: &'a str,
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
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

    fn run(mut self) -> Result<Vec<Node>, Diagnostic> {
        let mut parser = Parser::new_from_str(self.text);
        while let Some(next) = parser.next() {
            let (event, span) = next.map_err(|e| {
                self.syntax_error(
                    e.marker().line() as u32,
                    e.marker().col() as u32 + 1,
                    e.info(),
                )
            })?;
            let (line, col) = pos(&span);
            match event {
                Event::SequenceStart(anchor, _) => self.open(
                    Frame::Seq {
                        start: (line, col),
                        anchor,
                        items: Vec::new(),
                    },
                    line,
                    col,
                )?,
                Event::MappingStart(anchor, _) => self.open(
                    Frame::Map {
                        start: (line, col),
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    },
                    line,
                    col,
                )?,
                Event::SequenceEnd | Event::MappingEnd => {
                    let (node, anchor) = match self.stack.pop() {
                        Some(Frame::Seq {
                            start,
                            anchor,
                            items,
                        }) => (
                            Node {
                                value: Value::Seq(items),
                                line: start.0,
                                col: start.1,
                            },
                            anchor,
                        ),
                        Some(Frame::Map {
                            start,
                            anchor,
                            entries,
                            ..
                        }) => (
                            Node {
                                value: Value::Map(entries),
                                line: start.0,
                                col: start.1,
                            },
                            anchor,
                        ),
                        None => continue,
                    };
                    self.remember(anchor, &node);
                    self.push(node)?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let as_str = tag.as_ref().is_some_and(|t| t.suffix == "str")
                        || style != ScalarStyle::Plain;
                    let value = if as_str {
                        Value::Str(text.into_owned())
                    } else {
                        resolve_plain(&text)
                    };
                    let node = Node { value, line, col };
                    self.remember(anchor, &node);
                    self.push(node)?;
                }
                Event::Alias(id) => {
                    let Some((node, size)) = self.anchors.get(&id) else {
                        return Err(self.syntax_error(line, col, "alias to an unknown anchor"));
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
                    let mut node = node.clone();
                    node.line = line;
                    node.col = col;
                    self.push(node)?;
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

    fn open(&mut self, frame: Frame, line: u32, col: u32) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::error(
                codes::YAML_SYNTAX,
                &self.at(line, col),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            )
            .help("flatten the document; manifests never need this depth"));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), node.size()));
        }
    }

    fn push(&mut self, node: Node) -> Result<(), Diagnostic> {
        let file = self.file;
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    let name = match node.value {
                        Value::Str(s) => s,
                        Value::Null => "null".into(),
                        Value::Bool(b) => b.to_string(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Seq(_) | Value::Map(_) => {
                            let at = Location {
                                file: file.into(),
                                line: node.line as usize,
                                column: node.col as usize,
                            };
                            return Err(Diagnostic::error(
                                codes::YAML_SYNTAX,
                                &at,
                                "a mapping key must be a plain value, not a list or mapping",
                            )
                            .help("use a string key"));
                        }
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
                        let at = Location {
                            file: file.into(),
                            line: node.line as usize,
                            column: node.col as usize,
                        };
                        return Err(Diagnostic::error(
                            codes::DUPLICATE_KEY,
                            &at,
                            format!("duplicate key `{name}` (first defined at line {}, column {})", first.line, first.col),
                        )
                        .help("remove one of the two entries; YAML keeps only one and cubist will not guess which"));
                    }
                    *key = Some(Key {
                        name,
                        line: node.line,
                        col: node.col,
                    });
                }
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
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
    Node {
        value: resolve_plain(s),
        line: 0,
        col: 0,
    }
    .to_json()
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(hex) = s.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Int(i);
    }
    if let Some(oct) = s.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Int(i);
    }
    if looks_like_float(digits)
        && let Ok(f) = s.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(s.to_string()) // an exact-size copy: the parser's buffers hold 32 bytes or more
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

    #[test]
    fn positions_of_nested_values() {
        let docs = parse_documents(
            "a.yaml",
            "spec:\n  tasks:\n    - name: x\n      after: [y, z]\n",
        )
        .unwrap();
        assert_eq!(
            docs[0].locate(["spec", "tasks", "0", "after", "1"]),
            (4, 18)
        );
        assert_eq!(docs[0].locate_key(["spec", "tasks", "0"], "after"), (4, 7));
    }

    #[test]
    fn core_schema_scalars() {
        let docs = parse_documents(
            "a.yaml",
            "a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 2026-11-01\ng: 0x1f\nh: 1e3\n",
        )
        .unwrap();
        let j = docs[0].to_json();
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
        assert_eq!(docs[0].to_json()["other"]["cpu"], 1);
    }

    #[test]
    fn multi_document_files() {
        let docs = parse_documents("a.yaml", "a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].line, 3);
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
