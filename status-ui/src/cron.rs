//! Cron schedules: in words, and their next run.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A 5-field cron expression in English for common forms ("at 02:00 every day",
/// "every 15 minutes", "at 03:30 on Monday"); `None` for other forms (show the raw expression).
pub fn describe_cron(expr: &str) -> Option<String> {
    let expr = expr.trim();
    let nickname = match expr {
        "@hourly" => Some("every hour"),
        "@daily" | "@midnight" => Some("at 00:00 every day"),
        "@weekly" => Some("at 00:00 on Sunday"),
        "@monthly" => Some("at 00:00 on day 1 of every month"),
        "@yearly" | "@annually" => Some("at 00:00 on 1 January"),
        _ => None,
    };
    if let Some(words) = nickname {
        return Some(words.to_string());
    }
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields[..] else {
        return None;
    };

    let days = describe_days(dom, month, dow)?;
    if let Some(n) = step(minute) {
        if hour == "*" {
            let every = if n == 1 {
                "every minute".to_string()
            } else {
                format!("every {n} minutes")
            };
            return Some(join(&every, &days));
        }
        return None;
    }
    let minutes = list(minute, 59)?;
    if hour == "*" {
        let every = match minutes[..] {
            [0] => "every hour".to_string(),
            [m] => format!("every hour at minute {m}"),
            _ => return None,
        };
        return Some(join(&every, &days));
    }
    if let Some(n) = step(hour) {
        let [m] = minutes[..] else { return None };
        let every = if n == 1 {
            "every hour".to_string()
        } else {
            format!("every {n} hours")
        };
        let at = if m == 0 {
            every
        } else {
            format!("{every} at minute {m}")
        };
        return Some(join(&at, &days));
    }
    let hours = list(hour, 23)?;
    let times: Vec<String> = hours
        .iter()
        .flat_map(|h| minutes.iter().map(move |m| format!("{h:02}:{m:02}")))
        .collect();
    if times.len() > 4 {
        return None;
    }
    let at = format!("at {}", and_list(&times));
    Some(if days.is_empty() {
        format!("{at} every day")
    } else {
        join(&at, &days)
    })
}

/// The day part ("on Monday", "on weekdays", "on day 1 of every month"), empty for every day.
fn describe_days(dom: &str, month: &str, dow: &str) -> Option<String> {
    let month_words = if month == "*" {
        None
    } else {
        let months = list(month, 12)?;
        if months.contains(&0) {
            return None;
        }
        Some(and_list(
            &months
                .iter()
                .map(|&m| MONTHS[m as usize - 1].to_string())
                .collect::<Vec<_>>(),
        ))
    };
    match (dom, dow) {
        ("*", "*") => Some(match month_words {
            None => String::new(),
            Some(m) => format!("every day in {m}"),
        }),
        ("*", _) => {
            let days = weekdays(dow)?;
            Some(match month_words {
                None => format!("on {days}"),
                Some(m) => format!("on {days} in {m}"),
            })
        }
        (_, "*") => {
            let days = list(dom, 31)?;
            if days.contains(&0) {
                return None;
            }
            let nums: Vec<String> = days.iter().map(u32::to_string).collect();
            let label = if nums.len() == 1 { "day" } else { "days" };
            Some(match month_words {
                None => format!("on {label} {} of every month", and_list(&nums)),
                Some(m) if nums.len() == 1 => format!("on {} {m}", nums[0]),
                Some(_) => return None,
            })
        }
        _ => None,
    }
}

/// Day-of-week field in words.
fn weekdays(dow: &str) -> Option<String> {
    let upper = dow.to_ascii_uppercase();
    match upper.as_str() {
        "1-5" | "MON-FRI" => return Some("weekdays".to_string()),
        "0,6" | "6,0" | "SAT,SUN" | "SUN,SAT" => return Some("weekends".to_string()),
        _ => {}
    }
    let mut names = Vec::new();
    for part in upper.split(',') {
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (day_number(a)?, day_number(b)?),
            None => (day_number(part)?, day_number(part)?),
        };
        if from == to {
            names.push(DAYS[from].to_string());
        } else if from < to {
            names.push(format!("{} to {}", DAYS[from], DAYS[to]));
        } else {
            return None;
        }
    }
    Some(and_list(&names))
}

/// `0`–`7` (7 = Sunday) or `SUN`..`SAT` as an index into [`DAYS`].
fn day_number(s: &str) -> Option<usize> {
    if let Ok(n) = s.parse::<usize>() {
        return (n <= 7).then_some(n % 7);
    }
    DAYS.iter().position(|d| d[..3].eq_ignore_ascii_case(s))
}

/// `*/n` → n, `*` → 1.
fn step(field: &str) -> Option<u32> {
    if field == "*" {
        return Some(1);
    }
    field.strip_prefix("*/")?.parse().ok().filter(|&n| n > 0)
}

/// A comma list of plain numbers, each at most `max`, sorted.
fn list(field: &str, max: u32) -> Option<Vec<u32>> {
    let mut values = field
        .split(',')
        .map(|v| v.parse::<u32>().ok().filter(|&n| n <= max))
        .collect::<Option<Vec<_>>>()?;
    values.sort_unstable();
    Some(values)
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[impl AsRef<str>]) -> String {
    match items {
        [] => String::new(),
        [only] => only.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_string()
    } else {
        format!("{a} {b}")
    }
}

/// The first run strictly after `now` of a 5-field cron expression in the IANA `timezone`
/// (UTC when empty); `None` when the expression or the timezone is invalid.
pub fn next_run(cron: &str, timezone: &str, now: DateTime<Utc>) -> Option<DateTime<Tz>> {
    let tz: Tz = if timezone.is_empty() {
        Tz::UTC
    } else {
        timezone.parse().ok()?
    };
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(cron).ok()?;
    cron.find_next_occurrence(&now.with_timezone(&tz), false)
        .ok()
}
