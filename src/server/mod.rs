//! `broadsheet serve`: the built set, served over HTTP from memory.
//!
//! Code map:
//! - `mod.rs` (here): [`start`], listeners, worker threads, connections, limits, shutdown.
//! - [`handler`]: request + state -> response, a plain function.
//! - [`negotiate`]: `Accept-Encoding`. [`conditional`]: `If-None-Match` and friends.
//!   [`range`]: `Range` and `If-Range`, for articles' files.
//! - [`served`]: the served set with its headers made ahead. [`state`]: what the threads share.
//! - [`reload`]: file watching, debounce, rebuild and swap. [`health`]: `/healthz`.
//!
//! Invariants: a request never touches the file system, never renders and
//! never compresses: it looks bytes up ([`served::ServedSet`]). A request sees
//! one whole built set, old or new, never a mix ([`state::State`]).
//!
//! No path from a request is ever read on disk: the decoded path is only a
//! key into the in-memory set, never joined to a directory, so `..`, `%2e%2e`,
//! `//etc/passwd` or a NUL byte can only miss (`404`). Path traversal is
//! impossible by construction, not prevented by a filter; the tests that try
//! it (`tests/server.rs`, `tests/hostile_http.rs`) stay to keep it so.
//!
//! Threads: one worker per core (`[server] workers`), each running its own
//! single-threaded tokio runtime with its own listening socket, all bound to
//! the same address with `SO_REUSEPORT`, so the kernel spreads connections
//! over the workers and no request crosses threads. (On this kind of
//! machine that beat one multi-threaded runtime, chiefly on small responses
//! such as `304`, and beat nginx serving the same files; see issue 4.) Sockets have `TCP_NODELAY`. Connections speak
//! HTTP/1.1 with keep-alive, or HTTP/2 when the client opens with the HTTP/2
//! preface (prior knowledge, `h2c`); `hyper_util`'s `auto` builder tells
//! them apart. Because `SO_REUSEPORT` would let a second server of the same
//! user share a port silently, a port in use is first probed with a plain socket.
//!
//! Access log: one `info` event per request under the target
//! `broadsheet::access`, with `peer`, `method`, `path`, `status`, `bytes`
//! (of the body sent), `micros` (time to answer, not to transmit) and
//! `version`. `RUST_LOG` sets the level; `RUST_LOG=info,broadsheet::access=off`
//! keeps the server's own messages and drops the access log (as a benchmark should).
//!
//! Limits, from `[server]`:
//! - `header_read_timeout`: a connection must send a whole request head
//!   within this time of opening or of its last response, or it is closed
//!   (hyper's timer for HTTP/1.1; for a connection that has not yet sent a
//!   single byte, and for HTTP/2, the idle check below).
//! - `keep_alive_timeout`: a connection with no new request in that time
//!   since its latest one is closed gracefully (a response being written is
//!   finished first; HTTP/2 gets a GOAWAY). One timer per connection, re-armed
//!   only when it fires, so requests themselves only store a time stamp.
//! - `max_header_bytes`: a larger request head gets `431`; so does a head of
//!   more than 100 fields (hyper's cap), whatever their size. A request
//!   target over [`handler::MAX_URI_BYTES`] that fits gets `414`.
//! - `send_timeout`: a response that the client takes nothing of for this
//!   long is abandoned and its connection dropped ([`send_timeout`]).
//! - Closing: a connection that ends (any way) is closed with a lingering
//!   close of at most [`linger::LINGER`], so a client that sent more than was
//!   read (pipelined requests at shutdown, a refused body) still gets the end
//!   of its last response rather than a reset ([`linger`]).
//! - `rate_limit`, `rate_burst`: off by default; a per-client token bucket,
//!   `429` with `Retry-After` beyond it, a `304` costing a quarter of a
//!   request ([`rate_limit`]).
//! - `max_connections`: one semaphore across workers; at the cap, each worker
//!   holds at most one accepted connection until a place frees, and the rest
//!   wait in the kernel's accept backlog. Nothing is refused or dropped.
//! - Shutdown ([`RunningServer::shutdown`], wired to `SIGINT` and `SIGTERM`
//!   by the CLI): listeners close, idle connections close, requests in flight
//!   finish; connections still open after `shutdown_timeout` are dropped.

mod access_log;
mod conditional;
mod connection;
pub mod handler;
mod health;
mod linger;
mod listen;
mod memory;
mod negotiate;
mod range;
mod rate_limit;
mod reload;
mod send_timeout;
mod served;
mod state;
#[cfg(test)]
mod tests_support;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::build::{build_dir_cached, BuildCache};
use crate::diagnostic::Diagnostics;
use served::ServedSet;
use state::State;

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The site directory, holding `config.toml` and `content/`.
    pub root: PathBuf,
    /// The address to listen on, instead of `[server] bind`; port 0 takes a free port.
    pub bind: Option<SocketAddr>,
    /// Rebuild when files change (a reload can always be asked for with [`RunningServer::reload`]).
    pub watch: bool,
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The site has errors; nothing was served.
    #[error("{0}")]
    Content(Diagnostics),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// A thread or runtime could not be started.
    #[error("cannot start the server: {0}")]
    Io(#[from] io::Error),
}

/// A server that is up: its address, and the handles to reload and stop it.
///
/// Dropping it stops the server without waiting; [`RunningServer::join`] waits.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    reloader: Option<reload::Reloader>,
}

impl RunningServer {
    /// The address actually bound (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state: the served set and the reload status.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Rebuilds the site and swaps in its new served set, as `SIGHUP` does.
    pub fn reload(&self) {
        if let Some(reloader) = &self.reloader {
            reloader.reload();
        }
    }

    /// Stops accepting connections and lets requests in flight finish; returns at once.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits until the server has stopped: every worker has drained its
    /// connections (or given up after `shutdown_timeout`) and the reload
    /// thread has ended. Call [`RunningServer::shutdown`] first, or this waits forever.
    pub fn join(mut self) {
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                warn!("a server thread panicked");
            }
        }
        if let Some(reloader) = self.reloader.take() {
            reloader.stop();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// Builds the site in `options.root`, binds, and serves it until shut down.
///
/// Returns once every listener is bound, so a client may connect as soon as
/// this returns. The site is built before binding: a site with errors is
/// never served, and its errors come back as [`StartError::Content`].
pub fn start(options: ServeOptions) -> Result<RunningServer, StartError> {
    let started = Instant::now();
    // Watch before building, so that a change made during the build is seen.
    let watching = reload::prepare(options.root.clone(), options.watch);
    // The parse cache goes to the reload thread, so a reload parses only what changed.
    let mut parse_cache = BuildCache::default();
    let built = build_dir_cached(&options.root, Utc::now(), &mut parse_cache)
        .map_err(StartError::Content)?;
    let config = built.server.clone();
    let served = ServedSet::new(&built, None);
    info!(
        "built {} articles, {} feeds, {} resources ({} bytes with compressed variants) in {} ms",
        served.articles,
        served.feeds,
        served.len(),
        served.total_bytes(),
        started.elapsed().as_millis()
    );
    let state = Arc::new(State::new(served));
    memory::release_freed();

    let bind = options.bind.unwrap_or(config.bind);
    let workers = worker::count(config.workers);
    let listeners = listen::bind_all(bind, workers)
        .map_err(|source| StartError::Bind { addr: bind, source })?;
    let addr = listeners[0].local_addr()?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let threads = worker::spawn_all(listeners, &state, &config, &shutdown_rx)?;
    let debounce = Duration::from_millis(config.reload_debounce_ms);
    let reloader = watching.spawn(state.clone(), debounce, parse_cache)?;
    Ok(RunningServer {
        addr,
        state,
        shutdown,
        workers: threads,
        reloader: Some(reloader),
    })
}
