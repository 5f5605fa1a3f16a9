//! Spreading independent work over the machine's cores, for the slow parts
//! of a build (parsing articles, rendering pages, compressing), with plain
//! scoped threads: results stay where their items are, so order never
//! depends on scheduling.

/// Runs `work` on every item, spread over the machine's cores; items are
/// handed out one at a time, so a slow one does not hold up a whole share.
pub(crate) fn for_each<T: Send>(items: &mut [T], work: impl Fn(&mut T) + Sync) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        items.iter_mut().for_each(work);
        return;
    }
    let queue = std::sync::Mutex::new(items.iter_mut());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                match next {
                    Some(item) => work(item),
                    None => break,
                }
            });
        }
    });
}
