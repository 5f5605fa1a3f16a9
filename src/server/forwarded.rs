//! Which client a request is from, behind proxies (`[server]
//! trusted_proxies`): `Forwarded` (RFC 7239) or, without it,
//! `X-Forwarded-For`, read only from a peer that is a trusted proxy.
//!
//! - From any other peer the fields are ignored: anyone can send them.
//! - Each proxy appends the address it got the request from, so the list is
//!   read from the right: the client is the right-most address that is not
//!   itself a trusted proxy (the ones left of it were written by the client,
//!   and could say anything). If every address is a trusted proxy, the
//!   left-most one is the client.
//! - A value that is not an address (`unknown`, an obfuscated `_node`
//!   (RFC 7239 section 6.3), garbage) where the walk reaches it means the
//!   proxies' chain cannot be followed: the peer is the client. So is a
//!   peer that sent neither field. `Forwarded` elements without `for` say
//!   nothing about the client and are passed over.
//! - Several field lines are one list, in order (RFC 9110 section 5.3).
//!
//! The access log, the rate limit and so on use the address found here; the
//! per-client connection cap, decided before any request, exempts trusted
//! proxies instead (`admission.rs`).

use std::net::{IpAddr, SocketAddr};

use http::header::FORWARDED;
use http::HeaderMap;

use crate::config::TrustedProxies;

/// The client of a request from `peer` with `headers`.
pub(crate) fn client(trusted: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.to_canonical();
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    let chain = if headers.contains_key(FORWARDED) {
        forwarded_for(headers)
    } else {
        x_forwarded_for(headers)
    };
    let mut leftmost = peer;
    for node in chain.iter().rev() {
        match node {
            None => return peer,
            Some(ip) if trusted.contains(*ip) => leftmost = *ip,
            Some(ip) => return *ip,
        }
    }
    leftmost
}

/// The `for` nodes of every `Forwarded` element, in order; `None` for one
/// that is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut nodes = Vec::new();
    for line in headers.get_all(FORWARDED) {
        let Ok(text) = line.to_str() else {
            nodes.push(None);
            continue;
        };
        for element in split_outside_quotes(text, ',') {
            for pair in split_outside_quotes(element, ';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("for") {
                    nodes.push(unquote(value.trim()).and_then(|node| node_address(&node)));
                }
            }
        }
    }
    nodes
}

/// The addresses of every `X-Forwarded-For` line, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|line| match line.to_str() {
            Ok(text) => text
                .split(',')
                .map(|node| node_address(node.trim()))
                .collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// `text` split at each `separator` that is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token or a quoted string's content; `None` for an unclosed quote.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        text.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(text)
}

/// The address of a node: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`,
/// `[2001:db8::1]:8080`, or a bare IPv6 address (`X-Forwarded-For`).
fn node_address(node: &str) -> Option<IpAddr> {
    let ip = if let Some(rest) = node.strip_prefix('[') {
        let (address, port) = rest.split_once(']')?;
        if !(port.is_empty() || port.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        address.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)?
    } else if let Ok(ip) = node.parse::<IpAddr>() {
        ip
    } else {
        node.parse::<SocketAddr>()
            .ok()
            .filter(SocketAddr::is_ipv4)?
            .ip()
    };
    Some(ip.to_canonical())
}

fn is_port(port: &str) -> bool {
    port.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn trusted(networks: &[&str]) -> TrustedProxies {
        let list = networks
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "title = \"T\"\nbase_url = \"https://e.com/\"\ntag_authority = \"e.com\"\n[server]\ntrusted_proxies = [{list}]\n"
        );
        crate::config::Config::parse(std::path::Path::new("config.toml"), &text)
            .unwrap()
            .server
            .trusted_proxies
    }

    fn client_of(peer: &str, fields: &[(&'static str, &str)]) -> String {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        let proxies = trusted(&["10.0.0.0/8", "::1"]);
        client(&proxies, peer.parse().unwrap(), &headers).to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        assert_eq!(
            client_of("192.0.2.9", &[("x-forwarded-for", "1.2.3.4")]),
            "192.0.2.9"
        );
        assert_eq!(
            client_of("192.0.2.9", &[("forwarded", "for=1.2.3.4")]),
            "192.0.2.9"
        );
        let none = TrustedProxies::default();
        let headers = HeaderMap::new();
        assert_eq!(
            client(&none, "10.0.0.1".parse().unwrap(), &headers).to_string(),
            "10.0.0.1"
        );
    }

    #[test]
    fn x_forwarded_for_is_read_from_the_right() {
        let xff = |value| client_of("10.0.0.1", &[("x-forwarded-for", value)]);
        assert_eq!(xff("203.0.113.7"), "203.0.113.7");
        // The client claimed 6.6.6.6; the proxy saw 203.0.113.7.
        assert_eq!(xff("6.6.6.6, 203.0.113.7"), "203.0.113.7");
        // Through two trusted proxies.
        assert_eq!(xff("6.6.6.6, 203.0.113.7, 10.2.2.2"), "203.0.113.7");
        assert_eq!(xff("2001:db8::5, ::1"), "2001:db8::5");
        assert_eq!(xff("[2001:db8::5]:4711"), "2001:db8::5");
        assert_eq!(xff("203.0.113.7:4711"), "203.0.113.7");
        assert_eq!(xff("::ffff:203.0.113.7"), "203.0.113.7");
        // Every one a trusted proxy: the left-most.
        assert_eq!(xff("10.9.9.9, 10.2.2.2"), "10.9.9.9");
        // Several lines are one list.
        let lines = client_of(
            "10.0.0.1",
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "203.0.113.8"),
            ],
        );
        assert_eq!(lines, "203.0.113.8");
    }

    #[test]
    fn forwarded_is_read_from_the_right_and_wins() {
        let fwd = |value| client_of("10.0.0.1", &[("forwarded", value)]);
        assert_eq!(fwd("for=203.0.113.7"), "203.0.113.7");
        assert_eq!(
            fwd("for=6.6.6.6, for=203.0.113.7;proto=https"),
            "203.0.113.7"
        );
        assert_eq!(fwd("For=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17");
        assert_eq!(
            fwd("for=203.0.113.7;by=10.0.0.1, for=10.3.3.3"),
            "203.0.113.7"
        );
        assert_eq!(
            fwd("for=\"203.0.113.7\";host=\"a,b;c\", proto=http"),
            "203.0.113.7"
        );
        let both = client_of(
            "10.0.0.1",
            &[
                ("forwarded", "for=203.0.113.7"),
                ("x-forwarded-for", "6.6.6.6"),
            ],
        );
        assert_eq!(both, "203.0.113.7");
    }

    #[test]
    fn malformed_values_fall_back_to_the_peer() {
        for value in [
            "",
            "junk",
            "1.2.3.4.5",
            "203.0.113.7, nonsense",
            "[::1",
            "[::1]:99999",
            "1.2.3.4:x",
        ] {
            assert_eq!(
                client_of("10.0.0.1", &[("x-forwarded-for", value)]),
                "10.0.0.1",
                "{value:?}"
            );
        }
        for value in [
            "for=unknown",
            "for=_hidden",
            "for=\"[::1",
            "for=\"1.2.3.4",
            "for=203.0.113.7, for=junk",
        ] {
            assert_eq!(
                client_of("10.0.0.1", &[("forwarded", value)]),
                "10.0.0.1",
                "{value:?}"
            );
        }
        // Left of a real client, a malformed value is never reached.
        assert_eq!(
            client_of("10.0.0.1", &[("x-forwarded-for", "junk, 203.0.113.7")]),
            "203.0.113.7"
        );
        // Neither field.
        assert_eq!(client_of("10.0.0.1", &[]), "10.0.0.1");
    }
}
