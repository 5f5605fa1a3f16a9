//! Audience counting: who reads the feeds, from the requests the server
//! answers, without keeping who anyone is.
//!
//! - `user_agent.rs`: pure: a `User-Agent` in, its client family and any
//!   subscriber count (and feed id) an aggregator reports out.
//! - `sketch.rs`: pure: distinct pollers in bounded memory (exact, then
//!   HyperLogLog).
//! - `tally.rs`: the request side: a sharded table in memory, updated by
//!   each answered feed request with a keyed hash and a few additions.
//! - `flush.rs`: the counting thread: every few seconds the table is taken
//!   and written; it answers the page and deletes days past the horizon.
//! - `store.rs`: SQLite, `<data_dir>/audience.sqlite3`: figures only.
//! - `report.rs`: pure: the stored figures as the report the page, the
//!   JSON and `broadsheet stats` show; `page.rs`: pure: the HTML page.
//!
//! Data flows one way: the server's requests -> tally -> counting thread
//! -> database -> report -> page, JSON or terminal. Which requests are
//! counted, and who may see the page, is the server's (`server/counting.rs`,
//! `server/stats_route.rs`).

mod flush;
mod page;
mod report;
mod sketch;
mod store;
mod tally;
mod user_agent;

use std::path::Path;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::warn;

pub(crate) use page::PageContext;
pub(crate) use tally::Observation;

/// Active WebSub subscriptions per feed path, as the hub counts them now.
pub(crate) type WebSubCounts = Arc<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

/// The longest a request for the page waits for the counting thread.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the counting thread is asked.
pub(crate) enum Ask {
    /// The page (`json`: its JSON), after a flush.
    Page {
        json: bool,
        reply: tokio::sync::oneshot::Sender<Result<Vec<u8>, String>>,
    },
    /// Flush a last time and end.
    Stop,
}

/// Counting, running: the table requests update and the thread that writes it.
pub(crate) struct Audience {
    tally: Arc<tally::Tally>,
    asks: SyncSender<Ask>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audience").finish_non_exhaustive()
    }
}

/// How counting runs.
pub(crate) struct Settings {
    /// The data directory (`[websub] data_dir`, under the site).
    pub(crate) data_dir: std::path::PathBuf,
    /// One shard per worker thread.
    pub(crate) shards: usize,
    /// Days kept (`[stats] retention_days`).
    pub(crate) retention_days: u32,
    pub(crate) websub: Option<WebSubCounts>,
    pub(crate) page: PageContext,
}

impl Audience {
    /// Opens the database and starts the counting thread.
    pub(crate) fn start(settings: Settings) -> Result<Audience, String> {
        let store = store::Store::open(&settings.data_dir)?;
        let tally = Arc::new(tally::Tally::new(
            settings.shards,
            tally::day_of(flush::now_ms()),
        ));
        let counter = flush::Counter::new(
            store,
            tally.clone(),
            settings.websub,
            settings.retention_days,
            settings.page,
        );
        let (asks, received) = mpsc::sync_channel(16);
        let thread = std::thread::Builder::new()
            .name("broadsheet-audience".into())
            .spawn(move || counter.run(received))
            .map_err(|e| format!("cannot start the counting thread: {e}"))?;
        Ok(Audience {
            tally,
            asks,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Counts one answered request if `is_feed` (asked at most once per
    /// feed path between flushes) says its path is a feed's: a few
    /// additions under the worker's own lock; nothing is written here.
    pub(crate) fn observe(&self, seen: &Observation<'_>, is_feed: impl FnOnce() -> bool) {
        self.tally.observe(seen, is_feed);
    }

    /// The page, or its JSON, with every request answered so far; `Err`
    /// when the counting thread cannot answer within [`PAGE_TIMEOUT`].
    pub(crate) async fn page(&self, json: bool) -> Result<Vec<u8>, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.asks.try_send(Ask::Page { json, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err("the counting thread is busy".into()),
            Err(TrySendError::Disconnected(_)) => return Err("counting has stopped".into()),
        }
        match tokio::time::timeout(PAGE_TIMEOUT, answer).await {
            Ok(Ok(page)) => page,
            Ok(Err(_)) => Err("counting has stopped".into()),
            Err(_) => Err("the counting thread did not answer in time".into()),
        }
    }

    /// Writes what is counted and ends the thread, waiting for it. Call
    /// once the requests have ended.
    pub(crate) fn stop(&self) {
        // The thread drains its asks quickly: a blocking send is short.
        let _ = self.asks.send(Ask::Stop);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                warn!("the audience counting thread panicked");
            }
        }
    }
}

impl Drop for Audience {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `broadsheet stats`: the report of the `days` days up to today, read
/// from the database in `data_dir` (read-only, while a server may run),
/// for one feed only when `feed` is given (its directory, `/opinion/`), as
/// a terminal table or, with `json`, as `/stats.json` has it.
pub(crate) fn stored_report(
    data_dir: &Path,
    days: u32,
    feed: Option<&str>,
    json: bool,
) -> Result<String, String> {
    let store = store::Store::open_read_only(&data_dir.join(store::FILE_NAME))?;
    let now = flush::now_ms();
    let today = tally::day_of(now);
    let first = today - i64::from(days.max(1)) + 1;
    let stored = store.read(first, first - flush::REPORT_LOOKBACK_DAYS + 1, feed)?;
    let report = report::build(&stored, today, days, now, None);
    Ok(if json {
        String::from_utf8_lossy(&report::json(&report)).into_owned()
    } else {
        report::text(&report)
    })
}

/// The feed directory `text` names: `/opinion/` for `opinion`, `/opinion`,
/// `/opinion/` or `/opinion/rss.xml`; `/` for `/` or `/atom.xml`.
pub(crate) fn feed_dir(text: &str) -> String {
    let trimmed = text.trim();
    let path = if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    };
    if let Some((dir, _)) = flush::split_feed_path(&path) {
        return dir.to_string();
    }
    let inner = path.trim_matches('/');
    if inner.is_empty() {
        "/".to_string()
    } else {
        format!("/{inner}/")
    }
}

#[cfg(test)]
mod tests {
    use super::feed_dir;

    #[test]
    fn feeds_are_named_as_people_write_them() {
        for (text, dir) in [
            ("opinion", "/opinion/"),
            ("/opinion", "/opinion/"),
            ("/opinion/", "/opinion/"),
            ("/opinion/rss.xml", "/opinion/"),
            ("opinion/feed.json", "/opinion/"),
            ("/", "/"),
            ("/atom.xml", "/"),
            ("rss.xml", "/"),
            ("tags/energy", "/tags/energy/"),
        ] {
            assert_eq!(feed_dir(text), dir, "{text}");
        }
    }
}
