//! A line-based reader for the YAML manifests are written in: block mappings and sequences
//! (indented or not), one-line plain and quoted scalars and one-line flow collections.
//!
//! It gives exactly the events saphyr-parser gives (same values, styles and positions), about
//! five times faster, and gives up (`None`) on anything else: block scalars, anchors, aliases,
//! tags, multi-line scalars or flow collections, empty values, tabs, escapes other than the
//! common ones, and every syntax error. The caller then reads the file with saphyr, so the
//! result (and every error message) never depends on which reader ran.

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span, StrInput};
use std::borrow::Cow;

/// The events of a text with their spans (only the start of a span is meaningful).
type Events<'a> = Vec<(Event<'a>, Span)>;

/// The events of a YAML text, from the line reader when it takes the text, else from saphyr.
pub(crate) fn parse(text: &str) -> YamlEvents<'_> {
    match events(text) {
        Some(events) => YamlEvents::Lines(events.into_iter()),
        None => YamlEvents::Saphyr(Box::new(Parser::new_from_str(text))),
    }
}

/// The events [`parse`] gives, as saphyr's parser gives them.
pub(crate) enum YamlEvents<'a> {
    /// Read by the line reader.
    Lines(std::vec::IntoIter<(Event<'a>, Span)>),
    /// Read by saphyr.
    Saphyr(Box<Parser<'a, StrInput<'a>>>),
}

impl<'a> Iterator for YamlEvents<'a> {
    type Item = Result<(Event<'a>, Span), ScanError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            YamlEvents::Lines(events) => events.next().map(Ok),
            YamlEvents::Saphyr(parser) => parser.next(),
        }
    }
}

/// Deepest nesting read here; deeper documents go to saphyr, which reports them.
const MAX_DEPTH: usize = 64;

/// Longest implicit key YAML allows.
const MAX_KEY: usize = 1024;

/// The events of `text` without the stream and document events, or `None` when the text uses
/// YAML this reader does not take.
fn events(text: &str) -> Option<Events<'_>> {
    if text.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f)
        || (!text.is_ascii() && text.chars().any(unusual))
    {
        return None;
    }
    let lines = content_lines(text)?;
    let mut reader = Reader {
        lines: &lines,
        at: 0,
        events: Vec::with_capacity(lines.len() * 3),
        depth: 0,
    };
    reader.documents()?;
    Some(reader.events)
}

/// A character outside printable ASCII that YAML rejects or may read as a break or a mark
/// (C1 controls, the byte order mark, line separators, non-characters): saphyr decides.
fn unusual(c: char) -> bool {
    matches!(
        c,
        '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// A line with content (not blank, not only a comment).
struct Line<'a> {
    /// 1-based line number.
    no: usize,
    text: &'a str,
    /// Leading spaces.
    indent: usize,
    /// Columns equal byte offsets.
    ascii: bool,
    /// A `---` line.
    separator: bool,
}

/// The lines with content; `None` for directives and document end markers.
fn content_lines(text: &str) -> Option<Vec<Line<'_>>> {
    let mut lines = Vec::new();
    for (i, text) in text.split('\n').enumerate() {
        let body = text.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = text.len() - body.len();
        let separator = indent == 0 && text.starts_with("---") && is_blank(&text[3..]);
        if indent == 0 && (text.starts_with("...") || text.starts_with('%'))
            || (!separator && text.starts_with("---"))
        {
            return None;
        }
        lines.push(Line {
            no: i + 1,
            text,
            indent,
            ascii: text.is_ascii(),
            separator,
        });
    }
    Some(lines)
}

/// The rest of a line after a token holds nothing but spaces, maybe followed by a comment (a
/// `#` right after the token is not one).
fn is_blank(rest: &str) -> bool {
    let body = rest.trim_start_matches(' ');
    body.is_empty() || (body.starts_with('#') && body.len() < rest.len())
}

/// A `-` that starts a sequence entry at `at`.
fn is_dash(text: &str, at: usize) -> bool {
    let b = text.as_bytes();
    b.get(at) == Some(&b'-') && matches!(b.get(at + 1), None | Some(b' '))
}

/// First bytes no plain scalar starts with here (`-` is checked apart).
fn bad_plain_start(b: u8) -> bool {
    b"?:,[]{}#&*!|>'\"%@`".contains(&b)
}

struct Reader<'l, 'a> {
    lines: &'l [Line<'a>],
    /// The current line.
    at: usize,
    events: Events<'a>,
    depth: usize,
}

impl<'a> Reader<'_, 'a> {
    fn documents(&mut self) -> Option<()> {
        while self.at < self.lines.len() {
            if self.lines[self.at].separator {
                self.at += 1;
                // An empty document: saphyr reads it as a null.
                if self.lines.get(self.at).is_none_or(|l| l.separator) {
                    return None;
                }
            }
            let indent = self.line().indent;
            self.block_node(indent)?;
            if self.lines.get(self.at).is_some_and(|l| !l.separator) {
                return None;
            }
        }
        Some(())
    }

    fn line(&self) -> &Line<'a> {
        &self.lines[self.at]
    }

    /// Records an event at byte `at` of the current line.
    fn push(&mut self, event: Event<'a>, at: usize) {
        let line = self.line();
        let col = if line.ascii {
            at
        } else {
            line.text[..at].chars().count()
        };
        let mark = Marker::new(0, line.no, col);
        self.events.push((event, Span::new(mark, mark)));
    }

    /// Records the end of a collection (its position is not used).
    fn end(&mut self, event: Event<'a>) {
        self.events.push((event, Span::default()));
    }

    /// The indent of the current line, if there is one in this document.
    fn next_indent(&self) -> Option<usize> {
        self.lines
            .get(self.at)
            .filter(|l| !l.separator)
            .map(|l| l.indent)
    }

    /// A block node starting at byte `at` of the current line.
    fn block_node(&mut self, at: usize) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let text = self.line().text;
        if is_dash(text, at) {
            self.block_seq(at, false)?;
        } else if key_at(text, at)?.is_some() {
            self.block_map(at)?;
        } else {
            return None;
        }
        self.depth -= 1;
        Some(())
    }

    /// A block mapping whose keys start at column `n`, the first on the current line.
    fn block_map(&mut self, n: usize) -> Option<()> {
        self.push(Event::MappingStart(0, None), n);
        loop {
            let (key, style, after) = key_at(self.line().text, n)??;
            self.push(Event::Scalar(key, style, 0, None), n);
            self.value(n, after)?;
            match self.next_indent() {
                Some(i) if i == n && !is_dash(self.line().text, n) => {}
                Some(i) if i >= n => return None,
                _ => break,
            }
        }
        self.end(Event::MappingEnd);
        Some(())
    }

    /// A block sequence whose dashes are at column `n`, the first on the current line. saphyr
    /// places an indentless sequence (dashes in line with the key above) at its first item.
    fn block_seq(&mut self, n: usize, indentless: bool) -> Option<()> {
        let mut first = true;
        loop {
            let text = self.line().text;
            let item = n + 1 + text[n + 1..].len() - text[n + 1..].trim_start_matches(' ').len();
            if first {
                if indentless && is_blank(&text[n + 1..]) {
                    return None;
                }
                self.push(
                    Event::SequenceStart(0, None),
                    if indentless { item } else { n },
                );
                first = false;
            }
            if is_blank(&text[n + 1..]) {
                self.at += 1;
                match self.next_indent() {
                    Some(i) if i > n => self.block_node(i)?,
                    _ => return None,
                }
            } else if is_dash(text, item) {
                return None;
            } else if key_at(text, item)?.is_some() {
                self.block_map(item)?;
            } else {
                self.inline_value(item)?;
            }
            match self.next_indent() {
                Some(i) if i == n && is_dash(self.line().text, n) => {}
                Some(i) if i > n => return None,
                _ => break,
            }
        }
        self.end(Event::SequenceEnd);
        Some(())
    }

    /// The value of a key at column `n` whose `:` ends before byte `after`.
    fn value(&mut self, n: usize, after: usize) -> Option<()> {
        let text = self.line().text;
        if !is_blank(&text[after..]) {
            let start = after + text[after..].len() - text[after..].trim_start_matches(' ').len();
            return self.inline_value(start);
        }
        self.at += 1;
        match self.next_indent() {
            Some(i) if i > n => self.block_node(i),
            // An indentless sequence: its dashes line up with the key.
            Some(i) if i == n && is_dash(self.line().text, n) => self.block_seq(n, true),
            _ => None,
        }
    }

    /// A scalar or flow collection at byte `at` that ends its line; moves to the next line.
    fn inline_value(&mut self, at: usize) -> Option<()> {
        let end = self.node(at, plain_block)?;
        if !is_blank(&self.line().text[end..]) {
            return None;
        }
        self.at += 1;
        Some(())
    }

    /// A flow collection, a quoted scalar or a plain one (read by `plain`) at byte `at`;
    /// returns the byte after it.
    fn node(&mut self, at: usize, plain: fn(&str, usize) -> Option<&str>) -> Option<usize> {
        let text = self.line().text;
        Some(match *text.as_bytes().get(at)? {
            b'[' | b'{' => self.flow(at)?,
            b'"' | b'\'' => {
                let (value, style, end) = quoted(text, at)?;
                self.push(Event::Scalar(value, style, 0, None), at);
                end
            }
            _ => {
                let value = plain(text, at)?;
                self.push(
                    Event::Scalar(Cow::Borrowed(value), ScalarStyle::Plain, 0, None),
                    at,
                );
                at + value.len()
            }
        })
    }

    /// A flow collection at byte `at`, closed on this line; returns the byte after it.
    fn flow(&mut self, at: usize) -> Option<usize> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let text = self.line().text;
        let b = text.as_bytes();
        let map = b[at] == b'{';
        let close = if map { b'}' } else { b']' };
        self.push(
            if map {
                Event::MappingStart(0, None)
            } else {
                Event::SequenceStart(0, None)
            },
            at,
        );
        let mut p = skip_spaces(b, at + 1);
        if b.get(p) == Some(&close) {
            p += 1;
        } else {
            loop {
                // A collection as a key is an error the builder reports from saphyr's events.
                if map && matches!(b.get(p), Some(b'[' | b'{')) {
                    return None;
                }
                p = self.flow_item(p)?;
                if map {
                    // `key: value`: a space after the `:` keeps the reading simple.
                    if b.get(p) != Some(&b':') || b.get(p + 1) != Some(&b' ') {
                        return None;
                    }
                    p = skip_spaces(b, p + 1);
                    if matches!(b.get(p), None | Some(b',' | b'}')) {
                        return None;
                    }
                    p = self.flow_item(p)?;
                } else if b.get(p) == Some(&b':') {
                    return None;
                }
                match b.get(p) {
                    Some(b',') => {
                        p = skip_spaces(b, p + 1);
                        if matches!(b.get(p), None | Some(b',' | b']' | b'}')) {
                            return None;
                        }
                    }
                    Some(&c) if c == close => {
                        p += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.end(if map {
            Event::MappingEnd
        } else {
            Event::SequenceEnd
        });
        self.depth -= 1;
        Some(p)
    }

    /// A scalar or collection inside a flow collection at byte `at`; returns the byte after it
    /// and the spaces that follow.
    fn flow_item(&mut self, at: usize) -> Option<usize> {
        let end = self.node(at, plain_flow)?;
        Some(skip_spaces(self.line().text.as_bytes(), end))
    }
}

fn skip_spaces(b: &[u8], mut at: usize) -> usize {
    while b.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// The key at byte `at` of a line: its text, style and the byte after its `:`. `Some(None)`
/// when the line holds no key there; `None` when it holds something this reader does not take.
#[allow(clippy::type_complexity)]
fn key_at(text: &str, at: usize) -> Option<Option<(Cow<'_, str>, ScalarStyle, usize)>> {
    let b = text.as_bytes();
    let is_colon = |i: usize| b.get(i) == Some(&b':') && matches!(b.get(i + 1), None | Some(b' '));
    if matches!(b[at], b'"' | b'\'') {
        let (key, style, end) = quoted(text, at)?;
        return Some(is_colon(end).then_some((key, style, end + 1)));
    }
    if bad_plain_start(b[at]) || (b[at] == b'-' && matches!(b.get(at + 1), None | Some(b' '))) {
        return if matches!(b[at], b'[' | b'{' | b'-') {
            Some(None)
        } else {
            None
        };
    }
    for i in at..b.len() {
        if is_colon(i) {
            let key = text[at..i].trim_end_matches(' ');
            return (key.len() <= MAX_KEY).then_some(Some((
                Cow::Borrowed(key),
                ScalarStyle::Plain,
                i + 1,
            )));
        }
        if b[i] == b'#' && b[i - 1] == b' ' {
            break;
        }
    }
    Some(None)
}

/// A plain scalar at byte `at` in block context that ends its line (before a comment).
fn plain_block(text: &str, at: usize) -> Option<&str> {
    let b = text.as_bytes();
    if bad_plain_start(b[at]) || is_dash(text, at) {
        return None;
    }
    let mut end = b.len();
    for i in at..b.len() {
        match b[i] {
            // `: ` is a mapping on the line of another value: an error saphyr reports.
            b':' if matches!(b.get(i + 1), None | Some(b' ')) => return None,
            b'#' if b[i - 1] == b' ' => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    Some(text[at..end].trim_end_matches(' '))
}

/// A plain scalar at byte `at` inside a flow collection (it ends at `,`, a bracket or `: `).
fn plain_flow(text: &str, at: usize) -> Option<&str> {
    let b = text.as_bytes();
    let dash_alone = b[at] == b'-'
        && matches!(
            b.get(at + 1),
            None | Some(b' ' | b',' | b'[' | b']' | b'{' | b'}')
        );
    if bad_plain_start(b[at]) || dash_alone {
        return None;
    }
    let mut end = b.len();
    for i in at..b.len() {
        match b[i] {
            b',' | b']' | b'}' => {
                end = i;
                break;
            }
            b'[' | b'{' => return None,
            // saphyr refuses `-` after a space when a flow indicator follows (`[a -]`).
            b'-' if b[i - 1] == b' '
                && matches!(b.get(i + 1), None | Some(b',' | b'[' | b']' | b'{' | b'}')) =>
            {
                return None;
            }
            b':' if matches!(
                b.get(i + 1),
                None | Some(b' ' | b',' | b']' | b'}' | b'[' | b'{')
            ) =>
            {
                end = i;
                break;
            }
            b'#' if b[i - 1] == b' ' => return None,
            _ => {}
        }
    }
    let value = text[at..end].trim_end_matches(' ');
    (end < b.len()).then_some(value)
}

/// A quoted scalar at byte `at` closed on this line: its value, style and the byte after it.
fn quoted(text: &str, at: usize) -> Option<(Cow<'_, str>, ScalarStyle, usize)> {
    let b = text.as_bytes();
    let q = b[at];
    let mut owned: Option<String> = None;
    let mut run = at + 1;
    let mut i = at + 1;
    loop {
        let c = *b.get(i)?;
        if c == q && q == b'\'' && b.get(i + 1) == Some(&b'\'') {
            owned
                .get_or_insert_with(String::new)
                .push_str(&text[run..=i]);
            i += 2;
            run = i;
        } else if c == q {
            break;
        } else if c == b'\\' && q == b'"' {
            let unescaped = match *b.get(i + 1)? {
                b'\\' => '\\',
                b'"' => '"',
                b'/' => '/',
                b'n' => '\n',
                b't' => '\t',
                _ => return None,
            };
            let s = owned.get_or_insert_with(String::new);
            s.push_str(&text[run..i]);
            s.push(unescaped);
            i += 2;
            run = i;
        } else {
            i += 1;
        }
    }
    let value = match owned {
        Some(mut s) => {
            s.push_str(&text[run..i]);
            Cow::Owned(s)
        }
        None => Cow::Borrowed(&text[at + 1..i]),
    };
    let style = if q == b'"' {
        ScalarStyle::DoubleQuoted
    } else {
        ScalarStyle::SingleQuoted
    };
    Some((value, style, i + 1))
}

/// An event with its start (`None` for the ends of collections, whose position is unused).
type Seen<'a> = Vec<(Event<'a>, Option<(usize, usize)>)>;

/// The events that matter, with their starts: no stream or document events.
fn seen<'a>(events: impl Iterator<Item = (Event<'a>, Span)>) -> Seen<'a> {
    events
        .filter(|(e, _)| {
            !matches!(
                e,
                Event::StreamStart
                    | Event::StreamEnd
                    | Event::DocumentStart(_)
                    | Event::DocumentEnd
                    | Event::Nothing
            )
        })
        .map(|(e, s)| {
            let end = matches!(e, Event::SequenceEnd | Event::MappingEnd);
            let at = (!end).then_some((s.start.line(), s.start.col()));
            (e, at)
        })
        .collect()
}

/// Checks the line reader against saphyr on one text (the fuzz target `yaml_readers` and the
/// tests below): `Ok(true)` when the line reader read it and saphyr gives the same events,
/// `Ok(false)` when the line reader gave it up, `Err` describing any disagreement.
pub fn compare_with_saphyr(text: &str) -> Result<bool, String> {
    let Some(fast) = events(text) else {
        return Ok(false);
    };
    let slow: Result<Vec<_>, _> = Parser::new_from_str(text).collect();
    let slow =
        slow.map_err(|e| format!("saphyr rejects what the line reader read ({e}):\n{text}"))?;
    let (fast, slow) = (seen(fast.into_iter()), seen(slow.into_iter()));
    if fast != slow {
        return Err(format!(
            "the line reader gives {fast:?}\nsaphyr gives {slow:?}\nfor:\n{text}"
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When the line reader reads a text, saphyr reads it too and gives the same events. Returns
    /// whether the line reader read it.
    fn agrees(text: &str) -> bool {
        compare_with_saphyr(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn repository_texts() -> Vec<(String, String)> {
        let examples = crate::source::snapshot_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples-repo"),
        )
        .unwrap();
        let synthetic = crate::synth::snapshot(&crate::synth::Shape::small());
        [examples, synthetic]
            .into_iter()
            .flat_map(|s| s.files.into_iter())
            .filter_map(|(path, body)| match body {
                crate::source::FileBody::Bytes(b) => {
                    Some((path, String::from_utf8(b.to_vec()).unwrap()))
                }
                _ => None,
            })
            .filter(|(path, _)| path.ends_with(".yaml"))
            .collect()
    }

    /// Every manifest of examples-repo and of the synthetic repository is read by the line
    /// reader, with saphyr's events.
    #[test]
    fn reads_the_repositories_as_saphyr_does() {
        let texts = repository_texts();
        assert!(texts.len() > 30);
        for (path, text) in &texts {
            assert!(agrees(text), "{path} is not read by the line reader");
        }
    }

    /// Forms the reader takes give saphyr's events; forms it does not take give up.
    #[test]
    fn reads_what_it_takes_and_gives_up_on_the_rest() {
        for text in [
            "a: 1\nb: two words  # note\nc: 'it''s'\nd: \"q\\\"\\n\\t\\\\/é\"\n",
            "# head\n---\nkind: X\nmetadata:\n  name: n   \n\n  labels: {a: b, 'c': \"d\", e: [1, -2, x y]}\n",
            "list:\n- a\n- b: 1\n  c: [ ]\n-   d: {}\n    e:\n      - f\nnext: é\n",
            "a:\n  - name: x\n    args: [--lr, \"0.1\", {k: v}]\n  - [a, [b, c]]\n",
            "x: http://host:80/p#frag\ny: a#b\nz: -Xmx1g\nw: 中文 说明\n\"中\": [中, \"文\"]\n",
            "a: 1\n---\nb: 2\n",
            "- a\n-  b\n",
            "'k': v\n\"k 2\": w\nl:\n-   x\n-\n  y: 1\n",
        ] {
            assert!(agrees(text), "{text}");
        }
        for text in [
            "a: |\n  x\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a:\n",
            "a: b\n  c\n",
            "a: [1,\n  2]\n",
            "a:\tb\n",
            "a: 1\n...\n",
            "a: b: c\n",
            "a: é: no\n",
            "- - b\n",
            "a: \"\\x41\"\n",
            "---\n",
        ] {
            assert!(events(text).is_none(), "{text}");
        }
        assert!(agrees("a: 1\n"));
    }

    /// Control and unusual characters anywhere (the fuzz target `yaml_readers` found a NUL in a
    /// plain scalar that the line reader took and saphyr rejects): the line reader gives up.
    #[test]
    fn control_characters_are_left_to_saphyr() {
        let odd = ('\0'..' ')
            .chain([
                '\x7f', '\u{80}', '\u{85}', '\u{9f}', '\u{2028}', '\u{feff}', '\u{ffff}',
            ])
            .filter(|c| *c != '\n');
        for c in odd {
            for text in [
                format!("a: b{c}c\n"),
                format!("a: 'b{c}'\n"),
                format!("k{c}: v\n"),
                format!("a: 1\n# {c}\n"),
            ] {
                assert!(events(&text).is_none(), "{text:?}");
                agrees(&text);
            }
        }
        assert!(
            agrees("a: é\u{a0}ü\n"),
            "printable Unicode stays with the line reader"
        );
    }

    /// A `-` after a space and before a flow indicator inside a flow collection: saphyr
    /// refuses it, so the line reader gives up (found by the fuzz target `yaml_readers`).
    #[test]
    fn a_dash_before_a_flow_indicator_is_left_to_saphyr() {
        for text in [
            "n: [\\ -]\n",
            "n: [a -, b]\n",
            "n: {k: v -}\n",
            "n: [a -[]]\n",
        ] {
            assert!(events(text).is_none(), "{text:?}");
        }
        assert!(agrees("n: [a - b, c-, -d]\n"));
    }

    /// Damaged manifests (a character inserted or removed here and there): whatever the line
    /// reader still reads, saphyr reads the same way.
    #[test]
    fn damaged_manifests_are_read_as_saphyr_does_or_not_at_all() {
        let texts = repository_texts();
        let (mut read, mut tried) = (0, 0);
        for (_, text) in texts.iter().step_by(8) {
            let lines: Vec<&str> = text.split('\n').collect();
            for (i, line) in lines.iter().enumerate().step_by(2) {
                let cuts: Vec<usize> = (0..=line.len())
                    .filter(|&c| line.is_char_boundary(c))
                    .step_by(4)
                    .collect();
                for &cut in &cuts {
                    for edit in [":", " ", "#", "-", "'", "\"", "[", "{", ",", "}", "", "  "] {
                        let mut changed = line[..cut].to_string();
                        changed.push_str(edit);
                        let rest = &line[cut..];
                        let skip = if edit.is_empty() {
                            rest.chars().next().map_or(0, char::len_utf8)
                        } else {
                            0
                        };
                        changed.push_str(&rest[skip..]);
                        let mut all = lines.clone();
                        all[i] = &changed;
                        tried += 1;
                        read += agrees(&all.join("\n")) as usize;
                    }
                }
            }
        }
        assert!(tried > 1000 && read > tried / 4, "{read} of {tried}");
    }
}
