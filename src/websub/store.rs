//! The hub's state that outlives a process: subscriptions and the
//! deliveries not yet made, in one SQLite database
//! (`<data_dir>/websub.sqlite3`). Only the hub's own thread opens it
//! (`hub.rs`), so there is one owner and no lock.
//!
//! Every change is one statement or one transaction in SQLite's default
//! rollback journal with `synchronous = FULL`: a crash (kill -9, power
//! loss) leaves either the state before a change or after it. A database
//! that is corrupt, of an unknown schema version (`PRAGMA user_version`),
//! or not writable is an error at start, never a silent loss.
//!
//! A delivery row means "this subscriber has not yet got the topic's
//! current bytes": the body is taken from the served set when it is sent,
//! so a subscriber gets the newest feed, and a change made while a
//! delivery is pending adds nothing to the queue (it bumps `generation`, so
//! a delivery under way that succeeds does not clear the newer change).
//! Times are Unix milliseconds.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// The schema this code reads and writes.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE subscription (
    topic      TEXT NOT NULL,
    callback   TEXT NOT NULL,
    host       TEXT NOT NULL,
    secret     BLOB,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (topic, callback)
);
CREATE TABLE delivery (
    topic      TEXT NOT NULL,
    callback   TEXT NOT NULL,
    generation INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    next_at    INTEGER NOT NULL,
    give_up_at INTEGER NOT NULL,
    PRIMARY KEY (topic, callback)
);
CREATE INDEX delivery_next ON delivery (next_at);
";

/// The database file's name in the data directory.
pub(crate) const FILE_NAME: &str = "websub.sqlite3";

/// An open store.
pub(crate) struct Store {
    db: Connection,
}

/// A subscription to keep.
pub(crate) struct Subscription<'a> {
    pub(crate) topic: &'a str,
    pub(crate) callback: &'a str,
    pub(crate) host: &'a str,
    pub(crate) secret: Option<&'a [u8]>,
    pub(crate) expires_at: i64,
}

/// A delivery that is due, with what sending it needs.
#[derive(Clone)]
pub(crate) struct Due {
    pub(crate) topic: String,
    pub(crate) callback: String,
    pub(crate) host: String,
    pub(crate) secret: Option<Vec<u8>>,
    pub(crate) generation: i64,
    pub(crate) failures: u32,
    pub(crate) give_up_at: i64,
}

/// Counts of active subscriptions (for the caps and `/healthz`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) total: usize,
    pub(crate) per_topic: HashMap<String, usize>,
    pub(crate) per_host: HashMap<String, usize>,
    /// Deliveries not yet made.
    pub(crate) pending: usize,
}

fn sql(context: &str) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |e| format!("{context}: {e}")
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Store, String> {
        let db = crate::sqlite::open(
            dir,
            &crate::sqlite::Kept {
                file_name: FILE_NAME,
                synchronous: "FULL",
                wal: false,
                schema: SCHEMA,
                version: SCHEMA_VERSION,
                if_corrupt: "move it aside to start with no subscriptions",
            },
        )?;
        Ok(Store { db })
    }

    /// Adds or renews a subscription.
    pub(crate) fn subscribe(&self, s: &Subscription<'_>) -> Result<(), String> {
        self.db
            .execute(
                "INSERT INTO subscription (topic, callback, host, secret, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (topic, callback) DO UPDATE SET
                   host = excluded.host, secret = excluded.secret, expires_at = excluded.expires_at",
                params![s.topic, s.callback, s.host, s.secret, s.expires_at],
            )
            .map(drop)
            .map_err(sql("cannot store a subscription"))
    }

    /// Whether a subscription exists (active or not).
    pub(crate) fn exists(&self, topic: &str, callback: &str) -> Result<bool, String> {
        self.db
            .query_row(
                "SELECT 1 FROM subscription WHERE topic = ?1 AND callback = ?2",
                params![topic, callback],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(sql("cannot read subscriptions"))
    }

    /// Ends a subscription and drops its pending delivery.
    pub(crate) fn unsubscribe(&mut self, topic: &str, callback: &str) -> Result<(), String> {
        let tx = self.db.transaction().map_err(sql("cannot unsubscribe"))?;
        tx.execute(
            "DELETE FROM subscription WHERE topic = ?1 AND callback = ?2",
            params![topic, callback],
        )
        .map_err(sql("cannot unsubscribe"))?;
        tx.execute(
            "DELETE FROM delivery WHERE topic = ?1 AND callback = ?2",
            params![topic, callback],
        )
        .map_err(sql("cannot unsubscribe"))?;
        tx.commit().map_err(sql("cannot unsubscribe"))
    }

    /// Queues a delivery of `topic` to each of its active subscribers, due
    /// now; returns how many.
    pub(crate) fn topic_changed(
        &self,
        topic: &str,
        now: i64,
        give_up_at: i64,
    ) -> Result<usize, String> {
        self.db
            .execute(
                "INSERT INTO delivery (topic, callback, generation, failures, next_at, give_up_at)
                 SELECT topic, callback, 1, 0, ?2, ?3 FROM subscription
                 WHERE topic = ?1 AND expires_at > ?2
                 ON CONFLICT (topic, callback) DO UPDATE SET
                   generation = generation + 1, failures = 0,
                   next_at = excluded.next_at, give_up_at = excluded.give_up_at",
                params![topic, now, give_up_at],
            )
            .map_err(sql("cannot queue deliveries"))
    }

    /// Up to `limit` deliveries due at `now`, the earliest first; deliveries
    /// whose subscription has expired or gone are removed first.
    pub(crate) fn due(&self, now: i64, limit: usize) -> Result<Vec<Due>, String> {
        self.db
            .execute(
                "DELETE FROM delivery WHERE NOT EXISTS (
                   SELECT 1 FROM subscription s
                   WHERE s.topic = delivery.topic AND s.callback = delivery.callback AND s.expires_at > ?1)",
                params![now],
            )
            .map_err(sql("cannot read deliveries"))?;
        let mut statement = self
            .db
            .prepare(
                "SELECT d.topic, d.callback, s.host, s.secret, d.generation, d.failures, d.give_up_at
                 FROM delivery d JOIN subscription s ON s.topic = d.topic AND s.callback = d.callback
                 WHERE d.next_at <= ?1 ORDER BY d.next_at LIMIT ?2",
            )
            .map_err(sql("cannot read deliveries"))?;
        let rows = statement
            .query_map(
                params![now, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| {
                    Ok(Due {
                        topic: row.get(0)?,
                        callback: row.get(1)?,
                        host: row.get(2)?,
                        secret: row.get(3)?,
                        generation: row.get(4)?,
                        failures: row.get(5)?,
                        give_up_at: row.get(6)?,
                    })
                },
            )
            .map_err(sql("cannot read deliveries"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("cannot read deliveries"))
    }

    /// When the next delivery is due, if any is queued.
    pub(crate) fn next_due(&self) -> Result<Option<i64>, String> {
        self.db
            .query_row("SELECT MIN(next_at) FROM delivery", [], |row| row.get(0))
            .map_err(sql("cannot read deliveries"))
    }

    /// A delivery made (or given up): removed, unless a newer change came
    /// since it was taken.
    pub(crate) fn done(&self, due: &Due) -> Result<(), String> {
        self.db
            .execute(
                "DELETE FROM delivery WHERE topic = ?1 AND callback = ?2 AND generation = ?3",
                params![due.topic, due.callback, due.generation],
            )
            .map(drop)
            .map_err(sql("cannot record a delivery"))
    }

    /// A delivery failed: tried again at `next_at`, unless a newer change
    /// came since it was taken (then it is due as that change said).
    pub(crate) fn retry_at(&self, due: &Due, next_at: i64) -> Result<(), String> {
        self.db
            .execute(
                "UPDATE delivery SET failures = failures + 1, next_at = ?4
                 WHERE topic = ?1 AND callback = ?2 AND generation = ?3",
                params![due.topic, due.callback, due.generation, next_at],
            )
            .map(drop)
            .map_err(sql("cannot record a failed delivery"))
    }

    /// Removes subscriptions expired by `now` (their deliveries go with
    /// them at the next [`Store::due`]).
    pub(crate) fn expire(&self, now: i64) -> Result<usize, String> {
        self.db
            .execute(
                "DELETE FROM subscription WHERE expires_at <= ?1",
                params![now],
            )
            .map_err(sql("cannot expire subscriptions"))
    }

    /// The counts of active subscriptions at `now`, and of pending deliveries.
    pub(crate) fn counts(&self, now: i64) -> Result<Counts, String> {
        let mut counts = Counts::default();
        let mut statement = self
            .db
            .prepare("SELECT topic, host FROM subscription WHERE expires_at > ?1")
            .map_err(sql("cannot count subscriptions"))?;
        let mut rows = statement
            .query(params![now])
            .map_err(sql("cannot count subscriptions"))?;
        while let Some(row) = rows.next().map_err(sql("cannot count subscriptions"))? {
            let topic: String = row.get(0).map_err(sql("cannot count subscriptions"))?;
            let host: String = row.get(1).map_err(sql("cannot count subscriptions"))?;
            counts.total += 1;
            *counts.per_topic.entry(topic).or_default() += 1;
            *counts.per_host.entry(host).or_default() += 1;
        }
        counts.pending = self
            .db
            .query_row("SELECT COUNT(*) FROM delivery", [], |row| {
                row.get::<_, i64>(0)
            })
            .map_err(sql("cannot count deliveries"))?
            .try_into()
            .unwrap_or(0);
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub<'a>(topic: &'a str, callback: &'a str, expires_at: i64) -> Subscription<'a> {
        Subscription {
            topic,
            callback,
            host: "h",
            secret: Some(b"k"),
            expires_at,
        }
    }

    #[test]
    fn subscriptions_and_pending_deliveries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.subscribe(&sub("t", "http://a/", 1000)).unwrap();
            store.subscribe(&sub("t", "http://b/", 50)).unwrap();
            assert_eq!(store.topic_changed("t", 10, 500).unwrap(), 2);
        }
        let store = Store::open(dir.path()).unwrap();
        let counts = store.counts(100).unwrap();
        assert_eq!(counts.total, 1, "one lease ended at 50");
        let due = store.due(100, 10).unwrap();
        assert_eq!(due.len(), 1, "the expired subscriber's delivery is dropped");
        assert_eq!(due[0].callback, "http://a/");
        assert_eq!(due[0].secret.as_deref(), Some(&b"k"[..]));
    }

    #[test]
    fn a_change_during_a_delivery_is_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.subscribe(&sub("t", "http://a/", 1000)).unwrap();
        store.topic_changed("t", 10, 500).unwrap();
        let taken = store.due(10, 10).unwrap().remove(0);
        store.topic_changed("t", 20, 500).unwrap();
        store.done(&taken).unwrap();
        assert_eq!(store.due(20, 10).unwrap().len(), 1);
        store.retry_at(&taken, 99).unwrap();
        assert_eq!(
            store.next_due().unwrap(),
            Some(20),
            "a stale failure moves nothing"
        );
    }

    #[test]
    fn unsubscribing_drops_the_pending_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.subscribe(&sub("t", "http://a/", 1000)).unwrap();
        store.topic_changed("t", 10, 500).unwrap();
        store.unsubscribe("t", "http://a/").unwrap();
        assert_eq!(store.next_due().unwrap(), None);
        assert_eq!(store.counts(0).unwrap(), Counts::default());
    }

    #[test]
    fn a_corrupt_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![0x5a; 8192]).unwrap();
        let error = Store::open(dir.path()).err().unwrap();
        assert!(error.contains("websub.sqlite3"), "{error}");
    }

    #[test]
    fn an_unknown_schema_version_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let db = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        db.pragma_update(None, "user_version", 7).unwrap();
        drop(db);
        let error = Store::open(dir.path()).err().unwrap();
        assert!(error.contains("schema version 7"), "{error}");
    }
}
