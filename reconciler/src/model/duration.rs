//! Durations as manifests write them (`6h`, `90m`, `1h30m`, `45s`).

/// Parses a duration like `6h`, `90m`, `1h30m`, `45s` into seconds.
pub fn duration_seconds(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: u64 = num.parse().ok()?;
            num.clear();
            total += n * match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return None,
            };
        }
    }
    (num.is_empty() && total > 0).then_some(total)
}
