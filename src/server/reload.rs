//! Hot reload: rebuild the site when `content/` or `config.toml` changes,
//! when asked (`SIGHUP`), or when a scheduled article is due, and swap the
//! new set in whole.
//!
//! One thread does it all, off the request path: it waits for a trigger, waits
//! for quiet, builds, and publishes. The rules:
//! - Debounce: after a change, wait until no change has come for the debounce
//!   time (50 ms by default); every new change restarts the wait, so a burst
//!   of writes (a `git checkout`, an editor's save) is one rebuild. But never
//!   longer than the maximum delay after the first change (1 s by default),
//!   so that changes that keep coming cannot hold a new article back.
//! - Only changes to what the loader reads count (`loader::is_read`, the one
//!   definition): a `notes.txt` appended to, an editor's swap file, `.git/`
//!   under `content/` trigger nothing.
//! - What a build reads: each change event names the section it is in (the
//!   folder under `content/`), and a build reads again only the sections
//!   named since the last build began, taking the others as they were
//!   (`loader::Changes`). It reads everything when the watch lost events
//!   (an overflowing queue) or failed, when `content/` itself or
//!   `config.toml` changed or `content/` is not watched, on `SIGHUP`, and
//!   to confirm a failed build; so does every build with watching off.
//! - A build is thrown away and done again after the next quiet period,
//!   whether it succeeded or not, when a change event arrived while it ran,
//!   or when a file it read has changed since (its `stat` differs from the
//!   one taken before the read): it may have read a file half-written by an
//!   editor that truncates and rewrites, or caught a temp-file-and-rename
//!   save halfway. The files read are checked, rather than the thread
//!   waiting a while for late events: a write to a file changes its size or
//!   time stamps whenever its event comes. Only a build that no change
//!   overlapped is published; a change whose event comes after it was
//!   published is built in turn.
//! - A failed build is reported only when the build after the next quiet
//!   period fails too: a save caught halfway whose change event came late
//!   fails once, then the file is whole. So an edit that ends in valid
//!   content never shows as a failed reload.
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
use notify::event::{AccessKind, AccessMode, CreateKind, RemoveKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{debug, error, info, warn};

use super::memory;
use super::served::ServedSet;
use super::state::State;
use crate::build::{build_dir_cached, BuildCache};
use crate::loader::{self, Changes, PathKind};

/// Why the reload thread wakes up.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trigger {
    /// Files that matter changed: these sections, or anything.
    Changed(Changes),
    /// Rebuild now (`SIGHUP`), reading every file, changed or not.
    Reload,
    /// An article dated after the last build is due.
    Due,
    /// Time for the full pass that follows builds that read only some
    /// sections ([`FULL_PASS_AFTER`]).
    FullPass,
    /// The server is stopping.
    Stop,
}

/// The handle of the reload thread.
#[derive(Debug)]
pub(crate) struct Reloader {
    tx: mpsc::Sender<Trigger>,
    thread: Option<JoinHandle<()>>,
}

impl Trigger {
    /// What the build it asks for must read again: for `SIGHUP`, everything;
    /// for an article that falls due, nothing (its section is read again
    /// anyway: see `loader::Changes`).
    fn changes(self) -> Changes {
        match self {
            Trigger::Changed(changes) => changes,
            Trigger::Reload | Trigger::FullPass => Changes::everything(),
            Trigger::Due | Trigger::Stop => Changes::default(),
        }
    }
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

/// How long the reload thread waits around a build.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Quiet time after a change before building (`reload_debounce_ms`).
    pub(crate) debounce: Duration,
    /// The longest wait after the first change (`reload_max_delay_ms`).
    pub(crate) max_delay: Duration,
    /// How long after a build that read only some sections every file is
    /// read again ([`FULL_PASS_AFTER`]).
    full_pass_after: Duration,
}

impl Timing {
    /// The timing for `[server]` settings in milliseconds; the maximum delay
    /// is never shorter than the debounce.
    pub(crate) fn from_ms(debounce_ms: u64, max_delay_ms: u64) -> Timing {
        Timing {
            debounce: Duration::from_millis(debounce_ms),
            max_delay: Duration::from_millis(max_delay_ms.max(debounce_ms)),
            full_pass_after: FULL_PASS_AFTER,
        }
    }
}

/// How long after a build that read only the sections the watcher named
/// the thread reads every file again, unasked: a change that no event
/// reported (a file written through a hard link from outside `content/`,
/// a network file system) is served within about this long. A full pass
/// that finds nothing changed publishes nothing.
const FULL_PASS_AFTER: Duration = Duration::from_secs(60);

/// What one build came to: its outcome, and what changed among the files
/// it read since it read them (nothing, for a build that may be published).
struct Build {
    outcome: Result<ServedSet, Vec<String>>,
    changed_while_reading: Changes,
}

impl Watching {
    /// Starts the reload thread, which rebuilds into `state`.
    pub(crate) fn spawn(
        self,
        state: Arc<State>,
        timing: Timing,
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
            .spawn(move || {
                run(&rx, &state, timing, |now, changes| {
                    // Without a watch on the same `content/` since the last
                    // build, the watcher's report says nothing of it.
                    let watched = watch
                        .as_mut()
                        .is_some_and(|watch| watch.follow_content_dir());
                    cache.note_changes(if watched {
                        changes
                    } else {
                        Changes::everything()
                    });
                    let outcome = rebuild(&root, now, &state, &mut cache);
                    Build {
                        outcome,
                        changed_while_reading: cache.changed_since_read(),
                    }
                });
            })?;
        Ok(Reloader {
            tx,
            thread: Some(thread),
        })
    }
}

/// The reload loop: waits for a trigger, for quiet, builds with `build`
/// (the site as of the time given, reading again what changed since the
/// last build) and publishes into `state`, until told to stop.
fn run(
    rx: &mpsc::Receiver<Trigger>,
    state: &State,
    timing: Timing,
    mut build: impl FnMut(DateTime<Utc>, Changes) -> Build,
) {
    let mut schedule = Schedule::default();
    // What changed since the last build began.
    let mut changes = Changes::default();
    loop {
        let full_pass = match wait_for_trigger(rx, state, &mut schedule) {
            None => return,
            Some(trigger) => {
                debug!(?trigger, "reload triggered");
                let full_pass = trigger == Trigger::FullPass;
                changes.add(trigger.changes());
                full_pass
            }
        };
        let mut first_change = Instant::now();
        let mut failed_once = false;
        loop {
            if !wait_for_quiet(
                rx,
                timing.debounce,
                first_change + timing.max_delay,
                &mut changes,
            ) {
                return;
            }
            let started = Instant::now();
            let built_for = Utc::now();
            let read_everything = changes.is_everything();
            let Build {
                outcome,
                changed_while_reading,
            } = build(built_for, std::mem::take(&mut changes));
            let Some(arrived) = take_triggers(rx, &mut changes) else {
                return;
            };
            if arrived || !changed_while_reading.is_empty() {
                debug!("files changed during the build; building again once they settle");
                changes.add(changed_while_reading);
                first_change = Instant::now();
                failed_once = false;
                continue;
            }
            schedule.full_pass_at = match schedule.full_pass_at {
                _ if read_everything => None,
                None => Some(Instant::now() + timing.full_pass_after),
                later => later,
            };
            match outcome {
                Ok(served)
                    if full_pass
                        && schedule.failed_for.is_none()
                        && served.same_entries(&state.served()) =>
                {
                    debug!("the full pass found nothing that changed");
                }
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
                Err(errors) if !failed_once => {
                    debug!(
                        "build failed with {} problem(s); building again once the files settle, to confirm",
                        errors.len()
                    );
                    failed_once = true;
                    first_change = Instant::now();
                    // Whatever a late event would have said: read everything.
                    changes.add_everything();
                    continue;
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
    /// When to read every file again: [`FULL_PASS_AFTER`] after the first
    /// build since the last full pass that read only some sections.
    full_pass_at: Option<Instant>,
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
/// later, for its time, or for the full pass due; `None` when told to stop.
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
        let due_wait = match due.and_then(|due| schedule.wake_at(due)) {
            Some(at) if at <= now => return Some(Trigger::Due),
            Some(at) => Some(
                (at - now)
                    .to_std()
                    .unwrap_or_default()
                    .min(MAX_WAIT_FOR_DUE),
            ),
            None => None,
        };
        let full_pass_wait = match schedule.full_pass_at {
            Some(at) if at <= Instant::now() => return Some(Trigger::FullPass),
            Some(at) => Some(at.saturating_duration_since(Instant::now())),
            None => None,
        };
        let received = match due_wait.into_iter().chain(full_pass_wait).min() {
            Some(wait) => rx.recv_timeout(wait),
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

/// Waits until no trigger has come for `debounce`, or until `deadline`,
/// whichever is first, and takes the triggers already sent (the build about
/// to start sees their changes), adding what each says changed to
/// `changes`; false when told to stop.
fn wait_for_quiet(
    rx: &mpsc::Receiver<Trigger>,
    debounce: Duration,
    deadline: Instant,
    changes: &mut Changes,
) -> bool {
    loop {
        let wait = debounce.min(deadline.saturating_duration_since(Instant::now()));
        match rx.recv_timeout(wait) {
            Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return false,
            Ok(trigger) => {
                changes.add(trigger.changes());
                if Instant::now() >= deadline {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => break,
        }
    }
    take_triggers(rx, changes).is_some()
}

/// Takes the triggers sent already, adding what each says changed to
/// `changes`: `Some(true)` when there was one, `None` when told to stop.
fn take_triggers(rx: &mpsc::Receiver<Trigger>, changes: &mut Changes) -> Option<bool> {
    let mut arrived = false;
    loop {
        match rx.try_recv() {
            Ok(Trigger::Stop) | Err(TryRecvError::Disconnected) => return None,
            Ok(trigger) => {
                changes.add(trigger.changes());
                arrived = true;
            }
            Err(TryRecvError::Empty) => return Some(arrived),
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
                Ok(event) => {
                    if let Some(changes) = changes_of(&event, &filter_content, &config) {
                        debug!(kind = ?event.kind, paths = ?event.paths, "site changed");
                        let _ = tx.send(Trigger::Changed(changes));
                    }
                }
                // Events may have been lost with it (a watch that could not
                // be added to a new folder): the next build reads everything.
                Err(error) => {
                    warn!("file watch: {error}");
                    let _ = tx.send(Trigger::Changed(Changes::everything()));
                }
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

    /// Watches `content/` recursively, again if it was replaced since the
    /// last call; true when the same `content/` was watched all along, so
    /// that every change in it since the last call was reported.
    fn follow_content_dir(&mut self) -> bool {
        let inode = fs::metadata(&self.content)
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| m.ino());
        if inode.is_some() && inode == self.watched_inode {
            return true;
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
        false
    }
}

/// What an event says changed, if anything that can change what is built:
/// the sections of the paths of a write, creation, removal or rename of
/// what the loader reads ([`matters`]), everything for `config.toml` or
/// `content/` itself, and everything when the watch lost events (an
/// overflowing queue).
fn changes_of(event: &Event, content: &Path, config: &Path) -> Option<Changes> {
    if event.need_rescan() {
        warn!("file watch lost events: the next build reads every file");
        return Some(Changes::everything());
    }
    if !matters(event, content, config) {
        return None;
    }
    let mut changes = Changes::default();
    for path in &event.paths {
        if path == config {
            changes.add_everything();
        } else if let Ok(relative) = path.strip_prefix(content) {
            changes.add_content_path(relative);
        }
    }
    Some(changes)
}

/// True for events that can change what is built: writes, creations, removals
/// and renames of `config.toml` or of what the loader reads under `content/`
/// ([`loader::is_read`]); not reads.
fn matters(event: &Event, content: &Path, config: &Path) -> bool {
    if let EventKind::Access(kind) = event.kind {
        if kind != AccessKind::Close(AccessMode::Write) {
            return false;
        }
    }
    event.paths.iter().any(|path| {
        if path == config {
            return true;
        }
        let Ok(relative) = path.strip_prefix(content) else {
            return false;
        };
        let kind = match event.kind {
            EventKind::Create(CreateKind::File) | EventKind::Remove(RemoveKind::File) => {
                PathKind::File
            }
            EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder) => {
                PathKind::Folder
            }
            // The event does not say: the file system does, if it is still there.
            _ => match fs::metadata(path) {
                Ok(meta) if meta.is_dir() => PathKind::Folder,
                Ok(_) => PathKind::File,
                Err(_) => PathKind::Unknown,
            },
        };
        loader::is_read(relative, kind)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use notify::event::ModifyKind;

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
    fn changes_to_files_the_loader_never_reads_do_not_matter() {
        let content = Path::new("/site/content");
        let config = Path::new("/site/config.toml");
        let file = EventKind::Create(CreateKind::File);
        for path in [
            "/site/content/opinion/notes.txt",
            "/site/content/opinion/.a.md.swp",
            "/site/content/opinion/a.md~",
            "/site/content/.git/index",
        ] {
            assert!(!matters(&event(file, path), content, config), "{path}");
        }
        let folder = EventKind::Remove(RemoveKind::Folder);
        assert!(matters(
            &event(folder, "/site/content/opinion/a"),
            content,
            config
        ));
    }

    fn section(name: &str) -> Changes {
        let mut changes = Changes::default();
        changes.add_section(name);
        changes
    }

    #[test]
    fn events_name_the_sections_they_change() {
        let content = Path::new("/site/content");
        let config = Path::new("/site/config.toml");
        let modify = EventKind::Modify(ModifyKind::Any);
        let of = |event: Event| changes_of(&event, content, config);
        assert_eq!(
            of(event(modify, "/site/content/opinion/a.md")),
            Some(section("opinion"))
        );
        assert_eq!(
            of(event(modify, "/site/content/opinion/a/photo.jpg")),
            Some(section("opinion"))
        );
        // An editor's rename save: the temp file, then the article.
        let rename = Event::new(EventKind::Modify(ModifyKind::Name(
            notify::event::RenameMode::Both,
        )))
        .add_path(PathBuf::from("/site/content/world/.a.md.tmp"))
        .add_path(PathBuf::from("/site/content/world/a.md"));
        assert_eq!(of(rename), Some(section("world")));
        let created = EventKind::Create(CreateKind::File);
        assert_eq!(of(event(created, "/site/content/opinion/notes.txt")), None);
        for everything in [
            event(modify, "/site/config.toml"),
            event(EventKind::Remove(RemoveKind::Folder), "/site/content"),
            Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan),
        ] {
            assert_eq!(of(everything), Some(Changes::everything()));
        }
    }

    #[test]
    fn quiet_waits_out_a_burst_and_stops_on_request() {
        let (tx, rx) = mpsc::channel();
        tx.send(Trigger::Changed(section("a"))).unwrap();
        tx.send(Trigger::Changed(section("b"))).unwrap();
        let later = Instant::now() + Duration::from_secs(60);
        let mut changes = Changes::default();
        assert!(wait_for_quiet(
            &rx,
            Duration::from_millis(10),
            later,
            &mut changes
        ));
        assert!(rx.try_recv().is_err());
        let mut both = section("a");
        both.add_section("b");
        assert_eq!(changes, both);
        tx.send(Trigger::Stop).unwrap();
        assert!(!wait_for_quiet(
            &rx,
            Duration::from_millis(10),
            later,
            &mut changes
        ));
    }

    #[test]
    fn changes_that_keep_coming_wait_no_longer_than_the_max_delay() {
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::spawn(move || {
            // A change every 5 ms, for at most 3 s: until the receiver is gone.
            for _ in 0..600 {
                if tx.send(Trigger::Changed(section("a"))).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let started = Instant::now();
        let max_delay = Duration::from_millis(200);
        // A debounce far longer than any pause a loaded machine puts between
        // the writer's changes: only the cap can end this wait before the
        // writer stops (3 s or more from now).
        assert!(wait_for_quiet(
            &rx,
            Duration::from_secs(1),
            started + max_delay,
            &mut Changes::default()
        ));
        let waited = started.elapsed();
        drop(rx);
        writer.join().unwrap();
        assert!(waited >= max_delay, "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
    }

    /// One planned build: gets the channel (to send what the watcher would)
    /// and gives the build.
    type Planned = Box<dyn FnOnce(&mpsc::Sender<Trigger>) -> Build + Send>;

    /// A build that read nothing that changed since, with `outcome`.
    fn build_of(outcome: Result<ServedSet, Vec<String>>) -> Build {
        Build {
            outcome,
            changed_while_reading: Changes::default(),
        }
    }

    /// What the state was as a build began, and what it was told changed.
    #[derive(Debug, PartialEq)]
    struct Seen {
        status: String,
        reloads: u64,
        changes: Changes,
    }

    fn seen(status: &str, reloads: u64, changes: Changes) -> Seen {
        Seen {
            status: status.into(),
            reloads,
            changes,
        }
    }

    /// Runs the reload loop on `state` over `builds`, in turn, after one
    /// trigger for a change to the section `s`, until `settled` holds of
    /// the state (or 5 s pass); returns what each build saw as it began.
    fn run_builds(
        state: &State,
        builds: Vec<Planned>,
        settled: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<Seen> {
        run_builds_timed(state, Timing::from_ms(20, 1000), builds, 0, settled)
    }

    /// [`run_builds`] with `timing`, until `settled` holds and at least
    /// `at_least` builds began.
    fn run_builds_timed(
        state: &State,
        timing: Timing,
        builds: Vec<Planned>,
        at_least: usize,
        settled: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<Seen> {
        let (tx, rx) = mpsc::channel();
        let mut builds = builds.into_iter();
        let sender = tx.clone();
        let seen = Mutex::new(Vec::new());
        let seen_by_builds = &seen;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let seen = seen_by_builds;
                run(&rx, state, timing, |_, changes| {
                    let report = health_of(state);
                    seen.lock().unwrap().push(Seen {
                        status: report["status"].as_str().unwrap_or_default().into(),
                        reloads: report["reloads"].as_u64().unwrap_or_default(),
                        changes,
                    });
                    match builds.next() {
                        Some(build) => build(&sender),
                        None => build_of(Err(vec!["a build more than planned".into()])),
                    }
                });
            });
            tx.send(Trigger::Changed(section("s"))).unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while !(settled(&health_of(state)) && seen.lock().unwrap().len() >= at_least)
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            tx.send(Trigger::Stop).unwrap();
        });
        seen.into_inner().unwrap()
    }

    fn served_with(articles: usize) -> ServedSet {
        let built = crate::build::BuiltSet {
            articles,
            ..Default::default()
        };
        ServedSet::new(&built, 300, None)
    }

    fn health_of(state: &State) -> serde_json::Value {
        serde_json::from_slice(&state.health_report()).unwrap()
    }

    #[test]
    fn a_failed_build_is_reported_only_once_a_rebuild_of_everything_confirms_it() {
        // A save caught halfway whose change event never came in time: the
        // next build, after the files settle, reads every file again.
        let state = State::new(served_with(0));
        let seen_by_builds = run_builds(
            &state,
            vec![
                Box::new(|_| build_of(Err(vec!["content/s/a.md:1: file is empty".into()]))),
                Box::new(|_| build_of(Ok(served_with(1)))),
            ],
            |report| report["articles"] == 1,
        );
        assert_eq!(
            seen_by_builds,
            [
                seen("ok", 0, section("s")),
                seen("ok", 0, Changes::everything())
            ]
        );
        assert_eq!(health_of(&state)["status"], "ok");

        // Failing twice in a row, with no change between: reported.
        let seen_by_builds = run_builds(
            &state,
            vec![
                Box::new(|_| build_of(Err(vec!["content/s/a.md:1: bad".into()]))),
                Box::new(|_| build_of(Err(vec!["content/s/a.md:1: bad".into()]))),
            ],
            |report| report["status"] == "stale",
        );
        assert_eq!(seen_by_builds.len(), 2);
        assert_eq!(
            health_of(&state)["last_reload_error"]["errors"][0],
            "content/s/a.md:1: bad"
        );
    }

    #[test]
    fn a_build_that_read_a_file_changed_since_is_thrown_away_and_its_section_read_again() {
        let state = State::new(served_with(0));
        let seen_by_builds = run_builds(
            &state,
            vec![
                // A file of section `t` was being written as it was read,
                // and its event is yet to come.
                Box::new(|_| Build {
                    outcome: Ok(served_with(1)),
                    changed_while_reading: section("t"),
                }),
                Box::new(|_| build_of(Ok(served_with(2)))),
            ],
            |report| report["articles"] == 2,
        );
        assert_eq!(
            seen_by_builds,
            [seen("ok", 0, section("s")), seen("ok", 0, section("t"))],
            "the partial build was never served"
        );
        assert_eq!(health_of(&state)["reloads"], 1);
    }

    #[test]
    fn a_build_that_a_change_event_overlapped_is_thrown_away() {
        let state = State::new(served_with(0));
        let seen_by_builds = run_builds(
            &state,
            vec![
                Box::new(|tx| {
                    tx.send(Trigger::Changed(section("u"))).unwrap();
                    build_of(Ok(served_with(1)))
                }),
                Box::new(|_| build_of(Ok(served_with(2)))),
            ],
            |report| report["articles"] == 2,
        );
        assert_eq!(
            seen_by_builds,
            [seen("ok", 0, section("s")), seen("ok", 0, section("u"))]
        );
        assert_eq!(health_of(&state)["reloads"], 1);
    }

    #[test]
    fn a_change_whose_event_comes_after_a_build_is_built_in_turn() {
        let state = State::new(served_with(0));
        let seen_by_builds = run_builds(
            &state,
            vec![
                Box::new(|tx| {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(50));
                        let _ = tx.send(Trigger::Changed(section("v")));
                    });
                    build_of(Ok(served_with(1)))
                }),
                Box::new(|_| build_of(Ok(served_with(2)))),
            ],
            |report| report["articles"] == 2,
        );
        assert_eq!(seen_by_builds[1].changes, section("v"));
        assert_eq!(health_of(&state)["reloads"], 2);
    }

    #[test]
    fn a_full_pass_follows_builds_of_some_sections_and_publishes_only_a_change() {
        let state = State::new(served_with(0));
        let timing = Timing {
            full_pass_after: Duration::from_millis(50),
            ..Timing::from_ms(20, 1000)
        };
        let seen_by_builds = run_builds_timed(
            &state,
            timing,
            vec![
                Box::new(|_| build_of(Ok(served_with(1)))),
                // The full pass finds the same set: nothing is published.
                Box::new(|_| build_of(Ok(served_with(1)))),
            ],
            2,
            |report| report["articles"] == 1,
        );
        assert_eq!(
            seen_by_builds,
            [
                seen("ok", 0, section("s")),
                seen("ok", 1, Changes::everything())
            ]
        );
        assert_eq!(
            health_of(&state)["reloads"],
            1,
            "the full pass published nothing"
        );
    }
}
