//! One accepted connection, until it closes: the [`Limits`] it is served
//! under, the hyper builder, its timeouts, and the per-request path into the
//! handler (the rate limit, [`handler::respond`], the access-log line and
//! audience counting; the stats page, [`super::stats_route`], answered later).
//!
//! Connections speak HTTP/1.1 with keep-alive, or HTTP/2 when the client
//! opens with the HTTP/2 preface (prior knowledge, `h2c`); `hyper_util`'s
//! `auto` builder tells them apart. Over TLS (`[server.tls]`) the same: ALPN
//! offers `h2` and `http/1.1`, and the client that chose `h2` opens with the
//! preface. The handshake is made by the first reads and writes, under every
//! timer below (`tls_stream.rs`). A connection's [`Role`] says what it
//! answers: the site, or (on the plain-HTTP listener of an HTTPS server)
//! redirects to HTTPS (`redirect.rs`). What a response holds is never decided
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
//!   target over [`handler::MAX_URI_BYTES`] gets `414`: from the handler
//!   when the head fits, and otherwise written here, once the request line
//!   alone is found too long on its way in ([`super::request_line`]).
//! - `send_timeout`: a response that the client takes nothing of for this
//!   long is abandoned and its connection dropped ([`super::send_timeout`]);
//!   so is a connection none of whose responses has moved for this long (an
//!   HTTP/2 client that keeps its flow-control window shut: no write ever
//!   blocks; found by the connection's timer within twice the timeout,
//!   [`super::activity`]). A connection with a response being sent is not
//!   idle.
//! - Closing gracefully (idle, or shutdown) has a deadline: `send_timeout`
//!   after an idle close began, `shutdown_timeout` after shutdown began; a
//!   connection still open then (HTTP/2 streams that can never finish after
//!   GOAWAY) is dropped.
//! - Half-close: a client that ends its sending side after its requests
//!   still gets every response to the requests it sent whole.
//! - Closing: a connection that ends (any way) is closed with a lingering
//!   close of at most [`linger::LINGER`], so a client that sent more than was
//!   read (pipelined requests at shutdown, a refused body) still gets the end
//!   of its last response rather than a reset ([`linger`]).
//! - `rate_limit`, `rate_burst`: off by default; a per-client token bucket,
//!   `429` with `Retry-After` beyond it, a `304` costing a quarter of a
//!   request ([`super::rate_limit`]). The client is the peer, or behind a
//!   proxy of `trusted_proxies` the one its fields name ([`super::forwarded`]).
//! - Shutdown: once it begins, the connection is closed gracefully: an idle
//!   one at once, one with a request in flight after its response.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::{service_fn, Service};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::activity::{Activity, Reads, Tracked};
use super::admission::{Place, PRESSED_FIRST_BYTE};
use super::handler::{self, Body};
use super::rate_limit::{Admission, Client, RateLimiter};
use super::send_timeout::{Returned, SendTimeout};
use super::state::State;
use super::tls_stream::{self, TlsReturned, Transport};
use super::{
    access_log, counting, forwarded, hub_route, linger, redirect, request_line, stats_route,
};
use crate::config::{ServerConfig, TrustedProxies};

/// The limits every connection is served under.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
    max_header_bytes: usize,
    /// How long the worker waits for its connections to close at shutdown.
    pub(crate) shutdown_timeout: Duration,
    send_timeout: Duration,
    /// The proxies whose `Forwarded` fields name the client (`forwarded.rs`).
    trusted_proxies: Arc<TrustedProxies>,
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
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
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
        // A client may end its side once its request is sent (RFC 9112
        // section 9.6): the end of input must not cost it the response.
        .half_close(true)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(128);
    builder
}

/// What a listener's connections answer.
#[derive(Clone)]
pub(crate) enum Role {
    /// The site, over plain HTTP, or over TLS with this acceptor.
    Site(Option<TlsAcceptor>),
    /// Redirects to HTTPS, and ACME's HTTP-01 challenges (`redirect.rs`).
    Redirect(Arc<redirect::Redirect>),
}

/// One accepted connection and what it holds until it closes.
pub(crate) struct Connection {
    /// What it answers.
    pub(crate) role: Role,
    pub(crate) state: Arc<State>,
    pub(crate) limits: Limits,
    pub(crate) builder: Arc<auto::Builder<TokioExecutor>>,
    pub(crate) limiter: Option<Arc<RateLimiter>>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// A place under `max_connections`, given back on drop (`None` only in tests).
    pub(crate) place: Option<Place>,
    /// Tells the worker this connection is open, until dropped.
    pub(crate) _open: mpsc::Sender<()>,
}

impl Connection {
    /// Serves requests on `stream` until it ends, is idle too long, or the
    /// server shuts down; then closes it, lingering.
    pub(crate) async fn serve(
        mut self,
        stream: TcpStream,
        peer: SocketAddr,
        activity: Arc<Activity>,
    ) {
        if let Err(error) = stream.set_nodelay(true) {
            debug!("TCP_NODELAY: {error}");
        }
        let close = self.place.as_ref().map(|p| p.close.clone());
        let mut made_room = false;
        let service = self.service(activity.clone(), peer);
        let returned = Returned::default();
        let stream = SendTimeout::new(stream, self.limits.send_timeout, returned.clone());
        let stream = Reads::new(stream, activity.clone());
        let tls_returned = TlsReturned::default();
        let stream = match &self.role {
            Role::Site(Some(acceptor)) => Transport::tls(stream, acceptor, tls_returned.clone()),
            Role::Site(None) | Role::Redirect(_) => Transport::Plain(stream),
        };
        let target_too_long = Arc::new(AtomicBool::new(false));
        let stream = request_line::WatchTarget::new(stream, target_too_long.clone());
        {
            let connection = self.builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            // One timer, never sleeping past the earliest time the
            // connection could be idle, stalled or overdue; requests and
            // responses only store time stamps.
            // At least every `send_timeout`, so that a response that begins
            // to wait is found stalled within twice that time.
            let first_check = self
                .limits
                .header_read_timeout
                .min(self.limits.keep_alive_timeout)
                .min(self.limits.send_timeout)
                .min(PRESSED_FIRST_BYTE);
            let check = tokio::time::sleep_until(activity.opened + first_check);
            tokio::pin!(check);
            // Once closing began (GOAWAY for HTTP/2), the time it may take.
            let mut closing: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    biased;
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            debug!(%peer, "connection ended: {error}");
                        }
                        break;
                    }
                    _ = self.shutdown.wait_for(|stop| *stop), if closing.is_none() => {
                        connection.as_mut().graceful_shutdown();
                        let deadline = tokio::time::Instant::now() + self.limits.shutdown_timeout;
                        closing = Some(deadline);
                        let sooner = deadline.min(check.deadline());
                        check.as_mut().reset(sooner);
                    }
                    _ = made_room_for(close.as_deref()), if closing.is_none() => {
                        made_room = true;
                        if activity.silent() {
                            debug!(%peer, "closing a silent connection to make room");
                            break;
                        }
                        debug!(%peer, "closing an idle connection to make room");
                        connection.as_mut().graceful_shutdown();
                        let deadline = tokio::time::Instant::now() + PRESSED_FIRST_BYTE;
                        closing = Some(deadline);
                        let sooner = deadline.min(check.deadline());
                        check.as_mut().reset(sooner);
                    }
                    _ = &mut check => {
                        let now = tokio::time::Instant::now();
                        let pressed = activity.silent()
                            && self.place.as_ref().is_some_and(Place::pressed);
                        let first_byte = if pressed {
                            PRESSED_FIRST_BYTE.min(self.limits.header_read_timeout)
                        } else {
                            self.limits.header_read_timeout
                        };
                        match timers(&activity, &self.limits, first_byte, closing, now) {
                            Check::Drop(why) => {
                                debug!(%peer, "dropping connection: {why}");
                                break;
                            }
                            Check::Close(deadline) => {
                                debug!(%peer, "closing idle connection");
                                connection.as_mut().graceful_shutdown();
                                closing = Some(deadline);
                                check.as_mut().reset(deadline);
                            }
                            Check::Again(next) => check.as_mut().reset(next),
                        }
                    }
                }
            }
        }
        // A connection closed to make room gives its place back before it
        // lingers, or the newcomer would wait for the linger; one that never
        // spoke has no response to protect and is closed at once.
        if made_room {
            drop(self.place.take());
            if activity.silent() {
                return;
            }
        }
        let target_too_long = target_too_long.load(Ordering::Relaxed);
        // Over TLS, the session came back (when its handshake was done): the
        // 414 goes through it, then its close_notify; dropping it gives the
        // socket back.
        let tls = matches!(self.role, Role::Site(Some(_)));
        if let Some(mut session) = tls_returned.take() {
            if target_too_long {
                debug!(%peer, "request target too long: 414");
                let response = request_line::too_long_response(SystemTime::now());
                let written = tokio::time::timeout(self.limits.send_timeout, async {
                    session.write_all(&response).await?;
                    session.shutdown().await
                });
                if !matches!(written.await, Ok(Ok(()))) {
                    return;
                }
            }
        }
        // The connection is gone and its socket came back: close it without
        // losing the end of the last response ([`linger`]).
        if let Some(mut stream) = returned.take() {
            let plain_answer = if tls && tls_returned.plain_http() {
                debug!(%peer, "a plain-HTTP request to the HTTPS port: 400");
                Some(tls_stream::plain_http_response(SystemTime::now()))
            } else if target_too_long && !tls {
                debug!(%peer, "request target too long: 414");
                Some(request_line::too_long_response(SystemTime::now()))
            } else {
                None
            };
            if let Some(response) = plain_answer {
                let written =
                    tokio::time::timeout(self.limits.send_timeout, stream.write_all(&response));
                if !matches!(written.await, Ok(Ok(()))) {
                    return;
                }
            }
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
        Response = Response<Tracked>,
        Error = Infallible,
        Future = hub_route::Answer<Result<Response<Tracked>, Infallible>>,
    > {
        let state = self.state.clone();
        let limiter = self.limiter.clone();
        let trusted = self.limits.trusted_proxies.clone();
        let redirect = match &self.role {
            Role::Redirect(redirect) => Some(redirect.clone()),
            Role::Site(_) => None,
        };
        service_fn(move |request: Request<Incoming>| {
            activity.request_came();
            let started = Instant::now();
            let http2 = request.version() == http::Version::HTTP_2;
            let client = forwarded::client(&trusted, peer.ip(), request.headers());
            if let Some(redirect) = &redirect {
                let response = respond_within_rate_limit(
                    limiter.as_deref(),
                    &request,
                    client,
                    started,
                    || redirect::respond(redirect, &request),
                );
                access_log::record(&state, peer, client, &request, &response, started);
                let response = response.map(|body| Tracked::new(body, activity.clone(), http2));
                return hub_route::Answer::Now(Some(Ok::<_, Infallible>(response)));
            }
            if let Some(hub) = hub_route::hub_for(&state, &request) {
                let (state, limiter, activity) = (state.clone(), limiter.clone(), activity.clone());
                return hub_route::Answer::Later(Box::pin(async move {
                    let response =
                        hub_route::answer(state, hub, limiter, request, peer, client, started)
                            .await;
                    Ok(response.map(|body| Tracked::new(body, activity, http2)))
                }));
            }
            if let Some(asked) = state
                .stats()
                .and_then(|stats| stats.asked(&request, client))
            {
                let (state, activity) = (state.clone(), activity.clone());
                return hub_route::Answer::Later(Box::pin(async move {
                    let mut head = Request::new(());
                    *head.method_mut() = request.method().clone();
                    *head.uri_mut() = request.uri().clone();
                    *head.version_mut() = request.version();
                    drop(request);
                    let response = stats_route::answer(asked).await;
                    access_log::record(&state, peer, client, &head, &response, started);
                    Ok(response.map(|body| Tracked::new(body, activity, http2)))
                }));
            }
            let response =
                respond_within_rate_limit(limiter.as_deref(), &request, client, started, || {
                    handler::respond(&state, &request)
                });
            access_log::record(&state, peer, client, &request, &response, started);
            counting::count(&state, client, &request, &response);
            let response = response.map(|body| Tracked::new(body, activity.clone(), http2));
            hub_route::Answer::Now(Some(Ok::<_, Infallible>(response)))
        })
    }
}

/// Resolves when the connection is told to close to make room for another
/// (`admission.rs`); never, for a connection without a place.
async fn made_room_for(close: Option<&tokio::sync::Notify>) {
    match close {
        Some(close) => close.notified().await,
        None => std::future::pending().await,
    }
}

/// What a connection's timer found.
#[derive(Debug, PartialEq)]
enum Check {
    /// End the connection now, without waiting for anything more.
    Drop(&'static str),
    /// Begin closing it gracefully (HTTP/2: GOAWAY), and end it by this time.
    Close(tokio::time::Instant),
    /// Nothing to do before this time.
    Again(tokio::time::Instant),
}

/// The connection's timers at `now`, `closing` being the deadline of a
/// graceful close under way, if one is:
/// - a response that has not moved for `send_timeout` (an HTTP/2 client that
///   never opens its flow-control window: no write blocks, so the socket's
///   own send timeout never starts) ends the connection, closing or not;
/// - a graceful close that has not finished by its deadline ends it (the
///   streams it waits for may never finish: a client may keep its window
///   shut, and answer PINGs);
/// - with no response being sent, a connection with no new request for the
///   idle timeout (`first_byte` before its first byte, `header_read_timeout`
///   before the first request, `keep_alive_timeout` after it) begins
///   closing, and gets `send_timeout` to finish.
fn timers(
    activity: &Activity,
    limits: &Limits,
    first_byte: Duration,
    closing: Option<tokio::time::Instant>,
    now: tokio::time::Instant,
) -> Check {
    let mut next = now + limits.keep_alive_timeout.min(limits.send_timeout);
    if let Some(since) = activity.stalled_since() {
        let stall = since + limits.send_timeout;
        if now >= stall {
            return Check::Drop("no response moved for the send timeout");
        }
        next = next.min(stall);
    }
    if let Some(deadline) = closing {
        if now >= deadline {
            return Check::Drop("still open at the close deadline");
        }
        return Check::Again(next.min(deadline));
    }
    if activity.in_flight() > 0 {
        // Not idle while a response is being sent: the stall rule bounds it.
        return Check::Again(next);
    }
    let idle = match activity.last_request() {
        None if activity.silent() => activity.opened + first_byte,
        None => activity.opened + limits.header_read_timeout,
        Some(latest) => latest + limits.keep_alive_timeout,
    };
    if now >= idle {
        return Check::Close(now + limits.send_timeout);
    }
    Check::Again(next.min(idle))
}

/// `respond` (the handler, or the redirect) within the rate limit, if there
/// is one: a client over it gets `429`, and an admitted one is charged for
/// its response.
fn respond_within_rate_limit<B>(
    limiter: Option<&RateLimiter>,
    request: &Request<B>,
    client: IpAddr,
    now: Instant,
    respond: impl FnOnce() -> Response<Body>,
) -> Response<Body> {
    let Some(limiter) = limiter else {
        return respond();
    };
    let client = Client::from(client);
    match limiter.admit(client, now) {
        Admission::Admit => {
            let response = respond();
            let not_modified = response.status() == http::StatusCode::NOT_MODIFIED;
            limiter.charge(client, not_modified, now);
            response
        }
        Admission::Refuse { retry_after_secs } => {
            handler::too_many_requests(retry_after_secs, request.method())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::from(&ServerConfig {
            header_read_timeout: Duration::from_secs(10).into(),
            keep_alive_timeout: Duration::from_secs(5).into(),
            send_timeout: Duration::from_secs(30).into(),
            ..ServerConfig::default()
        })
    }

    #[tokio::test]
    async fn a_silent_connection_closes_after_the_header_read_timeout() {
        let activity = Activity::new();
        let limits = limits();
        let now = activity.opened + Duration::from_secs(10);
        assert_eq!(
            timers(&activity, &limits, limits.header_read_timeout, None, now),
            Check::Close(now + Duration::from_secs(30))
        );
    }

    #[tokio::test]
    async fn a_stalled_response_drops_the_connection_even_while_closing() {
        let activity = Arc::new(Activity::new());
        let limits = limits();
        let _body = Tracked::new(Body::default(), activity.clone(), true);
        let later = activity.opened + Duration::from_secs(29);
        assert!(matches!(
            timers(&activity, &limits, limits.header_read_timeout, None, later),
            Check::Again(_)
        ));
        let stalled = activity.opened + Duration::from_secs(30);
        let closing = Some(stalled + Duration::from_secs(100));
        assert!(matches!(
            timers(
                &activity,
                &limits,
                limits.header_read_timeout,
                closing,
                stalled
            ),
            Check::Drop(_)
        ));
    }

    #[tokio::test]
    async fn a_graceful_close_has_a_deadline() {
        let activity = Activity::new();
        let limits = limits();
        let deadline = activity.opened + Duration::from_secs(1);
        assert!(matches!(
            timers(
                &activity,
                &limits,
                limits.header_read_timeout,
                Some(deadline),
                deadline
            ),
            Check::Drop(_)
        ));
    }
}
