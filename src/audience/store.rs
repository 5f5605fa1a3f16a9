//! The audience database, `<data_dir>/audience.sqlite3`, beside the WebSub
//! hub's (a file of its own: counting writes every few seconds, and the
//! hub's state must never wait for it or share its journal).
//!
//! Only figures are stored: per UTC day (days since 1970-01-01), feed
//! (its directory, `/opinion/`) and format (`rss`, `atom`, `json`, and
//! `""` for the feed's formats together): counts of answers, bytes, the
//! distinct pollers counted, the WebSub subscriptions; per day, feed,
//! format, aggregator and feed id, the aggregator's latest report; per day
//! and client family, its counts. No address, user agent or hash is ever
//! written (a test greps the file for them).
//!
//! WAL journal, so that `broadsheet stats` reads while the server writes;
//! `synchronous = NORMAL`: a power cut may cost the last flush, never the
//! file. One writer, the counting thread (`flush.rs`); a flush is one
//! transaction. Counts are added; distinct pollers take the larger of the
//! stored and the counted figure (a restart starts a new key, so the
//! counts before and after it cannot be merged: see `flush.rs`).

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags};

use super::tally::{Counts, FamilyCounts};

/// The file's name in the data directory.
pub(crate) const FILE_NAME: &str = "audience.sqlite3";

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE feed_day (
    day            INTEGER NOT NULL,
    feed           TEXT NOT NULL,
    format         TEXT NOT NULL,
    requests       INTEGER NOT NULL DEFAULT 0,
    ok             INTEGER NOT NULL DEFAULT 0,
    not_modified   INTEGER NOT NULL DEFAULT 0,
    too_many       INTEGER NOT NULL DEFAULT 0,
    other          INTEGER NOT NULL DEFAULT 0,
    bytes          INTEGER NOT NULL DEFAULT 0,
    pollers        INTEGER NOT NULL DEFAULT 0,
    direct_pollers INTEGER NOT NULL DEFAULT 0,
    websub         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, feed, format)
) WITHOUT ROWID;
CREATE TABLE aggregator_day (
    day         INTEGER NOT NULL,
    feed        TEXT NOT NULL,
    format      TEXT NOT NULL,
    aggregator  TEXT NOT NULL,
    feed_id     TEXT NOT NULL,
    subscribers INTEGER NOT NULL,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (day, feed, format, aggregator, feed_id)
) WITHOUT ROWID;
CREATE TABLE family_day (
    day             INTEGER NOT NULL,
    family          TEXT NOT NULL,
    requests        INTEGER NOT NULL DEFAULT 0,
    with_validators INTEGER NOT NULL DEFAULT 0,
    not_modified    INTEGER NOT NULL DEFAULT 0,
    too_many        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, family)
) WITHOUT ROWID;
";

/// A feed and format's figures for a day, to add to the stored ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FeedDay {
    pub(crate) day: i64,
    pub(crate) feed: String,
    pub(crate) format: String,
    /// Added to the stored counts.
    pub(crate) counts: Counts,
    /// Distinct pollers as counted under the current key; the stored figure
    /// becomes the larger of the two.
    pub(crate) pollers: u64,
    pub(crate) direct_pollers: u64,
    /// Active WebSub subscriptions (replaces the stored figure), if known.
    pub(crate) websub: Option<u64>,
}

/// An aggregator's report, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AggregatorDay {
    pub(crate) day: i64,
    pub(crate) feed: String,
    pub(crate) format: String,
    pub(crate) aggregator: String,
    pub(crate) feed_id: String,
    pub(crate) subscribers: u64,
    /// Unix milliseconds.
    pub(crate) reported_at: i64,
}

/// A client family's counts for a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FamilyDay {
    pub(crate) day: i64,
    pub(crate) family: String,
    pub(crate) counts: FamilyCounts,
}

/// What one flush writes.
#[derive(Debug, Default)]
pub(crate) struct Flush {
    pub(crate) feeds: Vec<FeedDay>,
    pub(crate) aggregators: Vec<AggregatorDay>,
    pub(crate) families: Vec<FamilyDay>,
    /// WebSub subscriptions per feed and format now, for that day: every
    /// other stored figure of the day is set to 0.
    pub(crate) websub_today: Option<(i64, Vec<WebSubRow>)>,
}

/// Active WebSub subscriptions of a feed (`""`: its formats together) and format.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WebSubRow {
    pub(crate) feed: String,
    pub(crate) format: String,
    pub(crate) subscriptions: u64,
}

/// Everything stored from a day on.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub(crate) feeds: Vec<FeedDay>,
    pub(crate) aggregators: Vec<AggregatorDay>,
    pub(crate) families: Vec<FamilyDay>,
}

/// The open database.
pub(crate) struct Store {
    db: Connection,
}

fn sql(context: &'static str) -> impl Fn(rusqlite::Error) -> String {
    move |e| format!("{context}: {e}")
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Opens (or creates) the database in `dir`, for writing.
    pub(crate) fn open(dir: &Path) -> Result<Store, String> {
        let db = crate::sqlite::open(
            dir,
            &crate::sqlite::Kept {
                file_name: FILE_NAME,
                synchronous: "NORMAL",
                wal: true,
                schema: SCHEMA,
                version: SCHEMA_VERSION,
                if_corrupt: "move it aside to start counting afresh",
            },
        )?;
        Ok(Store { db })
    }

    /// Opens the database at `path` to read only (`broadsheet stats`),
    /// while a server may be writing it.
    pub(crate) fn open_read_only(path: &Path) -> Result<Store, String> {
        let where_ = path.display().to_string();
        if !path.is_file() {
            return Err(format!(
                "{where_} does not exist: nothing has been counted yet (`broadsheet serve` with `[stats] enabled` counts)"
            ));
        }
        let db = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| format!("cannot open {where_}: {e}"))?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| format!("{where_}: {e}"))?;
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| format!("{where_} is not a usable database: {e}"))?;
        if version != SCHEMA_VERSION {
            return Err(format!(
                "{where_} has schema version {version}, which this broadsheet (version {SCHEMA_VERSION}) does not read"
            ));
        }
        Ok(Store { db })
    }

    /// Writes one flush, in one transaction.
    pub(crate) fn write(&mut self, flush: &Flush) -> Result<(), String> {
        let tx = self
            .db
            .transaction()
            .map_err(sql("cannot write the audience figures"))?;
        {
            let mut feed = tx
                .prepare(
                    "INSERT INTO feed_day (day, feed, format, requests, ok, not_modified, too_many,
                                           other, bytes, pollers, direct_pollers, websub)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, COALESCE(?12, 0))
                     ON CONFLICT (day, feed, format) DO UPDATE SET
                       requests = requests + excluded.requests,
                       ok = ok + excluded.ok,
                       not_modified = not_modified + excluded.not_modified,
                       too_many = too_many + excluded.too_many,
                       other = other + excluded.other,
                       bytes = bytes + excluded.bytes,
                       pollers = MAX(pollers, excluded.pollers),
                       direct_pollers = MAX(direct_pollers, excluded.direct_pollers),
                       websub = COALESCE(?12, websub)",
                )
                .map_err(sql("cannot write the audience figures"))?;
            for row in &flush.feeds {
                let c = &row.counts;
                feed.execute(params![
                    row.day,
                    row.feed,
                    row.format,
                    to_i64(c.requests),
                    to_i64(c.ok),
                    to_i64(c.not_modified),
                    to_i64(c.too_many),
                    to_i64(c.other),
                    to_i64(c.bytes),
                    to_i64(row.pollers),
                    to_i64(row.direct_pollers),
                    row.websub.map(to_i64),
                ])
                .map_err(sql("cannot write the audience figures"))?;
            }
            if let Some((today, websub)) = &flush.websub_today {
                tx.execute(
                    "UPDATE feed_day SET websub = 0 WHERE day = ?1 AND websub != 0",
                    params![today],
                )
                .map_err(sql("cannot write the WebSub figures"))?;
                let mut set = tx
                    .prepare(
                        "INSERT INTO feed_day (day, feed, format, websub) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (day, feed, format) DO UPDATE SET websub = excluded.websub",
                    )
                    .map_err(sql("cannot write the WebSub figures"))?;
                for row in websub {
                    set.execute(params![
                        today,
                        row.feed,
                        row.format,
                        to_i64(row.subscriptions)
                    ])
                    .map_err(sql("cannot write the WebSub figures"))?;
                }
            }
            let mut aggregator = tx
                .prepare(
                    "INSERT INTO aggregator_day (day, feed, format, aggregator, feed_id, subscribers, reported_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (day, feed, format, aggregator, feed_id) DO UPDATE SET
                       subscribers = excluded.subscribers, reported_at = excluded.reported_at
                     WHERE excluded.reported_at >= reported_at",
                )
                .map_err(sql("cannot write the aggregators' reports"))?;
            for row in &flush.aggregators {
                aggregator
                    .execute(params![
                        row.day,
                        row.feed,
                        row.format,
                        row.aggregator,
                        row.feed_id,
                        to_i64(row.subscribers),
                        row.reported_at,
                    ])
                    .map_err(sql("cannot write the aggregators' reports"))?;
            }
            let mut family = tx
                .prepare(
                    "INSERT INTO family_day (day, family, requests, with_validators, not_modified, too_many)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (day, family) DO UPDATE SET
                       requests = requests + excluded.requests,
                       with_validators = with_validators + excluded.with_validators,
                       not_modified = not_modified + excluded.not_modified,
                       too_many = too_many + excluded.too_many",
                )
                .map_err(sql("cannot write the client families' counts"))?;
            for row in &flush.families {
                let c = &row.counts;
                family
                    .execute(params![
                        row.day,
                        row.family,
                        to_i64(c.requests),
                        to_i64(c.with_validators),
                        to_i64(c.not_modified),
                        to_i64(c.too_many),
                    ])
                    .map_err(sql("cannot write the client families' counts"))?;
            }
        }
        tx.commit()
            .map_err(sql("cannot write the audience figures"))
    }

    /// Makes every write fail (or work again), as a full disk would.
    #[cfg(test)]
    pub(crate) fn refuse_writes(&self, refuse: bool) {
        self.db
            .pragma_update(None, "query_only", refuse)
            .expect("query_only");
    }

    /// Deletes every day before `first_kept`; returns the rows deleted.
    pub(crate) fn forget_before(&self, first_kept: i64) -> Result<usize, String> {
        let mut deleted = 0;
        for table in ["feed_day", "aggregator_day", "family_day"] {
            deleted += self
                .db
                .execute(
                    &format!("DELETE FROM {table} WHERE day < ?1"),
                    params![first_kept],
                )
                .map_err(sql("cannot delete old days"))?;
        }
        Ok(deleted)
    }

    /// Everything stored for days from `first` on (aggregator reports from
    /// `first_report` on, which may be earlier: see `report.rs`), for the
    /// feed directory `feed` only when given.
    pub(crate) fn read(
        &self,
        first: i64,
        first_report: i64,
        feed: Option<&str>,
    ) -> Result<Stored, String> {
        let read = sql("cannot read the audience figures");
        let mut stored = Stored::default();
        let mut statement = self
            .db
            .prepare(
                "SELECT day, feed, format, requests, ok, not_modified, too_many, other, bytes,
                        pollers, direct_pollers, websub
                 FROM feed_day WHERE day >= ?1 AND (?2 IS NULL OR feed = ?2)
                 ORDER BY feed, format, day",
            )
            .map_err(&read)?;
        let rows = statement
            .query_map(params![first, feed], |row| {
                Ok(FeedDay {
                    day: row.get(0)?,
                    feed: row.get(1)?,
                    format: row.get(2)?,
                    counts: Counts {
                        requests: to_u64(row.get(3)?),
                        ok: to_u64(row.get(4)?),
                        not_modified: to_u64(row.get(5)?),
                        too_many: to_u64(row.get(6)?),
                        other: to_u64(row.get(7)?),
                        bytes: to_u64(row.get(8)?),
                    },
                    pollers: to_u64(row.get(9)?),
                    direct_pollers: to_u64(row.get(10)?),
                    websub: Some(to_u64(row.get(11)?)),
                })
            })
            .map_err(&read)?;
        stored.feeds = rows.collect::<Result<_, _>>().map_err(&read)?;
        let mut statement = self
            .db
            .prepare(
                "SELECT day, feed, format, aggregator, feed_id, subscribers, reported_at
                 FROM aggregator_day WHERE day >= ?1 AND (?2 IS NULL OR feed = ?2)
                 ORDER BY feed, format, aggregator, feed_id, day",
            )
            .map_err(&read)?;
        let rows = statement
            .query_map(params![first_report, feed], |row| {
                Ok(AggregatorDay {
                    day: row.get(0)?,
                    feed: row.get(1)?,
                    format: row.get(2)?,
                    aggregator: row.get(3)?,
                    feed_id: row.get(4)?,
                    subscribers: to_u64(row.get(5)?),
                    reported_at: row.get(6)?,
                })
            })
            .map_err(&read)?;
        stored.aggregators = rows.collect::<Result<_, _>>().map_err(&read)?;
        let mut statement = self
            .db
            .prepare(
                "SELECT day, family, requests, with_validators, not_modified, too_many
                 FROM family_day WHERE day >= ?1 ORDER BY family, day",
            )
            .map_err(&read)?;
        let rows = statement
            .query_map(params![first], |row| {
                Ok(FamilyDay {
                    day: row.get(0)?,
                    family: row.get(1)?,
                    counts: FamilyCounts {
                        requests: to_u64(row.get(2)?),
                        with_validators: to_u64(row.get(3)?),
                        not_modified: to_u64(row.get(4)?),
                        too_many: to_u64(row.get(5)?),
                    },
                })
            })
            .map_err(&read)?;
        stored.families = rows.collect::<Result<_, _>>().map_err(&read)?;
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_day(day: i64, requests: u64, pollers: u64) -> FeedDay {
        FeedDay {
            day,
            feed: "/".into(),
            format: "rss".into(),
            counts: Counts {
                requests,
                ok: requests,
                ..Counts::default()
            },
            pollers,
            direct_pollers: pollers,
            websub: None,
        }
    }

    #[test]
    fn counts_add_up_pollers_keep_the_larger_and_old_days_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let flush = |rows| Flush {
            feeds: rows,
            ..Flush::default()
        };
        store
            .write(&flush(vec![feed_day(10, 5, 7), feed_day(9, 1, 1)]))
            .unwrap();
        store.write(&flush(vec![feed_day(10, 3, 4)])).unwrap();
        drop(store);
        // Read-only, as `broadsheet stats` does, while a writer is open.
        let mut writer = Store::open(dir.path()).unwrap();
        let reader = Store::open_read_only(&dir.path().join(FILE_NAME)).unwrap();
        let stored = reader.read(10, 10, None).unwrap();
        assert_eq!(stored.feeds.len(), 1);
        assert_eq!(stored.feeds[0].counts.requests, 8);
        assert_eq!(stored.feeds[0].pollers, 7);
        writer.write(&flush(vec![feed_day(10, 1, 9)])).unwrap();
        assert_eq!(reader.read(10, 10, None).unwrap().feeds[0].pollers, 9);
        assert_eq!(writer.forget_before(10).unwrap(), 1);
        assert_eq!(reader.read(0, 0, None).unwrap().feeds.len(), 1);
    }

    #[test]
    fn an_older_report_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let report = |subscribers, reported_at| AggregatorDay {
            day: 1,
            feed: "/".into(),
            format: "rss".into(),
            aggregator: "Feedly".into(),
            feed_id: String::new(),
            subscribers,
            reported_at,
        };
        for (subscribers, at) in [(10, 200), (5, 100)] {
            store
                .write(&Flush {
                    aggregators: vec![report(subscribers, at)],
                    ..Flush::default()
                })
                .unwrap();
        }
        assert_eq!(
            store.read(0, 0, None).unwrap().aggregators[0].subscribers,
            10
        );
    }

    #[test]
    fn a_missing_or_corrupt_database_is_an_error_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Store::open_read_only(&dir.path().join(FILE_NAME))
            .err()
            .unwrap();
        assert!(
            missing.contains("nothing has been counted yet"),
            "{missing}"
        );
        std::fs::write(dir.path().join(FILE_NAME), vec![0x5a; 8192]).unwrap();
        let corrupt = Store::open(dir.path()).err().unwrap();
        assert!(corrupt.contains(FILE_NAME), "{corrupt}");
    }
}
