//! The set the server answers from: every resource of a [`BuiltSet`] with its
//! representations and its response headers made once, when the set is built.
//!
//! A request does one hash-map lookup here and clones reference-counted bytes
//! and header values; nothing is formatted, compressed or read from disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use headers::ETag;
use http::{HeaderMap, HeaderValue};

use super::{cors, security};
use crate::build::{BuiltSet, ResourceKind};
use crate::encoding::{self, Coding, Representations};

/// Everything served, by URL path, plus what `/healthz` reports about it.
///
/// `pub`, with `feed_paths` and `len`, only for what `RunningServer::state`
/// gives the CLI and the tests; its module is private.
#[derive(Debug)]
pub struct ServedSet {
    /// Shared with the next set for every resource that did not change, so
    /// a reload after one edit builds only the entries of what changed.
    resources: HashMap<String, Arc<Entry>>,
    /// What every entry's headers were made with.
    settings: EntrySettings,
    /// Paths of the feeds, sorted.
    pub feed_paths: Vec<String>,
    /// Paths of the lists of feeds (OPML), sorted: not feeds themselves.
    pub feed_list_paths: Vec<String>,
    /// Published articles.
    pub(crate) articles: usize,
    /// Sections.
    pub(crate) sections: usize,
    /// Feeds rendered.
    pub(crate) feeds: usize,
    /// When this set was built (wall clock; not part of what is served).
    pub(crate) built_at: SystemTime,
    /// When an article not yet published in this set is due (the reload
    /// thread rebuilds then).
    pub(crate) next_publication: Option<DateTime<Utc>>,
    /// The CORS fields of responses of the resources that have them (`cors.rs`).
    pub(crate) cors: HeaderMap,
    /// The CORS fields of a preflight's answer for those resources.
    pub(crate) cors_preflight: HeaderMap,
}

/// The settings that go into every entry's headers: an entry is reused by
/// the next set only when they are the same.
#[derive(Debug, Clone, PartialEq)]
struct EntrySettings {
    max_age: u32,
    archive_max_age: u32,
    feed_links: crate::build::FeedLinks,
}

/// One resource, ready to answer with.
#[derive(Debug)]
pub(crate) struct Entry {
    /// What it is (its entry is reused only for the same kind).
    kind: ResourceKind,
    pub(crate) representations: Representations,
    pub(crate) content_type: HeaderValue,
    /// `Last-Modified`, formatted.
    pub(crate) last_modified: HeaderValue,
    /// The same instant, in whole seconds, for `If-Modified-Since`.
    pub(crate) modified: SystemTime,
    /// Whether a `Range` request gets part of it (an article's file).
    pub(crate) accepts_ranges: bool,
    /// Whether its responses carry the CORS fields (a feed, the OPML list).
    pub(crate) cors: bool,
    /// Whether it is a feed's subscription document (audience counting
    /// counts its requests; archive pages are not).
    pub(crate) feed: bool,
    /// The WebSub `Link` header of a feed (hub and self), if it has one.
    pub(crate) link: Option<HeaderValue>,
    /// Fields of every response of it: `X-Content-Type-Options`, and
    /// `Content-Security-Policy` for some articles' files (`security.rs`).
    pub(crate) fields: HeaderMap,
    /// `Cache-Control`: `max_age`, or `archive_max_age` for a full archive page.
    pub(crate) cache_control: HeaderValue,
    identity: Tagged,
    gzip: Option<Tagged>,
    brotli: Option<Tagged>,
}

/// A representation's bytes with its ETag, parsed for comparisons and formatted for the header.
#[derive(Debug)]
pub(crate) struct Tagged {
    pub(crate) body: Bytes,
    pub(crate) etag: ETag,
    pub(crate) etag_header: HeaderValue,
    pub(crate) content_length: HeaderValue,
}

impl Entry {
    /// The representation in `coding`, if there is one.
    pub(crate) fn get(&self, coding: Coding) -> Option<&Tagged> {
        match coding {
            Coding::Identity => Some(&self.identity),
            Coding::Gzip => self.gzip.as_ref(),
            Coding::Brotli => self.brotli.as_ref(),
        }
    }
}

impl ServedSet {
    /// Prepares `built` for serving with `Cache-Control: public,
    /// max-age=<max_age>` (`[server] max_age`), full archive pages with
    /// `built.archive_max_age` (they never change). Representations of
    /// resources whose bytes are the same as in `previous` are reused.
    pub(crate) fn new(built: &BuiltSet, max_age: u32, previous: Option<&ServedSet>) -> ServedSet {
        let settings = EntrySettings {
            max_age,
            archive_max_age: built.archive_max_age,
            feed_links: built.feed_links.clone(),
        };
        let mut resources = HashMap::with_capacity(built.resources.len());
        let mut feed_paths = Vec::new();
        let mut feed_list_paths = Vec::new();
        // What a rebuild kept as it was (the very same bytes, of the same
        // kind and type, under the same settings and policy) keeps its
        // entry, time included, with no work; the rest is encoded.
        let reusable = previous.filter(|previous| previous.settings == settings);
        let mut rest = BuiltSet {
            resources: std::collections::BTreeMap::new(),
            ..BuiltSet::default()
        };
        rest.precompress = built.precompress;
        for (path, resource) in &built.resources {
            match resource.kind {
                ResourceKind::Feed => feed_paths.push(path.clone()),
                ResourceKind::Opml => feed_list_paths.push(path.clone()),
                _ => {}
            }
            let kept = reusable
                .and_then(|previous| previous.resources.get(path))
                .filter(|old| {
                    let body = &old.representations.identity.body;
                    old.kind == resource.kind
                        && old.content_type == resource.content_type
                        && old.representations.compressed == built.precompress.covers(resource.kind)
                        && body.as_ptr() == resource.body.as_ptr()
                        && body.len() == resource.body.len()
                });
            match kept {
                Some(old) => {
                    resources.insert(path.clone(), Arc::clone(old));
                }
                None => {
                    rest.resources.insert(path.clone(), resource.clone());
                }
            }
        }
        let encoded = encoding::encode_site(&rest, |path| {
            previous
                .and_then(|p| p.resources.get(path))
                .map(|entry| &entry.representations)
        });
        let built_at = stamp_time(&encoded, previous);
        // One value per kind, shared by its entries (`build::cache_control`
        // is also what `deploy` stores with each object).
        let mut cache_controls: HashMap<ResourceKind, HeaderValue> = HashMap::new();
        for (path, representations) in encoded {
            let resource = &built.resources[&path];
            // The same bytes, kind, type and settings: the same entry, time included.
            if let Some(old) = previous
                .filter(|previous| previous.settings == settings)
                .and_then(|previous| previous.resources.get(&path))
                .filter(|old| {
                    old.kind == resource.kind
                        && old.content_type == resource.content_type
                        && same_tags(&old.representations, &representations)
                })
            {
                resources.insert(path, Arc::clone(old));
                continue;
            }
            let identity = tagged(&representations.identity);
            let modified = match previous {
                // At start: the content's own time, the same for every copy
                // of the content, but never later than now (RFC 9110
                // section 8.8.2.1): an article's `updated` may lie ahead,
                // and a date past the year 9999 has no HTTP form.
                None => whole_seconds(resource.modified_by(built_at)),
                Some(previous) => match previous.resources.get(&path) {
                    // Unchanged bytes keep their time, so validators stay put.
                    Some(old) if old.identity.etag == identity.etag => old.modified,
                    // Changed or new bytes: the time this server saw them,
                    // later than the previous time (`stamp_time` waited for
                    // that), so `If-Modified-Since` with the old time gets
                    // the new bytes.
                    _ => whole_seconds(built_at),
                },
            };
            let entry = Entry {
                kind: resource.kind,
                content_type: HeaderValue::from_static(resource.content_type),
                last_modified: header(&httpdate::fmt_http_date(modified)),
                modified,
                accepts_ranges: resource.kind == ResourceKind::Media,
                cors: cors::applies_to(resource.kind),
                feed: resource.kind == ResourceKind::Feed,
                link: (resource.kind == ResourceKind::Feed)
                    .then(|| built.feed_links.header(&path))
                    .flatten()
                    .and_then(|link| HeaderValue::from_str(&link).ok()),
                fields: security::resource_fields(resource.kind, resource.content_type),
                cache_control: cache_controls
                    .entry(resource.kind)
                    .or_insert_with(|| {
                        header(&crate::build::cache_control(
                            resource.kind,
                            max_age,
                            built.archive_max_age,
                        ))
                    })
                    .clone(),
                identity,
                gzip: representations.gzip.as_ref().map(tagged),
                brotli: representations.brotli.as_ref().map(tagged),
                representations,
            };
            resources.insert(path, Arc::new(entry));
        }
        feed_paths.sort();
        feed_list_paths.sort();
        ServedSet {
            resources,
            settings,
            feed_paths,
            feed_list_paths,
            articles: built.articles,
            sections: built.sections,
            feeds: built.feeds,
            built_at,
            next_publication: built.next_publication,
            cors: cors::response_fields(),
            cors_preflight: cors::preflight_fields(),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Entry> {
        self.resources.get(path).map(|entry| &**entry)
    }

    /// True when `path` is a feed's subscription document.
    pub(crate) fn is_feed(&self, path: &str) -> bool {
        self.resources.get(path).is_some_and(|entry| entry.feed)
    }

    /// True when `path` is served.
    pub(crate) fn contains(&self, path: &str) -> bool {
        self.resources.contains_key(path)
    }

    /// True when `other` serves every resource with the very entry this set
    /// does, and no other: a rebuild that found nothing changed.
    pub(crate) fn same_entries(&self, other: &ServedSet) -> bool {
        self.resources.len() == other.resources.len()
            && self.next_publication == other.next_publication
            && self.resources.iter().all(|(path, entry)| {
                other
                    .resources
                    .get(path)
                    .is_some_and(|theirs| Arc::ptr_eq(theirs, entry))
            })
    }

    /// How many resources are served.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// The bytes kept in memory for every representation.
    pub(crate) fn total_bytes(&self) -> usize {
        self.resources
            .values()
            .flat_map(|e| e.representations.iter())
            .map(|r| r.body.len())
            .sum()
    }
}

/// True when two sets of representations are of the same bytes: the same
/// entity tags (the identity bytes' hash, one per coding) and policy. The
/// tags say it without reading bytes that may be in a spill file.
fn same_tags(a: &Representations, b: &Representations) -> bool {
    let tags = |r: &Representations| {
        [Coding::Identity, Coding::Gzip, Coding::Brotli].map(|coding| {
            r.get(coding)
                .map(|representation| representation.etag.clone())
        })
    };
    a.compressed == b.compressed && tags(a) == tags(b)
}

fn tagged(representation: &encoding::Representation) -> Tagged {
    Tagged {
        body: representation.body.clone(),
        // The tag is made of hex digits, a dash and letters: it always parses.
        etag: representation
            .etag
            .parse()
            .expect("generated ETag is valid"),
        etag_header: header(&representation.etag),
        content_length: HeaderValue::from(representation.body.len()),
    }
}

/// A header value from text made here, which is always visible ASCII.
fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("generated header value is valid")
}

/// The time a set is built at: now, except that a resource whose bytes
/// changed must get a `Last-Modified` strictly later than the one it had, and
/// HTTP dates count whole seconds; when it was stamped this very second, this
/// waits for the next one (at most a second, and only for a second change
/// within a second), since a `Last-Modified` may not be later than the
/// response's `Date` (RFC 9110 section 8.8.2.1).
fn stamp_time(
    encoded: &BTreeMap<String, Representations>,
    previous: Option<&ServedSet>,
) -> SystemTime {
    let not_before = previous.and_then(|previous| {
        encoded
            .iter()
            .filter_map(|(path, representations)| {
                let old = previous.resources.get(path)?;
                (old.representations.identity.etag != representations.identity.etag)
                    .then(|| old.modified + Duration::from_secs(1))
            })
            .max()
    });
    let now = SystemTime::now();
    if let Some(wait) = not_before.and_then(|t| t.duration_since(now).ok()) {
        std::thread::sleep(wait.min(Duration::from_secs(2)));
    }
    SystemTime::now()
}

/// HTTP dates have one-second resolution; comparing `If-Modified-Since`
/// against the exact instant would make a client's own copy look older.
fn whole_seconds(time: SystemTime) -> SystemTime {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}
