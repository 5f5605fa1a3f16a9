//! HTTPS with certificate files (`[server.tls] cert`, `key`): the handshake
//! and ALPN (`h2`, `http/1.1`), the same bytes as over plain HTTP, a
//! certificate replaced on disk or by `SIGHUP` while a connection stays
//! open across the swap, bad PEM files named at start, silent and stalling
//! TLS clients closed by the header timeout, `414` through TLS, and the
//! plain-HTTP listener's redirects. Certificates are made by the test
//! (`rcgen`): a CA the client trusts and a leaf for `localhost`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::fixture::{spawn_serving, Site};
use crate::prelude::{start_server, ServeOptions, StartError};

/// A CA made for one test, and leaves it signs.
pub struct TestCa(rcgen::CertifiedIssuer<'static, rcgen::KeyPair>);

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("a CA key");
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "broadsheet TLS test CA");
        TestCa(rcgen::CertifiedIssuer::self_signed(params, key).expect("a CA certificate"))
    }

    pub fn root(&self) -> CertificateDer<'static> {
        self.0.der().clone()
    }

    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// A leaf for `names` and its key, as PEM: the chain (leaf, then the
    /// CA) and the key.
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .expect("parameters")
            .signed_by(&key, &self.0)
            .expect("a certificate");
        (
            format!("{}{}", cert.pem(), self.0.pem()),
            key.serialize_pem(),
        )
    }
}

/// The bundled site serving HTTPS with a fresh leaf of `ca` in
/// `tls/cert.pem` and `tls/key.pem`, with `more` added to `[server]`.
fn tls_site(ca: &TestCa, more: &str) -> Site {
    let site = Site::bundled_with_server(&format!(
        "{more}\n[tls]\ncert = \"tls/cert.pem\"\nkey = \"tls/key.pem\"\n"
    ));
    write_leaf(&site, ca);
    site
}

/// Writes a new leaf for `localhost` into the site's certificate files;
/// returns its DER bytes.
fn write_leaf(site: &Site, ca: &TestCa) -> Vec<u8> {
    let (chain, key) = ca.leaf(&["localhost"]);
    // The key first, then the chain, each whole (a rename), as certbot does.
    for (name, text) in [("key.pem", &key), ("cert.pem", &chain)] {
        let temporary = format!("tls/.{name}.new");
        site.write(&temporary, text);
        std::fs::rename(site.path(&temporary), site.path(&format!("tls/{name}"))).expect("rename");
    }
    rustls::pki_types::pem::PemObject::from_pem_slice(chain.as_bytes())
        .map(|der: CertificateDer| der.to_vec())
        .expect("a certificate")
}

/// A TLS connection to `addr` naming `localhost`, trusting `root`, offering `alpn`.
pub async fn tls_connect(
    addr: SocketAddr,
    name: &str,
    root: CertificateDer<'static>,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).expect("a root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string()).expect("a name");
    connector.connect(name, tcp).await
}

/// The leaf certificate a TLS connection was given.
pub fn leaf_of(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a certificate")
        .to_vec()
}

/// The leaf served to a new connection right now.
async fn served_leaf(addr: SocketAddr, ca: &TestCa) -> Vec<u8> {
    let stream = tls_connect(addr, "localhost", ca.root(), &[b"http/1.1"])
        .await
        .expect("a handshake");
    leaf_of(&stream)
}

/// One HTTP connection over TLS, HTTP/1.1 or HTTP/2 as ALPN chose.
pub enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    /// Speaks what `stream` negotiated.
    pub async fn over(stream: TlsStream<TcpStream>) -> Sender {
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(stream);
        if h2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .expect("an HTTP/2 connection");
            tokio::spawn(connection);
            Sender::H2(sender)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("an HTTP/1.1 connection");
            tokio::spawn(connection);
            Sender::H1(sender)
        }
    }

    /// `GET path` with `headers`; the status, fields and body.
    pub async fn get(
        &mut self,
        authority: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut request = Request::builder();
        request = match self {
            Sender::H1(_) => request.uri(path).header("host", authority),
            Sender::H2(_) => request.uri(format!("https://{authority}{path}")),
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).expect("a request");
        let response = match self {
            Sender::H1(sender) => sender.send_request(request).await,
            Sender::H2(sender) => sender.send_request(request).await,
        }
        .expect("a response");
        let (head, body) = response.into_parts();
        let body = body.collect().await.expect("a body").to_bytes();
        (head.status, head.headers, body)
    }
}

#[tokio::test]
async fn https_serves_the_same_bytes_over_http2_and_http1_chosen_by_alpn() {
    let ca = TestCa::new();
    let site = tls_site(&ca, "");
    let server = site.serve();
    assert!(server.is_https());
    let addr = server.local_addr();
    let authority = format!("localhost:{}", addr.port());
    let feed = site.build().resources["/rss.xml"].body.clone();
    for (offered, expected) in [
        (&[b"h2".as_slice(), b"http/1.1"][..], b"h2".as_slice()),
        (&[b"http/1.1".as_slice()][..], b"http/1.1".as_slice()),
    ] {
        let stream = tls_connect(addr, "localhost", ca.root(), offered)
            .await
            .expect("a handshake");
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(expected));
        let mut sender = Sender::over(stream).await;
        let (status, headers, body) = sender.get(&authority, "/rss.xml", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, feed);
        let etag = headers["etag"].to_str().unwrap().to_string();
        let (status, _, body) = sender
            .get(&authority, "/rss.xml", &[("if-none-match", &etag)])
            .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{expected:?}");
        assert!(body.is_empty());
    }
    // Without ALPN, HTTP/1.1 still works; HTTP/2 by prior knowledge too.
    let stream = tls_connect(addr, "localhost", ca.root(), &[])
        .await
        .expect("a handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    let (status, _, body) = Sender::over(stream)
        .await
        .get(&authority, "/rss.xml", &[])
        .await;
    assert_eq!((status, body), (StatusCode::OK, feed));
}

#[tokio::test]
async fn a_plain_http_request_to_the_https_port_gets_400_in_plain_text_not_the_page() {
    let ca = TestCa::new();
    let site = tls_site(&ca, "");
    let server = site.serve();
    let addr = server.local_addr();
    let answer = tokio::task::spawn_blocking(move || {
        crate::fixture::raw(addr, "GET /rss.xml HTTP/1.1\r\nHost: localhost\r\n\r\n")
    })
    .await
    .unwrap();
    assert!(!answer.contains("<rss"), "{answer}");
    // The whole answer is plain HTTP (no TLS alert before it), and says why.
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer:?}"
    );
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.contains("https://"), "{answer}");
    let length = answer
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert_eq!(length, Some(body.len()), "{answer}");
    // Bytes that are neither a TLS record nor a method get no HTTP answer.
    let garbage =
        tokio::task::spawn_blocking(move || crate::fixture::raw(addr, "\x01\x02\x03\r\n\r\n"))
            .await
            .unwrap();
    assert!(!garbage.contains("HTTP/1.1"), "{garbage:?}");
    // TLS on the same port is untouched.
    assert!(!served_leaf(addr, &ca).await.is_empty());
}

#[tokio::test]
async fn a_changed_certificate_is_served_to_new_connections_while_open_ones_go_on() {
    let ca = TestCa::new();
    let site = tls_site(&ca, "");
    let server = site.serve();
    let addr = server.local_addr();
    let authority = format!("localhost:{}", addr.port());
    let first = served_leaf(addr, &ca).await;
    // Two connections opened before the change, one of each protocol.
    let mut held = Vec::new();
    for alpn in [b"h2".as_slice(), b"http/1.1"] {
        let stream = tls_connect(addr, "localhost", ca.root(), &[alpn])
            .await
            .unwrap();
        assert_eq!(leaf_of(&stream), first);
        let mut sender = Sender::over(stream).await;
        assert_eq!(sender.get(&authority, "/", &[]).await.0, StatusCode::OK);
        held.push(sender);
    }
    let second = write_leaf(&site, &ca);
    assert_ne!(first, second);
    crate::fixture::eventually(Duration::from_secs(20), "the new certificate", || async {
        (served_leaf(addr, &ca).await == second).then_some(())
    })
    .await;
    for sender in &mut held {
        assert_eq!(sender.get(&authority, "/", &[]).await.0, StatusCode::OK);
    }
    // A broken pair (a key that is not the certificate's) is not taken:
    // the last good certificate stays.
    let (_, other_key) = ca.leaf(&["localhost"]);
    site.write("tls/key.pem", &other_key);
    server.reload();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(served_leaf(addr, &ca).await, second);
    for sender in &mut held {
        assert_eq!(sender.get(&authority, "/", &[]).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_the_binary_and_keeps_connections() {
    let ca = TestCa::new();
    let site = tls_site(&ca, "");
    let (server, addr, _lines) = spawn_serving(
        std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .args(["serve", "--bind", "127.0.0.1:0", "--no-watch"])
            .current_dir(site.root())
            .env("RUST_LOG", "warn"),
    );
    let authority = format!("localhost:{}", addr.port());
    let first = served_leaf(addr, &ca).await;
    let stream = tls_connect(addr, "localhost", ca.root(), &[b"http/1.1"])
        .await
        .unwrap();
    let mut held = Sender::over(stream).await;
    assert_eq!(held.get(&authority, "/", &[]).await.0, StatusCode::OK);
    let second = write_leaf(&site, &ca);
    let pid = i32::try_from(server.0.id()).expect("a pid");
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    crate::fixture::eventually(Duration::from_secs(20), "the new certificate", || async {
        let leaf = served_leaf(addr, &ca).await;
        assert!(leaf == first || leaf == second);
        (leaf == second).then_some(())
    })
    .await;
    assert_eq!(held.get(&authority, "/", &[]).await.0, StatusCode::OK);
}

#[test]
fn bad_pem_files_stop_the_start_naming_the_file() {
    let ca = TestCa::new();
    let site = tls_site(&ca, "");
    site.write(
        "tls/key.pem",
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n",
    );
    let output = site.run(&["serve", "--bind", "127.0.0.1:0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tls/key.pem:1: "), "{stderr}");
    assert!(stderr.contains("not serving"), "{stderr}");

    // In-process too, with the kind of error; a missing file and a
    // certificate that is not PEM are named the same way.
    for (file, text) in [("tls/cert.pem", "hello"), ("tls/key.pem", "")] {
        let site = tls_site(&ca, "");
        site.write(file, text);
        let error = start_server(ServeOptions {
            root: site.root().to_path_buf(),
            bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            watch: false,
            base_url: None,
        })
        .expect_err("a bad file");
        assert!(matches!(error, StartError::Certificate(_)), "{error:?}");
        assert!(
            error.to_string().contains(&format!("{file}:1: ")),
            "{error}"
        );
    }
    let site = tls_site(&ca, "");
    std::fs::remove_file(site.path("tls/cert.pem")).unwrap();
    let output = site.run(&["serve", "--bind", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tls/cert.pem:1: cannot read it"),
        "{stderr}"
    );
}

/// Waits until the server closes `stream`; how long that took.
async fn closed_within(mut stream: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn silent_and_stalling_tls_clients_are_closed_by_the_header_timeout() {
    let ca = TestCa::new();
    let site = tls_site(&ca, "header_read_timeout = 1");
    let server = site.serve();
    let addr = server.local_addr();
    // Says nothing at all.
    let silent = TcpStream::connect(addr).await.unwrap();
    // Begins a ClientHello and stops halfway.
    let mut stalling = TcpStream::connect(addr).await.unwrap();
    stalling
        .write_all(&[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ])
        .await
        .unwrap();
    // Makes the handshake, then sends no request.
    let idle = tls_connect(addr, "localhost", ca.root(), &[b"http/1.1"])
        .await
        .unwrap();
    let limit = Duration::from_secs(15);
    let (silent, stalling) =
        tokio::join!(closed_within(silent, limit), closed_within(stalling, limit));
    assert!(silent >= Duration::from_millis(900), "{silent:?}");
    assert!(stalling >= Duration::from_millis(900), "{stalling:?}");
    let mut idle = idle;
    let mut buffer = [0u8; 1024];
    let started = Instant::now();
    let read = tokio::time::timeout(limit, idle.read(&mut buffer))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() < limit);
    // And the server still answers.
    assert!(!served_leaf(addr, &ca).await.is_empty());
}

#[tokio::test]
async fn a_target_over_the_limit_gets_414_through_tls() {
    let ca = TestCa::new();
    let site = tls_site(&ca, "");
    let server = site.serve();
    let mut stream = tls_connect(server.local_addr(), "localhost", ca.root(), &[b"http/1.1"])
        .await
        .unwrap();
    let target = format!("/{}", "a".repeat(100_000));
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    // The server may stop reading before the whole target is sent.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer}");
}

#[tokio::test]
async fn the_plain_listener_redirects_to_https_and_answers_only_acme_challenges() {
    let ca = TestCa::new();
    let site = Site::bundled_with_server(
        "[tls]\ncert = \"tls/cert.pem\"\nkey = \"tls/key.pem\"\nredirect_http = \"127.0.0.1:0\"\n",
    );
    write_leaf(&site, &ca);
    // The loopback base_url follows the bound address, with https.
    let server = start_server(ServeOptions {
        root: site.root().to_path_buf(),
        bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: false,
        base_url: None,
    })
    .expect("a server");
    let https = server.local_addr();
    assert_eq!(
        server.base_url().url().as_str(),
        format!("https://127.0.0.1:{}/", https.port())
    );
    let plain = server.redirect_addr().expect("a redirect listener");
    let answer = tokio::task::spawn_blocking(move || {
        let get = crate::fixture::raw(
            plain,
            "GET /opinion/rss.xml?x=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        );
        let post = crate::fixture::raw(
            plain,
            "POST /websub HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let challenge = crate::fixture::raw(
            plain,
            "GET /.well-known/acme-challenge/abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        (get, post, challenge)
    })
    .await
    .unwrap();
    let (get, post, challenge) = answer;
    assert!(get.starts_with("HTTP/1.1 301"), "{get}");
    let location = format!(
        "location: https://127.0.0.1:{}/opinion/rss.xml?x=1\r\n",
        https.port()
    );
    assert!(get.to_ascii_lowercase().contains(&location), "{get}");
    assert!(post.starts_with("HTTP/1.1 308"), "{post}");
    assert!(challenge.starts_with("HTTP/1.1 404"), "{challenge}");
    // The page it points at is there, over TLS.
    let stream = tls_connect(https, "localhost", ca.root(), &[b"h2"])
        .await
        .unwrap();
    let authority = format!("localhost:{}", https.port());
    let (status, _, _) = Sender::over(stream)
        .await
        .get(&authority, "/opinion/rss.xml?x=1", &[])
        .await;
    assert_eq!(status, StatusCode::OK);
}
