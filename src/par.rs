//! Work spread over a few threads: a store's thousands of small files are read, hashed,
//! planned and synced in parallel, with results kept in order.

/// The machine's cores (2 when that cannot be told).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `f` of each of up to `threads` consecutive chunks of `items`, each on a thread of its
/// own; the results in the order of the chunks. A panic in `f` is a bug and is passed on.
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || f(part)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_come_back_in_order() {
        let items: Vec<u32> = (0..1001).collect();
        let sums = super::map_chunks(&items, 4, |part| part.to_vec());
        assert_eq!(sums.len(), 4);
        assert_eq!(sums.concat(), items);
        assert!(super::map_chunks(&[] as &[u32], 4, |p| p.len()).is_empty());
    }
}
