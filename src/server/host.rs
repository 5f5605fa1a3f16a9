//! Which `Host` values (and HTTP/2 `:authority` values) are valid: RFC 9110
//! section 7.2 makes `Host` a `uri-host [ ":" port ]`, and RFC 9112 section
//! 3.2 has a server answer `400` to a request whose `Host` has an invalid
//! value. The host is RFC 3986 section 3.2.2's:
//!
//! - an IP-literal: `[` an IPv6 address or an `IPvFuture` (`v1.x`) `]`,
//!   with no zone (RFC 6874 zones are for clients, never sent in `Host`);
//! - an IPv4 address, four decimal octets of at most 255;
//! - a reg-name: unreserved characters, sub-delims and `%XX` escapes,
//!   possibly empty (a client with no authority sends an empty `Host`,
//!   RFC 9112 section 3.2).
//!
//! One decision beyond the grammar, as browsers' URL parsers make it: a
//! reg-name whose last label is all digits (`999.1.1.1`, `example.123`) is
//! invalid, since no DNS name ends in a number, and such a value is a
//! mistyped IPv4 address.
//!
//! The port is optional, up to 65535; `host:` (an empty port) is allowed by
//! RFC 3986's `port = *DIGIT`. Userinfo (`user@host`) is not part of `Host`,
//! nor of `:authority` (RFC 9113 section 8.3.1), so `@` makes a value invalid.

use std::net::Ipv6Addr;

/// True when `value` is a valid `Host` field value: `uri-host [ ":" port ]`.
pub(crate) fn is_valid(value: &[u8]) -> bool {
    let (host, port) = split_port(value);
    port.is_none_or(is_port) && is_host(host)
}

/// `value` split at the port's `:`, if it has one (the last `:` after any
/// `]`, so the colons of an IPv6 literal are not taken for it).
fn split_port(value: &[u8]) -> (&[u8], Option<&[u8]>) {
    let after_literal = value.iter().rposition(|&b| b == b']').map_or(0, |i| i + 1);
    match value[after_literal..].iter().rposition(|&b| b == b':') {
        Some(at) => {
            let at = after_literal + at;
            (&value[..at], Some(&value[at + 1..]))
        }
        None => (value, None),
    }
}

/// `port = *DIGIT`, at most 65535.
fn is_port(port: &[u8]) -> bool {
    port.iter().all(u8::is_ascii_digit)
        && port
            .iter()
            .try_fold(0u32, |n, &d| {
                let n = n * 10 + u32::from(d - b'0');
                (n <= 65_535).then_some(n)
            })
            .is_some()
}

fn is_host(host: &[u8]) -> bool {
    match host {
        [b'[', inner @ .., b']'] => is_ipv6(inner) || is_ipv_future(inner),
        _ if ends_in_number(host) => is_ipv4(host),
        _ => is_reg_name(host),
    }
}

fn is_ipv6(text: &[u8]) -> bool {
    // The standard library's parser takes RFC 4291's text forms, as RFC 3986's
    // `IPv6address` does, and no zone.
    std::str::from_utf8(text).is_ok_and(|text| text.parse::<Ipv6Addr>().is_ok())
}

/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn is_ipv_future(text: &[u8]) -> bool {
    let [b'v' | b'V', rest @ ..] = text else {
        return false;
    };
    let Some(dot) = rest.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (version, address) = (&rest[..dot], &rest[dot + 1..]);
    !version.is_empty()
        && version.iter().all(u8::is_ascii_hexdigit)
        && !address.is_empty()
        && address
            .iter()
            .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
}

/// `IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet`, each
/// `0` to `255` written without leading zeros.
fn is_ipv4(text: &[u8]) -> bool {
    let octets: Vec<&[u8]> = text.split(|&b| b == b'.').collect();
    octets.len() == 4
        && octets.iter().all(|octet| {
            matches!(octet.len(), 1..=3)
                && octet.iter().all(u8::is_ascii_digit)
                && (octet.len() == 1 || octet[0] != b'0')
                && octet
                    .iter()
                    .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
                    <= 255
        })
}

/// True when the last label (after the last `.`, a trailing `.` left out) is
/// all digits.
fn ends_in_number(host: &[u8]) -> bool {
    let host = host.strip_suffix(b".").unwrap_or(host);
    let last = host.rsplit(|&b| b == b'.').next().unwrap_or(host);
    !last.is_empty() && last.iter().all(u8::is_ascii_digit)
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`.
fn is_reg_name(text: &[u8]) -> bool {
    let mut rest = text;
    while let [first, tail @ ..] = rest {
        rest = match (first, tail) {
            (b'%', [high, low, after @ ..])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                after
            }
            (&b, _) if is_unreserved(b) || is_sub_delim(b) => tail,
            _ => return false,
        };
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(value: &str) -> bool {
        is_valid(value.as_bytes())
    }

    #[test]
    fn reg_names_with_and_without_ports() {
        for value in [
            "example.org",
            "example.org:8080",
            "example.org.",
            "localhost",
            "x",
            "xn--bcher-kva.example",
            "a-b_c~d.example",
            "%65xample.org",
            "sub!$&'()*+,;=delims",
            "",
            ":80",
            "example.org:",
            "host:0",
            "host:65535",
            "host:00080",
        ] {
            assert!(valid(value), "{value:?}");
        }
    }

    #[test]
    fn ipv4_addresses() {
        for value in ["127.0.0.1", "127.0.0.1:8080", "255.255.255.255", "0.0.0.0"] {
            assert!(valid(value), "{value:?}");
        }
        for value in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "example.123",
            "1.2.3.4.:80",
        ] {
            assert!(!valid(value), "{value:?}");
        }
    }

    #[test]
    fn ip_literals() {
        for value in [
            "[::1]",
            "[::1]:8080",
            "[2001:db8::7]",
            "[::ffff:192.0.2.1]",
            "[v1.fe80::a+en1]",
            "[V7A.x:y]",
        ] {
            assert!(valid(value), "{value:?}");
        }
        for value in [
            "[::1",
            "::1",
            "[::1]x",
            "[fe80::1%25en0]",
            "[1:2:3:4:5:6:7:8:9]",
            "[v.x]",
            "[v1.]",
            "[]",
            "[[::1]]",
        ] {
            assert!(!valid(value), "{value:?}");
        }
    }

    #[test]
    fn what_the_adversarial_pass_sent_and_other_junk() {
        for value in [
            "a b/c@d:99999",
            "a b",
            "a/b",
            "user@example.org",
            "example.org:99999",
            "example.org:65536",
            "example.org:8o",
            "example.org:-1",
            "example.org:+80",
            "%zz.example",
            "%6",
            "exa\u{e9}mple.org",
            "a\tb",
            "example.org:80:80",
            "example.org:99999999999999999999999",
        ] {
            assert!(!valid(value), "{value:?}");
        }
        assert!(!is_valid(b"x\xff"));
        assert!(!is_valid(b"x\0"));
    }
}
