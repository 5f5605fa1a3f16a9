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
//!   `tls_stream.rs`: TLS under it, the handshake made by its first reads;
//!   `redirect.rs`: what the plain-HTTP listener of an HTTPS server answers.
//!   The certificates themselves are `crate::tls`'s.
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
//!   rule each. `counting.rs`: which requests audience counting sees;
//!   `stats_route.rs`: the private `/stats` page and who may see it. `activity.rs`: what a connection did and when (its timers
//!   and admission read it).
//!
//! Invariants: a request never touches the file system, never renders and
//! never compresses: it looks bytes up (`ServedSet`, `served.rs`). The two
//! routes that are not lookups hand their work to a thread of its own and
//! wait for the answer: the WebSub hub's (`hub_route.rs`) and the private
//! audience page (`stats_route.rs`, made by the counting thread). A request sees
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
mod counting;
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
mod redirect;
mod reload;
mod request_line;
mod security;
mod send_timeout;
mod served;
mod site_url;
mod state;
mod stats_route;
#[cfg(test)]
mod tests_support;
mod tls_stream;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::build::{build_dir_cached, BuildCache};
use crate::config::{BaseUrl, CertificateSource};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::tls::{self, Certificates};
use connection::Role;
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
    /// `[server.tls]` names certificate files that cannot be used.
    #[error("{0}")]
    Certificate(Diagnostic),
    /// TLS could not be set up (the ACME state directory, the TLS library).
    #[error("cannot start TLS: {0}")]
    Tls(String),
    /// Audience counting cannot start (its database, or a bad
    /// `BROADSHEET_STATS_TOKEN`).
    #[error("cannot start audience counting: {0}")]
    Audience(String),
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
    /// The plain-HTTP listener redirecting to HTTPS, when there is one.
    redirect_addr: Option<SocketAddr>,
    /// Where the certificates come from, when serving HTTPS.
    tls: Option<TlsRunning>,
    base_url: BaseUrl,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    reloader: Option<reload::Reloader>,
    hub: Option<Arc<crate::websub::Hub>>,
    /// Audience counting, when `[stats] enabled`.
    audience: Option<Arc<crate::audience::Audience>>,
    /// The access log's writer thread, when the log is on.
    access_log: Option<access_log::Writer>,
}

impl RunningServer {
    /// The address actually bound (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// True when the site is served over HTTPS (`[server.tls]`).
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }

    /// The address of the plain-HTTP listener that redirects to HTTPS
    /// (`[server.tls] redirect_http`), if there is one.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect_addr
    }

    /// The base URL every link in the served feeds and pages is under.
    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
    }

    /// The shared state: the served set and the reload status.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Rebuilds the site and swaps in its new served set, and reads the
    /// certificate files again, as `SIGHUP` does.
    pub fn reload(&self) {
        if let Some(reloader) = &self.reloader {
            reloader.reload();
        }
        if let Some(TlsRunning::Files { files, .. }) = &self.tls {
            files.reload();
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
        if let Some(TlsRunning::Acme(acme)) = self.tls.take() {
            acme.stop();
        }
        // The workers have ended: every request is counted; written now.
        if let Some(audience) = self.audience.take() {
            audience.stop();
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
    let tls_config = config.server.tls.clone();
    let certificates = Arc::new(Certificates::default());
    // Certificate files are read before anything is bound: a bad one stops
    // the start with its path.
    let certificate_source = match tls_config.as_ref().map(|tls| &tls.source) {
        Some(source) => Some(prepare_certificates(
            source,
            &options.root,
            &websub.data_dir,
            &certificates,
        )?),
        None => None,
    };
    let stats = config.stats.clone();
    let title = config.title.to_string();
    let bind = options.bind.unwrap_or(config.server.bind);
    let workers = worker::count(config.server.workers);
    let listeners = listen::bind_all(bind, workers)
        .map_err(|source| StartError::Bind { addr: bind, source })?;
    let addr = listeners[0].local_addr()?;
    let redirect_listeners = match tls_config.as_ref().and_then(|tls| tls.redirect_http) {
        Some(redirect) => {
            listen::bind_all(redirect, workers).map_err(|source| StartError::Bind {
                addr: redirect,
                source,
            })?
        }
        None => Vec::new(),
    };
    let redirect_addr = match redirect_listeners.first() {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    let site_url = site_url::decide(&config.base_url, options.base_url.as_ref(), addr, scheme);
    if let Some(note) = site_url::mismatch_note(&site_url, addr, scheme) {
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
    let audience = if stats.enabled {
        let audience = start_audience(
            &stats,
            &options.root.join(&websub.data_dir),
            worker::count(config.workers),
            hub.clone(),
            crate::audience::PageContext {
                title,
                site_path: site_url.base_url().url().path().to_string(),
                base_url: site_url.base_url().url().to_string(),
            },
        )?;
        state.set_stats(audience.1);
        Some(audience.0)
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
    let site_role = match &tls_config {
        Some(tls_config) => {
            let acme_tls_alpn = matches!(
                &tls_config.source,
                CertificateSource::Acme(acme) if acme.challenge == crate::config::AcmeChallenge::TlsAlpn01
            );
            let server_config =
                tls::server_config(certificates.clone(), acme_tls_alpn).map_err(StartError::Tls)?;
            Role::Site(Some(tokio_rustls::TlsAcceptor::from(server_config)))
        }
        None => Role::Site(None),
    };
    let redirect_role = Role::Redirect(Arc::new(redirect::Redirect::new(
        site_url.base_url(),
        certificates.clone(),
    )));
    let mut redirect_listeners = redirect_listeners.into_iter();
    let per_worker = listeners
        .into_iter()
        .map(|listener| {
            let mut own = vec![(listener, site_role.clone())];
            if let Some(redirect) = redirect_listeners.next() {
                own.push((redirect, redirect_role.clone()));
            }
            own
        })
        .collect();
    let threads = worker::spawn_all(per_worker, &state, &config, &shutdown_rx)?;
    // The certificates' own threads start once the workers listen: an ACME
    // CA's validation connects to them.
    let tls = match certificate_source {
        None => None,
        Some(Prepared::Files(files)) => {
            let watch = files.watch()?;
            Some(TlsRunning::Files {
                files,
                _watch: watch,
            })
        }
        Some(Prepared::Acme(acme)) => {
            Some(TlsRunning::Acme(acme.start().map_err(StartError::Tls)?))
        }
    };
    let timing = reload::Timing::from_ms(config.reload_debounce_ms, config.reload_max_delay_ms);
    let reloader = watching.spawn(state.clone(), timing, parse_cache)?;
    Ok(RunningServer {
        addr,
        redirect_addr,
        tls,
        base_url: site_url.base_url().clone(),
        state,
        shutdown,
        workers: threads,
        reloader: Some(reloader),
        hub,
        audience,
        access_log,
    })
}

/// The certificate source of `[server.tls]`, checked and loaded before
/// anything is bound.
enum Prepared {
    Files(Arc<tls::files::CertificateFiles>),
    Acme(tls::acme::Prepared),
}

/// Reads the certificate files, or opens ACME's store and serves the
/// certificate it kept; paths are relative to the site directory `root`.
fn prepare_certificates(
    source: &CertificateSource,
    root: &Path,
    data_dir: &Path,
    certificates: &Arc<Certificates>,
) -> Result<Prepared, StartError> {
    let shown_root = crate::loader::display_root(root);
    match source {
        CertificateSource::Files { cert, key } => {
            let files = tls::files::CertificateFiles::load(
                shown_root.join(cert),
                shown_root.join(key),
                certificates.clone(),
            )
            .map_err(StartError::Certificate)?;
            Ok(Prepared::Files(Arc::new(files)))
        }
        CertificateSource::Acme(acme) => {
            let mut acme = acme.clone();
            acme.directory_ca = acme.directory_ca.map(|ca| shown_root.join(ca));
            let prepared = tls::acme::prepare(acme, &root.join(data_dir), certificates.clone())
                .map_err(StartError::Tls)?;
            Ok(Prepared::Acme(prepared))
        }
    }
}

/// Where a running HTTPS server's certificates come from.
#[derive(Debug)]
enum TlsRunning {
    /// PEM files, looked at every second and read again on `SIGHUP`.
    Files {
        files: Arc<tls::files::CertificateFiles>,
        _watch: tls::files::Watch,
    },
    /// ACME, renewing in a thread of its own.
    Acme(tls::acme::Running),
}

/// Starts audience counting, with its database in `data_dir`, one shard
/// per worker, WebSub subscriptions from `hub`, and its page's route.
fn start_audience(
    stats: &crate::config::StatsConfig,
    data_dir: &std::path::Path,
    shards: usize,
    hub: Option<Arc<crate::websub::Hub>>,
    page: crate::audience::PageContext,
) -> Result<(Arc<crate::audience::Audience>, stats_route::StatsRoute), StartError> {
    // The environment's token, so that it need not be written in a file.
    let token = match std::env::var("BROADSHEET_STATS_TOKEN") {
        Ok(token) if !token.is_empty() => {
            crate::config::check_stats_token(&token)
                .map_err(|e| StartError::Audience(format!("BROADSHEET_STATS_TOKEN: {e}")))?;
            Some(token)
        }
        _ => stats.token.clone(),
    };
    let websub: Option<crate::audience::WebSubCounts> = hub
        .map(|hub| Arc::new(move || hub.subscriptions_per_feed()) as crate::audience::WebSubCounts);
    let audience = crate::audience::Audience::start(crate::audience::Settings {
        data_dir: data_dir.to_path_buf(),
        shards,
        retention_days: stats.retention_days.get(),
        websub,
        page,
    })
    .map_err(StartError::Audience)?;
    let audience = Arc::new(audience);
    let route =
        stats_route::StatsRoute::new(audience.clone(), &stats.path, token, stats.trust_loopback);
    Ok((audience, route))
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
