//! Partials written out: a blueprint's standalone partial calls replaced by the partials' text,
//! so that the fast path renders one flat template. Handlebars copies the whole context for a
//! partial called with a hash, which made partial-heavy blueprints ten times slower than flat ones.

use std::collections::HashMap;

/// A blueprint with every standalone partial call (`{{> name k="v"}}` alone on its line) replaced
/// by the partial's text, indented like the call, and each `{{json k}}` of the partial replaced by
/// `{{json "v"}}`; nested partials inherit the hash like handlebars does. `None` when a partial is
/// used in any other way (not alone on its line, unknown, a hash value that is not a string
/// literal, a hash key used other than as `{{json k}}`), so the blueprint keeps its partials.
pub(super) fn inline_partials(
    text: &str,
    partials: &HashMap<&str, &str>,
    hash: &HashMap<String, String>,
    depth: usize,
) -> Option<String> {
    if depth > 8 {
        return None;
    }
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim();
        if !body.contains("{{>") {
            out.push_str(&substitute_hash(line, hash)?);
            continue;
        }
        let call = trimmed.strip_prefix("{{>")?.strip_suffix("}}")?;
        if call.contains("{{") || call.contains("}}") {
            return None;
        }
        let mut words = call.split_whitespace();
        let name = words.next()?;
        let mut inner = hash.clone();
        for w in words {
            let (k, v) = w.split_once('=')?;
            let v = v.strip_prefix('"')?.strip_suffix('"')?;
            if v.contains(['"', '\\']) || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return None;
            }
            inner.insert(k.to_string(), v.to_string());
        }
        let partial = inline_partials(partials.get(name)?, partials, &inner, depth + 1)?;
        let indent = &body[..body.len() - body.trim_start().len()];
        for pline in partial.split_inclusive('\n') {
            out.push_str(indent);
            out.push_str(pline);
        }
        if !partial.ends_with('\n') && line.ends_with('\n') {
            out.push('\n');
        }
    }
    Some(out)
}

/// Replaces `{{json k}}` with `{{json "v"}}` for each hash entry; `None` if a hash key appears
/// in any other mustache.
fn substitute_hash(line: &str, hash: &HashMap<String, String>) -> Option<String> {
    if hash.is_empty() || !line.contains("{{") {
        return Some(line.to_string());
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        if rest[start..].starts_with("{{!") {
            // A comment: kept as it is.
            let close = if rest[start..].starts_with("{{!--") {
                "--}}"
            } else {
                "}}"
            };
            let end = start + rest[start..].find(close)? + close.len();
            out.push_str(&rest[start..end]);
            rest = &rest[end..];
            continue;
        }
        let end = start + rest[start..].find("}}")? + 2;
        let tag = &rest[start..end];
        let inside = tag[2..tag.len() - 2].trim();
        let replaced = inside
            .strip_prefix("json ")
            .map(str::trim)
            .and_then(|k| hash.get(k));
        match replaced {
            Some(v) => out.push_str(&format!("{{{{json \"{v}\"}}}}")),
            None => {
                let words = inside.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
                if words.into_iter().any(|w| hash.contains_key(w)) {
                    return None;
                }
                out.push_str(tag);
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_are_written_out_with_their_indent_and_hash() {
        let partials: HashMap<&str, &str> = [
            ("_c", "{{!-- a container: container_name --}}\nname: {{json container_name}}\nimage: {{json image}}\n"),
            ("_p", "policy: {{json restart}}\nc:\n  -\n    {{> _c}}\n"),
            ("_inline", "c:\n  - {{> _c}}\n"),
            ("_b", "{{#if container_name}}x: 1{{/if}}\n"),
        ]
        .into_iter()
        .collect();
        let none = HashMap::new();
        let flat = inline_partials(
            "spec:\n  {{> _p restart=\"Never\" container_name=\"main\"}}\nend: 1\n",
            &partials,
            &none,
            0,
        )
        .unwrap();
        assert_eq!(
            flat,
            "spec:\n  policy: {{json \"Never\"}}\n  c:\n    -\n      {{!-- a container: container_name --}}\n      name: {{json \"main\"}}\n      image: {{json image}}\nend: 1\n"
        );
        // Not alone on its line, or a hash key used in a block: the blueprint keeps its partials.
        assert_eq!(
            inline_partials("{{> _inline}}\n", &partials, &none, 0),
            None
        );
        assert_eq!(
            inline_partials("{{> _b container_name=\"m\"}}\n", &partials, &none, 0),
            None
        );
        assert_eq!(
            inline_partials("{{> _missing}}\n", &partials, &none, 0),
            None
        );
    }
}
