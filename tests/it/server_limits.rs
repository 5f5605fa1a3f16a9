//! Staying up: slow and silent clients are dropped, oversized heads refused,
//! idle keep-alive connections closed, the connection cap makes clients wait
//! rather than fail, and shutdown lets a request in flight finish.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::fixture::{eventually, join_within, raw, raw_status, Site};
use crate::prelude::{start_server, ServeOptions, StartError};

/// Reads from `stream` until the server closes it or `limit` passes; true if closed.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Reads one HTTP/1.1 response framed by `Content-Length`; returns (head, body).
fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buffer).expect("read head");
        assert!(n > 0, "connection closed before the response head");
        data.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buffer).expect("read body");
        assert!(
            n > 0,
            "connection closed after {} of {length} body bytes",
            body.len()
        );
        body.extend_from_slice(&buffer[..n]);
    }
    (head, body)
}

#[test]
fn slow_header_client_is_dropped() {
    let site = Site::bundled_with_server("header_read_timeout = 0.5");
    let server = site.serve();
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .write_all(b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // One header byte every 100 ms: each byte arrives well within any
    // per-read timeout, but the whole head never does.
    let mut dropped = false;
    let mut buffer = [0u8; 1024];
    // The deadline only bounds the test on a loaded machine: a client still
    // trickling by then was never dropped.
    while started.elapsed() < Duration::from_secs(30) {
        if stream.write_all(b"X").is_err() {
            dropped = true;
            break;
        }
        match stream.read(&mut buffer) {
            Ok(0) => {
                dropped = true;
                break;
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                dropped = true;
                break;
            }
        }
    }
    assert!(
        dropped,
        "the trickling client was still connected after 30 s"
    );
}

#[test]
fn silent_client_is_dropped() {
    let site = Site::bundled_with_server("header_read_timeout = 0.3\nkeep_alive_timeout = 0.3");
    let server = site.serve();
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3)),
        "a connection that never sent a byte stays open"
    );
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let site = Site::bundled_with_server("keep_alive_timeout = 0.3\nheader_read_timeout = 5");
    let server = site.serve();
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .write_all(b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Kept alive: a second request on the same connection is answered.
    stream
        .write_all(b"GET /atom.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        closed_within(&mut stream, Duration::from_secs(3)),
        "an idle connection stays open"
    );
}

#[test]
fn oversized_request_head_is_refused() {
    let site = Site::bundled_with_server("max_header_bytes = 8192");
    let server = site.serve();
    let big = "a".repeat(20_000);
    let response = raw(
        server.local_addr(),
        &format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"),
    );
    assert_eq!(raw_status(&response), 431, "{response}");
    // The server is still up.
    let response = raw(
        server.local_addr(),
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw_status(&response), 200);
}

#[test]
fn connections_over_the_cap_wait_and_are_then_served() {
    let site = Site::bundled_with_server(
        "max_connections = 2\nworkers = 2\nkeep_alive_timeout = 30\nheader_read_timeout = 30",
    );
    let server = site.serve();
    let request = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.local_addr()).unwrap();
        stream.write_all(request).unwrap();
        let (head, _) = read_response(&mut stream);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Busy with a next request, half sent: an idle connection would
        // be closed to make room for the third (admission.rs).
        stream.write_all(b"GET /rss.xml HTTP/1.1\r\n").unwrap();
        held.push(stream);
    }
    // The server must have read those bytes before the third arrives; no
    // client can see that it has, so this one wait is a time, not a condition.
    std::thread::sleep(Duration::from_millis(200));
    // A third client connects (the kernel queues it) and waits.
    let mut waiting = TcpStream::connect(server.local_addr()).unwrap();
    waiting.write_all(request).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = waiting.read(&mut byte);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "served while at the cap: {early:?}"
    );
    // A place frees: the waiting client is served.
    drop(held.remove(0));
    let (head, body) = read_response(&mut waiting);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!body.is_empty());
}

/// A client whose receive buffer is tiny, so that a large response stays in
/// flight until the client reads it.
fn slow_reader(addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.into()
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight() {
    let site = Site::bundled();
    // An article of about 2 MB, so its page cannot fit in the socket buffers.
    let article = site.read("content/opinion/china-russia-energy-cooperation.md");
    let paragraph = "Energy cooperation keeps growing, year after year, in every field. ";
    let big = format!("{}\n\n{}\n", article.trim_end(), paragraph.repeat(30_000));
    std::fs::write(site.path("content/opinion/big.md"), big).unwrap();
    let expected = site.build().resources["/opinion/big/"].body.clone();
    assert!(expected.len() > 1_500_000);
    let server = site.serve();
    let addr = server.local_addr();

    let mut client = slow_reader(addr);
    client
        .write_all(b"GET /opinion/big/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 1024];
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = client.read(&mut first).unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "the response has started"
    );

    server.shutdown();
    // Shutdown has begun once the listeners are closed.
    eventually(Duration::from_secs(5), "the listeners to close", || async {
        TcpStream::connect(addr).is_err().then_some(())
    })
    .await;

    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("the response completes");
    let mut whole = first[..n].to_vec();
    whole.extend_from_slice(&rest);
    let head_end = whole.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        whole.len() - head_end,
        expected.len(),
        "the whole body arrived"
    );
    assert_eq!(&whole[head_end..], &expected[..]);
    join_within(server, Duration::from_secs(10)).await;
}

#[test]
fn a_port_in_use_is_an_error_not_shared() {
    let site = Site::bundled();
    let first = site.serve();
    let options = ServeOptions {
        root: site.root().to_path_buf(),
        bind: Some(first.local_addr()),
        watch: false,
        base_url: None,
    };
    match start_server(options) {
        Err(StartError::Bind { addr, source }) => {
            assert_eq!(addr, first.local_addr());
            assert_eq!(source.kind(), ErrorKind::AddrInUse);
        }
        other => panic!(
            "a second server on {} started: {other:?}",
            first.local_addr()
        ),
    }
}
