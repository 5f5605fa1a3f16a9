//! The counting thread: every [`INTERVAL`] it takes what the requests
//! counted (`tally.rs`), merges it into the day's figures it holds, and
//! writes the change to the database (`store.rs`) in one transaction. It
//! also answers `/stats` and `/stats.json` (after a flush, so they show
//! every request answered so far), and deletes days past the horizon.
//!
//! Distinct pollers: this thread holds, for each day not yet over, the
//! merged sketches of every feed path since start (1 KiB each at most),
//! and writes their counts; the database keeps the larger of that and what
//! it had. The sketches are made under the day's key (`tally.rs`), which a
//! restart replaces, so the pollers before and after a restart on the same
//! day cannot be told apart: the day's figure is then the larger of the
//! two parts (a poller seen in both is counted once; one seen only before
//! and another only after count as one). Feed pollers poll all day, so
//! the larger part is close to the whole; a day with a restart may count
//! a little low, never high.
//!
//! A write that fails (a full disk) keeps the figures in memory, and the
//! next flush writes them with what came since; nothing is lost but on a
//! crash (kill -9, power cut): at most the last [`INTERVAL`] of counts.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

use super::report::{self, Counting};
use super::sketch::Distinct;
use super::store::{AggregatorDay, FamilyDay, FeedDay, Flush, Store, WebSubRow};
pub(crate) use super::tally::now_ms;
use super::tally::{day_of, Counts, DayTally, Tally};
use super::user_agent::FAMILIES;
use super::{Ask, PageContext, WebSubCounts};
use crate::format::Format;

/// How often the counts are written.
pub(crate) const INTERVAL: Duration = Duration::from_secs(2);

/// How many days of aggregator reports before a day still count for it: an
/// aggregator that polls a small feed once every few days still has its
/// readers.
pub(crate) const REPORT_LOOKBACK_DAYS: i64 = 7;

/// What the thread owns.
pub(crate) struct Counter {
    pub(crate) store: Store,
    pub(crate) tally: Arc<Tally>,
    pub(crate) websub: Option<WebSubCounts>,
    pub(crate) retention_days: u32,
    pub(crate) page: PageContext,
    /// The days not yet over (and the one that just ended, until written).
    days: BTreeMap<i64, DayTally>,
    /// The day old days were last deleted on.
    forgotten_on: Option<i64>,
    /// Whether the last write failed (logged once until one succeeds).
    failing: bool,
}

impl Counter {
    pub(crate) fn new(
        store: Store,
        tally: Arc<Tally>,
        websub: Option<WebSubCounts>,
        retention_days: u32,
        page: PageContext,
    ) -> Counter {
        Counter {
            store,
            tally,
            websub,
            retention_days,
            page,
            days: BTreeMap::new(),
            forgotten_on: None,
            failing: false,
        }
    }

    /// Flushes every [`INTERVAL`] and answers what is asked, until told to
    /// stop; then flushes a last time.
    pub(crate) fn run(mut self, asks: Receiver<Ask>) {
        let mut next = Instant::now() + INTERVAL;
        loop {
            // Awake at midnight too, so that requests count in the new day at once.
            let now = now_ms();
            let midnight = Duration::from_millis(
                u64::try_from(86_400_000 - now.rem_euclid(86_400_000)).unwrap_or(0) + 1,
            );
            let wait = next.saturating_duration_since(Instant::now()).min(midnight);
            let asked = asks.recv_timeout(wait);
            self.tally.set_today(day_of(now_ms()));
            match asked {
                Ok(Ask::Page { json, reply }) => {
                    self.flush(now_ms());
                    let _ = reply.send(self.page(json, now_ms()));
                }
                Ok(Ask::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.flush(now_ms());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if Instant::now() >= next {
                        self.flush(now_ms());
                        next = Instant::now() + INTERVAL;
                    }
                }
            }
        }
    }

    /// Takes the requests' counts, writes what changed, and deletes the
    /// days past the horizon (once a day).
    pub(crate) fn flush(&mut self, now: i64) {
        let today = day_of(now);
        let mut dropped = 0;
        for taken in self.tally.take() {
            dropped += self
                .days
                .entry(taken.day)
                .or_insert_with(|| DayTally::new(taken.day))
                .merge(taken);
        }
        self.tally.add_reports_dropped(dropped);
        let mut flush = changes(&self.days);
        if let Some(websub) = &self.websub {
            flush.websub_today = Some((today, websub_rows(&websub())));
        }
        match self.store.write(&flush) {
            Ok(()) => {
                if self.failing {
                    warn!("audience counting: the database is written again");
                }
                self.failing = false;
                // Written: only the sketches of days not yet over are kept.
                self.days.retain(|day, _| *day >= today);
                for tally in self.days.values_mut() {
                    forget_counts(tally);
                }
            }
            Err(error) => {
                if !self.failing {
                    warn!("audience counting: {error}; the counts are kept in memory and written at the next flush");
                }
                self.failing = true;
            }
        }
        if self.forgotten_on != Some(today) {
            let first_kept = today - i64::from(self.retention_days) + 1;
            match self.store.forget_before(first_kept) {
                Ok(_) => self.forgotten_on = Some(today),
                Err(error) => warn!("audience counting: {error}"),
            }
        }
    }

    /// The page or its JSON, as of `now`.
    fn page(&self, json: bool, now: i64) -> Result<Vec<u8>, String> {
        let today = day_of(now);
        let first = today - i64::from(report::DAYS) + 1;
        let stored = self
            .store
            .read(first, first - REPORT_LOOKBACK_DAYS + 1, None)?;
        let counting = Counting {
            memory_bytes: u64::try_from(self.memory_bytes()).unwrap_or(u64::MAX),
            reports_dropped: self.tally.reports_dropped(),
            flush_seconds: INTERVAL.as_secs(),
        };
        let report = report::build(&stored, today, report::DAYS, now, Some(counting));
        Ok(if json {
            report::json(&report)
        } else {
            super::page::html(&report, &self.page)
        })
    }

    /// The memory counting holds: the requests' table and this thread's days.
    fn memory_bytes(&self) -> usize {
        self.tally.heap_bytes() + self.days.values().map(DayTally::heap_bytes).sum::<usize>()
    }
}

/// A feed path (`/opinion/rss.xml`) as its feed (`/opinion/`) and format (`rss`).
pub(crate) fn split_feed_path(path: &str) -> Option<(&str, Format)> {
    let at = path.rfind('/')? + 1;
    let format = Format::of_file_name(&path[at..])?;
    Some((&path[..at], format))
}

/// The rows to write for every feed path counted since the last write (and
/// the feed's row of all formats, with its pollers' union), every report
/// of those paths, and every family's new counts.
fn changes(days: &BTreeMap<i64, DayTally>) -> Flush {
    let mut flush = Flush::default();
    for (day, tally) in days {
        // The feeds with something new, and the union of their formats.
        let mut touched: HashMap<&str, (Counts, Distinct, Distinct)> = HashMap::new();
        for (path, feed) in &tally.feeds {
            if feed.counts.requests == 0 {
                continue;
            }
            let Some((dir, format)) = split_feed_path(path) else {
                continue;
            };
            flush.feeds.push(FeedDay {
                day: *day,
                feed: dir.to_string(),
                format: format.name().to_string(),
                counts: feed.counts,
                pollers: feed.pollers.count(),
                direct_pollers: feed.direct.count(),
                websub: None,
            });
            for report in &feed.reports {
                flush.aggregators.push(AggregatorDay {
                    day: *day,
                    feed: dir.to_string(),
                    format: format.name().to_string(),
                    aggregator: report.aggregator.clone(),
                    feed_id: report.feed_id.clone(),
                    subscribers: report.subscribers,
                    reported_at: report.at_ms,
                });
            }
            touched.entry(dir).or_default().0.add(&feed.counts);
        }
        for (path, feed) in &tally.feeds {
            let Some((dir, _)) = split_feed_path(path) else {
                continue;
            };
            if let Some((_, pollers, direct)) = touched.get_mut(dir) {
                pollers.merge(&feed.pollers);
                direct.merge(&feed.direct);
            }
        }
        let mut all: Vec<_> = touched.into_iter().collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        for (dir, (counts, pollers, direct)) in all {
            flush.feeds.push(FeedDay {
                day: *day,
                feed: dir.to_string(),
                format: String::new(),
                counts,
                pollers: pollers.count(),
                direct_pollers: direct.count(),
                websub: None,
            });
        }
        for (family, counts) in FAMILIES.iter().zip(tally.families.iter()) {
            if !counts.is_zero() {
                flush.families.push(FamilyDay {
                    day: *day,
                    family: family.name.to_string(),
                    counts: *counts,
                });
            }
        }
    }
    flush
}

/// WebSub subscriptions per feed path as rows per feed and format, plus
/// each feed's total (format `""`).
fn websub_rows(per_path: &[(String, u64)]) -> Vec<WebSubRow> {
    let mut rows = Vec::new();
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for (path, count) in per_path {
        if let Some((dir, format)) = split_feed_path(path) {
            rows.push(WebSubRow {
                feed: dir.to_string(),
                format: format.name().to_string(),
                subscriptions: *count,
            });
            *totals.entry(dir).or_default() += count;
        }
    }
    rows.extend(totals.into_iter().map(|(dir, count)| WebSubRow {
        feed: dir.to_string(),
        format: String::new(),
        subscriptions: count,
    }));
    rows.sort();
    rows
}

/// After a write: the counts and reports are in the database; the sketches stay.
fn forget_counts(tally: &mut DayTally) {
    for feed in tally.feeds.values_mut() {
        feed.counts = Counts::default();
        feed.reports.clear();
    }
    for family in tally.families.iter_mut() {
        *family = Default::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audience::tally::Observation;

    #[test]
    fn feed_paths_split_into_feed_and_format() {
        assert_eq!(split_feed_path("/rss.xml"), Some(("/", Format::Rss)));
        assert_eq!(
            split_feed_path("/tags/économie/feed.json"),
            Some(("/tags/économie/", Format::Json))
        );
        assert_eq!(split_feed_path("/opinion/"), None);
    }

    fn counter(dir: &std::path::Path, tally: Arc<Tally>) -> Counter {
        Counter::new(
            Store::open(dir).unwrap(),
            tally,
            Some(Arc::new(|| vec![("/opinion/rss.xml".to_string(), 2)])),
            400,
            PageContext::default(),
        )
    }

    #[test]
    fn counts_a_failed_write_could_not_store_are_written_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_700_000_000_000;
        let tally = Arc::new(Tally::new(1, day_of(now)));
        let mut counter = counter(dir.path(), tally.clone());
        let poll = |ua: &'static str| Observation {
            path: "/rss.xml",
            status: 304,
            bytes: 0,
            validators: true,
            user_agent: Some(ua.as_bytes()),
            client: "192.0.2.1".parse().unwrap(),
        };
        tally.observe(&poll("a"), || true);
        counter.store.refuse_writes(true);
        counter.flush(now);
        tally.observe(&poll("b"), || true);
        counter.flush(now + 1);
        assert!(counter.failing);
        assert!(counter.store.read(0, 0, None).unwrap().feeds.is_empty());
        counter.store.refuse_writes(false);
        counter.flush(now + 2);
        let stored = counter.store.read(0, 0, None).unwrap();
        let rss = stored.feeds.iter().find(|r| r.format == "rss").unwrap();
        assert_eq!(
            (rss.counts.requests, rss.counts.not_modified, rss.pollers),
            (2, 2, 2)
        );
        counter.flush(now + 3);
        let again = counter.store.read(0, 0, None).unwrap();
        assert_eq!(again.feeds, stored.feeds, "nothing is written twice");
    }

    #[test]
    fn a_flush_writes_formats_their_union_and_websub_and_forgets_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_700_000_000_000;
        let tally = Arc::new(Tally::new(2, day_of(now)));
        let mut counter = counter(dir.path(), tally.clone());
        for (path, ua) in [
            ("/opinion/rss.xml", "a"),
            ("/opinion/atom.xml", "a"),
            ("/opinion/atom.xml", "b"),
        ] {
            tally.observe(
                &Observation {
                    path,
                    status: 200,
                    bytes: 10,
                    validators: false,
                    user_agent: Some(ua.as_bytes()),
                    client: "192.0.2.1".parse().unwrap(),
                },
                || true,
            );
        }
        counter.flush(now);
        counter.flush(now + 1);
        let stored = counter.store.read(0, 0, None).unwrap();
        let row = |format: &str| {
            stored
                .feeds
                .iter()
                .find(|r| r.feed == "/opinion/" && r.format == format)
                .unwrap()
                .clone()
        };
        assert_eq!(row("rss").counts.requests, 1);
        assert_eq!(row("atom").pollers, 2);
        assert_eq!(row("").counts.requests, 3);
        assert_eq!(row("").pollers, 2, "the union, not the sum");
        assert_eq!(row("rss").websub, Some(2));
        assert_eq!(row("").websub, Some(2));
    }
}
