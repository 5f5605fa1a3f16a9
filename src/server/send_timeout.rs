//! The send timeout (`[server] send_timeout`): a connection whose client
//! stops taking the response is dropped, rather than holding its place (and
//! the response's buffers) for as long as the client likes.
//!
//! The rule is nginx's `send_timeout`: the time is counted between two
//! writes that make progress, not over the whole response, so a slow but
//! steady reader of a large feed is never cut off, while a client that has
//! stopped reading is dropped once the socket's buffers are full and nothing
//! moves for the timeout. A connection that is only waiting for its next
//! request is not writing, so this timer never runs for it (idle connections
//! have the keep-alive and header timeouts, in `connection.rs`).
//!
//! No crate already in the tree does this (tokio's own timeouts wrap whole
//! futures, and hyper has no write timeout), so it is a thin wrapper around
//! the socket: every write that the socket cannot take at once arms one
//! reusable timer, every write it takes disarms it.
//!
//! When hyper is done with the connection and drops the wrapper, the socket
//! is not closed but handed back ([`Returned`]), for the lingering close in
//! `linger.rs`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A TCP stream whose writes fail with `TimedOut` after `timeout` without progress.
#[derive(Debug)]
pub(crate) struct SendTimeout {
    /// Always `Some` until dropped, when it goes to `returned`.
    stream: Option<TcpStream>,
    returned: Returned,
    timeout: Duration,
    /// Allocated at the first stall and reused after.
    timer: Option<Pin<Box<Sleep>>>,
    /// True while a write is waiting for the client.
    armed: bool,
}

/// Where a [`SendTimeout`] puts its socket when dropped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Returned(Arc<Mutex<Option<TcpStream>>>);

impl Returned {
    /// The socket, once the wrapper is dropped.
    pub(crate) fn take(&self) -> Option<TcpStream> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Drop for SendTimeout {
    fn drop(&mut self) {
        let mut slot = self.returned.0.lock().unwrap_or_else(|e| e.into_inner());
        *slot = self.stream.take();
    }
}

impl SendTimeout {
    /// Wraps `stream`; when dropped, it hands the stream to `returned`.
    pub(crate) fn new(stream: TcpStream, timeout: Duration, returned: Returned) -> SendTimeout {
        SendTimeout {
            stream: Some(stream),
            returned,
            timeout,
            timer: None,
            armed: false,
        }
    }

    /// Looks at the bytes waiting to be read without taking them
    /// (`TcpStream::poll_peek`).
    pub(crate) fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        match &self.stream {
            Some(stream) => stream.poll_peek(cx, buf),
            None => Poll::Ready(Ok(0)),
        }
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(
            self.stream
                .as_mut()
                .expect("the stream is only taken when dropped"),
        )
    }

    /// Records the outcome of a write: progress disarms the timer, a stall
    /// arms it (once) and polls it.
    fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.armed = false;
            return polled;
        }
        let deadline = Instant::now() + self.timeout;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client took nothing for {} s: send timeout",
                    self.timeout.as_secs_f64()
                ),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for SendTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for SendTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = this.stream().poll_write(cx, buf);
        this.check(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = this.stream().poll_write_vectored(cx, bufs);
        this.check(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = this.stream().poll_flush(cx);
        this.check(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = this.stream().poll_shutdown(cx);
        this.check(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    use crate::server::tests_support::tcp_pair as pair;

    #[tokio::test]
    async fn a_client_that_stops_reading_times_out() {
        let (server, _client) = pair().await;
        let mut stream = SendTimeout::new(server, Duration::from_millis(200), Returned::default());
        let chunk = vec![b'x'; 64 * 1024];
        let started = std::time::Instant::now();
        let error = loop {
            if let Err(error) = stream.write_all(&chunk).await {
                break error;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never timed out"
            );
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_slow_steady_reader_is_not_cut_off() {
        let (server, mut client) = pair().await;
        // Small buffers, so the writer waits for the reader again and again.
        socket2::SockRef::from(&server)
            .set_send_buffer_size(64 * 1024)
            .unwrap();
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(64 * 1024)
            .unwrap();
        let mut stream = SendTimeout::new(server, Duration::from_millis(200), Returned::default());
        let total = 4 * 1024 * 1024;
        let started = std::time::Instant::now();
        let reader = tokio::spawn(async move {
            let mut buffer = vec![0u8; 256 * 1024];
            let mut read = 0;
            while read < total {
                // Pauses shorter than the timeout, many times over.
                tokio::time::sleep(Duration::from_millis(30)).await;
                let n = client.read(&mut buffer).await.unwrap();
                assert!(n > 0);
                read += n;
            }
            read
        });
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..total / chunk.len() {
            stream.write_all(&chunk).await.expect("no timeout");
        }
        assert_eq!(reader.await.unwrap(), total);
        // The whole transfer took longer than the timeout: only stalls count.
        assert!(started.elapsed() > Duration::from_millis(400));
    }
}
