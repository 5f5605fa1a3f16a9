//! The request handler: a plain function from a request and the shared state
//! to a response, with no IO, testable without sockets.
//!
//! - Only `GET` and `HEAD` are served, and `OPTIONS` answered (`cors.rs`);
//!   any other method is `405` with `Allow: GET, HEAD, OPTIONS`. `HEAD` gets
//!   exactly the headers of `GET` and no body. Feeds, the OPML list and
//!   `/healthz` carry the CORS fields (`cors.rs`).
//! - The request path is percent-decoded and looked up as a key of the served
//!   set, never joined to a directory: `/../Cargo.toml`, `/%2e%2e/config.toml`
//!   and `//etc/passwd` are simply not keys, so they are `404`. Traversal is
//!   impossible by construction, not by filtering.
//! - A path without its trailing `/` whose directory is served (`/opinion`)
//!   redirects with `301` to `/opinion/`, keeping the query. `301` rather than
//!   `308`: only `GET` and `HEAD` get this far, for which the two mean the
//!   same, and every feed reader knows `301`.
//! - A resource's coding is negotiated (`negotiate.rs`), then the
//!   validators are checked against that representation
//!   (`conditional.rs`). Every `200` and `304` carries `ETag`,
//!   `Last-Modified`, `Cache-Control` and `Vary: Accept-Encoding` (one rule
//!   for caches, also on articles' files, which are never compressed). Every response
//!   carries `Content-Length` except `304`, which has no content.
//! - The query string is ignored for lookups: feed readers append cache
//!   busters, and the same feed is the same bytes.
//! - A request target longer than [`MAX_URI_BYTES`] is `414 URI Too Long`
//!   (RFC 9110, section 15.5.15), whatever the method. RFC 9110 asks for at
//!   least 8000 octets to be accepted, and no URL of a site is near that. A
//!   request head larger than `[server] max_header_bytes` is refused by hyper
//!   with `431` before any of it is parsed, even when the long part is the
//!   target: the server stops reading at that size, before it can tell.
//! - An HTTP/1.1 request without exactly one `Host` field is `400` (RFC
//!   9112, section 3.2); HTTP/1.0 needs none, HTTP/2 carries `:authority`.
//!   A `Host`, or the authority of the target (HTTP/2's `:authority`, an
//!   absolute-form target), that is not a valid `host[:port]` is `400` too,
//!   in any version (`host.rs`).
//! - A client over the rate limit gets `429 Too Many Requests` with
//!   `Retry-After` (the limit itself is in `rate_limit.rs`).
//! - `Range` on a `GET` of an article's file (image, audio, video) gets the
//!   part asked for, `206`, and those files carry `Accept-Ranges: bytes`
//!   (`range.rs`); feeds and pages are sent whole, `200`, whatever the
//!   request asks.
//! - Every response carries `X-Content-Type-Options: nosniff`, and the
//!   articles' files a browser would run script in carry
//!   `Content-Security-Policy: sandbox` (`security.rs`; a resource's fields
//!   are made once per build, in `served.rs`).
//! - Other request fields are ignored: `Expect`, cookies, bodies.

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, HOST, LAST_MODIFIED, LOCATION, RETRY_AFTER, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::Full;
use percent_encoding::percent_decode_str;

use super::conditional::{self, Outcome};
use super::range::{self, Ranged};
use super::served::{Entry, ServedSet, Tagged};
use super::state::State;
use super::{cors, health, host, negotiate, security};
use crate::encoding::Coding;

/// The body of every response: bytes already in memory.
pub(crate) type Body = Full<Bytes>;

/// The longest request target served, in bytes; longer is `414`.
pub const MAX_URI_BYTES: usize = 8000;

/// The most fields a resource's response carries (validators, caching,
/// CORS, `Link`, security, type, coding, length, range), so that its map is
/// sized once.
const RESOURCE_FIELDS: usize = 16;

/// Answers `request` from `state`.
pub(crate) fn respond<B>(state: &State, request: &Request<B>) -> Response<Body> {
    let method = request.method();
    let head = method == Method::HEAD;
    if uri_len(request.uri()) > MAX_URI_BYTES {
        return plain(StatusCode::URI_TOO_LONG, "URI too long\n", head);
    }
    if request.version() == Version::HTTP_11 && request.headers().get_all(HOST).iter().count() != 1
    {
        return plain(
            StatusCode::BAD_REQUEST,
            "bad request: one Host field is required\n",
            head,
        );
    }
    let hosts = request
        .headers()
        .get_all(HOST)
        .iter()
        .map(HeaderValue::as_bytes);
    let authority = request.uri().authority().map(|a| a.as_str().as_bytes());
    if !hosts.chain(authority).all(host::is_valid) {
        return plain(StatusCode::BAD_REQUEST, "bad request: invalid Host\n", head);
    }
    if method == Method::OPTIONS {
        return options(state, request.uri().path());
    }
    if method != Method::GET && !head {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n",
            false,
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(cors::ALLOW));
        return response;
    }
    let raw_path = request.uri().path();
    if raw_path == health::PATH {
        let mut response = bytes(StatusCode::OK, health::report(state), head);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        cors::add(headers, &state.served().cors);
        return response;
    }
    let Ok(path) = percent_decode_str(raw_path).decode_utf8() else {
        return not_found(head);
    };
    let served = state.served();
    match served.get(&path) {
        Some(entry) => resource(&served, entry, request.headers(), head),
        None => {
            redirect(&served, &path, request.uri().query(), head).unwrap_or_else(|| not_found(head))
        }
    }
}

/// The answer to `OPTIONS` on `raw_path`: `204` with `Allow` for the server
/// (`*`) or a served resource, with the preflight's CORS fields where the
/// resource has CORS; `404` for a path not served.
fn options(state: &State, raw_path: &str) -> Response<Body> {
    let served = state.served();
    let cors = match raw_path {
        "*" => false,
        path if path == health::PATH => true,
        path => match percent_decode_str(path)
            .decode_utf8()
            .ok()
            .and_then(|path| served.get(&path).map(|entry| entry.cors))
        {
            Some(cors) => cors,
            None => return not_found(false),
        },
    };
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(ALLOW, HeaderValue::from_static(cors::ALLOW));
    security::add_nosniff(headers);
    if cors {
        cors::add(headers, &served.cors_preflight);
    }
    response
}

/// The response for `entry`, a resource of `served`, in the coding the
/// request prefers and under its validators and `Range`.
fn resource(served: &ServedSet, entry: &Entry, request: &HeaderMap, head: bool) -> Response<Body> {
    let coding = negotiate::choose(request, |coding| entry.get(coding).is_some());
    let chosen = match entry.get(coding) {
        Some(chosen) => chosen,
        None => entry
            .get(Coding::Identity)
            .expect("identity is always kept"),
    };
    let mut response = Response::new(Body::default());
    let headers = response.headers_mut();
    // Room for every field at once, rather than growing the map three times
    // on every request.
    headers.reserve(RESOURCE_FIELDS);
    headers.insert(ETAG, chosen.etag_header.clone());
    headers.insert(LAST_MODIFIED, entry.last_modified.clone());
    headers.insert(CACHE_CONTROL, entry.cache_control.clone());
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    if entry.accepts_ranges {
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if entry.cors {
        cors::add(headers, &served.cors);
    }
    if let Some(link) = &entry.link {
        headers.insert(http::header::LINK, link.clone());
    }
    cors::add(headers, &entry.fields);
    match conditional::evaluate(request, &chosen.etag, &chosen.etag_header, entry.modified) {
        Outcome::Send => {}
        Outcome::NotModified => {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return response;
        }
        Outcome::PreconditionFailed => {
            *response.status_mut() = StatusCode::PRECONDITION_FAILED;
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            return response;
        }
    }
    headers.insert(CONTENT_TYPE, entry.content_type.clone());
    if coding != Coding::Identity {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    }
    let ranged = if entry.accepts_ranges && !head {
        range::evaluate(request, chosen.body.len(), &chosen.etag_header)
    } else {
        Ranged::Whole
    };
    set_content(&mut response, chosen, ranged, head);
    response
}

/// Puts in `response` what `ranged` says of `chosen`: all of it (without
/// the body for `HEAD`), a part with `206`, or nothing with `416`.
fn set_content(response: &mut Response<Body>, chosen: &Tagged, ranged: Ranged, head: bool) {
    let len = chosen.body.len();
    let headers = response.headers_mut();
    match ranged {
        Ranged::Whole => {
            headers.insert(CONTENT_LENGTH, chosen.content_length.clone());
            if !head {
                *response.body_mut() = Full::new(chosen.body.clone());
            }
        }
        Ranged::Part(part) => {
            let content_range = format!("bytes {}-{}/{len}", part.start, part.end - 1);
            headers.insert(CONTENT_RANGE, digits_value(content_range));
            headers.insert(CONTENT_LENGTH, HeaderValue::from(part.len()));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            *response.body_mut() = Full::new(chosen.body.slice(part));
        }
        Ranged::Unsatisfiable => {
            headers.insert(CONTENT_RANGE, digits_value(format!("bytes */{len}")));
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            // Not the file: no type, and no cache may keep it for the URL.
            headers.remove(CONTENT_TYPE);
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
        }
    }
}

/// A field value made of ASCII text (`bytes 0-9/10`): always valid.
fn digits_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `429 Too Many Requests`, to retry after `retry_after_secs` seconds.
pub(crate) fn too_many_requests(retry_after_secs: u64, method: &Method) -> Response<Body> {
    let mut response = plain(
        StatusCode::TOO_MANY_REQUESTS,
        "too many requests\n",
        method == Method::HEAD,
    );
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The length of the request target as sent: the path and query, plus the
/// authority for an absolute URI.
fn uri_len(uri: &http::Uri) -> usize {
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let path = uri.path_and_query().map_or(0, |p| p.as_str().len());
    authority + path
}

/// `/opinion` to `/opinion/`, when `/opinion/` is served.
fn redirect(
    served: &ServedSet,
    path: &str,
    query: Option<&str>,
    head: bool,
) -> Option<Response<Body>> {
    if path.ends_with('/') {
        return None;
    }
    let target = format!("{path}/");
    if !served.contains(&target) {
        return None;
    }
    let location = match query {
        Some(query) => format!("{target}?{query}"),
        None => target,
    };
    // The target is a key of the served set and the query came in a valid
    // request line, so the value is valid; an odd byte only costs the redirect.
    let location = HeaderValue::from_str(&location).ok()?;
    let mut response = plain(StatusCode::MOVED_PERMANENTLY, "moved permanently\n", head);
    response.headers_mut().insert(LOCATION, location);
    Some(response)
}

fn not_found(head: bool) -> Response<Body> {
    plain(StatusCode::NOT_FOUND, "not found\n", head)
}

/// `text` as a plain-text response (nothing of it for `HEAD`), with its
/// length and `nosniff`: the server's own short answers.
pub(crate) fn plain(status: StatusCode, text: impl Into<Bytes>, head: bool) -> Response<Body> {
    let mut response = bytes(status, text.into(), head);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn bytes(status: StatusCode, body: Bytes, head: bool) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    security::add_nosniff(headers);
    if !head {
        *response.body_mut() = Full::new(body);
    }
    response
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use http_body_util::BodyExt;

    use super::*;
    use crate::build::{BuiltSet, Resource, ResourceKind};

    fn state() -> State {
        let mut built = BuiltSet::default();
        let when = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        for (path, content_type, body) in [
            (
                "/rss.xml",
                "application/rss+xml; charset=utf-8",
                "<rss>energy</rss>\n".repeat(40),
            ),
            (
                "/opinion/",
                "text/html; charset=utf-8",
                "<p>opinion</p>\n".repeat(40),
            ),
            ("/tiny", "text/html; charset=utf-8", "x".to_string()),
        ] {
            built.resources.insert(
                path.into(),
                Resource {
                    kind: ResourceKind::Index,
                    content_type,
                    body: Bytes::from(body),
                    last_modified: when,
                },
            );
        }
        State::new(ServedSet::new(&built, 300, None))
    }

    fn get(
        state: &State,
        method: Method,
        path: &str,
        fields: &[(&'static str, &'static str)],
    ) -> Response<Body> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "x");
        for (name, value) in fields {
            request = request.header(*name, *value);
        }
        respond(state, &request.body(()).unwrap())
    }

    fn body(response: Response<Body>) -> Bytes {
        let collected = ready(response.into_body().collect());
        match collected {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        }
    }

    /// `Full` is ready at once, so one poll with a no-op waker finishes it.
    fn ready<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("a Full body is always ready"),
        }
    }

    fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .map_or("", |v| v.to_str().unwrap())
    }

    #[test]
    fn get_serves_bytes_with_validators() {
        let state = state();
        let response = get(&state, Method::GET, "/rss.xml", &[]);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "content-type"),
            "application/rss+xml; charset=utf-8"
        );
        assert_eq!(
            header(&response, "last-modified"),
            "Wed, 01 May 2024 12:00:00 GMT"
        );
        assert_eq!(header(&response, "cache-control"), "public, max-age=300");
        assert_eq!(header(&response, "vary"), "accept-encoding");
        assert_eq!(header(&response, "content-encoding"), "");
        let etag = header(&response, "etag").to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(header(&response, "content-length"), (18 * 40).to_string());
        assert_eq!(body(response).len(), 18 * 40);
    }

    #[test]
    fn conditional_get_gives_304_with_headers_and_no_body() {
        let state = state();
        let etag = header(&get(&state, Method::GET, "/rss.xml", &[]), "etag").to_string();
        let etag: &'static str = Box::leak(etag.into_boxed_str());
        let response = get(&state, Method::GET, "/rss.xml", &[("if-none-match", etag)]);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&response, "etag"), etag);
        assert_eq!(header(&response, "cache-control"), "public, max-age=300");
        assert_eq!(header(&response, "vary"), "accept-encoding");
        assert_eq!(header(&response, "content-length"), "");
        assert!(body(response).is_empty());
    }

    #[test]
    fn gzip_variant_has_its_own_etag() {
        let state = state();
        let plain = get(&state, Method::GET, "/rss.xml", &[]);
        let gzip = get(
            &state,
            Method::GET,
            "/rss.xml",
            &[("accept-encoding", "gzip")],
        );
        assert_eq!(header(&gzip, "content-encoding"), "gzip");
        let expected = format!("{}-gz\"", header(&plain, "etag").trim_end_matches('"'));
        assert_eq!(header(&gzip, "etag"), expected);
    }

    #[test]
    fn head_has_get_headers_and_no_body() {
        let state = state();
        let get_response = get(
            &state,
            Method::GET,
            "/opinion/",
            &[("accept-encoding", "br")],
        );
        let head_response = get(
            &state,
            Method::HEAD,
            "/opinion/",
            &[("accept-encoding", "br")],
        );
        assert_eq!(get_response.headers(), head_response.headers());
        assert!(body(head_response).is_empty());
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        let state = state();
        // OPTIONS left this list on purpose (issue 11): it is answered (`cors.rs`).
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let response = get(&state, method, "/rss.xml", &[]);
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(header(&response, "allow"), "GET, HEAD, OPTIONS");
        }
    }

    #[test]
    fn traversal_and_unknown_paths_are_404() {
        let state = state();
        for path in [
            "/nope",
            "/%2e%2e/config.toml",
            "/../Cargo.toml",
            "//etc/passwd",
            "/%ff",
            "/rss.xml/",
        ] {
            let response = get(&state, Method::GET, path, &[]);
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(body(response), "not found\n");
        }
    }

    #[test]
    fn over_long_uri_is_414() {
        let state = state();
        let long = format!("/{}", "a".repeat(MAX_URI_BYTES));
        let response = get(&state, Method::GET, &long, &[]);
        assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
        let at_limit = format!("/{}", "a".repeat(MAX_URI_BYTES - 1));
        let response = get(&state, Method::GET, &at_limit, &[]);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn http_1_1_needs_one_host() {
        let state = state();
        let request = Request::builder().uri("/rss.xml").body(()).unwrap();
        assert_eq!(respond(&state, &request).status(), StatusCode::BAD_REQUEST);
        let request = Request::builder()
            .uri("/rss.xml")
            .version(Version::HTTP_10)
            .body(())
            .unwrap();
        assert_eq!(respond(&state, &request).status(), StatusCode::OK);
        let request = Request::builder()
            .uri("/rss.xml")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        assert_eq!(respond(&state, &request).status(), StatusCode::OK);
    }

    #[test]
    fn invalid_hosts_and_authorities_are_400() {
        let state = state();
        let response = get(
            &state,
            Method::GET,
            "/rss.xml",
            &[("host", "a b/c@d:99999")],
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        for (version, host) in [(Version::HTTP_10, "a b"), (Version::HTTP_2, "x:99999")] {
            let request = Request::builder()
                .uri("/rss.xml")
                .version(version)
                .header("host", host)
                .body(())
                .unwrap();
            assert_eq!(respond(&state, &request).status(), StatusCode::BAD_REQUEST);
        }
        // HTTP/2's `:authority` is the target's authority.
        let request = Request::builder()
            .uri("http://x:99999/rss.xml")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        assert_eq!(respond(&state, &request).status(), StatusCode::BAD_REQUEST);
        let request = Request::builder()
            .uri("http://[::1]:8080/rss.xml")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        assert_eq!(respond(&state, &request).status(), StatusCode::OK);
    }

    #[test]
    fn every_response_has_nosniff() {
        let state = state();
        let etag = header(&get(&state, Method::GET, "/rss.xml", &[]), "etag").to_string();
        let etag: &'static str = Box::leak(etag.into_boxed_str());
        let long: &'static str =
            Box::leak(format!("/{}", "a".repeat(MAX_URI_BYTES)).into_boxed_str());
        let mut responses = vec![
            get(&state, Method::GET, "/rss.xml", &[]),
            get(&state, Method::GET, "/rss.xml", &[("if-none-match", etag)]),
            get(
                &state,
                Method::GET,
                "/rss.xml",
                &[("if-match", "\"other\"")],
            ),
            get(&state, Method::GET, "/nope", &[]),
            get(&state, Method::GET, "/opinion", &[]),
            get(&state, Method::POST, "/rss.xml", &[]),
            get(&state, Method::OPTIONS, "/rss.xml", &[]),
            get(&state, Method::GET, "/healthz", &[]),
            get(&state, Method::GET, long, &[]),
            get(&state, Method::GET, "/", &[("host", "a b")]),
            too_many_requests(1, &Method::GET),
        ];
        responses.push(respond(
            &state,
            &Request::builder().uri("/").body(()).unwrap(),
        ));
        let mut statuses = Vec::new();
        for response in &responses {
            assert_eq!(
                header(response, "x-content-type-options"),
                "nosniff",
                "{}",
                response.status()
            );
            statuses.push(response.status().as_u16());
        }
        assert_eq!(
            statuses,
            [200, 304, 412, 404, 301, 405, 204, 200, 414, 400, 429, 400]
        );
    }

    #[test]
    fn too_many_requests_has_retry_after_and_a_length() {
        let response = too_many_requests(7, &Method::GET);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&response, "retry-after"), "7");
        assert_eq!(header(&response, "content-length"), "18");
        assert_eq!(body(response), "too many requests\n");
        let head = too_many_requests(7, &Method::HEAD);
        assert_eq!(header(&head, "content-length"), "18");
        assert!(body(head).is_empty());
    }

    #[test]
    fn range_is_ignored_and_the_whole_resource_sent() {
        let state = state();
        let response = get(&state, Method::GET, "/rss.xml", &[("range", "bytes=0-9")]);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "accept-ranges"), "");
        assert_eq!(body(response).len(), 18 * 40);
    }

    #[test]
    fn directory_without_slash_redirects() {
        let state = state();
        let response = get(&state, Method::GET, "/opinion", &[]);
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(header(&response, "location"), "/opinion/");
        let response = get(&state, Method::GET, "/opinion?utm=x", &[]);
        assert_eq!(header(&response, "location"), "/opinion/?utm=x");
    }

    #[test]
    fn percent_encoded_paths_are_decoded_before_lookup() {
        let state = state();
        assert_eq!(
            get(&state, Method::GET, "/%72ss.xml", &[]).status(),
            StatusCode::OK
        );
    }

    #[test]
    fn tiny_resources_fall_back_to_identity() {
        let state = state();
        let response = get(
            &state,
            Method::GET,
            "/tiny",
            &[("accept-encoding", "br, identity;q=0")],
        );
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-encoding"), "");
        assert_eq!(body(response), "x");
    }

    #[test]
    fn healthz_reports_counts_and_reload_errors() {
        let state = state();
        state.record_failure(vec!["content/a/b.md:3: bad".into()]);
        let response = get(&state, Method::GET, "/healthz", &[]);
        assert_eq!(header(&response, "content-type"), "application/json");
        let report: serde_json::Value = serde_json::from_slice(&body(response)).unwrap();
        assert_eq!(report["status"], "stale");
        assert_eq!(
            report["last_reload_error"]["errors"][0],
            "content/a/b.md:3: bad"
        );
    }
}
