//! Certificates obtained and renewed over ACME (RFC 8555), for
//! `[server.tls] acme = { domains = [...], contact = "...", directory = "..." }`.
//!
//! - At start, the certificate kept in the data directory for these domains
//!   (`store.rs`) is served at once, whatever its age; a server with none
//!   yet answers handshakes with no certificate (they fail) until the first
//!   one is obtained, a few seconds after start.
//! - A thread of its own (one tokio runtime) obtains a certificate when
//!   there is none, and renews it at two thirds of its validity
//!   (`validity.rs`): a new key and order each time, the challenges answered
//!   by this very server, TLS-ALPN-01 (RFC 8737, a certificate made for the
//!   challenge, given to handshakes that offer `acme-tls/1`) or HTTP-01 (on
//!   the plain-HTTP listener), then the new pair kept on disk and swapped
//!   in (`Certificates::install`): open connections are untouched.
//! - A failed attempt is logged and tried again after 5 s, doubling up to
//!   an hour, while the previous certificate (if any) is still served.
//!   Every exchange with the CA is bounded (`http.rs`), and so is a whole
//!   attempt ([`ATTEMPT_TIMEOUT`]).
//! - The account is made once per CA and kept (`account.json`).

mod http;
mod store;

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;
use tracing::{info, warn};

use super::validity::Validity;
use super::{certified_key, Certificates};
use crate::config::{AcmeChallenge, AcmeConfig};
use store::Store;

/// The longest one attempt (order, challenges, finalization) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// The first wait after a failed attempt; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// The longest wait between two failed attempts.
const MAX_RETRY: Duration = Duration::from_secs(3600);

/// The ACME thread of a running server; stopped by [`Running::stop`] or on drop.
#[derive(Debug)]
pub(crate) struct Running {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops the thread (an attempt under way is abandoned) and waits for it.
    pub(crate) fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

/// ACME ready to start: its store and client checked, the kept certificate
/// (if any) installed.
pub(crate) struct Prepared {
    renewing: Renewing,
    renew_at: SystemTime,
}

/// Opens the store in `data_dir` and the client for the CA, and serves the
/// certificate kept for `config.domains`, if any; nothing is contacted yet.
/// Errors (an unwritable data directory, an unreadable `directory_ca`) stop
/// the start before anything is bound.
pub(crate) fn prepare(
    config: AcmeConfig,
    data_dir: &Path,
    certificates: Arc<Certificates>,
) -> Result<Prepared, String> {
    let store = Store::open(data_dir, &config.directory)?;
    let http = http::AcmeHttp::new(config.directory_ca.as_deref())?;
    let mut renew_at = SystemTime::UNIX_EPOCH;
    if let Some(pem) = store.certificate(&config.domains) {
        match certified_key(&pem, &pem) {
            Ok(certified) => {
                let validity = certified.cert.first().and_then(|leaf| Validity::of(leaf));
                certificates.install(Arc::new(certified));
                if let Some(validity) = validity {
                    renew_at = validity.renew_at();
                    info!(
                        "TLS: serving the certificate kept for {} (valid until {}, renewed from {})",
                        config.domains.join(", "),
                        httpdate::fmt_http_date(validity.not_after),
                        httpdate::fmt_http_date(renew_at)
                    );
                }
            }
            Err((_, error)) => warn!(
                "TLS: {}: {error}; obtaining a new certificate",
                store.certificate_path(&config.domains).display()
            ),
        }
    }
    Ok(Prepared {
        renewing: Renewing {
            config,
            store,
            http,
            certificates,
        },
        renew_at,
    })
}

impl Prepared {
    /// Starts the thread that obtains and renews the certificate (once the
    /// server listens, since the CA's validation connects to it).
    pub(crate) fn start(self) -> Result<Running, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the ACME thread: {e}"))?;
        let (stop, stopped) = watch::channel(false);
        let Prepared { renewing, renew_at } = self;
        let thread = std::thread::Builder::new()
            .name("broadsheet-acme".to_string())
            .spawn(move || runtime.block_on(renewing.run(renew_at, stopped)))
            .map_err(|e| format!("cannot start the ACME thread: {e}"))?;
        Ok(Running {
            stop,
            thread: Some(thread),
        })
    }
}

/// What the ACME thread works with.
struct Renewing {
    config: AcmeConfig,
    store: Store,
    http: http::AcmeHttp,
    certificates: Arc<Certificates>,
}

impl Renewing {
    /// Obtains a certificate at `renew_at` (at once if it is past), and
    /// again at two thirds of each new one's validity, until `stopped`.
    async fn run(self, mut renew_at: SystemTime, mut stopped: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            let wait = renew_at
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                _ = sleep_long(wait) => {}
            }
            let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, self.obtain());
            let outcome = tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => {
                    self.certificates.clear_challenges();
                    return;
                }
                outcome = attempt => outcome.unwrap_or_else(|_| {
                    Err(format!("no certificate within {} s", ATTEMPT_TIMEOUT.as_secs()))
                }),
            };
            self.certificates.clear_challenges();
            match outcome {
                Ok(validity) => {
                    failures = 0;
                    renew_at = validity.renew_at();
                    info!(
                        "TLS: obtained a certificate for {} over ACME (valid until {}, renewed from {})",
                        self.config.domains.join(", "),
                        httpdate::fmt_http_date(validity.not_after),
                        httpdate::fmt_http_date(renew_at)
                    );
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let retry = retry_after(failures);
                    warn!(
                        "TLS: ACME with {} failed: {error}; trying again in {} s",
                        self.config.directory,
                        retry.as_secs()
                    );
                    renew_at = SystemTime::now() + retry;
                }
            }
        }
    }

    /// One attempt: an order for the domains, its challenges answered, a
    /// new key and its certificate kept and served.
    async fn obtain(&self) -> Result<Validity, String> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .config
            .domains
            .iter()
            .map(|domain| Identifier::Dns(domain.clone()))
            .collect();
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| format!("cannot place an order: {e}"))?;
        let challenge_type = match self.config.challenge {
            AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            AcmeChallenge::Http01 => ChallengeType::Http01,
        };
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization =
                authorization.map_err(|e| format!("cannot read an authorization: {e}"))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                status => return Err(format!("an authorization is {status:?}")),
            }
            let mut challenge = authorization
                .challenge(challenge_type.clone())
                .ok_or_else(|| format!("the CA offers no {challenge_type:?} challenge"))?;
            let key_authorization = challenge.key_authorization();
            let domain = challenge.identifier().to_string();
            match self.config.challenge {
                AcmeChallenge::TlsAlpn01 => {
                    let certified =
                        alpn_challenge_certificate(&domain, key_authorization.digest().as_ref())?;
                    self.certificates
                        .add_alpn_challenge(&domain, Arc::new(certified));
                }
                AcmeChallenge::Http01 => self
                    .certificates
                    .add_http_challenge(&challenge.token, key_authorization.as_str()),
            }
            challenge
                .set_ready()
                .await
                .map_err(|e| format!("cannot answer the challenge for {domain}: {e}"))?;
        }
        let polling = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .backoff(1.5)
            .timeout(Duration::from_secs(120));
        let status = order
            .poll_ready(&polling)
            .await
            .map_err(|e| format!("the order did not become ready: {e}"))?;
        if status != OrderStatus::Ready {
            return Err(format!("the order is {status:?}: the challenges failed"));
        }
        let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let mut params = rcgen::CertificateParams::new(self.config.domains.clone())
            .map_err(|e| format!("cannot make a request: {e}"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params
            .serialize_request(&key)
            .map_err(|e| format!("cannot make a request: {e}"))?;
        order
            .finalize_csr(csr.der())
            .await
            .map_err(|e| format!("cannot finalize the order: {e}"))?;
        let chain = order
            .poll_certificate(&polling)
            .await
            .map_err(|e| format!("no certificate: {e}"))?;
        let key_pem = key.serialize_pem();
        let certified = certified_key(chain.as_bytes(), key_pem.as_bytes())
            .map_err(|(_, e)| format!("the CA's certificate cannot be used: {e}"))?;
        let validity = certified
            .cert
            .first()
            .and_then(|leaf| Validity::of(leaf))
            .ok_or("the CA's certificate has no readable validity")?;
        // Kept before it is served: a certificate served is never one a
        // restart would have to obtain again.
        self.store
            .save_certificate(&self.config.domains, &key_pem, &chain)?;
        self.certificates.install(Arc::new(certified));
        Ok(validity)
    }

    /// The account with this CA: the one kept, or a new one, kept.
    async fn account(&self) -> Result<Account, String> {
        let http = || Box::new(self.http.clone());
        if let Some(credentials) = self.store.account() {
            match Account::builder_with_http(http())
                .from_credentials(credentials)
                .await
            {
                Ok(account) => return Ok(account),
                Err(error) => {
                    warn!("TLS: the kept ACME account cannot be used ({error}); making a new one")
                }
            }
        }
        let contact: Vec<&str> = self.config.contact.iter().map(String::as_str).collect();
        let (account, credentials) = Account::builder_with_http(http())
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.config.directory.clone(),
                None,
            )
            .await
            .map_err(|e| format!("cannot make an account: {e}"))?;
        self.store.save_account(&credentials)?;
        Ok(account)
    }
}

/// The TLS-ALPN-01 certificate for `domain` (RFC 8737 section 3): self-signed,
/// naming the domain, with the critical acmeIdentifier extension holding
/// the SHA-256 digest of the key authorization.
fn alpn_challenge_certificate(domain: &str, digest: &[u8]) -> Result<CertifiedKey, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()])
        .map_err(|e| format!("cannot make the challenge certificate: {e}"))?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest));
    let certificate = params
        .self_signed(&key)
        .map_err(|e| format!("cannot make the challenge certificate: {e}"))?;
    // Made together, so they match; not checked by parsing, since the
    // parser refuses the critical acmeIdentifier extension it does not know.
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("cannot use the challenge key: {e}"))?;
    Ok(CertifiedKey::new(vec![certificate.der().clone()], signing))
}

/// The wait after the `failures`-th failure in a row: 5 s, doubling, at most an hour.
fn retry_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

/// Sleeps for `wait`, however long (tokio's timer caps a single sleep at
/// about two years; a certificate may be renewed later than that).
async fn sleep_long(wait: Duration) {
    let mut left = wait;
    let step = Duration::from_secs(30 * 86_400);
    while !left.is_zero() {
        let now = left.min(step);
        tokio::time::sleep(now).await;
        left -= now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_five_seconds_up_to_an_hour() {
        let waits: Vec<u64> = (1..=12).map(|n| retry_after(n).as_secs()).collect();
        assert_eq!(
            waits,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(retry_after(u32::MAX).as_secs(), 3600);
    }

    #[test]
    fn the_alpn_challenge_certificate_names_the_domain() {
        let certified = alpn_challenge_certificate("example.org", &[7u8; 32]).unwrap();
        let der = certified.cert[0].as_ref();
        let (_, parsed) = x509_parser::parse_x509_certificate(der).unwrap();
        let extension = parsed
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("the acmeIdentifier extension");
        assert!(extension.critical);
    }
}
