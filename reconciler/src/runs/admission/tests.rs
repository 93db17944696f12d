use super::*;
use crate::model::kinds::Schedule;
use crate::runs::dates::Cadence;
use chrono::Utc;

fn at(day: u32) -> At {
    DateTime::parse_from_rfc3339(&format!("2026-12-{day:02}T02:00:00+08:00")).unwrap()
}

fn days(r: std::ops::RangeInclusive<u32>) -> Vec<At> {
    r.map(at).collect()
}

fn known(day: u32, attempt: u32, origin: Origin, phase: RunPhase) -> Known {
    Known {
        execution: at(day),
        attempt,
        workflow: format!("p-202612{day:02}-{attempt}"),
        origin,
        phase,
    }
}

fn sched(day: u32, phase: RunPhase) -> Known {
    known(day, 1, Origin::Schedule, phase)
}

fn chain(concurrency: u32) -> Policy {
    Policy {
        concurrency,
        depends_on_past: true,
        keep_last: None,
    }
}

fn created(d: &Decision) -> Vec<(At, Origin, u32)> {
    d.create
        .iter()
        .map(|a| (a.execution, a.origin.clone(), a.attempt))
        .collect()
}

#[test]
fn catch_up_with_a_chain_starts_only_the_oldest() {
    let d = admit(&days(1..=5), &[], &[], &chain(1));
    assert_eq!(created(&d), [(at(1), Origin::Schedule, 1)]);
    assert_eq!(d.waiting, days(2..=5));
    assert_eq!(d.blocked, None);
    assert!(d.skip.is_empty());
    // Even with room for more, a chain starts one at a time.
    let d = admit(&days(1..=5), &[], &[], &chain(3));
    assert_eq!(d.create.len(), 1);
}

#[test]
fn success_releases_the_next_and_a_running_one_holds_it() {
    let running = [sched(1, RunPhase::Running)];
    let d = admit(&days(2..=5), &running, &[], &chain(1));
    assert!(d.create.is_empty());
    assert_eq!(d.waiting, days(2..=5));
    let done = [sched(1, RunPhase::Succeeded)];
    let d = admit(&days(2..=5), &done, &[], &chain(1));
    assert_eq!(created(&d), [(at(2), Origin::Schedule, 1)]);
    // Created and not yet started (Pending, or no phase yet) holds the slot: no duplicate.
    let d = admit(
        &days(2..=5),
        &[sched(1, RunPhase::Succeeded), sched(2, RunPhase::Unknown)],
        &[],
        &chain(1),
    );
    assert!(d.create.is_empty(), "{d:?}");
}

#[test]
fn a_failure_blocks_the_chain_and_names_the_run() {
    let k = [sched(1, RunPhase::Succeeded), sched(2, RunPhase::Failed)];
    let d = admit(&days(3..=5), &k, &[], &chain(1));
    assert!(d.create.is_empty());
    assert_eq!(
        d.blocked.as_ref().map(|b| b.workflow.as_str()),
        Some("p-20261202-1")
    );
    assert_eq!(d.waiting, days(3..=5));
    // An Error blocks as well.
    let k = [sched(2, RunPhase::Error)];
    assert!(admit(&days(3..=3), &k, &[], &chain(1)).blocked.is_some());
    // Without dependsOnPast a failure blocks nothing.
    let free = Policy {
        depends_on_past: false,
        ..chain(1)
    };
    assert_eq!(admit(&days(3..=5), &k, &[], &free).create.len(), 1);
}

#[test]
fn a_run_re_running_the_failed_date_is_a_new_attempt_that_unblocks_the_chain() {
    let failed = sched(2, RunPhase::Failed);
    let rerun = Request {
        execution: at(2),
        run: "rerun-1202".into(),
    };
    // Blocked, yet the Run starts: it is the fix.
    let d = admit(
        &days(3..=5),
        std::slice::from_ref(&failed),
        std::slice::from_ref(&rerun),
        &chain(1),
    );
    assert_eq!(created(&d), [(at(2), Origin::Run("rerun-1202".into()), 2)]);
    assert!(
        d.blocked.is_none(),
        "the re-run is in flight: waiting, not blocked"
    );
    // While it runs the chain waits; when it succeeds the chain goes on.
    let attempt = known(2, 2, Origin::Run("rerun-1202".into()), RunPhase::Running);
    let d = admit(
        &days(3..=5),
        &[failed.clone(), attempt.clone()],
        std::slice::from_ref(&rerun),
        &chain(1),
    );
    assert!(d.create.is_empty());
    let ok = Known {
        phase: RunPhase::Succeeded,
        ..attempt.clone()
    };
    let d = admit(
        &days(3..=5),
        &[failed.clone(), ok],
        std::slice::from_ref(&rerun),
        &chain(1),
    );
    assert_eq!(created(&d), [(at(3), Origin::Schedule, 1)]);
    // A re-run that fails again keeps it blocked, now by the new attempt.
    let bad = Known {
        phase: RunPhase::Failed,
        ..attempt
    };
    let d = admit(&days(3..=5), &[failed, bad], &[rerun], &chain(1));
    assert_eq!(d.blocked.map(|b| b.attempt), Some(2));
}

#[test]
fn keep_last_skips_the_older_waiting_executions() {
    let p = Policy {
        keep_last: Some(2),
        ..Policy::default()
    };
    let d = admit(&days(1..=5), &[], &[], &p);
    assert_eq!(d.skip, days(1..=3));
    assert_eq!(created(&d), [(at(4), Origin::Schedule, 1)]);
    assert_eq!(d.waiting, [at(5)]);
    // Skipped executions do not hold a dependsOnPast chain.
    let p = Policy {
        keep_last: Some(2),
        ..chain(1)
    };
    let d = admit(&days(1..=5), &[], &[], &p);
    assert_eq!(d.skip.len(), 3);
    assert_eq!(created(&d), [(at(4), Origin::Schedule, 1)]);
    // Fewer waiting than N: nothing skipped.
    let p = Policy {
        keep_last: Some(9),
        ..Policy::default()
    };
    assert!(admit(&days(1..=5), &[], &[], &p).skip.is_empty());
}

#[test]
fn concurrency_counts_every_unfinished_run_whoever_asked() {
    let p = Policy {
        concurrency: 3,
        ..Policy::default()
    };
    let d = admit(&days(1..=5), &[], &[], &p);
    assert_eq!(
        d.create.iter().map(|a| a.execution).collect::<Vec<_>>(),
        days(1..=3)
    );
    let manual = known(20, 1, Origin::Run("m".into()), RunPhase::Running);
    let d = admit(&days(1..=5), &[manual], &[], &p);
    assert_eq!(d.create.len(), 2);
    // Run requests take slots first and wait like the others when there are none.
    let reqs = [
        Request {
            execution: at(9),
            run: "b".into(),
        },
        Request {
            execution: at(8),
            run: "a".into(),
        },
    ];
    let d = admit(&days(1..=2), &[], &reqs, &Policy::default());
    assert_eq!(created(&d), [(at(8), Origin::Run("a".into()), 1)]);
    assert_eq!(d.waiting_runs, [reqs[0].clone()]);
    assert_eq!(d.waiting, days(1..=2));
}

#[test]
fn known_runs_are_never_created_again() {
    // After a crash between creating and recording, the cluster's runs are known: no duplicate.
    let k = [
        sched(1, RunPhase::Succeeded),
        sched(2, RunPhase::Succeeded),
        sched(3, RunPhase::Pending),
    ];
    let d = admit(
        &days(1..=3),
        &k,
        &[],
        &Policy {
            concurrency: 5,
            ..Policy::default()
        },
    );
    assert!(d.create.is_empty() && d.waiting.is_empty(), "{d:?}");
    let req = Request {
        execution: at(1),
        run: "r".into(),
    };
    let done = known(1, 2, Origin::Run("r".into()), RunPhase::Succeeded);
    assert!(
        admit(&[], &[done], &[req], &Policy::default())
            .create
            .is_empty()
    );
}

#[test]
fn settled_through_stops_at_the_first_unfinished_or_chain_failure() {
    let order = days(1..=4);
    let mut latest = BTreeMap::new();
    latest.insert(at(1), RunPhase::Skipped);
    latest.insert(at(2), RunPhase::Failed);
    latest.insert(at(3), RunPhase::Succeeded);
    latest.insert(at(4), RunPhase::Running);
    assert_eq!(settled_through(&order, &latest, false), Some(at(3)));
    assert_eq!(settled_through(&order, &latest, true), Some(at(1)));
    assert_eq!(settled_through(&order[3..], &latest, false), None);
}

#[test]
fn new_york_dst_days_each_run_once_in_order() {
    let c = Cadence::new(&Schedule {
        cron: "30 2 * * *".into(),
        timezone: Some("America/New_York".into()),
        start_from: None,
        concurrency: None,
        depends_on_past: true,
        keep_last: None,
    })
    .unwrap();
    let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    for (from, to) in [
        ("2026-03-07T00:00:00Z", "2026-03-10T12:00:00Z"),
        ("2026-10-31T00:00:00Z", "2026-11-03T12:00:00Z"),
    ] {
        let due: Vec<At> = c
            .between(utc(from), utc(to), 100)
            .iter()
            .map(|e| e.at)
            .collect();
        let dates: BTreeSet<_> = due.iter().map(|a| a.date_naive()).collect();
        assert_eq!(dates.len(), due.len(), "one execution per date: {due:?}");
        let mut k = Vec::new();
        for (i, _) in due.iter().enumerate() {
            let d = admit(&due, &k, &[], &chain(1));
            assert_eq!(d.create.len(), 1, "pass {i}: {d:?}");
            assert_eq!(d.create[0].execution, due[i], "oldest first");
            k.push(Known {
                execution: due[i],
                attempt: 1,
                origin: Origin::Schedule,
                workflow: format!("w{i}"),
                phase: RunPhase::Succeeded,
            });
        }
        assert!(admit(&due, &k, &[], &chain(1)).create.is_empty());
    }
}
