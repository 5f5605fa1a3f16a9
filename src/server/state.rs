//! What the server threads share: the set being served, swapped whole on
//! reload, the outcome of the last reload, the access log's queue, audience
//! counting, and the `/healthz` report of them, rendered whenever one
//! changes.
//!
//! Requests read the served set through [`arc_swap::ArcSwap`]: a lock-free load
//! that gives each request one whole set, old or new, never a mix.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::access_log;
use super::health;
use super::served::ServedSet;
use super::stats_route::StatsRoute;

/// The shared state of one running server.
///
/// `pub` only because `RunningServer::state` returns it (the CLI and the
/// tests read the served set through it); its module is private, so it
/// cannot be named outside the crate.
#[derive(Debug)]
pub struct State {
    served: ArcSwap<ServedSet>,
    reload: Mutex<ReloadStatus>,
    /// The `/healthz` body for `served` and `reload` as they are.
    health: ArcSwap<Bytes>,
    /// The WebSub hub, when the server runs one: told of every feed whose
    /// bytes a reload changed.
    hub: std::sync::OnceLock<Arc<crate::websub::Hub>>,
    /// Where requests leave their access-log lines; unset when the log is off.
    access_log: OnceLock<access_log::Queue>,
    /// Audience counting and its page; unset when `[stats] enabled` is false.
    stats: OnceLock<StatsRoute>,
}

/// What the reloads so far came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReloadStatus {
    /// Reloads that replaced the served set.
    pub(crate) reloads: u64,
    /// The errors of the last reload, when it failed and none has succeeded since.
    pub(crate) last_error: Option<ReloadError>,
    /// Access-log lines dropped since start, as last reported by its writer.
    pub(crate) access_log_dropped: u64,
}

/// A reload that failed: the served set stayed as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReloadError {
    /// When the reload was tried.
    pub(crate) at: SystemTime,
    /// How many problems were found.
    pub(crate) count: usize,
    /// The first [`health::MAX_ERRORS_REPORTED`] problems, as `path:line: message`.
    pub(crate) errors: Vec<String>,
}

impl State {
    /// State serving `served`.
    pub(crate) fn new(served: ServedSet) -> State {
        let status = ReloadStatus::default();
        let health = health::render(&served, &status);
        State {
            served: ArcSwap::from_pointee(served),
            reload: Mutex::new(status),
            health: ArcSwap::from_pointee(health),
            hub: std::sync::OnceLock::new(),
            access_log: OnceLock::new(),
            stats: OnceLock::new(),
        }
    }

    /// The WebSub hub, if the server runs one.
    pub(crate) fn hub(&self) -> Option<&Arc<crate::websub::Hub>> {
        self.hub.get()
    }

    /// Gives the state its hub (once, at start).
    pub(crate) fn set_hub(&self, hub: Arc<crate::websub::Hub>) {
        let _ = self.hub.set(hub);
    }

    /// The access log's queue, when the log is on.
    pub(crate) fn access_log(&self) -> Option<&access_log::Queue> {
        self.access_log.get()
    }

    /// Sends the requests' access-log lines to `queue` from now on (once).
    pub(crate) fn set_access_log(&self, queue: access_log::Queue) {
        let _ = self.access_log.set(queue);
    }

    /// Audience counting and who may see its page, when counting is on.
    pub(crate) fn stats(&self) -> Option<&StatsRoute> {
        self.stats.get()
    }

    /// Counts feed requests into `stats` from now on (once, at start).
    pub(crate) fn set_stats(&self, stats: StatsRoute) {
        let _ = self.stats.set(stats);
    }

    /// Records that `total` access-log lines were dropped since start.
    pub(crate) fn record_access_log_dropped(&self, total: u64) {
        let mut status = self.reload_status_mut();
        status.access_log_dropped = total;
        self.health
            .store(Arc::new(health::render(&self.served(), &status)));
    }

    /// The served set as of now; a reload after this call does not change
    /// what it returns.
    pub fn served(&self) -> arc_swap::Guard<Arc<ServedSet>> {
        self.served.load()
    }

    /// A full reference to the served set, for work that outlives a request (a rebuild).
    pub(crate) fn served_arc(&self) -> Arc<ServedSet> {
        self.served.load_full()
    }

    /// The `/healthz` body as of now.
    pub(crate) fn health_report(&self) -> Bytes {
        Bytes::clone(&self.health.load())
    }

    /// Serves `served` from now on and clears the last reload error.
    pub(crate) fn publish(&self, served: ServedSet) {
        let served = Arc::new(served);
        let mut status = self.reload_status_mut();
        status.reloads += 1;
        status.last_error = None;
        // Under the status lock, so that the report stored last is of the
        // state as it is last.
        self.health
            .store(Arc::new(health::render(&served, &status)));
        let previous = self.served.swap(served.clone());
        drop(status);
        if let Some(hub) = self.hub() {
            hub.feeds_changed(changed_feeds(&previous, &served));
        }
    }

    /// Records a failed reload (keeping the first errors and their count);
    /// the served set does not change.
    pub(crate) fn record_failure(&self, mut errors: Vec<String>) {
        let count = errors.len();
        errors.truncate(health::MAX_ERRORS_REPORTED);
        errors.shrink_to_fit();
        let mut status = self.reload_status_mut();
        status.last_error = Some(ReloadError {
            at: SystemTime::now(),
            count,
            errors,
        });
        self.health
            .store(Arc::new(health::render(&self.served(), &status)));
    }

    fn reload_status_mut(&self) -> std::sync::MutexGuard<'_, ReloadStatus> {
        // The status is plain data, whole after every assignment: a panic
        // elsewhere while holding the lock cannot leave it half-written.
        self.reload.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The feeds of `new` whose bytes differ from `old`'s (or that are new).
fn changed_feeds(old: &ServedSet, new: &ServedSet) -> Vec<String> {
    use crate::encoding::Coding;
    let etag = |set: &ServedSet, path: &str| {
        set.get(path)
            .and_then(|entry| entry.get(Coding::Identity))
            .map(|tagged| tagged.etag.clone())
    };
    new.feed_paths
        .iter()
        .filter(|path| etag(old, path) != etag(new, path))
        .cloned()
        .collect()
}
