//! Which executions are due: a schedule's, from its catch-up origin (or what is settled) up to
//! now, and a `Run` manifest's, from the dates it names. Render and the controller both use
//! these, so a Workflow's execution is the same whoever computes it.

use super::dates::{Cadence, Execution};
use crate::model::checks::schedule::parse_date;
use crate::model::kinds::{RunSpec, Schedule};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

/// Most executions one pass enumerates per pipeline and cluster (scheduled catch-up, or one
/// `Run` manifest's dates); when a schedule has more due, the newest wait for a later pass
/// and the status says so.
pub const MAX_EXECUTIONS: usize = 1000;

/// Where catch-up starts: midnight of `startFrom` in the schedule's timezone, else when the
/// pipeline was first seen scheduled (`since`), so a schedule without `startFrom` never
/// catches up on the past.
pub fn origin(cadence: &Cadence, s: &Schedule, since: DateTime<Utc>) -> DateTime<Utc> {
    s.start_from
        .as_deref()
        .and_then(parse_date)
        .map_or(since, |d| cadence.start_of(d))
}

/// The scheduled executions due at `now`: after `settled` (exclusive) or from `origin`
/// (inclusive), oldest first, at most [`MAX_EXECUTIONS`]; `true` when more were due.
pub fn due(
    cadence: &Cadence,
    origin: DateTime<Utc>,
    settled: Option<DateTime<FixedOffset>>,
    now: DateTime<Utc>,
) -> (Vec<Execution>, bool) {
    let from = settled
        .map(|s| s.with_timezone(&Utc) + Duration::seconds(1))
        .map_or(origin, |s| s.max(origin));
    let mut got = cadence.between(from, now, MAX_EXECUTIONS + 1);
    let capped = got.len() > MAX_EXECUTIONS;
    got.truncate(MAX_EXECUTIONS);
    (got, capped)
}

/// The last answer of [`due`] for one pipeline, given again while asked the same: the
/// clusters of one pass usually ask alike, and enumerating a cron is the costly part.
#[derive(Debug, Clone, Default)]
pub struct DueMemo(std::cell::RefCell<Option<(DueAsk, DueAnswer)>>);

/// What [`due`] was asked: origin, settled, now.
type DueAsk = (DateTime<Utc>, Option<DateTime<FixedOffset>>, DateTime<Utc>);
/// What [`due`] answered.
type DueAnswer = (Vec<Execution>, bool);

impl DueMemo {
    /// [`due`], from the memo when asked as last time.
    pub fn due(
        &self,
        cadence: &Cadence,
        origin: DateTime<Utc>,
        settled: Option<DateTime<FixedOffset>>,
        now: DateTime<Utc>,
    ) -> (Vec<Execution>, bool) {
        let ask = (origin, settled, now);
        if let Some((last, answer)) = &*self.0.borrow()
            && *last == ask
        {
            return answer.clone();
        }
        let answer = due(cadence, origin, settled, now);
        *self.0.borrow_mut() = Some((ask, answer.clone()));
        answer
    }
}

/// The executions a `Run` manifest asks for, oldest first: with a schedule, every execution
/// of the schedule on each date it names (midnight in the schedule's timezone on a date the
/// schedule does not fire); without one, midnight UTC of each date. At most
/// [`MAX_EXECUTIONS`].
pub fn run_executions(cadence: Option<&Cadence>, run: &RunSpec) -> Vec<Execution> {
    let mut out = Vec::new();
    for date in run_dates(run) {
        if out.len() >= MAX_EXECUTIONS {
            break;
        }
        let Some(c) = cadence else {
            let at = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            out.push(Execution {
                at: at.fixed_offset(),
            });
            continue;
        };
        let start = c.start_of(date);
        let end = date
            .succ_opt()
            .map_or(start + Duration::days(1), |next| c.start_of(next))
            - Duration::seconds(1);
        let fired = c.between(start, end, MAX_EXECUTIONS - out.len());
        if fired.is_empty() {
            let at = start.with_timezone(&c.timezone()).fixed_offset();
            out.push(Execution { at });
        }
        out.extend(fired);
    }
    out
}

/// The dates a `Run` names (`date`, or every date of `executionDates`), oldest first; none when
/// they do not parse (validation reports that).
pub fn run_dates(run: &RunSpec) -> Vec<NaiveDate> {
    if let Some(d) = &run.date {
        return parse_date(d).into_iter().collect();
    }
    let Some(range) = &run.execution_dates else {
        return Vec::new();
    };
    let (Some(from), Some(to)) = (parse_date(&range.from), parse_date(&range.to)) else {
        return Vec::new();
    };
    from.iter_days()
        .take_while(|d| *d <= to)
        .take(MAX_EXECUTIONS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds::DateRange;

    fn schedule(cron: &str, tz: &str, start_from: Option<&str>) -> Schedule {
        Schedule {
            cron: cron.into(),
            timezone: Some(tz.into()),
            start_from: start_from.map(Into::into),
            concurrency: None,
            depends_on_past: false,
            keep_last: None,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn run(date: Option<&str>, range: Option<(&str, &str)>) -> RunSpec {
        RunSpec {
            pipeline: "p".into(),
            date: date.map(Into::into),
            execution_dates: range.map(|(f, t)| DateRange {
                from: f.into(),
                to: t.into(),
            }),
            args: Default::default(),
        }
    }

    #[test]
    fn the_memo_answers_as_due_and_asks_again_when_asked_otherwise() {
        let s = schedule("0 2 * * *", "Asia/Shanghai", Some("2026-11-29"));
        let c = Cadence::new(&s).unwrap();
        let memo = DueMemo::default();
        let o = utc("2026-11-28T16:00:00Z");
        let (early, late) = (utc("2026-12-01T19:00:00Z"), utc("2026-12-03T19:00:00Z"));
        assert_eq!(memo.due(&c, o, None, early), due(&c, o, None, early));
        assert_eq!(memo.due(&c, o, None, early).0.len(), 4, "asked again alike");
        assert_eq!(memo.due(&c, o, None, late), due(&c, o, None, late));
        assert_eq!(memo.due(&c, o, None, late).0.len(), 6, "a later now");
        let settled = Some(due(&c, o, None, early).0[1].at);
        assert_eq!(memo.due(&c, o, settled, late), due(&c, o, settled, late));
        assert_eq!(
            memo.due(&c, o, settled, late).0.len(),
            4,
            "settled through the second"
        );
    }

    #[test]
    fn start_from_catches_up_and_since_does_not() {
        let s = schedule("0 2 * * *", "Asia/Shanghai", Some("2026-11-29"));
        let c = Cadence::new(&s).unwrap();
        let now = utc("2026-12-01T19:00:00Z");
        let o = origin(&c, &s, utc("2026-12-01T00:00:00Z"));
        assert_eq!(o, utc("2026-11-28T16:00:00Z"), "midnight in Shanghai");
        let (got, capped) = due(&c, o, None, now);
        assert_eq!(
            got.len(),
            4,
            "11-29, 11-30, 12-01, 12-02 (02:00 Shanghai is 18:00Z)"
        );
        assert!(!capped);
        // Settled through 11-30: only what comes after.
        let (after, _) = due(&c, o, Some(got[1].at), now);
        assert_eq!(after, got[2..]);
        // Without startFrom: from when it was first seen.
        let plain = schedule("0 2 * * *", "Asia/Shanghai", None);
        let o = origin(&c, &plain, utc("2026-12-01T12:00:00Z"));
        let (got, _) = due(&c, o, None, now);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].date().to_string(), "2026-12-02");
    }

    #[test]
    fn catch_up_is_capped_and_says_so() {
        let s = schedule("* * * * *", "UTC", Some("2026-01-01"));
        let c = Cadence::new(&s).unwrap();
        let (got, capped) = due(
            &c,
            origin(&c, &s, Utc::now()),
            None,
            utc("2026-02-01T00:00:00Z"),
        );
        assert_eq!(got.len(), MAX_EXECUTIONS);
        assert!(capped);
        assert_eq!(
            got[0].at.to_rfc3339(),
            "2026-01-01T00:00:00+00:00",
            "oldest kept"
        );
    }

    #[test]
    fn run_dates_map_to_the_schedules_executions() {
        let s = schedule("0 2 * * *", "Asia/Shanghai", None);
        let c = Cadence::new(&s).unwrap();
        let got = run_executions(Some(&c), &run(None, Some(("2026-11-01", "2026-11-03"))));
        let at: Vec<String> = got.iter().map(|e| e.at.to_rfc3339()).collect();
        assert_eq!(
            at,
            [
                "2026-11-01T02:00:00+08:00",
                "2026-11-02T02:00:00+08:00",
                "2026-11-03T02:00:00+08:00"
            ]
        );
        // Sub-daily: every execution of the date.
        let hourly = Cadence::new(&schedule("0 */6 * * *", "UTC", None)).unwrap();
        assert_eq!(
            run_executions(Some(&hourly), &run(Some("2026-11-01"), None)).len(),
            4
        );
        // A weekly schedule on a day it does not fire: midnight in its timezone.
        let weekly = Cadence::new(&schedule("0 4 * * 6", "Asia/Shanghai", None)).unwrap();
        let got = run_executions(Some(&weekly), &run(Some("2026-11-02"), None));
        assert_eq!(got[0].at.to_rfc3339(), "2026-11-02T00:00:00+08:00");
        // No schedule: midnight UTC.
        let got = run_executions(None, &run(Some("2026-11-20"), None));
        assert_eq!(got[0].at.to_rfc3339(), "2026-11-20T00:00:00+00:00");
        // Hostile: unparsable or reversed dates make nothing; a huge range is capped.
        assert!(run_executions(None, &run(Some("2026-13-01"), None)).is_empty());
        assert!(run_executions(None, &run(None, Some(("2026-11-03", "2026-11-01")))).is_empty());
        let huge = run_executions(
            Some(&hourly),
            &run(None, Some(("1000-01-01", "9999-12-31"))),
        );
        assert_eq!(huge.len(), MAX_EXECUTIONS);
    }
}
