//! The hub `serve` runs (WebSub sections 5 to 8): it takes subscription
//! requests, verifies them off the request path, keeps subscriptions in the
//! store, and pushes a topic's new bytes to its subscribers when a build
//! changes them.
//!
//! Shape: one thread of its own, with a one-thread runtime, owns the store
//! and every outbound request. The server reaches it two ways, neither of
//! which can block: a bounded channel of verified-intent requests (full:
//! `503`), and a set of changed topics (bounded by the number of feeds)
//! with a wake-up. Deliveries never slow serving or reloads: they run on
//! the hub's thread, at most `max_concurrent_deliveries` at once and
//! `max_concurrent_per_host` to one host, each bounded by
//! `request_timeout`; the queue is the store's `delivery` table, at most
//! one row per subscription.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, LINK};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::{mpsc, Notify};
use tracing::{info, warn};
use url::Url;

use super::client::{self, Reach, Refused};
use super::intent::{self, Intent, Leases, Mode};
use super::retry;
use super::signature;
use super::store::{Counts, Due, Store, Subscription};
use crate::config::WebSubConfig;

/// The largest subscription request body read.
pub(crate) const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// How long a subscriber has to send its request body.
const REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The most subscription requests waiting for verification.
const VERIFY_QUEUE: usize = 256;

/// The most bytes of a callback's answer read (a challenge is short).
const MAX_ANSWER_BYTES: usize = 4096;

/// How often expired subscriptions are removed.
const EXPIRY_SWEEP: Duration = Duration::from_secs(60);

/// A feed's bytes and fields, as served now.
pub(crate) struct FeedBytes {
    pub(crate) body: Bytes,
    pub(crate) content_type: HeaderValue,
    pub(crate) link: Option<HeaderValue>,
}

/// The served feed at a URL path, or `None` when the path is not a feed.
pub(crate) type Feeds = Arc<dyn Fn(&str) -> Option<FeedBytes> + Send + Sync>;

/// The running hub, shared by the server's threads.
pub(crate) struct Hub {
    path: String,
    shared: Arc<Shared>,
    verify: mpsc::Sender<Intent>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the hub's thread and the server's threads share.
struct Shared {
    config: WebSubConfig,
    /// The site's base URL: a topic is this followed by a feed's path.
    base_url: String,
    feeds: Feeds,
    reach: Reach,
    /// Feed paths whose bytes changed, not yet queued.
    changed: Mutex<BTreeSet<String>>,
    wake: Notify,
    stop: Notify,
    counts: Mutex<Counts>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("path", &self.path).finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain data, whole after every assignment.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// Opens the store under `root` and starts the hub's thread. `bound` is
    /// the server's own address (never a callback's, unless private
    /// callbacks are allowed).
    pub(crate) fn start(
        config: &WebSubConfig,
        root: &Path,
        base_url: &Url,
        bound: IpAddr,
        feeds: Feeds,
    ) -> Result<Hub, String> {
        let store = Store::open(&root.join(&config.data_dir))?;
        let counts = store.counts(now_ms())?;
        let mut own = super::address::own_addresses();
        own.push(bound);
        let shared = Arc::new(Shared {
            config: config.clone(),
            base_url: base_url.to_string(),
            feeds,
            reach: Reach {
                allow_private: config.allow_private_callbacks,
                own,
                timeout: config.request_timeout.duration(),
                tls: client::tls_config()?,
            },
            changed: Mutex::new(BTreeSet::new()),
            wake: Notify::new(),
            stop: Notify::new(),
            counts: Mutex::new(counts),
        });
        let (verify, requests) = mpsc::channel(VERIFY_QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the hub: {e}"))?;
        let in_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("websub-hub".to_string())
            .spawn(move || runtime.block_on(run(store, requests, in_thread)))
            .map_err(|e| format!("cannot start the hub: {e}"))?;
        Ok(Hub {
            path: config.path.clone(),
            shared,
            verify,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The URL path the hub answers at.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Notes that the feeds at these URL paths have new bytes (or are new):
    /// returns at once; their subscribers are queued on the hub's thread.
    pub(crate) fn feeds_changed(&self, paths: impl IntoIterator<Item = String>) {
        let mut changed = lock(&self.shared.changed);
        let before = changed.len();
        changed.extend(paths);
        if changed.len() != before {
            self.shared.wake.notify_one();
        }
    }

    /// What `/healthz` reports of the hub.
    pub(crate) fn health(&self) -> serde_json::Value {
        let counts = lock(&self.shared.counts);
        serde_json::json!({
            "subscriptions": counts.total,
            "topics": counts.per_topic.len(),
            "pending_deliveries": counts.pending,
        })
    }

    /// Active subscriptions per feed, by the feed's URL path
    /// (`/opinion/rss.xml`), as last counted (audience counting reads it).
    pub(crate) fn subscriptions_per_feed(&self) -> Vec<(String, u64)> {
        let counts = lock(&self.shared.counts);
        counts
            .per_topic
            .iter()
            .filter_map(|(topic, n)| {
                let rest = topic.strip_prefix(&self.shared.base_url)?;
                Some((format!("/{rest}"), u64::try_from(*n).unwrap_or(u64::MAX)))
            })
            .collect()
    }

    /// Tells the hub's thread to stop: deliveries under way are dropped and
    /// stay queued in the store, for the next start.
    pub(crate) fn stop(&self) {
        self.shared.stop.notify_one();
    }

    /// Waits for the hub's thread to end (after [`Hub::stop`]).
    pub(crate) fn join(&self) {
        if let Some(thread) = lock(&self.thread).take() {
            if thread.join().is_err() {
                warn!("the WebSub hub's thread panicked");
            }
        }
    }

    /// Answers a subscription request: `202` once it is queued for
    /// verification, or a `4xx` with the reason.
    pub(crate) async fn accept<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if request.method() != Method::POST {
            let mut response = answer(StatusCode::METHOD_NOT_ALLOWED, "the hub takes POST only\n");
            response
                .headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let form = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return answer(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a subscription request is application/x-www-form-urlencoded\n",
            );
        }
        let body = Limited::new(request.into_body(), MAX_REQUEST_BYTES).collect();
        let body = match tokio::time::timeout(REQUEST_BODY_TIMEOUT, body).await {
            Err(_) => {
                return answer(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body came too slowly\n",
                )
            }
            Ok(Err(_)) => {
                return answer(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is over 16 KiB, or was cut short\n",
                )
            }
            Ok(Ok(body)) => body.to_bytes(),
        };
        match self.check(&body).await {
            Ok(intent) => match self.verify.try_send(intent) {
                Ok(()) => answer(
                    StatusCode::ACCEPTED,
                    "accepted: the hub will now verify the request with the callback\n",
                ),
                Err(_) => answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many requests are waiting for verification; try again later\n",
                ),
            },
            Err((status, reason)) => answer(status, &format!("{reason}\n")),
        }
    }

    /// Every check a request can be refused by before it is verified.
    async fn check(&self, body: &[u8]) -> Result<Intent, (StatusCode, String)> {
        let shared = &self.shared;
        let config = &shared.config;
        let leases = Leases {
            default: config.default_lease_seconds,
            min: config.min_lease_seconds,
            max: config.max_lease_seconds,
        };
        let intent = intent::parse(body, leases).map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        if shared.feed_path(&intent.topic).is_none() {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "hub.topic `{}` is not a feed of this site (a topic is a feed's own URL, as in its rel=\"self\" link)",
                    intent.topic.chars().take(200).collect::<String>()
                ),
            ));
        }
        match client::resolve(&intent.callback, &shared.reach).await {
            Ok(_) => {}
            Err(Refused::Unusable(why)) => {
                return Err((StatusCode::BAD_REQUEST, format!("hub.callback: {why}")))
            }
            Err(Refused::Forbidden(why)) => {
                return Err((StatusCode::FORBIDDEN, format!("hub.callback: {why}")))
            }
        }
        if intent.mode == Mode::Subscribe {
            let counts = lock(&shared.counts);
            if let Some(cap) = over_cap(config, &counts, &intent) {
                return Err((StatusCode::FORBIDDEN, cap));
            }
        }
        Ok(intent)
    }
}

impl Shared {
    /// The URL path of the feed `topic` names, when it is one of ours.
    fn feed_path(&self, topic: &str) -> Option<String> {
        let rest = topic.strip_prefix(&self.base_url)?;
        let path = format!("/{rest}");
        (self.feeds)(&path).map(|_| path)
    }
}

/// Which cap a new subscription would break, if any. A renewal (a
/// subscription that exists) is counted already, so is let through by
/// the hub's own check when it is stored.
fn over_cap(config: &WebSubConfig, counts: &Counts, intent: &Intent) -> Option<String> {
    let host = intent.callback.host_str().unwrap_or_default();
    if counts.total >= config.max_subscriptions {
        Some(format!(
            "this hub holds its most subscriptions ({})",
            config.max_subscriptions
        ))
    } else if counts.per_topic.get(&intent.topic).copied().unwrap_or(0)
        >= config.max_subscriptions_per_topic
    {
        Some(format!(
            "this topic has its most subscriptions ({})",
            config.max_subscriptions_per_topic
        ))
    } else if counts.per_host.get(host).copied().unwrap_or(0) >= config.max_subscriptions_per_host {
        Some(format!(
            "callbacks on `{host}` hold their most subscriptions ({})",
            config.max_subscriptions_per_host
        ))
    } else {
        None
    }
}

fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

/// What a task of the hub's thread came to.
enum Finished {
    Verified(Intent, Result<(), String>),
    Delivered(Due, Delivery),
}

/// How a delivery went.
enum Delivery {
    Made,
    /// `410 Gone`: the subscription ends.
    Gone,
    /// Anything else: tried again later.
    Failed(String),
    /// The topic is no longer published.
    NoTopic,
}

/// The hub's thread: the only owner of the store.
async fn run(mut store: Store, mut requests: mpsc::Receiver<Intent>, shared: Arc<Shared>) {
    let config = shared.config.clone();
    let (finished_tx, mut finished) = mpsc::unbounded_channel::<Finished>();
    let mut delivering: HashSet<(String, String)> = HashSet::new();
    let mut per_host: HashMap<String, usize> = HashMap::new();
    let mut verifying = 0usize;
    let max = config.max_concurrent_deliveries.max(1);
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        let now = now_ms();
        // Changed topics: queue their subscribers.
        let changed = std::mem::take(&mut *lock(&shared.changed));
        let give_up_at = now.saturating_add(
            i64::try_from(config.retry_for_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
        );
        for path in changed {
            let topic = format!("{}{}", shared.base_url, path.trim_start_matches('/'));
            match store.topic_changed(&topic, now, give_up_at) {
                Ok(0) => {}
                Ok(n) => info!("{topic} changed: {n} deliveries queued"),
                Err(e) => warn!("{e}"),
            }
        }
        if last_sweep.elapsed() >= EXPIRY_SWEEP {
            last_sweep = tokio::time::Instant::now();
            match store.expire(now) {
                Ok(0) => {}
                Ok(n) => info!("{n} WebSub subscriptions expired"),
                Err(e) => warn!("{e}"),
            }
        }
        // Due deliveries, within the concurrency caps.
        let mut blocked = false;
        if delivering.len() + verifying < max {
            match store.due(now, max.saturating_mul(8)) {
                Ok(due) => {
                    for due in due {
                        if delivering.len() + verifying >= max {
                            blocked = true;
                            break;
                        }
                        let key = (due.topic.clone(), due.callback.clone());
                        let host_busy = per_host.get(&due.host).copied().unwrap_or(0);
                        if delivering.contains(&key) {
                            continue;
                        }
                        if host_busy >= config.max_concurrent_per_host.max(1) {
                            blocked = true;
                            continue;
                        }
                        delivering.insert(key);
                        *per_host.entry(due.host.clone()).or_default() += 1;
                        let shared = shared.clone();
                        let finished = finished_tx.clone();
                        tokio::spawn(async move {
                            let outcome = deliver(&shared, &due).await;
                            let _ = finished.send(Finished::Delivered(due, outcome));
                        });
                    }
                }
                Err(e) => warn!("{e}"),
            }
        } else {
            blocked = true;
        }
        match store.counts(now) {
            Ok(counts) => *lock(&shared.counts) = counts,
            Err(e) => warn!("{e}"),
        }
        // Sleep until the next due delivery (unless it waits for a free
        // place, which a finished task wakes us for), the next sweep, or news.
        let mut wait = EXPIRY_SWEEP.saturating_sub(last_sweep.elapsed());
        if !blocked {
            if let Ok(Some(next)) = store.next_due() {
                let until = u64::try_from(next.saturating_sub(now_ms())).unwrap_or(0);
                wait = wait.min(Duration::from_millis(until.max(1)));
            }
        }
        tokio::select! {
            _ = shared.stop.notified() => break,
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(intent) = requests.recv(), if delivering.len() + verifying < max => {
                verifying += 1;
                let shared = shared.clone();
                let finished = finished_tx.clone();
                tokio::spawn(async move {
                    let result = verify(&shared, &intent).await;
                    let _ = finished.send(Finished::Verified(intent, result));
                });
            }
            Some(done) = finished.recv() => match done {
                Finished::Verified(intent, result) => {
                    verifying = verifying.saturating_sub(1);
                    verified(&mut store, &config, intent, result);
                }
                Finished::Delivered(due, outcome) => {
                    delivering.remove(&(due.topic.clone(), due.callback.clone()));
                    if let Some(busy) = per_host.get_mut(&due.host) {
                        *busy = busy.saturating_sub(1);
                        if *busy == 0 {
                            per_host.remove(&due.host);
                        }
                    }
                    delivered(&mut store, &config, &due, outcome);
                }
            },
        }
    }
}

/// Verification of intent (WebSub 5.3): `GET` on the callback with a
/// fresh challenge; `2xx` with exactly the challenge confirms.
async fn verify(shared: &Shared, intent: &Intent) -> Result<(), String> {
    let mut random = [0u8; 24];
    getrandom::getrandom(&mut random).map_err(|e| format!("no random challenge: {e}"))?;
    let challenge = signature::hex(&random);
    let url = intent::verification_url(intent, &challenge);
    let answer = client::send(
        Method::GET,
        &url,
        Vec::new(),
        Bytes::new(),
        MAX_ANSWER_BYTES,
        &shared.reach,
    )
    .await?;
    if !answer.status.is_success() {
        return Err(format!("the callback answered {}", answer.status));
    }
    if answer.body.as_ref() != challenge.as_bytes() {
        return Err("the callback did not echo the challenge".to_string());
    }
    Ok(())
}

/// Stores what a verification confirmed; a failed one changes nothing.
fn verified(store: &mut Store, config: &WebSubConfig, intent: Intent, result: Result<(), String>) {
    let callback = intent.callback.as_str();
    let what = format!("{} of {callback} to {}", intent.mode.as_str(), intent.topic);
    if let Err(why) = result {
        info!("WebSub {what} not verified: {why}; nothing changed");
        return;
    }
    let outcome = match intent.mode {
        Mode::Unsubscribe => store.unsubscribe(&intent.topic, callback),
        Mode::Subscribe => {
            let now = now_ms();
            let renewal = store.exists(&intent.topic, callback).unwrap_or(false);
            let cap = match store.counts(now) {
                Ok(counts) if !renewal => over_cap(config, &counts, &intent),
                Ok(_) => None,
                Err(e) => Some(e),
            };
            if let Some(cap) = cap {
                info!("WebSub {what} verified but refused: {cap}");
                return;
            }
            let lease_ms =
                i64::try_from(intent.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
            store.subscribe(&Subscription {
                topic: &intent.topic,
                callback,
                host: intent.callback.host_str().unwrap_or_default(),
                secret: intent.secret.as_deref(),
                expires_at: now.saturating_add(lease_ms),
            })
        }
    };
    match outcome {
        Ok(()) => info!(
            "WebSub {what} verified{}",
            match intent.mode {
                Mode::Subscribe => format!(" (lease {} s)", intent.lease_seconds),
                Mode::Unsubscribe => String::new(),
            }
        ),
        Err(e) => warn!("WebSub {what}: {e}"),
    }
}

/// Pushes the topic's current bytes to one subscriber (WebSub 7).
async fn deliver(shared: &Shared, due: &Due) -> Delivery {
    let Some(path) = due
        .topic
        .strip_prefix(&shared.base_url)
        .map(|rest| format!("/{rest}"))
    else {
        return Delivery::NoTopic;
    };
    let Some(feed) = (shared.feeds)(&path) else {
        return Delivery::NoTopic;
    };
    let Ok(url) = Url::parse(&due.callback) else {
        return Delivery::Failed("the callback is not a URL".to_string());
    };
    let mut headers: Vec<(HeaderName, HeaderValue)> = vec![(CONTENT_TYPE, feed.content_type)];
    if let Some(link) = feed.link {
        headers.push((LINK, link));
    }
    if let Some(secret) = &due.secret {
        if let Ok(value) = HeaderValue::from_str(&signature::sign(secret, &feed.body)) {
            headers.push((HeaderName::from_static("x-hub-signature"), value));
        }
    }
    match client::send(
        Method::POST,
        &url,
        headers,
        feed.body,
        MAX_ANSWER_BYTES,
        &shared.reach,
    )
    .await
    {
        Ok(answer) if answer.status.is_success() => Delivery::Made,
        Ok(answer) if answer.status == StatusCode::GONE => Delivery::Gone,
        Ok(answer) => Delivery::Failed(format!("the callback answered {}", answer.status)),
        Err(e) => Delivery::Failed(e),
    }
}

/// Records how a delivery went: made or dropped, removed; `410`, the
/// subscription ends; otherwise tried again later, or dropped past its deadline.
fn delivered(store: &mut Store, config: &WebSubConfig, due: &Due, outcome: Delivery) {
    let result = match outcome {
        Delivery::Made | Delivery::NoTopic => store.done(due),
        Delivery::Gone => {
            info!(
                "WebSub: {} answered 410 Gone; its subscription to {} ends",
                due.callback, due.topic
            );
            store.unsubscribe(&due.topic, &due.callback)
        }
        Delivery::Failed(why) => {
            let failures = due.failures.saturating_add(1);
            let wait = retry::wait(failures, config.first_retry_ms, retry::jitter());
            let next_at =
                now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            if next_at > due.give_up_at {
                warn!(
                    "WebSub: delivery of {} to {} dropped after {failures} tries: {why}",
                    due.topic, due.callback
                );
                store.done(due)
            } else {
                info!(
                    "WebSub: delivery of {} to {} failed ({why}); try {} in {} ms",
                    due.topic,
                    due.callback,
                    failures + 1,
                    wait.as_millis()
                );
                store.retry_at(due, next_at)
            }
        }
    };
    if let Err(e) = result {
        warn!("{e}");
    }
}
