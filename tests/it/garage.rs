//! A real S3 server for the deploy tests: Garage (crates.io `garage`, an
//! S3-compatible object store), one node on loopback ports in a temporary
//! directory, started and stopped by the test. Readiness is awaited by
//! polling `garage status` and the S3 API, never by sleeping. When the
//! `garage` binary is missing or does not start, the test fails and says
//! why (`bash .ci/run` installs it where missing).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;
use tempfile::TempDir;

/// The bucket every test server has, and the key that may use it.
pub const BUCKET: &str = "site";
const KEY_ID: &str = "GK0123456789abcdef01234567";
const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const REGION: &str = "garage";

/// A running single-node Garage; killed when dropped.
pub struct Garage {
    child: Child,
    dir: TempDir,
    binary: PathBuf,
    /// `http://127.0.0.1:PORT`, its S3 API.
    pub endpoint: String,
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `garage` binary: on the PATH, or where `cargo install` puts it.
fn garage_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("garage"))
            .find(|path| path.is_file())
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    on_path
        .or_else(|| {
            cargo_home
                .map(|home| home.join("bin/garage"))
                .filter(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "the deploy tests need Garage, a real S3 server, and `garage` is not installed: \
                 run `bash .ci/run`, or `cargo install garage --locked --no-default-features \
                 --features bundled-libs,sqlite`"
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

impl Garage {
    /// Starts a node, gives it a layout, a bucket and a key; returns once
    /// its S3 API answers.
    pub fn start() -> Garage {
        let binary = garage_binary();
        let dir = TempDir::new().expect("temp dir");
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let config = format!(
            "metadata_dir = \"{meta}\"\n\
             data_dir = \"{data}\"\n\
             db_engine = \"sqlite\"\n\
             replication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_secret = \"{SECRET}\"\n\
             [s3_api]\n\
             s3_region = \"{REGION}\"\n\
             api_bind_addr = \"127.0.0.1:{s3}\"\n\
             root_domain = \".s3.garage.localhost\"\n\
             [admin]\n\
             api_bind_addr = \"127.0.0.1:{admin}\"\n",
            meta = dir.path().join("meta").display(),
            data = dir.path().join("data").display(),
        );
        fs::write(dir.path().join("garage.toml"), config).expect("write garage.toml");
        let log = fs::File::create(dir.path().join("garage.log")).expect("log file");
        let child = Command::new(&binary)
            .arg("-c")
            .arg(dir.path().join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut garage = Garage {
            child,
            dir,
            binary,
            endpoint: format!("http://127.0.0.1:{s3}"),
        };
        let status = garage.await_command(&["status"], Duration::from_secs(60));
        let node = garage.node_id(&status);
        garage.run_ok(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.run_ok(&["layout", "apply", "--version", "1"]);
        garage.await_command(&["bucket", "create", BUCKET], Duration::from_secs(30));
        garage.run_ok(&[
            "key",
            "import",
            "--yes",
            "-n",
            "deploy-test",
            KEY_ID,
            SECRET,
        ]);
        garage.run_ok(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", KEY_ID,
        ]);
        garage.await_s3();
        garage
    }

    fn command(&self, args: &[&str]) -> Output {
        Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap_or_else(|e| panic!("cannot run garage {args:?}: {e}"))
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let output = self.command(args);
        assert!(
            output.status.success(),
            "garage {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs `args` until it succeeds (the node is starting), or fails the
    /// test with the last output and the server's log after `limit`.
    fn await_command(&mut self, args: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("garage server exited ({status}):\n{}", self.log());
            }
            let output = self.command(args);
            if output.status.success() {
                return String::from_utf8_lossy(&output.stdout).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "garage {args:?} still failing after {limit:?}: {}\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The node's id: the first field of `garage node id`.
    fn node_id(&self, status: &str) -> String {
        let output = self.run_ok(&["node", "id", "-q"]);
        let id = output.trim().split('@').next().unwrap_or("").to_string();
        assert!(
            !id.is_empty(),
            "no node id in {output:?} (status: {status})"
        );
        id
    }

    /// Waits until the S3 API lists the bucket with the test's key.
    fn await_s3(&mut self) {
        let store = self.store();
        let runtime = runtime();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let listed = runtime.block_on(async {
                use futures_util::StreamExt;
                store.list(None).next().await.transpose()
            });
            match listed {
                Ok(_) => return,
                Err(error) => assert!(
                    Instant::now() < deadline,
                    "Garage's S3 API does not answer: {error}\n{}",
                    self.log()
                ),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }

    /// A client of the bucket, for the test to read what was deployed.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        crate::fixture::install_crypto_provider();
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_region(REGION)
                .with_bucket_name(BUCKET)
                .with_access_key_id(KEY_ID)
                .with_secret_access_key(SECRET)
                .with_allow_http(true)
                .build()
                .expect("an S3 client"),
        )
    }

    /// The environment of a `broadsheet deploy` to this server: the usual
    /// `AWS_*` variables, given to the child process only.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// The directory the server keeps its files in.
    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A runtime for the test's own S3 requests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}
