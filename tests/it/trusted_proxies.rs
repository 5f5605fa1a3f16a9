//! Behind a proxy or load balancer (`[server] trusted_proxies`): the client
//! a `Forwarded` or `X-Forwarded-For` field names gets its own rate-limit
//! bucket when the peer is a trusted proxy, and the fields are ignored from
//! any other peer; a trusted proxy's own connections are exempt from
//! `max_connections_per_client`. The adversarial pass found every client
//! behind a proxy sharing one bucket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::fixture::{raw, raw_status, Site};

fn get_for(addr: SocketAddr, forwarded: &str) -> u16 {
    raw_status(&raw(
        addr,
        &format!("GET /rss.xml HTTP/1.1\r\nHost: x\r\n{forwarded}Connection: close\r\n\r\n"),
    ))
}

/// The statuses `forwarded` gets for each of four requests.
fn four(addr: SocketAddr, forwarded: &str) -> Vec<u16> {
    (0..4).map(|_| get_for(addr, forwarded)).collect()
}

#[test]
fn clients_behind_a_trusted_proxy_get_a_bucket_each() {
    let site = Site::bundled_with_server(
        "rate_limit = 0.001\nrate_burst = 2\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]",
    );
    let server = site.serve();
    let addr = server.local_addr();
    let a = "X-Forwarded-For: 6.6.6.6, 203.0.113.1\r\n";
    let b = "X-Forwarded-For: 203.0.113.2\r\n";
    assert_eq!(four(addr, a), [200, 200, 429, 429]);
    assert_eq!(four(addr, b), [200, 200, 429, 429]);
    // RFC 7239's field, a third client.
    assert_eq!(
        four(addr, "Forwarded: for=\"[2001:db8::3]:4711\"\r\n"),
        [200, 200, 429, 429]
    );
    // The proxy's own requests (no field) are its own client.
    assert_eq!(four(addr, ""), [200, 200, 429, 429]);
}

#[test]
fn the_fields_of_an_untrusted_peer_are_ignored() {
    let site = Site::bundled_with_server(
        "rate_limit = 0.001\nrate_burst = 2\ntrusted_proxies = [\"10.0.0.0/8\"]",
    );
    let server = site.serve();
    let addr = server.local_addr();
    assert_eq!(get_for(addr, "X-Forwarded-For: 203.0.113.1\r\n"), 200);
    assert_eq!(get_for(addr, "X-Forwarded-For: 203.0.113.2\r\n"), 200);
    assert_eq!(get_for(addr, "Forwarded: for=203.0.113.3\r\n"), 429);
    assert_eq!(get_for(addr, "X-Forwarded-For: 203.0.113.4\r\n"), 429);
}

/// The status of a keep-alive request sent on a held connection: 0 when the
/// connection was closed unanswered.
fn status_on(stream: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    raw_status(&String::from_utf8_lossy(&head))
}

/// How many of `n` connections held at once from 127.0.0.1 are answered.
fn answered_of(addr: SocketAddr, n: usize) -> usize {
    let mut streams: Vec<TcpStream> = (0..n)
        .map(|_| {
            let stream = TcpStream::connect(addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            stream
        })
        .collect();
    for stream in &mut streams {
        // A refused connection may already be closed: its write may fail.
        let _ = stream.write_all(b"HEAD /rss.xml HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    streams
        .iter_mut()
        .map(status_on)
        .filter(|&status| status == 200)
        .count()
}

#[test]
fn a_trusted_proxys_connections_are_exempt_from_the_per_client_cap() {
    let trusted = Site::bundled_with_server(
        "max_connections_per_client = 2\ntrusted_proxies = [\"127.0.0.0/8\"]",
    );
    let server = trusted.serve();
    assert_eq!(answered_of(server.local_addr(), 6), 6);
    let untrusted = Site::bundled_with_server(
        "max_connections_per_client = 2\ntrusted_proxies = [\"10.0.0.0/8\"]",
    );
    let server = untrusted.serve();
    assert_eq!(answered_of(server.local_addr(), 6), 2);
}
