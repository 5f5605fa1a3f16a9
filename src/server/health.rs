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
//! `{"at": …, "error_count": N, "errors": ["path:line: message", …]}`, the
//! first [`MAX_ERRORS_REPORTED`] of the `N` errors: the log has them all),
//! and `access_log_dropped` (access-log lines dropped since start because
//! its writer fell behind or could not write; see `access_log.rs`).
//!
//! The report changes only when the state does (a reload published or
//! failed, access-log lines dropped: at most once a second), so it is rendered then ([`render`], called by `state.rs`) and a
//! request only clones its bytes: a monitor polling a server whose content
//! has thousands of errors costs no more than one polling a healthy one.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::served::ServedSet;
use super::state::{ReloadStatus, State};

/// The path it is served at. It never collides with the served set: its
/// paths that are directories end with `/`, and `healthz` has no extension.
pub(crate) const PATH: &str = "/healthz";

/// The most errors of a failed reload the report lists (and the state keeps).
pub(crate) const MAX_ERRORS_REPORTED: usize = 100;

/// The JSON report, as rendered at the last change of `state`.
pub(crate) fn report(state: &State) -> Bytes {
    let report = state.health_report();
    // The hub's counts change between builds: added to the report as it
    // is asked for (`websub`: subscriptions, topics, pending deliveries).
    match state.hub() {
        Some(hub) => with_websub(&report, hub.health()),
        None => report,
    }
}

fn with_websub(report: &Bytes, websub: serde_json::Value) -> Bytes {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(report) else {
        return report.clone();
    };
    fields.insert("websub".to_string(), websub);
    let mut bytes = serde_json::to_vec_pretty(&fields).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// Renders the report of a server serving `served` after the reloads in `status`.
pub(crate) fn render(served: &ServedSet, status: &ReloadStatus) -> Bytes {
    let error = status.last_error.as_ref().map(|e| {
        json!({
            "at": rfc3339(e.at),
            "error_count": e.count,
            "errors": &e.errors[..e.errors.len().min(MAX_ERRORS_REPORTED)],
        })
    });
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
        "access_log_dropped": status.access_log_dropped,
    });
    let mut bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn rfc3339(time: impl Into<DateTime<Utc>>) -> String {
    time.into().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_lists_the_first_errors_and_counts_them_all() {
        let built = crate::build::BuiltSet::default();
        let state = State::new(ServedSet::new(&built, 300, None));
        let errors: Vec<String> = (0..20_000)
            .map(|i| format!("content/s/a{i}.md:1: unknown field `tittle`"))
            .collect();
        state.record_failure(errors);
        let first = report(&state);
        let second = report(&state);
        assert_eq!(
            first.as_ptr(),
            second.as_ptr(),
            "rendered once, not per request"
        );
        assert!(first.len() < 20_000, "{} bytes", first.len());
        let report: serde_json::Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(report["status"], "stale");
        assert_eq!(report["last_reload_error"]["error_count"], 20_000);
        let listed = report["last_reload_error"]["errors"].as_array().unwrap();
        assert_eq!(listed.len(), MAX_ERRORS_REPORTED);
        assert_eq!(listed[0], "content/s/a0.md:1: unknown field `tittle`");
    }

    #[test]
    fn healthz_reports_dropped_access_log_lines_and_keeps_them_across_reloads() {
        let built = crate::build::BuiltSet::default();
        let state = State::new(ServedSet::new(&built, 300, None));
        let before: serde_json::Value = serde_json::from_slice(&report(&state)).unwrap();
        assert_eq!(before["access_log_dropped"], 0);
        state.record_access_log_dropped(42);
        state.publish(ServedSet::new(&built, 300, None));
        let after: serde_json::Value = serde_json::from_slice(&report(&state)).unwrap();
        assert_eq!(after["access_log_dropped"], 42);
        assert_eq!(after["reloads"], 1);
    }
}
