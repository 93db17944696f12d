//! Shapes: what of a context decides the text a blueprint renders, when the blueprint only uses
//! `{{json path}}`, `{{#if path}}`, `{{#unless path}}` and `{{#each path}}`. A `{{json}}` of a
//! fast render writes a numbered placeholder whatever the value is, so the text depends only on
//! which keys exist, how long lists are and which values are true: the shape. Two contexts of
//! the same shape render the same skeleton with the same values at the same paths, so the
//! engine renders one of them and fills the others' skeletons without handlebars.

use handlebars::JsonTruthy;
use serde_json::Value;

/// Whether every mustache of a blueprint text is one whose output depends only on the shape of
/// the context: comments, `{{json path}}`, `{{json "literal"}}`, `{{#if path}}`,
/// `{{#unless path}}`, `{{#each path}}`, `{{else}}` and their closing tags (with or without
/// `~`). Anything else (partials, plain `{{value}}`, other helpers, `@` variables, parent paths,
/// subexpressions, triple braces) makes the text depend on more, and the answer `false`.
pub(super) fn is_shape_determined(text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let tail = &rest[start..];
        let (body, len) = if tail.starts_with("{{!--") {
            match tail.find("--}}") {
                Some(end) => ("!", end + 4),
                None => return false,
            }
        } else {
            match tail.find("}}") {
                Some(end) => (&tail[2..end], end + 2),
                None => return false,
            }
        };
        if !mustache_is_shape_determined(body) {
            return false;
        }
        rest = &tail[len..];
    }
    true
}

/// One mustache's inside (between the braces).
fn mustache_is_shape_determined(body: &str) -> bool {
    let body = body.strip_prefix('~').unwrap_or(body);
    let body = body.strip_suffix('~').unwrap_or(body).trim();
    if body.starts_with('!') {
        return !body.starts_with("!--") || body.ends_with("--");
    }
    let mut words = body.split_whitespace();
    let (Some(head), arg, None) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    match (head, arg) {
        ("else" | "/if" | "/unless" | "/each", None) => true,
        ("#if" | "#unless" | "#each", Some(path)) => is_plain_path(path),
        ("json", Some(arg)) => is_plain_path(arg) || is_string_literal(arg),
        _ => false,
    }
}

/// `a.b.c` with segments of letters, digits, `_` and `-`, not starting with a digit or `-`.
fn is_plain_path(s: &str) -> bool {
    s.split('.').all(|seg| {
        seg.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) && s != "else"
}

/// `"..."` without quotes or backslashes inside.
fn is_string_literal(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with('"')
        && s.ends_with('"')
        && !s[1..s.len() - 1].contains(['"', '\\'])
}

/// The key of a blueprint's recipe for a context: the blueprint's name and the context's shape.
pub(super) fn key(blueprint: &str, context: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(blueprint.len() + 256);
    out.extend_from_slice(blueprint.as_bytes());
    out.push(0);
    write_shape(context, &mut out);
    out
}

/// Appends the shape of `v` to `out`: every key and its order, every list's length, every
/// scalar's type and truthiness; not the text of strings nor the value of numbers.
fn write_shape(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(b'n'),
        Value::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        Value::Number(_) => out.push(if v.is_truthy(false) { b'1' } else { b'0' }),
        Value::String(s) => out.push(if s.is_empty() { b'e' } else { b's' }),
        Value::Array(items) => {
            out.push(b'[');
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for item in items {
                write_shape(item, out);
            }
        }
        Value::Object(map) => {
            out.push(b'{');
            out.extend_from_slice(&(map.len() as u32).to_le_bytes());
            for (k, item) in map {
                out.extend_from_slice(&(k.len() as u32).to_le_bytes());
                out.extend_from_slice(k.as_bytes());
                write_shape(item, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_json_and_block_helpers_on_paths_are_shape_determined() {
        for text in [
            "a: {{json x}}\n{{!-- note {{with}} --}}\n{{! short }}\n",
            "{{#if a.b}}\nx: {{json a.b}}\n{{else}}\ny: {{json \"lit\"}}\n{{/if}}\n",
            "{{~#each list~}}\n- {{json name}}\n{{~/each}}\n{{#unless k}}{{/unless}}\n",
        ] {
            assert!(is_shape_determined(text), "{text}");
        }
        for text in [
            "a: {{x}}\n",
            "a: {{{json x}}}\n",
            "a: {{json @index}}\n",
            "a: {{json ../x}}\n",
            "a: {{json (lookup x y)}}\n",
            "{{> part}}\n",
            "{{#with x}}{{/with}}\n",
            "{{#if x includeZero=true}}{{/if}}\n",
            "{{#each x as |y|}}{{/each}}\n",
            "a: {{json x y}}\n",
            "a: {{json \"q\\\"\"}}\n",
            "a: {{json x\n",
            "{{!-- open\n",
        ] {
            assert!(!is_shape_determined(text), "{text}");
        }
    }

    #[test]
    fn shapes_differ_by_keys_lengths_and_truthiness_not_by_text() {
        let shape = |v: Value| {
            let mut out = Vec::new();
            write_shape(&v, &mut out);
            out
        };
        let base = shape(json!({"a": "x", "n": 2, "l": [1, {"k": true}]}));
        assert_eq!(
            base,
            shape(json!({"a": "other", "n": 7.5, "l": [3, {"k": true}]}))
        );
        for other in [
            json!({"a": "", "n": 2, "l": [1, {"k": true}]}),
            json!({"a": "x", "n": 0, "l": [1, {"k": true}]}),
            json!({"a": "x", "n": 2, "l": [1, {"k": false}]}),
            json!({"a": "x", "n": 2, "l": [1, {"j": true}]}),
            json!({"a": "x", "n": 2, "l": [1, {"k": true}, 3]}),
            json!({"n": 2, "a": "x", "l": [1, {"k": true}]}),
            json!({"a": "x", "n": "2", "l": [1, {"k": true}]}),
            json!({"a": null, "n": 2, "l": [1, {"k": true}]}),
        ] {
            assert_ne!(base, shape(other.clone()), "{other}");
        }
    }
}
