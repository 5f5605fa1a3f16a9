//! Aggressive pollers: with `[server] rate_limit` set, a client past its
//! burst gets `429 Too Many Requests` with `Retry-After`, a `304` costs a
//! quarter of a full response, other clients are not affected, and the
//! client is served again once it has waited. Off by default.
//!
//! Clients are told apart by address: each test client binds its own
//! loopback address (127.0.0.2, 127.0.0.3, …) before connecting.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::fixture::Site;

/// Sends one request from `from` (a loopback address) and returns the
/// response's status and head.
fn request_from(from: Ipv4Addr, addr: SocketAddr, fields: &str) -> (u16, String) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket
        .bind(&SocketAddr::from((from, 0)).into())
        .expect("bind a loopback source address");
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET /rss.xml HTTP/1.1\r\nHost: x\r\n{fields}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let head = response.split("\r\n\r\n").next().unwrap_or("").to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Requests from `from` until the first `429`; returns how many were
/// answered before it, and the `429`'s head.
fn until_refused(from: Ipv4Addr, addr: SocketAddr, fields: &str) -> (usize, String) {
    for answered in 0..1_000 {
        let (status, head) = request_from(from, addr, fields);
        match status {
            429 => return (answered, head),
            200 | 304 => {}
            other => panic!("status {other}: {head}"),
        }
    }
    panic!("never refused");
}

#[test]
fn pollers_past_their_burst_get_429_and_304s_cost_a_quarter() {
    // Slow refill, so the test's own pace barely adds tokens.
    let site = Site::bundled_with_server("rate_limit = 0.5\nrate_burst = 4");
    let server = site.serve();
    let addr = server.local_addr();
    let full_poller = Ipv4Addr::new(127, 0, 0, 2);
    let polite_poller = Ipv4Addr::new(127, 0, 0, 3);
    let bystander = Ipv4Addr::new(127, 0, 0, 4);

    // A poller downloading the feed in full gets its burst, then 429.
    let (full, refused) = until_refused(full_poller, addr, "");
    assert!((4..=5).contains(&full), "{full} full responses before 429");
    let retry_after: u64 = header(&refused, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=3).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(header(&refused, "content-length"), Some("18"));

    // A poller sending its validator back gets four times as many 304s.
    let (status, head) = request_from(polite_poller, addr, "");
    assert_eq!(status, 200);
    let etag = header(&head, "etag").unwrap().to_string();
    let (cheap, _) = until_refused(polite_poller, addr, &format!("If-None-Match: {etag}\r\n"));
    assert!(
        (12..=14).contains(&cheap),
        "{cheap} 304s after one 200 with a burst of 4"
    );

    // Another client is not affected.
    assert_eq!(request_from(bystander, addr, "").0, 200);

    // Having waited as told, the first poller is served again.
    std::thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(request_from(full_poller, addr, "").0, 200);
}

#[test]
fn no_rate_limit_by_default() {
    let site = Site::bundled();
    let server = site.serve();
    for _ in 0..200 {
        let (status, head) = request_from(Ipv4Addr::new(127, 0, 0, 5), server.local_addr(), "");
        assert_eq!(status, 200, "{head}");
    }
}
