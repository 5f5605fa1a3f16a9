//! Spreading independent work over the machine's cores, for the slow parts
//! of a build (parsing articles, rendering pages, compressing), with plain
//! scoped threads: results stay where their items are, so order never
//! depends on scheduling.

/// Runs `work` on every item, spread over the machine's cores; items are
/// handed out one at a time, so a slow one does not hold up a whole share.
/// The calling thread works too, so when no other thread can be started
/// (a process or memory limit) the work is still done, on it alone.
pub(crate) fn for_each<T: Send>(items: &mut [T], work: impl Fn(&mut T) + Sync) {
    let threads = cores().min(items.len());
    if threads <= 1 {
        items.iter_mut().for_each(work);
        return;
    }
    let queue = std::sync::Mutex::new(items.iter_mut());
    let drain = || loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        match next {
            Some(item) => work(item),
            None => break,
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            if std::thread::Builder::new()
                .spawn_scoped(scope, drain)
                .is_err()
            {
                break;
            }
        }
        drain();
    });
}

/// The cores this process may use, asked once: the standard library reads
/// the cgroup's files to answer, and a rebuild spreads work a few dozen times.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_item_is_worked_on_once_in_place() {
        let mut items: Vec<(usize, usize)> = (0..1000).map(|i| (i, 0)).collect();
        super::for_each(&mut items, |(i, out)| *out += *i * 2);
        assert!(items.iter().all(|(i, out)| *out == i * 2));
    }
}
