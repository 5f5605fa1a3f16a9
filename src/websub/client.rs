//! The hub's outbound HTTP (also ACME's, `crate::tls::acme`): one request per connection (HTTP/1.1 through
//! hyper's client connection), to an address checked first (`address.rs`),
//! with the whole exchange (resolving, connecting, sending, the answer's
//! head and body) under one deadline, and the answer's body read up to a
//! bound and no further. Whatever the peer does (never answers, answers
//! forever, sends gigabytes), a request ends within its timeout and holds
//! at most `max_body` bytes of it.
//!
//! `https` goes through rustls (ring), over the same checked address: the
//! TCP connection is made to the address `resolve` accepted, and the TLS
//! handshake names the URL's host (SNI, and the name the certificate must
//! carry). Certificates are checked against the system's roots (read once
//! when a [`Reach`] is made) plus roots added by
//! [`trust_root_for_tests`]; nothing turns the check off.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::Url;

use super::address;

/// Where outbound requests may go.
#[derive(Debug, Clone)]
pub(crate) struct Reach {
    /// Contact loopback, private and link-local addresses too.
    pub(crate) allow_private: bool,
    /// Addresses of this machine, refused unless `allow_private`.
    pub(crate) own: Vec<IpAddr>,
    /// The deadline of a whole exchange.
    pub(crate) timeout: Duration,
    /// TLS for `https` URLs: the roots certificates are checked against.
    pub(crate) tls: Arc<rustls::ClientConfig>,
}

/// Roots added to the system's by [`trust_root_for_tests`].
fn extra_roots() -> &'static Mutex<Vec<CertificateDer<'static>>> {
    static ROOTS: OnceLock<Mutex<Vec<CertificateDer<'static>>>> = OnceLock::new();
    ROOTS.get_or_init(Mutex::default)
}

/// The internal hook through which tests make the hub trust a CA they
/// made (a TLS server on loopback with a certificate of its own): `der`
/// (one DER certificate) is added to the roots of every [`Reach`] made
/// afterwards in this process. It only adds trust in one more root, as a
/// system's CA store would; certificates are still checked, and there is
/// no configuration key or flag that reaches it.
pub fn trust_root_for_tests(der: &[u8]) {
    let mut roots = extra_roots().lock().unwrap_or_else(|e| e.into_inner());
    roots.push(CertificateDer::from(der.to_vec()));
}

/// The TLS client configuration: the system's roots (those that parse; a
/// machine without any can still reach `http` URLs, and an `https` one then
/// fails with the certificate's reason) and the added ones, TLS 1.2 and
/// 1.3 by ring, ALPN `http/1.1` (the only protocol this client speaks).
pub(crate) fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        tracing::warn!(
            "websub: no system root certificates found; https callbacks and hubs will fail verification"
        );
    }
    let extra = extra_roots()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (_added, _ignored) = roots.add_parsable_certificates(extra);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The answer to a request: its status, its fields and the first bytes of its body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

/// Why an address cannot be contacted, as told to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The URL cannot be used (scheme, no host, name unknown).
    Unusable(String),
    /// Its address is one this hub does not contact.
    Forbidden(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Unusable(why) | Refused::Forbidden(why) => f.write_str(why),
        }
    }
}

/// Resolves `url`'s host and checks every address it has: one refused
/// address refuses the URL (a name with a private and a public address
/// could be made to reach either). Returns the address to connect to.
pub(crate) async fn resolve(url: &Url, reach: &Reach) -> Result<SocketAddr, Refused> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(Refused::Unusable(format!(
                "`{other}` URLs cannot be contacted"
            )))
        }
    }
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(Refused::Unusable(format!("`{url}` has no host"))),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let looked_up = tokio::time::timeout(
        reach.timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| Refused::Unusable(format!("resolving `{host}` took too long")))?
    .map_err(|e| Refused::Unusable(format!("cannot resolve `{host}`: {e}")))?;
    let addresses: Vec<SocketAddr> = looked_up.take(16).collect();
    let Some(first) = addresses.first().copied() else {
        return Err(Refused::Unusable(format!("`{host}` has no address")));
    };
    if !reach.allow_private {
        for addr in &addresses {
            if let Some(why) = address::refusal(addr.ip(), &reach.own) {
                return Err(Refused::Forbidden(format!(
                    "`{host}` resolves to {}, {why}, which this hub does not contact",
                    addr.ip()
                )));
            }
        }
    }
    Ok(first)
}

/// Sends one request to `url` and reads at most `max_body` bytes of the
/// answer; `Err` says what went wrong (for the log, never with a secret).
pub(crate) async fn send(
    method: Method,
    url: &Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    max_body: usize,
    reach: &Reach,
) -> Result<Answer, String> {
    match tokio::time::timeout(
        reach.timeout,
        exchange(method, url, headers, body, max_body, reach),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no whole answer within {} s",
            reach.timeout.as_secs_f32()
        )),
    }
}

async fn exchange(
    method: Method,
    url: &Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    max_body: usize,
    reach: &Reach,
) -> Result<Answer, String> {
    let addr = resolve(url, reach).await.map_err(|e| e.to_string())?;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    if url.scheme() == "https" {
        let name = match url.host() {
            Some(url::Host::Domain(name)) => ServerName::try_from(name.to_string())
                .map_err(|e| format!("`{name}` cannot be named in TLS: {e}"))?,
            Some(url::Host::Ipv4(ip)) => ServerName::from(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => ServerName::from(IpAddr::V6(ip)),
            None => return Err(format!("`{url}` has no host")),
        };
        let tls = TlsConnector::from(reach.tls.clone())
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS with {addr} failed: {e}"))?;
        talk(tls, addr, method, url, headers, body, max_body).await
    } else {
        talk(stream, addr, method, url, headers, body, max_body).await
    }
}

/// One HTTP/1.1 exchange over a connected stream, plain or TLS.
async fn talk<S>(
    stream: S,
    addr: SocketAddr,
    method: Method,
    url: &Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    max_body: usize,
) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| format!("cannot talk to {addr}: {e}"))?;
    // The connection is driven beside the request and dropped with it.
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header(HOST, host)
        .header(
            USER_AGENT,
            concat!("broadsheet/", env!("CARGO_PKG_VERSION"), " (WebSub hub)"),
        )
        .header(CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .map_err(|e| format!("cannot make a request to `{url}`: {e}"))?;
    for (name, value) in headers {
        request.headers_mut().insert(name, value);
    }
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{addr} gave no answer: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = Limited::new(response.into_body(), max_body)
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            // An answer longer than wanted is not an error: its start is enough.
            .unwrap_or_default();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
    .await;
    driver.abort();
    result
}
