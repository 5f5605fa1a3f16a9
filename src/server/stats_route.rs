//! `/stats` and `/stats.json` (`[stats] path`): the audience figures, for
//! the publisher only. They are not part of the built set: the counting
//! thread makes them when asked (`crate::audience`), so this route, like
//! the hub's, answers later rather than from the served set.
//!
//! Private by default, and invisible to everyone else: a request is for
//! this route only when its path is the page's (or its JSON's) and it
//! comes from a loopback client (unless `trust_loopback = false`) or
//! carries `Authorization: Bearer <token>` with the configured token
//! (`[stats] token` or `BROADSHEET_STATS_TOKEN`, compared in constant
//! time). Any other request goes to the handler as if the route did not
//! exist (a `404`, or whatever the site serves there). The client is the
//! one behind trusted proxies (`forwarded.rs`), so a request through a
//! trusted proxy on the same machine is not a loopback client.
//!
//! Answers carry `Cache-Control: private, no-store` (no shared cache may
//! keep them), `X-Content-Type-Options: nosniff`, and, for the page, a
//! `Content-Security-Policy` that allows its own stylesheet and icon and
//! nothing else (it has no script). Methods other than `GET` and `HEAD`
//! get `405`.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;

use super::handler::Body;
use crate::audience::Audience;

/// The route's settings, and the counting behind it.
#[derive(Debug)]
pub(crate) struct StatsRoute {
    pub(crate) audience: Arc<Audience>,
    path: String,
    json_path: String,
    token: Option<String>,
    trust_loopback: bool,
}

/// A request the route answers: the page, or its JSON.
pub(crate) struct Asked {
    audience: Arc<Audience>,
    json: bool,
    method: Method,
}

impl StatsRoute {
    /// The route at `path` (its JSON at `path.json`), open to `token`
    /// bearers and, with `trust_loopback`, to loopback clients.
    pub(crate) fn new(
        audience: Arc<Audience>,
        path: &str,
        token: Option<String>,
        trust_loopback: bool,
    ) -> StatsRoute {
        StatsRoute {
            audience,
            path: path.to_string(),
            json_path: format!("{path}.json"),
            token,
            trust_loopback,
        }
    }

    /// What `request` from `client` asks of this route, if it is for it
    /// and may see it.
    pub(crate) fn asked<B>(&self, request: &Request<B>, client: IpAddr) -> Option<Asked> {
        let path = request.uri().path();
        let json = if path == self.path {
            false
        } else if path == self.json_path {
            true
        } else {
            return None;
        };
        if !self.allowed(request, client) {
            return None;
        }
        Some(Asked {
            audience: self.audience.clone(),
            json,
            method: request.method().clone(),
        })
    }

    fn allowed<B>(&self, request: &Request<B>, client: IpAddr) -> bool {
        if self.trust_loopback && client.to_canonical().is_loopback() {
            return true;
        }
        let Some(token) = &self.token else {
            return false;
        };
        request
            .headers()
            .get_all(AUTHORIZATION)
            .iter()
            .any(|value| bearer_matches(value.as_bytes(), token.as_bytes()))
    }
}

/// Whether `value` is `Bearer <token>` (the scheme in any case), compared
/// in time that does not depend on where the bytes differ.
fn bearer_matches(value: &[u8], token: &[u8]) -> bool {
    let Some((scheme, given)) = value.split_first_chunk::<7>() else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return false;
    }
    let given = given.trim_ascii();
    if given.len() != token.len() {
        return false;
    }
    given
        .iter()
        .zip(token)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// The answer to `asked`.
pub(crate) async fn answer(asked: Asked) -> Response<Body> {
    let head = asked.method == Method::HEAD;
    if asked.method != Method::GET && !head {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n",
            false,
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match asked.audience.page(asked.json).await {
        Ok(page) => {
            let mut response = Response::new(Body::default());
            let headers = response.headers_mut();
            headers.insert(CONTENT_LENGTH, HeaderValue::from(page.len()));
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(if asked.json {
                    "application/json"
                } else {
                    "text/html; charset=utf-8"
                }),
            );
            private(headers);
            if !asked.json {
                headers.insert(
                    http::header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
                    ),
                );
            }
            if !head {
                *response.body_mut() = Full::new(Bytes::from(page));
            }
            response
        }
        Err(error) => {
            tracing::warn!("stats page: {error}");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the figures cannot be read now; see the server's log\n",
                head,
            )
        }
    }
}

fn private(headers: &mut http::HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    super::security::add_nosniff(headers);
}

fn text(status: StatusCode, body: &'static str, head: bool) -> Response<Body> {
    let mut response = super::handler::plain(status, body, head);
    private(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::bearer_matches;

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let token = b"0123456789abcdef";
        assert!(bearer_matches(b"Bearer 0123456789abcdef", token));
        assert!(bearer_matches(b"bearer 0123456789abcdef ", token));
        assert!(!bearer_matches(b"Bearer 0123456789abcdeF", token));
        assert!(!bearer_matches(b"Bearer 0123456789abcde", token));
        assert!(!bearer_matches(b"Basic 0123456789abcdef", token));
        assert!(!bearer_matches(b"Bearer", token));
        assert!(!bearer_matches(b"", token));
    }
}
