//! Plain-text formatting of values shown on the page: times, durations, quantities, shas.

use chrono::{DateTime, Utc};

/// The first 7 characters of a commit sha.
pub fn short_sha(sha: &str) -> &str {
    match sha.char_indices().nth(7) {
        Some((i, _)) => &sha[..i],
        None => sha,
    }
}

/// `t` relative to `now` in words: "just now", "3 min ago", "in 5 h", "2 days ago".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let abs = secs.unsigned_abs();
    let amount = if abs < 45 {
        return "just now".to_string();
    } else if abs < 90 * 60 {
        format!("{} min", (abs + 30) / 60)
    } else if abs < 48 * 3600 {
        format!("{} h", (abs + 1800) / 3600)
    } else {
        format!("{} days", (abs + 43200) / 86400)
    };
    if secs >= 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// A UTC timestamp as `2026-11-22 10:00 UTC`.
pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A UTC timestamp to the second, `2026-11-22 10:00:05 UTC` (run and task times).
pub fn utc_seconds(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration in milliseconds: "412 ms", "3.2 s", "2 min 5 s".
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{} s", number(ms as f64 / 1000.0))
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// A number without a trailing `.0`, at most 1 decimal.
pub fn number(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// A value in its display unit: `bytes` become GiB, other units stay.
fn scaled(v: f64, unit: &str) -> (f64, &str) {
    match unit {
        "bytes" => (v / (1u64 << 30) as f64, "GiB"),
        _ => (v, unit),
    }
}

fn with_unit(n: String, unit: &str) -> String {
    if unit.is_empty() {
        n
    } else {
        format!("{n} {unit}")
    }
}

/// Usage against a limit with the unit once: "24 / 200 cores", "96 / 800 GiB".
pub fn usage(used: f64, limit: f64, unit: &str) -> String {
    let (u, label) = scaled(used, unit);
    let (l, _) = scaled(limit, unit);
    with_unit(format!("{} / {}", number(u), number(l)), label)
}

/// `used / limit` as a percentage (0 when there is no limit).
pub fn percent(used: f64, limit: f64) -> f64 {
    if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    }
}
