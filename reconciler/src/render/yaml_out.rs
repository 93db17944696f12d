//! A small deterministic YAML writer for rendered objects: block style, keys in the order the
//! object has them, strings quoted (JSON-style) whenever a plain scalar could be misread.

use serde_json::Value;

/// Writes one value as a YAML document (no leading `---`), ending with a newline.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => write_seq(a, 0, &mut out),
        other => {
            out += &scalar(other);
            out.push('\n');
        }
    }
    out
}

fn write_map(m: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&quote(k));
        out.push(':');
        write_child(v, indent, out);
    }
}

fn write_seq(a: &[Value], indent: usize, out: &mut String) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                let mut inner = String::new();
                write_map(m, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_seq(a, indent + 2, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn write_child(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(a, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A string as a plain scalar when that reads back as the same string, else JSON-quoted.
fn quote(s: &str) -> String {
    if is_plain_safe(s) { s.to_string() } else { serde_json::to_string(s).expect("string") }
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if "-?:,[]{}#&*!|>'\"%@`~ ".contains(first) || s.ends_with([' ', ':']) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control()) {
        return false;
    }
    // Anything the YAML 1.2 core schema would read as null, bool or number stays quoted.
    let parsed = crate::model::yaml::parse_documents("", &format!("k: {s}\n"));
    matches!(parsed.as_deref(), Ok([doc]) if doc.to_json()["k"] == Value::String(s.to_string()))
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
        assert_eq!(back[0].to_json(), v, "{text}");
    }
}
