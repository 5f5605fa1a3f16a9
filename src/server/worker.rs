//! Worker threads: one per core (`[server] workers`), each running its own
//! single-threaded tokio runtime over its own listener (`listen.rs`), so that
//! no request crosses threads. (On this kind of machine that beat one
//! multi-threaded runtime, chiefly on small responses such as `304`, and beat
//! nginx serving the same files; see issue 4.) A worker accepts connections
//! and gives each a task of its own (`connection.rs`).
//!
//! - `max_connections`, `max_connections_per_client`: one count across
//!   workers (`admission.rs`); at the cap, the oldest connection waiting for
//!   its client is closed to make room, and when none is, each worker holds
//!   at most one accepted connection until a place frees, the rest waiting
//!   in the kernel's accept backlog. A client over its share is closed.
//! - A worker of an HTTPS server with `redirect_http` accepts on two
//!   listeners, the site's and the redirecting one, under the same counts.
//! - Errors of `accept` never stop a worker ([`accept_error`]).
//! - Shutdown: the worker stops accepting and closes its listener, then waits
//!   for its connections to close; those still open after `shutdown_timeout`
//!   are dropped with the runtime.
//!
//! What is done with a connection once accepted is never decided here.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::activity::Activity;
use super::admission::{Admission, Place};
use super::connection::{self, Connection, Limits, Role};
use super::rate_limit::RateLimiter;
use super::state::State;
use crate::config::ServerConfig;

/// How many workers `[server] workers` asks for: 0 is one per core.
pub(crate) fn count(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// The listeners one worker accepts on, each with what its connections answer.
pub(crate) type Listeners = Vec<(std::net::TcpListener, Role)>;

/// Starts one worker thread per set of listeners, all serving `state` under
/// the limits of `config` until `shutdown` turns true.
pub(crate) fn spawn_all(
    listeners: Vec<Listeners>,
    state: &Arc<State>,
    config: &ServerConfig,
    shutdown: &watch::Receiver<bool>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let limits = Limits::from(config);
    let admission = Arc::new(Admission::new(
        config.max_connections,
        config.max_connections_per_client.get(),
        config.trusted_proxies.clone(),
    ));
    let limiter = RateLimiter::new(config.rate_limit, config.rate_burst.get()).map(Arc::new);
    let mut threads = Vec::with_capacity(listeners.len());
    for (index, listeners) in listeners.into_iter().enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let worker = Worker {
            state: state.clone(),
            limits: limits.clone(),
            admission: admission.clone(),
            limiter: limiter.clone(),
            shutdown: shutdown.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("broadsheet-worker-{index}"))
            .spawn(move || runtime.block_on(worker.run(listeners)))?;
        threads.push(thread);
    }
    Ok(threads)
}

/// What one worker thread needs.
#[derive(Clone)]
struct Worker {
    state: Arc<State>,
    limits: Limits,
    admission: Arc<Admission>,
    limiter: Option<Arc<RateLimiter>>,
    shutdown: watch::Receiver<bool>,
}

impl Worker {
    /// Accepts connections on `listeners` until shutdown, then waits for
    /// the open ones to close, at most `shutdown_timeout`.
    async fn run(self, listeners: Listeners) {
        let builder = Arc::new(connection::builder(&self.limits));
        // Every connection task (and accept loop) holds a sender; when all
        // are gone, all are closed.
        let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
        let mut loops = Vec::new();
        for (listener, role) in listeners {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(error) => {
                    warn!("cannot use the listening socket: {error}");
                    continue;
                }
            };
            let worker = self.clone();
            let (builder, open_tx) = (builder.clone(), open_tx.clone());
            loops.push(tokio::spawn(async move {
                worker.accept_loop(listener, role, builder, open_tx).await;
            }));
        }
        drop(open_tx);
        for accepting in loops {
            let _ = accepting.await;
        }
        if tokio::time::timeout(self.limits.shutdown_timeout, open_rx.recv())
            .await
            .is_err()
        {
            warn!(
                "connections still open {} s after shutdown began: closing them",
                self.limits.shutdown_timeout.as_secs_f64()
            );
        }
    }

    /// Accepts connections on `listener` until shutdown, each served in a
    /// task of its own as `role` says.
    async fn accept_loop(
        self,
        listener: TcpListener,
        role: Role,
        builder: Arc<hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>>,
        open_tx: mpsc::Sender<()>,
    ) {
        let mut shutdown = self.shutdown.clone();
        loop {
            let Some((stream, peer)) = accept(&listener, &mut shutdown).await else {
                break;
            };
            // Accept first, then wait for a place: a worker only waits for a
            // place when it holds a connection to give it to. (Waiting first
            // could hand the freed place to a worker whose listener has
            // nothing queued, while the other worker's queue waits.)
            let activity = Arc::new(Activity::new());
            let Some(place) = self.place_for(peer, &activity, &mut shutdown).await else {
                if *shutdown.borrow() {
                    break;
                }
                debug!(%peer, "over max_connections_per_client: closed");
                continue;
            };
            let connection = Connection {
                role: role.clone(),
                state: self.state.clone(),
                limits: self.limits.clone(),
                builder: builder.clone(),
                limiter: self.limiter.clone(),
                shutdown: self.shutdown.clone(),
                place: Some(place),
                _open: open_tx.clone(),
            };
            tokio::spawn(connection.serve(stream, peer, activity));
        }
    }

    /// A place under `max_connections` for the connection from `peer`, at
    /// once, by closing one that waits for its client, or when one frees
    /// (`admission.rs`); `None` if its client holds too many, or if
    /// shutdown begins first.
    async fn place_for(
        &self,
        peer: SocketAddr,
        activity: &Arc<Activity>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Place> {
        self.admission.admit(peer.ip(), activity, shutdown).await
    }
}

/// The next connection on `listener`; `None` once shutdown begins.
async fn accept(
    listener: &TcpListener,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => return None,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok(accepted) => return Some(accepted),
            Err(error) => accept_error(error).await,
        }
    }
}

/// Errors of `accept` concern one connection (it was reset before we took
/// it) or the process (out of file descriptors). Neither stops the server;
/// for the second, pausing lets connections close before trying again.
async fn accept_error(error: io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted => {
            debug!("accept: {error}");
        }
        _ => {
            warn!("accept: {error}; pausing 100 ms");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
