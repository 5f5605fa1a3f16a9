//! A client that sends its request and then ends its side of the connection
//! (`shutdown(SHUT_WR)`, a half-close) still gets every response to the
//! requests it sent whole (RFC 9112 section 9.6 lets a client close its
//! sending side while waiting for the response).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::fixture::Site;

/// Sends `request`, half-closes, and reads until the server closes.
fn send_then_half_close(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let mut response = Vec::new();
    // A reset after some of the response still shows in what was read.
    let _ = stream.read_to_end(&mut response);
    response
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[test]
fn a_request_followed_by_a_half_close_is_answered() {
    let site = Site::bundled();
    let server = site.serve();
    let addr = server.local_addr();
    let mut lost = 0;
    for _ in 0..300 {
        let response = send_then_half_close(addr, b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n\r\n");
        if !response.starts_with(b"HTTP/1.1 200 OK") {
            lost += 1;
        }
    }
    assert_eq!(
        lost, 0,
        "{lost} of 300 half-closed requests got no response"
    );
}

#[test]
fn pipelined_requests_followed_by_a_half_close_are_all_answered() {
    let site = Site::bundled();
    let server = site.serve();
    let addr = server.local_addr();
    let requests = b"HEAD /rss.xml HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    for run in 0..10 {
        let response = send_then_half_close(addr, &requests);
        let answered = count(&response, b"HTTP/1.1 200 OK");
        assert_eq!(answered, 1000, "run {run}: {answered} of 1000 answered");
    }
}
