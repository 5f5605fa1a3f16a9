//! Byte ranges (RFC 9110 section 14) for the resources that take them: an
//! article's files (images, audio, video), which players and browsers fetch
//! in parts to seek. Feeds and pages are sent whole.
//!
//! One range per request (`bytes=0-99`, `bytes=100-`, `bytes=-100`). A set
//! of several ranges, another unit or a malformed field is ignored and the
//! whole file is sent, as section 14.2 allows; so is a request with the
//! field twice. A range that starts past the end is `416` with
//! `Content-Range: bytes */<length>`. `If-Range` applies a range only to the
//! representation it names by its strong ETag (every response carries one);
//! a date, which one second's resolution cannot make a strong validator
//! (section 13.1.5), or anything else sends the whole file.

use std::ops::Range;

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
/// of `len` bytes with strong ETag `etag`.
pub(crate) fn evaluate(request: &HeaderMap, len: usize, etag: &HeaderValue) -> Ranged {
    let Some(range) = single(request, &RANGE).and_then(|v| v.to_str().ok()) else {
        return Ranged::Whole;
    };
    if request.contains_key(IF_RANGE) {
        match single(request, &IF_RANGE) {
            Some(if_range) if validates(if_range, etag) => {}
            _ => return Ranged::Whole,
        }
    }
    parse(range, len)
}

/// The field's value when it is sent once (neither is a list).
fn single<'a>(request: &'a HeaderMap, name: &http::HeaderName) -> Option<&'a HeaderValue> {
    let mut values = request.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// True when `If-Range` names this representation: a strong comparison of
/// entity tags, so weak tags (`W/"…"`) and dates never match.
fn validates(if_range: &HeaderValue, etag: &HeaderValue) -> bool {
    if_range.as_bytes() == etag.as_bytes()
}

/// One `bytes=` range of a representation of `len` bytes.
fn parse(field: &str, len: usize) -> Ranged {
    let Some((unit, spec)) = field.trim().split_once('=') else {
        return Ranged::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Whole;
    }
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
    use std::time::{Duration, SystemTime};

    use super::*;

    fn ranged(fields: &[(http::HeaderName, &str)], len: usize) -> Ranged {
        let mut request = HeaderMap::new();
        for (name, value) in fields {
            request.append(name, HeaderValue::from_str(value).unwrap());
        }
        evaluate(&request, len, &HeaderValue::from_static("\"abc\""))
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
        // A date is no strong validator at one second's resolution.
        let date =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(
            ranged(&[range.clone(), (IF_RANGE, &date)], 10),
            Ranged::Whole
        );
        assert_eq!(
            ranged(&[range, (IF_RANGE, "not a date")], 10),
            Ranged::Whole
        );
    }

    #[test]
    fn a_field_sent_twice_sends_the_whole_and_the_unit_has_any_case() {
        assert_eq!(
            ranged(&[(RANGE, "bytes=0-4"), (RANGE, "bytes=10-20")], 30),
            Ranged::Whole
        );
        assert_eq!(
            ranged(
                &[
                    (RANGE, "bytes=0-4"),
                    (IF_RANGE, "\"abc\""),
                    (IF_RANGE, "\"abc\"")
                ],
                30
            ),
            Ranged::Whole
        );
        assert_eq!(ranged(&[(RANGE, "Bytes=0-4")], 30), Ranged::Part(0..5));
    }
}
