//! Byte ranges (RFC 9110 section 14) for the resources that take them: an
//! article's files (images, audio, video), which players and browsers fetch
//! in parts to seek. Feeds and pages are sent whole.
//!
//! One range per request (`bytes=0-99`, `bytes=100-`, `bytes=-100`). A set
//! of several ranges, another unit or a malformed field is ignored and the
//! whole file is sent, as section 14.2 allows. A range that starts past the
//! end is `416` with `Content-Range: bytes */<length>`. `If-Range` applies a
//! range only to the representation it names: an exact strong ETag or the
//! `Last-Modified` date; anything else sends the whole file.

use std::ops::Range;
use std::time::SystemTime;

use http::header::{IF_RANGE, RANGE};
use http::{HeaderMap, HeaderValue};

/// What to send of a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// All of it, `200`.
    Whole,
    /// These bytes, `206`.
    Part(Range<usize>),
    /// Nothing: the range starts past the end, `416`.
    Unsatisfiable,
}

/// The `Range` and `If-Range` fields of `request` against a representation
/// of `len` bytes with strong ETag `etag` and modification time `modified`.
pub(crate) fn evaluate(
    request: &HeaderMap,
    len: usize,
    etag: &HeaderValue,
    modified: SystemTime,
) -> Ranged {
    let Some(range) = request.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return Ranged::Whole;
    };
    if let Some(if_range) = request.get(IF_RANGE) {
        if !validates(if_range, etag, modified) {
            return Ranged::Whole;
        }
    }
    parse(range, len)
}

/// True when `If-Range` names this representation.
fn validates(if_range: &HeaderValue, etag: &HeaderValue, modified: SystemTime) -> bool {
    let value = if_range.as_bytes();
    if value.starts_with(b"\"") {
        // A strong comparison: weak tags (`W/"…"`) never match.
        return value == etag.as_bytes();
    }
    if_range
        .to_str()
        .ok()
        .and_then(|date| httpdate::parse_http_date(date).ok())
        .is_some_and(|date| date == modified)
}

/// One `bytes=` range of a representation of `len` bytes.
fn parse(field: &str, len: usize) -> Ranged {
    let Some(spec) = field.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let number = |text: &str| -> Option<usize> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Past usize::MAX is past any end.
        Some(text.parse().unwrap_or(usize::MAX))
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            // The last `n` bytes; all of them when `n` is larger.
            Some(n) if len > 0 => Ranged::Part(len.saturating_sub(n)..len),
            Some(_) => Ranged::Unsatisfiable,
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return Ranged::Whole;
            };
            let end = if last.is_empty() {
                len
            } else {
                match number(last) {
                    Some(last) if last >= start => last.saturating_add(1).min(len),
                    _ => return Ranged::Whole,
                }
            };
            if start >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(start..end)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ranged(fields: &[(http::HeaderName, &str)], len: usize) -> Ranged {
        let mut request = HeaderMap::new();
        for (name, value) in fields {
            request.insert(name, HeaderValue::from_str(value).unwrap());
        }
        let etag = HeaderValue::from_static("\"abc\"");
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        evaluate(&request, len, &etag, modified)
    }

    #[test]
    fn one_range_in_each_form() {
        assert_eq!(ranged(&[(RANGE, "bytes=0-3")], 10), Ranged::Part(0..4));
        assert_eq!(ranged(&[(RANGE, "bytes=4-")], 10), Ranged::Part(4..10));
        assert_eq!(ranged(&[(RANGE, "bytes=-3")], 10), Ranged::Part(7..10));
        // An end past the end, or a suffix longer than the file, is cut to it.
        assert_eq!(ranged(&[(RANGE, "bytes=8-99")], 10), Ranged::Part(8..10));
        assert_eq!(ranged(&[(RANGE, "bytes=-99")], 10), Ranged::Part(0..10));
        assert_eq!(
            ranged(&[(RANGE, "bytes=2-99999999999999999999999")], 10),
            Ranged::Part(2..10)
        );
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(ranged(&[(RANGE, "bytes=10-")], 10), Ranged::Unsatisfiable);
        assert_eq!(ranged(&[(RANGE, "bytes=10-20")], 10), Ranged::Unsatisfiable);
        assert_eq!(ranged(&[(RANGE, "bytes=-0")], 10), Ranged::Unsatisfiable);
        assert_eq!(ranged(&[(RANGE, "bytes=-5")], 0), Ranged::Unsatisfiable);
    }

    #[test]
    fn what_is_not_one_valid_byte_range_sends_the_whole() {
        for field in [
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=-",
            "bytes=1",
            "bytes=+1-2",
            "",
        ] {
            assert_eq!(ranged(&[(RANGE, field)], 10), Ranged::Whole, "{field:?}");
        }
        assert_eq!(ranged(&[], 10), Ranged::Whole);
    }

    #[test]
    fn if_range_applies_the_range_only_to_the_named_representation() {
        let range = (RANGE, "bytes=0-0");
        assert_eq!(
            ranged(&[range.clone(), (IF_RANGE, "\"abc\"")], 10),
            Ranged::Part(0..1)
        );
        assert_eq!(
            ranged(&[range.clone(), (IF_RANGE, "\"old\"")], 10),
            Ranged::Whole
        );
        assert_eq!(
            ranged(&[range.clone(), (IF_RANGE, "W/\"abc\"")], 10),
            Ranged::Whole
        );
        let date =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(
            ranged(&[range.clone(), (IF_RANGE, &date)], 10),
            Ranged::Part(0..1)
        );
        let earlier =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        assert_eq!(
            ranged(&[range.clone(), (IF_RANGE, &earlier)], 10),
            Ranged::Whole
        );
        assert_eq!(
            ranged(&[range, (IF_RANGE, "not a date")], 10),
            Ranged::Whole
        );
    }
}
