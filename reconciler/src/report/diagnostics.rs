//! Diagnostics as terminal text (with a code frame) or JSON.

use crate::diag::{Diagnostic, MAX_MESSAGE_CHARS, Severity, bounded, snippet};
use crate::source::{FileBody, Snapshot};
use std::collections::HashMap;

/// Renders diagnostics rustc-style: header, `--> file:line:col`, the source line (at most
/// [`crate::diag::SNIPPET_CHARS`] characters of it) with a caret, and the fix. `color` adds
/// ANSI colours.
pub fn render_text(diags: &[Diagnostic], snapshot: &Snapshot, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    // The lines of each file quoted, split once: a file may have many diagnostics.
    let mut lines: HashMap<&str, Vec<String>> = HashMap::new();
    for d in diags {
        let (label, c) = match d.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        out += &format!(
            "{}: {}\n",
            paint(c, &format!("{label}[{}]", d.code)),
            paint("1", &d.message)
        );
        let file = bounded(&d.file, MAX_MESSAGE_CHARS);
        let loc = if d.line == 0 {
            file
        } else {
            format!("{file}:{}:{}", d.line, d.column)
        };
        let source_line = (d.line > 0)
            .then(|| match snapshot.files.get(&d.file) {
                Some(FileBody::Bytes(b)) => lines
                    .entry(d.file.as_str())
                    .or_insert_with(|| {
                        String::from_utf8_lossy(b)
                            .lines()
                            .map(str::to_string)
                            .collect()
                    })
                    .get(d.line - 1)
                    .map(|line| snippet(line, d.column)),
                _ => None,
            })
            .flatten();
        let width = d.line.to_string().len().max(1);
        let pad = " ".repeat(width);
        out += &format!("{pad}{} {loc}\n", paint("1;34", "-->"));
        if let Some((shown, caret_at)) = source_line {
            out += &format!("{pad} {}\n", paint("1;34", "|"));
            out += &format!(
                "{} {} {shown}\n",
                paint("1;34", &d.line.to_string()),
                paint("1;34", "|")
            );
            out += &format!(
                "{pad} {} {}{}\n",
                paint("1;34", "|"),
                " ".repeat(caret_at),
                paint(c, "^")
            );
        }
        if let Some(help) = &d.help {
            out += &format!(
                "{pad} {} {}: {help}\n",
                paint("1;34", "="),
                paint("1", "help")
            );
        }
        out.push('\n');
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    out += &format!("{errors} error(s), {warnings} warning(s)\n");
    out
}

/// Renders diagnostics as a JSON array of `{file, line, column, severity, code, message, help}`.
pub fn render_json(diags: &[Diagnostic]) -> String {
    serde_json::to_string_pretty(diags).expect("diagnostics serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Location, codes};
    use std::sync::Arc;

    /// A diagnostic in the middle of a 2 MB line shows a bounded part of it, caret under the
    /// column, and no control character from the file reaches the terminal.
    #[test]
    fn a_huge_line_is_quoted_in_part() {
        let line = format!(
            "name: {}X{}\u{1b}[2J",
            "a".repeat(1 << 20),
            "b".repeat(1 << 20)
        );
        let mut snapshot = Snapshot::default();
        let file = "projects/p/runs/r.yaml";
        let body = FileBody::Bytes(Arc::from(format!("kind: Run\n{line}\n").into_bytes()));
        snapshot.files.insert(file.into(), body);
        let at = Location {
            file: file.into(),
            line: 2,
            column: 7 + (1 << 20),
        };
        let d = Diagnostic::error(codes::INVALID_NAME, &at, "bad").help("fix");
        let text = render_text(&[d], &snapshot, false);
        assert!(text.len() < 2000, "{} bytes", text.len());
        assert!(!text.contains('\u{1b}'));
        let quoted: Vec<&str> = text.lines().filter(|l| l.contains(" | ")).collect();
        let caret = quoted[1]
            .chars()
            .position(|c| c == '^')
            .expect("a caret line");
        assert_eq!(quoted[0].chars().nth(caret), Some('X'), "{text}");
    }
}
