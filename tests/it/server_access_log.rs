//! The access log of the running binary: one line per request, written by a
//! thread of its own, every line on stderr before the process exits on
//! `SIGTERM` or `SIGINT`, and `/healthz` counting the lines dropped (none
//! here).

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::fixture::{raw, raw_status, spawn_serving, ServingBinary as Server, Site};

/// Starts `broadsheet serve` with its default log level, stderr to `log`.
fn start(site: &Site, log: &std::path::Path) -> (Server, SocketAddr) {
    let (server, addr, _) = spawn_serving(
        Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .args(["serve", "--no-watch", "--root"])
            .arg(site.root())
            .args(["--bind", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .stderr(std::fs::File::create(log).expect("a log file")),
    );
    (server, addr)
}

fn get(addr: SocketAddr, path: &str) -> String {
    raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

fn stop(mut server: Server, signal: &str) {
    let command = format!("kill -s {signal} {}", server.0.id());
    let status = Command::new("sh").args(["-c", &command]).status().unwrap();
    assert!(status.success(), "{command}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn every_line_is_written_before_exit_on(signal: &str) {
    let site = Site::bundled();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let (server, addr) = start(&site, &log);
    let health = get(addr, "/healthz");
    assert!(health.contains("\"access_log_dropped\": 0"), "{health}");
    let requests = 300;
    for _ in 0..requests {
        assert_eq!(raw_status(&get(addr, "/rss.xml")), 200);
    }
    // At once: the last lines are still queued.
    stop(server, signal);

    let text = std::fs::read_to_string(&log).unwrap();
    let access: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(" INFO broadsheet::access: "))
        .collect();
    // The requests, and the first /healthz.
    assert_eq!(access.len(), requests + 1, "{text}");
    assert!(access[0].contains("method=GET path=/healthz status=200"));
    assert!(
        access[requests].contains("path=/rss.xml status=200 bytes="),
        "{}",
        access[requests]
    );
    assert!(access[requests].ends_with(" version=HTTP/1.1"));
    let last_access = text.rfind("broadsheet::access").unwrap();
    let stopped = text.rfind("stopped").expect("the last line");
    assert!(last_access < stopped, "every line before the process ends");
    assert!(!text.contains("dropped"), "{text}");
}

#[test]
fn every_access_log_line_is_written_before_exit_on_sigterm() {
    every_line_is_written_before_exit_on("TERM");
}

#[test]
fn every_access_log_line_is_written_before_exit_on_sigint() {
    every_line_is_written_before_exit_on("INT");
}
