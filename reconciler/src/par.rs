//! Work spread over the cores: small contiguous runs of the input handed to whichever thread is
//! free, results in input order, so the result never depends on the number of threads nor on
//! which thread did what.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` of every item, in order, on up to one thread per core (the calling thread is one of them)
/// with at least `min_per_thread` items each (fewer items stay on the calling thread). Threads
/// take the next run of items when done with theirs, so a core that another process keeps busy
/// does not hold the others back. A panic in `f` is resumed here.
pub fn map_in_runs<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / min_per_thread.max(1))
        .max(1);
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
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
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut parts = work();
        for other in others {
            parts.extend(
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        parts
    });
    parts.sort_unstable_by_key(|(start, _)| *start);
    parts.into_iter().flat_map(|(_, results)| results).collect()
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
}
