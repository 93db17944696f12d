//! Fire times of a cron that fires at the same times on every day (`30 2 * * *`, `0 */6 * * *`),
//! the schedule of most pipelines, without croner's search. Croner finds each fire time by
//! walking the fields from the one before, which was more than a third of the run controller's
//! time in a first reconcile of 500 projects (35 days of catch-up for each of 2,000
//! pipelines). For such a cron, the fire times of a day are its times of day, each once, on
//! the day's local calendar.
//!
//! That holds only where each time of day happens exactly once. A day where one of them falls
//! into a daylight-saving gap or fold, the day a range starts (its start can be mid-day, with
//! sub-seconds), and a day whose start cannot be told are asked of croner, which keeps its
//! rules for those (see [`super::dates`]). A date the zone skipped fires nothing, and the
//! days after it fire as usual (croner's own iterator ends there). A test holds the two to
//! the same answers over years of daylight-saving changes in zones that have odd ones.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The times of day (sorted) at which `cron` fires on every day, or `None` when it does not
/// fire on every day at the same times (a restricted day, month or weekday field, `L`, `W` or
/// `#`, seconds other than 0).
pub(super) fn times_of_day(cron: &croner::Cron) -> Option<Vec<NaiveTime>> {
    let p = &cron.pattern;
    // A field's values, whether it uses a modifier, and whether it holds all of lo..=hi.
    let every = |(values, modifiers): (Vec<u16>, bool), lo: u16, hi: u16| {
        !modifiers && (lo..=hi).all(|v| values.contains(&v))
    };
    let plain_seconds = p.seconds.values() == [0] && !p.seconds.has_modifiers();
    if !(plain_seconds
        && every((p.days.values(), p.days.has_modifiers()), 1, 31)
        && every((p.months.values(), p.months.has_modifiers()), 1, 12)
        && every(
            (p.days_of_week.values(), p.days_of_week.has_modifiers()),
            0,
            6,
        ))
    {
        return None;
    }
    let (hours, minutes) = (p.hours.values(), p.minutes.values());
    let mut times = Vec::with_capacity(hours.len() * minutes.len());
    for h in &hours {
        for m in &minutes {
            times.push(NaiveTime::from_hms_opt(u32::from(*h), u32::from(*m), 0)?);
        }
    }
    times.sort();
    (!times.is_empty()).then_some(times)
}

/// The first moment of `date` in `tz`: local midnight, or the first minute after it that
/// exists when a daylight-saving gap swallows midnight, or the next day's start when the zone
/// skipped the whole date (Pacific/Apia, 2011-12-30); `None` when nothing exists within two
/// days.
pub(super) fn day_start(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    (0..2 * 24 * 60).find_map(|m| {
        tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The fire times on `date` at `times` of day when each happens exactly once in `tz`; `None`
/// when one falls into a gap or a fold.
fn plain_day(tz: Tz, date: NaiveDate, times: &[NaiveTime]) -> Option<Vec<DateTime<Tz>>> {
    times
        .iter()
        .map(|t| match tz.from_local_datetime(&date.and_time(*t)) {
            LocalResult::Single(at) => Some(at),
            _ => None,
        })
        .collect()
}

/// Every fire time with `from <= at <= to`, oldest first, at most `limit`: day by day, from
/// `times` where the day allows, from `croner` (`walk(start, end)`: its fire times from `start`
/// up to `end`, excluded, or to the end of the range) where it does not.
pub(super) fn between(
    tz: Tz,
    times: &[NaiveTime],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: usize,
    walk: impl Fn(DateTime<Utc>, Option<DateTime<Utc>>, usize) -> Vec<DateTime<Tz>>,
) -> Vec<DateTime<Tz>> {
    let mut out: Vec<DateTime<Tz>> = Vec::new();
    let mut date = from.with_timezone(&tz).date_naive();
    let mut start = from;
    let mut first = true;
    while out.len() < limit && start <= to {
        let end = date.succ_opt().and_then(|next| day_start(tz, next));
        let Some(end) = end else {
            // Where the next day starts is not known: croner walks the rest.
            out.extend(walk(start, None, limit - out.len()));
            break;
        };
        if end <= start {
            // A date the zone skipped: nothing fires on it.
            date = date.succ_opt().expect("checked above");
            continue;
        }
        let fired = match plain_day(tz, date, times).filter(|_| !first) {
            Some(fired) => fired,
            None => walk(start, Some(end), limit - out.len()),
        };
        for at in fired {
            if at.with_timezone(&Utc) > to || out.len() == limit {
                return out;
            }
            out.push(at);
        }
        (start, date, first) = (end, date.succ_opt().expect("checked above"), false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::dates::Cadence;

    /// Croner's answer alone, as `Cadence::between` was before the walk by day.
    fn croner_between(
        cron: &str,
        tz: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        n: usize,
    ) -> Vec<String> {
        let cron = crate::model::checks::schedule::parse_cron(cron).unwrap();
        cron.iter_from(from.with_timezone(&tz), croner::Direction::Forward)
            .take_while(|t| t.with_timezone(&Utc) <= to)
            .take(n)
            .map(|t| t.fixed_offset().to_rfc3339())
            .collect()
    }

    #[test]
    fn only_crons_of_every_day_have_times_of_day() {
        let times = |cron: &str| {
            times_of_day(&crate::model::checks::schedule::parse_cron(cron).unwrap()).map(|t| {
                t.iter()
                    .map(|t| t.format("%H:%M").to_string())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(times("30 2 * * *").unwrap(), ["02:30"]);
        assert_eq!(times("0 */8 * * *").unwrap(), ["00:00", "08:00", "16:00"]);
        assert_eq!(times("15,45 1 1-31 * 0-6").unwrap(), ["01:15", "01:45"]);
        for restricted in [
            "0 2 * * 1-5",
            "0 2 1 * *",
            "0 2 * 1-6 *",
            "0 2 L * *",
            "0 2 * * 5L",
            "0 2 1-31 * 1",
            "0 2 29 2 *",
        ] {
            assert_eq!(times(restricted), None, "{restricted}");
        }
    }

    /// The walk by day gives croner's answer, over ranges that start mid-day with sub-seconds,
    /// end anywhere, and cross daylight-saving changes of zones with odd ones: 30-minute
    /// shifts (Lord Howe), changes at midnight (Santiago, Havana, Beirut), a skipped day
    /// (Apia, 2011-12-30), a 2-hour shift (Troll).
    #[test]
    fn the_walk_by_day_gives_croners_answer() {
        let zones = [
            "UTC",
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "America/Santiago",
            "America/Havana",
            "Asia/Beirut",
            "Pacific/Apia",
            "Antarctica/Troll",
            "Asia/Shanghai",
        ];
        let crons = [
            "0 0 * * *",
            "30 2 * * *",
            "30 1 * * *",
            "59 23 * * *",
            "0 */6 * * *",
            "15,45 0-3 * * *",
            "*/20 1-2 * * *",
            "0 0 1-31 * 0-6",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut compared = 0;
        for zone in zones {
            let tz: Tz = zone.parse().unwrap();
            for cron in crons {
                for case in 0..8 {
                    // Around a change (March, April, October, November, September, December
                    // of 2011 for Apia) or anywhere in 2010-2030.
                    let from = if case < 5 {
                        let year = if zone == "Pacific/Apia" {
                            2011
                        } else {
                            2010 + next(20) as i32
                        };
                        let month = [3, 4, 9, 10, 11, 12][next(6) as usize];
                        NaiveDate::from_ymd_opt(year, month, 1 + next(28) as u32).unwrap()
                    } else {
                        NaiveDate::from_ymd_opt(
                            2010 + next(20) as i32,
                            1 + next(12) as u32,
                            1 + next(28) as u32,
                        )
                        .unwrap()
                    };
                    let from = from.and_hms_opt(0, 0, 0).unwrap().and_utc()
                        + chrono::Duration::seconds(next(86_400) as i64)
                        + chrono::Duration::nanoseconds(
                            next(2) as i64 * next(1_000_000_000) as i64,
                        );
                    let to = from + chrono::Duration::minutes(next(40 * 24 * 60) as i64);
                    let limit = [1, 7, 1000][next(3) as usize];
                    let skipped: DateTime<Utc> = "2011-12-30T10:00:00Z".parse().unwrap();
                    if zone == "Pacific/Apia"
                        && from <= skipped
                        && to >= skipped - chrono::Duration::days(1)
                    {
                        continue; // croner stops there (see the test below)
                    }
                    let want = croner_between(cron, tz, from, to, limit);
                    let got: Vec<String> = Cadence::of(cron, zone)
                        .between(from, to, limit)
                        .iter()
                        .map(|e| e.at.to_rfc3339())
                        .collect();
                    assert_eq!(
                        got, want,
                        "{cron} in {zone} from {from} to {to}, limit {limit}"
                    );
                    compared += got.len();
                }
            }
        }
        assert!(compared > 10_000, "{compared} fire times compared");
    }

    /// Apia skipped 2011-12-30: nothing fires on it, and the days after fire as usual.
    /// Croner's iterator ends at the skipped date (its answer stops at 2011-12-29), so the
    /// comparison with croner above leaves ranges across it out.
    #[test]
    fn apia_skips_a_day_and_the_days_after_fire() {
        let from = "2011-12-28T00:00:00Z".parse().unwrap();
        let to = "2012-01-02T00:00:00Z".parse().unwrap();
        let got: Vec<String> = Cadence::of("0 12 * * *", "Pacific/Apia")
            .between(from, to, 100)
            .iter()
            .map(|e| e.at.to_rfc3339())
            .collect();
        assert_eq!(
            got,
            [
                "2011-12-28T12:00:00-10:00",
                "2011-12-29T12:00:00-10:00",
                "2011-12-31T12:00:00+14:00",
                "2012-01-01T12:00:00+14:00",
                "2012-01-02T12:00:00+14:00",
            ]
        );
    }

    /// A `startFrom` on the date Apia skipped starts where the next date does, instead of
    /// stopping the run controller (it panicked: no local time within three hours of midnight).
    #[test]
    fn a_skipped_date_starts_with_the_next_one() {
        let c = Cadence::of("0 12 * * *", "Pacific/Apia");
        let start = c.start_of(NaiveDate::from_ymd_opt(2011, 12, 30).unwrap());
        assert_eq!(start.to_rfc3339(), "2011-12-30T10:00:00+00:00"); // 2011-12-31T00:00+14:00
        let next = c.start_of(NaiveDate::from_ymd_opt(2011, 12, 31).unwrap());
        assert_eq!(start, next);
    }
}
