//! The build: a loaded site in, the set of everything published out.
//!
//! [`BuiltSet`] maps each URL path (`/`, `/rss.xml`, `/opinion/atom.xml`,
//! `/opinion/energy/`) to its bytes, media type and modification time.
//! `export` writes this set to files and `serve` answers from it, so the
//! two can never disagree. Building is pure: the same site gives the same
//! bytes (nothing here reads the clock).
//!
//! - `publish`: the pure part, a loaded site in, every published resource out
//! - `incremental`: the part that owns caches, so a rebuild after a small
//!   edit parses and renders only what changed
//! - `lists`: the paged list pages and the tags' and authors' feeds, each
//!   rendered again only when what it shows changed
//! - `limits`: no published resource larger than `[limits] resource_bytes`
//! - `archive`: the feeds' archive pages (RFC 5005), reused when unchanged
//! - `sitemap`: `/sitemap.xml` and `/robots.txt`, from the HTML pages built
//! - `saved`: the build as `export` runs it, from what the previous export
//!   saved: unchanged articles not parsed, unchanged pages not rendered

mod archive;
mod incremental;
mod limits;
mod lists;
mod publish;
mod saved;
mod sitemap;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};

use crate::config::Precompress;
use crate::diagnostic::Diagnostics;
use crate::loader;
use crate::spill::Spill;

pub use incremental::{build_dir_cached, BuildCache};
pub(crate) use saved::{build_dir_saved, SavedBuild};

/// Media type of the HTML pages.
pub const HTML: &str = "text/html; charset=utf-8";
/// Media type of the OPML list of feeds.
pub const OPML: &str = "text/x-opml; charset=utf-8";
/// Media type of the pages' stylesheet.
pub const CSS: &str = "text/css; charset=utf-8";

/// What a resource is, for policies that treat them differently (which files
/// get precompressed siblings, which representations are kept in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// A feed in one format.
    Feed,
    /// The OPML list of feeds.
    Opml,
    /// The first page of a list: the home page, a section's, a tag's or
    /// an author's page, `/tags/`, `/authors/`.
    Index,
    /// A later page of a list (`page/2/` and on): read about once per
    /// reader, as an article page is.
    LaterPage,
    /// An article's page.
    Article,
    /// A file the pages use, such as the stylesheet.
    Asset,
    /// A file of an article (an image, a recording), published as it is.
    Media,
    /// A full page of a feed's archive (RFC 5005): its bytes never change
    /// as articles are added, so caches keep it long (`archive_max_age`).
    ArchivePage,
    /// The newest page of a feed's archive, which fills up as articles are
    /// added: cached like the feed itself.
    NewestArchivePage,
    /// The sitemap (or its index and parts) and `robots.txt`: for crawlers.
    Sitemap,
}

impl ResourceKind {
    /// True for a feed document of an archive chain (either kind of page).
    pub fn is_archive_page(self) -> bool {
        matches!(
            self,
            ResourceKind::ArchivePage | ResourceKind::NewestArchivePage
        )
    }
}

/// `body` as `Bytes` holding no spare capacity: renderers grow their
/// buffers by doubling, and a large site keeps every page for as long as it
/// is served, so the slack would cost up to as much again as the pages.
fn exact_bytes(mut body: Vec<u8>) -> Bytes {
    body.shrink_to_fit();
    Bytes::from(body)
}

impl ResourceKind {
    /// True for what is read about once per reader and is, in all, the
    /// bulk of a large site: article pages, archive pages (every article's
    /// body six times more) and later list pages, the resources
    /// `precompress = "feeds"` leaves uncompressed for the same reason.
    /// Their bytes go to the [`Spill`] file; everything else (feeds, first
    /// pages, the OPML list, sitemaps, assets, articles' files as read)
    /// stays in the heap.
    pub fn is_cold(self) -> bool {
        matches!(self, ResourceKind::Article | ResourceKind::LaterPage) || self.is_archive_page()
    }
}

/// The rendered `body` of a resource of `kind`, kept where its kind goes:
/// in the spill file when it is cold, else in the heap.
fn keep(spill: &Spill, kind: ResourceKind, body: Vec<u8>) -> Bytes {
    if kind.is_cold() {
        spill.keep(body)
    } else {
        exact_bytes(body)
    }
}

impl Precompress {
    /// True when resources of `kind` are compressed ahead of time under this policy.
    pub fn covers(self, kind: ResourceKind) -> bool {
        match self {
            // Images and recordings are compressed formats already.
            _ if kind == ResourceKind::Media => false,
            Precompress::None => false,
            // Archive pages hold every article's body once more per format,
            // and later list pages a story of every article once more per
            // list it is on; each is fetched about once per reader: like
            // article pages.
            Precompress::Feeds => {
                !matches!(kind, ResourceKind::Article | ResourceKind::LaterPage)
                    && !kind.is_archive_page()
            }
            Precompress::All => true,
        }
    }
}

/// The `Cache-Control` of a resource of `kind`, the one rule for what
/// `serve` sends and what `deploy` stores with each object: `public,
/// max-age=<max_age>`, or `<archive_max_age>` for a full archive page, which
/// never changes.
pub fn cache_control(kind: ResourceKind, max_age: u32, archive_max_age: u32) -> String {
    let seconds = match kind {
        ResourceKind::ArchivePage => archive_max_age,
        _ => max_age,
    };
    format!("public, max-age={seconds}")
}

/// One published file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// What it is.
    pub kind: ResourceKind,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: Bytes,
    /// When what it shows last changed.
    pub last_modified: DateTime<Utc>,
}

impl Resource {
    /// Its modification time as published at `now`: never later than `now`
    /// (RFC 9110 section 8.8.2.1), since an article's `updated` may lie
    /// ahead, a file's clock may have been wrong, and a date past the year
    /// 9999 has no HTTP form. `serve` sends it as `Last-Modified`; `export`
    /// gives it to the file, whose time a web server sends instead.
    pub fn modified_by(&self, now: std::time::SystemTime) -> std::time::SystemTime {
        std::time::SystemTime::from(self.last_modified).min(now)
    }
}

/// Everything the site publishes, by URL path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuiltSet {
    /// URL path (always starting with `/`; directories end with `/`) to resource.
    pub resources: BTreeMap<String, Resource>,
    /// How many articles are published.
    pub articles: usize,
    /// How many sections there are.
    pub sections: usize,
    /// How many feeds were rendered.
    pub feeds: usize,
    /// Which resources are compressed ahead of time (`precompress` in config.toml).
    pub precompress: Precompress,
    /// Seconds caches may reuse a response (`[server] max_age`).
    pub max_age: u32,
    /// Seconds caches may keep a full archive page (`[server] archive_max_age`).
    pub archive_max_age: u32,
    /// When an article left out for being dated later is due: a server
    /// rebuilds then, so that it appears on time with no edit.
    pub next_publication: Option<DateTime<Utc>>,
    /// What a feed's `Link` header names (WebSub discovery).
    pub feed_links: FeedLinks,
}

/// The WebSub discovery links of the feeds of one build: every feed's
/// response carries `Link: <hub>; rel="hub"` for each hub and
/// `Link: <its own URL>; rel="self"` (WebSub section 4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedLinks {
    /// The hubs the feeds name; none: no `Link` header.
    pub hubs: Vec<String>,
    /// The site's base URL, ending with `/`.
    pub base_url: String,
}

impl FeedLinks {
    /// The value of the `Link` header of the feed at URL path `path`, or
    /// `None` when no hub is named.
    pub fn header(&self, path: &str) -> Option<String> {
        if self.hubs.is_empty() {
            return None;
        }
        let mut value = String::new();
        for hub in &self.hubs {
            value.push_str(&format!("<{hub}>; rel=\"hub\", "));
        }
        value.push_str(&format!(
            "<{}{}>; rel=\"self\"",
            self.base_url,
            path.trim_start_matches('/')
        ));
        Some(value)
    }
}

/// Loads the site in `root` as of `now` and builds it.
/// A resource larger than `[limits] resource_bytes` is an error on the
/// article that made it so.
pub fn build_dir(root: &Path, now: DateTime<Utc>) -> Result<BuiltSet, Diagnostics> {
    build_dir_spilled(root, now, &Spill::heap())
}

/// [`build_dir`], with the cold resources' bytes (see
/// [`ResourceKind::is_cold`]) kept in `spill`.
pub(crate) fn build_dir_spilled(
    root: &Path,
    now: DateTime<Utc>,
    spill: &Spill,
) -> Result<BuiltSet, Diagnostics> {
    let site = loader::load(root, now)?;
    let built = publish::publish(
        &site,
        &mut |_, _| None,
        &mut |_, _| None,
        &mut |_, _| None,
        spill,
    )
    .0;
    limits::check_resource_sizes(&site, &built, config_path(root))?;
    Ok(built)
}

/// `config.toml` as messages name it.
fn config_path(root: &Path) -> std::path::PathBuf {
    loader::display_root(root).join("config.toml")
}

/// The `Content-Type` of an article's file, by its extension (any case);
/// `application/octet-stream` for one not listed.
pub fn media_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/opus",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "pdf" => "application/pdf",
        "txt" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        // As the README's nginx block types them, so both serve one file alike.
        "html" => HTML,
        "css" => CSS,
        "opml" => OPML,
        "xml" => "application/xml; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl BuiltSet {
    pub(crate) fn insert(
        &mut self,
        path: &str,
        kind: ResourceKind,
        content_type: &'static str,
        body: Vec<u8>,
        modified: DateTime<FixedOffset>,
    ) {
        self.insert_bytes(path, kind, content_type, exact_bytes(body), modified);
    }

    pub(crate) fn insert_bytes(
        &mut self,
        path: &str,
        kind: ResourceKind,
        content_type: &'static str,
        body: Bytes,
        modified: DateTime<FixedOffset>,
    ) {
        // Joined by hand: a rebuild inserts every page of the site, and
        // `format!` took twice as long.
        let mut key = String::with_capacity(path.len() + 1);
        key.push('/');
        key.push_str(path);
        self.resources.insert(
            key,
            Resource {
                kind,
                content_type,
                body,
                last_modified: modified.with_timezone(&Utc),
            },
        );
    }
}
