//! HTTP/2 clients that never let the response through (flow-control window
//! 0, no `WINDOW_UPDATE`, PINGs answered) are closed within a bounded time:
//! on the send timeout while their streams are stalled, and on the deadline
//! after GOAWAY when the last bytes of a stream can never leave.
//!
//! The client is written here frame by frame (RFC 9113): a client library
//! would open its windows by itself.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::fixture::Site;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// A `GET path` HEADERS frame: HPACK static-table entries and literals
/// without indexing, no Huffman coding.
fn get(stream: u32, path: &str) -> Vec<u8> {
    assert!(path.len() < 127);
    let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
    block.extend(path.as_bytes());
    block.extend([0x01, 1, b'x']);
    frame(HEADERS, 0x4 | 0x1, stream, &block)
}

/// What the server did to a client that never opened its window.
struct Outcome {
    /// When the server ended the connection (EOF or reset), after the requests.
    closed_after: Duration,
    goaway: bool,
    data_bytes: usize,
}

/// Opens an HTTP/2 connection with `SETTINGS_INITIAL_WINDOW_SIZE` =
/// `window`, asks for `path` `requests` times, answers every PING and
/// acknowledges SETTINGS, never sends WINDOW_UPDATE, and reads until the
/// server ends the connection or `limit` passes (then panics).
fn stalled_client(
    addr: SocketAddr,
    window: u32,
    path: &str,
    requests: u32,
    limit: Duration,
) -> Outcome {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut settings = vec![0x00, 0x04];
    settings.extend(window.to_be_bytes());
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &settings));
    for i in 0..requests {
        hello.extend(get(2 * i + 1, path));
    }
    stream.write_all(&hello).unwrap();
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut outcome = Outcome {
        closed_after: Duration::ZERO,
        goaway: false,
        data_bytes: 0,
    };
    loop {
        assert!(
            started.elapsed() < limit,
            "the server kept a stalled HTTP/2 connection open for {limit:?} \
             (GOAWAY sent: {}, DATA bytes: {})",
            outcome.goaway,
            outcome.data_bytes
        );
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        }
        while buffer.len() >= 9 {
            let len = u32::from_be_bytes([0, buffer[0], buffer[1], buffer[2]]) as usize;
            if buffer.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buffer[3], buffer[4]);
            let payload = buffer[9..9 + len].to_vec();
            buffer.drain(..9 + len);
            let reply = match (kind, flags & 1) {
                (SETTINGS, 0) => Some(frame(SETTINGS, 1, 0, &[])),
                (PING, 0) => Some(frame(PING, 1, 0, &payload)),
                (GOAWAY, _) => {
                    outcome.goaway = true;
                    None
                }
                (DATA, _) => {
                    outcome.data_bytes += len;
                    None
                }
                _ => None,
            };
            if let Some(reply) = reply {
                // The server may be gone already; the read says so next.
                let _ = stream.write_all(&reply);
            }
        }
    }
    outcome.closed_after = started.elapsed();
    outcome
}

#[test]
fn a_zero_window_http2_client_is_closed_after_the_send_timeout() {
    // A keep-alive timeout far longer than the test, so only the stall can end it.
    let site = Site::bundled_with_server(
        "send_timeout = 1\nkeep_alive_timeout = 600\nheader_read_timeout = 600",
    );
    let server = site.serve();
    let outcome = stalled_client(
        server.local_addr(),
        0,
        "/rss.xml",
        3,
        Duration::from_secs(20),
    );
    eprintln!(
        "closed after {:?} (GOAWAY: {})",
        outcome.closed_after, outcome.goaway
    );
    assert_eq!(outcome.data_bytes, 0);
    assert!(outcome.closed_after >= Duration::from_millis(900));
}

#[test]
fn an_http2_connection_ends_within_a_deadline_after_goaway() {
    // A window of 1 byte and a short body (a `404`): the server hands the
    // whole body over and can send one byte of it; the rest can never leave,
    // and no response is left waiting to be handed over. The keep-alive
    // timeout sends GOAWAY, after which the connection must end anyway.
    let site = Site::bundled_with_server(
        "send_timeout = 1\nkeep_alive_timeout = 1\nheader_read_timeout = 1",
    );
    let server = site.serve();
    let outcome = stalled_client(
        server.local_addr(),
        1,
        "/missing",
        2,
        Duration::from_secs(20),
    );
    eprintln!(
        "closed after {:?} (GOAWAY: {}, DATA bytes: {})",
        outcome.closed_after, outcome.goaway, outcome.data_bytes
    );
    assert!(outcome.goaway, "the server said GOAWAY first");
}
