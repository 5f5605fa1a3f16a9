//! Fixture sites for the integration tests, and the ways to use one.
//!
//! A [`Site`] is a site directory in a temporary folder, removed when
//! dropped: a copy of the repository's bundled site (optionally with
//! `[server]` settings merged in), a copy of `tests/fixtures/<name>/`, or a
//! minimal site built up file by file. It is then built in this process
//! ([`Site::build`]), exported by the real binary ([`Site::export`],
//! [`Site::run`]) or served in this process on 127.0.0.1 port 0
//! ([`Site::serve`]).
//!
//! Beside it: what the server's tests share (an HTTP client that changes
//! nothing it receives, raw requests, polling with a deadline, decoders),
//! and [`in_own_process`] for the tests that need a process to themselves.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tempfile::TempDir;

use crate::prelude::{build_dir, start_server, BaseUrl, BuiltSet, RunningServer, ServeOptions};

/// The repository's root, where `config.toml`, `content/` and `README.md` live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `config.toml` of [`Site::minimal`], for tests that extend it.
pub const MINIMAL_CONFIG: &str = include_str!("../fixtures/minimal/config.toml");

/// A site directory in a temporary folder, removed when dropped.
pub struct Site {
    dir: TempDir,
}

impl Site {
    /// An empty directory: not a site until files are written to it.
    pub fn empty() -> Site {
        Site {
            dir: TempDir::new().expect("create temp dir"),
        }
    }

    /// A copy of `tests/fixtures/<name>/`.
    pub fn fixture(name: &str) -> Site {
        let site = Site::empty();
        copy_dir(&repo_root().join("tests/fixtures").join(name), site.root());
        site
    }

    /// A site with only a `config.toml` (`tests/fixtures/minimal/`) and an
    /// empty `content/`.
    pub fn minimal() -> Site {
        let site = Site::fixture("minimal");
        fs::create_dir_all(site.path("content")).expect("create content/");
        site
    }

    /// A copy of the repository's bundled site: `config.toml` and `content/`.
    pub fn bundled() -> Site {
        Site::bundled_with_server("")
    }

    /// The bundled site with `server_settings` (TOML `key = value` lines)
    /// set in its `[server]` table.
    pub fn bundled_with_server(server_settings: &str) -> Site {
        let site = Site::empty();
        let config = fs::read_to_string(repo_root().join("config.toml")).expect("read config.toml");
        let config = if server_settings.is_empty() {
            // As it is, comments and all, for tests that edit its text.
            config
        } else {
            let mut config: toml::Table = config.parse().expect("config.toml is TOML");
            let settings: toml::Table = server_settings.parse().expect("settings are TOML");
            config
                .entry("server")
                .or_insert_with(|| toml::Table::new().into())
                .as_table_mut()
                .expect("[server] is a table")
                .extend(settings);
            config.to_string()
        };
        site.write("config.toml", &config);
        copy_dir(&repo_root().join("content"), &site.path("content"));
        site
    }

    /// The site's root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the site.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Reads a file of the site as text.
    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// Writes `text` to `relative`, creating folders as needed.
    pub fn write(&self, relative: &str, text: &str) -> &Site {
        self.write_bytes(relative, text.as_bytes())
    }

    /// Writes raw bytes to `relative`, creating folders as needed.
    pub fn write_bytes(&self, relative: &str, bytes: &[u8]) -> &Site {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(path, bytes).expect("write fixture file");
        self
    }

    /// Adds `text` at the end of the file at `relative`.
    pub fn append(&self, relative: &str, text: &str) -> &Site {
        let whole = self.read(relative) + text;
        self.write(relative, &whole)
    }

    /// Adds a section folder with its `_index.md`.
    pub fn section(&self, slug: &str, title: &str) -> &Site {
        self.write(
            &format!("content/{slug}/_index.md"),
            &format!("+++\ntitle = \"{title}\"\n+++\n"),
        )
    }

    /// Replaces a file of the site the way an editor that saves through a
    /// temporary file does: write beside it, then rename over it.
    pub fn save(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        let temp = path.with_file_name(format!(
            ".{}.tmp",
            path.file_name().expect("a file name").to_string_lossy()
        ));
        fs::write(&temp, text).expect("write temp file");
        fs::rename(&temp, &path).expect("rename over file");
    }

    /// Misspells `title` as `tittle` in the article at `relative` (an
    /// unknown front matter field), saved as an editor does, and returns the
    /// line it is on, 1-based.
    pub fn misspell_title(&self, relative: &str) -> usize {
        let broken = self.read(relative).replacen("title = ", "tittle = ", 1);
        let line = broken
            .lines()
            .position(|l| l.starts_with("tittle = "))
            .expect("the article has a title")
            + 1;
        self.save(relative, &broken);
        line
    }

    /// Builds the site in this process as of now; panics with the errors if it has any.
    pub fn build(&self) -> BuiltSet {
        self.build_at(Utc::now())
    }

    /// Builds the site in this process as of `now`; panics with the errors if it has any.
    pub fn build_at(&self, now: DateTime<Utc>) -> BuiltSet {
        build_dir(self.root(), now)
            .unwrap_or_else(|errors| panic!("the site has errors:\n{errors}"))
    }

    /// Runs the `broadsheet` binary from the site's root, so that `--root`
    /// defaults to it.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .current_dir(self.root())
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run broadsheet")
    }

    /// Runs `broadsheet export` and returns the export directory; panics
    /// with the output on failure.
    pub fn export(&self) -> PathBuf {
        let output = self.run(&["export"]);
        assert!(
            output.status.success(),
            "export failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.path("public")
    }

    /// Starts a server for this site in this process on 127.0.0.1, port 0;
    /// it rebuilds only when asked ([`RunningServer::reload`]) or when a
    /// later-dated article is due.
    pub fn serve(&self) -> RunningServer {
        self.start(false)
    }

    /// As [`Site::serve`], and the server rebuilds when a file changes.
    pub fn serve_watching(&self) -> RunningServer {
        self.start(true)
    }

    fn start(&self, watch: bool) -> RunningServer {
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
        start_server(options).expect("server starts")
    }

    /// config.toml's `base_url`: the test servers publish under it (as
    /// `--base-url` would), so that what they serve is byte for byte what
    /// `build_dir` gives; `site_url.rs` tests links that follow the bound port.
    pub fn configured_base_url(&self) -> BaseUrl {
        let config: toml::Table = self.read("config.toml").parse().expect("config is TOML");
        let text = config["base_url"].as_str().expect("base_url is a string");
        BaseUrl::parse(text).expect("base_url is a URL")
    }
}

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// Every file under `dir`, as sorted relative paths with their bytes.
pub fn files_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn collect(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                collect(root, &path, files);
            } else {
                let bytes = fs::read(&path).expect("read file");
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                files.push((relative, bytes));
            }
        }
    }
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    files
}

/// Parses a feed with `feed-rs`, an independent parser.
pub fn parse_feed(bytes: &[u8]) -> feed_rs::model::Feed {
    feed_rs::parser::parse(bytes).unwrap_or_else(|e| panic!("feed-rs cannot parse the feed: {e}"))
}

/// The URL of `path` on `server`.
pub fn url(server: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", server.local_addr())
}

/// An HTTP/1.1 client that neither decompresses nor follows redirects, so
/// tests see exactly what the server sent.
pub fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client")
}

/// Makes ring rustls's process-wide crypto provider, which reqwest's
/// clients need: the library builds reqwest with rustls and no provider of
/// its own (`deploy` installs ring's too). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
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

/// Set in a child process of this test binary to the name of the one test
/// it was started to run.
const ALONE: &str = "BROADSHEET_TEST_ALONE";

/// Runs `test` in a process of its own: a child process of this test binary
/// that runs only the test `name` (its path without the crate name, as
/// `cargo test --test it -- --list` shows it), which then calls `test`.
///
/// All the integration tests share this process and run on parallel
/// threads; this is for the few that a neighbour would disturb or starve: a
/// test that counts the process's open descriptors or threads, or one that
/// holds thousands of descriptors. The child's output is passed on.
pub fn in_own_process(name: &str, test: impl FnOnce()) {
    if std::env::var_os(ALONE).is_some_and(|alone| alone == name) {
        return test();
    }
    let output = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, name)
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "{name} failed in its own process:\n{stdout}"
    );
    // A misspelt name runs nothing, and passes.
    assert!(
        stdout.contains("test result: ok. 1 passed;"),
        "{name} did not run in its own process:\n{stdout}"
    );
}

/// The `broadsheet` binary serving, started by [`spawn_serving`]; killed
/// if the test ends (or fails) before it exits.
pub struct ServingBinary(pub std::process::Child);

impl Drop for ServingBinary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `command` (the binary with `serve` arguments) with its stdout
/// piped; returns it, the address it printed on its first line
/// (`listening on http://ADDR`, or `https://`), and the lines it prints after that one,
/// read on a thread so a full pipe never blocks the server.
pub fn spawn_serving(
    command: &mut Command,
) -> (ServingBinary, SocketAddr, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run broadsheet");
    let mut server = ServingBinary(child);
    let stdout = server.0.stdout.take().expect("stdout is piped");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("UTF-8");
    let addr = first
        .strip_prefix("listening on http://")
        .or_else(|| first.strip_prefix("listening on https://"))
        .unwrap_or_else(|| panic!("first line: {first}"))
        .parse()
        .expect("an address");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (server, addr, rx)
}
