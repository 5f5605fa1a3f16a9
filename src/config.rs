//! The site's settings, read from `config.toml`.
//!
//! Every table denies unknown keys, so a typo is an error that names the key
//! and its line rather than a setting silently ignored. Values are checked as
//! they are read (a relative `base_url`, an empty title, a bad language tag),
//! so the rest of the program only ever sees a valid configuration.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::Path;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::diagnostic::Diagnostic;
use crate::format::Format;
use crate::toml_source;

/// The settings in `config.toml`. The README documents every key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The publication's name: the title of the site-wide feeds and the home page.
    pub title: NonEmptyText,
    /// One line about the publication, used as the site-wide feeds' description.
    #[serde(default)]
    pub description: String,
    /// Where the site is published; every link in every output is absolute under it.
    pub base_url: BaseUrl,
    /// The language of the content, as a BCP 47 tag (`en`, `en-GB`, `zh-Hans`).
    #[serde(default = "default_language")]
    pub language: LanguageTag,
    /// The name feeds give as the publication's author, for articles that name none.
    /// Defaults to the title.
    #[serde(default)]
    pub author: Option<NonEmptyText>,
    /// The naming authority in item ids (`tag:AUTHORITY,DATE:SECTION/SLUG`, RFC 4151):
    /// a domain name or an e-mail address the publisher owns. Ids never change
    /// when an article is edited or `base_url` moves, so readers never see duplicates.
    pub tag_authority: TagAuthority,
    /// The most items a feed holds, newest first.
    #[serde(default = "default_limit")]
    pub limit: NonZeroUsize,
    /// Items per archive page of a feed that holds more than `limit` (RFC
    /// 5005 archived feeds, see `crate::archive`).
    #[serde(default = "default_archive_page_size")]
    pub archive_page_size: NonZeroUsize,
    /// The most stories one list page shows (the home page, a section's,
    /// a tag's, an author's); later stories go on `page/2/` and on.
    #[serde(default = "default_page_size", deserialize_with = "page_size")]
    pub page_size: NonZeroUsize,
    /// Which feed formats to publish.
    #[serde(default = "default_formats")]
    pub formats: Formats,
    /// Which resources are compressed ahead of time.
    #[serde(default)]
    pub precompress: Precompress,
    /// Sanitize each article's HTML (raw HTML in the Markdown included) before
    /// it is published, for sites whose authors are not all trusted.
    #[serde(default)]
    pub sanitize_html: bool,
    /// Bounds on what one article can cost.
    #[serde(default)]
    pub limits: Limits,
    /// Settings of `broadsheet serve`.
    #[serde(default)]
    pub server: ServerConfig,
    /// WebSub: the hub feeds name, and the hub `serve` runs (`crate::websub`).
    #[serde(default)]
    pub websub: WebSubConfig,
    /// Audience counting and its private page (`crate::audience`).
    #[serde(default)]
    pub stats: StatsConfig,
    /// Settings of `broadsheet deploy` (`crate::deploy`).
    #[serde(default)]
    pub deploy: DeployConfig,
}

/// The `[stats]` table: audience counting by `serve`, and who may see its
/// figures at `path` (and `path.json`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    /// Whether `serve` counts feed requests (and answers the page).
    pub enabled: bool,
    /// The URL path of the page; its JSON is at this path with `.json`.
    #[serde(deserialize_with = "stats_path")]
    pub path: String,
    /// A bearer token that opens the page from anywhere
    /// (`Authorization: Bearer <token>`); `BROADSHEET_STATS_TOKEN` gives one
    /// too, without writing it in the file.
    #[serde(deserialize_with = "stats_token")]
    pub token: Option<String>,
    /// Whether loopback clients see the page without the token (`false`
    /// behind a proxy on the same machine).
    pub trust_loopback: bool,
    /// Days kept; older days are deleted.
    pub retention_days: NonZeroU32,
}

impl fmt::Debug for StatsConfig {
    /// The token is a secret: never in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsConfig")
            .field("enabled", &self.enabled)
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("trust_loopback", &self.trust_loopback)
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            enabled: true,
            path: "/stats".to_string(),
            token: None,
            trust_loopback: true,
            retention_days: NonZeroU32::new(400).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// The shortest token accepted: a guessable one would open the page to anyone.
pub const MIN_STATS_TOKEN_BYTES: usize = 16;

/// Checks a stats token (from the file or the environment): at least
/// [`MIN_STATS_TOKEN_BYTES`] visible ASCII characters, at most 512.
pub fn check_stats_token(token: &str) -> Result<(), String> {
    if token.len() < MIN_STATS_TOKEN_BYTES
        || token.len() > 512
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "the stats token must be {MIN_STATS_TOKEN_BYTES} to 512 visible ASCII characters (no spaces)"
        ));
    }
    Ok(())
}

fn stats_token<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let token = String::deserialize(deserializer)?;
    check_stats_token(&token).map_err(serde::de::Error::custom)?;
    Ok(Some(token))
}

/// `[stats] path`: like the hub's path, and not one the server answers otherwise.
fn stats_path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let path = String::deserialize(deserializer)?;
    if !is_plain_path(&path) {
        return Err(serde::de::Error::custom(format!(
            "`{path}` is not a page path such as \"/stats\" (letters, digits, `/-_.`, not ending with `/`)"
        )));
    }
    if path == "/healthz" || path.ends_with(".json") {
        return Err(serde::de::Error::custom(format!(
            "`{path}` cannot be the stats page's path (`/healthz` is taken, and the JSON is at the path with `.json`)"
        )));
    }
    Ok(path)
}

/// The `[deploy]` table: where and how `broadsheet deploy` uploads. No
/// credentials: those come from the environment (`AWS_*`, `GOOGLE_*`,
/// `AZURE_*`), never from a file that is committed with the content.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeployConfig {
    /// The target when the command line names none: `s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix`, `file:///path`.
    pub url: Option<String>,
    /// The S3 endpoint of a store other than AWS (R2, MinIO, Garage, Ceph);
    /// overrides `AWS_ENDPOINT`.
    pub endpoint: Option<String>,
    /// The S3 region; overrides `AWS_REGION`.
    pub region: Option<String>,
    /// Whether plain `http` endpoints are allowed (a store on the local
    /// network); overrides `AWS_ALLOW_HTTP`.
    pub allow_http: Option<bool>,
    /// Uploads (and checks, deletions) under way at once.
    pub concurrency: NonZeroUsize,
    /// Seconds one request to the store may take, connecting included.
    pub request_timeout: Seconds,
    /// Tries of a request that failed for a transient reason (a timeout, a
    /// refused connection, a 5xx, a 429) after the first, waiting longer
    /// each time.
    pub retries: usize,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            url: None,
            endpoint: None,
            region: None,
            allow_http: None,
            concurrency: NonZeroUsize::new(8).unwrap_or(NonZeroUsize::MIN),
            request_timeout: Seconds::from_secs(60),
            retries: 5,
        }
    }
}

/// The `[websub]` table (W3C WebSub). By default `serve` runs a hub at
/// `path` and every feed names it; with `hubs`, feeds name those hubs
/// instead, no hub is served, and `export` pings them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSubConfig {
    /// Whether feeds name a hub at all (and `serve` runs one).
    pub enabled: bool,
    /// The URL path of the hub `serve` runs.
    #[serde(deserialize_with = "hub_path")]
    pub path: String,
    /// External hubs (http or https URLs) that feeds name instead of the served one.
    #[serde(deserialize_with = "hub_urls")]
    pub hubs: Vec<String>,
    /// Where the hub keeps its state (subscriptions, deliveries not yet
    /// made), relative to the site directory.
    pub data_dir: std::path::PathBuf,
    /// The lease given when a subscriber asks for none.
    pub default_lease_seconds: u64,
    /// The shortest lease granted (a shorter request is raised to it).
    pub min_lease_seconds: u64,
    /// The longest lease granted (a longer request is lowered to it).
    pub max_lease_seconds: u64,
    /// Whether callbacks on loopback, private, link-local addresses (and
    /// the server's own) are accepted: for tests and intranets only.
    pub allow_private_callbacks: bool,
    /// The most subscriptions in all.
    pub max_subscriptions: usize,
    /// The most subscriptions to one topic.
    pub max_subscriptions_per_topic: usize,
    /// The most subscriptions whose callbacks are on one host.
    pub max_subscriptions_per_host: usize,
    /// Deliveries (and verifications) under way at once, in all.
    pub max_concurrent_deliveries: usize,
    /// Deliveries under way at once to one callback host.
    pub max_concurrent_per_host: usize,
    /// How long one outbound request (connect, send, answer) may take.
    pub request_timeout: Seconds,
    /// The delay before the first retry of a failed delivery (jitter
    /// added, at most a minute in all); later retries double it.
    pub first_retry_ms: u64,
    /// How long a delivery is retried before it is dropped.
    pub retry_for_seconds: u64,
}

impl Default for WebSubConfig {
    fn default() -> Self {
        WebSubConfig {
            enabled: true,
            path: "/websub".to_string(),
            hubs: Vec::new(),
            data_dir: std::path::PathBuf::from(".broadsheet"),
            default_lease_seconds: 10 * 24 * 3600,
            min_lease_seconds: 3600,
            max_lease_seconds: 30 * 24 * 3600,
            allow_private_callbacks: false,
            max_subscriptions: 10_000,
            max_subscriptions_per_topic: 1_000,
            max_subscriptions_per_host: 100,
            max_concurrent_deliveries: 16,
            max_concurrent_per_host: 2,
            request_timeout: Seconds::from_secs(10),
            first_retry_ms: 30_000,
            retry_for_seconds: 24 * 3600,
        }
    }
}

impl WebSubConfig {
    /// The hubs feeds name for a site under `base_url`: the external
    /// `hubs`, else the served hub, or none when WebSub is off.
    pub fn hub_urls(&self, base_url: &BaseUrl) -> Vec<String> {
        if !self.enabled {
            Vec::new()
        } else if !self.hubs.is_empty() {
            self.hubs.clone()
        } else {
            vec![base_url.join(self.path.trim_start_matches('/')).to_string()]
        }
    }

    /// Whether `serve` runs a hub.
    pub fn serves_hub(&self) -> bool {
        self.enabled && self.hubs.is_empty()
    }
}

/// An absolute URL path of plain characters, not `/` and not ending with `/`.
fn is_plain_path(path: &str) -> bool {
    path.len() > 1
        && path.len() <= 200
        && path.starts_with('/')
        && !path.ends_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
}

/// `[websub] path`: an absolute URL path of plain characters, not `/`.
fn hub_path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let path = String::deserialize(deserializer)?;
    if is_plain_path(&path) {
        Ok(path)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{path}` is not a hub path such as \"/websub\" (letters, digits, `/-_.`, not ending with `/`)"
        )))
    }
}

/// `[websub] hubs`: http or https URLs.
fn hub_urls<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let hubs = Vec::<String>::deserialize(deserializer)?;
    for hub in &hubs {
        match Url::parse(hub) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "`{hub}` is not a hub URL (http or https)"
                )))
            }
        }
    }
    Ok(hubs)
}

/// The `[limits]` table: bounds on what one mistake in the content can cost
/// (a pasted megabyte of markup, a generated tag list). The defaults are far
/// above what a real publication needs, and far below what would fill a disk
/// or memory. Exceeding one is an error that names the article.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The largest HTML body of one article, in bytes, after Markdown is
    /// rendered. A long read is about 100-300 KB of HTML.
    pub article_html_bytes: NonZeroUsize,
    /// The largest published resource (a feed, a page), in bytes.
    pub resource_bytes: NonZeroUsize,
    /// The most tags one article may have.
    pub tags_per_article: NonZeroUsize,
}

impl Default for Limits {
    fn default() -> Self {
        let nonzero = |n| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        Limits {
            article_html_bytes: nonzero(4 * 1024 * 1024),
            resource_bytes: nonzero(64 * 1024 * 1024),
            tags_per_article: nonzero(100),
        }
    }
}

/// Which resources are compressed (gzip and brotli) ahead of time, once per
/// build: `serve` keeps those variants in memory and sends them to clients
/// that accept them, and `export` writes them as `.gz` and `.br` siblings
/// (`rss.xml.gz`), byte for byte the same, for web servers and CDNs that
/// serve precompressed files (nginx `gzip_static`). Other resources are
/// served and exported as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precompress {
    /// Nothing.
    None,
    /// Feeds, the OPML list, the home page and section pages: what pollers
    /// and readers fetch over and over. Article pages, by far the most
    /// numerous, are left as they are, which keeps builds fast and a large
    /// site's memory small.
    #[default]
    Feeds,
    /// Everything, article pages too (articles' files, images and the like,
    /// are never compressed).
    All,
}

/// The `[server]` table: settings of `broadsheet serve`. The timeouts are in
/// seconds and may be fractional (`0.5`). Only `max_age` takes effect on a hot
/// reload; the others are read when the server starts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// Seconds that clients and caches may reuse a response (`Cache-Control: max-age`).
    pub max_age: u32,
    /// Seconds that clients and caches may reuse a full archive page, which
    /// never changes (`Cache-Control: max-age` of those pages only).
    pub archive_max_age: u32,
    /// Threads serving requests, each with its own listening socket; 0 means one per core.
    pub workers: usize,
    /// Seconds a client has to send a whole request head, counted from when it
    /// connects or from its previous response; one that trickles is dropped.
    pub header_read_timeout: Seconds,
    /// Seconds a kept-alive connection may wait idle for its next request before
    /// it is closed. On HTTP/1.1, `header_read_timeout` also bounds that wait.
    pub keep_alive_timeout: Seconds,
    /// The largest request head accepted, in bytes (at least 8192); larger gets `431`.
    pub max_header_bytes: usize,
    /// The most connections open at once; at the cap, the oldest connection
    /// waiting for its client (silent, or idle between requests) is closed to
    /// make room, and otherwise new ones wait in the listen backlog.
    pub max_connections: usize,
    /// The most connections one client (an IPv4 address, or an IPv6 /64) may
    /// hold open at once (at least 1); more are closed at once.
    pub max_connections_per_client: NonZeroUsize,
    /// Seconds that requests in flight get to finish on shutdown before their
    /// connections are closed.
    pub shutdown_timeout: Seconds,
    /// Milliseconds of quiet after a change to `content/` or `config.toml`
    /// before the site is rebuilt; every new change restarts the wait. An
    /// editor's save (in place, or a temporary file renamed over the
    /// article) makes its changes within a few milliseconds: 50 is ten
    /// times that, so that one save is one build.
    pub reload_debounce_ms: u64,
    /// The most milliseconds a reload waits after the first change it is for,
    /// however often changes keep coming (never less than `reload_debounce_ms`).
    #[serde(deserialize_with = "max_delay_ms")]
    pub reload_max_delay_ms: u64,
    /// Seconds a response may wait for the client to take more of it (no byte
    /// accepted by the connection in that time) before the connection is
    /// dropped: a client that stops reading cannot hold a place for ever.
    pub send_timeout: Seconds,
    /// Requests per second each client (IPv4 address, or IPv6 /64) may make
    /// on average; more get `429 Too Many Requests` with `Retry-After`. A
    /// `304` counts as a quarter of a request. `0` turns the limit off.
    #[serde(deserialize_with = "requests_per_second")]
    pub rate_limit: f64,
    /// How many requests a client may make at once above `rate_limit` (the
    /// size of its token bucket), so a reader fetching every feed after a
    /// pause is not refused.
    pub rate_burst: NonZeroU32,
    /// Addresses or networks (`10.0.0.0/8`, `::1`) of the proxies and load
    /// balancers in front of the server, whose `Forwarded` or
    /// `X-Forwarded-For` fields name the client; empty, no field is trusted.
    pub trusted_proxies: TrustedProxies,
    /// `[server.tls]`: HTTPS, with certificate files or ACME; absent, plain HTTP.
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_age: 300,
            archive_max_age: 86_400,
            workers: 0,
            header_read_timeout: Seconds::from_secs(10),
            keep_alive_timeout: Seconds::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            max_connections_per_client: NonZeroUsize::new(256).unwrap_or(NonZeroUsize::MIN),
            shutdown_timeout: Seconds::from_secs(10),
            reload_debounce_ms: 50,
            reload_max_delay_ms: 1000,
            send_timeout: Seconds::from_secs(30),
            rate_limit: 0.0,
            rate_burst: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
            trusted_proxies: TrustedProxies::default(),
            tls: None,
        }
    }
}

/// The `[server.tls]` table: `serve` speaks HTTPS (HTTP/1.1 and HTTP/2 by
/// ALPN) on `bind`, with a certificate from PEM files (`cert`, `key`) or
/// obtained over ACME (`acme`), never both.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawTlsConfig")]
pub struct TlsConfig {
    /// Where the certificate comes from.
    pub source: CertificateSource,
    /// A plain-HTTP address that answers every request with a redirect to
    /// the same path over HTTPS (and, for ACME's HTTP-01, the challenges).
    pub redirect_http: Option<SocketAddr>,
}

/// Where the served certificate comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CertificateSource {
    /// A chain and its key, read from PEM files (relative to the site
    /// directory), read again when either changes and on `SIGHUP`.
    Files {
        /// The certificate chain, leaf first.
        cert: std::path::PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: std::path::PathBuf,
    },
    /// Obtained and renewed over ACME (RFC 8555).
    Acme(AcmeConfig),
}

/// `[server.tls] acme`: certificates obtained and renewed over ACME.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The names the certificate is for (at least one); the first is its subject.
    #[serde(deserialize_with = "acme_domains")]
    pub domains: Vec<String>,
    /// Who the CA may write to about the account (`mailto:` added to a bare address).
    #[serde(default, deserialize_with = "acme_contact")]
    pub contact: Option<String>,
    /// The ACME directory URL; Let's Encrypt's by default.
    #[serde(default = "default_acme_directory", deserialize_with = "https_url")]
    pub directory: String,
    /// A PEM file of roots to trust, instead of the system's, for the
    /// directory's own HTTPS certificate (a test CA such as pebble's).
    #[serde(default)]
    pub directory_ca: Option<std::path::PathBuf>,
    /// The challenge answered: `tls-alpn-01` (on the HTTPS port, the
    /// default) or `http-01` (on `redirect_http`, which it needs).
    #[serde(default)]
    pub challenge: AcmeChallenge,
}

/// The ACME challenge type `serve` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AcmeChallenge {
    /// RFC 8737: a certificate made for the challenge, on the HTTPS port.
    #[default]
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// RFC 8555 section 8.3: a file under `/.well-known/acme-challenge/`, on port 80.
    #[serde(rename = "http-01")]
    Http01,
}

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";

fn default_acme_directory() -> String {
    LETS_ENCRYPT_DIRECTORY.to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsConfig {
    cert: Option<std::path::PathBuf>,
    key: Option<std::path::PathBuf>,
    redirect_http: Option<SocketAddr>,
    acme: Option<AcmeConfig>,
}

impl TryFrom<RawTlsConfig> for TlsConfig {
    type Error = String;

    fn try_from(raw: RawTlsConfig) -> Result<Self, Self::Error> {
        let source = match (raw.cert, raw.key, raw.acme) {
            (Some(cert), Some(key), None) => CertificateSource::Files { cert, key },
            (None, None, Some(acme)) => CertificateSource::Acme(acme),
            (Some(_), None, None) => return Err("`cert` needs its `key`".to_string()),
            (None, Some(_), None) => return Err("`key` needs its `cert`".to_string()),
            (None, None, None) => return Err(
                "[server.tls] needs `cert` and `key` (PEM files) or `acme = { domains = [...] }`"
                    .to_string(),
            ),
            (_, _, Some(_)) => {
                return Err("`acme` and `cert`/`key` cannot both be given: pick one".to_string())
            }
        };
        if let CertificateSource::Acme(acme) = &source {
            if acme.challenge == AcmeChallenge::Http01 && raw.redirect_http.is_none() {
                return Err(
                    "`challenge = \"http-01\"` is answered on the plain-HTTP listener: set `redirect_http` (port 80)"
                        .to_string(),
                );
            }
        }
        Ok(TlsConfig {
            source,
            redirect_http: raw.redirect_http,
        })
    }
}

/// `acme.domains`: one or more DNS names (no wildcards: neither challenge
/// served here can validate one).
fn acme_domains<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let domains = Vec::<String>::deserialize(deserializer)?;
    if domains.is_empty() {
        return Err(serde::de::Error::custom(
            "`domains` needs at least one name",
        ));
    }
    let mut names = Vec::with_capacity(domains.len());
    for domain in domains {
        let name = domain.trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && name.parse::<IpAddr>().is_err();
        if !valid {
            return Err(serde::de::Error::custom(format!(
                "`{domain}` is not a DNS name a certificate can be obtained for (no wildcards, no IP addresses)"
            )));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// `acme.contact`: an e-mail address, as a `mailto:` URL.
fn acme_contact<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let contact = String::deserialize(deserializer)?;
    let address = contact.strip_prefix("mailto:").unwrap_or(&contact);
    let valid = address
        .split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
        && !address.contains([' ', ',', '<', '>']);
    if valid {
        Ok(Some(format!("mailto:{address}")))
    } else {
        Err(serde::de::Error::custom(format!(
            "`{contact}` is not an e-mail address (`mailto:admin@example.org`)"
        )))
    }
}

/// An `https` URL.
fn https_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    match Url::parse(&text) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(text),
        _ => Err(serde::de::Error::custom(format!(
            "`{text}` is not an https URL"
        ))),
    }
}

/// `trusted_proxies`: addresses and networks (CIDR), IPv4 and IPv6.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

/// An address and the length of its network prefix (`10.0.0.0/8`; a lone
/// address is its own network, `/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl TrustedProxies {
    /// True when `ip` is in one of the networks (an IPv4 address written as
    /// IPv6, `::ffff:10.0.0.1`, counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|network| network.contains(ip))
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Network {
    fn parse(text: &str) -> Result<Network, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            format!("`{text}` is not an IP address or network (`10.0.0.0/8`, `::1`)")
        })?;
        let address = address.to_canonical();
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Network { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| Network::parse(text.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
            .map_err(serde::de::Error::custom)
    }
}

/// `rate_limit`: a finite number of requests per second, 0 (off) or more.
fn requests_per_second<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let rate = f64::deserialize(deserializer)?;
    if rate.is_finite() && (0.0..=1_000_000.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{rate}` is not a number of requests per second between 0 (no limit) and 1000000"
        )))
    }
}

/// `reload_max_delay_ms`: from 1 ms to one hour.
fn max_delay_ms<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let ms = u64::deserialize(deserializer)?;
    if (1..=3_600_000).contains(&ms) {
        Ok(ms)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{ms}` is not a number of milliseconds between 1 and 3600000 (one hour)"
        )))
    }
}

/// A positive number of seconds, written as an integer or a decimal (`10`, `0.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(std::time::Duration);

impl Seconds {
    /// Whole seconds.
    pub const fn from_secs(secs: u64) -> Seconds {
        Seconds(std::time::Duration::from_secs(secs))
    }

    /// The duration.
    pub fn duration(self) -> std::time::Duration {
        self.0
    }
}

impl From<std::time::Duration> for Seconds {
    fn from(duration: std::time::Duration) -> Self {
        Seconds(duration)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
            Ok(Seconds(std::time::Duration::from_secs_f64(secs)))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{secs}` is not a number of seconds between 0 (excluded) and 86400"
            )))
        }
    }
}

/// The formats to publish: a non-empty set, kept in [`Format::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formats(Vec<Format>);

impl Formats {
    /// The formats, in [`Format::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = Format> + '_ {
        self.0.iter().copied()
    }
}

impl<'de> Deserialize<'de> for Formats {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut formats = Vec::<Format>::deserialize(deserializer)?;
        if formats.is_empty() {
            return Err(serde::de::Error::custom(
                "`formats` is empty: publish at least one of \"rss\", \"atom\", \"json\"",
            ));
        }
        formats.sort();
        formats.dedup();
        Ok(Formats(formats))
    }
}

fn default_formats() -> Formats {
    Formats(Format::ALL.to_vec())
}

/// 100 items: a page of long reads stays a few MB, well under
/// `resource_bytes`, and the W3C validator and readers take it at once.
fn default_archive_page_size() -> NonZeroUsize {
    NonZeroUsize::new(100).unwrap_or(NonZeroUsize::MIN)
}

fn default_limit() -> NonZeroUsize {
    NonZeroUsize::new(20).unwrap_or(NonZeroUsize::MIN)
}

/// 50 stories: a page of headlines, bylines and standfirsts of about 30 KB.
fn default_page_size() -> NonZeroUsize {
    NonZeroUsize::new(50).unwrap_or(NonZeroUsize::MIN)
}

/// The most a page may show: beyond a thousand stories a page is megabytes
/// that no reader scrolls, re-rendered whenever one of them changes.
const MAX_PAGE_SIZE: usize = 1000;

fn page_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NonZeroUsize, D::Error> {
    let size = usize::deserialize(deserializer)?;
    NonZeroUsize::new(size)
        .filter(|size| size.get() <= MAX_PAGE_SIZE)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`page_size` is {size}: a page shows from 1 to {MAX_PAGE_SIZE} stories"
            ))
        })
}

fn default_language() -> LanguageTag {
    LanguageTag("en".to_string())
}

/// Text that must not be empty or only white space (titles, names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmptyText(String);

impl NonEmptyText {
    /// The text, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NonEmptyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NonEmptyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        Ok(NonEmptyText(trimmed.to_string()))
    }
}

/// An absolute `http` or `https` URL that ends with `/`, so that joining a
/// relative path keeps the whole of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    /// Parses and checks a base URL; a missing trailing `/` is added.
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let mut url =
            Url::parse(text.trim()).map_err(|e| format!("`{text}` is not an absolute URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("`{text}` must be an http:// or https:// URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{text}` must not have a query or fragment"));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(BaseUrl(url))
    }

    /// The URL of `path`, a path relative to the site root such as
    /// `opinion/rss.xml` or `""` for the home page.
    pub fn join(&self, path: &str) -> Url {
        self.0.join(path).unwrap_or_else(|_| self.0.clone())
    }

    /// The base URL itself.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        BaseUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A BCP 47 language tag, checked for shape (`en`, `en-US`, `zh-Hans-CN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageTag(String);

impl LanguageTag {
    /// The tag as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LanguageTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut subtags = text.split('-');
        let primary_ok = subtags.next().is_some_and(|p| {
            (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic())
        });
        let rest_ok = subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        if primary_ok && rest_ok {
            Ok(LanguageTag(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{text}` is not a language tag such as \"en\" or \"en-GB\""
            )))
        }
    }
}

/// The tagging authority of RFC 4151: a domain name or an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagAuthority(String);

impl TagAuthority {
    /// The authority as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TagAuthority {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let domain = text.rsplit('@').next().unwrap_or_default();
        let label_ok = |label: &str| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let local_ok = match text.rsplit_once('@') {
            None => true,
            Some((local, _)) => {
                !local.is_empty()
                    && local
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!$&'()*+,;=-._~".contains(&b))
            }
        };
        if local_ok && domain.contains('.') && domain.split('.').all(label_ok) {
            Ok(TagAuthority(text.to_ascii_lowercase()))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{text}` is not a domain name or e-mail address such as \"example.com\""
            )))
        }
    }
}

/// A size for people: `812 bytes`, `3.5 KiB`, `27.9 MiB` (with the exact
/// count when rounded), as limits are written in bytes.
pub(crate) fn bytes_in_words(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else if b < KIB * KIB {
        format!("{:.1} KiB ({bytes} bytes)", b / KIB)
    } else {
        format!("{:.1} MiB ({bytes} bytes)", b / (KIB * KIB))
    }
}

impl Config {
    /// Parses the text of `config.toml`; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Diagnostic> {
        toml_source::parse(path, text, text, 0)
    }

    /// The name feeds give as the publication's author.
    pub fn publisher(&self) -> &str {
        self.author.as_ref().unwrap_or(&self.title).as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("config.toml"), text).map_err(|d| d.to_string())
    }

    const MINIMAL: &str =
        "title = \"T\"\nbase_url = \"https://example.com/news\"\ntag_authority = \"example.com\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.base_url.url().as_str(), "https://example.com/news/");
        assert_eq!(config.language.as_str(), "en");
        assert_eq!(config.limit.get(), 20);
        assert_eq!(config.page_size.get(), 50);
        assert_eq!(config.formats.iter().collect::<Vec<_>>(), Format::ALL);
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.publisher(), "T");
        assert!(!config.sanitize_html);
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.limits.article_html_bytes.get(), 4 * 1024 * 1024);
    }

    #[test]
    fn limits_are_read_and_checked() {
        let config = parse(&format!(
            "{MINIMAL}[limits]\narticle_html_bytes = 1000\ntags_per_article = 3\n"
        ))
        .unwrap();
        assert_eq!(config.limits.article_html_bytes.get(), 1000);
        assert_eq!(config.limits.tags_per_article.get(), 3);
        assert_eq!(config.limits.resource_bytes.get(), 64 * 1024 * 1024);
        for (line, expected) in [
            ("tags_per_article = 0", "nonzero"),
            ("resource_bytes = -1", "invalid value"),
            ("article_bytes = 1", "unknown field `article_bytes`"),
        ] {
            let err = parse(&format!("{MINIMAL}[limits]\n{line}\n")).unwrap_err();
            assert!(err.starts_with("config.toml:5: "), "{line}: {err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn stats_keys_have_defaults_and_are_checked() {
        let config = parse(MINIMAL).unwrap();
        assert!(config.stats.enabled && config.stats.trust_loopback);
        assert_eq!(config.stats.path, "/stats");
        assert_eq!(config.stats.retention_days.get(), 400);
        assert_eq!(config.stats.token, None);
        let config = parse(&format!(
            "{MINIMAL}[stats]\npath = \"/audience\"\ntoken = \"0123456789abcdef\"\ntrust_loopback = false\n"
        ))
        .unwrap();
        assert_eq!(config.stats.path, "/audience");
        assert!(!config.stats.trust_loopback);
        assert!(!format!("{:?}", config.stats).contains("0123456789abcdef"));
        for (line, expected) in [
            ("token = \"short\"", "16 to 512"),
            ("token = \"has a space in it, long\"", "16 to 512"),
            ("path = \"/healthz\"", "cannot be"),
            ("path = \"/stats.json\"", "cannot be"),
            ("path = \"stats\"", "not a page path"),
            ("retention_days = 0", "nonzero"),
            ("enable = true", "unknown field"),
        ] {
            let err = parse(&format!("{MINIMAL}[stats]\n{line}\n")).unwrap_err();
            assert!(err.starts_with("config.toml:5: "), "{line}: {err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse(&format!("{MINIMAL}limt = 3\n")).unwrap_err();
        assert!(
            err.starts_with("config.toml:4: unknown field `limt`"),
            "{err}"
        );
    }

    #[test]
    fn tls_takes_files_or_acme_and_names_the_line_of_a_mistake() {
        let config = parse(&format!(
            "{MINIMAL}[server.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nredirect_http = \"0.0.0.0:80\"\n"
        ))
        .unwrap();
        let tls = config.server.tls.unwrap();
        assert!(matches!(tls.source, CertificateSource::Files { .. }));
        assert_eq!(tls.redirect_http.unwrap().port(), 80);
        let config = parse(&format!(
            "{MINIMAL}[server.tls]\nacme = {{ domains = [\"Example.org.\", \"example.org\"], contact = \"a@example.org\" }}\n"
        ))
        .unwrap();
        let CertificateSource::Acme(acme) = config.server.tls.unwrap().source else {
            panic!("acme")
        };
        assert_eq!(acme.domains, ["example.org"]);
        assert_eq!(acme.contact.as_deref(), Some("mailto:a@example.org"));
        assert_eq!(acme.directory, LETS_ENCRYPT_DIRECTORY);
        assert_eq!(acme.challenge, AcmeChallenge::TlsAlpn01);
        for (table, expected) in [
            ("cert = \"c.pem\"", "`cert` needs its `key`"),
            ("redirect_http = \"0.0.0.0:80\"", "needs `cert` and `key`"),
            (
                "cert = \"c\"\nkey = \"k\"\nacme = { domains = [\"a.org\"] }",
                "cannot both be given",
            ),
            ("acme = { domains = [] }", "at least one name"),
            ("acme = { domains = [\"*.a.org\"] }", "no wildcards"),
            ("acme = { domains = [\"127.0.0.1\"] }", "no IP addresses"),
            (
                "acme = { domains = [\"a.org\"], contact = \"nobody\" }",
                "not an e-mail",
            ),
            (
                "acme = { domains = [\"a.org\"], directory = \"http://ca/\" }",
                "not an https URL",
            ),
            (
                "acme = { domains = [\"a.org\"], challenge = \"http-01\" }",
                "set `redirect_http`",
            ),
            (
                "acme = { domains = [\"a.org\"], challenge = \"dns-01\" }",
                "unknown variant",
            ),
            ("certificate = \"c\"", "unknown field `certificate`"),
        ] {
            let err = parse(&format!("{MINIMAL}[server.tls]\n{table}\n")).unwrap_err();
            assert!(err.starts_with("config.toml:"), "{table}: {err}");
            assert!(err.contains(expected), "{table}: {err}");
        }
    }

    #[test]
    fn unknown_server_key_is_an_error() {
        let err = parse(&format!("{MINIMAL}[server]\nport = 3\n")).unwrap_err();
        assert!(
            err.starts_with("config.toml:5: unknown field `port`"),
            "{err}"
        );
    }

    #[test]
    fn server_keys_are_read_and_checked() {
        let config = parse(&format!(
            "{MINIMAL}[server]\nheader_read_timeout = 0.5\nkeep_alive_timeout = 3\nmax_connections = 8\n"
        ))
        .unwrap();
        assert_eq!(
            config.server.header_read_timeout.duration(),
            std::time::Duration::from_millis(500)
        );
        assert_eq!(
            config.server.keep_alive_timeout.duration(),
            std::time::Duration::from_secs(3)
        );
        assert_eq!(config.server.max_connections, 8);
        assert_eq!(config.server.max_age, 300);
        let err = parse(&format!("{MINIMAL}[server]\nshutdown_timeout = 0\n")).unwrap_err();
        assert!(err.starts_with("config.toml:5: "), "{err}");
        assert!(err.contains("not a number of seconds"), "{err}");
    }

    #[test]
    fn archive_keys_have_defaults_and_are_checked() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.archive_page_size.get(), 100);
        assert_eq!(config.server.archive_max_age, 86_400);
        let config = parse(&format!(
            "archive_page_size = 7\n{MINIMAL}[server]\narchive_max_age = 60\n"
        ))
        .unwrap();
        assert_eq!(config.archive_page_size.get(), 7);
        assert_eq!(config.server.archive_max_age, 60);
        let err = parse(&format!("archive_page_size = 0\n{MINIMAL}")).unwrap_err();
        assert!(err.starts_with("config.toml:1: "), "{err}");
        let err = parse(&format!("{MINIMAL}[server]\narchive_max_age = -1\n")).unwrap_err();
        assert!(err.starts_with("config.toml:5: "), "{err}");
    }

    #[test]
    fn connections_per_client_are_capped_by_default_and_checked() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.server.max_connections_per_client.get(), 256);
        let config = parse(&format!(
            "{MINIMAL}[server]\nmax_connections_per_client = 9\n"
        ))
        .unwrap();
        assert_eq!(config.server.max_connections_per_client.get(), 9);
        let err = parse(&format!(
            "{MINIMAL}[server]\nmax_connections_per_client = 0\n"
        ))
        .unwrap_err();
        assert!(err.starts_with("config.toml:5: "), "{err}");
        assert!(err.contains("nonzero"), "{err}");
    }

    #[test]
    fn rate_limit_is_off_by_default_and_checked() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.server.rate_limit, 0.0);
        assert_eq!(config.server.rate_burst.get(), 50);
        assert_eq!(
            config.server.send_timeout.duration(),
            std::time::Duration::from_secs(30)
        );
        let config = parse(&format!(
            "{MINIMAL}[server]\nrate_limit = 0.5\nrate_burst = 3\nsend_timeout = 2\n"
        ))
        .unwrap();
        assert_eq!(config.server.rate_limit, 0.5);
        assert_eq!(config.server.rate_burst.get(), 3);
        let config = parse(&format!("{MINIMAL}[server]\nrate_limit = 4\n")).unwrap();
        assert_eq!(config.server.rate_limit, 4.0);
        for (line, expected) in [
            ("rate_limit = -1", "not a number of requests per second"),
            ("rate_limit = nan", "not a number of requests per second"),
            ("rate_burst = 0", "nonzero"),
            ("send_timeout = 0", "not a number of seconds"),
        ] {
            let err = parse(&format!("{MINIMAL}[server]\n{line}\n")).unwrap_err();
            assert!(err.starts_with("config.toml:5: "), "{line}: {err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn reload_max_delay_has_a_default_and_is_checked() {
        assert_eq!(parse(MINIMAL).unwrap().server.reload_max_delay_ms, 1000);
        let config = parse(&format!("{MINIMAL}[server]\nreload_max_delay_ms = 250\n")).unwrap();
        assert_eq!(config.server.reload_max_delay_ms, 250);
        for line in ["reload_max_delay_ms = 0", "reload_max_delay_ms = 3600001"] {
            let err = parse(&format!("{MINIMAL}[server]\n{line}\n")).unwrap_err();
            assert!(err.starts_with("config.toml:5: "), "{line}: {err}");
            assert!(
                err.contains("not a number of milliseconds"),
                "{line}: {err}"
            );
        }
        let err = parse(&format!("{MINIMAL}[server]\nreload_max_delay_ms = -5\n")).unwrap_err();
        assert!(err.starts_with("config.toml:5: "), "{err}");
    }

    #[test]
    fn page_size_is_read_and_checked() {
        assert_eq!(
            parse(&format!("{MINIMAL}page_size = 7\n"))
                .unwrap()
                .page_size
                .get(),
            7
        );
        for line in ["page_size = 0", "page_size = 1001", "page_size = -3"] {
            let err = parse(&format!("{MINIMAL}{line}\n")).unwrap_err();
            assert!(err.starts_with("config.toml:4: "), "{line}: {err}");
        }
        let err = parse(&format!("{MINIMAL}page_size = 1001\n")).unwrap_err();
        assert!(err.contains("from 1 to 1000 stories"), "{err}");
    }

    #[test]
    fn relative_base_url_is_an_error() {
        let err = parse("title = \"T\"\nbase_url = \"/news/\"\ntag_authority = \"example.com\"\n")
            .unwrap_err();
        assert!(
            err.starts_with("config.toml:2: `/news/` is not an absolute URL"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_errors_on_their_line() {
        for (line, expected) in [
            ("language = \"english!\"", "not a language tag"),
            ("tag_authority2 = 1", "unknown field"),
            ("limit = 0", "nonzero"),
            ("formats = []", "`formats` is empty"),
            ("formats = [\"rdf\"]", "unknown variant `rdf`"),
        ] {
            let err = parse(&format!("{MINIMAL}{line}\n")).unwrap_err();
            assert!(err.starts_with("config.toml:4: "), "{line}: {err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
    }

    #[test]
    fn tag_authority_must_be_a_domain_or_email() {
        let text =
            "title = \"T\"\nbase_url = \"https://e.com/\"\ntag_authority = \"not a domain\"\n";
        assert!(parse(text).unwrap_err().starts_with("config.toml:3: "));
        let text = "title = \"T\"\nbase_url = \"https://e.com/\"\ntag_authority = \"desk@e.com\"\n";
        assert_eq!(parse(text).unwrap().tag_authority.as_str(), "desk@e.com");
    }

    #[test]
    fn trusted_proxies_are_addresses_and_networks() {
        let config = parse(&format!(
            "{MINIMAL}[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\", \"fd00::/8\", \"0.0.0.0/0\"]\n"
        ))
        .unwrap();
        let trusted = &config.server.trusted_proxies;
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "::1",
            "fd12::1",
            "::ffff:10.0.0.1",
            "8.8.8.8",
        ] {
            assert!(trusted.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(!trusted.contains("2001:db8::1".parse().unwrap()));
        let narrow = parse(&format!(
            "{MINIMAL}[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"
        ))
        .unwrap()
        .server
        .trusted_proxies;
        assert!(narrow.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!narrow.contains("2001:db9::1".parse().unwrap()));
        assert!(!narrow.contains("11.0.0.1".parse().unwrap()));
        assert!(parse(MINIMAL).unwrap().server.trusted_proxies.is_empty());
        for (bad, says) in [
            ("\"10.0.0.0/33\"", "prefix length must be 0 to 32"),
            ("\"::1/129\"", "prefix length must be 0 to 128"),
            ("\"proxy.example\"", "not an IP address"),
            ("\"10.0.0.0/\"", "prefix length"),
        ] {
            let error =
                parse(&format!("{MINIMAL}[server]\ntrusted_proxies = [{bad}]\n")).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(error.contains(":5:"), "{bad}: {error}");
        }
    }
}
