//! Replicas that agree: two `broadsheet serve` processes, each on its own
//! copy of the same content (the files' times set apart by years, as two
//! clones of one commit would be), behind nginx as a round-robin load
//! balancer with the README's upstream block
//! (`tests/replicas/nginx-upstream.conf.in`). A poller that goes through
//! nginx, and so alternates between them, gets the same `ETag` and
//! `Last-Modified` from both for every resource and encoding, and `304`
//! from both when it sends them back.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::fixture::{client, repo_root, spawn_serving, ServingBinary, Site};

/// nginx, stopped when dropped.
struct Nginx(Child, tempfile::TempDir);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx_binary() -> String {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(candidate).exists() {
            return candidate.to_string();
        }
    }
    panic!("nginx is missing: `apt-get install nginx` (bash .ci/run does)")
}

/// nginx on `port` balancing over `replicas` with the README's block; the
/// test's copy also names, in `X-Upstream`, the replica that answered.
fn start_nginx(port: u16, replicas: [SocketAddr; 2]) -> Nginx {
    let dir = tempfile::tempdir().expect("a folder");
    let template =
        std::fs::read_to_string(repo_root().join("tests/replicas/nginx-upstream.conf.in"))
            .expect("the upstream template");
    let server = template
        .replace("@PORT@", &format!("127.0.0.1:{port}"))
        .replace("@REPLICA_1@", &replicas[0].to_string())
        .replace("@REPLICA_2@", &replicas[1].to_string())
        .replace(
            "proxy_pass http://broadsheet;",
            "proxy_pass http://broadsheet;\n        add_header X-Upstream $upstream_addr always;",
        );
    assert!(
        server.contains("X-Upstream"),
        "the template has its proxy_pass line"
    );
    std::fs::write(dir.path().join("server.conf"), server).unwrap();
    let prefix = dir.path().display().to_string();
    let main = std::fs::read_to_string(repo_root().join("bench/nginx.conf.in"))
        .expect("the benchmark's nginx.conf.in")
        .replace("@PREFIX@", &prefix)
        .replace("@SERVER@", &format!("{prefix}/server.conf"))
        // One process, no master: killing it on drop leaves no worker
        // behind (a killed master's workers outlive it, holding the port).
        .replace(
            "worker_processes auto;",
            "worker_processes 1;\nmaster_process off;",
        );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    let log = std::fs::File::create(dir.path().join("out.log")).unwrap();
    let child = Command::new(nginx_binary())
        .args(["-p", &prefix, "-c", &format!("{prefix}/nginx.conf"), "-e"])
        .arg(format!("{prefix}/error.log"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("run nginx");
    Nginx(child, dir)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port()
}

/// Sets the time of every file under `dir` to `time`.
fn touch_all(dir: &Path, time: SystemTime) {
    for entry in std::fs::read_dir(dir).expect("a folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            touch_all(&path, time);
        } else {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_modified(time))
                .expect("set the file's time");
        }
    }
}

fn replica(site: &Site) -> (ServingBinary, SocketAddr) {
    let (server, addr, _lines) = spawn_serving(
        Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--no-watch",
                "--base-url",
                "https://feeds.example.org/",
            ])
            .current_dir(site.root())
            .env("RUST_LOG", "warn"),
    );
    (server, addr)
}

const PHOTO: &str = "content/opinion/china-russia-energy-cooperation/pipeline.jpg";

const PATHS: [&str; 8] = [
    "/rss.xml",
    "/atom.xml",
    "/feed.json",
    "/feeds.opml",
    "/",
    "/opinion/rss.xml",
    "/opinion/china-russia-energy-cooperation/",
    "/opinion/china-russia-energy-cooperation/pipeline.jpg",
];

#[tokio::test]
async fn a_poller_alternating_between_two_replicas_behind_nginx_gets_304_from_both() {
    let a = Site::bundled();
    let b = Site::bundled();
    for site in [&a, &b] {
        site.write_bytes(PHOTO, b"\xff\xd8\xff\xe0 not much of a photo");
    }
    touch_all(
        &b.path("content"),
        SystemTime::now() - Duration::from_secs(3 * 365 * 86_400),
    );
    touch_all(
        &a.path("content"),
        SystemTime::now() - Duration::from_secs(86_400),
    );
    let (_a, a_addr) = replica(&a);
    let (_b, b_addr) = replica(&b);
    let port = free_port();
    let nginx = start_nginx(port, [a_addr, b_addr]);
    let front = format!("http://127.0.0.1:{port}");
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = client.get(format!("{front}/healthz")).send().await;
        if up.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nginx is not up: {}",
            std::fs::read_to_string(nginx.1.path().join("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answered_304 = BTreeSet::new();
    for path in PATHS {
        for coding in ["identity", "gzip", "br"] {
            // The validators from each replica directly: the same.
            let mut seen = Vec::new();
            for addr in [a_addr, b_addr] {
                let response = client
                    .get(format!("http://{addr}{path}"))
                    .header("accept-encoding", coding)
                    .send()
                    .await
                    .expect("a response");
                assert_eq!(response.status(), 200, "{addr}{path} {coding}");
                let field = |name: &str| response.headers()[name].to_str().unwrap().to_string();
                seen.push((field("etag"), field("last-modified")));
            }
            assert_eq!(seen[0], seen[1], "{path} ({coding}): the replicas disagree");
            let (etag, last_modified) = seen.remove(0);
            // Through nginx, four polls with each validator: round robin
            // sends them to both replicas, and each answers 304.
            for (name, value) in [
                ("if-none-match", &etag),
                ("if-modified-since", &last_modified),
            ] {
                for _ in 0..4 {
                    let response = client
                        .get(format!("{front}{path}"))
                        .header("accept-encoding", coding)
                        .header(name, value.as_str())
                        .send()
                        .await
                        .expect("a response");
                    let upstream = response.headers()["x-upstream"]
                        .to_str()
                        .unwrap()
                        .to_string();
                    assert_eq!(
                        response.status(),
                        304,
                        "{path} ({coding}, {name}) from {upstream}"
                    );
                    assert_eq!(
                        response.headers()["etag"],
                        etag.as_str(),
                        "{path} from {upstream}"
                    );
                    answered_304.insert(upstream);
                }
            }
        }
    }
    let both: BTreeSet<String> = [a_addr.to_string(), b_addr.to_string()].into();
    assert_eq!(answered_304, both, "both replicas answered 304s");
}
