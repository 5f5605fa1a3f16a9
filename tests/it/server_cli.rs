//! `broadsheet serve` as operators run it: the built binary (not `cargo run`)
//! prints the address it bound and the feeds' URLs, reloads on `SIGHUP`, and
//! exits 0 on `SIGTERM` and `SIGINT`, also with 64 connections busy, whose
//! responses under way all finish.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::fixture::{raw, raw_status, spawn_serving, ServingBinary as Server, Site};

const ARTICLE: &str = "content/opinion/china-russia-energy-cooperation.md";

/// Starts `broadsheet ARGS --root SITE --bind 127.0.0.1:0 --base-url …`; returns it, the
/// address it printed, and the lines printed after that one.
fn start(site: &Site, args: &[&str]) -> (Server, SocketAddr, Receiver<String>) {
    spawn_serving(
        Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .args(args)
            .arg("--root")
            .arg(site.root())
            .args(["--bind", "127.0.0.1:0"])
            // As configured, so bodies compare with `build_dir`'s (links follow
            // the bound port without it: tests/site_url.rs).
            .args(["--base-url", "http://127.0.0.1:8080/"])
            .env("RUST_LOG", "warn"),
    )
}

/// Waits for `lines` to print `expected`.
fn printed(lines: &Receiver<String>, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line == expected {
            return;
        }
    }
    panic!("{expected:?} was not printed");
}

fn signal(server: &Server, name: &str) {
    // The shell's built-in `kill`, so no separate package is needed.
    let command = format!("kill -s {name} {}", server.0.id());
    let status = Command::new("sh").args(["-c", &command]).status().unwrap();
    assert!(status.success(), "{command}");
}

fn wait_for_exit(server: &mut Server, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn serve_prints_its_address_and_feeds_reloads_on_sighup_and_exits_0_on_sigterm() {
    let site = Site::bundled();
    let (mut server, addr, lines) = start(&site, &["serve", "--no-watch"]);
    printed(&lines, &format!("  http://{addr}/opinion/atom.xml"));
    printed(&lines, &format!("  http://{addr}/rss.xml"));
    assert_eq!(raw_status(&get(addr, "/rss.xml")), 200);

    let text = format!("{}\nAdded before SIGHUP.\n", site.read(ARTICLE).trim_end());
    site.save(ARTICLE, &text);
    signal(&server, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !get(addr, "/opinion/rss.xml").contains("Added before SIGHUP.") {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }

    signal(&server, "TERM");
    let status = wait_for_exit(&mut server, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
}

#[test]
fn no_subcommand_serves_and_sigint_exits_0() {
    let site = Site::bundled();
    let (mut server, addr, _) = start(&site, &[]);
    assert_eq!(raw_status(&get(addr, "/healthz")), 200);
    signal(&server, "INT");
    let status = wait_for_exit(&mut server, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
}

#[test]
fn broken_site_is_not_served() {
    let site = Site::bundled();
    let line = site.misspell_title(ARTICLE);
    let output = Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .args(["serve", "--bind", "127.0.0.1:0", "--root"])
        .arg(site.root())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("china-russia-energy-cooperation.md:{line}: unknown field `tittle`");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing printed as listening");
}

/// A connection that keeps a response in flight: it asks for `path`
/// `requests` times in one write (pipelined) and, until told to, reads only
/// the first bytes through a small receive buffer.
fn busy_connection(addr: SocketAddr, path: &str, requests: usize) -> std::net::TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n");
    stream
        .write_all(request.repeat(requests).as_bytes())
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads `stream` to its end and splits it into responses of `length` body
/// bytes each; panics on a truncated response or a reset.
fn complete_responses(mut stream: std::net::TcpStream, start: Vec<u8>, length: usize) -> usize {
    let mut data = start;
    stream
        .read_to_end(&mut data)
        .expect("the connection ends with a close, not a reset");
    let mut rest = &data[..];
    let mut count = 0;
    while !rest.is_empty() {
        let head_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a whole response head")
            + 4;
        assert!(
            rest[..head_end].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&rest[..head_end])
        );
        assert!(
            rest.len() >= head_end + length,
            "a response cut short: {} of {length} body bytes",
            rest.len() - head_end
        );
        rest = &rest[head_end + length..];
        count += 1;
    }
    count
}

#[test]
fn sigterm_with_64_busy_connections_lets_every_response_finish_and_exits_0() {
    let site = Site::bundled();
    let built = site.build();
    let (path, resource) = built
        .resources
        .iter()
        .max_by_key(|(_, r)| r.body.len())
        .unwrap();
    let length = resource.body.len();
    let (mut server, addr, _) = start(&site, &["serve", "--no-watch"]);
    // Each connection asks for about 6 MiB in all, more than the socket
    // buffers of both ends hold, so that at the signal every one of them has
    // a response under way in the server.
    let requests = (6 << 20) / length + 1;
    let busy: Vec<_> = (0..64)
        .map(|_| {
            let mut stream = busy_connection(addr, path, requests);
            let mut first = vec![0u8; 1024];
            let n = stream.read(&mut first).unwrap();
            first.truncate(n);
            assert!(first.starts_with(b"HTTP/1.1 200"), "a response has begun");
            (stream, first)
        })
        .collect();
    signal(&server, "TERM");
    // Each connection reads all it gets until the server closes it.
    let readers: Vec<_> = busy
        .into_iter()
        .map(|(stream, first)| {
            std::thread::spawn(move || complete_responses(stream, first, length))
        })
        .collect();
    let answered: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    // Every connection got whole responses only, at least the one under way
    // at the signal; the server stopped at a response's end, before the rest.
    eprintln!("{answered} whole responses of {} asked for", 64 * requests);
    assert!(answered >= 64, "{answered} complete responses");
    assert!(
        answered < 64 * requests,
        "all {answered} pipelined responses were sent: the server was not busy at the signal"
    );
    let status = wait_for_exit(&mut server, Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
}
