//! CORS (the Fetch standard's "CORS protocol"), so that readers running in a
//! browser can fetch the feeds from their own origin.
//!
//! - Feeds, the OPML list and `/healthz` are public and need no credentials:
//!   their responses (`200`, `304`, `412`) carry `Access-Control-Allow-Origin:
//!   *` and `Access-Control-Expose-Headers: ETag, Last-Modified`, so a page
//!   can read the validators and send them back. `*` is the same for every
//!   origin, so no `Vary: Origin` is needed. Pages and articles' files get
//!   none: browsers show them without CORS, and nothing reads them by script.
//! - A conditional `fetch()` sends `If-None-Match` or `If-Modified-Since`,
//!   which are not CORS-safelisted request headers, so the browser first
//!   sends a preflight: `OPTIONS` with `Access-Control-Request-Method`. Such
//!   a resource answers `204` with `Access-Control-Allow-Methods: GET, HEAD`,
//!   `Access-Control-Allow-Headers` (the validators and `Cache-Control`,
//!   which readers send to skip caches) and `Access-Control-Max-Age` (a day;
//!   browsers cap it lower), plus `Allow`.
//! - `OPTIONS` on any other served path, or `OPTIONS *`, is `204` with `Allow:
//!   GET, HEAD, OPTIONS` (RFC 9110 section 9.3.7: the communication options of
//!   the resource, or of the server), with no CORS field; on a path not served
//!   it is `404`, as `GET` would be.
//!
//! The fields are made once per build (`served.rs`), and each resource says
//! there whether it carries them.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
};
use http::{HeaderMap, HeaderValue};

use crate::build::ResourceKind;

/// The methods served, for `Allow`.
pub(crate) const ALLOW: &str = "GET, HEAD, OPTIONS";

/// How long a browser may reuse a preflight's answer, in seconds.
const MAX_AGE_SECS: u32 = 86_400;

/// True when responses for a resource of `kind` carry the CORS fields.
pub(crate) fn applies_to(kind: ResourceKind) -> bool {
    matches!(kind, ResourceKind::Feed | ResourceKind::Opml) || kind.is_archive_page()
}

/// The fields of every response of a resource that CORS applies to.
pub(crate) fn response_fields() -> HeaderMap {
    let mut fields = HeaderMap::new();
    fields.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    fields.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag, Last-Modified"),
    );
    fields
}

/// The fields of a preflight's answer for such a resource.
pub(crate) fn preflight_fields() -> HeaderMap {
    let mut fields = response_fields();
    fields.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD"),
    );
    fields.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("If-None-Match, If-Modified-Since, Cache-Control"),
    );
    fields.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECS));
    fields
}

/// Adds `fields` to `headers`.
pub(crate) fn add(headers: &mut HeaderMap, fields: &HeaderMap) {
    for (name, value) in fields {
        headers.insert(name, value.clone());
    }
}
