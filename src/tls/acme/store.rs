//! What ACME keeps on disk, in the data directory (`[websub] data_dir`,
//! `.broadsheet/` by default: never under `content/`, never exported):
//!
//! ```text
//! <data_dir>/acme/<CA host>-<hash of the directory URL>/
//!     account.json                      the account's key and URL (instant-acme's credentials)
//!     <first domain>-<hash of domains>.pem   the private key, then the chain, leaf first
//! ```
//!
//! One account per CA, one file per set of domains: a certificate and its
//! key are one file, replaced by one rename, so a process killed at any
//! moment leaves the previous pair or the new one, never a key without its
//! certificate. Files are written with mode 0600 (they hold private keys)
//! to a temporary name, synced, then renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;

/// The ACME files of one CA.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// The folder for the CA at `directory` under `data_dir`, made if missing.
    pub(crate) fn open(data_dir: &Path, directory: &str) -> Result<Store, String> {
        let host = url::Url::parse(directory)
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
            .unwrap_or_default();
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let hash = xxhash_rust::xxh3::xxh3_64(directory.as_bytes());
        let dir = data_dir.join("acme").join(format!("{host}-{hash:016x}"));
        create_private_dir(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        Ok(Store { dir })
    }

    fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    /// The account made earlier with this CA, if any (an unreadable file is none).
    pub(crate) fn account(&self) -> Option<AccountCredentials> {
        let text = std::fs::read(self.account_path()).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Keeps the account for the next start.
    pub(crate) fn save_account(&self, credentials: &AccountCredentials) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(credentials)
            .map_err(|e| format!("cannot write the ACME account: {e}"))?;
        write_private(&self.account_path(), &json)
    }

    /// The file of the certificate for `domains`.
    pub(crate) fn certificate_path(&self, domains: &[String]) -> PathBuf {
        let first = domains.first().map_or("certificate", String::as_str);
        let hash = xxhash_rust::xxh3::xxh3_64(domains.join(",").as_bytes());
        self.dir.join(format!("{first}-{hash:016x}.pem"))
    }

    /// The key and chain kept for `domains`, as PEM, if any.
    pub(crate) fn certificate(&self, domains: &[String]) -> Option<Vec<u8>> {
        std::fs::read(self.certificate_path(domains)).ok()
    }

    /// Keeps `key_pem` and `chain_pem` for `domains`, replacing the previous pair whole.
    pub(crate) fn save_certificate(
        &self,
        domains: &[String],
        key_pem: &str,
        chain_pem: &str,
    ) -> Result<(), String> {
        let both = format!("{key_pem}\n{chain_pem}");
        write_private(&self.certificate_path(domains), both.as_bytes())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to `path` with mode 0600 through a synced temporary file and a rename.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension(format!("new-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        if let Some(parent) = path.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok::<(), std::io::Error>(())
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        format!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_kept_per_ca_and_set_of_domains_in_private_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "https://ca.example:14000/dir").unwrap();
        let other = Store::open(dir.path(), "https://ca.example:14001/dir").unwrap();
        let domains = vec!["example.org".to_string(), "www.example.org".to_string()];
        assert_eq!(store.certificate(&domains), None);
        store.save_certificate(&domains, "KEY", "CHAIN").unwrap();
        assert_eq!(store.certificate(&domains).unwrap(), b"KEY\nCHAIN");
        assert_eq!(other.certificate(&domains), None);
        assert_eq!(store.certificate(&domains[..1]), None);
        let mode = std::fs::metadata(store.certificate_path(&domains))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
