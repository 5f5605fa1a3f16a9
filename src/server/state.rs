//! What the server threads share: the set being served, swapped whole on
//! reload, and the outcome of the last reload.
//!
//! Requests read the served set through [`arc_swap::ArcSwap`]: a lock-free load
//! that gives each request one whole set, old or new, never a mix.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use super::served::ServedSet;

/// The shared state of one running server.
///
/// `pub` only because `RunningServer::state` returns it (the CLI and the
/// tests read the served set through it); its module is private, so it
/// cannot be named outside the crate.
#[derive(Debug)]
pub struct State {
    served: ArcSwap<ServedSet>,
    reload: Mutex<ReloadStatus>,
}

/// What the reloads so far came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReloadStatus {
    /// Reloads that replaced the served set.
    pub(crate) reloads: u64,
    /// The errors of the last reload, when it failed and none has succeeded since.
    pub(crate) last_error: Option<ReloadError>,
}

/// A reload that failed: the served set stayed as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReloadError {
    /// When the reload was tried.
    pub(crate) at: SystemTime,
    /// Every problem found, as `path:line: message`.
    pub(crate) errors: Vec<String>,
}

impl State {
    /// State serving `served`.
    pub(crate) fn new(served: ServedSet) -> State {
        State {
            served: ArcSwap::from_pointee(served),
            reload: Mutex::new(ReloadStatus::default()),
        }
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

    /// Serves `served` from now on and clears the last reload error.
    pub(crate) fn publish(&self, served: ServedSet) {
        self.served.store(Arc::new(served));
        let mut status = self.reload_status_mut();
        status.reloads += 1;
        status.last_error = None;
    }

    /// Records a failed reload; the served set does not change.
    pub(crate) fn record_failure(&self, errors: Vec<String>) {
        self.reload_status_mut().last_error = Some(ReloadError {
            at: SystemTime::now(),
            errors,
        });
    }

    /// The outcome of the reloads so far.
    pub(crate) fn reload_status(&self) -> ReloadStatus {
        self.reload_status_mut().clone()
    }

    fn reload_status_mut(&self) -> std::sync::MutexGuard<'_, ReloadStatus> {
        // The status is plain data, whole after every assignment: a panic
        // elsewhere while holding the lock cannot leave it half-written.
        self.reload.lock().unwrap_or_else(|e| e.into_inner())
    }
}
