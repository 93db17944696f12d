//! Execution times of a pipeline schedule: every cron fire time in the schedule's timezone, from
//! a start to a moment, correct across daylight-saving changes (croner follows Vixie cron: a
//! fixed-time job in a spring-forward gap runs right after the gap, once; on a fall-back day it
//! runs once).

use super::every_day;
use crate::model::checks::schedule::parse_cron;
use crate::model::kinds::Schedule;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use std::cell::RefCell;
use std::collections::HashMap;

/// One execution of a schedule: the fire time in the schedule's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Execution {
    /// Fire time, with the timezone's offset at that moment.
    pub at: DateTime<FixedOffset>,
}

impl Execution {
    /// The execution date (`{{execution_date}}`): the local calendar date of the fire time.
    pub fn date(&self) -> NaiveDate {
        self.at.date_naive()
    }

    /// The local time of day as `HHMM` (`{{execution_time}}` is `HH:MM`).
    pub fn hhmm(&self) -> String {
        self.at.format("%H%M").to_string()
    }
}

/// A parsed schedule: cron expression and timezone.
#[derive(Debug, Clone)]
pub struct Cadence {
    cron: croner::Cron,
    tz: Tz,
    /// See [`Cadence::sub_daily`].
    sub_daily: bool,
    /// The times of day when the cron fires on every day at the same times (see
    /// [`every_day`]).
    times: Option<Vec<NaiveTime>>,
}

/// True when `cron` names more than one time of day. The time fields of a cron do not depend
/// on the date, so such a cron fires more than once on every date it fires; one with a single
/// time of day fires once (croner runs a fixed-time job once on a daylight-saving change).
fn several_times_a_day(cron: &croner::Cron) -> bool {
    cron.pattern.minutes.values().len() * cron.pattern.hours.values().len() > 1
}

impl Cadence {
    /// Parses a pipeline schedule; validation has already accepted it, so an error here names
    /// the field to fix. A named choice: what each thread parsed is kept by expression and
    /// timezone (a few thousand at most), as every pass of the run controller parses the
    /// schedule of every pipeline again, most of them alike (about 13 ms of CPU per pass at
    /// 500 projects).
    pub fn new(s: &Schedule) -> Result<Cadence, String> {
        /// Most schedules a thread keeps; it starts over beyond.
        const KEPT: usize = 4096;
        type Parsed = HashMap<(String, Option<String>), Result<Cadence, String>>;
        thread_local!(static PARSED: RefCell<Parsed> = RefCell::default());
        let key = (s.cron.clone(), s.timezone.clone());
        if let Some(known) = PARSED.with_borrow(|p| p.get(&key).cloned()) {
            return known;
        }
        let parsed = Cadence::parse(s);
        PARSED.with_borrow_mut(|p| {
            if p.len() >= KEPT {
                p.clear();
            }
            p.insert(key, parsed.clone());
        });
        parsed
    }

    /// Parses a pipeline schedule (see [`Cadence::new`]).
    fn parse(s: &Schedule) -> Result<Cadence, String> {
        let cron = parse_cron(&s.cron)?;
        let tz = match &s.timezone {
            Some(t) => t
                .parse::<Tz>()
                .map_err(|_| format!("unknown timezone `{t}`"))?,
            None => Tz::UTC,
        };
        Ok(Cadence {
            sub_daily: several_times_a_day(&cron),
            times: every_day::times_of_day(&cron),
            cron,
            tz,
        })
    }

    /// The schedule's timezone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Whether the cron fires more than once on some day (then Workflow names carry the time).
    pub fn sub_daily(&self) -> bool {
        self.sub_daily
    }

    /// Every execution with `from <= at <= to`, oldest first, at most `limit` of them (the
    /// newest are cut; callers pass a limit and report when it was reached). A cron that fires
    /// at the same times on every day is walked by day (`runs::every_day`), others by croner.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: usize) -> Vec<Execution> {
        let fired = match &self.times {
            Some(times) => every_day::between(self.tz, times, from, to, limit, |start, end, n| {
                self.walk(start, |t| t <= to && end.is_none_or(|e| t < e), n)
            }),
            None => self.walk(from, |t| t <= to, limit),
        };
        fired
            .into_iter()
            .map(|t| Execution {
                at: t.fixed_offset(),
            })
            .collect()
    }

    /// Croner's fire times from `start` (included) while `within` holds, at most `n`.
    fn walk(
        &self,
        start: DateTime<Utc>,
        within: impl Fn(DateTime<Utc>) -> bool,
        n: usize,
    ) -> Vec<DateTime<Tz>> {
        self.cron
            .iter_from(start.with_timezone(&self.tz), croner::Direction::Forward)
            .take_while(|t| within(t.with_timezone(&Utc)))
            .take(n)
            .collect()
    }

    /// The next `n` executions strictly after `after`.
    pub fn next(&self, after: DateTime<Utc>, n: usize) -> Vec<Execution> {
        self.cron
            .iter_after(after.with_timezone(&self.tz))
            .take(n)
            .map(|t| Execution {
                at: t.fixed_offset(),
            })
            .collect()
    }

    /// Midnight of `date` in the schedule's timezone (the start of a `startFrom` date), the
    /// first moment after midnight when a DST gap swallows it, or the next date's start when
    /// the zone skipped `date` (see `runs::every_day::day_start`).
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        every_day::day_start(self.tz, date).expect("a local time within two days of any date")
    }
}

#[cfg(test)]
impl Cadence {
    /// The cadence of `cron` in timezone `tz`, for tests.
    pub(crate) fn of(cron: &str, tz: &str) -> Cadence {
        Cadence::try_of(cron, tz).unwrap()
    }

    /// [`Cadence::new`] of `cron` in timezone `tz`, for tests.
    pub(crate) fn try_of(cron: &str, tz: &str) -> Result<Cadence, String> {
        Cadence::new(&Schedule {
            cron: cron.into(),
            timezone: Some(tz.into()),
            start_from: None,
            concurrency: None,
            depends_on_past: false,
            keep_last: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cadence(cron: &str, tz: &str) -> Cadence {
        Cadence::of(cron, tz)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A schedule parsed again on the same thread is the one parsed first: same times, same
    /// timezone, and an error stays the same error; another timezone is another schedule.
    #[test]
    fn a_schedule_parsed_again_is_the_same() {
        let at = utc("2026-12-01T00:00:00Z");
        let times = |c: &Cadence| {
            let next = c.next(at, 5);
            (
                next.iter().map(|e| e.at.to_rfc3339()).collect::<Vec<_>>(),
                c.timezone(),
            )
        };
        let first = cadence("30 2 * * 1-5", "Europe/Paris");
        let again = cadence("30 2 * * 1-5", "Europe/Paris");
        assert_eq!(times(&first), times(&again));
        let other = cadence("30 2 * * 1-5", "Asia/Tokyo");
        assert_ne!(times(&first).0, times(&other).0);
        assert_eq!(other.timezone(), chrono_tz::Asia::Tokyo);
        let bad = Cadence::try_of;
        let (e1, e2) = (bad("61 * * * *", "UTC"), bad("61 * * * *", "UTC"));
        assert_eq!(e1.unwrap_err(), e2.unwrap_err());
        let zone = bad("30 2 * * 1-5", "Not/AZone").unwrap_err();
        assert!(zone.contains("Not/AZone"), "{zone}");
    }

    #[test]
    fn daily_in_shanghai_from_start_date() {
        let c = cadence("0 2 * * *", "Asia/Shanghai");
        let from = c.start_of(NaiveDate::from_ymd_opt(2026, 11, 29).unwrap());
        let got = c.between(from, utc("2026-12-01T17:00:00Z"), 100);
        let at: Vec<String> = got.iter().map(|e| e.at.to_rfc3339()).collect();
        assert_eq!(
            at,
            [
                "2026-11-29T02:00:00+08:00",
                "2026-11-30T02:00:00+08:00",
                "2026-12-01T02:00:00+08:00",
            ]
        );
        assert_eq!(got[2].date().to_string(), "2026-12-01");
        assert!(!c.sub_daily());
    }

    #[test]
    fn new_york_spring_forward_runs_once_after_the_gap() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist that day.
        let c = cadence("30 2 * * *", "America/New_York");
        let got = c.between(
            utc("2026-03-07T00:00:00Z"),
            utc("2026-03-10T00:00:00Z"),
            100,
        );
        let at: Vec<String> = got.iter().map(|e| e.at.to_rfc3339()).collect();
        assert_eq!(at.len(), 3, "{at:?}");
        assert_eq!(at[0], "2026-03-07T02:30:00-05:00");
        assert_eq!(got[1].date().to_string(), "2026-03-08");
        assert!(at[1].ends_with("-04:00"), "{at:?}");
        assert_eq!(at[2], "2026-03-09T02:30:00-04:00");
    }

    #[test]
    fn new_york_fall_back_runs_once() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        let c = cadence("30 1 * * *", "America/New_York");
        let got = c.between(
            utc("2026-10-31T00:00:00Z"),
            utc("2026-11-03T00:00:00Z"),
            100,
        );
        let dates: Vec<String> = got.iter().map(|e| e.date().to_string()).collect();
        assert_eq!(dates, ["2026-10-31", "2026-11-01", "2026-11-02"]);
    }

    #[test]
    fn sub_daily_is_whether_some_date_has_two_fire_times() {
        // What "sub-daily" means, walked: two fire times on one local date among the first
        // days a cron fires in a year with a daylight-saving change.
        let walked = |c: &Cadence| {
            let start = utc("2026-01-01T00:00:00Z");
            let dates: Vec<NaiveDate> = c.next(start, 400).iter().map(|e| e.date()).collect();
            dates.windows(2).any(|w| w[0] == w[1])
        };
        for (cron, tz) in [
            ("0 2 * * *", "UTC"),
            ("30 1 * * *", "America/New_York"),
            ("30 2 * * *", "America/New_York"),
            ("0 0 1 * *", "Europe/Berlin"),
            ("15 4 * * MON-FRI", "Asia/Shanghai"),
            ("0 * * * *", "UTC"),
            ("0 */6 * * *", "America/New_York"),
            ("0,30 9 * * *", "UTC"),
            ("0 9,17 * * 1-5", "Europe/Berlin"),
            ("*/15 0-6 1,15 JAN-MAR MON-FRI", "UTC"),
            ("0 0 29 2 *", "UTC"),
        ] {
            let c = cadence(cron, tz);
            assert_eq!(c.sub_daily(), walked(&c), "{cron} in {tz}");
        }
    }

    #[test]
    fn hourly_is_sub_daily_and_limit_cuts() {
        let c = cadence("0 * * * *", "UTC");
        assert!(c.sub_daily());
        let got = c.between(utc("2026-12-01T00:00:00Z"), utc("2026-12-02T00:00:00Z"), 5);
        assert_eq!(got.len(), 5);
        assert_eq!(got[4].hhmm(), "0400");
        let next = c.next(utc("2026-12-01T00:00:00Z"), 2);
        assert_eq!(next[0].at.to_rfc3339(), "2026-12-01T01:00:00+00:00");
    }
}
