//! A small deterministic YAML writer for rendered objects: block style, keys in the order the
//! object has them, strings quoted (JSON-style) whenever a plain scalar could be misread.

use serde_json::Value;
use std::fmt::Write;

/// Writes one value as a YAML document (no leading `---`), ending with a newline.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::with_capacity(2048);
    match v {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, false, &mut out),
        Value::Array(a) if !a.is_empty() => write_seq(a, 0, &mut out),
        other => {
            write_scalar(other, &mut out);
            out.push('\n');
        }
    }
    out
}

/// `indented`: the first key's indent is already written (after a list dash).
fn write_map(m: &serde_json::Map<String, Value>, indent: usize, indented: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !indented {
            push_indent(indent, out);
        }
        write_quoted(k, out);
        out.push(':');
        write_child(v, indent, out);
    }
}

fn write_seq(a: &[Value], indent: usize, out: &mut String) {
    for v in a {
        push_indent(indent, out);
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                out.push(' ');
                write_map(m, indent + 2, true, out);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_seq(a, indent + 2, out);
            }
            other => {
                out.push(' ');
                write_scalar(other, out);
                out.push('\n');
            }
        }
    }
}

fn write_child(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(m, indent + 2, false, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(a, indent, out);
        }
        other => {
            out.push(' ');
            write_scalar(other, out);
            out.push('\n');
        }
    }
}

fn push_indent(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_scalar(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write!(out, "{n}").expect("writing to a String"),
        Value::String(s) => write_quoted(s, out),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

/// A string as a plain scalar when that reads back as the same string, else JSON-quoted.
fn write_quoted(s: &str, out: &mut String) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        out.push_str(&serde_json::to_string(s).expect("string"));
    }
}

fn is_plain_safe(s: &str) -> bool {
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
