//! Opening a SQLite database that state is kept in (the WebSub hub's
//! subscriptions, audience counting's figures): created with its schema on
//! first use, checked for corruption and for a schema this broadsheet knows,
//! and proven writable before anything relies on it. Every error is a
//! sentence naming the file.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// How one database is kept.
pub(crate) struct Kept<'a> {
    /// The file's name in the data directory.
    pub(crate) file_name: &'a str,
    /// `PRAGMA synchronous`: `FULL` where a lost write loses what a user
    /// did, `NORMAL` (with WAL) where it loses a few seconds of counts.
    pub(crate) synchronous: &'a str,
    /// Whether the database uses the WAL journal, so that readers (`broadsheet
    /// stats`) never wait for the writer.
    pub(crate) wal: bool,
    /// The statements that create the schema in a new file.
    pub(crate) schema: &'a str,
    /// The schema's version, kept in `PRAGMA user_version`.
    pub(crate) version: i64,
    /// What to do with a corrupt file, ending its error message.
    pub(crate) if_corrupt: &'a str,
}

/// Opens (or creates) the database `kept` in `dir`, for writing.
pub(crate) fn open(dir: &Path, kept: &Kept<'_>) -> Result<Connection, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let path = dir.join(kept.file_name);
    let where_ = path.display().to_string();
    let db = Connection::open(&path).map_err(|e| format!("cannot open {where_}: {e}"))?;
    let check = |e: rusqlite::Error| format!("{where_} is not a usable database: {e}");
    db.busy_timeout(Duration::from_secs(5)).map_err(check)?;
    if kept.wal {
        let mode: String = db
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(check)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("{where_}: cannot use the WAL journal (got {mode})"));
        }
    }
    db.pragma_update(None, "synchronous", kept.synchronous)
        .map_err(check)?;
    let verdict: String = db
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(check)?;
    if verdict != "ok" {
        return Err(format!(
            "{where_} is corrupt ({verdict}); {}",
            kept.if_corrupt
        ));
    }
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(check)?;
    // Taking the write lock proves the file is writable now, not at the
    // first write that matters.
    db.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| format!("{where_} cannot be written: {e}"))?;
    let prepared = match version {
        0 => db
            .execute_batch(kept.schema)
            .and_then(|()| db.pragma_update(None, "user_version", kept.version))
            .map_err(|e| format!("cannot create the schema in {where_}: {e}")),
        known if known == kept.version => Ok(()),
        other => Err(format!(
            "{where_} has schema version {other}, which this broadsheet (version {}) does not know",
            kept.version
        )),
    };
    match prepared {
        Ok(()) => db
            .execute_batch("COMMIT")
            .map_err(|e| format!("{where_} cannot be written: {e}"))?,
        Err(e) => {
            let _ = db.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(db)
}
