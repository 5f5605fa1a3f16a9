//! What a connection's HTTP is spoken over: the TCP stream itself, or TLS
//! on it ([`Transport`]).
//!
//! The TLS handshake is not a step of its own before HTTP: it is driven by
//! the first reads and writes hyper makes, so every timer of the
//! connection (`connection.rs`) bounds it as it bounds a plain request
//! head. A client silent after connecting is a silent connection (closed
//! within `header_read_timeout`, sooner under pressure, first to make room
//! at the cap); one that stalls mid-handshake has sent bytes but no request,
//! and is closed within `header_read_timeout` like one trickling a head; a
//! client that does not read the server's handshake messages meets the send
//! timeout. Under TLS sit the same wrappers as under plain HTTP (the send
//! timeout, the count of reads), so the limits and the lingering close see
//! the TCP stream in both cases.
//!
//! A handshake that negotiated `acme-tls/1` (a CA validating TLS-ALPN-01)
//! carries no HTTP: it reads as an end of input once the handshake is done
//! (RFC 8737 section 3).
//!
//! When hyper drops a TLS transport whose handshake is done, the TLS stream
//! is not dropped but handed back ([`TlsReturned`]), so that the connection
//! can still write its `414` through it (`request_line.rs`) before closing.
//!
//! Before the handshake, the first byte the client sent is looked at
//! without being read: a TLS connection opens with a handshake record
//! (`0x16`), a plain-HTTP request with a method's capital letter. A plain
//! request to the HTTPS port (`http://host:443/`) is not handed to TLS,
//! which would answer it with a binary alert the client shows as garbage;
//! the transport fails, and the connection writes [`plain_http_response`]
//! on the socket in plain text (nginx's answer too), then closes it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;
use tokio_rustls::{Accept, TlsAcceptor};

use super::activity::Reads;
use super::send_timeout::SendTimeout;
use crate::tls::ACME_TLS_ALPN;

/// The stream under TLS: the TCP socket with its send timeout and read count.
pub(crate) type Tcp = Reads<SendTimeout>;

/// A connection's byte stream, plain or TLS.
pub(crate) enum Transport {
    Plain(Tcp),
    Tls(TlsTransport),
}

/// A TLS server stream whose handshake is made by its first reads and writes.
pub(crate) struct TlsTransport {
    state: State,
    returned: TlsReturned,
}

enum State {
    /// Nothing read yet: the first byte decides between TLS and plain HTTP.
    Sniffing(Tcp, TlsAcceptor),
    Handshaking(Box<Accept<Tcp>>),
    Ready(Box<TlsStream<Tcp>>),
    /// The handshake failed, or the stream was handed back.
    Gone,
}

/// Where a [`TlsTransport`] puts its TLS stream when dropped after the
/// handshake, and whether the client spoke plain HTTP instead.
#[derive(Clone, Default)]
pub(crate) struct TlsReturned {
    session: Arc<Mutex<Option<Box<TlsStream<Tcp>>>>>,
    plain_http: Arc<AtomicBool>,
}

impl TlsReturned {
    /// The TLS stream, once the transport is dropped (`None` if its handshake never finished).
    pub(crate) fn take(&self) -> Option<Box<TlsStream<Tcp>>> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// True when the client opened with a plain-HTTP request: it gets
    /// [`plain_http_response`] on the socket.
    pub(crate) fn plain_http(&self) -> bool {
        self.plain_http.load(Ordering::Relaxed)
    }
}

/// The `400` a plain-HTTP request to the HTTPS port gets, in plain text.
pub(crate) fn plain_http_response(now: std::time::SystemTime) -> Vec<u8> {
    super::request_line::closing_response(
        "400 Bad Request",
        "This port speaks HTTPS: ask for https:// rather than http://.\n",
        now,
    )
}

impl Transport {
    /// TLS over `tcp` with `acceptor`'s configuration; the handshake begins
    /// at the first read or write.
    pub(crate) fn tls(tcp: Tcp, acceptor: &TlsAcceptor, returned: TlsReturned) -> Transport {
        Transport::Tls(TlsTransport {
            state: State::Sniffing(tcp, acceptor.clone()),
            returned,
        })
    }
}

impl Drop for TlsTransport {
    fn drop(&mut self) {
        if let State::Ready(stream) = std::mem::replace(&mut self.state, State::Gone) {
            *self
                .returned
                .session
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(stream);
        }
    }
}

/// What the handshake came to, as far as a read or write can tell.
enum Progress<'a> {
    Ready(&'a mut TlsStream<Tcp>),
    /// The handshake is done and carries no HTTP (`acme-tls/1`).
    Ended,
    Pending,
    Failed(io::Error),
}

impl TlsTransport {
    fn progress(&mut self, cx: &mut Context<'_>) -> Progress<'_> {
        if let State::Sniffing(tcp, _) = &self.state {
            let mut first = [0u8; 1];
            match tcp.get_ref().poll_peek(cx, &mut ReadBuf::new(&mut first)) {
                Poll::Pending => return Progress::Pending,
                Poll::Ready(Err(error)) => {
                    self.state = State::Gone;
                    return Progress::Failed(error);
                }
                // The client closed without a byte: an end of input.
                Poll::Ready(Ok(0)) => {
                    self.state = State::Gone;
                    return Progress::Ended;
                }
                Poll::Ready(Ok(_)) if first[0].is_ascii_uppercase() => {
                    // Dropping the socket's wrappers hands it back to the
                    // connection, which writes the `400` on it.
                    self.returned.plain_http.store(true, Ordering::Relaxed);
                    self.state = State::Gone;
                    return Progress::Failed(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a plain-HTTP request to the HTTPS port",
                    ));
                }
                // A TLS record (`0x16` opens a handshake), or bytes that
                // TLS refuses in its own way.
                Poll::Ready(Ok(_)) => {
                    if let State::Sniffing(tcp, acceptor) =
                        std::mem::replace(&mut self.state, State::Gone)
                    {
                        self.state = State::Handshaking(Box::new(acceptor.accept(tcp)));
                    }
                }
            }
        }
        if let State::Handshaking(accept) = &mut self.state {
            match Pin::new(&mut **accept).poll(cx) {
                Poll::Pending => return Progress::Pending,
                Poll::Ready(Ok(stream)) => self.state = State::Ready(Box::new(stream)),
                Poll::Ready(Err(error)) => {
                    self.state = State::Gone;
                    return Progress::Failed(error);
                }
            }
        }
        match &mut self.state {
            State::Ready(stream) => {
                if stream.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) {
                    Progress::Ended
                } else {
                    Progress::Ready(stream)
                }
            }
            State::Sniffing(..) | State::Handshaking(_) => Progress::Pending,
            State::Gone => Progress::Failed(io::Error::new(
                io::ErrorKind::NotConnected,
                "no TLS session",
            )),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Transport::Tls(tls) => match tls.progress(cx) {
                Progress::Ready(stream) => Pin::new(stream).poll_read(cx, buf),
                Progress::Ended => Poll::Ready(Ok(())),
                Progress::Pending => Poll::Pending,
                Progress::Failed(error) => Poll::Ready(Err(error)),
            },
        }
    }
}

/// Runs `write` on the stream once the handshake allows.
macro_rules! after_handshake {
    ($self:ident, $cx:ident, $plain:pat => $plain_call:expr, $stream:ident => $call:expr, $ended:expr) => {
        match $self.get_mut() {
            Transport::Plain($plain) => $plain_call,
            Transport::Tls(tls) => match tls.progress($cx) {
                Progress::Ready($stream) => $call,
                Progress::Ended => $ended,
                Progress::Pending => Poll::Pending,
                Progress::Failed(error) => Poll::Ready(Err(error)),
            },
        }
    };
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        after_handshake!(self, cx,
            tcp => Pin::new(tcp).poll_write(cx, buf),
            stream => Pin::new(stream).poll_write(cx, buf),
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        after_handshake!(self, cx,
            tcp => Pin::new(tcp).poll_write_vectored(cx, bufs),
            stream => Pin::new(stream).poll_write_vectored(cx, bufs),
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(tcp) => tcp.is_write_vectored(),
            Transport::Tls(tls) => match &tls.state {
                State::Ready(stream) => stream.is_write_vectored(),
                _ => false,
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        after_handshake!(self, cx,
            tcp => Pin::new(tcp).poll_flush(cx),
            stream => Pin::new(stream).poll_flush(cx),
            Poll::Ready(Ok(())))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            // Shutting down mid-handshake: nothing to close but the socket,
            // which the lingering close does.
            Transport::Tls(tls) => match &mut tls.state {
                State::Ready(stream) => Pin::new(stream).poll_shutdown(cx),
                State::Sniffing(..) | State::Handshaking(_) | State::Gone => Poll::Ready(Ok(())),
            },
        }
    }
}
