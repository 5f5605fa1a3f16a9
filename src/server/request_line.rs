//! Over-long request targets: an HTTP/1.1 request whose target is longer than
//! [`MAX_URI_BYTES`] gets `414 URI Too Long` (RFC 9110, section 15.5.15),
//! however long it is.
//!
//! A target that fits in the request head (`[server] max_header_bytes`)
//! reaches the handler, which answers `414` itself. A longer one never would:
//! hyper stops reading a head at `max_header_bytes` and answers `431` (a head
//! too large) before it has parsed the request line, so it cannot tell a long
//! target from a long field. So the bytes the client sends are watched on
//! their way to hyper ([`WatchTarget`]): once the target of a request line
//! passes [`MAX_URI_BYTES`], that read fails (hyper answers nothing to a read
//! error, and has written nothing for this request), and the connection
//! writes the `414` itself ([`too_long_response`]) before its lingering
//! close. [`MAX_URI_BYTES`] is under hyper's smallest read buffer (8 KiB), so
//! the watch always sees it first.
//!
//! The watch follows HTTP/1.1 message framing only as far as heads go: a
//! request line, field lines, an empty line, then the next request line. A
//! request body (none of the methods served has one) is read as if it were
//! request lines, so a body holding a token, a space and more than 8000 bytes
//! without a space or line end would be taken for a long target: such a
//! request gets `414` rather than `405`. A connection that opens with the
//! HTTP/2 preface (`PRI * HTTP/2.0`) is not watched.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::handler::MAX_URI_BYTES;
use super::security;

/// The longest method token followed; a longer one is not a method this
/// server knows, and hyper refuses it (`400`).
const MAX_METHOD: usize = 32;

/// Where in an HTTP/1.1 head the watch is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// In the method token, `len` bytes in; `pri` while they are a prefix of `PRI`.
    Method { len: usize, pri: bool },
    /// In the request target, `len` bytes in.
    Target { len: usize },
    /// In the rest of a line that does not matter (the version, or a line
    /// that is no request line).
    RestOfLine,
    /// In a field line, `len` bytes in (0: the line may be the empty one
    /// that ends the head).
    Field { len: usize },
    /// Not watching: an HTTP/2 connection, or a target found too long.
    Off,
}

/// Follows the request lines of one connection's input.
#[derive(Debug)]
pub(crate) struct TargetWatch {
    place: Place,
}

impl Default for TargetWatch {
    fn default() -> Self {
        TargetWatch {
            place: Place::Method { len: 0, pri: true },
        }
    }
}

impl TargetWatch {
    /// Follows `bytes`, the next ones the client sent; true when a request
    /// target in them is longer than [`MAX_URI_BYTES`].
    #[cfg(test)]
    fn over_long(&mut self, bytes: &[u8]) -> bool {
        self.find(bytes).is_some()
    }

    /// Follows `bytes`, the next ones the client sent. When a request target
    /// in them is longer than [`MAX_URI_BYTES`], how many of them come before
    /// its request line (0 when the line began in earlier bytes): those may
    /// still be requests to answer.
    pub(crate) fn find(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut line_start = None;
        let mut at = 0;
        while at < bytes.len() {
            // Inside a line whose end is all that matters (the version, a
            // field) or inside the target, jump to the next byte that can
            // change the place instead of stepping through every byte: the
            // watch is on every request's path.
            match self.place {
                Place::RestOfLine | Place::Field { len: 1.. } => {
                    match memchr::memchr(b'\n', &bytes[at..]) {
                        Some(end) => {
                            self.place = Place::Field { len: 0 };
                            at += end + 1;
                        }
                        None => {
                            if let Place::Field { len } = self.place {
                                let rest = bytes.len() - at;
                                self.place = Place::Field {
                                    len: len.saturating_add(rest),
                                };
                            }
                            at = bytes.len();
                        }
                    }
                    continue;
                }
                Place::Target { len } => {
                    let rest = &bytes[at..];
                    let end = memchr::memchr3(b' ', b'\r', b'\n', rest);
                    let taken = end.unwrap_or(rest.len());
                    if len + taken > MAX_URI_BYTES {
                        self.place = Place::Off;
                        return Some(line_start.unwrap_or(0));
                    }
                    self.place = Place::Target { len: len + taken };
                    at += taken;
                    if end.is_none() {
                        continue;
                    }
                }
                _ => {}
            }
            let byte = bytes[at];
            if let (Place::Method { len: 0, .. }, true) = (self.place, is_tchar(byte)) {
                line_start = Some(at);
            }
            self.place = match (self.place, byte) {
                (Place::Off, _) => return None,
                // Empty lines before a request line are allowed (RFC 9112 section 2.2).
                (Place::Method { len: 0, .. }, b'\r' | b'\n') => self.place,
                (Place::Method { len, pri }, b' ') if len > 0 => {
                    if pri && len == 3 {
                        // The HTTP/2 preface: what follows is not HTTP/1.1.
                        Place::Off
                    } else {
                        Place::Target { len: 0 }
                    }
                }
                (Place::Method { len, pri }, byte) if is_tchar(byte) && len < MAX_METHOD => {
                    Place::Method {
                        len: len + 1,
                        pri: pri && b"PRI".get(len) == Some(&byte),
                    }
                }
                (Place::Method { .. }, b'\n') => Place::Field { len: 0 },
                (Place::Method { .. }, _) => Place::RestOfLine,
                (Place::Target { .. }, b' ' | b'\r') => Place::RestOfLine,
                (Place::Target { .. }, b'\n') => Place::Field { len: 0 },
                (Place::Target { len }, _) => Place::Target { len },
                (Place::RestOfLine, b'\n') => Place::Field { len: 0 },
                (Place::RestOfLine, _) => Place::RestOfLine,
                (Place::Field { len: 0 }, b'\n') => Place::Method { len: 0, pri: false },
                (Place::Field { .. }, b'\n') => Place::Field { len: 0 },
                (Place::Field { len }, b'\r') => Place::Field { len },
                (Place::Field { len }, _) => Place::Field {
                    len: len.saturating_add(1),
                },
            };
            at += 1;
        }
        None
    }
}

/// A token character (RFC 9110 section 5.6.2), of which methods are made.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// The `414` a connection writes itself, for a target too long to reach the handler.
pub(crate) fn too_long_response(now: SystemTime) -> Vec<u8> {
    closing_response("414 URI Too Long", "URI too long\n", now)
}

/// A plain-text HTTP/1.1 response that a connection writes itself, outside
/// hyper, before it closes: `status` (code and reason) and `body`.
pub(crate) fn closing_response(status: &str, body: &str, now: SystemTime) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         {}: {}\r\ncontent-length: {}\r\nconnection: close\r\ndate: {}\r\n\r\n{body}",
        security::NOSNIFF.0,
        security::NOSNIFF.1,
        body.len(),
        httpdate::fmt_http_date(now),
    )
    .into_bytes()
}

/// A connection's input, watched for over-long request targets on its way to
/// hyper; `found` turns true when one came. The requests before it are
/// passed on, then reading fails; the connection's sending side is left open
/// for the `414` (hyper would end it once its input ends).
pub(crate) struct WatchTarget<T> {
    inner: T,
    watch: TargetWatch,
    found: Arc<AtomicBool>,
}

fn too_long() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "request target too long")
}

impl<T> WatchTarget<T> {
    pub(crate) fn new(inner: T, found: Arc<AtomicBool>) -> Self {
        WatchTarget {
            inner,
            watch: TargetWatch::default(),
            found,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchTarget<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.found.load(Ordering::Relaxed) {
            return Poll::Ready(Err(too_long()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Some(keep) = this.watch.find(&buf.filled()[before..]) {
            this.found.store(true, Ordering::Relaxed);
            buf.set_filled(before + keep);
            if keep == 0 {
                return Poll::Ready(Err(too_long()));
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchTarget<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.found.load(Ordering::Relaxed) {
            // The connection writes the `414`, then ends its side itself.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The watch as first written, a byte at a time: what `find` must agree with.
    impl TargetWatch {
        fn find_bytewise(&mut self, bytes: &[u8]) -> Option<usize> {
            let mut line_start = None;
            for (at, &byte) in bytes.iter().enumerate() {
                if let (Place::Method { len: 0, .. }, true) = (self.place, is_tchar(byte)) {
                    line_start = Some(at);
                }
                self.place = match (self.place, byte) {
                    (Place::Off, _) => return None,
                    // Empty lines before a request line are allowed (RFC 9112 section 2.2).
                    (Place::Method { len: 0, .. }, b'\r' | b'\n') => self.place,
                    (Place::Method { len, pri }, b' ') if len > 0 => {
                        if pri && len == 3 {
                            // The HTTP/2 preface: what follows is not HTTP/1.1.
                            Place::Off
                        } else {
                            Place::Target { len: 0 }
                        }
                    }
                    (Place::Method { len, pri }, byte) if is_tchar(byte) && len < MAX_METHOD => {
                        Place::Method {
                            len: len + 1,
                            pri: pri && b"PRI".get(len) == Some(&byte),
                        }
                    }
                    (Place::Method { .. }, b'\n') => Place::Field { len: 0 },
                    (Place::Method { .. }, _) => Place::RestOfLine,
                    (Place::Target { .. }, b' ' | b'\r') => Place::RestOfLine,
                    (Place::Target { .. }, b'\n') => Place::Field { len: 0 },
                    (Place::Target { len }, _) => {
                        if len + 1 > MAX_URI_BYTES {
                            self.place = Place::Off;
                            return Some(line_start.unwrap_or(0));
                        }
                        Place::Target { len: len + 1 }
                    }
                    (Place::RestOfLine, b'\n') => Place::Field { len: 0 },
                    (Place::RestOfLine, _) => Place::RestOfLine,
                    (Place::Field { len: 0 }, b'\n') => Place::Method { len: 0, pri: false },
                    (Place::Field { .. }, b'\n') => Place::Field { len: 0 },
                    (Place::Field { len }, b'\r') => Place::Field { len },
                    (Place::Field { len }, _) => Place::Field {
                        len: len.saturating_add(1),
                    },
                };
            }
            None
        }
    }

    proptest::proptest! {
        #[test]
        fn skipping_agrees_with_stepping_byte_by_byte(
            runs in proptest::collection::vec(
                (proptest::sample::select(b"GETPRI /a\r\n:".to_vec()), 1usize..3000),
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..60000, 0..6),
        ) {
            let input: Vec<u8> = runs
                .iter()
                .flat_map(|&(byte, n)| std::iter::repeat_n(byte, if byte.is_ascii_whitespace() { 1 + n % 3 } else { n }))
                .collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.push(0);
            cuts.push(input.len());
            cuts.sort_unstable();
            let (mut skipping, mut stepping) = (TargetWatch::default(), TargetWatch::default());
            for pair in cuts.windows(2) {
                let chunk = &input[pair[0]..pair[1]];
                let found = skipping.find(chunk);
                proptest::prop_assert_eq!(found, stepping.find_bytewise(chunk));
                // A field's length only ever matters as empty or not.
                let normal = |place: Place| match place {
                    Place::Field { len } => Place::Field { len: len.min(1) },
                    other => other,
                };
                proptest::prop_assert_eq!(normal(skipping.place), normal(stepping.place));
                if found.is_some() {
                    break;
                }
            }
        }
    }

    fn over_long(input: &[u8]) -> bool {
        TargetWatch::default().over_long(input)
    }

    fn request(target_len: usize) -> Vec<u8> {
        format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(target_len - 1)
        )
        .into_bytes()
    }

    #[test]
    fn a_target_at_the_limit_passes_and_one_over_it_is_found() {
        assert!(!over_long(&request(MAX_URI_BYTES)));
        assert!(over_long(&request(MAX_URI_BYTES + 1)));
        assert!(over_long(&request(1_000_000)));
    }

    #[test]
    fn a_target_is_found_however_the_bytes_are_split() {
        let bytes = request(MAX_URI_BYTES + 1);
        for piece in [1, 7, 4096] {
            let mut watch = TargetWatch::default();
            let found = bytes.chunks(piece).any(|chunk| watch.over_long(chunk));
            assert!(found, "pieces of {piece}");
        }
    }

    #[test]
    fn long_fields_are_not_targets() {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n",
            "c".repeat(100_000)
        );
        assert!(!over_long(request.as_bytes()));
        // Nor a field line that looks like a request line.
        let request = format!("GET / HTTP/1.1\r\nX: GET /{}\r\n\r\n", "a".repeat(9000));
        assert!(!over_long(request.as_bytes()));
    }

    #[test]
    fn every_request_of_a_connection_is_watched() {
        let mut input = request(10);
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(&request(10));
        input.extend_from_slice(&request(MAX_URI_BYTES + 1));
        assert!(over_long(&input));
    }

    #[test]
    fn the_requests_before_a_long_one_are_kept() {
        let mut input = request(10);
        let first = input.len();
        input.extend_from_slice(&request(MAX_URI_BYTES + 1));
        assert_eq!(TargetWatch::default().find(&input), Some(first));
        let mut watch = TargetWatch::default();
        assert_eq!(watch.find(&input[..first + 100]), None);
        assert_eq!(watch.find(&input[first + 100..]), Some(0));
    }

    #[test]
    fn http2_is_not_watched() {
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend_from_slice(&[b'a'; 20_000]);
        assert!(!over_long(&input));
        // A method that only starts like the preface is watched.
        let request = format!("PRIX /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
        assert!(over_long(request.as_bytes()));
    }

    #[test]
    fn garbage_is_left_to_hyper() {
        assert!(!over_long(&[0u8; 20_000]));
        assert!(!over_long(&[b'G'; 20_000]));
    }

    #[test]
    fn the_response_is_a_whole_414() {
        let response = too_long_response(SystemTime::UNIX_EPOCH);
        let text = String::from_utf8(response).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        assert!(
            text.contains("x-content-type-options: nosniff\r\n"),
            "{text}"
        );
        assert!(text.ends_with("content-length: 13\r\nconnection: close\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\nURI too long\n"), "{text}");
    }
}
