//! ACME against Let's Encrypt's test server, pebble (Debian's `pebble`),
//! with real validation: pebble-challtestsrv answers pebble's DNS queries
//! for the test's domain with 127.0.0.1, and pebble connects to the ports
//! this server listens on to check the TLS-ALPN-01 certificate (or, in the
//! second test, the HTTP-01 answer on the plain-HTTP listener). The test
//! then trusts pebble's issuing root (from its management port) and checks
//! that the served certificate names the domain; a restart with pebble
//! gone serves the kept certificate at once; a short-lived certificate is
//! renewed before it expires while a connection stays open.
//!
//! Pebble serves its API over HTTPS with a certificate made here (`rcgen`);
//! broadsheet trusts it through `acme.directory_ca`.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::fixture::Site;
use crate::prelude::{start_server, RunningServer, ServeOptions};
use crate::tls::{leaf_of, tls_connect, Sender, TestCa};

const DOMAIN: &str = "broadsheet.test";

/// A process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 for TCP (and UDP, with `udp`), as far as
/// binding and releasing it can tell.
fn free_port(udp: bool) -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("a TCP port");
        let port = tcp.local_addr().expect("an address").port();
        if !udp || UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn spawn(program: &'static str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Process {
    let log = std::fs::File::create(dir.join(format!("{program}.log"))).expect("a log file");
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): `apt-get install pebble` (bash .ci/run does)")
        });
    Process(child)
}

/// Pebble and its DNS, running for one test.
struct Pebble {
    dns: Process,
    pebble: Process,
    dir: tempfile::TempDir,
    ca: TestCa,
    directory: String,
    management: SocketAddr,
}

impl Pebble {
    /// Starts pebble validating TLS-ALPN-01 on `tls_port` and HTTP-01 on
    /// `http_port`, both on 127.0.0.1, and waits until its directory answers.
    async fn start(tls_port: u16, http_port: u16) -> Pebble {
        Pebble::start_issuing_for(tls_port, http_port, None).await
    }

    /// As [`Pebble::start`], issuing certificates valid for `validity`
    /// seconds when given (pebble's default is five years). Its ports are
    /// found free by binding and releasing them, so a test running beside
    /// this one can take one in between: pebble (or its DNS) then exits
    /// saying the address is in use, and it is started again on other
    /// ports, a few times at most. Any other failure fails the test.
    async fn start_issuing_for(tls_port: u16, http_port: u16, validity: Option<u64>) -> Pebble {
        const ATTEMPTS: usize = 5;
        let mut taken = Vec::new();
        for _ in 0..ATTEMPTS {
            match Pebble::try_start(tls_port, http_port, validity).await {
                Ok(pebble) => return pebble,
                Err(log) => taken.push(log),
            }
        }
        panic!(
            "pebble found a port taken {ATTEMPTS} times: {}",
            taken.join("\n---\n")
        );
    }

    /// One attempt of [`Pebble::start_issuing_for`]: `Err` with the log
    /// when pebble or its DNS could not bind a port.
    async fn try_start(
        tls_port: u16,
        http_port: u16,
        validity: Option<u64>,
    ) -> Result<Pebble, String> {
        let dir = tempfile::tempdir().expect("a folder");
        let ca = TestCa::new();
        let (chain, key) = ca.leaf(&["localhost", "127.0.0.1"]);
        std::fs::write(dir.path().join("cert.pem"), chain).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let (api, management, dns, dns_management) = (
            free_port(false),
            free_port(false),
            free_port(true),
            free_port(false),
        );
        let mut config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{api}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": "cert.pem",
                "privateKey": "key.pem",
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        if let Some(seconds) = validity {
            config["pebble"]["certificateValidityPeriod"] = seconds.into();
        }
        std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let dns_address = format!("127.0.0.1:{dns}");
        let dns_process = spawn(
            "pebble-challtestsrv",
            &[
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &dns_address,
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{dns_management}"),
            ],
            dir.path(),
            &[],
        );
        let pebble = spawn(
            "pebble",
            &["-config", "pebble.json", "-dnsserver", &dns_address],
            dir.path(),
            // No sleeping before validation; no nonces refused at random,
            // so the test does not depend on the client's retry of them.
            &[("PEBBLE_VA_NOSLEEP", "1"), ("PEBBLE_WFE_NONCEREJECT", "0")],
        );
        let mut pebble = Pebble {
            dns: dns_process,
            pebble,
            dir,
            ca,
            directory: format!("https://127.0.0.1:{api}/dir"),
            management: SocketAddr::from(([127, 0, 0, 1], management)),
        };
        let api = SocketAddr::from(([127, 0, 0, 1], api));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for (name, process) in [
                ("pebble", &mut pebble.pebble),
                ("pebble-challtestsrv", &mut pebble.dns),
            ] {
                if let Ok(Some(status)) = process.0.try_wait() {
                    let log =
                        std::fs::read_to_string(pebble.dir.path().join(format!("{name}.log")))
                            .unwrap_or_default();
                    if log.contains("address already in use") {
                        return Err(log);
                    }
                    panic!("{name} exited ({status}): {log}");
                }
            }
            // Up when both of pebble's listeners answer and its DNS's
            // management port accepts. pebble-challtestsrv binds its DNS
            // ports before that port, and logs a failure to bind them
            // without exiting: its log says, once the port accepts.
            let up = |answer: Option<(StatusCode, bytes::Bytes)>| {
                answer.is_some_and(|(status, _)| status == StatusCode::OK)
            };
            if up(pebble.get(api, "/dir").await)
                && up(pebble.get(pebble.management, "/roots/0").await)
                && tokio::net::TcpStream::connect(("127.0.0.1", dns_management))
                    .await
                    .is_ok()
            {
                let dns_log =
                    std::fs::read_to_string(pebble.dir.path().join("pebble-challtestsrv.log"))
                        .unwrap_or_default();
                if dns_log.contains("address already in use") {
                    return Err(dns_log);
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pebble is not up: {}",
                pebble.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(pebble)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// `GET path` from pebble's HTTPS at `addr`.
    /// `None` when it cannot connect or does not answer within 5 seconds
    /// (whatever holds the port may not be pebble).
    async fn get(&self, addr: SocketAddr, path: &str) -> Option<(StatusCode, bytes::Bytes)> {
        let exchange = async {
            let stream = tls_connect(addr, "localhost", self.ca.root(), &[b"http/1.1"])
                .await
                .ok()?;
            let (status, _, body) = Sender::over(stream).await.get("localhost", path, &[]).await;
            Some((status, body))
        };
        tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .ok()
            .flatten()
    }

    /// The root pebble issues from.
    async fn issuing_root(&self) -> CertificateDer<'static> {
        let (status, pem) = self
            .get(self.management, "/roots/0")
            .await
            .expect("the roots");
        assert_eq!(status, StatusCode::OK);
        CertificateDer::from_pem_slice(&pem).expect("a PEM root")
    }
}

fn acme_site(pebble: &Pebble, more: &str) -> Site {
    let site = Site::bundled();
    std::fs::copy(pebble.dir.path().join("ca.pem"), site.path("pebble-ca.pem")).unwrap();
    site.append(
        "config.toml",
        &format!(
            "\n[server.tls]\n{more}acme = {{ domains = [\"{DOMAIN}\"], contact = \"admin@{DOMAIN}\", directory = \"{}\", directory_ca = \"pebble-ca.pem\"{} }}\n",
            pebble.directory,
            if more.contains("redirect_http") { ", challenge = \"http-01\"" } else { "" }
        ),
    );
    site
}

fn serve(site: &Site, port: u16) -> RunningServer {
    start_server(ServeOptions {
        root: site.root().to_path_buf(),
        bind: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        watch: false,
        base_url: None,
    })
    .expect("a server")
}

/// The names of the certificate served for `DOMAIN` at `addr`, trusting `root`,
/// once one is; panics after `limit`.
async fn served_names(
    addr: SocketAddr,
    root: CertificateDer<'static>,
    limit: Duration,
    log: impl Fn() -> String,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let stream = loop {
        match tls_connect(addr, DOMAIN, root.clone(), &[b"h2", b"http/1.1"]).await {
            Ok(stream) => break stream,
            Err(error) => assert!(
                Instant::now() < deadline,
                "no trusted certificate for {DOMAIN} within {limit:?}: {error}; pebble's log:\n{}",
                log()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let leaf = leaf_of(&stream);
    let mut sender = Sender::over(stream).await;
    let (status, _, _) = sender
        .get(&format!("{DOMAIN}:{}", addr.port()), "/rss.xml", &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, parsed) = x509_parser::parse_x509_certificate(&leaf).expect("a certificate");
    let names = parsed
        .subject_alternative_name()
        .expect("a SAN extension")
        .expect("names")
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(name) => Some(name.to_string()),
            _ => None,
        })
        .collect();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_is_obtained_over_tls_alpn_01_from_pebble_and_kept_across_a_restart() {
    let port = free_port(false);
    let pebble = Pebble::start(port, free_port(false)).await;
    let root = pebble.issuing_root().await;
    let site = acme_site(&pebble, "");
    let server = serve(&site, port);
    let names = served_names(
        server.local_addr(),
        root.clone(),
        Duration::from_secs(90),
        || pebble.log(),
    )
    .await;
    assert_eq!(names, [DOMAIN], "pebble log: {}", pebble.log());
    // The key and chain are kept, private, in the data directory.
    let kept: Vec<_> = walk(&site.path(".broadsheet/acme"));
    assert!(kept.iter().any(|p| p.ends_with("account.json")), "{kept:?}");
    assert!(
        kept.iter().any(|p| p.to_string_lossy().contains(DOMAIN)),
        "{kept:?}"
    );
    server.shutdown();
    crate::fixture::join_within(server, Duration::from_secs(30)).await;

    // Without pebble, a restart serves the kept certificate at once.
    drop(pebble);
    let server = serve(&site, port);
    let names = served_names(
        server.local_addr(),
        root,
        Duration::from_secs(5),
        String::new,
    )
    .await;
    assert_eq!(names, [DOMAIN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_is_obtained_over_http_01_on_the_redirect_listener() {
    let (port, http_port) = (free_port(false), free_port(false));
    let pebble = Pebble::start(port, http_port).await;
    let root = pebble.issuing_root().await;
    let site = acme_site(
        &pebble,
        &format!("redirect_http = \"127.0.0.1:{http_port}\"\n"),
    );
    let server = serve(&site, port);
    let names = served_names(server.local_addr(), root, Duration::from_secs(90), || {
        pebble.log()
    })
    .await;
    assert_eq!(names, [DOMAIN], "pebble log: {}", pebble.log());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn an_unreadable_directory_ca_stops_the_start_before_anything_listens() {
    let site = Site::bundled();
    site.append(
        "config.toml",
        "\n[server.tls]\nacme = { domains = [\"a.test\"], directory = \"https://127.0.0.1:9/dir\", directory_ca = \"missing.pem\" }\n",
    );
    let port = free_port(false);
    let error = start_server(ServeOptions {
        root: site.root().to_path_buf(),
        bind: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        watch: false,
        base_url: None,
    })
    .expect_err("no server");
    assert!(
        matches!(error, crate::prelude::StartError::Tls(_)),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("missing.pem:1: cannot read it"),
        "{error}"
    );
    // Nothing was left listening.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_is_renewed_at_two_thirds_of_its_life_while_a_connection_stays_open() {
    let port = free_port(false);
    // Valid for 30 s: renewed about 20 s after it is issued, 10 s before it
    // expires (a margin for a loaded machine).
    let pebble = Pebble::start_issuing_for(port, free_port(false), Some(30)).await;
    let root = pebble.issuing_root().await;
    let site = acme_site(&pebble, "");
    let server = serve(&site, port);
    let addr = server.local_addr();
    let names = served_names(addr, root.clone(), Duration::from_secs(90), || pebble.log()).await;
    assert_eq!(names, [DOMAIN]);
    let stream = tls_connect(addr, DOMAIN, root.clone(), &[b"h2"])
        .await
        .unwrap();
    let first = leaf_of(&stream);
    let authority = format!("{DOMAIN}:{}", addr.port());
    let mut held = Sender::over(stream).await;
    assert_eq!(held.get(&authority, "/", &[]).await.0, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        let stream = tls_connect(addr, DOMAIN, root.clone(), &[b"http/1.1"])
            .await
            .expect("a trusted certificate all along");
        let leaf = leaf_of(&stream);
        if leaf != first {
            break leaf;
        }
        assert!(
            Instant::now() < deadline,
            "not renewed within 60 s; pebble's log:\n{}",
            pebble.log()
        );
        // Used all along, so that keep_alive_timeout never closes it.
        assert_eq!(held.get(&authority, "/", &[]).await.0, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let (_, parsed) = x509_parser::parse_x509_certificate(&renewed).expect("a certificate");
    let (_, old) = x509_parser::parse_x509_certificate(&first).expect("a certificate");
    assert!(parsed.validity().not_after > old.validity().not_after);
    // The connection made before the renewal still works.
    assert_eq!(held.get(&authority, "/", &[]).await.0, StatusCode::OK);
}
