//! Diagnostics as terminal text (with a code frame) or JSON.

use crate::diag::{Diagnostic, Severity};
use crate::source::{FileBody, Snapshot};

/// Renders diagnostics rustc-style: header, `--> file:line:col`, the source line with a caret,
/// and the fix. `color` adds ANSI colours.
pub fn render_text(diags: &[Diagnostic], snapshot: &Snapshot, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
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
        let loc = if d.line == 0 {
            d.file.clone()
        } else {
            format!("{}:{}:{}", d.file, d.line, d.column)
        };
        let source_line = (d.line > 0)
            .then(|| match snapshot.files.get(&d.file) {
                Some(FileBody::Bytes(b)) => String::from_utf8_lossy(b)
                    .lines()
                    .nth(d.line - 1)
                    .map(str::to_string),
                _ => None,
            })
            .flatten();
        let width = d.line.to_string().len().max(1);
        let pad = " ".repeat(width);
        out += &format!("{pad}{} {loc}\n", paint("1;34", "-->"));
        if let Some(line) = source_line {
            let shown = line.replace('\t', " ");
            let caret_at = shown.chars().take(d.column.saturating_sub(1)).count();
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
