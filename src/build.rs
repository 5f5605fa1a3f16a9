//! The build: a loaded site in, the set of everything published out.
//!
//! [`BuiltSite`] maps each URL path (`/`, `/rss.xml`, `/opinion/atom.xml`,
//! `/opinion/energy/`) to its bytes, media type and modification time.
//! `export` writes this set to files and `serve` answers from it, so the
//! two can never disagree. Building is pure: the same site gives the same
//! bytes (nothing here reads the clock).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};

use crate::config::{Format, Precompress, ServerConfig};
use crate::diagnostic::Diagnostics;
use crate::feed::{site_updated, FeedView};
use crate::loader;
use crate::model::{Html, Site};
use crate::parallel;
use crate::render;

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
    /// The home page or a section page: a list of articles.
    Index,
    /// An article's page.
    Article,
    /// A file the pages use, such as the stylesheet.
    Asset,
    /// A file of an article (an image, a recording), published as it is.
    Media,
}

/// `body` as `Bytes` holding no spare capacity: renderers grow their
/// buffers by doubling, and a large site keeps every page for as long as it
/// is served, so the slack would cost up to as much again as the pages.
fn exact_bytes(mut body: Vec<u8>) -> Bytes {
    body.shrink_to_fit();
    Bytes::from(body)
}

impl Precompress {
    /// True when resources of `kind` are compressed ahead of time under this policy.
    pub fn covers(self, kind: ResourceKind) -> bool {
        match self {
            // Images and recordings are compressed formats already.
            _ if kind == ResourceKind::Media => false,
            Precompress::None => false,
            Precompress::Feeds => kind != ResourceKind::Article,
            Precompress::All => true,
        }
    }
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

/// Everything the site publishes, by URL path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuiltSite {
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
    /// The `[server]` settings of the configuration this set was built from,
    /// so that a server need not read config.toml a second time.
    pub server: ServerConfig,
    /// When an article left out for being dated later is due: a server
    /// rebuilds then, so that it appears on time with no edit.
    pub next_publication: Option<DateTime<Utc>>,
}

impl BuiltSite {
    /// The total size of every resource's bytes.
    pub fn total_bytes(&self) -> usize {
        self.resources.values().map(|r| r.body.len()).sum()
    }
}

/// Loads the site in `root` as of `now` and builds it.
pub fn build_dir(root: &Path, now: DateTime<Utc>) -> Result<BuiltSite, Diagnostics> {
    loader::load(root, now).map(|site| build(&site))
}

/// What one build leaves for the next, so that a rebuild after a small edit
/// does little work: the articles parsed (see [`loader::ParseCache`]) and the
/// article pages rendered, each under a fingerprint of everything it shows.
#[derive(Debug, Default)]
pub struct BuildCache {
    /// Parsed articles, by file.
    pub parse: loader::ParseCache,
    /// Rendered article pages.
    pages: PageCache,
}

impl BuildCache {
    /// How many article pages the cache holds.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }
}

/// Like [`build_dir`], reusing what `cache` kept from an earlier build and
/// leaving this build's work in it.
pub fn build_dir_cached(
    root: &Path,
    now: DateTime<Utc>,
    cache: &mut BuildCache,
) -> Result<BuiltSite, Diagnostics> {
    let site = loader::load_cached(root, now, &mut cache.parse)?;
    let (built, shared) = build_with(&site, &mut cache.pages);
    drop(site);
    cache.parse.share_content(shared);
    Ok(built)
}

/// Renders every output of `site`.
pub fn build(site: &Site) -> BuiltSite {
    build_with(site, &mut HashMap::new()).0
}

/// A hash of `value`'s debug form: a fingerprint of settings and headers.
fn fingerprint(value: &impl std::fmt::Debug) -> u64 {
    loader::text_hash(&format!("{value:?}"))
}

/// Rendered article pages by URL path: the fingerprint of what the page
/// shows, its bytes, and where the article's body stands in them.
type PageCache = HashMap<String, (u64, Bytes, Range<usize>)>;

/// Renders every output of `site`, taking article pages from `pages` when
/// nothing they show has changed, and leaving this build's pages there.
/// Also returns, by source file, the bodies that now stand in a page and
/// can be shared with it.
fn build_with(site: &Site, pages: &mut PageCache) -> (BuiltSite, Vec<(PathBuf, Html)>) {
    let mut built = BuiltSite {
        articles: site.article_count(),
        sections: site.sections.len(),
        precompress: site.config.precompress,
        server: site.config.server.clone(),
        next_publication: site.next_publication,
        ..BuiltSite::default()
    };
    let mut feeds = vec![FeedView::site(site)];
    feeds.extend(site.sections.iter().map(|s| FeedView::section(site, s)));
    for feed in &feeds {
        for format in site.config.formats.iter() {
            let body = match format {
                Format::Rss => render::rss::render(feed),
                Format::Atom => render::atom::render(feed),
                Format::Json => render::json::render(feed),
            };
            let content_type = match format {
                Format::Rss => "application/rss+xml; charset=utf-8",
                Format::Atom => "application/atom+xml; charset=utf-8",
                Format::Json => "application/feed+json; charset=utf-8",
            };
            built.insert(
                &feed.path(format),
                ResourceKind::Feed,
                content_type,
                body,
                feed.updated,
            );
            built.feeds += 1;
        }
    }
    let updated = site_updated(site);
    built.insert(
        "feeds.opml",
        ResourceKind::Opml,
        OPML,
        render::opml::render(site),
        updated,
    );
    // The stylesheet never changes with the content: its time is the epoch's,
    // so it stays the same from build to build.
    built.insert(
        render::html::STYLESHEET_PATH,
        ResourceKind::Asset,
        CSS,
        render::html::stylesheet(),
        DateTime::UNIX_EPOCH.fixed_offset(),
    );
    let site_feed = &feeds[0];
    built.insert(
        "",
        ResourceKind::Index,
        HTML,
        render::html::home(site, site_feed),
        updated,
    );
    // An article page shows the article, its section's header and the site's
    // settings (titles, feed links); with all three unchanged, so is the page.
    let config_fingerprint = fingerprint(&site.config);
    let mut rendered = HashMap::with_capacity(pages.len());
    let mut shared = Vec::new();
    for (section, feed) in site.sections.iter().zip(&feeds[1..]) {
        let body = render::html::section(site, section, feed, site_feed);
        built.insert(&feed.dir, ResourceKind::Index, HTML, body, feed.updated);
        for media in &section.media {
            built.insert_bytes(
                &media.path,
                ResourceKind::Media,
                media_type(&media.path),
                media.bytes.clone(),
                media.modified.fixed_offset(),
            );
        }
        let section_fingerprint = fingerprint(&(
            config_fingerprint,
            &section.slug,
            &section.title,
            &section.description,
        ));
        // Pages whose fingerprint is unchanged come from the cache; the rest
        // are rendered on every core.
        let mut slots: Vec<_> = section
            .articles
            .iter()
            .map(|article| {
                let path = article.path();
                let page_fingerprint = fingerprint(&(section_fingerprint, article.fingerprint));
                let page = match pages.remove(&path) {
                    Some((old, body, content)) if old == page_fingerprint => Some((body, content)),
                    _ => None,
                };
                (article, path, page_fingerprint, page)
            })
            .collect();
        parallel::for_each(&mut slots, |(article, _, _, page)| {
            if page.is_none() {
                let (bytes, content) =
                    render::html::article(site, section, article, feed, site_feed);
                *page = Some((exact_bytes(bytes), content));
            }
        });
        for (article, path, page_fingerprint, page) in slots {
            let Some((body, content)) = page else {
                continue;
            };
            // The page holds the article's body verbatim: the cache can keep
            // that slice instead of a copy of its own.
            let in_page = body.slice(content.clone());
            if article.content_html.bytes().as_ptr() != in_page.as_ptr() {
                if let Some(html) = Html::from_bytes(in_page) {
                    shared.push((article.source.clone(), html));
                }
            }
            rendered.insert(path.clone(), (page_fingerprint, body.clone(), content));
            built.insert_bytes(&path, ResourceKind::Article, HTML, body, article.modified());
        }
    }
    *pages = rendered;
    (built, shared)
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

impl BuiltSite {
    fn insert(
        &mut self,
        path: &str,
        kind: ResourceKind,
        content_type: &'static str,
        body: Vec<u8>,
        modified: DateTime<FixedOffset>,
    ) {
        self.insert_bytes(path, kind, content_type, exact_bytes(body), modified);
    }

    fn insert_bytes(
        &mut self,
        path: &str,
        kind: ResourceKind,
        content_type: &'static str,
        body: Bytes,
        modified: DateTime<FixedOffset>,
    ) {
        self.resources.insert(
            format!("/{path}"),
            Resource {
                kind,
                content_type,
                body,
                last_modified: modified.with_timezone(&Utc),
            },
        );
    }
}
