//! Admission: which accepted connections get a place among the
//! `max_connections` served at once, shared by every worker.
//!
//! - A client (an IPv4 address, or an IPv6 /64, as for the rate limit) may
//!   hold at most `max_connections_per_client` places; a connection beyond
//!   that is closed at once, unanswered (nginx's `limit_conn` answers `503`;
//!   a client with that many connections open is not waiting for a status).
//! - At the cap, a place is made by closing the oldest connection that is
//!   waiting for its client: one that has not sent a byte, or one idle
//!   between requests (everything it asked for has been handed over). nginx
//!   reclaims idle keep-alive connections the same way; this also reclaims
//!   connections that never spoke, so that silent connections cannot keep
//!   real clients waiting in the backlog. A connection serving a request is
//!   never closed for a newcomer: when every place is busy, the newcomer
//!   waits for one to free, as before.
//! - A trusted proxy (`[server] trusted_proxies`) carries many clients on
//!   its connections, so its own connections are exempt from that cap.
//! - Under pressure (three quarters of the places taken), a new connection
//!   gets [`PRESSED_FIRST_BYTE`] rather than `header_read_timeout` to send
//!   its first byte (`connection.rs` asks [`Admission::pressed`]).
//!
//! What a connection does once admitted is never decided here.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::activity::Activity;
use super::rate_limit::Client;
use crate::config::TrustedProxies;

/// The time a new connection has to send its first byte while the server
/// is under pressure.
pub(crate) const PRESSED_FIRST_BYTE: Duration = Duration::from_secs(1);

/// The places under `max_connections`, and who holds them.
#[derive(Debug)]
pub(crate) struct Admission {
    max_connections: usize,
    max_per_client: usize,
    /// Peers exempt from `max_per_client`.
    trusted_proxies: TrustedProxies,
    open: Mutex<Open>,
    /// Woken whenever a place frees.
    freed: Notify,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    /// By id, so in the order they were admitted: oldest first.
    places: BTreeMap<u64, Holder>,
    per_client: HashMap<Client, usize>,
}

#[derive(Debug)]
struct Holder {
    client: Client,
    activity: Arc<Activity>,
    close: Arc<Notify>,
}

/// A place under `max_connections`, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    admission: Arc<Admission>,
    id: u64,
    /// Notified when the connection must close to make room for another.
    pub(crate) close: Arc<Notify>,
}

impl Drop for Place {
    fn drop(&mut self) {
        // Already gone if it was closed to make room.
        let removed = self.admission.lock().remove(self.id).is_some();
        if removed {
            self.admission.freed.notify_waiters();
        }
    }
}

impl Place {
    /// True when three quarters of all places are taken.
    pub(crate) fn pressed(&self) -> bool {
        self.admission.pressed()
    }
}

impl Admission {
    pub(crate) fn new(
        max_connections: usize,
        max_per_client: usize,
        trusted_proxies: TrustedProxies,
    ) -> Admission {
        Admission {
            max_connections: max_connections.max(1),
            max_per_client: max_per_client.max(1),
            trusted_proxies,
            open: Mutex::new(Open::default()),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pressed(&self) -> bool {
        self.lock().places.len() * 4 >= self.max_connections * 3
    }

    /// A place for the connection from `peer`, whose activity is `activity`:
    /// at once, by closing a connection that waits for its client, or when
    /// one frees. `None` if the client holds too many places already, or if
    /// shutdown begins first.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        peer: IpAddr,
        activity: &Arc<Activity>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Place> {
        let client = Client::from(peer);
        let exempt = self.trusted_proxies.contains(peer);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut open = self.lock();
                if !exempt
                    && open.per_client.get(&client).copied().unwrap_or(0) >= self.max_per_client
                {
                    return None;
                }
                // The place of a connection told to close is taken over at
                // once: it only has to close (silent: at once; idle: after
                // its lingering close), and the newcomer does not wait for it.
                if open.places.len() >= self.max_connections {
                    close_oldest_waiting(&mut open);
                }
                if open.places.len() < self.max_connections {
                    return Some(self.insert(&mut open, client, activity));
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => return None,
                _ = &mut freed => {}
            }
        }
    }

    fn insert(
        self: &Arc<Self>,
        open: &mut Open,
        client: Client,
        activity: &Arc<Activity>,
    ) -> Place {
        let id = open.next_id;
        open.next_id += 1;
        let close = Arc::new(Notify::new());
        open.places.insert(
            id,
            Holder {
                client,
                activity: activity.clone(),
                close: close.clone(),
            },
        );
        *open.per_client.entry(client).or_insert(0) += 1;
        Place {
            admission: self.clone(),
            id,
            close,
        }
    }
}

/// Tells the oldest connection that waits for its client to close, and
/// gives its place back.
fn close_oldest_waiting(open: &mut Open) {
    let Some(id) = open
        .places
        .iter()
        .find(|(_, h)| h.activity.waiting_for_client())
        .map(|(id, _)| *id)
    else {
        return;
    };
    if let Some(holder) = open.remove(id) {
        // A stored permit if the connection is not listening yet: it sees it at once.
        holder.close.notify_one();
    }
}

impl Open {
    fn remove(&mut self, id: u64) -> Option<Holder> {
        let holder = self.places.remove(&id)?;
        if let Some(count) = self.per_client.get_mut(&holder.client) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&holder.client);
            }
        }
        Some(holder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[tokio::test]
    async fn a_client_over_its_share_is_refused() {
        let admission = Arc::new(Admission::new(10, 2, TrustedProxies::default()));
        let (_tx, mut shutdown) = watch::channel(false);
        let activity = Arc::new(Activity::new());
        let a = admission.admit(ip(2), &activity, &mut shutdown).await;
        let b = admission.admit(ip(2), &activity, &mut shutdown).await;
        assert!(a.is_some() && b.is_some());
        assert!(admission
            .admit(ip(2), &activity, &mut shutdown)
            .await
            .is_none());
        assert!(admission
            .admit(ip(3), &activity, &mut shutdown)
            .await
            .is_some());
        drop(a);
        assert!(admission
            .admit(ip(2), &activity, &mut shutdown)
            .await
            .is_some());
    }

    #[tokio::test]
    async fn at_the_cap_the_oldest_silent_connection_is_told_to_close() {
        let admission = Arc::new(Admission::new(2, 10, TrustedProxies::default()));
        let (_tx, mut shutdown) = watch::channel(false);
        let oldest = admission
            .admit(ip(2), &Arc::new(Activity::new()), &mut shutdown)
            .await
            .unwrap();
        let newer = admission
            .admit(ip(3), &Arc::new(Activity::new()), &mut shutdown)
            .await
            .unwrap();
        let admitting = {
            let admission = admission.clone();
            tokio::spawn(async move {
                let (_tx, mut shutdown) = watch::channel(false);
                admission
                    .admit(ip(4), &Arc::new(Activity::new()), &mut shutdown)
                    .await
            })
        };
        // The oldest is told to close, and its place goes to the newcomer at once.
        tokio::time::timeout(Duration::from_secs(10), oldest.close.notified())
            .await
            .expect("the oldest was told to close");
        let newcomer = admitting.await.unwrap();
        assert!(newcomer.is_some());
        assert_eq!(admission.lock().places.len(), 2);
        drop(oldest);
        assert_eq!(admission.lock().places.len(), 2);
        drop((newer, newcomer));
        assert_eq!(admission.lock().places.len(), 0);
    }

    #[tokio::test]
    async fn pressure_is_three_quarters_of_the_places() {
        let admission = Arc::new(Admission::new(4, 10, TrustedProxies::default()));
        let (_tx, mut shutdown) = watch::channel(false);
        let activity = Arc::new(Activity::new());
        let mut places = Vec::new();
        for _ in 0..2 {
            places.push(
                admission
                    .admit(ip(2), &activity, &mut shutdown)
                    .await
                    .unwrap(),
            );
        }
        assert!(!places[0].pressed());
        places.push(
            admission
                .admit(ip(2), &activity, &mut shutdown)
                .await
                .unwrap(),
        );
        assert!(places[0].pressed());
    }
}
