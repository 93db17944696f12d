//! Compact JSON text, byte for byte what `serde_json::to_writer` writes, but faster for the
//! short strings rendered objects are made of: a string is checked eight bytes at a time and
//! copied whole when nothing in it needs escaping.

use serde_json::Value;

/// `v` as compact JSON text, as `serde_json::to_string` writes it.
pub(super) fn to_string(v: &Value) -> String {
    let mut out = Vec::with_capacity(1024);
    write_value(v, &mut out);
    String::from_utf8(out).expect("JSON text of strings is UTF-8")
}

/// Appends `v` as compact JSON (keys in the map's own order).
pub(super) fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => write_map(m.iter().map(|(k, v)| (k.as_str(), v)), out, write_value),
        Value::Array(a) => write_seq(a, out, write_value),
        Value::String(s) => write_str(s, out),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        number => serde_json::to_writer(&mut *out, number).expect("a number writes"),
    }
}

/// Appends a JSON array of `items`, each written by `write`.
pub(super) fn write_seq<T>(
    items: impl IntoIterator<Item = T>,
    out: &mut Vec<u8>,
    mut write: impl FnMut(T, &mut Vec<u8>),
) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, out);
    }
    out.push(b']');
}

/// Appends a JSON object of `entries` in their order, each value written by `write`.
pub(crate) fn write_map<'k, T>(
    entries: impl IntoIterator<Item = (&'k str, T)>,
    out: &mut Vec<u8>,
    mut write: impl FnMut(T, &mut Vec<u8>),
) {
    out.push(b'{');
    for (i, (k, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write(item, out);
    }
    out.push(b'}');
}

/// Appends `s` as a JSON string: copied between quotes when no byte needs escaping (most keys
/// and values), else escaped by serde_json.
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    if needs_escape(s.as_bytes()) {
        serde_json::to_writer(&mut *out, s).expect("a string writes");
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// True if some byte is a control character, `"` or `\` (what JSON strings escape).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // High bit set in each byte of `x` that is zero (exact when combined with `!x`).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_ne_bytes(w.try_into().expect("eight bytes"));
        // Bytes below 0x20: x - 0x20 borrows into the high bit and x's own high bit is clear.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        if control
            | zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every byte value in every position of a word, and whole values, write exactly as
    /// serde_json writes them.
    #[test]
    fn writes_what_serde_json_writes() {
        for b in 0u8..=127 {
            for pos in 0..12 {
                let mut s = "abcdefghijkl".to_string().into_bytes();
                s[pos] = b;
                let s = String::from_utf8(s).unwrap();
                let mut out = Vec::new();
                write_str(&s, &mut out);
                assert_eq!(out, serde_json::to_vec(&s).unwrap(), "byte {b:#x} at {pos}");
            }
        }
        let v = json!({"a": [1, -2, 3.5, null, true, false, "é\u{1}\"\\/"], "": {}, "k\"": []});
        let mut out = Vec::new();
        write_value(&v, &mut out);
        assert_eq!(out, serde_json::to_vec(&v).unwrap());
    }
}
