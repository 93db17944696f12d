//! Work spread over the cores: small contiguous runs of the input handed to whichever thread is
//! free, results in input order, so the result never depends on the number of threads nor on
//! which thread did what.
//!
//! Helper threads come from one budget for the whole process, one per core beside the calling
//! thread. A map inside a map (the runs of one directory cluster while the clusters are
//! applied in parallel) gets a helper only when one is idle, instead of putting twice as many
//! threads as cores on the run queue, where a thread waiting to join its helper left a core
//! idle while the helper waited for a core (first full reconcile, apply stage: both cores busy
//! about 80% of the time before).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Helper threads not working for any map now (cores − 1 when nothing runs).
fn spare() -> &'static AtomicUsize {
    static SPARE: OnceLock<AtomicUsize> = OnceLock::new();
    SPARE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        AtomicUsize::new(cores - 1)
    })
}

/// One helper thread's place in the budget, given back when dropped (its work done, or a
/// panic unwinding it).
struct Seat;

impl Drop for Seat {
    fn drop(&mut self) {
        spare().fetch_add(1, Ordering::AcqRel);
    }
}

/// Up to `want` seats, as many as are spare now.
fn take_seats(want: usize) -> Vec<Seat> {
    let spare = spare();
    let mut free = spare.load(Ordering::Acquire);
    loop {
        let n = want.min(free);
        if n == 0 {
            return Vec::new();
        }
        match spare.compare_exchange_weak(free, free - n, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return (0..n).map(|_| Seat).collect(),
            Err(now) => free = now,
        }
    }
}

/// `f` of every item, in order, on the calling thread and up to one helper per other core
/// (as many as the process-wide budget has spare), with at least `min_per_thread` items each
/// (fewer items stay on the calling thread). Threads take the next run of items when done with
/// theirs, so a core that another process keeps busy does not hold the others back. A panic
/// in `f` is resumed here.
pub fn map_in_runs<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / min_per_thread.max(1))
        .max(1);
    let seats = if threads > 1 {
        take_seats(threads - 1)
    } else {
        Vec::new()
    };
    if seats.is_empty() {
        return items.iter().map(&f).collect();
    }
    let threads = seats.len() + 1;
    // About eight runs per thread, at most 64 items each: few enough to hand out cheaply, many
    // enough to even out.
    let run = (items.len() / (threads * 8)).clamp(1, 64);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(run, Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let part = &items[start..(start + run).min(items.len())];
            done.push((start, part.iter().map(&f).collect::<Vec<R>>()));
        }
    };
    let mut parts = std::thread::scope(|scope| {
        let others: Vec<_> = seats
            .into_iter()
            .map(|seat| spawn_seated(scope, seat, work))
            .collect();
        let mut parts = work();
        for other in others {
            parts.extend(joined(other));
        }
        parts
    });
    parts.sort_unstable_by_key(|(start, _)| *start);
    parts.into_iter().flat_map(|(_, results)| results).collect()
}

/// `a()` and `b()`, on the calling thread and a helper when the budget has one spare, else
/// one after the other. A panic in either is resumed here.
pub fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    let Some(seat) = take_seats(1).pop() else {
        let a = a();
        return (a, b());
    };
    std::thread::scope(|scope| {
        let other = spawn_seated(scope, seat, b);
        let a = a();
        (a, joined(other))
    })
}

/// `f` on a thread of `scope` that holds `seat` until `f` is done.
fn spawn_seated<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    seat: Seat,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    scope.spawn(move || {
        let done = f();
        drop(seat);
        done
    })
}

/// What a helper thread gave; its panic is resumed on this thread.
fn joined<T>(helper: std::thread::ScopedJoinHandle<'_, T>) -> T {
    helper
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = super::map_in_runs(&items, 10, |i| i * 2);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        // Uneven work (early items slow) still comes back in order.
        let out = super::map_in_runs(&items, 1, |i| {
            if *i < 20 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            i + 1
        });
        assert_eq!(out, items.iter().map(|i| i + 1).collect::<Vec<_>>());
        assert!(super::map_in_runs(&[] as &[u32], 10, |i| *i).is_empty());
    }

    #[test]
    fn join_gives_both_results_and_resumes_a_panic() {
        let (a, b) = super::join(|| (0..100u32).sum::<u32>(), || "other".to_string());
        assert_eq!((a, b.as_str()), (4950, "other"));
        let caught = std::panic::catch_unwind(|| super::join(|| 1, || panic!("in b")));
        assert!(caught.is_err());
    }

    /// Maps inside a map share one budget: never more threads at work than cores.
    #[test]
    fn nested_maps_never_run_more_threads_than_cores() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let outer: Vec<u32> = (0..4).collect();
        let out = super::map_in_runs(&outer, 1, |o| {
            let inner: Vec<u32> = (0..8).collect();
            super::map_in_runs(&inner, 1, |i| {
                let at_work = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(at_work, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(3));
                now.fetch_sub(1, Ordering::SeqCst);
                o * 100 + i
            })
        });
        let want: Vec<Vec<u32>> = outer
            .iter()
            .map(|o| (0..8).map(|i| o * 100 + i).collect())
            .collect();
        assert_eq!(out, want);
        let most = most.load(Ordering::SeqCst);
        assert!(most <= cores, "{most} threads at work on {cores} cores");
    }
}
