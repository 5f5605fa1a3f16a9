//! A certificate and key from PEM files (`[server.tls] cert`, `key`), read
//! at start and again whenever either file changes, or on `SIGHUP`.
//!
//! Changes are found by looking at both files' stamps (size, times, inode,
//! following symbolic links) once a second rather than through file-system
//! events: certbot replaces a symbolic link in `live/`, Kubernetes swaps a
//! `..data` link over a whole directory, and an events watch on the files'
//! folder misses the first and sees the second as unrelated files; two
//! `stat` calls a second see both.
//!
//! A pair that does not load (the certificate renewed but the key not yet
//! written, a half-written file) leaves the certificate in use as it was and
//! logs why; it is tried again at the next change, and, while the files
//! changed within the last two seconds, at the next look too, since a write
//! caught halfway may be finished without changing a stamp we can see.
//! Connections already open keep their session: a swap only changes what
//! the next handshake gets.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use super::{load_pem_files, Certificates};
use crate::diagnostic::Diagnostic;

/// How often the files' stamps are looked at.
const POLL: Duration = Duration::from_secs(1);

/// A write younger than this may still be under way.
const SETTLING: Duration = Duration::from_secs(2);

/// The certificate files and what was last loaded from them.
#[derive(Debug)]
pub(crate) struct CertificateFiles {
    cert: PathBuf,
    key: PathBuf,
    certificates: Arc<Certificates>,
    /// The stamps of the last attempt not to repeat (a load, or a failure on
    /// settled files).
    seen: Mutex<Option<Stamps>>,
}

/// What tells one version of the two files from another.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamps([Option<Stamp>; 2]);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    changed: (i64, i64),
    inode: (u64, u64),
}

impl CertificateFiles {
    /// Loads the pair into `certificates`; an error names the file at fault.
    pub(crate) fn load(
        cert: PathBuf,
        key: PathBuf,
        certificates: Arc<Certificates>,
    ) -> Result<CertificateFiles, Diagnostic> {
        let stamps = stamps(&cert, &key);
        let certified = load_pem_files(&cert, &key)?;
        certificates.install(Arc::new(certified));
        Ok(CertificateFiles {
            cert,
            key,
            certificates,
            seen: Mutex::new(Some(stamps)),
        })
    }

    /// Reads the pair again, whether or not it changed (`SIGHUP`).
    pub(crate) fn reload(&self) {
        let stamps = stamps(&self.cert, &self.key);
        self.try_load(stamps);
    }

    /// Reads the pair again if either file changed since the last look.
    pub(crate) fn reload_if_changed(&self) {
        let stamps = stamps(&self.cert, &self.key);
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if seen.as_ref() != Some(&stamps) {
            self.try_load(stamps);
        }
    }

    fn try_load(&self, stamps: Stamps) {
        let settled = stamps.settled(SystemTime::now());
        let outcome = load_pem_files(&self.cert, &self.key);
        let remember = match outcome {
            Ok(certified) => {
                self.certificates.install(Arc::new(certified));
                info!(
                    "TLS: certificate reloaded from {} and {}",
                    self.cert.display(),
                    self.key.display()
                );
                true
            }
            Err(error) => {
                if settled {
                    warn!("TLS: {error}; still serving the previous certificate");
                }
                settled
            }
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        *seen = remember.then_some(stamps);
    }

    /// Looks at the files every second until the returned watch is stopped.
    pub(crate) fn watch(self: &Arc<Self>) -> std::io::Result<Watch> {
        let (stop, stopped) = mpsc::channel::<()>();
        let files = self.clone();
        let thread = std::thread::Builder::new()
            .name("broadsheet-tls-files".to_string())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL) {
                    files.reload_if_changed();
                }
            })?;
        Ok(Watch {
            stop,
            thread: Some(thread),
        })
    }
}

/// The thread looking at the certificate files; stopped on drop.
#[derive(Debug)]
pub(crate) struct Watch {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Stamps {
    /// True when no file changed within [`SETTLING`] of `now`.
    fn settled(&self, now: SystemTime) -> bool {
        self.0.iter().flatten().all(|stamp| {
            stamp
                .modified
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age >= SETTLING)
        })
    }
}

fn stamps(cert: &Path, key: &Path) -> Stamps {
    Stamps([stamp(cert), stamp(key)])
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        changed: (metadata.ctime(), metadata.ctime_nsec()),
        inode: (metadata.dev(), metadata.ino()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    }

    #[test]
    fn a_changed_pair_is_installed_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), "one.example");
        let certificates = Arc::new(Certificates::default());
        let files = CertificateFiles::load(
            dir.path().join("cert.pem"),
            dir.path().join("key.pem"),
            certificates.clone(),
        )
        .unwrap();
        let first = certificates.current().unwrap();
        files.reload_if_changed();
        assert!(Arc::ptr_eq(&first, &certificates.current().unwrap()));
        write_pair(dir.path(), "two.example");
        files.reload_if_changed();
        let second = certificates.current().unwrap();
        assert_ne!(first.cert, second.cert);
        std::fs::write(dir.path().join("key.pem"), "half a key").unwrap();
        files.reload();
        assert!(Arc::ptr_eq(&second, &certificates.current().unwrap()));
    }
}
