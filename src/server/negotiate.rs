//! Choosing a content coding from `Accept-Encoding` (RFC 9110, section 12.5.3).
//!
//! The rules, for the codings a resource has (`br`, `gzip`, `identity`):
//! - A coding listed by name gets its q-value (default 1). `x-gzip` is `gzip`
//!   (section 8.4.1.3). Names are case-insensitive.
//! - A coding not listed gets the q-value of `*` if `*` is listed; otherwise
//!   every coding but `identity` is not acceptable (q=0), and `identity` is
//!   acceptable as the last resort (the lowest q-value above 0): a client that
//!   sends `gzip;q=0.5` wants gzip, even if identity stays acceptable.
//! - No `Accept-Encoding` field, or an empty one: identity.
//! - The highest q-value above 0 wins; ties go to `br`, then `gzip`, then
//!   identity, the smallest first.
//! - When nothing the resource has is acceptable (`gzip;q=0, identity;q=0`, or
//!   `br, identity;q=0` for a resource too small to have a brotli variant) the
//!   answer is identity rather than `406`: section 15.5.7 allows disregarding
//!   the field, and which variants exist is a storage decision of ours (a
//!   variant is dropped when it is not smaller) that should never turn into an
//!   error for a client.
//!
//! No well-kept crate exposes this negotiation (tower-http keeps its own
//! private), so it is written here, small and tested. Elements that do not
//! parse (a q-value such as `q=abc`) are ignored, as if not sent.

use http::header::{HeaderMap, ACCEPT_ENCODING};

use crate::encoding::Coding;

/// The coding to send for `headers`, among those for which `available` is true.
pub(crate) fn choose(headers: &HeaderMap, available: impl Fn(Coding) -> bool) -> Coding {
    let mut values = headers.get_all(ACCEPT_ENCODING).iter().peekable();
    if values.peek().is_none() {
        return Coding::Identity;
    }
    let mut accept = Accept::default();
    for value in values {
        // A value that is not visible ASCII cannot name a coding we have.
        if let Ok(text) = value.to_str() {
            accept.parse(text);
        }
    }
    let mut best = (0u16, Coding::Identity);
    // Preference order on equal q: smallest first.
    for coding in [Coding::Brotli, Coding::Gzip, Coding::Identity] {
        if !available(coding) {
            continue;
        }
        let q = accept.q(coding);
        if q > best.0 {
            best = (q, coding);
        }
    }
    best.1
}

/// The q-values found, in thousandths (RFC 9110 allows three decimals).
#[derive(Debug, Default)]
struct Accept {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl Accept {
    fn parse(&mut self, text: &str) {
        for element in text.split(',') {
            let mut parts = element.split(';');
            let name = parts.next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in parts {
                let (key, value) = param.split_once('=').unwrap_or((param, ""));
                if key.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(value.trim());
                }
            }
            let Some(q) = q else { continue };
            let slot = if name.eq_ignore_ascii_case("br") {
                &mut self.br
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut self.gzip
            } else if name.eq_ignore_ascii_case("identity") {
                &mut self.identity
            } else if name == "*" {
                &mut self.any
            } else {
                continue;
            };
            // A coding listed twice keeps its highest q-value.
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }

    fn q(&self, coding: Coding) -> u16 {
        let named = match coding {
            Coding::Brotli => self.br,
            Coding::Gzip => self.gzip,
            Coding::Identity => self.identity,
        };
        let unlisted = if coding == Coding::Identity { 1 } else { 0 };
        named.or(self.any).unwrap_or(unlisted)
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .zip([100, 10, 1])
        .map(|(digit, scale)| u16::from(digit - b'0') * scale)
        .sum();
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    /// Which codings a resource has: identity always.
    #[derive(Clone, Copy)]
    struct Has {
        gzip: bool,
        brotli: bool,
    }

    fn representations(gzip: bool, brotli: bool) -> Has {
        Has { gzip, brotli }
    }

    fn has(has: Has) -> impl Fn(Coding) -> bool {
        move |coding| match coding {
            Coding::Identity => true,
            Coding::Gzip => has.gzip,
            Coding::Brotli => has.brotli,
        }
    }

    fn check(accept: Option<&str>, expected: Coding) {
        check_with(accept, representations(true, true), expected);
    }

    fn check_with(accept: Option<&str>, available: Has, expected: Coding) {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(accept).unwrap());
        }
        assert_eq!(
            choose(&headers, has(available)),
            expected,
            "Accept-Encoding: {accept:?}"
        );
    }

    #[test]
    fn no_field_or_empty_field_means_identity() {
        check(None, Coding::Identity);
        check(Some(""), Coding::Identity);
    }

    #[test]
    fn brotli_then_gzip_on_equal_q() {
        check(Some("gzip, deflate, br"), Coding::Brotli);
        check(Some("gzip, deflate, br, zstd"), Coding::Brotli);
        check(Some("gzip"), Coding::Gzip);
        check(Some("x-gzip"), Coding::Gzip);
        check(Some("GZIP"), Coding::Gzip);
        check(Some("br"), Coding::Brotli);
        check(Some("*"), Coding::Brotli);
        check(Some("deflate"), Coding::Identity);
    }

    #[test]
    fn q_values_are_honoured() {
        check(Some("br;q=0.5, gzip;q=0.8"), Coding::Gzip);
        check(
            Some("br;q=0.5, gzip;q=0.8, identity;q=0.9"),
            Coding::Identity,
        );
        check(Some("br;q=0, gzip"), Coding::Gzip);
        check(Some("gzip;q=0, br;q=0"), Coding::Identity);
        check(Some("*;q=0.1, gzip;q=0.2"), Coding::Gzip);
        check(Some("br ; q=1.000, gzip"), Coding::Brotli);
        check(Some("gzip;Q=0.001, br;q=0"), Coding::Gzip);
    }

    #[test]
    fn star_covers_unlisted_codings_including_identity() {
        check(Some("*;q=0, gzip"), Coding::Gzip);
        check(Some("gzip;q=0.5, *;q=0.8"), Coding::Brotli);
    }

    #[test]
    fn nothing_acceptable_falls_back_to_identity() {
        check(Some("identity;q=0"), Coding::Identity);
        check(Some("*;q=0"), Coding::Identity);
        check_with(
            Some("br, identity;q=0"),
            representations(true, false),
            Coding::Identity,
        );
    }

    #[test]
    fn codings_the_resource_lacks_are_skipped() {
        check_with(
            Some("br, gzip;q=0.5"),
            representations(true, false),
            Coding::Gzip,
        );
        check_with(
            Some("br, gzip"),
            representations(false, false),
            Coding::Identity,
        );
    }

    #[test]
    fn malformed_elements_are_ignored() {
        check(Some("br;q=abc, gzip"), Coding::Gzip);
        check(Some("br;q=1.5, gzip;q=0.5"), Coding::Gzip);
        check(Some(",,gzip;q=0.2,"), Coding::Gzip);
    }

    #[test]
    fn several_fields_are_one_list() {
        let mut headers = HeaderMap::new();
        headers.append(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0.5"));
        headers.append(ACCEPT_ENCODING, HeaderValue::from_static("br;q=0.9"));
        assert_eq!(
            choose(&headers, has(representations(true, true))),
            Coding::Brotli
        );
    }

    #[test]
    fn q_values_parse_per_the_grammar() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.0"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("1.1"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q(""), None);
    }
}
