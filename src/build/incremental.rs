//! The incremental build: owns what one build leaves for the next (the
//! articles parsed and the article pages rendered), so that a rebuild after
//! editing one article parses one article and renders the pages that show
//! it. What it publishes is exactly what [`super::build`] publishes from the
//! same content; only the work differs.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};

use super::publish::{publish, ArticlePage, Rendered};
use super::BuiltSet;
use crate::config::{BaseUrl, ServerConfig};
use crate::diagnostic::Diagnostics;
use crate::loader::{self, ParseCache};
use crate::spill::{self, Spill};

/// What one build leaves for the next, so that a rebuild after a small edit
/// does little work: the articles parsed (see [`ParseCache`]) and the
/// article pages rendered, each under a fingerprint of everything it shows.
#[derive(Debug, Default)]
pub struct BuildCache {
    /// Parsed articles, by file.
    parse: ParseCache,
    /// Rendered article pages.
    pages: PageCache,
    /// Rendered archive pages by URL path: the fingerprint of what the page
    /// shows and its bytes.
    archive_pages: HashMap<String, (u64, Bytes)>,
    /// Rendered list pages, feeds and sitemaps, by URL path: the
    /// fingerprint of what each shows, its bytes and its date.
    lists: HashMap<String, (u64, Bytes, DateTime<FixedOffset>)>,
    /// The list resources the last build rendered (rather than kept), sorted.
    pub(crate) lists_rendered: Vec<String>,
    /// Where cold pages go (the heap unless [`BuildCache::spill_to`]).
    spill: Spill,
    /// Set by tests: the next build copies its kept pages as when the
    /// spill files are mostly holes.
    compact_next: bool,
}

impl BuildCache {
    /// A cache for builds that publish under `base_url` instead of
    /// config.toml's `base_url` (a server's effective base URL), this build
    /// and every later one.
    pub fn with_base_url(base_url: BaseUrl) -> BuildCache {
        let mut cache = BuildCache::default();
        cache.parse.base_url = Some(base_url);
        cache
    }

    /// Tells the next build what changed under `content/` since the last
    /// one, as a watcher saw it: it reads only that (see
    /// [`loader::Changes`]). A build that was told nothing reads everything.
    pub(crate) fn note_changes(&mut self, changes: loader::Changes) {
        self.parse.note_changes(changes);
    }

    /// What changed among the files the last build read since it read
    /// them (empty when nothing did): such a build may hold a file read
    /// while it was being written.
    pub(crate) fn changed_since_read(&self) -> loader::Changes {
        self.parse.changed_since_read()
    }

    /// Keeps the cold pages of this build and every later one (archive
    /// pages, later list pages) in spill files in `dir` (a server's data
    /// directory) rather than in the heap.
    pub fn spill_to(&mut self, dir: &Path) {
        self.spill = Spill::to_dir(dir);
    }

    /// True when the spill files hold more than twice what this cache's
    /// pages use of them: pages replaced by rebuilds (the newest archive
    /// page after each new article, list pages that moved) leave their old
    /// bytes in chunks that live on while any page in them does. The next
    /// build then copies every kept page into new chunks, and the old ones
    /// are unmapped once the set that served them is dropped.
    fn spill_is_sparse(&self) -> bool {
        let live: u64 = self
            .archive_pages
            .values()
            .map(|(_, body)| body)
            .chain(self.lists.values().map(|(_, body, _)| body))
            .chain(self.pages.values().map(|(_, body, _, _)| body))
            .filter(|body| spill::holds(body))
            .map(|body| body.len() as u64)
            .sum();
        self.compact_next || is_sparse(spill::mapped_bytes(), live)
    }
}

/// True when spill files of `mapped` bytes hold `live` bytes still in use
/// so thinly that copying those into new files is worth it: more than half
/// holes, past two chunks' worth (a small site's few chunks are never
/// copied around).
fn is_sparse(mapped: u64, live: u64) -> bool {
    mapped > 2 * live + 2 * spill::CHUNK_BYTES as u64
}

/// Rendered article pages by URL path: the fingerprint of what the page
/// shows, its bytes, and where the article's body stands in them.
type PageCache = HashMap<String, (u64, Bytes, Range<usize>, bool)>;

/// What a server's build gives: the set it publishes, and beside it the
/// `[server]` settings of the configuration that set was built from, read
/// in the same load so that a server never reads config.toml twice.
#[derive(Debug)]
pub struct BuildOutput {
    /// Everything published.
    pub set: BuiltSet,
    /// How the server is to run.
    pub server: ServerConfig,
}

/// Loads the site in `root` as of `now` and builds it, reusing what `cache`
/// kept from an earlier build and leaving this build's work in it. A
/// resource larger than `[limits] resource_bytes` is an error, as in
/// [`super::build_dir`].
pub fn build_dir_cached(
    root: &Path,
    now: DateTime<Utc>,
    cache: &mut BuildCache,
) -> Result<BuildOutput, Diagnostics> {
    let site = loader::load_cached(root, now, &mut cache.parse)?;
    let compact = cache.spill_is_sparse();
    cache.compact_next = false;
    let spill = &cache.spill;
    // A kept page, copied into a new chunk when the spill is compacted.
    let moved = |body: Bytes| {
        if compact && spill::holds(&body) {
            let copy = spill.keep(body.to_vec());
            spill::release(&body);
            copy
        } else {
            body
        }
    };
    let mut previous = std::mem::take(&mut cache.pages);
    let mut previous_archive = std::mem::take(&mut cache.archive_pages);
    let mut previous_lists = std::mem::take(&mut cache.lists);
    let (built, rendered) = publish(
        &site,
        &mut |path, fingerprint| match previous.remove(path) {
            Some((old, body, content, text)) if old == fingerprint => {
                Some((moved(body), content, text))
            }
            _ => None,
        },
        &mut |path, fingerprint| match previous_archive.remove(path) {
            Some((old, body)) if old == fingerprint => Some(moved(body)),
            _ => None,
        },
        &mut |path, fingerprint| match previous_lists.remove(path) {
            Some((old, body, modified)) if old == fingerprint => Some((moved(body), modified)),
            _ => None,
        },
        spill,
    );
    drop((previous_archive, previous_lists));
    let Rendered {
        articles: pages,
        archives,
        lists,
    } = rendered;
    cache.archive_pages = archives
        .into_iter()
        .map(|page| (page.path, (page.fingerprint, page.body)))
        .collect();
    cache.lists = HashMap::with_capacity(lists.len());
    cache.lists_rendered.clear();
    for list in lists {
        if list.rendered {
            cache.lists_rendered.push(list.path.clone());
        }
        cache
            .lists
            .insert(list.path, (list.fingerprint, list.body, list.modified));
    }
    cache.lists_rendered.sort();
    let server = site.config.server.clone();
    let sizes = super::limits::check_resource_sizes(&site, &built, super::config_path(root));
    drop(site);
    cache.pages = HashMap::with_capacity(pages.len());
    let mut shared = Vec::new();
    for page in pages {
        let ArticlePage {
            path,
            fingerprint,
            body,
            content,
            body_is_text,
            body_to_share,
        } = page;
        shared.extend(body_to_share);
        cache
            .pages
            .insert(path, (fingerprint, body, content, body_is_text));
    }
    cache.parse.share_bodies(shared);
    // The caches are filled first even when a resource is too large: the
    // next build, after the fix, reuses all the rest.
    sizes.map(|()| BuildOutput { set: built, server })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write_article(root: &Path, slug: &str, minute: u32, author: &str, tags: &str, body: &str) {
        let text = format!(
            "+++\ntitle = \"{slug}\"\ndate = 2024-05-20T08:{minute:02}:00Z\nauthors = [\"{author}\"]\ntags = [{tags}]\n+++\n\n{body}\n"
        );
        fs::write(root.join(format!("content/news/{slug}.md")), text).unwrap();
    }

    #[test]
    fn an_edit_renders_again_only_the_feeds_and_lists_that_show_the_article() {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("content/news")).unwrap();
        fs::write(
            root.join("config.toml"),
            "title = \"T\"\nbase_url = \"https://e.com/\"\ntag_authority = \"e.com\"\npage_size = 1\n",
        )
        .unwrap();
        fs::write(
            root.join("content/news/_index.md"),
            "+++\ntitle = \"News\"\n+++\n",
        )
        .unwrap();
        write_article(root, "a", 0, "Ann", "\"all\", \"odd\"", "A.");
        write_article(root, "b", 1, "Bob", "\"all\", \"even\"", "B.");
        write_article(root, "c", 2, "Ann", "\"all\", \"odd\"", "C.");
        let now = Utc::now();
        let mut cache = BuildCache::default();
        let first = build_dir_cached(root, now, &mut cache).unwrap();
        assert!(
            cache.lists_rendered.len() > 20,
            "{:?}",
            cache.lists_rendered
        );
        let again = build_dir_cached(root, now, &mut cache).unwrap();
        assert_eq!(cache.lists_rendered, Vec::<String>::new());
        assert_eq!(first.set, again.set);

        // b is the second newest: page 2 of every list it is on.
        write_article(root, "b", 1, "Bob", "\"all\", \"even\"", "B, corrected.");
        let edited = build_dir_cached(root, now, &mut cache).unwrap();
        let feeds = |dir: &str| ["atom.xml", "feed.json", "rss.xml"].map(|f| format!("{dir}{f}"));
        let mut expected: Vec<String> = vec![
            "page/2/".into(),
            "news/page/2/".into(),
            "tags/all/page/2/".into(),
            "tags/even/".into(),
            "authors/bob/".into(),
        ];
        expected.extend(feeds(""));
        expected.extend(feeds("news/"));
        expected.extend(feeds("tags/all/"));
        expected.extend(feeds("tags/even/"));
        expected.extend(feeds("authors/bob/"));
        expected.sort();
        assert_eq!(cache.lists_rendered, expected);
        // And what it kept is what a build from scratch gives.
        assert_eq!(edited.set, super::super::build_dir(root, now).unwrap());
        assert!(!cache.lists_rendered.contains(&"sitemap.xml".to_string()));

        // A new article is a new page: the sitemap is made again.
        write_article(root, "d", 3, "Dee", "\"all\"", "D.");
        let added = build_dir_cached(root, now, &mut cache).unwrap();
        assert!(cache.lists_rendered.contains(&"sitemap.xml".to_string()));
        assert_eq!(added.set, super::super::build_dir(root, now).unwrap());
    }

    #[test]
    fn spill_files_are_copied_when_mostly_holes_and_pages_stay_the_same() {
        const MB: u64 = 1 << 20;
        assert!(!is_sparse(0, 0));
        assert!(!is_sparse(128 * MB, 0), "two chunks are never copied");
        assert!(is_sparse(129 * MB, 0));
        assert!(!is_sparse(1000 * MB, 500 * MB));
        assert!(is_sparse(1200 * MB, 500 * MB));

        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("content/news")).unwrap();
        fs::write(
            root.join("config.toml"),
            "title = \"T\"\nbase_url = \"https://e.com/\"\ntag_authority = \"e.com\"\nlimit = 1\narchive_page_size = 1\npage_size = 1\n",
        )
        .unwrap();
        fs::write(
            root.join("content/news/_index.md"),
            "+++\ntitle = \"News\"\n+++\n",
        )
        .unwrap();
        for (i, slug) in ["a", "b", "c", "d"].iter().enumerate() {
            write_article(root, slug, i as u32, "Ann", "\"all\"", "Body.");
        }
        let now = Utc::now();
        let mut cache = BuildCache::default();
        let spill_dir = tempfile::TempDir::new().unwrap();
        cache.spill_to(spill_dir.path());
        let first = build_dir_cached(root, now, &mut cache).unwrap();
        let cold: Vec<(&String, &crate::build::Resource)> = first
            .set
            .resources
            .iter()
            .filter(|(_, r)| r.kind.is_cold())
            .collect();
        assert!(cold.len() > 10, "{}", cold.len());
        assert!(cold.iter().all(|(_, r)| spill::holds(&r.body)));

        cache.compact_next = true;
        let copied = build_dir_cached(root, now, &mut cache).unwrap();
        assert_eq!(copied.set, first.set, "the same bytes");
        for (path, resource) in cold {
            let moved = &copied.set.resources[path].body;
            assert!(spill::holds(moved), "{path}");
            assert_ne!(moved.as_ptr(), resource.body.as_ptr(), "{path}: copied");
        }
        // The articles' bodies are the moved pages' slices again.
        let again = build_dir_cached(root, now, &mut cache).unwrap();
        assert_eq!(again.set, first.set);
        drop((first, copied, again));
    }
}
