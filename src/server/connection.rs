//! One accepted connection, until it closes: the [`Limits`] it is served
//! under, the hyper builder, its timeouts, and the per-request path into the
//! handler (the rate limit, [`handler::respond`], the access-log line).
//!
//! Connections speak HTTP/1.1 with keep-alive, or HTTP/2 when the client
//! opens with the HTTP/2 preface (prior knowledge, `h2c`); `hyper_util`'s
//! `auto` builder tells them apart. What a response holds is never decided
//! here (that is [`handler::respond`]'s), nor which connections are accepted
//! (that is the worker's, `worker.rs`).
//!
//! Limits, from `[server]`:
//! - `header_read_timeout`: a connection must send a whole request head
//!   within this time of opening or of its last response, or it is closed
//!   (hyper's timer for HTTP/1.1; for a connection that has not yet sent a
//!   single byte, and for HTTP/2, the idle check here).
//! - `keep_alive_timeout`: a connection with no new request in that time
//!   since its latest one is closed gracefully (a response being written is
//!   finished first; HTTP/2 gets a GOAWAY). One timer per connection, re-armed
//!   only when it fires, so requests themselves only store a time stamp.
//! - `max_header_bytes`: a larger request head gets `431`; so does a head of
//!   more than 100 fields (hyper's cap), whatever their size. A request
//!   target over [`handler::MAX_URI_BYTES`] that fits gets `414`.
//! - `send_timeout`: a response that the client takes nothing of for this
//!   long is abandoned and its connection dropped ([`super::send_timeout`]).
//! - Closing: a connection that ends (any way) is closed with a lingering
//!   close of at most [`linger::LINGER`], so a client that sent more than was
//!   read (pipelined requests at shutdown, a refused body) still gets the end
//!   of its last response rather than a reset ([`linger`]).
//! - `rate_limit`, `rate_burst`: off by default; a per-client token bucket,
//!   `429` with `Retry-After` beyond it, a `304` costing a quarter of a
//!   request ([`super::rate_limit`]).
//! - Shutdown: once it begins, the connection is closed gracefully: an idle
//!   one at once, one with a request in flight after its response.

use std::convert::Infallible;
use std::future::Ready;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::{service_fn, Service};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tracing::debug;

use super::handler::{self, Body};
use super::rate_limit::{Admission, Client, RateLimiter};
use super::send_timeout::{Returned, SendTimeout};
use super::state::State;
use super::{access_log, linger};
use crate::config::ServerConfig;

/// The limits every connection is served under.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
    max_header_bytes: usize,
    /// How long the worker waits for its connections to close at shutdown.
    pub(crate) shutdown_timeout: Duration,
    send_timeout: Duration,
}

impl From<&ServerConfig> for Limits {
    fn from(config: &ServerConfig) -> Self {
        Limits {
            header_read_timeout: config.header_read_timeout.duration(),
            keep_alive_timeout: config.keep_alive_timeout.duration(),
            // hyper does not accept a read buffer under 8 KiB.
            max_header_bytes: config.max_header_bytes.max(8192),
            shutdown_timeout: config.shutdown_timeout.duration(),
            send_timeout: config.send_timeout.duration(),
        }
    }
}

/// The hyper builder a worker serves all its connections with.
pub(crate) fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(128);
    builder
}

/// One accepted connection and what it holds until it closes.
pub(crate) struct Connection {
    pub(crate) state: Arc<State>,
    pub(crate) limits: Limits,
    pub(crate) builder: Arc<auto::Builder<TokioExecutor>>,
    pub(crate) limiter: Option<Arc<RateLimiter>>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// A place under `max_connections`, given back on drop.
    pub(crate) _permit: OwnedSemaphorePermit,
    /// Tells the worker this connection is open, until dropped.
    pub(crate) _open: mpsc::Sender<()>,
}

impl Connection {
    /// Serves requests on `stream` until it ends, is idle too long, or the
    /// server shuts down; then closes it, lingering.
    pub(crate) async fn serve(mut self, stream: TcpStream, peer: SocketAddr) {
        if let Err(error) = stream.set_nodelay(true) {
            debug!("TCP_NODELAY: {error}");
        }
        let activity = Arc::new(Activity::new());
        let service = self.service(activity.clone(), peer);
        let returned = Returned::default();
        let stream = SendTimeout::new(stream, self.limits.send_timeout, returned.clone());
        {
            let connection = self.builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            // The timer never sleeps past the earliest time the connection could
            // become idle for too long; a request only stores its time stamp.
            let first_check = self
                .limits
                .header_read_timeout
                .min(self.limits.keep_alive_timeout);
            let idle_check = tokio::time::sleep_until(activity.opened + first_check);
            tokio::pin!(idle_check);
            let mut closing = false;
            loop {
                tokio::select! {
                    biased;
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            debug!(%peer, "connection ended: {error}");
                        }
                        break;
                    }
                    _ = self.shutdown.wait_for(|stop| *stop), if !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ = &mut idle_check, if !closing => {
                        let now = tokio::time::Instant::now();
                        let (deadline, next_check) = activity.idle_deadline(&self.limits, now);
                        if now >= deadline {
                            debug!(%peer, "closing idle connection");
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                        } else {
                            idle_check.as_mut().reset(next_check);
                        }
                    }
                }
            }
        }
        // The connection is gone and its socket came back: close it without
        // losing the end of the last response ([`linger`]).
        if let Some(stream) = returned.take() {
            linger::close(stream, linger::LINGER).await;
        }
    }

    /// The per-request path of this connection: each request is noted in
    /// `activity`, answered by [`handler::respond`] within the rate limit,
    /// and timed for its access-log line.
    fn service(
        &self,
        activity: Arc<Activity>,
        peer: SocketAddr,
    ) -> impl Service<
        Request<Incoming>,
        Response = Response<Body>,
        Error = Infallible,
        Future = Ready<Result<Response<Body>, Infallible>>,
    > {
        let state = self.state.clone();
        let limiter = self.limiter.clone();
        service_fn(move |request: Request<Incoming>| {
            activity.request_came();
            let started = Instant::now();
            let response =
                respond_within_rate_limit(&state, limiter.as_deref(), &request, peer, started);
            access_log::record(peer, &request, &response, started);
            std::future::ready(Ok::<_, Infallible>(response))
        })
    }
}

/// When a connection opened and when its latest request came: all that its
/// idle check needs, so that a request itself only stores a time stamp.
struct Activity {
    opened: tokio::time::Instant,
    /// When the latest request came, in milliseconds after `opened`, plus
    /// one; 0 until the first request.
    last_request: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: tokio::time::Instant::now(),
            last_request: AtomicU64::new(0),
        }
    }

    fn request_came(&self) {
        let since_open = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_request.store(since_open + 1, Ordering::Relaxed);
    }

    /// When the connection will have been idle too long, as seen at `now`,
    /// and when to check again. Until the first request, the client has the
    /// header read timeout to send one; after it, the keep-alive timeout
    /// from the latest request.
    fn idle_deadline(
        &self,
        limits: &Limits,
        now: tokio::time::Instant,
    ) -> (tokio::time::Instant, tokio::time::Instant) {
        match self.last_request.load(Ordering::Relaxed) {
            0 => {
                let deadline = self.opened + limits.header_read_timeout;
                // A first request may come meanwhile and start the shorter clock.
                (deadline, deadline.min(now + limits.keep_alive_timeout))
            }
            n => {
                let deadline =
                    self.opened + Duration::from_millis(n - 1) + limits.keep_alive_timeout;
                (deadline, deadline)
            }
        }
    }
}

/// [`handler::respond`] within the rate limit, if there is one: a client over
/// it gets `429`, and an admitted one is charged for its response.
fn respond_within_rate_limit<B>(
    state: &State,
    limiter: Option<&RateLimiter>,
    request: &Request<B>,
    peer: SocketAddr,
    now: Instant,
) -> Response<Body> {
    let Some(limiter) = limiter else {
        return handler::respond(state, request);
    };
    let client = Client::from(peer.ip());
    match limiter.admit(client, now) {
        Admission::Admit => {
            let response = handler::respond(state, request);
            let not_modified = response.status() == http::StatusCode::NOT_MODIFIED;
            limiter.charge(client, not_modified, now);
            response
        }
        Admission::Refuse { retry_after_secs } => {
            handler::too_many_requests(retry_after_secs, request.method())
        }
    }
}
