//! Schedules and dates: 5-field cron, IANA timezones, execution dates of runs.

use crate::diag::{Diagnostic, codes};
use crate::model::Model;
use chrono::NaiveDate;
use std::collections::HashMap;

/// Longest backfill one Run may ask for, in days.
pub const MAX_RUN_DAYS: i64 = 366;

pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    // Many pipelines share an expression: check each one once.
    let mut crons: HashMap<&str, Result<(), String>> = HashMap::new();
    for project in model.projects.values() {
        for p in project.pipelines.values() {
            let Some(s) = &p.spec.schedule else { continue };
            if let Err(e) = crons.entry(&s.cron).or_insert_with(|| check_cron(&s.cron)) {
                diags.push(
                    Diagnostic::error(codes::CRON, &p.at("spec/schedule/cron"), format!("invalid cron `{}`: {e}", s.cron))
                        .help("use 5 fields: minute hour day-of-month month day-of-week, e.g. `0 2 * * *` for 02:00 daily"),
                );
            }
            if let Some(tz) = &s.timezone
                && tz.parse::<chrono_tz::Tz>().is_err()
            {
                let names: Vec<String> = chrono_tz::TZ_VARIANTS
                    .iter()
                    .map(|z| z.name().to_string())
                    .collect();
                let hint = crate::model::schema::closest(tz, &names)
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                diags.push(
                    Diagnostic::error(
                        codes::TIMEZONE,
                        &p.at("spec/schedule/timezone"),
                        format!("unknown timezone `{tz}`"),
                    )
                    .help(format!(
                        "{hint}use an IANA name such as `UTC`, `Asia/Shanghai` or `Europe/Berlin`"
                    )),
                );
            }
            if let Some(d) = &s.start_from
                && parse_date(d).is_none()
            {
                diags.push(bad_date(d, p.at("spec/schedule/startFrom")));
            }
        }
        for r in project.runs.values() {
            if let Some(d) = &r.spec.date
                && parse_date(d).is_none()
            {
                diags.push(bad_date(d, r.at("spec/date")));
            }
            if let Some(range) = &r.spec.execution_dates {
                match (parse_date(&range.from), parse_date(&range.to)) {
                    (None, _) => {
                        diags.push(bad_date(&range.from, r.at("spec/executionDates/from")))
                    }
                    (_, None) => diags.push(bad_date(&range.to, r.at("spec/executionDates/to"))),
                    (Some(from), Some(to)) if from > to => diags.push(
                        Diagnostic::error(
                            codes::DATES,
                            &r.at("spec/executionDates/to"),
                            format!("execution dates end ({to}) before they start ({from})"),
                        )
                        .help("swap `from` and `to`"),
                    ),
                    (Some(from), Some(to)) if (to - from).num_days() >= MAX_RUN_DAYS => diags.push(
                        Diagnostic::error(
                            codes::DATES,
                            &r.at("spec/executionDates/to"),
                            format!(
                                "backfill of {} days is longer than {MAX_RUN_DAYS}",
                                (to - from).num_days() + 1
                            ),
                        )
                        .help("split it into several Runs"),
                    ),
                    _ => {}
                }
            }
        }
    }
}

/// Expressions [`parse_cron`] keeps parsed: croner fills the omitted year field bit by bit over
/// 5,000 years, and the run controller parses every pipeline's schedule on every pass. Most
/// pipelines share a few expressions; past this many distinct ones the memo starts afresh.
const PARSED_KEPT: usize = 1024;

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    static PARSED: std::sync::Mutex<Option<std::collections::HashMap<String, croner::Cron>>> =
        std::sync::Mutex::new(None);
    let memo = || PARSED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(cron) = memo().as_ref().and_then(|m| m.get(expr)) {
        return Ok(cron.clone());
    }
    let cron = parse_cron_uncached(expr)?;
    let mut memo = memo();
    let parsed = memo.get_or_insert_with(Default::default);
    if parsed.len() >= PARSED_KEPT {
        parsed.clear();
    }
    parsed.insert(expr.to_string(), cron.clone());
    Ok(cron)
}

/// [`parse_cron`] without the memo.
fn parse_cron_uncached(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(format!("it has {fields} fields, cron needs exactly 5"));
    }
    expr.parse::<croner::Cron>().map_err(|e| {
        // Name the first field that is wrong on its own.
        const FIELDS: [(&str, &str); 5] = [
            ("minute", "0-59"),
            ("hour", "0-23"),
            ("day-of-month", "1-31"),
            ("month", "1-12 or JAN-DEC"),
            ("day-of-week", "0-6 or SUN-SAT"),
        ];
        let parts: Vec<&str> = expr.split_whitespace().collect();
        (0..5)
            .find(|&i| {
                let probe: Vec<&str> = (0..5)
                    .map(|j| if j == i { parts[j] } else { "*" })
                    .collect();
                probe.join(" ").parse::<croner::Cron>().is_err()
            })
            .map(|i| {
                format!(
                    "the {} field `{}` is invalid (allowed: {})",
                    FIELDS[i].0, parts[i], FIELDS[i].1
                )
            })
            .unwrap_or_else(|| e.to_string())
    })
}

/// The verdict of [`parse_cron`], faster: croner fills an omitted year field (`*`) bit by bit over
/// 5000 years, so the check parses the 7-field form with a short year range instead. Only a
/// failure is confirmed (and explained) by [`parse_cron`]; the year field cannot make a valid
/// expression invalid or the reverse.
fn check_cron(expr: &str) -> Result<(), String> {
    if expr.split_whitespace().count() == 5
        && format!("0 {} 2000-2099", expr.trim())
            .parse::<croner::Cron>()
            .is_ok()
    {
        return Ok(());
    }
    parse_cron(expr).map(|_| ())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn bad_date(d: &str, at: crate::diag::Location) -> Diagnostic {
    Diagnostic::error(codes::DATES, &at, format!("`{d}` is not a valid date"))
        .help("write dates as YYYY-MM-DD, e.g. 2026-11-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_cron_check_agrees_with_parse_cron() {
        for expr in [
            "0 2 * * *",
            "*/15 0-6 1,15 JAN-MAR MON-FRI",
            "0 25 * * *",
            "0 0 31 2 *",
            "@daily",
            "0 0 * * 8",
            "0 0 L * *",
            "0 0 * * 5#2",
            "0 0 ? * *",
            "x y z a b",
            "",
        ] {
            assert_eq!(check_cron(expr).is_ok(), parse_cron(expr).is_ok(), "{expr}");
        }
    }

    /// The memo gives what parsing gives, for an expression seen again and after it fills up.
    #[test]
    fn a_kept_expression_is_the_parsed_one() {
        use chrono::TimeZone;
        let start = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let fires = |c: &croner::Cron| -> Vec<_> {
            c.iter_from(start, croner::Direction::Forward)
                .take(5)
                .collect()
        };
        let exprs: Vec<String> = (0..PARSED_KEPT + 10)
            .map(|i| format!("{} {} * * *", i % 60, (i / 60) % 24))
            .collect();
        for round in 0..2 {
            for expr in exprs.iter().step_by(97).chain([&exprs[0]]) {
                let kept = parse_cron(expr).unwrap();
                let fresh = parse_cron_uncached(expr).unwrap();
                assert_eq!(kept.as_str(), fresh.as_str(), "{expr} round {round}");
                assert_eq!(fires(&kept), fires(&fresh), "{expr} round {round}");
            }
            for expr in &exprs {
                parse_cron(expr).unwrap();
            }
        }
        assert!(parse_cron("0 25 * * *").is_err());
    }

    #[test]
    fn cron_errors_name_the_field() {
        assert!(parse_cron("0 2 * * *").is_ok());
        assert!(parse_cron("*/15 0-6 1,15 JAN-MAR MON-FRI").is_ok());
        assert!(
            parse_cron("0 25 * * *")
                .unwrap_err()
                .contains("hour field `25`")
        );
        assert!(
            parse_cron("0 0 32 * *")
                .unwrap_err()
                .contains("day-of-month field `32`")
        );
        assert!(
            parse_cron("0 0 * 13 *")
                .unwrap_err()
                .contains("month field `13`")
        );
        assert!(
            parse_cron("61 0 * * *")
                .unwrap_err()
                .contains("minute field `61`")
        );
        assert!(parse_cron("0 0 * * *  *").unwrap_err().contains("6 fields"));
    }
}
