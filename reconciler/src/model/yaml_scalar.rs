//! The YAML 1.2 core schema: what an unquoted scalar means (null, boolean, integer, float or
//! string). The model's YAML reader and the render stage's blueprint skeletons both use it.

use serde_json::Value as Json;

/// A scalar resolved with the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    /// The scalar as a JSON value.
    pub(super) fn into_json(self) -> Json {
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
    pub(super) fn into_key(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
        }
    }
}

/// An unquoted (YAML "plain") scalar resolved with the YAML 1.2 core schema, as JSON.
pub fn unquoted_scalar_json(s: &str) -> serde_json::Value {
    resolve_unquoted(s).into_json()
}

/// Resolves an unquoted scalar with the YAML 1.2 core schema.
pub(super) fn resolve_unquoted(s: &str) -> Scalar {
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
    fn unquoted_scalars_of_every_leading_character() {
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
            assert_eq!(unquoted_scalar_json(text), expected, "{text:?}");
        }
    }
}
