//! The per-client rate limit (`[server] rate_limit`, `rate_burst`): a token
//! bucket for each client, answering `429 Too Many Requests` with
//! `Retry-After` (RFC 6585, section 4) when a client polls faster than allowed.
//!
//! The rules:
//! - A client is an IPv4 address, or an IPv6 /64 network (one host usually
//!   holds a whole /64, so counting single IPv6 addresses would let it
//!   rotate past the limit).
//! - Each client's bucket holds up to `rate_burst` tokens and refills at
//!   `rate_limit` tokens per second. A request is admitted while the bucket
//!   holds at least [`NOT_MODIFIED_COST`]; once answered, a `304 Not Modified`
//!   takes [`NOT_MODIFIED_COST`] (a quarter of a token) and any other
//!   response takes a whole one, which may leave the bucket owing up to
//!   three quarters. So a poller that sends its validators back can make four
//!   times as many requests as one that downloads every feed in full: a 304
//!   costs the server a lookup and a few header bytes.
//! - A refused request takes nothing (the `429` is cheaper still than a
//!   `304`) and is told, in whole seconds and at least 1, when the bucket
//!   will hold enough again.
//! - The table of clients is bounded: a bucket that has refilled to full is
//!   the same as no bucket, so such entries are swept out of a shard when
//!   the time for an empty bucket to refill has passed since its last sweep,
//!   or (at most once a second) when it is full. With every shard full of clients that are all still
//!   active (more than [`MAX_CLIENTS`] of them), a new client is admitted
//!   without a bucket until a sweep frees a place, and a warning is logged:
//!   failing open keeps the feeds up for everyone, the point of the limit.
//! - The table is split into [`SHARDS`] independently locked shards, keyed by
//!   client, so workers rarely wait for each other. Nothing is allocated on a
//!   request once a client has its bucket.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

/// What a `304 Not Modified` takes from a bucket; any other response takes 1.
pub(crate) const NOT_MODIFIED_COST: f64 = 0.25;

/// The most clients with a bucket at once, over all shards.
pub(crate) const MAX_CLIENTS: usize = 65_536;

/// How many independently locked parts the table of clients has.
pub(crate) const SHARDS: usize = 16;

/// The least time between two sweeps of a full shard.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The rate limiter shared by every worker.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Tokens per second.
    rate: f64,
    /// Bucket size in tokens.
    burst: f64,
    /// The time an empty bucket takes to refill (and so to be worth nothing).
    refill: Duration,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

#[derive(Debug)]
struct Shard {
    buckets: HashMap<Client, Bucket>,
    last_sweep: Instant,
    /// The most buckets this shard keeps.
    capacity: usize,
}

/// A client as counted: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Client {
    fn from(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V4(v4) => Client::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::V4(v4.into()),
                None => Client::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

/// Whether a request may be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Answer it, then [`RateLimiter::charge`] for the response.
    Admit,
    /// Answer `429` with `Retry-After` of this many seconds.
    Refuse { retry_after_secs: u64 },
}

impl RateLimiter {
    /// A limiter of `rate` requests per second with bursts of `burst`, or
    /// `None` when `rate` is 0 (no limit).
    pub(crate) fn new(rate: f64, burst: u32) -> Option<RateLimiter> {
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        let burst = f64::from(burst.max(1));
        let now = Instant::now();
        Some(RateLimiter {
            rate,
            burst,
            refill: Duration::try_from_secs_f64(burst / rate).unwrap_or(Duration::MAX),
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        buckets: HashMap::new(),
                        last_sweep: now,
                        capacity: MAX_CLIENTS / SHARDS,
                    })
                })
                .collect(),
        })
    }

    /// Whether `client` may be answered at `now`.
    pub(crate) fn admit(&self, client: Client, now: Instant) -> Admission {
        let mut shard = self.shard(client);
        let tokens = match shard.buckets.get_mut(&client) {
            Some(bucket) => self.refilled(bucket, now),
            None => return Admission::Admit,
        };
        if tokens >= NOT_MODIFIED_COST {
            Admission::Admit
        } else {
            let wait = (NOT_MODIFIED_COST - tokens) / self.rate;
            Admission::Refuse {
                retry_after_secs: (wait.ceil() as u64).max(1),
            }
        }
    }

    /// Takes the cost of a response (`not_modified`: a `304`) from `client`'s bucket.
    pub(crate) fn charge(&self, client: Client, not_modified: bool, now: Instant) {
        let cost = if not_modified { NOT_MODIFIED_COST } else { 1.0 };
        let mut shard = self.shard(client);
        if let Some(bucket) = shard.buckets.get_mut(&client) {
            self.refilled(bucket, now);
            bucket.tokens -= cost;
            return;
        }
        let since_sweep = now.saturating_duration_since(shard.last_sweep);
        let full = shard.buckets.len() >= shard.capacity;
        // A full shard sweeps at most once a second, so that clients beyond
        // the bound cost a lookup each, not a sweep each.
        if since_sweep >= self.refill || (full && since_sweep >= SWEEP_INTERVAL) {
            self.sweep(&mut shard, now);
        }
        if shard.buckets.len() >= shard.capacity {
            // Every tracked client is active; this one goes uncounted for now.
            return;
        }
        shard.buckets.insert(
            client,
            Bucket {
                tokens: self.burst - cost,
                at: now,
            },
        );
    }

    /// How many clients have a bucket.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).buckets.len())
            .sum()
    }

    fn shard(&self, client: Client) -> std::sync::MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(client) as usize) % self.shards.len();
        // A bucket is whole after every assignment; a panic cannot leave it half-written.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings `bucket` up to `now` and returns its tokens.
    fn refilled(&self, bucket: &mut Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        bucket.tokens
    }

    /// Drops the buckets that have refilled to full by `now`.
    fn sweep(&self, shard: &mut Shard, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        shard.buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            bucket.tokens + elapsed * rate < burst
        });
        shard.last_sweep = now;
        if shard.buckets.len() >= shard.capacity {
            warn!(
                "rate limit: more than {MAX_CLIENTS} clients active at once; new clients go uncounted until some are idle"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn client(last: u8) -> Client {
        Client::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    /// Requests answered in full (`not_modified` false) or with 304s, all at
    /// `now`, until the first refusal; returns how many were admitted.
    fn admitted_until_refused(
        limiter: &RateLimiter,
        who: Client,
        not_modified: bool,
        now: Instant,
    ) -> (usize, u64) {
        for n in 0..10_000 {
            match limiter.admit(who, now) {
                Admission::Admit => limiter.charge(who, not_modified, now),
                Admission::Refuse { retry_after_secs } => return (n, retry_after_secs),
            }
        }
        panic!("never refused");
    }

    #[test]
    fn zero_rate_is_no_limiter() {
        assert!(RateLimiter::new(0.0, 10).is_none());
        assert!(RateLimiter::new(f64::NAN, 10).is_none());
    }

    #[test]
    fn a_burst_of_full_responses_then_429_with_retry_after() {
        let limiter = RateLimiter::new(2.0, 5).unwrap();
        let now = Instant::now();
        let (admitted, retry) = admitted_until_refused(&limiter, client(1), false, now);
        assert_eq!(admitted, 5);
        // Empty bucket: a quarter token at 2 per second is 0.125 s, rounded up.
        assert_eq!(retry, 1);
        // Other clients are not affected.
        assert_eq!(limiter.admit(client(2), now), Admission::Admit);
        // After the wait, the client is admitted again.
        assert_eq!(
            limiter.admit(client(1), now + Duration::from_secs(1)),
            Admission::Admit
        );
    }

    #[test]
    fn not_modified_costs_a_quarter() {
        let limiter = RateLimiter::new(1.0, 5).unwrap();
        let now = Instant::now();
        let (full, _) = admitted_until_refused(&limiter, client(1), false, now);
        let (cheap, _) = admitted_until_refused(&limiter, client(2), true, now);
        assert_eq!(full, 5);
        assert_eq!(cheap, 20);
    }

    #[test]
    fn retry_after_covers_the_debt() {
        // At 0.1 per second, a bucket of 1 emptied by one full response
        // needs 2.5 s to hold a quarter token again.
        let limiter = RateLimiter::new(0.1, 1).unwrap();
        let now = Instant::now();
        assert_eq!(limiter.admit(client(1), now), Admission::Admit);
        limiter.charge(client(1), false, now);
        assert_eq!(
            limiter.admit(client(1), now),
            Admission::Refuse {
                retry_after_secs: 3
            }
        );
        assert_eq!(
            limiter.admit(client(1), now + Duration::from_millis(2_400)),
            Admission::Refuse {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            limiter.admit(client(1), now + Duration::from_millis(2_500)),
            Admission::Admit
        );
    }

    #[test]
    fn the_bucket_never_holds_more_than_the_burst() {
        let limiter = RateLimiter::new(10.0, 3).unwrap();
        let now = Instant::now();
        limiter.charge(client(1), false, now);
        let later = now + Duration::from_secs(3600);
        let (admitted, _) = admitted_until_refused(&limiter, client(1), false, later);
        assert_eq!(admitted, 3);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1);
        let b = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 0xab, 0xcd, 0xef);
        let other = Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1);
        assert_eq!(Client::from(IpAddr::V6(a)), Client::from(IpAddr::V6(b)));
        assert_ne!(Client::from(IpAddr::V6(a)), Client::from(IpAddr::V6(other)));
        let mapped = Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped();
        assert_eq!(Client::from(IpAddr::V6(mapped)), client(1));
    }

    #[test]
    fn the_table_of_clients_stays_bounded() {
        let limiter = RateLimiter::new(1.0, 2).unwrap();
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 * 2) {
            limiter.charge(Client::V4(i), false, now);
        }
        let tracked = limiter.tracked();
        assert!(tracked <= MAX_CLIENTS, "{tracked}");
        assert!(tracked > MAX_CLIENTS / 2, "{tracked}");
        // Once their buckets have refilled, idle clients are swept out as new ones come.
        let later = now + Duration::from_secs(3);
        for i in 0..(SHARDS as u32 * 64) {
            limiter.charge(Client::V4(u32::MAX - i), false, later);
        }
        let tracked = limiter.tracked();
        assert!(tracked <= SHARDS * 64, "{tracked}");
    }
}
