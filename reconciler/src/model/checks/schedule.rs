//! Schedules and dates: 5-field cron, IANA timezones, execution dates of runs.

use crate::diag::{Diagnostic, codes};
use crate::model::Model;
use chrono::NaiveDate;

/// Longest backfill one Run may ask for, in days.
pub const MAX_RUN_DAYS: i64 = 366;

pub(super) fn check(model: &Model, diags: &mut Vec<Diagnostic>) {
    for project in model.projects.values() {
        for p in project.pipelines.values() {
            let Some(s) = &p.spec.schedule else { continue };
            if let Err(e) = parse_cron(&s.cron) {
                diags.push(
                    Diagnostic::error(codes::CRON, &p.at("spec/schedule/cron"), format!("invalid cron `{}`: {e}", s.cron))
                        .help("use 5 fields: minute hour day-of-month month day-of-week, e.g. `0 2 * * *` for 02:00 daily"),
                );
            }
            if let Some(tz) = &s.timezone
                && tz.parse::<chrono_tz::Tz>().is_err()
            {
                let names: Vec<String> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name().to_string()).collect();
                let hint = crate::model::schema::closest(tz, &names).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
                diags.push(
                    Diagnostic::error(codes::TIMEZONE, &p.at("spec/schedule/timezone"), format!("unknown timezone `{tz}`"))
                        .help(format!("{hint}use an IANA name such as `UTC`, `Asia/Shanghai` or `Europe/Berlin`")),
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
                    (None, _) => diags.push(bad_date(&range.from, r.at("spec/executionDates/from"))),
                    (_, None) => diags.push(bad_date(&range.to, r.at("spec/executionDates/to"))),
                    (Some(from), Some(to)) if from > to => diags.push(
                        Diagnostic::error(codes::DATES, &r.at("spec/executionDates/to"), format!("execution dates end ({to}) before they start ({from})"))
                            .help("swap `from` and `to`"),
                    ),
                    (Some(from), Some(to)) if (to - from).num_days() >= MAX_RUN_DAYS => diags.push(
                        Diagnostic::error(codes::DATES, &r.at("spec/executionDates/to"), format!("backfill of {} days is longer than {MAX_RUN_DAYS}", (to - from).num_days() + 1))
                            .help("split it into several Runs"),
                    ),
                    _ => {}
                }
            }
        }
    }
}

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(format!("it has {fields} fields, cron needs exactly 5"));
    }
    expr.parse::<croner::Cron>().map_err(|e| {
        // Name the first field that is wrong on its own.
        const FIELDS: [(&str, &str); 5] =
            [("minute", "0-59"), ("hour", "0-23"), ("day-of-month", "1-31"), ("month", "1-12 or JAN-DEC"), ("day-of-week", "0-6 or SUN-SAT")];
        let parts: Vec<&str> = expr.split_whitespace().collect();
        (0..5)
            .find(|&i| {
                let probe: Vec<&str> = (0..5).map(|j| if j == i { parts[j] } else { "*" }).collect();
                probe.join(" ").parse::<croner::Cron>().is_err()
            })
            .map(|i| format!("the {} field `{}` is invalid (allowed: {})", FIELDS[i].0, parts[i], FIELDS[i].1))
            .unwrap_or_else(|| e.to_string())
    })
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn bad_date(d: &str, at: crate::diag::Location) -> Diagnostic {
    Diagnostic::error(codes::DATES, &at, format!("`{d}` is not a valid date")).help("write dates as YYYY-MM-DD, e.g. 2026-11-01")
}
