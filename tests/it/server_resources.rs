//! No resource growth: after a burst of hostile and abandoned connections,
//! the process's open file descriptors and threads return to what they were.
//!
//! The server runs in the test's process, so `/proc/self` counts its sockets
//! and threads. The test has that process to itself ([`in_own_process`]):
//! the other tests of this binary run on threads beside it and open
//! descriptors and threads of their own, which a count of the whole process
//! would take for the server's.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::fixture::{in_own_process, raw, raw_status, Site};

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// Sends `request` and reads what comes back until the server closes or a
/// short while passes; the connection is then dropped either way.
fn poke(addr: SocketAddr, request: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut buffer = [0u8; 16 * 1024];
    while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
}

#[test]
fn a_hostile_burst_leaves_no_descriptors_or_threads_behind() {
    in_own_process(
        "server_resources::a_hostile_burst_leaves_no_descriptors_or_threads_behind",
        hostile_burst_then_count,
    );
}

fn hostile_burst_then_count() {
    let site = Site::bundled_with_server(
        "keep_alive_timeout = 1\nheader_read_timeout = 1\nsend_timeout = 1",
    );
    let server = site.serve();
    let addr = server.local_addr();
    let ok = "GET /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(&raw(addr, ok)), 200);
    let (fds, tasks) = (open_descriptors(), threads());

    let flood = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        "X-A: b\r\n".repeat(500)
    );
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9_000));
    let pipelined = "GET /atom.xml HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50);
    let hostile: Vec<&[u8]> = vec![
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01\r\n\r\n",
        flood.as_bytes(),
        long.as_bytes(),
        pipelined.as_bytes(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\ngarbage after the preface",
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n",
        b"GET /rss.xml HTTP/1.0\r\n\r\n",
        b"",
    ];
    // Eight client threads, each going through every hostile request and
    // then abandoning connections mid-response, a few rounds over.
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..5 {
                    for request in &hostile {
                        poke(addr, request);
                    }
                    let held: Vec<TcpStream> = (0..20)
                        .filter_map(|_| TcpStream::connect(addr).ok())
                        .map(|mut stream| {
                            let _ = stream.write_all(pipelined.as_bytes());
                            stream
                        })
                        .collect();
                    drop(held);
                }
            });
        }
    });
    assert_eq!(raw_status(&raw(addr, ok)), 200);

    // Every connection has been closed by now or is closed by the timeouts.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (now_fds, now_threads) = (open_descriptors(), threads());
        if now_fds <= fds && now_threads <= tasks {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "descriptors {fds} -> {now_fds}, threads {tasks} -> {now_threads}, 15 s after the burst"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(raw_status(&raw(addr, ok)), 200);
}
