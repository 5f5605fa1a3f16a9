//! `broadsheet serve`: the built set, served over HTTP from memory.
//!
//! This file is the server's public face: [`start`], [`ServeOptions`],
//! [`RunningServer`] and [`StartError`]. Everything else is one concern per
//! file, private to the crate but for [`handler::MAX_URI_BYTES`]:
//! - `listen.rs`: binding, one `SO_REUSEPORT` listener per worker.
//! - `worker.rs`: a worker thread, its runtime and accept loop;
//!   `admission.rs`: `max_connections` and `max_connections_per_client`,
//!   and which connection is closed to make room.
//! - `connection.rs`: one connection: its limits and timeouts, the hyper
//!   builder, and the per-request path (rate limit, handler, access log).
//! - `handler.rs`: request + state -> response, a plain function, with
//!   `negotiate.rs` (`Accept-Encoding`), `conditional.rs` (`If-None-Match`
//!   and friends), `range.rs` (`Range` and `If-Range`, for articles' files),
//!   `health.rs` (`/healthz`) and `cors.rs` (CORS fields, `OPTIONS`).
//! - `served.rs`: the served set, with its headers made ahead. `state.rs`:
//!   what the threads share.
//! - `site_url.rs`: the base URL the site is built with (`--base-url`, or a
//!   loopback `base_url` moved to the bound address), decided once at start.
//! - `reload.rs`: file watching, debounce, rebuild and swap. `memory.rs`:
//!   the memory a build freed, given back after it.
//! - `access_log.rs`, `rate_limit.rs`, `send_timeout.rs`, `linger.rs`: one
//!   rule each. `activity.rs`: what a connection did and when (its timers
//!   and admission read it).
//!
//! Invariants: a request never touches the file system, never renders and
//! never compresses: it looks bytes up (`ServedSet`, `served.rs`). A request sees
//! one whole built set, old or new, never a mix (`State`, `state.rs`).
//!
//! No path from a request is ever read on disk: the decoded path is only a
//! key into the in-memory set, never joined to a directory, so `..`, `%2e%2e`,
//! `//etc/passwd` or a NUL byte can only miss (`404`). Path traversal is
//! impossible by construction, not prevented by a filter; the tests that try
//! it (`tests/server.rs`, `tests/hostile_http.rs`) stay to keep it so.
//!
//! Shutdown ([`RunningServer::shutdown`], wired to `SIGINT` and `SIGTERM` by
//! the CLI): listeners close, idle connections close, requests in flight
//! finish; connections still open after `shutdown_timeout` are dropped;
//! then the access log's queued lines are written ([`RunningServer::join`]).

mod access_log;
mod activity;
mod admission;
mod conditional;
mod connection;
mod cors;
mod forwarded;
pub mod handler;
mod health;
mod host;
mod hub_route;
mod linger;
mod listen;
mod memory;
mod negotiate;
mod range;
mod rate_limit;
mod reload;
mod request_line;
mod security;
mod send_timeout;
mod served;
mod site_url;
mod state;
#[cfg(test)]
mod tests_support;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::build::{build_dir_cached, BuildCache};
use crate::config::BaseUrl;
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
    /// The base URL to publish under instead of config.toml's `base_url`;
    /// `None`: config.toml's, or, when that is a loopback URL, the bound address.
    pub base_url: Option<BaseUrl>,
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
    /// The WebSub hub's state cannot be used (a corrupt or unwritable database).
    #[error("cannot start the WebSub hub: {0}")]
    Hub(String),
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
    base_url: BaseUrl,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    reloader: Option<reload::Reloader>,
    hub: Option<Arc<crate::websub::Hub>>,
    /// The access log's writer thread, when the log is on.
    access_log: Option<access_log::Writer>,
}

impl RunningServer {
    /// The address actually bound (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL every link in the served feeds and pages is under.
    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
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
        if let Some(hub) = self.hub.take() {
            hub.stop();
            hub.join();
        }
        // Last: the workers have ended, so every request's line is queued.
        if let Some(access_log) = self.access_log.take() {
            access_log.stop();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(hub) = &self.hub {
            hub.stop();
        }
    }
}

/// Binds, builds the site in `options.root`, and serves it until shut down.
///
/// Returns once every listener is bound and the site built, so a client may
/// connect as soon as this returns. The address is bound before the build,
/// since links follow it when `base_url` is a loopback URL (`site_url.rs`);
/// nothing is accepted until the build succeeded, and a site with errors is
/// never served: its errors come back as [`StartError::Content`].
pub fn start(options: ServeOptions) -> Result<RunningServer, StartError> {
    let started = Instant::now();
    // Watch before building, so that a change made during the build is seen.
    let watching = reload::prepare(options.root.clone(), options.watch);
    let config = match crate::loader::load_config(&options.root) {
        Ok(config) => config,
        // The build reports this error along with every other one.
        Err(error) => {
            let errors = build_dir_cached(&options.root, Utc::now(), &mut BuildCache::default())
                .err()
                .unwrap_or_else(|| error.into());
            return Err(StartError::Content(errors));
        }
    };
    let websub = config.websub.clone();
    let bind = options.bind.unwrap_or(config.server.bind);
    let listeners = listen::bind_all(bind, worker::count(config.server.workers))
        .map_err(|source| StartError::Bind { addr: bind, source })?;
    let addr = listeners[0].local_addr()?;
    let site_url = site_url::decide(&config.base_url, options.base_url.as_ref(), addr);
    if let Some(note) = site_url::mismatch_note(&site_url, addr) {
        info!("{note}");
    }
    // The parse cache goes to the reload thread, so a reload parses only
    // what changed, and builds under the same base URL.
    let mut parse_cache = match site_url.override_of_config() {
        Some(base_url) => BuildCache::with_base_url(base_url.clone()),
        None => BuildCache::default(),
    };
    // Archive pages and later list pages, the bulk of a large site, read
    // about once per reader: in spill files in the data directory (the
    // page cache), not in the heap.
    parse_cache.spill_to(&options.root.join(&websub.data_dir));
    let built = build_dir_cached(&options.root, Utc::now(), &mut parse_cache)
        .map_err(StartError::Content)?;
    // The settings of this build, which is what is served; config.toml may
    // have changed since it was read for the address.
    let config = built.server;
    let served = ServedSet::new(&built.set, config.max_age, None);
    drop(built.set);
    info!(
        "built {} articles, {} feeds, {} resources ({} bytes with compressed variants, {} bytes of spill files) in {} ms",
        served.articles,
        served.feeds,
        served.len(),
        served.total_bytes(),
        crate::spill::mapped_bytes(),
        started.elapsed().as_millis()
    );
    let state = Arc::new(State::new(served));
    memory::release_freed();
    let hub = if websub.serves_hub() {
        let hub = crate::websub::Hub::start(
            &websub,
            &options.root,
            site_url.base_url().url(),
            addr.ip(),
            served_feeds(&state),
        )
        .map_err(StartError::Hub)?;
        let hub = Arc::new(hub);
        state.set_hub(hub.clone());
        Some(hub)
    } else {
        None
    };
    let access_log = if access_log::enabled() {
        let reporting = state.clone();
        let (queue, writer) = access_log::start(
            Box::new(io::stderr()),
            access_log::CAPACITY,
            access_log::INTERVAL,
            Box::new(move |total| reporting.record_access_log_dropped(total)),
        )?;
        state.set_access_log(queue);
        Some(writer)
    } else {
        None
    };

    let (shutdown, shutdown_rx) = watch::channel(false);
    let threads = worker::spawn_all(listeners, &state, &config, &shutdown_rx)?;
    let timing = reload::Timing::from_ms(config.reload_debounce_ms, config.reload_max_delay_ms);
    let reloader = watching.spawn(state.clone(), timing, parse_cache)?;
    Ok(RunningServer {
        addr,
        base_url: site_url.base_url().clone(),
        state,
        shutdown,
        workers: threads,
        reloader: Some(reloader),
        hub,
        access_log,
    })
}

/// The served feeds, as the WebSub hub reads them: through a weak
/// reference, since the state holds the hub.
fn served_feeds(state: &Arc<State>) -> crate::websub::Feeds {
    let state = Arc::downgrade(state);
    Arc::new(move |path: &str| {
        let state = state.upgrade()?;
        let served = state.served();
        served
            .feed_paths
            .binary_search_by(|feed| feed.as_str().cmp(path))
            .ok()?;
        let entry = served.get(path)?;
        let identity = entry.get(crate::encoding::Coding::Identity)?;
        Some(crate::websub::FeedBytes {
            body: identity.body.clone(),
            content_type: entry.content_type.clone(),
            link: entry.link.clone(),
        })
    })
}
