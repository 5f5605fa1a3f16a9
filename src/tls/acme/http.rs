//! ACME's HTTP: [`instant_acme::HttpClient`] over the outbound client the
//! WebSub hub uses (`crate::websub::client`): one request per connection,
//! the whole exchange under one deadline and the answer's body capped, so a
//! CA that stalls or floods can cost no more than that.
//!
//! The directory's certificate is checked against the system's roots, or,
//! with `[server.tls] acme.directory_ca`, against the roots in that PEM
//! file alone (a test CA such as pebble's); nothing turns the check off.
//! Loopback and private addresses are allowed: the operator names the CA.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use url::Url;

use crate::websub::client::{self, Reach};

/// The longest one exchange with the CA may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read (a certificate chain is a few KB).
const MAX_BODY: usize = 1024 * 1024;

/// The client instant-acme talks to the CA through.
#[derive(Clone)]
pub(crate) struct AcmeHttp {
    reach: Reach,
}

impl AcmeHttp {
    /// A client trusting the system's roots, or only those of `directory_ca`.
    pub(crate) fn new(directory_ca: Option<&Path>) -> Result<AcmeHttp, String> {
        let mut roots = rustls::RootCertStore::empty();
        match directory_ca {
            Some(path) => {
                let iter = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("{}:1: cannot read it: {e}", path.display()))?;
                for certificate in iter {
                    let certificate = certificate
                        .map_err(|e| format!("{}:1: not a PEM certificate: {e}", path.display()))?;
                    roots.add(certificate).map_err(|e| {
                        format!("{}:1: cannot use it as a root: {e}", path.display())
                    })?;
                }
                if roots.is_empty() {
                    return Err(format!("{}:1: no certificate in it", path.display()));
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(AcmeHttp {
            reach: Reach {
                allow_private: true,
                own: Vec::new(),
                timeout: TIMEOUT,
                tls: Arc::new(tls),
            },
        })
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        request: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let reach = self.reach.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let url = Url::parse(&parts.uri.to_string()).map_err(other)?;
            let headers: Vec<(HeaderName, HeaderValue)> = parts
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            let answer = client::send(parts.method, &url, headers, body, MAX_BODY, &reach)
                .await
                .map_err(other)?;
            let mut response = Response::new(Full::new(answer.body));
            *response.status_mut() = answer.status;
            *response.headers_mut() = answer.headers;
            Ok(BytesResponse::from(response))
        })
    }
}

fn other(error: impl std::fmt::Display) -> instant_acme::Error {
    instant_acme::Error::Other(error.to_string().into())
}
