//! YAML syntax errors, located where the mistake was made: the parser notices some mistakes
//! (a key without its `:`, a flow collection never closed, a tab in the indentation) only on a
//! later line, so the text before is read to find the line to point at and the fix to suggest.

use crate::diag::{Diagnostic, Location, codes};

/// The diagnostic for the parser's error `info` at `line`:`col` of `yaml`; `at` makes a
/// location in the file.
pub(super) fn syntax_error(
    yaml: &str,
    at: impl Fn(u32, u32) -> Location,
    line: u32,
    col: u32,
    info: &str,
) -> Diagnostic {
    let text_line = yaml
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or("");
    let indent: String = text_line
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    if let Some(tab) = indent.find('\t') {
        return Diagnostic::error(
            codes::TAB_INDENT,
            &at(line, tab as u32 + 1),
            "tab character used for indentation",
        )
        .help("YAML indentation must use spaces; replace the tab with spaces");
    }
    // The parser notices some mistakes only on a later line: point at the mistake itself.
    let stopped = format!("the parser stopped at line {line}, column {col}: {info}");
    if (info.contains("mapping values are not allowed") || info.contains("simple key expect ':'"))
        && let Some((l, c, text)) = missing_colon(yaml, line)
    {
        let fixed = match text.split_once(char::is_whitespace) {
            Some((k, v)) => format!("{k}: {}", v.trim_start()),
            None => format!("{text}:"),
        };
        return Diagnostic::error(
            codes::YAML_SYNTAX,
            &at(l, c),
            format!("YAML syntax error: `{text}` is not a `key: value` pair ({stopped})"),
        )
        .help(format!("add the missing `:` after the key, e.g. `{fixed}`"));
    }
    if (info.contains("flow") || info.contains("':' indicator"))
        && let Some((l, c, open)) = unclosed_flow(yaml, line, col)
        && l < line
    {
        let close = if open == '{' { '}' } else { ']' };
        return Diagnostic::error(
            codes::YAML_SYNTAX,
            &at(l, c),
            format!("YAML syntax error: `{open}` is never closed ({stopped})"),
        )
        .help(format!(
            "close it with `{close}` (and separate its items with `,`)"
        ));
    }
    Diagnostic::error(
        codes::YAML_SYNTAX,
        &at(line, col),
        format!("YAML syntax error: {info}"),
    )
    .help("fix the YAML at this position (check indentation, quotes and `:` after keys)")
}

/// For an error at `line` where an unquoted value ran into a `key:`, the line before that holds
/// text without any `:` (a key whose `:` is missing): its 1-based position and text.
fn missing_colon(text: &str, line: u32) -> Option<(u32, u32, String)> {
    let lines: Vec<&str> = text.lines().take(line.saturating_sub(1) as usize).collect();
    let content = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    let mut i = lines.iter().rposition(|l| content(l))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let unquoted = |l: &str| {
        !l.contains(':')
            && !l
                .trim_start()
                .starts_with(['-', '[', '{', '"', '\'', '|', '>', '&', '*', '!', '%'])
    };
    if !unquoted(lines[i]) {
        return None;
    }
    // A multi-line unquoted value: go back to its first line.
    while i > 0
        && content(lines[i - 1])
        && unquoted(lines[i - 1])
        && indent(lines[i - 1]) == indent(lines[i])
    {
        i -= 1;
    }
    let l = lines[i];
    Some((
        i as u32 + 1,
        (l[..indent(l)].chars().count() + 1) as u32,
        l.trim().to_string(),
    ))
}

/// The innermost flow collection (`{` or `[`) still open at `line`:`col`, with its position.
/// Quoted scalars and comments are skipped.
fn unclosed_flow(text: &str, line: u32, col: u32) -> Option<(u32, u32, char)> {
    let mut open: Vec<(u32, u32, char)> = Vec::new();
    for (i, l) in text.lines().enumerate().take(line as usize) {
        let ln = i as u32 + 1;
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let mut chars = l.chars().enumerate().peekable();
        while let Some((j, c)) = chars.next() {
            let cn = j as u32 + 1;
            if ln == line && cn >= col {
                break;
            }
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some(q) if c == q => {
                    if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => match c {
                    '#' if prev.is_whitespace() => break,
                    '"' | '\''
                        if l[..l.char_indices().nth(j).map_or(l.len(), |(b, _)| b)]
                            .trim_end()
                            .chars()
                            .last()
                            .is_none_or(|p| ":-[{,?".contains(p)) =>
                    {
                        quote = Some(c)
                    }
                    '{' | '[' => open.push((ln, cn, c)),
                    '}' | ']'
                        if open
                            .last()
                            .is_some_and(|(_, _, o)| (*o == '{') == (c == '}')) =>
                    {
                        open.pop();
                    }
                    _ => {}
                },
            }
            prev = c;
        }
    }
    open.pop()
}
