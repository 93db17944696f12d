//! Fitting long comment bodies under GitHub's size limit.

/// GitHub's maximum issue/pull-request comment length, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// Cuts `body` to at most `limit` characters at a line boundary, closing an open
/// code fence and ending with a note of how many characters and lines were cut.
/// Returns `body` unchanged when it fits.
pub fn truncate_comment(body: &str, limit: usize) -> String {
    let total = body.chars().count();
    if total <= limit {
        return body.to_owned();
    }
    let total_lines = body.lines().count();
    // Reserve room for the worst-case note and a closing fence.
    let reserve = note(total, total_lines).chars().count() + "```\n".len();
    let budget = limit.saturating_sub(reserve);

    let mut kept = String::new();
    let mut kept_chars = 0;
    let mut kept_lines = 0;
    for line in body.split_inclusive('\n') {
        let n = line.chars().count();
        if kept_chars + n > budget {
            break;
        }
        kept.push_str(line);
        kept_chars += n;
        kept_lines += 1;
    }
    if kept_lines == 0 {
        // A single enormous first line: fall back to a character cut.
        kept = body.chars().take(budget).collect();
        kept_chars = budget;
    }
    let open_fence = kept
        .lines()
        .filter(|l| l.trim_start().starts_with("```"))
        .count()
        % 2
        == 1;
    if !kept.is_empty() && !kept.ends_with('\n') {
        kept.push('\n');
    }
    if open_fence {
        kept.push_str("```\n");
    }
    let cut_lines = total_lines - kept_lines.min(total_lines);
    let mut out = kept;
    out.push_str(&note(total - kept_chars, cut_lines));
    if out.chars().count() > limit {
        // Only possible when `limit` is smaller than the note itself.
        out = out.chars().take(limit).collect();
    }
    out
}

fn note(cut_chars: usize, cut_lines: usize) -> String {
    format!(
        "\n… truncated: {cut_chars} more characters ({cut_lines} lines) did not fit in a GitHub comment.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_body_is_unchanged() {
        assert_eq!(truncate_comment("a\nb\n", 10), "a\nb\n");
        assert_eq!(truncate_comment("", 0), "");
    }

    #[test]
    fn cuts_at_line_boundary_with_note() {
        let body: String = (0..1000).map(|i| format!("line {i:04}\n")).collect();
        let out = truncate_comment(&body, 2_000);
        assert!(out.chars().count() <= 2_000);
        let (kept, note) = out.split_once("\n… truncated: ").expect("note present");
        assert!(
            kept.lines().all(|l| l.len() == 9 && l.starts_with("line ")),
            "only whole lines kept"
        );
        let kept_lines = kept.lines().count();
        let cut_chars = body.len() - kept.len();
        assert!(
            note.starts_with(&format!(
                "{cut_chars} more characters ({} lines)",
                1000 - kept_lines
            )),
            "{note}"
        );
    }

    #[test]
    fn closes_open_code_fence() {
        let body = format!("## Plan\n```diff\n{}```\n", "+ x\n".repeat(500));
        let out = truncate_comment(&body, 600);
        assert!(out.chars().count() <= 600);
        let fences = out.lines().filter(|l| l.starts_with("```")).count();
        assert_eq!(fences, 2, "{out}");
    }

    #[test]
    fn single_huge_line_and_multibyte_are_cut_by_characters() {
        let body = "é".repeat(5_000);
        let out = truncate_comment(&body, 1_000);
        assert!(out.chars().count() <= 1_000);
        assert!(out.starts_with("éé"));
        assert!(out.contains("… truncated: "));
    }
}
