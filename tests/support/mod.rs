//! Helpers for the server's integration tests: a temporary copy of the
//! bundled site, a server started from the library on 127.0.0.1 port 0, an
//! HTTP client that does not decode or follow anything on its own, raw
//! requests for paths a client library would normalise, and polling with a
//! deadline instead of sleeping.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use broadsheet::server::{self, RunningServer, ServeOptions};
use tempfile::TempDir;

/// A copy of the repository's `config.toml` and `content/`, removed when dropped.
pub struct Site {
    dir: TempDir,
}

impl Site {
    /// The bundled site, with `server_settings` (TOML `key = value` lines)
    /// set in its `[server]` table.
    pub fn bundled(server_settings: &str) -> Site {
        let dir = TempDir::new().expect("temp dir");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = fs::read_to_string(repo.join("config.toml")).expect("read config.toml");
        let mut config: toml::Table = text.parse().expect("config.toml is TOML");
        let settings: toml::Table = server_settings.parse().expect("settings are TOML");
        let server = config
            .entry("server")
            .or_insert_with(|| toml::Table::new().into());
        server
            .as_table_mut()
            .expect("[server] is a table")
            .extend(settings);
        fs::write(dir.path().join("config.toml"), config.to_string()).expect("write config");
        copy_dir(&repo.join("content"), &dir.path().join("content"));
        Site { dir }
    }

    /// The site directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the site directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// The text of a file of the site.
    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).expect("read site file")
    }

    /// Replaces a file of the site the way an editor that saves through a
    /// temporary file does: write beside it, then rename over it.
    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        let temp = path.with_file_name(format!(
            ".{}.tmp",
            path.file_name().unwrap().to_string_lossy()
        ));
        fs::write(&temp, text).expect("write temp file");
        fs::rename(&temp, &path).expect("rename over file");
    }

    /// config.toml's `base_url`.
    pub fn configured_base_url(&self) -> broadsheet::config::BaseUrl {
        let config: toml::Table = self.read("config.toml").parse().expect("config is TOML");
        let text = config["base_url"].as_str().expect("base_url is a string");
        broadsheet::config::BaseUrl::parse(text).expect("base_url is a URL")
    }

    /// Misspells `title` as `tittle` in the article at `relative` (an
    /// unknown front matter field) and returns the line it is on, 1-based.
    pub fn misspell_title(&self, relative: &str) -> usize {
        let broken = self.read(relative).replacen("title = ", "tittle = ", 1);
        let line = broken
            .lines()
            .position(|l| l.starts_with("tittle = "))
            .expect("the article has a title")
            + 1;
        self.write(relative, &broken);
        line
    }

    /// Starts a server for this site on 127.0.0.1, port 0, publishing under
    /// config.toml's `base_url` (as `--base-url` would), so that what it
    /// serves is byte for byte what `build_dir` gives; `tests/site_url.rs`
    /// tests links that follow the bound port.
    pub fn serve(&self, watch: bool) -> RunningServer {
        // Server logs show with a failing test's output; RUST_LOG picks the level.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
            )
            .with_writer(std::io::stderr)
            .try_init();
        let options = ServeOptions {
            root: self.root().to_path_buf(),
            bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            watch,
            base_url: Some(self.configured_base_url()),
        };
        server::start(options).expect("server starts")
    }
}

#[path = "../common/mod.rs"]
mod common;
use common::copy_dir;

/// The URL of `path` on `server`.
pub fn url(server: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", server.local_addr())
}

/// An HTTP/1.1 client that neither decompresses nor follows redirects, so
/// tests see exactly what the server sent.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client")
}

/// Sends `request` as raw bytes on a new connection and reads until the
/// server closes it. For paths that a client library would normalise.
pub fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    String::from_utf8_lossy(&response).into_owned()
}

/// The status code of a raw HTTP/1.1 response.
pub fn raw_status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Calls `check` until it returns `Some`, or panics after `limit` naming `what`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `limit` for `server` to stop, on another thread so that an
/// async test's runtime keeps running meanwhile.
pub async fn join_within(server: RunningServer, limit: Duration) {
    let joined = tokio::task::spawn_blocking(move || server.join());
    tokio::time::timeout(limit, joined)
        .await
        .expect("server stops in time")
        .expect("join thread");
}

/// gzip-decoded bytes.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// brotli-decoded bytes.
pub fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}
