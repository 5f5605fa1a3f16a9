//! The certificates `serve` presents over HTTPS, and where they come from:
//! PEM files (`files.rs`, read again when they change or on `SIGHUP`) or
//! ACME (`acme/`, obtained and renewed in the data directory).
//!
//! [`Certificates`] is the one place a handshake looks its certificate up
//! ([`rustls::server::ResolvesServerCert`]): the certificate in use sits
//! behind an [`ArcSwapOption`] and is replaced whole, so a handshake sees the
//! old certificate or the new one, never a mix, and connections already
//! open keep the session they made (a swap drops no connection). It also
//! holds what ACME challenges need answered: TLS-ALPN-01 certificates
//! (RFC 8737), given only to a ClientHello that offers `acme-tls/1` and
//! names the domain, and HTTP-01 key authorizations, read by the plain-HTTP
//! listener.
//!
//! Nothing here reads the network; only `files.rs` and `acme/` read files.

pub(crate) mod acme;
pub(crate) mod files;
mod validity;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::diagnostic::Diagnostic;

/// The ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737 section 6.2).
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The largest PEM file read (a chain of a few certificates is a few KB).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The certificate in use, and the ACME challenges being answered.
#[derive(Debug, Default)]
pub struct Certificates {
    current: ArcSwapOption<CertifiedKey>,
    /// TLS-ALPN-01 certificates, by domain (lower case).
    alpn_challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 key authorizations, by token.
    http_challenges: Mutex<HashMap<String, String>>,
}

impl Certificates {
    /// Serves `certified` from the next handshake on.
    pub(crate) fn install(&self, certified: Arc<CertifiedKey>) {
        self.current.store(Some(certified));
    }

    /// The certificate in use, if there is one yet.
    #[cfg(test)]
    pub(crate) fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current.load_full()
    }

    /// Answers TLS-ALPN-01 for `domain` with `certified` until withdrawn.
    pub(crate) fn add_alpn_challenge(&self, domain: &str, certified: Arc<CertifiedKey>) {
        lock(&self.alpn_challenges).insert(domain.to_ascii_lowercase(), certified);
    }

    /// Answers HTTP-01 `token` with `key_authorization` until withdrawn.
    pub(crate) fn add_http_challenge(&self, token: &str, key_authorization: &str) {
        lock(&self.http_challenges).insert(token.to_string(), key_authorization.to_string());
    }

    /// Stops answering every challenge.
    pub(crate) fn clear_challenges(&self) {
        lock(&self.alpn_challenges).clear();
        lock(&self.http_challenges).clear();
    }

    /// The key authorization for the HTTP-01 `token`, while one is answered.
    pub(crate) fn http_challenge(&self, token: &str) -> Option<String> {
        lock(&self.http_challenges).get(token).cloned()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|protocol| protocol == ACME_TLS_ALPN));
        if acme {
            // A validation handshake gets the challenge certificate or
            // nothing, never the site's (RFC 8737 section 3).
            let name = hello.server_name()?.to_ascii_lowercase();
            return lock(&self.alpn_challenges).get(&name).cloned();
        }
        self.current.load_full()
    }
}

/// The TLS server configuration `serve` uses: TLS 1.2 and 1.3 by ring,
/// ALPN `h2` then `http/1.1` (and `acme-tls/1` for TLS-ALPN-01), the
/// certificate looked up in `certificates` at each handshake.
pub(crate) fn server_config(
    certificates: Arc<Certificates>,
    acme_tls_alpn: bool,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if acme_tls_alpn {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    Ok(Arc::new(config))
}

/// Reads a certificate chain (`cert`, leaf first) and its private key
/// (`key`) from PEM files and checks that they belong together. An error
/// names the file it is about: `path:1: message`.
pub(crate) fn load_pem_files(cert: &Path, key: &Path) -> Result<CertifiedKey, Diagnostic> {
    let cert_pem = read_pem(cert)?;
    let key_pem = read_pem(key)?;
    certified_key(&cert_pem, &key_pem).map_err(|(file, message)| {
        let path = match file {
            PemFile::Cert => cert,
            PemFile::Key => key,
        };
        Diagnostic::new(path, 1, message)
    })
}

/// Which of the two files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PemFile {
    Cert,
    Key,
}

/// Pure: a chain and a key from PEM text, checked to belong together.
pub(crate) fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<CertifiedKey, (PemFile, String)> {
    let mut chain = Vec::new();
    for item in CertificateDer::pem_slice_iter(cert_pem) {
        match item {
            Ok(der) => chain.push(der),
            Err(error) => return Err((PemFile::Cert, format!("not a PEM certificate: {error}"))),
        }
    }
    if chain.is_empty() {
        return Err((
            PemFile::Cert,
            "no certificate in it (a PEM file with `-----BEGIN CERTIFICATE-----` blocks, the site's first)"
                .to_string(),
        ));
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(key) => key,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err((
                PemFile::Key,
                "no private key in it (a PEM file with a `PRIVATE KEY` block)".to_string(),
            ))
        }
        Err(error) => return Err((PemFile::Key, format!("not a PEM private key: {error}"))),
    };
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| (PemFile::Key, format!("cannot use this private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err((
            PemFile::Key,
            "this key does not belong to the first certificate of the chain".to_string(),
        )),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(error) => Err((
            PemFile::Cert,
            format!("the first certificate cannot be read: {error}"),
        )),
    }
}

/// A PEM file's bytes, at most [`MAX_PEM_BYTES`].
fn read_pem(path: &Path) -> Result<Vec<u8>, Diagnostic> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| Diagnostic::new(path, 1, format!("cannot read it: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Diagnostic::new(path, 1, format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(Diagnostic::new(
            path,
            1,
            format!("larger than {MAX_PEM_BYTES} bytes: not a certificate or key file"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_chain_and_its_key_are_accepted() {
        let (cert, key) = pair("example.org");
        let certified = certified_key(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(certified.cert.len(), 1);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_in_the_key_file() {
        let (cert, _) = pair("example.org");
        let (_, other_key) = pair("example.org");
        let (file, message) = certified_key(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert_eq!(file, PemFile::Key);
        assert!(message.contains("does not belong"), "{message}");
    }

    #[test]
    fn garbage_and_swapped_files_are_refused_with_the_file_named() {
        let (cert, key) = pair("example.org");
        let (file, _) = certified_key(b"hello", key.as_bytes()).unwrap_err();
        assert_eq!(file, PemFile::Cert);
        let (file, _) = certified_key(cert.as_bytes(), cert.as_bytes()).unwrap_err();
        assert_eq!(file, PemFile::Key);
        let (file, _) = certified_key(key.as_bytes(), key.as_bytes()).unwrap_err();
        assert_eq!(file, PemFile::Cert);
        let broken = cert.replace("MII", "M*I");
        assert!(certified_key(broken.as_bytes(), key.as_bytes()).is_err());
    }
}
