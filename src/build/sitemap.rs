//! `/sitemap.xml` (the sitemaps.org protocol 0.9) and `/robots.txt`, made
//! from the built set: every HTML page in it (every resource of kind
//! `Index` or `Article`, whatever module published it) is listed with its
//! `lastmod`, so a new kind of page needs no change here.
//!
//! The protocol caps one sitemap at 50,000 URLs and 50 MB (52,428,800
//! bytes, uncompressed); past either, `/sitemap.xml` becomes a sitemap
//! index over `/sitemap-1.xml`, `/sitemap-2.xml`, … each under both caps.
//! A URL of 2,048 characters or more (the protocol's most) is left out.
//!
//! The files are made again only when a page or a page's date changed (an
//! edit to an article's text, the usual reload, changes neither): else the
//! last build's are kept.

use std::hash::{Hash, Hasher};

use chrono::{DateTime, SecondsFormat, Utc};

use super::lists::{EarlierResource, ListResource};
use super::{BuiltSet, ResourceKind};
use crate::config::BaseUrl;
use crate::fingerprint;

/// The sitemap's path, the one `robots.txt` names.
pub const SITEMAP_PATH: &str = "sitemap.xml";
/// The robots exclusion file's path.
pub const ROBOTS_PATH: &str = "robots.txt";
/// Media type of the sitemaps.
pub const XML: &str = "application/xml; charset=utf-8";
/// Media type of `robots.txt`.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// The sitemaps.org namespace.
pub const NAMESPACE: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";

/// The most a sitemap may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SitemapLimits {
    /// URLs in one sitemap file (and sitemaps in the index).
    pub urls: usize,
    /// Bytes of one sitemap file, uncompressed.
    pub bytes: usize,
}

/// The protocol's caps.
pub const PROTOCOL_LIMITS: SitemapLimits = SitemapLimits {
    urls: 50_000,
    bytes: 52_428_800,
};

/// The longest URL the protocol takes, in characters (`loc` must be less than 2,048).
const MAX_URL_CHARS: usize = 2_047;

const HEADER: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// One published sitemap file: its site-relative path, bytes and date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitemapFile {
    /// `sitemap.xml` or `sitemap-N.xml`.
    pub path: String,
    /// The document.
    pub body: Vec<u8>,
    /// The newest `lastmod` it names (the Unix epoch when it names none).
    pub modified: DateTime<Utc>,
}

/// The sitemap files of `pages` (absolute URL and last change, in the order
/// to list them): one `sitemap.xml` when they fit in `limits`, else an
/// index at `sitemap.xml` over numbered files that each fit.
pub fn sitemaps(
    base_url: &BaseUrl,
    pages: &[(String, DateTime<Utc>)],
    limits: SitemapLimits,
) -> Vec<SitemapFile> {
    let open = format!("{HEADER}<urlset xmlns=\"{NAMESPACE}\">\n");
    let close = "</urlset>\n";
    let mut files: Vec<(String, DateTime<Utc>, usize)> = Vec::new();
    let mut current = open.clone();
    let mut count = 0;
    let mut newest = DateTime::UNIX_EPOCH;
    for (url, modified) in pages {
        if url.chars().count() > MAX_URL_CHARS {
            continue;
        }
        let entry = format!(
            "  <url>\n    <loc>{}</loc>\n    <lastmod>{}</lastmod>\n  </url>\n",
            quick_xml::escape::escape(url.as_str()),
            w3c_datetime(*modified)
        );
        let full =
            count >= limits.urls.max(1) || current.len() + entry.len() + close.len() > limits.bytes;
        if full && count > 0 {
            current.push_str(close);
            files.push((std::mem::replace(&mut current, open.clone()), newest, count));
            count = 0;
            newest = DateTime::UNIX_EPOCH;
        }
        current.push_str(&entry);
        count += 1;
        newest = newest.max(*modified);
    }
    current.push_str(close);
    files.push((current, newest, count));
    if files.len() == 1 {
        return files
            .into_iter()
            .map(|(body, modified, _)| SitemapFile {
                path: SITEMAP_PATH.to_string(),
                body: body.into_bytes(),
                modified,
            })
            .collect();
    }
    let mut index = format!("{HEADER}<sitemapindex xmlns=\"{NAMESPACE}\">\n");
    let mut parts = Vec::with_capacity(files.len() + 1);
    let mut index_modified = DateTime::UNIX_EPOCH;
    for (number, (body, modified, _)) in files.into_iter().enumerate() {
        let path = format!("sitemap-{}.xml", number + 1);
        index.push_str(&format!(
            "  <sitemap>\n    <loc>{}</loc>\n    <lastmod>{}</lastmod>\n  </sitemap>\n",
            quick_xml::escape::escape(base_url.join(&path).as_str()),
            w3c_datetime(modified)
        ));
        index_modified = index_modified.max(modified);
        parts.push(SitemapFile {
            path,
            body: body.into_bytes(),
            modified,
        });
    }
    index.push_str("</sitemapindex>\n");
    parts.insert(
        0,
        SitemapFile {
            path: SITEMAP_PATH.to_string(),
            body: index.into_bytes(),
            modified: index_modified,
        },
    );
    parts
}

/// `robots.txt`: every path may be crawled, and where the sitemap is.
pub fn robots(base_url: &BaseUrl) -> Vec<u8> {
    format!(
        "User-agent: *\nAllow: /\n\nSitemap: {}\n",
        base_url.join(SITEMAP_PATH)
    )
    .into_bytes()
}

/// The absolute URL of the page at URL path `path`. Most paths are plain
/// ASCII (`world/energy-talks-3/`): those are appended to the base URL as
/// they are, which is what joining them gives; the rest (a tag in another
/// script, percent-encoded by the join) are joined. A rebuild lists every
/// page of the site, and parsing each URL was a thirtieth of a reload.
fn page_url(base_url: &BaseUrl, path: &str) -> String {
    let relative = path.trim_start_matches('/');
    let plain = relative
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/'));
    if plain && !base_url.url().as_str().contains(['?', '#']) {
        format!("{}{relative}", base_url.url().as_str())
    } else {
        base_url.join(relative).to_string()
    }
}

/// A W3C datetime (the sitemap protocol's `lastmod`): `2024-05-20T00:04:00Z`.
fn w3c_datetime(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Adds the sitemap (or its index and parts) of every HTML page in `built`
/// and `robots.txt` to it; the sitemap files are taken from `earlier` when
/// the pages and their dates are the same as when it made them. Returns
/// the sitemap files, for the next build.
pub(super) fn publish(
    base_url: &BaseUrl,
    earlier: &mut EarlierResource<'_>,
    built: &mut BuiltSet,
) -> Vec<ListResource> {
    let pages = || html_pages(built);
    // What the files list: each page's path and date (an edit to an
    // article's text, the usual reload, changes neither).
    let fingerprint = fingerprint::of(&(base_url.url().as_str(), Listed(built)));
    let files = kept_files(earlier, fingerprint).unwrap_or_else(|| {
        let pages: Vec<(String, DateTime<Utc>)> = pages()
            .map(|(path, resource)| (page_url(base_url, path), resource.last_modified))
            .collect();
        sitemaps(base_url, &pages, PROTOCOL_LIMITS)
            .into_iter()
            .map(|file| ListResource {
                path: file.path,
                fingerprint,
                body: super::exact_bytes(file.body),
                modified: file.modified.fixed_offset(),
                rendered: true,
            })
            .collect()
    });
    for file in &files {
        built.insert_bytes(
            &file.path,
            ResourceKind::Sitemap,
            XML,
            file.body.clone(),
            file.modified,
        );
    }
    built.insert(
        ROBOTS_PATH,
        ResourceKind::Sitemap,
        TEXT,
        robots(base_url),
        DateTime::UNIX_EPOCH.fixed_offset(),
    );
    files
}

/// The pages a sitemap lists: every HTML page of `built`.
fn html_pages(built: &BuiltSet) -> impl Iterator<Item = (&String, &super::Resource)> {
    built.resources.iter().filter(|(_, resource)| {
        matches!(
            resource.kind,
            ResourceKind::Index | ResourceKind::LaterPage | ResourceKind::Article
        )
    })
}

/// What the sitemap of a built set says, to be fingerprinted: the path
/// and date of each of its pages, hashed as they come.
struct Listed<'a>(&'a BuiltSet);

impl Hash for Listed<'_> {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        for (path, resource) in html_pages(self.0) {
            path.hash(hasher);
            resource.last_modified.hash(hasher);
        }
    }
}

/// The sitemap files made for pages of `fingerprint`, from `earlier`, when
/// it holds them all: the sitemap and, when that is an index, every part.
fn kept_files(earlier: &mut EarlierResource<'_>, fingerprint: u64) -> Option<Vec<ListResource>> {
    let kept = |path: String, (body, modified)| ListResource {
        path,
        fingerprint,
        body,
        modified,
        rendered: false,
    };
    let sitemap = earlier(SITEMAP_PATH, fingerprint)?;
    let parts = memchr::memmem::find_iter(&sitemap.0, b"<sitemap>").count();
    let mut files = vec![kept(SITEMAP_PATH.to_string(), sitemap)];
    for number in 1..=parts {
        let path = format!("sitemap-{number}.xml");
        let part = earlier(&path, fingerprint)?;
        files.push(kept(path, part));
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BaseUrl {
        BaseUrl::parse("https://example.com/news/").unwrap()
    }

    fn pages(n: usize) -> Vec<(String, DateTime<Utc>)> {
        (0..n)
            .map(|i| {
                let time = DateTime::from_timestamp(1_700_000_000 + i as i64, 0).unwrap();
                (format!("https://example.com/news/a/{i}/?x=1&y='2'"), time)
            })
            .collect()
    }

    #[test]
    fn a_plain_path_is_appended_as_joining_would() {
        let base = BaseUrl::parse("https://example.com/news/").unwrap();
        for path in [
            "/",
            "/world/energy-talks-3/",
            "/tags/économie/page/2/",
            "/a_b/",
        ] {
            assert_eq!(
                page_url(&base, path),
                base.join(path.trim_start_matches('/')).to_string(),
                "{path}"
            );
        }
    }

    #[test]
    fn a_small_site_is_one_urlset_with_escaped_locs_and_w3c_dates() {
        let files = sitemaps(&base(), &pages(2), PROTOCOL_LIMITS);
        assert_eq!(files.len(), 1);
        let text = String::from_utf8(files[0].body.clone()).unwrap();
        assert_eq!(files[0].path, "sitemap.xml");
        assert!(text.contains("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"));
        assert!(text.contains(
            "<loc>https://example.com/news/a/1/?x=1&amp;y=&apos;2&apos;</loc>\n    <lastmod>2023-11-14T22:13:21Z</lastmod>"
        ));
        assert_eq!(files[0].modified.timestamp(), 1_700_000_001);
    }

    #[test]
    fn past_the_url_cap_it_becomes_an_index_over_numbered_files() {
        let limits = SitemapLimits {
            urls: 3,
            bytes: PROTOCOL_LIMITS.bytes,
        };
        let files = sitemaps(&base(), &pages(7), limits);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "sitemap.xml",
                "sitemap-1.xml",
                "sitemap-2.xml",
                "sitemap-3.xml"
            ]
        );
        let index = String::from_utf8(files[0].body.clone()).unwrap();
        assert!(index.contains("<sitemapindex"));
        assert!(index.contains("<loc>https://example.com/news/sitemap-3.xml</loc>"));
        let counts: Vec<usize> = files[1..]
            .iter()
            .map(|f| String::from_utf8_lossy(&f.body).matches("<url>").count())
            .collect();
        assert_eq!(counts, [3, 3, 1]);
    }

    #[test]
    fn past_the_byte_cap_each_file_stays_under_it() {
        let one = sitemaps(&base(), &pages(1), PROTOCOL_LIMITS)[0].body.len();
        let limits = SitemapLimits {
            urls: 50_000,
            bytes: one + 150,
        };
        let files = sitemaps(&base(), &pages(5), limits);
        assert!(files.len() > 2, "{}", files.len());
        for file in &files[1..] {
            assert!(file.body.len() <= limits.bytes, "{}", file.body.len());
        }
        let listed: usize = files[1..]
            .iter()
            .map(|f| String::from_utf8_lossy(&f.body).matches("<url>").count())
            .sum();
        assert_eq!(listed, 5);
    }

    #[test]
    fn an_overlong_url_is_left_out_and_robots_names_the_sitemap() {
        let long = (
            format!("https://example.com/{}", "a".repeat(2100)),
            DateTime::UNIX_EPOCH,
        );
        let files = sitemaps(&base(), &[long], PROTOCOL_LIMITS);
        assert!(!String::from_utf8_lossy(&files[0].body).contains("<url>"));
        assert_eq!(
            String::from_utf8(robots(&base())).unwrap(),
            "User-agent: *\nAllow: /\n\nSitemap: https://example.com/news/sitemap.xml\n"
        );
    }

    #[test]
    fn an_index_is_kept_only_with_every_part_it_names() {
        let limits = SitemapLimits {
            urls: 3,
            bytes: PROTOCOL_LIMITS.bytes,
        };
        let files = sitemaps(&base(), &pages(7), limits);
        let stored: std::collections::HashMap<
            String,
            (bytes::Bytes, chrono::DateTime<chrono::FixedOffset>),
        > = files
            .iter()
            .map(|f| {
                let body = bytes::Bytes::from(f.body.clone());
                (f.path.clone(), (body, f.modified.fixed_offset()))
            })
            .collect();
        let kept = |missing: &str| {
            let mut earlier = |path: &str, fingerprint: u64| {
                (fingerprint == 7 && path != missing)
                    .then(|| stored.get(path).cloned())
                    .flatten()
            };
            kept_files(&mut earlier, 7)
        };
        let all = kept("").expect("every file kept");
        let paths: Vec<&str> = all.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "sitemap.xml",
                "sitemap-1.xml",
                "sitemap-2.xml",
                "sitemap-3.xml"
            ]
        );
        assert!(all.iter().zip(&files).all(|(kept, file)| {
            kept.body == file.body && kept.modified == file.modified.fixed_offset()
        }));
        assert!(kept("sitemap-3.xml").is_none(), "a part is missing");
        assert!(kept("sitemap.xml").is_none());
    }
}
