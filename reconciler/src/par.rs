//! Work spread over the cores: contiguous runs of the input, one thread each, results in input
//! order, so the result never depends on the number of threads.

/// `f` of every item, in order, on up to one thread per core with at least `min_per_thread`
/// items each (fewer items stay on the calling thread). A panic in `f` is resumed here.
pub fn map_in_runs<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / min_per_thread.max(1))
        .max(1);
    let run = |part: &[T]| -> Vec<R> { part.iter().map(&f).collect() };
    if threads == 1 {
        return run(items);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| scope.spawn(move || run(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = super::map_in_runs(&items, 10, |i| i * 2);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(super::map_in_runs(&[] as &[u32], 10, |i| *i).is_empty());
    }
}
