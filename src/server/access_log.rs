//! The access log: one `info` event per request under the target
//! `broadsheet::access`, with `peer` (the connection's), `client` (the same
//! address, or behind a trusted proxy the one it names), `method`, `path`, `status`, `bytes`
//! (of the body sent), `micros` (time to answer, not to transmit) and
//! `version`. `RUST_LOG` sets the level; `RUST_LOG=info,broadsheet::access=off`
//! keeps the server's own messages and drops the access log (as a benchmark
//! should).
//!
//! Only the line lives here: which requests are answered, and how, is
//! decided before it is written.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use hyper::body::Body as _;
use hyper::{Request, Response};
use tracing::info;

use super::handler::Body;

/// Writes the line of `request` from `client`, on a connection from `peer`,
/// answered with `response`, timed from `started`.
pub(crate) fn record<B>(
    peer: SocketAddr,
    client: IpAddr,
    request: &Request<B>,
    response: &Response<Body>,
    started: Instant,
) {
    info!(
        target: "broadsheet::access",
        %peer,
        %client,
        method = %request.method(),
        path = %request.uri().path(),
        status = response.status().as_u16(),
        bytes = response.body().size_hint().exact().unwrap_or(0),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        version = ?request.version(),
    );
}
