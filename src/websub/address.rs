//! Which addresses a hub refuses to contact: a callback is the subscriber's
//! URL, so without this rule anyone could make the server send requests to
//! its own network (SSRF). Refused unless `[websub] allow_private_callbacks`:
//! loopback, private (RFC 1918, IPv6 unique local), link-local, shared
//! (RFC 6598), unspecified, broadcast, multicast, documentation and
//! benchmarking ranges, IPv4 mapped into IPv6 by the same rules, and the
//! addresses of this machine's own interfaces.
//!
//! Callbacks are resolved once and connected to at the address checked, so
//! a name that resolves differently a moment later cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` may not be contacted, or `None` when it may.
pub(crate) fn refusal(ip: IpAddr, own: &[IpAddr]) -> Option<&'static str> {
    if own.contains(&ip) {
        return Some("an address of this server");
    }
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refusal_v4(v4),
            None => refusal_v6(v6),
        },
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19))
        || (a, b, c) == (192, 0, 0)
    {
        Some("a reserved address")
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("a reserved address")
    } else {
        None
    }
}

/// The addresses of this machine's interfaces (empty when they cannot be listed).
pub(crate) fn own_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that we only read
    // and then free with freeifaddrs, once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut cursor = list;
        while !cursor.is_null() {
            let addr = (*cursor).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        found.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        found.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cursor = (*cursor).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        refusal(text.parse().unwrap(), &[]).is_some()
    }

    #[test]
    fn local_and_private_ranges_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "ff02::1",
        ] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(!refused(ip), "{ip}");
        }
    }

    #[test]
    fn the_servers_own_addresses_are_refused() {
        let own: IpAddr = "203.0.113.7".parse().unwrap();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        assert!(refusal(public, &[public]).is_some());
        assert!(refusal(public, &[own]).is_none());
    }

    #[test]
    fn interfaces_include_loopback() {
        assert!(own_addresses().iter().any(|ip| ip.is_loopback()));
    }
}
