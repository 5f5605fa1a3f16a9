//! Which answered requests audience counting sees, and what of them: `GET`
//! and `HEAD` of a feed's subscription document (not its archive pages,
//! pages or files), with the status, the bytes of the body sent, whether
//! the request carried validators (`If-None-Match`, `If-Modified-Since`),
//! its `User-Agent` and the client (behind trusted proxies, the address
//! they name). Counting itself (`crate::audience`) is a few additions under
//! the worker's own lock; the database is written by its own thread.

use std::net::IpAddr;

use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, USER_AGENT};
use http::{Method, Request, Response};
use hyper::body::Body as _;
use percent_encoding::percent_decode_str;

use super::handler::Body;
use super::state::State;
use crate::audience::Observation;

/// Counts `request` from `client`, answered with `response`, if it was for a feed.
pub(crate) fn count<B>(
    state: &State,
    client: IpAddr,
    request: &Request<B>,
    response: &Response<Body>,
) {
    let Some(stats) = state.stats() else {
        return;
    };
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return;
    }
    // Every feed's file name ends so (`rss.xml`, `atom.xml`, `feed.json`):
    // pages and files skip the lookup.
    let raw = request.uri().path();
    if !(raw.ends_with(".xml") || raw.ends_with(".json")) {
        return;
    }
    let Ok(path) = percent_decode_str(raw).decode_utf8() else {
        return;
    };
    let headers = request.headers();
    let seen = Observation {
        path: &path,
        status: response.status().as_u16(),
        bytes: response.body().size_hint().exact().unwrap_or(0),
        validators: headers.contains_key(IF_NONE_MATCH) || headers.contains_key(IF_MODIFIED_SINCE),
        user_agent: headers.get(USER_AGENT).map(|v| v.as_bytes()),
        client,
    };
    stats
        .audience
        .observe(&seen, || state.served().is_feed(&path));
}
