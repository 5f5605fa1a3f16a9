//! `/healthz`: whether the server is up and what it is serving, as JSON.
//!
//! It answers `200` whenever the server is serving, even after a failed
//! reload (the last good set is still served): the failure is reported in
//! `last_reload_error` for operators and monitors to act on. Fields:
//! `status` (`"ok"`, or `"stale"` after a failed reload), `articles`,
//! `sections`, `feeds`, `resources`, `built_at` (RFC 3339, when the served set
//! was built), `next_publication` (`null`, or when the earliest article dated
//! after that build is due: the server rebuilds then), `reloads` (successful
//! reloads since start) and `last_reload_error` (`null`, or
//! `{"at": …, "errors": ["path:line: message", …]}`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::state::State;

/// The path it is served at. It never collides with the served set: its
/// paths that are directories end with `/`, and `healthz` has no extension.
pub(crate) const PATH: &str = "/healthz";

/// The JSON report.
pub(crate) fn report(state: &State) -> Vec<u8> {
    let served = state.served();
    let status = state.reload_status();
    let error = status
        .last_error
        .as_ref()
        .map(|e| json!({ "at": rfc3339(e.at), "errors": e.errors }));
    let body = json!({
        "status": if error.is_some() { "stale" } else { "ok" },
        "articles": served.articles,
        "sections": served.sections,
        "feeds": served.feeds,
        "resources": served.len(),
        "built_at": rfc3339(served.built_at),
        "next_publication": served.next_publication.map(rfc3339),
        "reloads": status.reloads,
        "last_reload_error": error,
    });
    let mut bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn rfc3339(time: impl Into<DateTime<Utc>>) -> String {
    time.into().to_rfc3339_opts(SecondsFormat::Millis, true)
}
