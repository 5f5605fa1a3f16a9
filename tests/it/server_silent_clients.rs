//! Silent connections (TCP connections that never send a byte), held and
//! reopened as fast as the server closes them, do not keep real clients
//! waiting: at `max_connections` the oldest silent ones are closed to make
//! room, one address holds at most `max_connections_per_client`, and a
//! request is answered within a second.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fixture::Site;
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;

/// The bound on answering one request beside the silent crowd.
const ANSWERED_WITHIN: Duration = Duration::from_secs(1);

/// Raises this process's soft open-file limit to its hard limit and
/// returns the soft limit in force.
fn raise_open_file_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}

/// Keeps one silent connection from `from` open, reopening it whenever the
/// server closes it, until `stop`.
async fn hold_silently(
    from: Ipv4Addr,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(socket) = TcpSocket::new_v4() else {
            return;
        };
        if socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).is_err() {
            return;
        }
        let connected = tokio::time::timeout(Duration::from_secs(3), socket.connect(addr)).await;
        let Ok(Ok(mut stream)) = connected else {
            continue;
        };
        open.fetch_add(1, Ordering::Relaxed);
        let mut byte = [0u8; 1];
        // Until the server closes it (or the test ends).
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) | Err(_) => {}
            }
        }
        open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The time one `GET /rss.xml` on a new connection from 127.0.0.1 takes to
/// be answered whole; panics if it is not answered within 5 s.
fn timed_get(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    if let Err(error) = stream.read_to_end(&mut response) {
        panic!(
            "no whole response within 5 s ({error}); got {} bytes",
            response.len()
        );
    }
    assert!(response.starts_with(b"HTTP/1.1 200 OK"));
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_from_one_address_and_from_many_do_not_starve_a_request() {
    // 10,000 held connections, both ends in this process, plus a margin.
    // Where the limit cannot be raised that far, fewer are held and the
    // test says so (here the hard limit is 20,000).
    let limit = raise_open_file_limit();
    let per_group = 5_000.min(limit.saturating_sub(3_000) / 2);
    if per_group < 5_000 {
        eprintln!("RLIMIT_NOFILE is {limit}: holding {per_group} per group, not 5000");
    }
    // The default limits: max_connections 1024, 256 per client.
    let site = Site::bundled();
    let server = site.serve();
    let addr = server.local_addr();

    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    let mut holders = Vec::new();
    for i in 0..per_group {
        // One address: 127.0.0.2.
        holders.push(tokio::spawn(hold_silently(
            Ipv4Addr::new(127, 0, 0, 2),
            addr,
            stop.clone(),
            open.clone(),
        )));
        // Many addresses: 127.0.0.3 to 127.0.0.250.
        let many = Ipv4Addr::new(127, 0, 0, 3 + (i % 248) as u8);
        holders.push(tokio::spawn(hold_silently(
            many,
            addr,
            stop.clone(),
            open.clone(),
        )));
    }
    // Let the crowd form: wait until at least max_connections are held.
    let formed = Instant::now();
    while open.load(Ordering::Relaxed) < 1_024 {
        assert!(
            formed.elapsed() < Duration::from_secs(60),
            "the silent crowd never formed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!(
        "{} silent connections open (client side) after {:?}",
        open.load(Ordering::Relaxed),
        formed.elapsed()
    );

    let times =
        tokio::task::spawn_blocking(move || (0..20).map(|_| timed_get(addr)).collect::<Vec<_>>())
            .await
            .unwrap();
    stop.store(true, Ordering::Relaxed);
    let worst = times.iter().max().copied().unwrap_or_default();
    eprintln!("20 requests beside the silent crowd: slowest {worst:?}, all {times:?}");
    assert!(
        worst < ANSWERED_WITHIN,
        "a request took {worst:?} beside {} silent connections",
        2 * per_group
    );
    for holder in holders {
        holder.abort();
    }
}
