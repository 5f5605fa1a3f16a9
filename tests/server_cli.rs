//! `broadsheet serve` as operators run it: the built binary (not `cargo run`)
//! prints the address it bound and the feeds' URLs, reloads on `SIGHUP`, and
//! exits 0 on `SIGTERM` and `SIGINT`.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use support::{raw, raw_status, Site};

const ARTICLE: &str = "content/opinion/china-russia-energy-cooperation.md";

/// The running binary; killed if the test fails before it exits.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `broadsheet ARGS --root SITE --bind 127.0.0.1:0`; returns it, the
/// address it printed, and the lines printed after that one.
fn start(site: &Site, args: &[&str]) -> (Server, SocketAddr, Receiver<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .args(args)
        .arg("--root")
        .arg(site.root())
        .args(["--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run broadsheet");
    let mut server = Server(child);
    let stdout = server.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("UTF-8");
    let addr = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .parse()
        .expect("an address");
    // The feed list follows; read it on a thread so a full pipe never blocks the server.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (server, addr, rx)
}

/// Waits for `lines` to print `expected`.
fn printed(lines: &Receiver<String>, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line == expected {
            return;
        }
    }
    panic!("{expected:?} was not printed");
}

fn signal(server: &Server, name: &str) {
    // The shell's built-in `kill`, so no separate package is needed.
    let command = format!("kill -s {name} {}", server.0.id());
    let status = Command::new("sh").args(["-c", &command]).status().unwrap();
    assert!(status.success(), "{command}");
}

fn wait_for_exit(server: &mut Server, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn serve_prints_its_address_and_feeds_reloads_on_sighup_and_exits_0_on_sigterm() {
    let site = Site::bundled("");
    let (mut server, addr, lines) = start(&site, &["serve", "--no-watch"]);
    printed(&lines, &format!("  http://{addr}/opinion/atom.xml"));
    printed(&lines, &format!("  http://{addr}/rss.xml"));
    assert_eq!(raw_status(&get(addr, "/rss.xml")), 200);

    let text = format!("{}\nAdded before SIGHUP.\n", site.read(ARTICLE).trim_end());
    site.write(ARTICLE, &text);
    signal(&server, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !get(addr, "/opinion/rss.xml").contains("Added before SIGHUP.") {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }

    signal(&server, "TERM");
    let status = wait_for_exit(&mut server, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
}

#[test]
fn no_subcommand_serves_and_sigint_exits_0() {
    let site = Site::bundled("");
    let (mut server, addr, _) = start(&site, &[]);
    assert_eq!(raw_status(&get(addr, "/healthz")), 200);
    signal(&server, "INT");
    let status = wait_for_exit(&mut server, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
}

#[test]
fn broken_site_is_not_served() {
    let site = Site::bundled("");
    let broken = site.read(ARTICLE).replacen("title = ", "tittle = ", 1);
    let line = broken
        .lines()
        .position(|l| l.starts_with("tittle = "))
        .unwrap()
        + 1;
    site.write(ARTICLE, &broken);
    let output = Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .args(["serve", "--bind", "127.0.0.1:0", "--root"])
        .arg(site.root())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("china-russia-energy-cooperation.md:{line}: unknown field `tittle`");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing printed as listening");
}
