//! What one connection has done and when: when it opened, whether the client
//! has sent a byte, when its latest request came, how many of its responses
//! are still being sent and when one last moved. The connection's timers
//! (`connection.rs`) and the choice of which connection to close when the
//! server is full (`admission.rs`) read it; requests and responses only store
//! time stamps and counts in it.
//!
//! Responses are watched through their bodies ([`Tracked`]). An HTTP/2
//! response is handed to the connection in pieces of [`H2_PIECE`] bytes,
//! because hyper asks for the next piece of a body only once the previous
//! one has been sent within the client's flow-control window (RFC 9113
//! section 5.2): a piece taken is the only sign that the client opened its
//! window, and a client that never does (window 0, no `WINDOW_UPDATE`) shows
//! up as a response that does not move. No write blocks in that case, so the
//! socket's send timeout (`send_timeout.rs`) never starts; this does.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::handler::Body;

/// The size of the pieces an HTTP/2 response body is handed over in: the
/// protocol's default largest frame.
pub(crate) const H2_PIECE: usize = 16 * 1024;

/// What one connection has done, in milliseconds after it opened (plus one,
/// so that 0 means never).
#[derive(Debug)]
pub(crate) struct Activity {
    pub(crate) opened: Instant,
    /// When the latest request came; 0 until the first.
    last_request: AtomicU64,
    /// True once the client has sent any byte.
    spoke: AtomicBool,
    /// True when the client sent bytes since its responses were last all sent.
    spoke_since_idle: AtomicBool,
    /// Responses whose bodies are not yet all handed to the connection.
    in_flight: AtomicUsize,
    /// When a response body last moved, or began to wait.
    last_progress: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_request: AtomicU64::new(0),
            spoke: AtomicBool::new(false),
            spoke_since_idle: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_progress: AtomicU64::new(0),
        }
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn at(&self, stamp: u64) -> Instant {
        self.opened + Duration::from_millis(stamp.saturating_sub(1))
    }

    pub(crate) fn request_came(&self) {
        self.last_request.store(self.stamp(), Ordering::Relaxed);
    }

    /// When the latest request came, if one did.
    pub(crate) fn last_request(&self) -> Option<Instant> {
        match self.last_request.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.at(n)),
        }
    }

    fn bytes_came(&self) {
        self.spoke.store(true, Ordering::Relaxed);
        self.spoke_since_idle.store(true, Ordering::Relaxed);
    }

    /// True until the client sends its first byte.
    pub(crate) fn silent(&self) -> bool {
        !self.spoke.load(Ordering::Relaxed)
    }

    /// True when the connection is waiting for the client: it has sent
    /// nothing at all, or nothing since its responses were all handed over.
    pub(crate) fn waiting_for_client(&self) -> bool {
        self.silent()
            || (self.in_flight.load(Ordering::Relaxed) == 0
                && !self.spoke_since_idle.load(Ordering::Relaxed))
    }

    /// Responses still being sent.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Since when no response has moved, while some are being sent.
    pub(crate) fn stalled_since(&self) -> Option<Instant> {
        if self.in_flight() == 0 {
            return None;
        }
        Some(self.at(self.last_progress.load(Ordering::Relaxed)))
    }

    fn progress(&self) {
        self.last_progress.store(self.stamp(), Ordering::Relaxed);
    }

    fn response_began(&self) {
        // The stall clock starts when the first response begins to wait,
        // not when an earlier one last moved; later ones do not restart it,
        // or a client could keep a stalled connection by asking again.
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            self.progress();
        }
    }

    fn response_ended(&self) {
        self.progress();
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.spoke_since_idle.store(false, Ordering::Relaxed);
        }
    }
}

/// A response body that tells its connection's [`Activity`] when it begins,
/// moves and ends; for HTTP/2, handed over in pieces of [`H2_PIECE`] bytes.
pub(crate) struct Tracked {
    inner: Body,
    /// What was taken of `inner` and not yet handed over.
    pending: Bytes,
    piece: usize,
    activity: Arc<Activity>,
}

impl Tracked {
    pub(crate) fn new(inner: Body, activity: Arc<Activity>, http2: bool) -> Tracked {
        activity.response_began();
        Tracked {
            inner,
            pending: Bytes::new(),
            piece: if http2 { H2_PIECE } else { usize::MAX },
            activity,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.response_ended();
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.pending.is_empty() {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.pending = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return other,
            }
        }
        this.activity.progress();
        let take = this.piece.min(this.pending.remaining());
        Poll::Ready(Some(Ok(Frame::data(this.pending.split_to(take)))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + pending);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

/// A connection's socket that notes in its [`Activity`] every read that brings bytes.
pub(crate) struct Reads<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Reads<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Reads<T> {
        Reads { inner, activity }
    }

    /// The stream under the count.
    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Reads<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_came();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Reads<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;

    #[tokio::test]
    async fn an_http2_body_is_handed_over_in_pieces_and_ends_the_flight() {
        let activity = Arc::new(Activity::new());
        let bytes = Bytes::from(vec![7u8; 3 * H2_PIECE + 5]);
        let mut body = Tracked::new(Full::new(bytes.clone()), activity.clone(), true);
        assert_eq!(activity.in_flight(), 1);
        assert!(activity.stalled_since().is_some());
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            sizes.push(data.len());
            all.extend_from_slice(&data);
        }
        assert_eq!(sizes, [H2_PIECE, H2_PIECE, H2_PIECE, 5]);
        assert_eq!(all, bytes);
        drop(body);
        assert_eq!(activity.in_flight(), 0);
        assert!(activity.stalled_since().is_none());
    }

    #[tokio::test]
    async fn an_http1_body_is_handed_over_whole() {
        let activity = Arc::new(Activity::new());
        let bytes = Bytes::from(vec![7u8; 3 * H2_PIECE]);
        let body = Tracked::new(Full::new(bytes.clone()), activity, false);
        assert_eq!(body.size_hint().exact(), Some(bytes.len() as u64));
        assert_eq!(body.collect().await.unwrap().to_bytes(), bytes);
    }

    #[test]
    fn a_connection_waits_for_its_client_until_it_speaks_and_between_responses() {
        let activity = Arc::new(Activity::new());
        assert!(activity.silent() && activity.waiting_for_client());
        activity.bytes_came();
        assert!(!activity.silent() && !activity.waiting_for_client());
        let body = Tracked::new(Full::new(Bytes::from_static(b"x")), activity.clone(), false);
        assert!(!activity.waiting_for_client());
        drop(body);
        assert!(activity.waiting_for_client());
    }
}
