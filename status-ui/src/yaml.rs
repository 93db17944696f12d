//! YAML encoding and decoding of the status documents (serde-saphyr, both directions; a faster
//! writer of the same bytes for the documents it knows, see `yaml_emit`).

use serde::{Serialize, de::DeserializeOwned};

/// Why a status document could not be decoded or encoded, with the position when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line of the problem, 0 when unknown.
    pub line: usize,
    /// 1-based column of the problem, 0 when unknown.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Decodes one YAML document (UTF-8 bytes) into `T`.
pub fn from_yaml<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, YamlError> {
    let text = std::str::from_utf8(bytes).map_err(|e| YamlError {
        line: 0,
        column: 0,
        message: format!("not UTF-8: {e}"),
    })?;
    serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .unwrap_or((0, 0));
        YamlError {
            line,
            column,
            message: short_message(&e.to_string()),
        }
    })
}

/// The first line of a parser message without its `error: line N column M:` prefix (the
/// position is kept separately).
fn short_message(full: &str) -> String {
    let first = full.lines().next().unwrap_or("invalid YAML");
    let rest = first.strip_prefix("error: ").unwrap_or(first);
    let rest = match rest.strip_prefix("line ") {
        Some(r) => r.split_once(": ").map_or(rest, |(_, m)| m),
        None => rest,
    };
    rest.to_string()
}

/// Encodes `value` as a YAML document; the output is deterministic for deterministic input.
/// Written by the faster writer when it knows how (`yaml_emit`), else by serde-saphyr: the
/// bytes are serde-saphyr's either way.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, YamlError> {
    if let Some(text) = crate::yaml_emit::to_yaml(value) {
        return Ok(text);
    }
    serde_saphyr::to_string(value).map_err(|e| YamlError {
        line: 0,
        column: 0,
        message: e.to_string(),
    })
}
