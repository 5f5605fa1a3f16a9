//! The plain-HTTP listener of an HTTPS server (`[server.tls]
//! redirect_http`): every request is sent to the same path and query over
//! HTTPS, at the site's own origin, except ACME's HTTP-01 challenges.
//!
//! - `GET` and `HEAD` get `301 Moved Permanently` (which every feed reader
//!   follows and remembers), other methods `308 Permanent Redirect`, which
//!   keeps the method and body (RFC 9110 sections 15.4.2 and 15.4.9).
//! - `Location` is the site's HTTPS origin (from its base URL, never from
//!   the request's `Host`, so this listener cannot be made to redirect
//!   anywhere else) followed by the request's path and query as sent.
//! - `/.well-known/acme-challenge/<token>` (RFC 8555 section 8.3) answers
//!   `200` with the key authorization while ACME waits for that token, and
//!   `404` otherwise: never a redirect, since a CA validating HTTP-01 must
//!   reach this listener.
//!
//! A plain function of the request, like `handler::respond`; the connection
//! around it has every limit of the HTTPS ones.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, LOCATION};
use http::{HeaderValue, Method, Request, Response, StatusCode};

use super::handler::{self, Body, MAX_URI_BYTES};
use crate::config::BaseUrl;
use crate::tls::Certificates;

/// The path under which HTTP-01 tokens are served.
pub(crate) const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// What the plain-HTTP listener needs.
#[derive(Debug)]
pub(crate) struct Redirect {
    /// `https://host[:port]`, without a trailing slash.
    origin: String,
    /// Where ACME leaves its HTTP-01 answers.
    certificates: std::sync::Arc<Certificates>,
}

impl Redirect {
    /// Redirects to the HTTPS origin of `base_url`: its host, and its port
    /// when it is an `https` URL (an `http` one's port is not HTTPS's).
    pub(crate) fn new(base_url: &BaseUrl, certificates: std::sync::Arc<Certificates>) -> Redirect {
        let url = base_url.url();
        let host = url.host_str().unwrap_or("localhost");
        let origin = match (url.scheme(), url.port()) {
            ("https", Some(port)) => format!("https://{host}:{port}"),
            _ => format!("https://{host}"),
        };
        Redirect {
            origin,
            certificates,
        }
    }
}

/// The answer of the plain-HTTP listener to `request`.
pub(crate) fn respond<B>(redirect: &Redirect, request: &Request<B>) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str());
    if target.len() > MAX_URI_BYTES {
        return handler::plain(StatusCode::URI_TOO_LONG, "URI too long\n", head);
    }
    if let Some(token) = request.uri().path().strip_prefix(ACME_CHALLENGE_PREFIX) {
        let answer = (request.method() == Method::GET || head)
            .then(|| redirect.certificates.http_challenge(token))
            .flatten();
        return match answer {
            Some(key_authorization) => {
                let mut response = handler::plain(StatusCode::OK, key_authorization, head);
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            None => handler::plain(StatusCode::NOT_FOUND, "not found\n", head),
        };
    }
    let status = if request.method() == Method::GET || head {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let location = format!("{}{}", redirect.origin, target);
    let mut response = handler::plain(status, Bytes::new(), head);
    match HeaderValue::try_from(location) {
        Ok(location) => {
            response.headers_mut().insert(LOCATION, location);
            response
        }
        // The target came in as a valid URI, so it makes a valid field;
        // should it not, the client learns nothing worse than a 400.
        Err(_) => handler::plain(StatusCode::BAD_REQUEST, "bad request\n", head),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn redirect_to(base: &str) -> (Redirect, Arc<Certificates>) {
        let certificates = Arc::new(Certificates::default());
        let base = BaseUrl::parse(base).unwrap();
        (Redirect::new(&base, certificates.clone()), certificates)
    }

    fn request(method: Method, target: &str, host: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(target)
            .header("host", host)
            .body(())
            .unwrap()
    }

    #[test]
    fn get_is_moved_permanently_to_the_sites_origin_whatever_the_host() {
        let (redirect, _) = redirect_to("https://example.org/news/");
        let response = respond(
            &redirect,
            &request(Method::GET, "/news/rss.xml?x=1", "evil.example"),
        );
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            response.headers()[LOCATION],
            "https://example.org/news/rss.xml?x=1"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }

    #[test]
    fn other_methods_keep_theirs_with_308_and_ports_follow_the_scheme() {
        let (redirect, _) = redirect_to("https://127.0.0.1:8443/");
        let response = respond(&redirect, &request(Method::POST, "/websub", "x"));
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            response.headers()[LOCATION],
            "https://127.0.0.1:8443/websub"
        );
        let (redirect, _) = redirect_to("http://example.org:8080/");
        let response = respond(&redirect, &request(Method::HEAD, "/", "x"));
        assert_eq!(response.headers()[LOCATION], "https://example.org/");
    }

    #[test]
    fn acme_challenges_are_answered_not_redirected() {
        let (redirect, certificates) = redirect_to("https://example.org/");
        let path = format!("{ACME_CHALLENGE_PREFIX}tok-en");
        let response = respond(&redirect, &request(Method::GET, &path, "example.org"));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        certificates.add_http_challenge("tok-en", "tok-en.thumb");
        let response = respond(&redirect, &request(Method::GET, &path, "example.org"));
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key(LOCATION));
        certificates.clear_challenges();
        let response = respond(&redirect, &request(Method::GET, &path, "example.org"));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
