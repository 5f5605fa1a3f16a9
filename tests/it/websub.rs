//! WebSub: discovery links, and the hub `serve` runs, against a subscriber
//! that is a small HTTP server in the test, over loopback: verified
//! subscriptions, signed pushes of the new bytes after an edit,
//! unsubscription, retries after a `500`, the end of a subscription after
//! a `410`, subscriptions kept across a restart, and the refusals; the
//! same over TLS against a subscriber with a certificate from a CA made in
//! the test.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::fixture::{client, eventually, url, Site};
use crate::prelude::*;

const ARTICLE: &str = "content/opinion/china-russia-energy-cooperation.md";
const TOPIC: &str = "http://127.0.0.1:8080/opinion/rss.xml";

/// One request the subscriber got.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Hit {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, key: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// A WebSub subscriber: echoes challenges, answers pushes with the next
/// status of `push_statuses` (200 once they run out), and keeps every request.
#[derive(Clone)]
pub(crate) struct Subscriber {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    push_statuses: Arc<Mutex<VecDeque<u16>>>,
    /// TLS only: the server name each handshake asked for (SNI).
    server_names: Arc<Mutex<Vec<Option<String>>>>,
    /// TLS only: handshakes that failed (the hub refused the certificate).
    failed_handshakes: Arc<AtomicUsize>,
}

impl Subscriber {
    pub(crate) fn start() -> Subscriber {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the subscriber");
        let subscriber = Subscriber::on(&listener);
        let serving = subscriber.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let serving = serving.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    serving.answer(stream)
                });
            }
        });
        subscriber
    }

    fn on(listener: &TcpListener) -> Subscriber {
        Subscriber {
            addr: listener.local_addr().expect("address"),
            hits: Arc::default(),
            push_statuses: Arc::default(),
            server_names: Arc::default(),
            failed_handshakes: Arc::default(),
        }
    }

    /// A subscriber behind TLS on the address `localhost` resolves to
    /// first, with a certificate for `name` signed by `ca`.
    fn start_tls(name: &str, ca: &rcgen::Issuer<'static, rcgen::KeyPair>) -> Subscriber {
        let key = rcgen::KeyPair::generate().expect("a key");
        let certificate = rcgen::CertificateParams::new(vec![name.to_string()])
            .expect("parameters")
            .signed_by(&key, ca)
            .expect("a certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(
                    vec![certificate.der().clone()],
                    rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
                )
                .expect("the server's certificate"),
        );
        let localhost = std::net::ToSocketAddrs::to_socket_addrs("localhost:0")
            .expect("localhost resolves")
            .next()
            .expect("an address for localhost");
        let listener = TcpListener::bind(localhost).expect("bind the TLS subscriber");
        let subscriber = Subscriber::on(&listener);
        let serving = subscriber.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let serving = serving.clone();
                let config = config.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let connection = rustls::ServerConnection::new(config).expect("a TLS session");
                    let mut tls = rustls::StreamOwned::new(connection, stream);
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        serving.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    let name = tls.conn.server_name().map(str::to_string);
                    serving.server_names.lock().unwrap().push(name);
                    serving.answer(&mut tls);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        subscriber
    }

    pub(crate) fn callback(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer(&self, mut stream: impl Read + Write) {
        let mut reader = BufReader::new(&mut stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0usize);
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let hit = Hit {
            method,
            target,
            headers,
            body,
        };
        let (status, reply) = if hit.method == "GET" {
            (200, hit.query("hub.challenge").unwrap_or_default())
        } else {
            let status = self
                .push_statuses
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(200);
            (status, String::new())
        };
        self.hits.lock().unwrap().push(hit);
        drop(reader);
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
            reply.len()
        );
    }

    fn hits(&self, method: &str) -> Vec<Hit> {
        let hits = self.hits.lock().unwrap();
        hits.iter()
            .filter(|h| h.method == method)
            .cloned()
            .collect()
    }
}

/// The bundled site with a hub that accepts loopback callbacks and retries fast.
fn site() -> Site {
    let site = Site::bundled();
    site.append(
        "config.toml",
        "\n[websub]\nallow_private_callbacks = true\nfirst_retry_ms = 100\n",
    );
    site
}

pub(crate) async fn hub_request(server: &RunningServer, form: &[(&str, &str)]) -> (u16, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = client()
        .post(url(server, "/websub"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("hub answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

pub(crate) async fn websub_health(server: &RunningServer) -> serde_json::Value {
    let body = client()
        .get(url(server, "/healthz"))
        .send()
        .await
        .expect("healthz")
        .text()
        .await
        .expect("body");
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    report["websub"].clone()
}

/// Subscribes `callback` to `TOPIC` and waits until the hub holds `expect` subscriptions.
async fn subscribe(server: &RunningServer, callback: &str, secret: Option<&str>, expect: u64) {
    let mut form = vec![
        ("hub.mode", "subscribe"),
        ("hub.topic", TOPIC),
        ("hub.callback", callback),
    ];
    if let Some(secret) = secret {
        form.push(("hub.secret", secret));
    }
    let (status, body) = hub_request(server, &form).await;
    assert_eq!(status, 202, "{body}");
    eventually(Duration::from_secs(5), "the subscription", || async {
        (websub_health(server).await["subscriptions"] == expect).then_some(())
    })
    .await;
}

/// Edits the article (a new paragraph) and reloads.
fn edit(site: &Site, server: &RunningServer, marker: &str) {
    let text = site.read(ARTICLE);
    site.save(ARTICLE, &format!("{text}\n{marker}\n"));
    server.reload();
}

async fn pushes_within(subscriber: &Subscriber, count: usize, limit: Duration) -> Vec<Hit> {
    eventually(limit, "the pushes", || async {
        let pushes = subscriber.hits("POST");
        (pushes.len() >= count).then_some(pushes)
    })
    .await
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[tokio::test]
async fn feeds_name_the_hub_and_themselves() {
    let site = site();
    let server = site.serve();
    for (path, needle) in [
        ("/opinion/rss.xml", "rel=\"hub\""),
        ("/opinion/atom.xml", "rel=\"hub\""),
        ("/opinion/feed.json", "\"WebSub\""),
    ] {
        let response = client().get(url(&server, path)).send().await.unwrap();
        let link = response.headers()["link"].to_str().unwrap().to_string();
        assert_eq!(
            link,
            format!(
                "<http://127.0.0.1:8080/websub>; rel=\"hub\", <http://127.0.0.1:8080{path}>; rel=\"self\""
            )
        );
        let body = response.text().await.unwrap();
        assert!(body.contains(needle), "{path}");
        assert!(body.contains("http://127.0.0.1:8080/websub"), "{path}");
    }
    let page = client()
        .get(url(&server, "/opinion/"))
        .send()
        .await
        .unwrap();
    assert!(page.headers().get("link").is_none(), "pages are not topics");
}

#[tokio::test]
async fn a_verified_subscriber_gets_signed_pushes_of_the_new_bytes() {
    let site = site();
    let server = site.serve();
    let subscriber = Subscriber::start();
    let callback = subscriber.callback("/cb?feed=opinion");
    subscribe(&server, &callback, Some("s3cret"), 1).await;
    let verification = subscriber.hits("GET").remove(0);
    assert!(verification
        .target
        .starts_with("/cb?feed=opinion&hub.mode=subscribe&"));
    assert_eq!(verification.query("hub.topic").as_deref(), Some(TOPIC));
    assert_eq!(
        verification.query("hub.lease_seconds").as_deref(),
        Some("864000")
    );
    assert!(verification.query("hub.challenge").unwrap().len() >= 32);

    edit(&site, &server, "A correction, pushed.");
    let push = pushes_within(&subscriber, 1, Duration::from_secs(2))
        .await
        .remove(0);
    let served = client()
        .get(url(&server, "/opinion/rss.xml"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        push.body,
        served.to_vec(),
        "the push is the feed as served now"
    );
    assert!(String::from_utf8_lossy(&push.body).contains("A correction, pushed."));
    assert_eq!(
        push.header("x-hub-signature"),
        Some(signature("s3cret", &push.body).as_str())
    );
    assert_eq!(
        push.header("content-type"),
        Some("application/rss+xml; charset=utf-8")
    );
    assert!(push
        .header("link")
        .unwrap()
        .contains(&format!("<{TOPIC}>; rel=\"self\"")));
    assert_eq!(push.target, "/cb?feed=opinion");
}

#[tokio::test]
async fn unsubscribing_stops_pushes() {
    let site = site();
    let server = site.serve();
    let leaving = Subscriber::start();
    let staying = Subscriber::start();
    subscribe(&server, &leaving.callback("/"), None, 1).await;
    subscribe(&server, &staying.callback("/"), None, 2).await;
    let (status, body) = hub_request(
        &server,
        &[
            ("hub.mode", "unsubscribe"),
            ("hub.topic", TOPIC),
            ("hub.callback", &leaving.callback("/")),
        ],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    eventually(Duration::from_secs(5), "the unsubscription", || async {
        (websub_health(&server).await["subscriptions"] == 1).then_some(())
    })
    .await;
    assert_eq!(
        leaving.hits("GET")[1].query("hub.mode").as_deref(),
        Some("unsubscribe")
    );
    edit(&site, &server, "After the unsubscription.");
    // The staying subscriber's push was made after the leaving one's would have been queued.
    pushes_within(&staying, 1, Duration::from_secs(2)).await;
    assert!(leaving.hits("POST").is_empty());
}

#[tokio::test]
async fn a_failed_push_is_retried_and_gone_ends_the_subscription() {
    let site = site();
    let server = site.serve();
    let flaky = Subscriber::start();
    flaky.push_statuses.lock().unwrap().extend([500, 503]);
    let gone = Subscriber::start();
    gone.push_statuses.lock().unwrap().push_back(410);
    subscribe(&server, &flaky.callback("/"), None, 1).await;
    subscribe(&server, &gone.callback("/"), None, 2).await;
    edit(&site, &server, "Retried.");
    let pushes = pushes_within(&flaky, 3, Duration::from_secs(5)).await;
    assert_eq!(
        pushes[0].body, pushes[2].body,
        "a retry sends the same bytes"
    );
    pushes_within(&gone, 1, Duration::from_secs(2)).await;
    eventually(Duration::from_secs(5), "the 410 to end it", || async {
        let health = websub_health(&server).await;
        (health["subscriptions"] == 1 && health["pending_deliveries"] == 0).then_some(())
    })
    .await;
    assert_eq!(gone.hits("POST").len(), 1);
}

#[tokio::test]
async fn a_subscription_survives_a_restart() {
    let site = site();
    let subscriber = Subscriber::start();
    {
        let server = site.serve();
        subscribe(&server, &subscriber.callback("/"), Some("k"), 1).await;
        server.shutdown();
        crate::fixture::join_within(server, Duration::from_secs(15)).await;
    }
    assert!(site.path(".broadsheet/websub.sqlite3").is_file());
    let server = site.serve();
    assert_eq!(websub_health(&server).await["subscriptions"], 1);
    edit(&site, &server, "After the restart.");
    let push = pushes_within(&subscriber, 1, Duration::from_secs(2))
        .await
        .remove(0);
    assert_eq!(
        push.header("x-hub-signature"),
        Some(signature("k", &push.body).as_str())
    );
}

#[tokio::test]
async fn a_corrupt_database_stops_the_start() {
    let site = site();
    site.write_bytes(".broadsheet/websub.sqlite3", &[0x42; 4096]);
    let error = start_server(ServeOptions {
        root: site.root().to_path_buf(),
        bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: false,
        base_url: None,
    })
    .expect_err("no start on a corrupt database");
    assert!(matches!(error, StartError::Hub(_)), "{error}");
    assert!(error.to_string().contains("websub.sqlite3"), "{error}");
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_reason() {
    let site = site();
    let server = site.serve();
    let subscriber = Subscriber::start();
    let callback = subscriber.callback("/");
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
    let cases: &[Case<'_>] = &[
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", "http://127.0.0.1:8080/opinion/"),
                ("hub.callback", &callback),
            ],
            400,
            "not a feed of this site",
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", "http://elsewhere.example/rss.xml"),
                ("hub.callback", &callback),
            ],
            400,
            "not a feed of this site",
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", TOPIC),
                ("hub.callback", "ftp://127.0.0.1/"),
            ],
            400,
            "http or https",
        ),
        (
            &[("hub.mode", "subscribe"), ("hub.topic", TOPIC)],
            400,
            "hub.callback is missing",
        ),
        (
            &[
                ("hub.mode", "publish"),
                ("hub.topic", TOPIC),
                ("hub.callback", &callback),
            ],
            400,
            "hub.mode",
        ),
    ];
    for (form, status, reason) in cases {
        let (got, body) = hub_request(&server, form).await;
        assert_eq!(
            (got, body.contains(reason)),
            (*status, true),
            "{form:?}: {body}"
        );
    }
    let secret = "x".repeat(200);
    let (status, body) = hub_request(
        &server,
        &[
            ("hub.mode", "subscribe"),
            ("hub.topic", TOPIC),
            ("hub.callback", &callback),
            ("hub.secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let huge = client()
        .post(url(&server, "/websub"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status().as_u16(), 413);
    let wrong_type = client()
        .post(url(&server, "/websub"))
        .body("hub.mode=subscribe")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status().as_u16(), 415);
    assert!(
        subscriber.hits("GET").is_empty(),
        "no refused request is verified"
    );
}

#[tokio::test]
async fn private_callbacks_are_refused_by_default_and_never_contacted() {
    let site = Site::bundled();
    let server = site.serve();
    let subscriber = Subscriber::start();
    for callback in [
        subscriber.callback("/"),
        "http://localhost:9/".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://169.254.169.254/latest".to_string(),
        "http://[::1]:9/".to_string(),
    ] {
        let (status, body) = hub_request(
            &server,
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", TOPIC),
                ("hub.callback", &callback),
            ],
        )
        .await;
        assert_eq!(status, 403, "{callback}: {body}");
        assert!(body.contains("does not contact"), "{body}");
    }
    assert!(subscriber.hits("GET").is_empty());
}

#[tokio::test]
async fn export_pings_external_hubs_for_changed_feeds_only() {
    let hub = Subscriber::start();
    let site = Site::bundled();
    site.append(
        "config.toml",
        &format!("\n[websub]\nhubs = [\"{}\"]\n", hub.callback("/hub")),
    );
    let public = site.export();
    let rss = std::fs::read_to_string(public.join("opinion/rss.xml")).unwrap();
    assert!(
        rss.contains(&format!("href=\"{}\" rel=\"hub\"", hub.callback("/hub"))),
        "{rss}"
    );
    let first = hub.hits("POST");
    let feeds = site
        .build()
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Feed)
        .count();
    assert_eq!(first.len(), feeds, "every feed is new at the first export");
    let ping = &first[0];
    assert_eq!(ping.target, "/hub");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&ping.body)
        .into_owned()
        .collect();
    assert_eq!(form[0], ("hub.mode".to_string(), "publish".to_string()));
    assert!(form[1].1.starts_with("http://127.0.0.1:8080/"));

    site.export();
    assert_eq!(
        hub.hits("POST").len(),
        feeds,
        "nothing changed, nothing pinged"
    );

    let text = site.read(ARTICLE);
    site.save(ARTICLE, &format!("{text}\nA change to ping for.\n"));
    site.export();
    let mut pinged: Vec<String> = hub.hits("POST")[feeds..]
        .iter()
        .map(|hit| {
            url::form_urlencoded::parse(&hit.body)
                .find(|(k, _)| k == "hub.url")
                .map(|(_, v)| v.into_owned())
                .unwrap()
        })
        .collect();
    pinged.sort();
    // The feeds that show the edited article: the site's, its section's,
    // its author's and its tags'; no other.
    let expected: Vec<String> = [
        "atom.xml",
        "authors/tang-zhexiao/atom.xml",
        "authors/tang-zhexiao/feed.json",
        "authors/tang-zhexiao/rss.xml",
        "feed.json",
        "opinion/atom.xml",
        "opinion/feed.json",
        "opinion/rss.xml",
        "rss.xml",
        "tags/china-russia-relations/atom.xml",
        "tags/china-russia-relations/feed.json",
        "tags/china-russia-relations/rss.xml",
        "tags/energy/atom.xml",
        "tags/energy/feed.json",
        "tags/energy/rss.xml",
    ]
    .iter()
    .map(|path| format!("http://127.0.0.1:8080/{path}"))
    .collect();
    assert_eq!(pinged, expected);

    // A hub that fails is a warning, not a failed export.
    hub.push_statuses.lock().unwrap().extend([500; 32]);
    site.save(ARTICLE, &format!("{text}\nAnother change.\n"));
    let output = site.run(&["export"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: WebSub hub") && stderr.contains("500"),
        "{stderr}"
    );
}

type TestCa = rcgen::CertifiedIssuer<'static, rcgen::KeyPair>;

/// A CA made for one test, trusted by the hubs started after this call
/// (through the library's test hook, which only adds a root).
fn trusted_test_ca() -> TestCa {
    let ca = test_ca();
    trust_websub_root_for_tests(ca.der());
    ca
}

/// A CA made for one test and trusted by nobody.
fn test_ca() -> TestCa {
    let key = rcgen::KeyPair::generate().expect("a CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "broadsheet test CA");
    rcgen::CertifiedIssuer::self_signed(params, key).expect("a CA certificate")
}

#[tokio::test]
async fn an_https_subscriber_is_verified_and_pushed_over_tls_naming_its_host() {
    let ca = trusted_test_ca();
    let site = site();
    let server = site.serve();
    let subscriber = Subscriber::start_tls("localhost", &ca);
    let callback = format!("https://localhost:{}/cb?over=tls", subscriber.addr.port());
    subscribe(&server, &callback, Some("tls-secret"), 1).await;
    let verification = subscriber.hits("GET").remove(0);
    assert!(verification
        .target
        .starts_with("/cb?over=tls&hub.mode=subscribe&"));
    assert_eq!(
        subscriber.server_names.lock().unwrap()[0].as_deref(),
        Some("localhost"),
        "the handshake names the callback's host (SNI)"
    );

    edit(&site, &server, "Pushed over TLS.");
    let push = pushes_within(&subscriber, 1, Duration::from_secs(5))
        .await
        .remove(0);
    assert!(String::from_utf8_lossy(&push.body).contains("Pushed over TLS."));
    assert_eq!(
        push.header("x-hub-signature"),
        Some(signature("tls-secret", &push.body).as_str())
    );
    assert_eq!(subscriber.failed_handshakes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn https_callbacks_with_an_untrusted_or_misnamed_certificate_are_never_subscribed() {
    let trusted = trusted_test_ca();
    let site = site();
    let server = site.serve();
    let stranger = Subscriber::start_tls("localhost", &test_ca());
    let misnamed = Subscriber::start_tls("elsewhere.test", &trusted);
    for subscriber in [&stranger, &misnamed] {
        let callback = format!("https://localhost:{}/cb", subscriber.addr.port());
        let (status, body) = hub_request(
            &server,
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", TOPIC),
                ("hub.callback", &callback),
            ],
        )
        .await;
        assert_eq!(status, 202, "{body}");
        eventually(Duration::from_secs(5), "the refused handshake", || async {
            (subscriber.failed_handshakes.load(Ordering::SeqCst) > 0).then_some(())
        })
        .await;
        assert!(
            subscriber.hits.lock().unwrap().is_empty(),
            "no request was sent"
        );
    }
    assert_eq!(websub_health(&server).await["subscriptions"], 0);
}

/// A child process killed when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to `limit` for a line of `lines` starting with `prefix`;
/// fails with what the process said on stderr when none comes.
fn line_starting(
    lines: &std::sync::mpsc::Receiver<String>,
    prefix: &str,
    limit: Duration,
    stderr: &std::path::Path,
) -> String {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(_) => {}
            Err(e) => panic!(
                "the Python subscriber never said `{prefix}` ({e}); its stderr:\n{}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            ),
        }
    }
}

/// Interop with a subscriber written elsewhere: Flask-WebSub (PyPI
/// `flask-websub`, installed by `.ci/run`) discovers the hub from a feed's
/// `Link` header, subscribes, answers the hub's verification, and gets the
/// new bytes pushed after an edit.
#[tokio::test]
async fn flask_websub_subscribes_and_receives_the_push() {
    let script = crate::fixture::repo_root().join("tests/interop/flask_websub_subscriber.py");
    let probe = std::process::Command::new("python3")
        .args(["-c", "import flask_websub, flask, requests"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "Flask-WebSub is not importable (`.ci/run` installs it: python3 -m pip install flask-websub==0.4.1): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("python3 cannot be run ({e}); `.ci/run` expects it on the machine"),
    }

    let site = site();
    // The bound address as base URL: the Link header then names this server's hub.
    let server = start_server(ServeOptions {
        root: site.root().to_path_buf(),
        bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: false,
        base_url: None,
    })
    .expect("server starts");
    let feed = url(&server, "/opinion/rss.xml");
    let data = tempfile::tempdir().expect("a directory for the subscriber");
    let stderr_path = data.path().join("stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = Child(
        std::process::Command::new("python3")
            .arg(&script)
            .arg(&feed)
            .arg(data.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("python3 starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });

    let asked = line_starting(&lines, "ASKED ", Duration::from_secs(20), &stderr_path);
    assert_eq!(asked, format!("ASKED {} {feed}", url(&server, "/websub")));
    let subscribed = line_starting(&lines, "SUBSCRIBED ", Duration::from_secs(10), &stderr_path);
    assert_eq!(subscribed, format!("SUBSCRIBED {feed}"));
    // The subscriber says so while answering; the hub stores it after the answer.
    eventually(Duration::from_secs(5), "the subscription", || async {
        (websub_health(&server).await["subscriptions"] == 1).then_some(())
    })
    .await;

    edit(&site, &server, "Pushed to Flask-WebSub.");
    let push = line_starting(&lines, "PUSH ", Duration::from_secs(10), &stderr_path);
    let body = std::fs::read(data.path().join(format!("push-{}", &push[5..]))).expect("the push");
    let served = client()
        .get(&feed)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        body,
        served.to_vec(),
        "Flask-WebSub got the feed as served now"
    );
    assert!(String::from_utf8_lossy(&body).contains("Pushed to Flask-WebSub."));
    drop(child);
}

/// A delivery the callback refused (`500`) is kept in the database while
/// the server is stopped, and tried again by the next server on the same
/// data directory: the subscriber gets the new bytes after the restart.
#[tokio::test]
async fn a_pending_delivery_is_retried_after_a_restart() {
    let site = Site::bundled();
    site.append(
        "config.toml",
        "\n[websub]\nallow_private_callbacks = true\nfirst_retry_ms = 500\n",
    );
    let subscriber = Subscriber::start();
    // Every push fails while the first server runs.
    subscriber
        .push_statuses
        .lock()
        .unwrap()
        .extend(std::iter::repeat_n(500, 1000));
    let refused = {
        let server = site.serve();
        subscribe(&server, &subscriber.callback("/"), Some("kept"), 1).await;
        edit(&site, &server, "Delivered after the restart.");
        pushes_within(&subscriber, 1, Duration::from_secs(5)).await;
        eventually(Duration::from_secs(5), "the delivery pending", || async {
            (websub_health(&server).await["pending_deliveries"] == 1).then_some(())
        })
        .await;
        server.shutdown();
        crate::fixture::join_within(server, Duration::from_secs(15)).await;
        subscriber.hits("POST").len()
    };
    // The callback is healthy again before the next server starts.
    subscriber.push_statuses.lock().unwrap().clear();
    let server = site.serve();
    let pushes = pushes_within(&subscriber, refused + 1, Duration::from_secs(15)).await;
    let retried = &pushes[refused];
    assert!(String::from_utf8_lossy(&retried.body).contains("Delivered after the restart."));
    assert_eq!(
        retried.header("x-hub-signature"),
        Some(signature("kept", &retried.body).as_str()),
        "the secret survived the restart too"
    );
    eventually(
        Duration::from_secs(5),
        "the delivery to be done",
        || async {
            let health = websub_health(&server).await;
            (health["pending_deliveries"] == 0 && health["subscriptions"] == 1).then_some(())
        },
    )
    .await;
    assert_eq!(subscriber.hits("POST").len(), refused + 1, "delivered once");
}

/// Most public hubs are https: `broadsheet export` pings them over TLS,
/// naming the hub's host in the handshake. The binary trusts the test's CA
/// through `SSL_CERT_FILE`, which it reads, as OpenSSL does, instead of the
/// system's store.
#[tokio::test]
async fn export_pings_an_https_hub_over_tls() {
    let ca = test_ca();
    let hub = Subscriber::start_tls("localhost", &ca);
    let hub_url = format!("https://localhost:{}/hub", hub.addr.port());
    let site = Site::bundled();
    site.append(
        "config.toml",
        &format!("\n[websub]\nhubs = [\"{hub_url}\"]\n"),
    );
    site.write("test-ca.pem", &ca.pem());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .current_dir(site.root())
        .arg("export")
        .env("RUST_LOG", "warn")
        .env("SSL_CERT_FILE", site.path("test-ca.pem"))
        .output()
        .expect("run broadsheet");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("warning: WebSub hub"), "{stderr}");
    let feeds = site
        .build()
        .resources
        .values()
        .filter(|r| r.kind == ResourceKind::Feed)
        .count();
    let pings = hub.hits("POST");
    assert_eq!(pings.len(), feeds, "every feed pinged over TLS");
    assert!(
        url::form_urlencoded::parse(&pings[0].body).any(|(k, v)| k == "hub.mode" && v == "publish")
    );
    let names = hub.server_names.lock().unwrap().clone();
    assert!(
        names.iter().all(|n| n.as_deref() == Some("localhost")),
        "{names:?}"
    );
    assert_eq!(hub.failed_handshakes.load(Ordering::SeqCst), 0);
}

/// An article dated a few seconds ahead is published when it falls due,
/// with no edit and no reload asked for, and that build pushes the feed
/// that now holds it.
#[tokio::test]
async fn a_scheduled_article_is_pushed_when_it_falls_due() {
    let site = site();
    // Whole seconds, as the front matter gives it.
    let due =
        chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 3, 0).expect("a date");
    site.write(
        "content/opinion/scheduled-column.md",
        &format!(
            "+++\ntitle = \"A column published on time\"\ndate = {}\n+++\n\nDue now.\n",
            due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    );
    let server = site.serve();
    let subscriber = Subscriber::start();
    subscribe(&server, &subscriber.callback("/cb"), None, 1).await;
    assert!(
        subscriber.hits("POST").is_empty(),
        "nothing pushed before it is due"
    );
    let push = pushes_within(&subscriber, 1, Duration::from_secs(15))
        .await
        .remove(0);
    assert!(
        chrono::Utc::now() >= due,
        "pushed before the article was due"
    );
    assert!(String::from_utf8_lossy(&push.body).contains("A column published on time"));
}
