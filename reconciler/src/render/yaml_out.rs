//! A small deterministic YAML writer for rendered objects: block style, keys in the order the
//! object has them, strings quoted (JSON-style) whenever a plain scalar could be misread.
//!
//! It writes from JSON text, read once front to back: a rendered body is kept as its JSON
//! text (`Body`), and building a `Value` from it first took more time than writing the YAML.
//! A `Value` is written through its JSON text ([`to_yaml`]).

use serde_json::Value;

/// Writes one value as a YAML document (no leading `---`), ending with a newline.
pub fn to_yaml(v: &Value) -> String {
    json_to_yaml(&serde_json::to_string(v).expect("a JSON value serialises"))
}

/// Writes the value of the JSON text `json`, as [`to_yaml`] writes that value when its numbers
/// are written as serde_json writes them (callers pass text serde_json or `json_text` wrote).
/// Panics when `json` is not JSON text.
pub fn json_to_yaml(json: &str) -> String {
    let mut r = Reader { text: json, at: 0 };
    let mut out = String::with_capacity(json.len() + json.len() / 2);
    match r.peek() {
        Next::Map => write_map(&mut r, 0, false, &mut out),
        Next::Seq => write_seq(&mut r, 0, &mut out),
        Next::Scalar => {
            write_scalar(&mut r, &mut out);
            out.push('\n');
        }
    }
    out
}

/// What the reader is at.
enum Next {
    /// A non-empty object.
    Map,
    /// A non-empty array.
    Seq,
    /// Anything else: a string, number, literal, `{}` or `[]`.
    Scalar,
}

/// A cursor over JSON text.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_space(&mut self) {
        while self
            .bytes()
            .get(self.at)
            .is_some_and(u8::is_ascii_whitespace)
        {
            self.at += 1;
        }
    }

    /// The next byte that is not white space (not consumed).
    fn byte(&mut self) -> u8 {
        self.skip_space();
        *self.bytes().get(self.at).expect("JSON text ends early")
    }

    /// Consumes `b`, which must come next.
    fn eat(&mut self, b: u8) {
        assert_eq!(self.byte(), b, "JSON text: `{}` expected", b as char);
        self.at += 1;
    }

    /// After an item: true when another follows (`,` consumed), false at `close` (consumed).
    fn more(&mut self, close: u8) -> bool {
        match self.byte() {
            b',' => {
                self.at += 1;
                true
            }
            b if b == close => {
                self.at += 1;
                false
            }
            other => panic!(
                "JSON text: `,` or `{}` expected, not `{}`",
                close as char, other as char
            ),
        }
    }

    /// What comes next (nothing consumed).
    fn peek(&mut self) -> Next {
        let open = self.byte();
        let close = match open {
            b'{' => b'}',
            b'[' => b']',
            _ => return Next::Scalar,
        };
        let at = self.at;
        self.at += 1;
        let empty = self.byte() == close;
        self.at = at;
        match (empty, open) {
            (true, _) => Next::Scalar,
            (false, b'{') => Next::Map,
            (false, _) => Next::Seq,
        }
    }

    /// A string's value, and its JSON text (quotes included) when it has no escapes: then the
    /// text is what serde_json writes for the value.
    fn string(&mut self) -> (std::borrow::Cow<'a, str>, Option<&'a str>) {
        let start = self.at;
        self.eat(b'"');
        let bytes = self.bytes();
        let mut escaped = false;
        loop {
            match bytes.get(self.at).expect("JSON text: unterminated string") {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.at += 2;
                }
                _ => self.at += 1,
            }
        }
        self.at += 1;
        let raw = &self.text[start..self.at];
        if escaped {
            let value = serde_json::from_str(raw).expect("JSON text: a string");
            (std::borrow::Cow::Owned(value), None)
        } else {
            (
                std::borrow::Cow::Borrowed(&raw[1..raw.len() - 1]),
                Some(raw),
            )
        }
    }

    /// A number or literal (`true`, `false`, `null`): its text as written.
    fn word(&mut self) -> &'a str {
        let start = self.at;
        let bytes = self.bytes();
        while bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
        {
            self.at += 1;
        }
        let word = &self.text[start..self.at];
        assert!(!word.is_empty(), "JSON text: a value expected");
        word
    }
}

/// `r` at a non-empty object. `indented`: the first key's indent is already written (after a
/// list dash).
fn write_map(r: &mut Reader, indent: usize, indented: bool, out: &mut String) {
    r.eat(b'{');
    let mut first = true;
    loop {
        if !first || !indented {
            push_indent(indent, out);
        }
        first = false;
        r.skip_space();
        let (key, json) = r.string();
        write_quoted(&key, json, out);
        out.push(':');
        r.eat(b':');
        write_child(r, indent, out);
        if !r.more(b'}') {
            return;
        }
    }
}

/// `r` at a non-empty array.
fn write_seq(r: &mut Reader, indent: usize, out: &mut String) {
    r.eat(b'[');
    loop {
        push_indent(indent, out);
        out.push('-');
        match r.peek() {
            Next::Map => {
                // First key on the dash line, the rest aligned under it.
                out.push(' ');
                write_map(r, indent + 2, true, out);
            }
            Next::Seq => {
                out.push('\n');
                write_seq(r, indent + 2, out);
            }
            Next::Scalar => {
                out.push(' ');
                write_scalar(r, out);
                out.push('\n');
            }
        }
        if !r.more(b']') {
            return;
        }
    }
}

fn write_child(r: &mut Reader, indent: usize, out: &mut String) {
    match r.peek() {
        Next::Map => {
            out.push('\n');
            write_map(r, indent + 2, false, out);
        }
        Next::Seq => {
            out.push('\n');
            write_seq(r, indent, out);
        }
        Next::Scalar => {
            out.push(' ');
            write_scalar(r, out);
            out.push('\n');
        }
    }
}

fn push_indent(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// `r` at a scalar, `{}` or `[]`. Numbers are written as the JSON text has them: serde_json
/// writes a number as it displays it.
fn write_scalar(r: &mut Reader, out: &mut String) {
    match r.byte() {
        open @ (b'{' | b'[') => {
            r.at += 1;
            r.eat(if open == b'{' { b'}' } else { b']' });
            out.push_str(if open == b'{' { "{}" } else { "[]" });
        }
        b'"' => {
            let (value, json) = r.string();
            write_quoted(&value, json, out);
        }
        _ => out.push_str(r.word()),
    }
}

/// A string as a plain scalar when that reads back as the same string, else JSON-quoted as
/// serde_json writes it (`json`, when the caller has that text already).
fn write_quoted(value: &str, json: Option<&str>, out: &mut String) {
    if is_plain_safe(value) {
        out.push_str(value);
    } else if let Some(json) = json {
        out.push_str(json);
    } else {
        out.push_str(&serde_json::to_string(value).expect("a string serialises"));
    }
}

fn is_plain_safe(s: &str) -> bool {
    known_plain(s) || checked_plain(s)
}

/// Most strings of an object (names, paths, images) are a letter then letters, digits and
/// `-_./`, longer than any word [`resolves_to_non_string`] knows but `infinity`: plain, as
/// [`checked_plain`] finds, without its checks.
fn known_plain(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 5
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
        && !s.eq_ignore_ascii_case("infinity")
}

fn checked_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`~ ".contains(first) || s.ends_with([' ', ':']) {
        return false;
    }
    let pair = |w: &[u8]| w == b": " || w == b" #";
    if s.as_bytes().windows(2).any(pair) || s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    !resolves_to_non_string(s)
}

/// True when a plain scalar `s` could be read as something other than a string: null, bool or
/// number in the YAML 1.2 core schema, and — for readers of hydrated manifests such as kubectl,
/// which resolve YAML 1.1 — `yes`/`no`/`on`/`off`, octals, `1_000`, sexagesimals and dates.
/// Conservative: a string that merely looks numeric is quoted.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y", "Y", "yes",
        "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "=", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    if [".inf", ".nan", "inf", "nan", "infinity"]
        .iter()
        .any(|w| body.eq_ignore_ascii_case(w))
    {
        return true;
    }
    let Some(first) = body.chars().next() else {
        return false;
    };
    // Numbers (any base, with `_` or `:` separators, exponents) and timestamps all start with a
    // digit or a dot and use few other characters.
    (first.is_ascii_digit() || first == '.')
        && (s.parse::<f64>().is_ok()
            || body.starts_with("0x")
            || body.starts_with("0o")
            || body.starts_with("0b")
            || body
                .chars()
                .all(|c| c.is_ascii_digit() || "_:.-+eE TtZz".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_through_the_reader() {
        let v = json!({
            "apiVersion": "v1", "kind": "X", "n": 3, "t": "true", "num": "42", "empty": "", "date": "2026-11-01",
            "colon": "a: b", "list": [{"name": "a", "value": "{{x}}"}, [1, 2], "-dash"], "m": {}, "l": [],
            "multi": "line1\nline2", "nested": {"deep": {"x": null}},
        });
        let text = to_yaml(&v);
        let back = crate::model::yaml::parse_documents("t.yaml", &text).unwrap();
        assert_eq!(back[0].json, v, "{text}");
    }

    #[test]
    fn quotes_whatever_a_reader_could_take_for_another_type() {
        for s in [
            "true",
            "False",
            "null",
            "~",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "42",
            "-7",
            "+3",
            "0x1F",
            "0o17",
            "1e3",
            "1.5",
            ".5",
            ".inf",
            "-.Inf",
            ".nan",
            "1_000",
            "0777",
            "12:30",
            "2026-11-01",
            "2026-11-01T02:00:00Z",
            "",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "-x",
            "*ref",
            "&a",
            "!tag",
            "@x",
            "`x",
            "%x",
            "|",
            ">",
            "[a]",
            "{a}",
            "#c",
            "'q'",
            "\"q\"",
            "k:",
            "multi\nline",
            "tab\there",
            "Infinity",
            "-infinity",
        ] {
            assert!(!is_plain_safe(s), "{s:?} must be quoted");
            let text = to_yaml(&json!({ "k": s }));
            let back = crate::model::yaml::parse_documents("t.yaml", &text).unwrap();
            assert_eq!(back[0].json["k"], json!(s), "{text}");
        }
        for s in [
            "8Gi",
            "500m",
            "v1",
            "apps/v1",
            "s3://models/x/",
            "a100",
            "node-pool",
            "date={{x}}",
            "1.2.3a",
            "Asia/Shanghai",
            "a:b",
        ] {
            assert!(is_plain_safe(s), "{s:?} may stay plain");
            let text = to_yaml(&json!({ "k": s }));
            let back = crate::model::yaml::parse_documents("t.yaml", &text).unwrap();
            assert_eq!(back[0].json["k"], json!(s), "{text}");
        }
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    /// What is known plain without checking, the checks find plain.
    #[test]
    fn known_plain_strings_pass_the_checks() {
        let alphabet = b"aeinfNtyIoYlsu0123456789-_./";
        let mut seed = 7u64;
        let mut known = 0;
        for _ in 0..50_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let len = 1 + (seed >> 60) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((seed >> (i * 4 % 56)) as usize + i) % alphabet.len()] as char)
                .collect();
            if known_plain(&s) {
                known += 1;
                assert!(checked_plain(&s), "{s:?}");
            }
        }
        assert!(known > 1000, "{known}");
        for s in ["infinity", "INFINITY", "Infinity"] {
            assert!(!known_plain(s) && !checked_plain(s));
        }
    }

    /// The layout, pinned: nested maps indent by two, a list's items sit at its key's indent,
    /// a map in a list starts on the dash line, empty containers are written inline.
    #[test]
    fn writes_the_block_layout() {
        let json = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","labels":{"app":"x"}},
            "data":{"n":"42","f":1.5e-7,"i":-3,"b":true,"z":null,"e":"","esc":"a\"b\\c\u0001\u00e9"},
            "list":[{"k":"v","w":[1,[2,3]]},[],{},"-x",[[]]],"m":{},"l":[]}"#;
        let want = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app: x\n\
            data:\n  \"n\": \"42\"\n  f: 1.5e-7\n  i: -3\n  b: true\n  z: null\n  e: \"\"\n  \
            esc: \"a\\\"b\\\\c\\u0001é\"\nlist:\n- k: v\n  w:\n  - 1\n  -\n    - 2\n    - 3\n\
            - []\n- {}\n- \"-x\"\n-\n  - []\nm: {}\nl: []\n";
        assert_eq!(json_to_yaml(json), want);
        // White space in the text changes nothing; a value's YAML is its text's.
        let value: Value = serde_json::from_str(json).unwrap();
        assert_eq!(to_yaml(&value), want);
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        assert_eq!(json_to_yaml(&pretty), want);
        let back = crate::model::yaml::parse_documents("t.yaml", want).unwrap();
        assert_eq!(back[0].json, value);
        for scalar in ["3", "\"s\"", "null", "{}", "[]"] {
            let v: Value = serde_json::from_str(scalar).unwrap();
            assert_eq!(json_to_yaml(scalar), to_yaml(&v));
        }
        assert_eq!(json_to_yaml("[1]"), "- 1\n");
    }
}
