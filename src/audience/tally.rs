//! The request side of counting: a table in memory that each answered feed
//! request updates with a little arithmetic, under a lock of its own
//! worker thread's shard (so the workers never wait for each other), and
//! that the counting thread (`flush.rs`) takes every few seconds.
//!
//! Bounded whatever the traffic:
//! - one entry per feed path of the served set (the caller only passes
//!   feeds) and UTC day;
//! - distinct pollers in a [`Distinct`] (1 KiB at most each);
//! - a fixed row per client family;
//! - at most [`MAX_REPORTS`] aggregator reports (aggregator, feed id) per
//!   feed path; others are dropped and counted (`reports_dropped`);
//! - a memo of at most [`MEMO_MAX`] user agents' families per shard, so the
//!   usual pollers are classified once, emptied when full.
//!
//! Pollers are told apart by a keyed hash of the client address and the
//! user agent: SipHash-1-3 (std's `RandomState`: 128 random key bits)
//! over the address and a 64-bit digest of the user agent. The key is made
//! for each UTC day and at each start, lives in this process's memory
//! only, and is dropped when the day ends: no hash, address or user agent
//! is ever written anywhere, and once the key is gone nobody can tell
//! whose hash was whose.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use super::sketch::Distinct;
use super::user_agent::{self, FAMILY_COUNT};

/// The most aggregator reports (aggregator, feed id) kept per feed path and day.
pub(crate) const MAX_REPORTS: usize = 64;

/// The most user agents whose family a shard remembers.
pub(crate) const MEMO_MAX: usize = 4096;

/// One answered request for a feed, as counting sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observation<'a> {
    /// The feed's path in the served set (`/opinion/rss.xml`).
    pub(crate) path: &'a str,
    pub(crate) status: u16,
    /// Bytes of the body sent.
    pub(crate) bytes: u64,
    /// Whether the request carried `If-None-Match` or `If-Modified-Since`.
    pub(crate) validators: bool,
    pub(crate) user_agent: Option<&'a [u8]>,
    /// The client (behind trusted proxies, the address they name).
    pub(crate) client: IpAddr,
}

/// Counts of answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) not_modified: u64,
    pub(crate) too_many: u64,
    pub(crate) other: u64,
    pub(crate) bytes: u64,
}

impl Counts {
    fn add_answer(&mut self, status: u16, bytes: u64) {
        self.requests += 1;
        match status {
            200 => self.ok += 1,
            304 => self.not_modified += 1,
            429 => self.too_many += 1,
            _ => self.other += 1,
        }
        self.bytes = self.bytes.saturating_add(bytes);
    }

    pub(crate) fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.not_modified += other.not_modified;
        self.too_many += other.too_many;
        self.other += other.other;
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// What one client family did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FamilyCounts {
    pub(crate) requests: u64,
    pub(crate) with_validators: u64,
    pub(crate) not_modified: u64,
    pub(crate) too_many: u64,
}

impl FamilyCounts {
    pub(crate) fn add(&mut self, other: &FamilyCounts) {
        self.requests += other.requests;
        self.with_validators += other.with_validators;
        self.not_modified += other.not_modified;
        self.too_many += other.too_many;
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.requests == 0
    }
}

/// An aggregator's latest report for a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) aggregator: String,
    pub(crate) feed_id: String,
    pub(crate) subscribers: u64,
    /// Unix milliseconds of the request that carried it.
    pub(crate) at_ms: i64,
}

/// One feed path's figures for a day.
#[derive(Debug, Clone, Default)]
pub(crate) struct FeedTally {
    pub(crate) counts: Counts,
    /// Every poller.
    pub(crate) pollers: Distinct,
    /// Pollers that report no count and are neither aggregators nor crawlers.
    pub(crate) direct: Distinct,
    pub(crate) reports: Vec<Report>,
}

impl FeedTally {
    /// Keeps `report` as its aggregator's latest for this feed, if it is;
    /// `false` when it is new and there is no room for it.
    pub(crate) fn keep_report(&mut self, report: Report) -> bool {
        let same = self
            .reports
            .iter()
            .position(|r| r.aggregator == report.aggregator && r.feed_id == report.feed_id);
        match same {
            Some(at) => {
                if report.at_ms >= self.reports[at].at_ms {
                    self.reports[at] = report;
                }
                true
            }
            None if self.reports.len() < MAX_REPORTS => {
                self.reports.push(report);
                true
            }
            None => false,
        }
    }

    /// Adds `other`'s counts, pollers and reports; returns the reports that
    /// found no room.
    pub(crate) fn merge(&mut self, other: FeedTally) -> u64 {
        self.counts.add(&other.counts);
        self.pollers.merge(&other.pollers);
        self.direct.merge(&other.direct);
        let mut dropped = 0;
        for report in other.reports {
            if !self.keep_report(report) {
                dropped += 1;
            }
        }
        dropped
    }

    fn heap_bytes(&self) -> usize {
        self.pollers.heap_bytes()
            + self.direct.heap_bytes()
            + self
                .reports
                .iter()
                .map(|r| std::mem::size_of::<Report>() + r.aggregator.len() + r.feed_id.len())
                .sum::<usize>()
    }
}

/// A UTC day's figures, as one shard gathered them since last taken.
#[derive(Debug, Clone)]
pub(crate) struct DayTally {
    /// Days since 1970-01-01 (UTC).
    pub(crate) day: i64,
    pub(crate) feeds: HashMap<Box<str>, FeedTally>,
    pub(crate) families: [FamilyCounts; FAMILY_COUNT],
}

impl DayTally {
    pub(crate) fn new(day: i64) -> DayTally {
        DayTally {
            day,
            feeds: HashMap::new(),
            families: [FamilyCounts::default(); FAMILY_COUNT],
        }
    }

    /// Adds `other` (of the same day); returns the reports that found no room.
    pub(crate) fn merge(&mut self, other: DayTally) -> u64 {
        for (mine, theirs) in self.families.iter_mut().zip(other.families.iter()) {
            mine.add(theirs);
        }
        let mut dropped = 0;
        for (path, tally) in other.feeds {
            dropped += self.feeds.entry(path).or_default().merge(tally);
        }
        dropped
    }

    /// The heap memory it holds, roughly, in bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.feeds
            .iter()
            .map(|(path, tally)| {
                path.len() + std::mem::size_of::<FeedTally>() + 16 + tally.heap_bytes()
            })
            .sum()
    }
}

/// The key of a UTC day.
struct DayKey {
    day: i64,
    hasher: std::collections::hash_map::RandomState,
}

/// One worker's part of the table.
struct Shard {
    /// Today's, and the day before's until the counting thread takes it.
    days: Vec<DayTally>,
    /// User agents that report nothing, by digest: their family. Made at
    /// its full size, so that its memory never changes with the traffic.
    memo: HashMap<u64, u8>,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            days: Vec::new(),
            memo: HashMap::with_capacity(MEMO_MAX),
        }
    }
}

/// A shard on cache lines of its own: two workers locking their own shards
/// never write to a line the other reads.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

/// The table every request updates.
pub(crate) struct Tally {
    shards: Box<[Padded]>,
    /// The UTC day requests are counted in: set by the counting thread,
    /// which wakes at midnight for it, so that a request reads no clock.
    today: AtomicI64,
    key: ArcSwap<DayKey>,
    rotating: Mutex<()>,
    reports_dropped: AtomicU64,
    next_shard: AtomicUsize,
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("shards", &self.shards.len())
            .finish()
    }
}

thread_local! {
    /// The shard this thread updates, once chosen (`usize::MAX`: not yet).
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The current time in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Days since 1970-01-01 of a Unix time in milliseconds.
pub(crate) fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters only: a panic mid-update costs a count, never the server.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tally {
    /// A table with `shards` shards (one per worker thread), keyed for `day`.
    pub(crate) fn new(shards: usize, day: i64) -> Tally {
        Tally {
            shards: (0..shards.max(1))
                .map(|_| Padded(Mutex::new(Shard::default())))
                .collect(),
            key: ArcSwap::from_pointee(DayKey {
                day,
                hasher: Default::default(),
            }),
            today: AtomicI64::new(day),
            rotating: Mutex::new(()),
            reports_dropped: AtomicU64::new(0),
            next_shard: AtomicUsize::new(0),
        }
    }

    /// Counts one answered request, if `is_feed` says its path is a feed's
    /// (asked only for a path not yet counted since the last flush: the
    /// table's own lookup spares the served set's for the feeds polled).
    pub(crate) fn observe(&self, seen: &Observation<'_>, is_feed: impl FnOnce() -> bool) {
        let day = self.today.load(Ordering::Relaxed);
        // A guard, not a clone of the `Arc`: no shared count is written per request.
        let mut key = self.key.load();
        if key.day < day {
            self.rotate(day);
            key = self.key.load();
        }
        let digest = seen.user_agent.map(xxhash_rust::xxh3::xxh3_64);
        let address = match seen.client.to_canonical() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        let poller = key.hasher.hash_one((address, digest));
        let mut shard = lock(&self.shards[self.my_shard()].0);
        let Shard { days, memo } = &mut *shard;
        let tally = match days.iter().position(|d| d.day == key.day) {
            Some(at) => &mut days[at],
            None => {
                days.push(DayTally::new(key.day));
                let last = days.len() - 1;
                &mut days[last]
            }
        };
        let DayTally {
            feeds, families, ..
        } = tally;
        let feed = match feeds.get_mut(seen.path) {
            Some(feed) => feed,
            None if is_feed() => feeds.entry(seen.path.into()).or_default(),
            None => return,
        };
        // Most user agents never report: their family is remembered.
        let reporting;
        let (family, report) = match (seen.user_agent, digest) {
            (Some(agent), Some(digest)) => match memo.get(&digest) {
                Some(family) => (*family, None),
                None => {
                    let class = user_agent::classify(Some(agent));
                    if class.report.is_none() {
                        if memo.len() >= MEMO_MAX {
                            memo.clear();
                        }
                        memo.insert(digest, class.family);
                    }
                    reporting = class;
                    (reporting.family, reporting.report.as_ref())
                }
            },
            _ => (user_agent::NO_USER_AGENT, None),
        };
        let counts = &mut families[usize::from(family)];
        counts.requests += 1;
        counts.with_validators += u64::from(seen.validators);
        counts.not_modified += u64::from(seen.status == 304);
        counts.too_many += u64::from(seen.status == 429);
        feed.counts.add_answer(seen.status, seen.bytes);
        feed.pollers.insert(poller);
        match report {
            Some(report) => {
                let kept = feed.keep_report(Report {
                    aggregator: report.aggregator.clone(),
                    feed_id: report.feed_id.clone(),
                    subscribers: report.subscribers,
                    // Only reports read the clock: they are few.
                    at_ms: now_ms(),
                });
                if !kept {
                    self.reports_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                if user_agent::FAMILIES[usize::from(family)].kind.is_direct() {
                    feed.direct.insert(poller);
                }
            }
        }
    }

    /// Counts requests in `day` from now on (the counting thread, at
    /// midnight; never backwards).
    pub(crate) fn set_today(&self, day: i64) {
        self.today.fetch_max(day, Ordering::Relaxed);
    }

    /// Takes what every shard gathered since the last call.
    pub(crate) fn take(&self) -> Vec<DayTally> {
        let mut taken = Vec::new();
        for shard in self.shards.iter() {
            taken.append(&mut lock(&shard.0).days);
        }
        taken
    }

    /// Reports dropped for want of room, since start.
    pub(crate) fn reports_dropped(&self) -> u64 {
        self.reports_dropped.load(Ordering::Relaxed)
    }

    /// Counts reports dropped elsewhere (when merging).
    pub(crate) fn add_reports_dropped(&self, n: u64) {
        self.reports_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// The heap memory of the shards' tables and memos, roughly, in bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = lock(&shard.0);
                shard.days.iter().map(DayTally::heap_bytes).sum::<usize>()
                    + shard.memo.capacity() * 24
            })
            .sum()
    }

    /// Makes the key of `day`, when the first request of a new day comes
    /// (the previous key is dropped then). A request that raced past
    /// midnight with an older day is counted in the newer day.
    fn rotate(&self, day: i64) {
        let _one = lock(&self.rotating);
        if self.key.load().day < day {
            self.key.store(Arc::new(DayKey {
                day,
                hasher: Default::default(),
            }));
        }
    }

    fn my_shard(&self) -> usize {
        let shards = self.shards.len();
        SHARD.with(|mine| {
            let index = mine.get();
            if index != usize::MAX {
                return index % shards;
            }
            let index = self.next_shard.fetch_add(1, Ordering::Relaxed);
            mine.set(index);
            index % shards
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(path: &'a str, ua: Option<&'a str>, client: &str, status: u16) -> Observation<'a> {
        Observation {
            path,
            status,
            bytes: 100,
            validators: status == 304,
            user_agent: ua.map(str::as_bytes),
            client: client.parse().unwrap(),
        }
    }

    fn merged(tally: &Tally) -> DayTally {
        let mut days = tally.take();
        let mut first = days.remove(0);
        for day in days {
            first.merge(day);
        }
        first
    }

    #[test]
    fn requests_pollers_and_reports_are_counted() {
        let tally = Tally::new(2, day_of(1_700_000_000_000));
        let feedly = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 134 subscribers; )";
        for _ in 0..3 {
            tally.observe(
                &seen(
                    "/rss.xml",
                    Some("NetNewsWire (RSS Reader)"),
                    "192.0.2.1",
                    304,
                ),
                || true,
            );
            tally.observe(&seen("/rss.xml", Some(feedly), "198.51.100.7", 200), || {
                true
            });
        }
        tally.observe(&seen("/rss.xml", None, "192.0.2.2", 429), || true);
        tally.observe(
            &seen("/rss.xml", Some("Googlebot/2.1"), "192.0.2.3", 200),
            || true,
        );
        let day = merged(&tally);
        let feed = &day.feeds["/rss.xml"];
        assert_eq!(
            feed.counts,
            Counts {
                requests: 8,
                ok: 4,
                not_modified: 3,
                too_many: 1,
                other: 0,
                bytes: 800
            }
        );
        assert_eq!(feed.pollers.count(), 4);
        assert_eq!(
            feed.direct.count(),
            2,
            "the reader and the one without a user agent"
        );
        assert_eq!(feed.reports.len(), 1);
        assert_eq!(feed.reports[0].subscribers, 134);
        assert_eq!(day.families[0].requests, 3, "Feedly");
    }

    #[test]
    fn only_feeds_are_counted_and_a_counted_feed_is_asked_about_once() {
        let tally = Tally::new(1, day_of(1_700_000_000_000));
        tally.observe(&seen("/sitemap.xml", Some("x"), "192.0.2.1", 200), || false);
        let asked = std::cell::Cell::new(0);
        for _ in 0..3 {
            tally.observe(&seen("/rss.xml", Some("x"), "192.0.2.1", 200), || {
                asked.set(asked.get() + 1);
                true
            });
        }
        assert_eq!(asked.get(), 1);
        let day = merged(&tally);
        assert_eq!(day.feeds.len(), 1);
        assert_eq!(day.families.iter().map(|f| f.requests).sum::<u64>(), 3);
    }

    #[test]
    fn the_same_poller_on_another_day_has_another_hash() {
        let tally = Tally::new(1, 0);
        let a = seen("/rss.xml", Some("x"), "192.0.2.1", 200);
        tally.observe(&a, || true);
        let first = tally.take().remove(0);
        tally.set_today(1);
        tally.set_today(0);
        tally.observe(&a, || true);
        let second = tally.take().remove(0);
        assert_eq!((first.day, second.day), (0, 1));
        let mut both = first.feeds["/rss.xml"].pollers.clone();
        both.merge(&second.feeds["/rss.xml"].pollers);
        assert_eq!(both.count(), 2, "a new key each day");
    }

    #[test]
    fn a_flood_of_user_agents_and_feed_ids_stays_bounded() {
        let tally = Tally::new(1, day_of(1_700_000_000_000));
        for i in 0..20_000 {
            let ua = format!("Agent{i}/1.0");
            tally.observe(&seen("/rss.xml", Some(&ua), "192.0.2.1", 200), || true);
            let spoof = format!("Feedbin feed-id:{i} - 1 subscribers");
            tally.observe(&seen("/atom.xml", Some(&spoof), "192.0.2.1", 200), || true);
        }
        assert!(tally.heap_bytes() < 400 * 1024, "{}", tally.heap_bytes());
        assert_eq!(tally.reports_dropped(), 20_000 - MAX_REPORTS as u64);
        let day = merged(&tally);
        let count = day.feeds["/rss.xml"].pollers.count();
        // A HyperLogLog of 1,024 registers: 3.3 % standard error; 15 % is 4.5 of them.
        assert!((17_000..23_000).contains(&count), "{count}");
    }
}
