//! Conditional requests (RFC 9110, section 13): the validators a client sends
//! back, checked against the representation it would get.
//!
//! The order is that of section 13.2.2, for `GET` and `HEAD` (the only
//! methods served):
//! 1. `If-Match` present: unless one of its tags matches the selected
//!    representation's strong ETag (strong comparison) or it is `*`, `412`.
//! 2. Otherwise `If-Unmodified-Since`: modified after that date, `412`.
//! 3. `If-None-Match` present: if `*` or any tag matches (weak comparison,
//!    section 13.1.2: `W/"x"` matches `"x"`), `304 Not Modified`. When
//!    `If-None-Match` is present, `If-Modified-Since` is ignored, whatever it says.
//! 4. Otherwise `If-Modified-Since`: not modified after that date (one-second
//!    resolution, as HTTP dates have), `304`.
//!
//! A field that does not parse (a malformed tag list, a date that is not an
//! HTTP-date, two dates) is ignored, as the RFC says. Parsing is left to the
//! `headers` crate, which splits tag lists with quotes in mind.
//!
//! The ETag compared is that of the representation chosen by content
//! negotiation, so a client holding the gzip variant revalidates against the
//! gzip variant's tag.

use std::time::SystemTime;

use headers::{ETag, HeaderMapExt, IfMatch, IfModifiedSince, IfNoneMatch, IfUnmodifiedSince};
use http::header::{IF_MATCH, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderValue};

/// What the validators say about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Send the representation.
    Send,
    /// The client's copy is current: `304`.
    NotModified,
    /// A precondition the client set failed: `412`.
    PreconditionFailed,
}

/// Evaluates the conditional headers of a `GET` or `HEAD` request against a
/// representation tagged `etag` (whose field value is `etag_value`) and last
/// modified at `modified`.
pub(crate) fn evaluate(
    headers: &HeaderMap,
    etag: &ETag,
    etag_value: &HeaderValue,
    modified: SystemTime,
) -> Outcome {
    if sends_back(headers, etag_value) {
        return Outcome::NotModified;
    }
    if let Some(if_match) = headers.typed_get::<IfMatch>() {
        if !if_match.precondition_passes(etag) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(if_unmodified_since) = headers.typed_get::<IfUnmodifiedSince>() {
        if !if_unmodified_since.precondition_passes(modified) {
            return Outcome::PreconditionFailed;
        }
    }
    if let Some(if_none_match) = headers.typed_get::<IfNoneMatch>() {
        if !if_none_match.precondition_passes(etag) {
            return Outcome::NotModified;
        }
    } else if let Some(if_modified_since) = headers.typed_get::<IfModifiedSince>() {
        if !if_modified_since.is_modified(modified) {
            return Outcome::NotModified;
        }
    }
    Outcome::Send
}

/// True for what most polls are: no precondition but one `If-None-Match`
/// that is exactly the ETag the client was given. Then the answer is `304`
/// whatever the rest says (RFC 9110 section 13.2.2: `If-None-Match` goes
/// before `If-Modified-Since`, and a match of the same field value is a
/// match under the weak comparison), without parsing any field.
fn sends_back(headers: &HeaderMap, etag_value: &HeaderValue) -> bool {
    if headers.contains_key(IF_MATCH) || headers.contains_key(IF_UNMODIFIED_SINCE) {
        return false;
    }
    let mut values = headers.get_all(IF_NONE_MATCH).iter();
    matches!((values.next(), values.next()), (Some(only), None) if only == etag_value)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;

    use super::*;

    fn etag() -> ETag {
        "\"abc\"".parse().unwrap()
    }

    fn modified() -> SystemTime {
        // Tue, 14 Nov 2023 22:13:20 GMT
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn check(fields: &[(&'static str, &'static str)], expected: Outcome) {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(*name, HeaderValue::from_static(value));
        }
        assert_eq!(
            evaluate(
                &headers,
                &etag(),
                &HeaderValue::from_static("\"abc\""),
                modified()
            ),
            expected,
            "{fields:?}"
        );
    }

    #[test]
    fn no_validators_send() {
        check(&[], Outcome::Send);
    }

    #[test]
    fn if_none_match_single_list_star_and_weak() {
        check(&[("if-none-match", "\"abc\"")], Outcome::NotModified);
        check(&[("if-none-match", "\"xyz\"")], Outcome::Send);
        check(
            &[("if-none-match", "\"xyz\", \"abc\"")],
            Outcome::NotModified,
        );
        check(
            &[("if-none-match", "\"x,y\", \"abc\"")],
            Outcome::NotModified,
        );
        check(&[("if-none-match", "W/\"abc\"")], Outcome::NotModified);
        check(&[("if-none-match", "*")], Outcome::NotModified);
        check(
            &[("if-none-match", "\"xyz\""), ("if-none-match", "\"abc\"")],
            Outcome::NotModified,
        );
        check(&[("if-none-match", "\"abc-gz\"")], Outcome::Send);
    }

    #[test]
    fn if_modified_since() {
        check(
            &[("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT")],
            Outcome::NotModified,
        );
        check(
            &[("if-modified-since", "Wed, 15 Nov 2023 00:00:00 GMT")],
            Outcome::NotModified,
        );
        check(
            &[("if-modified-since", "Tue, 14 Nov 2023 22:13:19 GMT")],
            Outcome::Send,
        );
        check(&[("if-modified-since", "yesterday")], Outcome::Send);
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let current_date = ("if-modified-since", "Wed, 15 Nov 2023 00:00:00 GMT");
        let old_date = ("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT");
        check(&[("if-none-match", "\"xyz\""), current_date], Outcome::Send);
        check(
            &[("if-none-match", "\"abc\""), old_date],
            Outcome::NotModified,
        );
    }

    #[test]
    fn if_match_and_if_unmodified_since() {
        check(&[("if-match", "\"abc\"")], Outcome::Send);
        check(&[("if-match", "*")], Outcome::Send);
        check(&[("if-match", "\"xyz\"")], Outcome::PreconditionFailed);
        // If-Match uses the strong comparison: a weak tag never matches.
        check(&[("if-match", "W/\"abc\"")], Outcome::PreconditionFailed);
        check(
            &[("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
            Outcome::PreconditionFailed,
        );
        check(
            &[("if-unmodified-since", "Wed, 15 Nov 2023 00:00:00 GMT")],
            Outcome::Send,
        );
    }

    #[test]
    fn a_failed_precondition_wins_over_the_etag_sent_back() {
        let sent_back = ("if-none-match", "\"abc\"");
        check(
            &[("if-match", "\"xyz\""), sent_back],
            Outcome::PreconditionFailed,
        );
        check(
            &[
                ("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT"),
                sent_back,
            ],
            Outcome::PreconditionFailed,
        );
        check(&[("if-match", "\"abc\""), sent_back], Outcome::NotModified);
    }
}
