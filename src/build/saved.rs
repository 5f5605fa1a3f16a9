//! The build as `export` runs it, from what the previous export left
//! ([`SavedBuild`], read back from disk by `crate::export_cache`): the
//! articles it parsed (the loader's `ParseCache`) and the fingerprint of
//! every article page, archive page, list page and tag's or author's feed
//! it published (the same fingerprints `serve`'s rebuild compares in
//! memory, `incremental.rs`: everything the page shows).
//!
//! A page whose fingerprint is the one the previous export recorded, and
//! whose file there is still as that export wrote it (the caller says), is
//! *kept*: not rendered at all, not even read; `export` links its file (and
//! its `.gz`/`.br` siblings) from the previous export. So a re-export after
//! one edit parses one article and renders the pages that show it. What is
//! published is exactly what [`super::build_dir`] publishes from the same
//! content; only the work differs. Feeds and lists are kept by their
//! fingerprints as pages are; the sitemap (which is dated by the build that
//! made it, and whose index names its parts), the OPML list and the
//! assets, which are few, are made every time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::publish::{publish, Rendered};
use super::sitemap::SITEMAP_PATH;
use super::{BuiltSet, ResourceKind};
use crate::codec::{Corrupt, Reader, Writer};
use crate::diagnostic::Diagnostics;
use crate::loader::{self, ParseCache};
use crate::spill::Spill;

/// What an export leaves for the next one: the articles parsed, and the
/// fingerprint of each page it published, by URL path.
#[derive(Debug, Default)]
pub struct SavedBuild {
    parse: ParseCache,
    pages: HashMap<String, u64>,
}

impl SavedBuild {
    /// How many pages' fingerprints it holds.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    /// Writes it in the binary form of `crate::codec`: the articles
    /// published by `now`, then the pages.
    #[cfg(test)]
    pub(crate) fn save<W: std::io::Write>(&self, now: DateTime<Utc>, out: &mut Writer<W>) {
        self.parse.save(now, out);
        self.save_pages(out);
    }

    /// Writes the pages' fingerprints, which follow the articles (written
    /// while the site is built: see [`build_dir_saved`]).
    pub(crate) fn save_pages<W: std::io::Write>(&self, out: &mut Writer<W>) {
        let mut pages: Vec<(&String, &u64)> = self.pages.iter().collect();
        pages.sort();
        out.len(pages.len());
        for (path, fingerprint) in pages {
            out.str(path);
            out.u64(*fingerprint);
        }
    }

    /// What [`SavedBuild::save`] wrote.
    pub(crate) fn restore(input: &mut Reader) -> Result<SavedBuild, Corrupt> {
        let parse = ParseCache::restore(input)?;
        let count = input.count(16)?;
        let mut pages = HashMap::with_capacity(count);
        for _ in 0..count {
            let path = input.string()?;
            pages.insert(path, input.u64()?);
        }
        Ok(SavedBuild { parse, pages })
    }
}

/// What [`build_dir_saved`] gives.
#[derive(Debug)]
pub struct SavedOutput {
    /// Every resource rendered: the site's resources but the kept ones.
    pub set: BuiltSet,
    /// The kept resources, by URL path: published unchanged from the
    /// previous export's files, never rendered.
    pub kept: BTreeMap<String, ResourceKind>,
    /// What to save for the next export.
    pub saved: SavedBuild,
}

/// Loads the site in `root` as of `now` and builds it, parsing only the
/// articles whose files changed since `saved` was made and keeping every
/// page whose fingerprint is the one `saved` holds for it, when
/// `unchanged_file(url_path)` says that the previous export's file of it
/// (and each of its siblings) is still as written. Cold pages rendered go
/// to `spill`. A resource larger than `[limits] resource_bytes` is an
/// error, as in [`super::build_dir`] (a kept page was checked under the
/// same settings, which its fingerprint covers).
///
/// `with_articles`, when given, is called with the articles loaded (what
/// the next export is to find parsed), on a thread of its own while the
/// pages are built; what it gives is returned beside the output.
pub fn build_dir_saved<T: Send>(
    root: &Path,
    now: DateTime<Utc>,
    saved: SavedBuild,
    unchanged_file: &(dyn Fn(&str) -> bool + Sync),
    spill: &Spill,
    with_articles: Option<&(dyn Fn(&ParseCache) -> T + Sync)>,
) -> Result<(SavedOutput, Option<T>), Diagnostics> {
    let SavedBuild { mut parse, pages } = saved;
    let site = loader::load_cached(root, now, &mut parse)?;
    tracing::debug!("loaded");
    // A kept page is published with no bytes until `export` links its
    // file: it is taken out of the set before anything reads it.
    // (The lists are published on a thread of their own: shared by lock.)
    let kept = Mutex::new(HashSet::new());
    let keep = |path: &str, fingerprint: u64| {
        let url_path = format!("/{path}");
        let same = pages.get(path) == Some(&fingerprint) && unchanged_file(&url_path);
        if same {
            kept.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(url_path);
        }
        same
    };
    // A kept list's date is not read: the lists compute theirs from what
    // they show. The sitemap is the exception (a kept sitemap index is
    // read for its parts and dated by the earlier build): it is never
    // kept here, and made again (milliseconds, even at 100,000 articles).
    let (mut set, rendered, given) = std::thread::scope(|scope| {
        let parse = &parse;
        // On a thread of its own beside the publish; where none can be
        // started, after it.
        let mut job = None;
        let mut later = None;
        if let Some(with_articles) = with_articles {
            match std::thread::Builder::new().spawn_scoped(scope, move || with_articles(parse)) {
                Ok(started) => job = Some(started),
                Err(_) => later = Some(with_articles),
            }
        }
        let mut keep_list = |path: &str, fingerprint: u64| {
            (path != SITEMAP_PATH && keep(path, fingerprint))
                .then(|| (Bytes::new(), DateTime::UNIX_EPOCH.fixed_offset()))
        };
        let (set, rendered) = publish(
            &site,
            &mut |path, fingerprint| keep(path, fingerprint).then(|| (Bytes::new(), 0..0, false)),
            &mut |path, fingerprint| keep(path, fingerprint).then(Bytes::new),
            &mut keep_list,
            spill,
        );
        let given = match (job, later) {
            (Some(job), _) => job.join().ok(),
            (None, Some(with_articles)) => Some(with_articles(parse)),
            (None, None) => None,
        };
        (set, rendered, given)
    });
    let kept = kept
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut kept_kinds = BTreeMap::new();
    set.resources.retain(|url_path, resource| {
        if kept.contains(url_path) {
            kept_kinds.insert(url_path.clone(), resource.kind);
            false
        } else {
            true
        }
    });
    super::limits::check_resource_sizes(&site, &set, super::config_path(root))?;
    let output = SavedOutput {
        set,
        kept: kept_kinds,
        saved: SavedBuild {
            parse,
            pages: fingerprints(rendered),
        },
    };
    Ok((output, given))
}

/// The fingerprint of every page a build published, kept or rendered.
fn fingerprints(rendered: Rendered) -> HashMap<String, u64> {
    let Rendered {
        articles,
        archives,
        lists,
    } = rendered;
    let mut pages = HashMap::with_capacity(articles.len() + archives.len() + lists.len());
    pages.extend(articles.into_iter().map(|p| (p.path, p.fingerprint)));
    pages.extend(archives.into_iter().map(|p| (p.path, p.fingerprint)));
    pages.extend(lists.into_iter().map(|p| (p.path, p.fingerprint)));
    pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write_article(root: &Path, slug: &str, minute: u32, body: &str) {
        let text = format!(
            "+++\ntitle = \"{slug}\"\ndate = 2024-05-20T08:{minute:02}:00Z\nauthors = [\"Ann\"]\ntags = [\"all\"]\n+++\n\n{body}\n"
        );
        fs::write(root.join(format!("content/news/{slug}.md")), text).unwrap();
    }

    /// A site with one section, `news`, and no article yet; `settings`
    /// are added to its config.toml.
    fn news_site(settings: &str) -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("content/news")).unwrap();
        fs::write(
            root.join("config.toml"),
            format!("title = \"T\"\nbase_url = \"https://e.com/\"\ntag_authority = \"e.com\"\n{settings}"),
        )
        .unwrap();
        fs::write(
            root.join("content/news/_index.md"),
            "+++\ntitle = \"News\"\n+++\n",
        )
        .unwrap();
        dir
    }

    /// The build as `export` runs it, with nothing written beside.
    fn build(
        root: &Path,
        now: DateTime<Utc>,
        saved: SavedBuild,
        unchanged_file: &(dyn Fn(&str) -> bool + Sync),
    ) -> SavedOutput {
        build_dir_saved::<()>(root, now, saved, unchanged_file, &Spill::heap(), None)
            .unwrap()
            .0
    }

    /// Saves and restores, as a new process would find it.
    fn round_trip(saved: &SavedBuild, now: DateTime<Utc>) -> SavedBuild {
        let mut out = Writer::to_vec();
        saved.save(now, &mut out);
        let (bytes, _) = out.finish().unwrap();
        SavedBuild::restore(&mut Reader::new(Bytes::from(bytes))).unwrap()
    }

    /// A small site's saved build, as written.
    fn saved_bytes() -> &'static [u8] {
        static SAVED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        SAVED.get_or_init(|| {
            let dir = news_site("");
            let root = dir.path();
            write_article(root, "a", 0, "Body *one*.");
            write_article(root, "b", 1, "Body two.");
            let now = Utc::now();
            let all = |_: &str| true;
            let built = build(root, now, SavedBuild::default(), &all);
            let mut out = Writer::to_vec();
            built.saved.save(now, &mut out);
            out.finish().unwrap().0
        })
    }

    proptest::proptest! {
        #[test]
        fn a_garbled_saved_build_is_read_back_or_refused_never_a_panic(
            changes in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..8),
            cut in proptest::num::usize::ANY,
        ) {
            let mut bytes = saved_bytes().to_vec();
            for (at, value) in changes {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            bytes.truncate(bytes.len().saturating_sub(cut % 4));
            let _ = SavedBuild::restore(&mut Reader::new(Bytes::from(bytes)));
        }
    }

    #[test]
    fn a_saved_build_keeps_every_page_an_edit_leaves_alone_and_renders_the_same_as_a_full_build() {
        let dir = news_site("page_size = 2\narchive_page_size = 2\nlimit = 2\n");
        let root = dir.path();
        for (i, slug) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            write_article(root, slug, i as u32, "Body.");
        }
        let now = Utc::now();
        let all = |_: &str| true;
        let first = build(root, now, SavedBuild::default(), &all);
        assert!(first.kept.is_empty());
        assert_eq!(first.set, crate::build::build_dir(root, now).unwrap());

        let again = build(root, now, round_trip(&first.saved, now), &all);
        // Every page kept but the sitemap, which is always made again.
        assert_eq!(again.kept.len(), first.saved.pages() - 1);
        assert!(again.set.resources.contains_key("/sitemap.xml"));
        let rendered: Vec<&String> = again.set.resources.keys().collect();
        assert!(
            rendered.iter().all(|path| !path.starts_with("/news/a/")),
            "{rendered:?}"
        );

        // The oldest article edited: its page, the archive page and the
        // list pages that hold it, and the tag's and author's feeds that
        // list it are rendered again; the other article pages are kept.
        write_article(root, "a", 0, "Body, corrected.");
        let edited = build(root, now, round_trip(&again.saved, now), &all);
        assert!(edited.set.resources.contains_key("/news/a/"));
        assert!(edited.kept.contains_key("/news/b/"));
        let full = crate::build::build_dir(root, now).unwrap();
        for (path, resource) in &edited.set.resources {
            assert_eq!(Some(resource), full.resources.get(path), "{path}");
        }
        let mut published: Vec<&String> = edited
            .set
            .resources
            .keys()
            .chain(edited.kept.keys())
            .collect();
        published.sort();
        assert_eq!(published, full.resources.keys().collect::<Vec<_>>());
        for (path, kind) in &edited.kept {
            assert_eq!(full.resources[path].kind, *kind, "{path}");
        }

        // A page whose file is no longer as written is rendered again.
        let not_b = |url_path: &str| url_path != "/news/b/";
        let without_b = build(root, now, round_trip(&edited.saved, now), &not_b);
        assert_eq!(
            without_b.set.resources.get("/news/b/"),
            full.resources.get("/news/b/")
        );
        assert!(!without_b.kept.contains_key("/news/b/"));
    }

    /// The thread that writes the cache's articles panics: the build still
    /// gives its output (the same as without it), and no result, so `export`
    /// writes no cache (and removes the staging file: `export_kept`,
    /// `!cache_written`).
    #[test]
    fn a_panic_in_with_articles_loses_only_the_cache() {
        let site = news_site("");
        let root = site.path();
        write_article(root, "a", 0, "Body.");
        let now = Utc::now();
        let all = |_: &str| true;
        let boom = |_: &crate::loader::ParseCache| -> u32 { panic!("cache writer failed") };
        let (output, given) = build_dir_saved(
            root,
            now,
            SavedBuild::default(),
            &all,
            &Spill::heap(),
            Some(&boom),
        )
        .unwrap();
        assert!(given.is_none());
        assert_eq!(output.set, crate::build::build_dir(root, now).unwrap());
    }
}
