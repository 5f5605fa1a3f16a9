//! Slow clients: one that never reads its response is dropped on the send
//! timeout, and thousands of idle keep-alive connections are dropped on the
//! keep-alive timeout, while other clients keep being served promptly.
//! (A client that trickles its head is in `server_limits.rs`.)

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::fixture::{in_own_process, raw, raw_status, Site};

/// A generous bound on the time to answer one small request while the
/// server is under the test's load: a sign of a stuck worker, not a benchmark.
const PROMPT: Duration = Duration::from_secs(2);

/// The time one `GET /rss.xml` on a new connection takes to be answered whole.
fn timed_get(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let response = raw(
        addr,
        "GET /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw_status(&response), 200, "{response}");
    started.elapsed()
}

/// A client whose receive buffer is tiny, so that a large response stays in
/// flight until the client reads it.
fn slow_reader(addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.into()
}

#[test]
fn a_client_that_never_reads_is_dropped_while_others_are_served() {
    let site = Site::bundled_with_server(
        "send_timeout = 0.5\nkeep_alive_timeout = 60\nheader_read_timeout = 60",
    );
    let built = site.build();
    let (path, resource) = built
        .resources
        .iter()
        .max_by_key(|(_, r)| r.body.len())
        .unwrap();
    // Pipelined requests for the largest resource, adding up to far more
    // than the kernel buffers of both ends (a few MiB on loopback) can hold.
    let requests = (24 << 20) / resource.body.len() + 1;
    let whole = requests * resource.body.len();
    let server = site.serve();
    let addr = server.local_addr();

    let mut stalled = slow_reader(addr);
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(requests);
    stalled.write_all(request.as_bytes()).unwrap();
    let asked = Instant::now();
    // It reads nothing; others are served meanwhile, on every worker.
    let worst = (0..40).map(|_| timed_get(addr)).max().unwrap();
    assert!(
        worst < PROMPT,
        "a request took {worst:?} while a client was stalled"
    );
    eprintln!("slowest of 40 requests beside a stalled client: {worst:?}");

    // Well after the send timeout (and long before the keep-alive timeout),
    // the stalled connection is gone: what the kernel had buffered arrives,
    // then the end, short of the whole response.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(asked.elapsed()));
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = 0;
    let mut buffer = [0u8; 64 * 1024];
    loop {
        match stalled.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the stalled connection was not dropped: {e} after {received} bytes"),
        }
    }
    assert!(
        received < whole,
        "the stalled client got all {received} bytes of {requests} responses: it was never dropped"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "dropped only after {:?}",
        asked.elapsed()
    );
    assert!(timed_get(addr) < PROMPT);
}

/// The most descriptors this process may open.
fn open_file_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024)
}

#[test]
fn thousands_of_idle_keep_alive_connections_are_dropped_while_others_are_served() {
    // In a process of its own: its 10,000 descriptors would otherwise come
    // out of the one table (and RLIMIT_NOFILE) that every test running
    // beside it opens files and sockets from.
    in_own_process(
        "server_slow_clients::thousands_of_idle_keep_alive_connections_are_dropped_while_others_are_served",
        thousands_of_idle_connections,
    );
}

fn thousands_of_idle_connections() {
    // Both ends of every connection are in this process: two descriptors
    // each, plus a margin. 5,000 when the limit allows (it is 20,000 here);
    // fewer, and said so, where it is lower.
    let count = 5_000.min(open_file_limit().saturating_sub(512) / 2);
    if count < 5_000 {
        eprintln!("RLIMIT_NOFILE allows {count} idle connections, not 5000");
    }
    let site = Site::bundled_with_server(&format!(
        // All from 127.0.0.1: the per-client cap is raised with the total.
        "keep_alive_timeout = 8\nheader_read_timeout = 30\nmax_connections = {0}\n\
         max_connections_per_client = {0}",
        count + 64
    ));
    let server = site.serve();
    let addr = server.local_addr();

    // Every connection makes one request and then stays open, idle.
    let mut idle = Vec::with_capacity(count);
    let opening = Instant::now();
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .write_all(b"HEAD /rss.xml HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        idle.push(stream);
    }
    let mut buffer = [0u8; 4096];
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let n = stream.read(&mut buffer).expect("a response");
        assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));
    }
    let opened = opening.elapsed();
    eprintln!("{count} connections opened and answered in {opened:?}");

    // With all of them open and idle, another client is answered promptly.
    let worst = (0..20).map(|_| timed_get(addr)).max().unwrap();
    eprintln!("slowest of 20 requests beside {count} idle connections: {worst:?}");
    assert!(worst < PROMPT, "{worst:?} beside {count} idle connections");

    // All of them are closed by the server on the keep-alive timeout.
    let deadline = Instant::now() + Duration::from_secs(30);
    for stream in &idle {
        stream.set_nonblocking(true).unwrap();
    }
    while !idle.is_empty() {
        idle.retain_mut(|stream| match stream.read(&mut buffer) {
            Ok(0) => false,
            Ok(_) => panic!("data on an idle connection"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => true,
            Err(_) => false,
        });
        assert!(
            Instant::now() < deadline,
            "{} of {count} idle connections still open after 30 s",
            idle.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(timed_get(addr) < PROMPT);
}
