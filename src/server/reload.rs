//! Hot reload: rebuild the site when `content/` or `config.toml` changes,
//! when asked (`SIGHUP`), or when a scheduled article is due, and swap the
//! new set in whole.
//!
//! One thread does it all, off the request path: it waits for a trigger, waits
//! for quiet, builds, and publishes. The rules:
//! - Debounce: after a change, wait until no change has come for the debounce
//!   time (100 ms by default); every new change restarts the wait, so a burst
//!   of writes (a `git checkout`, an editor's save) is one rebuild.
//! - A build that saw a change arrive while it read the files is thrown away
//!   and done again after the next quiet period, whether it succeeded or not:
//!   it may have read a file half-written by an editor that truncates and
//!   rewrites, or caught a temp-file-and-rename save halfway. Only a build
//!   that no change overlapped is published.
//! - A build with errors changes nothing served: every `path:line` error is
//!   logged and kept for `/healthz` until a later build succeeds.
//! - Articles whose file text is unchanged are neither parsed nor rendered
//!   again (the `BuildCache` this thread keeps), and representations of
//!   unchanged resources are reused from the served set, so a reload parses,
//!   renders and compresses only what changed.
//! - Scheduled articles: when the served set leaves out an article dated
//!   after its build, the thread also wakes at that date and rebuilds, so
//!   the article appears on time with no edit (and with watching off).
//! - Watches: the site directory itself, not recursively (for `config.toml`,
//!   which editors replace by renaming, and for `content/` being removed and
//!   created again), and `content/` recursively. Before each build, if
//!   `content/` is a different directory than the one watched (removed and
//!   restored, or moved away and back), the recursive watch is set up again.
//!   Events elsewhere in the site directory (`public/`, `target/`) and reads
//!   (including the build's own) are ignored.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{debug, error, info, warn};

use super::memory;
use super::served::ServedSet;
use super::state::State;
use crate::build::{build_dir_cached, BuildCache};

/// Why the reload thread wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// A file that matters changed.
    Changed,
    /// Rebuild now (`SIGHUP`), changed or not.
    Reload,
    /// An article dated after the last build is due.
    Due,
    /// The server is stopping.
    Stop,
}

/// The handle of the reload thread.
#[derive(Debug)]
pub(crate) struct Reloader {
    tx: mpsc::Sender<Trigger>,
    thread: Option<JoinHandle<()>>,
}

impl Reloader {
    /// Asks for a rebuild, as `SIGHUP` does.
    pub(crate) fn reload(&self) {
        let _ = self.tx.send(Trigger::Reload);
    }

    /// Stops the thread and waits for it (a build under way finishes first).
    pub(crate) fn stop(mut self) {
        let _ = self.tx.send(Trigger::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        let _ = self.tx.send(Trigger::Stop);
    }
}

/// The watches of a site, set up before its first build so that no change
/// made while it builds is missed; [`Watching::spawn`] starts the thread.
pub(crate) struct Watching {
    root: PathBuf,
    tx: mpsc::Sender<Trigger>,
    rx: mpsc::Receiver<Trigger>,
    watch: Option<SiteWatch>,
}

/// Watches the site in `root` when `watch` is true; a reload can be asked for either way.
pub(crate) fn prepare(root: PathBuf, watch: bool) -> Watching {
    let (tx, rx) = mpsc::channel();
    let watch = if watch {
        match SiteWatch::new(&root, tx.clone()) {
            Ok(watch) => Some(watch),
            Err(error) => {
                warn!(
                    "hot reload is off: cannot watch {}: {error}",
                    root.display()
                );
                None
            }
        }
    } else {
        None
    };
    Watching {
        root,
        tx,
        rx,
        watch,
    }
}

impl Watching {
    /// Starts the reload thread, which rebuilds into `state`.
    pub(crate) fn spawn(
        self,
        state: Arc<State>,
        debounce: Duration,
        mut cache: BuildCache,
    ) -> std::io::Result<Reloader> {
        let Watching {
            root,
            tx,
            rx,
            mut watch,
        } = self;
        let thread = std::thread::Builder::new()
            .name("broadsheet-reload".into())
            .spawn(move || run(&root, &state, &rx, &mut watch, debounce, &mut cache))?;
        Ok(Reloader {
            tx,
            thread: Some(thread),
        })
    }
}

fn run(
    root: &Path,
    state: &State,
    rx: &mpsc::Receiver<Trigger>,
    watch: &mut Option<SiteWatch>,
    debounce: Duration,
    cache: &mut BuildCache,
) {
    let mut schedule = Schedule::default();
    loop {
        match wait_for_trigger(rx, state, &mut schedule) {
            None => return,
            Some(trigger) => debug!(?trigger, "reload triggered"),
        }
        loop {
            if !wait_for_quiet(rx, debounce) {
                return;
            }
            if let Some(watch) = watch {
                watch.follow_content_dir();
            }
            let started = Instant::now();
            let built_for = Utc::now();
            let outcome = rebuild(root, built_for, state, cache);
            match rx.try_recv() {
                Ok(Trigger::Stop) | Err(TryRecvError::Disconnected) => return,
                Ok(_) => {
                    debug!("files changed during the build; building again once they settle");
                    continue;
                }
                Err(TryRecvError::Empty) => {}
            }
            match outcome {
                Ok(served) => {
                    info!(
                        "reloaded {} articles, {} feeds, {} resources in {} ms",
                        served.articles,
                        served.feeds,
                        served.len(),
                        started.elapsed().as_millis()
                    );
                    state.publish(served);
                    schedule.failed_for = None;
                    memory::release_freed();
                }
                Err(errors) => {
                    for line in &errors {
                        error!("{line}");
                    }
                    error!(
                        "reload failed with {} problem(s); still serving the last good build",
                        errors.len()
                    );
                    state.record_failure(errors);
                    schedule.failed_for = Some(built_for);
                }
            }
            break;
        }
    }
}

/// The longest the thread sleeps towards a publication time before looking
/// at the clock again: the wait runs on the monotonic clock, and the wall
/// clock that articles are dated by may jump (a suspend, a time sync).
const MAX_WAIT_FOR_DUE: Duration = Duration::from_secs(60);

/// How long after a failed build for a due article the next one is tried.
const RETRY_DUE: Duration = Duration::from_secs(60);

/// What the thread remembers between builds about scheduled articles.
#[derive(Debug, Default)]
struct Schedule {
    /// The due time logged last, so that each is logged once.
    announced: Option<DateTime<Utc>>,
    /// The time the last build was made for, when it failed; `None` after a
    /// build that succeeded.
    failed_for: Option<DateTime<Utc>>,
}

impl Schedule {
    /// When to rebuild, unasked, for an article due at `due`: then, or, when
    /// a build made for that time or later failed, [`RETRY_DUE`] after it.
    /// A due time that passed during a build (its set was made for an
    /// earlier time) is due at once.
    fn wake_at(&self, due: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.failed_for {
            Some(failed) if failed >= due => {
                failed.checked_add_signed(chrono::TimeDelta::from_std(RETRY_DUE).ok()?)
            }
            _ => Some(due),
        }
    }
}

/// Waits for a trigger or, when the served set holds back an article dated
/// later, for its time; `None` when told to stop.
fn wait_for_trigger(
    rx: &mpsc::Receiver<Trigger>,
    state: &State,
    schedule: &mut Schedule,
) -> Option<Trigger> {
    loop {
        let due = state.served().next_publication;
        let now = Utc::now();
        if let Some(at) = due.filter(|at| *at > now && schedule.announced != Some(*at)) {
            info!("an article is due at {}: rebuilding then", at.to_rfc3339());
            schedule.announced = Some(at);
        }
        let received = match due.and_then(|due| schedule.wake_at(due)) {
            Some(at) if at <= now => return Some(Trigger::Due),
            Some(at) => {
                let wait = (at - now).to_std().unwrap_or_default();
                rx.recv_timeout(wait.min(MAX_WAIT_FOR_DUE))
            }
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return None,
            Ok(trigger) => return Some(trigger),
            // Look at the clock again: due by now, or still waiting.
            Err(RecvTimeoutError::Timeout) => continue,
        }
    }
}

/// Waits until no trigger has come for `debounce`; false when told to stop.
fn wait_for_quiet(rx: &mpsc::Receiver<Trigger>, debounce: Duration) -> bool {
    loop {
        match rx.recv_timeout(debounce) {
            Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return false,
            Ok(_) => continue,
            Err(RecvTimeoutError::Timeout) => return true,
        }
    }
}

/// Builds the site in `root` as of `now`, reusing the articles parsed by
/// earlier builds (`cache`) and the representations of `state`'s served set.
fn rebuild(
    root: &Path,
    now: DateTime<Utc>,
    state: &State,
    cache: &mut BuildCache,
) -> Result<ServedSet, Vec<String>> {
    let built = build_dir_cached(root, now, cache)
        .map_err(|d| d.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let previous = state.served_arc();
    Ok(ServedSet::new(
        &built.set,
        built.server.max_age,
        Some(&previous),
    ))
}

/// The file system watches of one site directory.
struct SiteWatch {
    watcher: RecommendedWatcher,
    content: PathBuf,
    /// The inode of the `content/` directory being watched, if one is.
    watched_inode: Option<u64>,
}

impl SiteWatch {
    fn new(root: &Path, tx: mpsc::Sender<Trigger>) -> notify::Result<SiteWatch> {
        let root = fs::canonicalize(root)?;
        let content = root.join("content");
        let config = root.join("config.toml");
        let filter_content = content.clone();
        let mut watcher =
            notify::recommended_watcher(move |result: notify::Result<Event>| match result {
                Ok(event) if matters(&event, &filter_content, &config) => {
                    debug!(kind = ?event.kind, paths = ?event.paths, "site changed");
                    let _ = tx.send(Trigger::Changed);
                }
                Ok(_) => {}
                Err(error) => warn!("file watch: {error}"),
            })?;
        watcher.watch(&root, RecursiveMode::NonRecursive)?;
        let mut watch = SiteWatch {
            watcher,
            content,
            watched_inode: None,
        };
        watch.follow_content_dir();
        Ok(watch)
    }

    /// Watches `content/` recursively, again if it was replaced since the last call.
    fn follow_content_dir(&mut self) {
        let inode = fs::metadata(&self.content)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| m.ino());
        if inode == self.watched_inode {
            return;
        }
        if self.watched_inode.is_some() {
            let _ = self.watcher.unwatch(&self.content);
        }
        self.watched_inode = None;
        if inode.is_some() {
            match self.watcher.watch(&self.content, RecursiveMode::Recursive) {
                Ok(()) => self.watched_inode = inode,
                Err(error) => warn!("cannot watch {}: {error}", self.content.display()),
            }
        }
    }
}

/// True for events that can change what is built: writes, creations, removals
/// and renames under `content/` or of `config.toml`; not reads.
fn matters(event: &Event, content: &Path, config: &Path) -> bool {
    if let EventKind::Access(kind) = event.kind {
        if kind != AccessKind::Close(AccessMode::Write) {
            return false;
        }
    }
    event
        .paths
        .iter()
        .any(|path| path.starts_with(content) || path == config)
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind};

    use super::*;

    /// A served set whose next article is due at `due`, and a channel that
    /// holds a `Stop`: `wait_for_trigger` returns `None` if it waited on the
    /// channel, and `Some(Due)` if the article was due without waiting.
    fn due_at(due: DateTime<Utc>) -> (State, mpsc::Receiver<Trigger>) {
        let built = crate::build::BuiltSet {
            next_publication: Some(due),
            ..Default::default()
        };
        let state = State::new(ServedSet::new(&built, 300, None));
        let (tx, rx) = mpsc::channel();
        tx.send(Trigger::Stop).unwrap();
        (state, rx)
    }

    #[test]
    fn an_article_due_during_the_last_build_is_built_at_once() {
        let (state, rx) = due_at(Utc::now() - chrono::TimeDelta::seconds(1));
        let mut schedule = Schedule::default();
        assert_eq!(
            wait_for_trigger(&rx, &state, &mut schedule),
            Some(Trigger::Due)
        );
    }

    #[test]
    fn a_failed_build_for_a_due_article_is_retried_later_not_at_once() {
        let due = Utc::now() - chrono::TimeDelta::seconds(1);
        let (state, rx) = due_at(due);
        let mut schedule = Schedule {
            failed_for: Some(due),
            ..Default::default()
        };
        assert_eq!(wait_for_trigger(&rx, &state, &mut schedule), None);
        assert_eq!(
            schedule.wake_at(due),
            Some(due + chrono::TimeDelta::from_std(RETRY_DUE).unwrap())
        );
        // A failure of a build made before the article was due says nothing of it.
        schedule.failed_for = Some(due - chrono::TimeDelta::seconds(5));
        assert_eq!(schedule.wake_at(due), Some(due));
    }

    #[test]
    fn a_later_article_is_waited_for() {
        let (state, rx) = due_at(Utc::now() + chrono::TimeDelta::hours(1));
        let mut schedule = Schedule::default();
        assert_eq!(wait_for_trigger(&rx, &state, &mut schedule), None);
    }

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn only_changes_to_content_and_config_matter() {
        let content = Path::new("/site/content");
        let config = Path::new("/site/config.toml");
        let modify = EventKind::Modify(ModifyKind::Any);
        assert!(matters(
            &event(modify, "/site/content/opinion/a.md"),
            content,
            config
        ));
        assert!(matters(
            &event(modify, "/site/config.toml"),
            content,
            config
        ));
        assert!(matters(
            &event(EventKind::Create(CreateKind::Folder), "/site/content"),
            content,
            config
        ));
        assert!(!matters(
            &event(modify, "/site/public/rss.xml"),
            content,
            config
        ));
        assert!(!matters(
            &event(modify, "/site/content-old/a.md"),
            content,
            config
        ));
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        assert!(!matters(
            &event(open, "/site/content/opinion/a.md"),
            content,
            config
        ));
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(matters(
            &event(closed, "/site/content/opinion/a.md"),
            content,
            config
        ));
    }

    #[test]
    fn quiet_waits_out_a_burst_and_stops_on_request() {
        let (tx, rx) = mpsc::channel();
        tx.send(Trigger::Changed).unwrap();
        tx.send(Trigger::Changed).unwrap();
        assert!(wait_for_quiet(&rx, Duration::from_millis(10)));
        assert!(rx.try_recv().is_err());
        tx.send(Trigger::Stop).unwrap();
        assert!(!wait_for_quiet(&rx, Duration::from_millis(10)));
    }
}
