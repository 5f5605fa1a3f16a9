//! Reading a site directory (`config.toml` and `content/`) into the [`Site`] model.
//!
//! This is the only module that reads content from disk. It reads directories
//! in sorted order, checks every file, and reports every problem it finds as
//! `path:line: message` in one run. Parsing is pure (`parse_article`,
//! `parse_section`); `load` does the IO around it.
//!
//! Layout: `content/<section>/_index.md` holds a section's title and
//! description; `content/<section>/<slug>.md` is an article, and the folder
//! `content/<section>/<slug>/`, if there is one, holds its files (images,
//! audio), published beside its page. Hidden files and editor leftovers
//! (`.#x`, `x~`, `x.swp`) are skipped; other non-Markdown files in a section
//! are not published.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::front_matter;
use crate::markdown;
use crate::model::{newest_first, Article, ArticleId, Author, Html, Media, Section, Site};
use crate::parallel;
use crate::toml_source;

/// The largest content file read, in bytes; anything larger is a mistake.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Loads the site in `root` as it stands at `now`: drafts and articles dated
/// after `now` are checked but left out of the model.
pub fn load(root: &Path, now: DateTime<Utc>) -> Result<Site, Diagnostics> {
    load_cached(root, now, &mut ParseCache::default())
}

/// Articles parsed by an earlier load, reused by the next one when a file's
/// text and the configuration are unchanged, so that a reload after editing
/// one article parses one article. Files are still read (to compare their
/// text), which costs far less than parsing and rendering Markdown.
#[derive(Debug, Default)]
pub struct ParseCache {
    config_hash: u64,
    articles: HashMap<PathBuf, CachedArticle>,
    /// Articles' files (images, audio), read again only when their stat changes.
    media: HashMap<PathBuf, CachedMedia>,
    parsed_last_load: usize,
}

#[derive(Debug)]
struct CachedMedia {
    stamp: Option<FileStamp>,
    bytes: Bytes,
    modified: DateTime<Utc>,
}

#[derive(Debug)]
struct CachedArticle {
    text_hash: u64,
    /// The file's metadata when it was read.
    stamp: Option<FileStamp>,
    parsed: ParsedArticle,
}

/// What `stat` says of a file: when its size, times and inode are all as
/// they were, the file was not written since (the rule `make` and git use),
/// and the next load does not read it at all. A file changed in the last
/// [`RACY_WINDOW`] is not trusted this way (a write in the same clock tick
/// may not show in its time stamps yet): it is read and compared again. The
/// window is measured on the change time, which, unlike the modification
/// time, no tool can set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    inode: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// How long ago a file must have changed for its stamp to be trusted.
const RACY_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

impl FileStamp {
    /// The stamp of `path`, following links.
    fn read(path: &Path) -> Option<FileStamp> {
        fs::metadata(path).ok().map(|meta| FileStamp::of(&meta))
    }

    /// The stamp in metadata already read.
    fn of(meta: &fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            len: meta.len(),
            inode: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// True when the file last changed more than [`RACY_WINDOW`] before `now`.
    fn is_settled(&self, now: std::time::SystemTime) -> bool {
        let changed = std::time::UNIX_EPOCH
            + std::time::Duration::new(
                u64::try_from(self.ctime.0).unwrap_or(0),
                u32::try_from(self.ctime.1).unwrap_or(0),
            );
        now.duration_since(changed)
            .is_ok_and(|age| age > RACY_WINDOW)
    }

    /// The stamp of `path` if it is settled enough to be trusted.
    fn trusted(path: &Path) -> Option<FileStamp> {
        FileStamp::read(path).filter(|stamp| stamp.is_settled(std::time::SystemTime::now()))
    }
}

impl ParseCache {
    /// How many parsed articles the cache holds.
    pub fn len(&self) -> usize {
        self.articles.len()
    }

    /// How many articles the last load had to parse (the rest were reused).
    pub fn parsed_last_load(&self) -> usize {
        self.parsed_last_load
    }

    /// Has the cached article of each named file keep its body as the given
    /// `Html` (the same text, held inside its rendered page), so the body is
    /// in memory once.
    pub(crate) fn share_content(&mut self, bodies: Vec<(PathBuf, Html)>) {
        for (path, html) in bodies {
            if let Some(cached) = self.articles.get_mut(&path) {
                if cached.parsed.article.content_html.as_str() == html.as_str() {
                    let mut article = Article::clone(&cached.parsed.article);
                    article.content_html = html;
                    cached.parsed.article = Arc::new(article);
                }
            }
        }
    }

    /// True when the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }
}

/// The cache as one load uses it: what the previous load left, and what
/// this load parsed or reused, which becomes the cache for the next load
/// (so files that are gone drop out).
struct Reuse {
    previous: HashMap<PathBuf, CachedArticle>,
    next: HashMap<PathBuf, CachedArticle>,
    media_previous: HashMap<PathBuf, CachedMedia>,
    media_next: HashMap<PathBuf, CachedMedia>,
    parsed: usize,
}

pub(crate) fn text_hash(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Like [`load`], reusing (and then replacing) the articles in `cache`.
pub fn load_cached(
    root: &Path,
    now: DateTime<Utc>,
    cache: &mut ParseCache,
) -> Result<Site, Diagnostics> {
    let root = display_root(root);
    let mut diagnostics = Diagnostics::default();
    let config_path = root.join("config.toml");
    let config = read_text(&config_path)
        .and_then(|text| Ok((Config::parse(&config_path, &text)?, text_hash(&text))));
    let content_dir = root.join("content");
    let mut reuse = Reuse {
        previous: std::mem::take(&mut cache.articles),
        next: HashMap::new(),
        media_previous: std::mem::take(&mut cache.media),
        media_next: HashMap::new(),
        parsed: 0,
    };
    let sections = match &config {
        Ok((config, hash)) => {
            if *hash != cache.config_hash {
                reuse.previous.clear();
            }
            cache.config_hash = *hash;
            load_sections(&content_dir, config, now, &mut diagnostics, &mut reuse)
        }
        Err(_) => Vec::new(),
    };
    cache.articles = reuse.next;
    cache.media = reuse.media_next;
    cache.parsed_last_load = reuse.parsed;
    let next_publication = next_publication(&cache.articles, now);
    tracing::debug!(
        parsed = reuse.parsed,
        reused = cache.articles.len() - reuse.parsed,
        "loaded articles"
    );
    match config.map(|(config, _)| config) {
        Err(error) => {
            diagnostics.0.insert(0, error);
            Err(diagnostics)
        }
        Ok(config) if diagnostics.is_empty() => Ok(Site {
            config,
            sections,
            next_publication,
        }),
        Ok(_) => Err(diagnostics),
    }
}

/// The earliest date after `now` of the articles just loaded, drafts aside.
fn next_publication(
    articles: &HashMap<PathBuf, CachedArticle>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    articles
        .values()
        .filter(|cached| !cached.parsed.draft)
        .map(|cached| cached.parsed.article.published.with_timezone(&Utc))
        .filter(|published| *published > now)
        .min()
}

/// The site root as paths in messages start with it: `.` is left out, so
/// they read `content/a/b.md:3: …` and `public/`, not `./content/…`.
pub fn display_root(root: &Path) -> PathBuf {
    if root == Path::new(".") {
        PathBuf::new()
    } else {
        root.to_path_buf()
    }
}

fn load_sections(
    content_dir: &Path,
    config: &Config,
    now: DateTime<Utc>,
    diagnostics: &mut Diagnostics,
    reuse: &mut Reuse,
) -> Vec<Section> {
    let shown = if content_dir.as_os_str() == "content" {
        PathBuf::from("content/")
    } else {
        content_dir.to_path_buf()
    };
    let entries = match sorted_entries(content_dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(Diagnostic::new(
                shown,
                1,
                format!("cannot read the content directory: {error}"),
            ));
            return Vec::new();
        }
    };
    let real_content_dir =
        fs::canonicalize(content_dir).unwrap_or_else(|_| content_dir.to_path_buf());
    let mut sections = Vec::new();
    for entry in entries {
        if entry.is_dir {
            if let Err(error) = check_inside(&entry, &real_content_dir) {
                diagnostics.push(error);
                continue;
            }
            if let Some(section) = load_section(
                &entry.path,
                &real_content_dir,
                config,
                now,
                diagnostics,
                reuse,
            ) {
                sections.push(section);
            }
        } else if entry.name.ends_with(".md") {
            diagnostics.push(Diagnostic::new(
                &entry.path,
                1,
                "articles live in a section folder: move this file to content/<section>/",
            ));
        }
    }
    sections
}

struct Entry {
    path: PathBuf,
    name: String,
    is_dir: bool,
    /// A symbolic link, to be checked for pointing outside `content/`.
    is_link: bool,
}

/// Refuses a symbolic link that leads outside the content directory.
fn check_inside(entry: &Entry, content_dir: &Path) -> Result<(), Diagnostic> {
    if !entry.is_link {
        return Ok(());
    }
    match fs::canonicalize(&entry.path) {
        Ok(real) if !real.starts_with(content_dir) => Err(Diagnostic::new(
            &entry.path,
            1,
            format!("links to {}, outside the content directory", real.display()),
        )),
        // A dangling link is reported when the file is read.
        _ => Ok(()),
    }
}

/// The entries of `dir` that are content, sorted by name. Hidden files and
/// editor leftovers are skipped, so a half-saved file never becomes an article.
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.')
            || name.starts_with('#')
            || name.ends_with('~')
            || name.ends_with(".swp")
        {
            continue;
        }
        let path = dir.join(&name);
        // The entry's own type costs no system call; only a link is followed.
        let file_type = entry.file_type()?;
        let is_link = file_type.is_symlink();
        let is_dir = if is_link {
            fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false)
        } else {
            file_type.is_dir()
        };
        entries.push(Entry {
            path,
            name,
            is_dir,
            is_link,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn load_section(
    dir: &Path,
    content_dir: &Path,
    config: &Config,
    now: DateTime<Utc>,
    diagnostics: &mut Diagnostics,
    reuse: &mut Reuse,
) -> Option<Section> {
    let slug = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let index_path = dir.join("_index.md");
    let mut ok = true;
    if let Err(message) = check_slug(&slug) {
        diagnostics.push(Diagnostic::new(
            &index_path,
            1,
            format!("section folder name {message}"),
        ));
        ok = false;
    }
    let entries = match sorted_entries(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(Diagnostic::new(
                dir,
                1,
                format!("cannot read the section folder: {error}"),
            ));
            return None;
        }
    };
    let header = if let Some(index) = entries.iter().find(|e| e.name == "_index.md") {
        read_content_file(index, content_dir).and_then(|text| parse_section(&index_path, &text))
    } else {
        Err(Diagnostic::new(
            &index_path,
            1,
            "file is missing: every section folder needs an _index.md with the section's title",
        )
        .into())
    };
    let header = header.map_err(|d| diagnostics.extend(d.0)).ok();

    // First, in file order: which articles the cache settles without reading
    // them, and which must be read (and parsed, if their text changed). Folders
    // hold articles' files, read once the articles are known.
    let mut slots = Vec::new();
    let mut media_dirs = Vec::new();
    for entry in entries {
        if entry.name == "_index.md" {
            continue;
        }
        if entry.is_dir {
            media_dirs.push(entry);
            continue;
        }
        if !entry.name.ends_with(".md") {
            continue;
        }
        let stamp = FileStamp::trusted(&entry.path);
        let slot = match reuse.previous.remove(&entry.path) {
            // Unchanged since it was parsed: not even read.
            Some(cached) if stamp.is_some() && cached.stamp == stamp => Slot::Done(Ok(cached)),
            cached => Slot::Todo { cached, stamp },
        };
        slots.push((entry, slot));
    }
    // Then reading and parsing, the slow part, on every core.
    let parsed = AtomicUsize::new(0);
    parallel::for_each(&mut slots, |(entry, slot)| {
        if let Slot::Todo { cached, stamp } = slot {
            let mut fresh = false;
            let outcome = read_content_file(entry, content_dir).and_then(|text| {
                let text_hash = text_hash(&text);
                let article = match cached.take() {
                    Some(cached) if cached.text_hash == text_hash => cached.parsed,
                    _ => {
                        parsed.fetch_add(1, Ordering::Relaxed);
                        fresh = true;
                        parse_article(&entry.path, &text, &slug, config)?
                    }
                };
                Ok(CachedArticle {
                    text_hash,
                    stamp: *stamp,
                    parsed: article,
                })
            });
            *slot = match outcome {
                Ok(cached) if fresh => Slot::Fresh(cached),
                outcome => Slot::Done(outcome),
            };
        }
    });
    reuse.parsed += parsed.into_inner();
    // The bodies just parsed, each in an allocation of its own, go into one
    // block for the section. Until the build re-points each body into its
    // page, the bodies and the pages are in memory together; as one block,
    // the bodies are then freed whole and handed back to the system, instead
    // of leaving thousands of holes between the pages that it cannot take.
    let mut bodies: Vec<&mut Html> = slots
        .iter_mut()
        .filter_map(|(_, slot)| match slot {
            Slot::Fresh(cached) => Arc::get_mut(&mut cached.parsed.article),
            _ => None,
        })
        .map(|article| &mut article.content_html)
        .collect();
    Html::pack(&mut bodies);
    // Last, in file order again: slugs, errors, and what is published.
    let mut articles = Vec::new();
    // Slug -> the file that claimed it first, so a second one is reported against it.
    let mut claimed: BTreeMap<String, PathBuf> = BTreeMap::new();
    // File name without `.md` -> the slug of its article, or `None` when the
    // file has errors (reported already): what a folder beside it may be named.
    let mut slug_of_file: HashMap<String, Option<String>> = HashMap::new();
    for (entry, slot) in slots {
        let outcome = match slot {
            Slot::Fresh(cached) => Ok(cached),
            Slot::Done(outcome) => outcome,
            Slot::Todo { .. } => continue,
        };
        // Only needed, and only built, when the section has folders.
        let stem = (!media_dirs.is_empty()).then(|| {
            entry
                .name
                .strip_suffix(".md")
                .unwrap_or(&entry.name)
                .to_string()
        });
        match outcome {
            Ok(cached) => {
                if let Some(stem) = stem {
                    slug_of_file.insert(stem, Some(cached.parsed.article.slug.clone()));
                }
                let parsed = cached.parsed.clone();
                reuse.next.insert(entry.path.clone(), cached);
                claim_and_keep(
                    parsed,
                    &entry.path,
                    &mut claimed,
                    &mut articles,
                    now,
                    diagnostics,
                );
            }
            Err(errors) => {
                if let Some(stem) = stem {
                    slug_of_file.insert(stem, None);
                }
                diagnostics.extend(errors.0);
            }
        }
    }
    let mut media = Vec::new();
    let published: HashSet<&str> = if media_dirs.is_empty() {
        HashSet::new()
    } else {
        articles.iter().map(|a| a.slug.as_str()).collect()
    };
    for dir in media_dirs {
        if claimed.contains_key(&dir.name) {
            // A draft's or a later article's files are checked, and wait with it.
            let publish = published.contains(dir.name.as_str());
            let place = MediaPlace {
                section: &slug,
                content_dir,
                publish,
            };
            load_media(&dir, &place, diagnostics, reuse, &mut media);
            continue;
        }
        match slug_of_file.get(&dir.name) {
            // The article has errors: those are reported, not its folder.
            Some(None) => {}
            Some(Some(article_slug)) => diagnostics.push(Diagnostic::new(
                &dir.path,
                1,
                format!(
                    "the article in {}.md has the slug `{article_slug}`: name its folder `{article_slug}`",
                    dir.name
                ),
            )),
            None => diagnostics.push(Diagnostic::new(
                &dir.path,
                1,
                format!(
                    "no article in this section has the slug `{}`: a folder in a section holds \
                     the files (images, audio) of the article whose slug is its name",
                    dir.name
                ),
            )),
        }
    }
    let header = header?;
    if !ok {
        return None;
    }
    articles.sort_by(|a, b| newest_first(a, b));
    Some(Section {
        slug,
        title: header.title,
        description: header.description,
        limit: header.limit,
        articles,
        media,
    })
}

/// The largest file an article's folder may hold: the server keeps every
/// published file in memory.
pub const MAX_MEDIA_BYTES: u64 = 32 * 1024 * 1024;

/// Where an article's folder is, and whether its files are published now.
struct MediaPlace<'a> {
    section: &'a str,
    content_dir: &'a Path,
    /// False for a draft or a later article: its files are checked, not read.
    publish: bool,
}

/// Checks the files of the article whose folder is `dir` and, when it is
/// published, reads them into `media`; unchanged files come from the cache
/// unread.
fn load_media(
    dir: &Entry,
    place: &MediaPlace<'_>,
    diagnostics: &mut Diagnostics,
    reuse: &mut Reuse,
    media: &mut Vec<Media>,
) {
    if let Err(error) = check_inside(dir, place.content_dir) {
        diagnostics.push(error);
        return;
    }
    let entries = match sorted_entries(&dir.path) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(Diagnostic::new(
                &dir.path,
                1,
                format!("cannot read the article's folder: {error}"),
            ));
            return;
        }
    };
    // Lower-cased names seen, so that two names differing only in case (one
    // file on a case-insensitive disk, or behind a CDN) are refused.
    let mut seen: HashMap<String, String> = HashMap::new();
    for entry in entries {
        let lower = entry.name.to_ascii_lowercase();
        let refused = if entry.is_dir {
            Some(
                "folders inside an article's folder are not read: put its files directly in it"
                    .to_string(),
            )
        } else if lower.ends_with(".md") {
            Some("an article's folder holds its files, not articles: move this one to the section folder".to_string())
        } else if lower.starts_with("index.html") {
            Some("`index.html` is the article's own page: rename this file".to_string())
        } else if lower.ends_with(".gz") || lower.ends_with(".br") {
            Some("names ending in `.gz` and `.br` are those of precompressed copies, which web servers send in place of the file: rename this one".to_string())
        } else if matches!(lower.as_str(), "rss.xml" | "atom.xml" | "feed.json") {
            Some(
                "this is the name of a feed, which web servers serve as one: rename this file"
                    .to_string(),
            )
        } else if !is_media_name(&entry.name) {
            Some("a file name in an article's folder is part of its URL: use ASCII letters, digits, `-`, `_` and `.`".to_string())
        } else {
            seen.get(&lower).map(|first| {
                format!("differs from `{first}` only in case: the two are one file on some disks and servers")
            })
        };
        if let Some(message) = refused {
            diagnostics.push(Diagnostic::new(&entry.path, 1, message));
            continue;
        }
        seen.insert(lower, entry.name.clone());
        if let Err(error) = check_inside(&entry, place.content_dir) {
            diagnostics.push(error);
            continue;
        }
        let file = match media_file(&entry.path) {
            Ok(file) => file,
            Err(error) => {
                diagnostics.push(error);
                continue;
            }
        };
        if !place.publish {
            continue;
        }
        let stamp = Some(file.stamp).filter(|stamp| stamp.is_settled(std::time::SystemTime::now()));
        let previous = reuse.media_previous.remove(&entry.path);
        let cached = match previous {
            Some(cached) if stamp.is_some() && cached.stamp == stamp => Ok(cached),
            previous => read_media(&entry.path, file).map(|bytes| {
                // The same bytes as before keep their allocation: the served
                // set holds that one, and should not hold a second copy.
                let bytes = match previous {
                    Some(previous) if previous.bytes == bytes => previous.bytes,
                    _ => bytes,
                };
                CachedMedia {
                    stamp,
                    bytes,
                    modified: file.modified,
                }
            }),
        };
        match cached {
            Ok(cached) => {
                media.push(Media {
                    path: format!("{}/{}/{}", place.section, dir.name, entry.name),
                    bytes: cached.bytes.clone(),
                    modified: cached.modified,
                });
                reuse.media_next.insert(entry.path, cached);
            }
            Err(error) => diagnostics.push(error),
        }
    }
}

/// A file name that can stand in a URL as it is, and is no hidden file.
fn is_media_name(name: &str) -> bool {
    !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// What `stat` says of an article's file, once it is known to be a regular
/// file of an allowed size.
#[derive(Debug, Clone, Copy)]
struct MediaFile {
    stamp: FileStamp,
    modified: DateTime<Utc>,
}

/// Checks, without opening it, that `path` is a regular file (a named pipe
/// would block the build) within [`MAX_MEDIA_BYTES`].
fn media_file(path: &Path) -> Result<MediaFile, Diagnostic> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path)
        .map_err(|error| Diagnostic::new(path, 1, format!("cannot read file: {error}")))?;
    if !meta.is_file() {
        return Err(Diagnostic::new(
            path,
            1,
            "not a regular file: an article's folder holds files",
        ));
    }
    if meta.len() > MAX_MEDIA_BYTES {
        return Err(Diagnostic::new(
            path,
            1,
            format!(
                "file is larger than the {} MiB an article's file may be",
                MAX_MEDIA_BYTES >> 20
            ),
        ));
    }
    // A time past what a date can hold is the latest one; the server and the
    // export hold any time in the future back to their own.
    let modified = u32::try_from(meta.mtime_nsec())
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(meta.mtime(), nanos))
        .unwrap_or(if meta.mtime() > 0 {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::UNIX_EPOCH
        });
    Ok(MediaFile {
        stamp: FileStamp::of(&meta),
        modified,
    })
}

/// Reads an article's file whole.
fn read_media(path: &Path, file: MediaFile) -> Result<Bytes, Diagnostic> {
    match read_capped(path, file.stamp.len, MAX_MEDIA_BYTES)? {
        Some(bytes) => Ok(Bytes::from(bytes)),
        None => Err(Diagnostic::new(
            path,
            1,
            "file grew past the limit while it was read",
        )),
    }
}

/// Reads the regular file `path`, of `len` bytes by its metadata, into a
/// buffer of that size, so that it takes one read (growing one from empty
/// took nine reads and as many copies per article). The length is only a
/// hint: a file that grows meanwhile is still capped, and `None` says it
/// went past `max`.
fn read_capped(path: &Path, len: u64, max: u64) -> Result<Option<Vec<u8>>, Diagnostic> {
    let cannot_read =
        |error: std::io::Error| Diagnostic::new(path, 1, format!("cannot read file: {error}"));
    let hint = len.min(max + 1);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0) + 1);
    fs::File::open(path)
        .map_err(cannot_read)?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// One article file of a section on its way through [`load_section`].
enum Slot {
    /// To be read: what the cache had for it, and its stamp if settled.
    Todo {
        cached: Option<CachedArticle>,
        stamp: Option<FileStamp>,
    },
    /// Read and parsed (or reused), or what was wrong with it.
    Done(Result<CachedArticle, Diagnostics>),
    /// Read and parsed just now.
    Fresh(CachedArticle),
}

/// Claims `parsed`'s slug in its section (a slug claimed already is an error
/// against the later file) and keeps the article if it is published by `now`.
fn claim_and_keep(
    parsed: ParsedArticle,
    path: &Path,
    claimed: &mut BTreeMap<String, PathBuf>,
    articles: &mut Vec<Arc<Article>>,
    now: DateTime<Utc>,
    diagnostics: &mut Diagnostics,
) {
    let key = parsed.article.slug.clone();
    if let Some(first) = claimed.get(&key) {
        diagnostics.push(Diagnostic::new(
            path,
            parsed.slug_line,
            format!(
                "duplicate slug `{key}` (and id {}): {} already uses it",
                parsed.article.id,
                first.display()
            ),
        ));
        return;
    }
    claimed.insert(key, path.to_path_buf());
    if !parsed.draft && parsed.article.published <= now {
        articles.push(parsed.article);
    }
}

/// Reads a content file as UTF-8 text, refusing what could never be an
/// article: a file outside `content/` through a link, a huge file, bytes
/// that are not UTF-8 or characters that XML cannot carry.
fn read_content_file(entry: &Entry, content_dir: &Path) -> Result<String, Diagnostics> {
    check_inside(entry, content_dir)?;
    let text = read_text(&entry.path)?;
    check_xml_chars(&entry.path, &text)?;
    Ok(text)
}

/// Reads `path` as UTF-8 text of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let cannot_read =
        |error: std::io::Error| Diagnostic::new(path, 1, format!("cannot read file: {error}"));
    // Checked before opening: opening a named pipe would wait for a writer.
    let meta = fs::metadata(path).map_err(cannot_read)?;
    if !meta.is_file() {
        return Err(Diagnostic::new(path, 1, "not a regular file"));
    }
    let Some(bytes) = read_capped(path, meta.len(), MAX_FILE_BYTES)? else {
        return Err(Diagnostic::new(
            path,
            1,
            format!(
                "file is larger than the {} MiB a content file may be",
                MAX_FILE_BYTES >> 20
            ),
        ));
    };
    String::from_utf8(bytes).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        let line = crate::diagnostic::line_of_offset(
            &String::from_utf8_lossy(&error.as_bytes()[..offset]),
            offset,
        );
        Diagnostic::new(path, line, "file is not valid UTF-8: save it as UTF-8")
    })
}

/// Rejects characters that XML 1.0 forbids (most C0 and C1 controls,
/// U+FFFE, U+FFFF): they could never reach a feed.
fn check_xml_chars(path: &Path, text: &str) -> Result<(), Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    for (offset, c) in text.char_indices() {
        if !is_xml_char(c) {
            diagnostics.push(Diagnostic::at_offset(
                path,
                text,
                offset,
                format!(
                    "character U+{:04X} is not allowed in a feed: remove it",
                    c as u32
                ),
            ));
            if diagnostics.len() >= 10 {
                break;
            }
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(diagnostics)
    }
}

/// True for the characters XML 1.0 allows and does not discourage as controls.
pub(crate) fn is_xml_char(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// The front matter of a section's `_index.md`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionFrontMatter {
    title: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    limit: Option<NonZeroUsize>,
}

/// A section's `_index.md`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SectionHeader {
    pub title: String,
    pub description: String,
    pub limit: Option<NonZeroUsize>,
}

/// Parses the text of a section's `_index.md`.
pub(crate) fn parse_section(path: &Path, text: &str) -> Result<SectionHeader, Diagnostics> {
    let split = front_matter::split(text).map_err(|e| Diagnostic::new(path, e.line, e.message))?;
    let front: SectionFrontMatter = toml_source::parse(path, text, split.front, split.front_start)?;
    let title = front.title.get_ref().trim().to_string();
    if title.is_empty() {
        return Err(empty_title(path, text, split.front_start, &front.title).into());
    }
    Ok(SectionHeader {
        title,
        description: front.description.trim().to_string(),
        limit: front.limit,
    })
}

fn empty_title(path: &Path, text: &str, start: usize, title: &Spanned<String>) -> Diagnostic {
    Diagnostic::at_offset(path, text, start + title.span().start, "`title` is empty")
}

/// The front matter of an article.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArticleFrontMatter {
    title: Spanned<String>,
    date: Spanned<Date>,
    #[serde(default)]
    updated: Option<Spanned<Date>>,
    #[serde(default)]
    authors: Vec<AuthorEntry>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    slug: Option<Spanned<String>>,
}

/// An article as parsed, with what the loader needs beyond the model.
#[derive(Debug, Clone)]
pub(crate) struct ParsedArticle {
    /// Shared between the cache and the model.
    pub article: Arc<Article>,
    pub draft: bool,
    /// The line of the `slug` key, or 1 when the slug is the file name.
    pub slug_line: usize,
}

/// Parses the text of an article in section `section`; `path` names it in errors.
pub(crate) fn parse_article(
    path: &Path,
    text: &str,
    section: &str,
    config: &Config,
) -> Result<ParsedArticle, Diagnostics> {
    let split = front_matter::split(text).map_err(|e| Diagnostic::new(path, e.line, e.message))?;
    let front: ArticleFrontMatter = toml_source::parse(path, text, split.front, split.front_start)?;
    let at = |offset: usize, message: String| {
        Diagnostic::at_offset(path, text, split.front_start + offset, message)
    };
    let mut diagnostics = Diagnostics::default();

    let title = front
        .title
        .get_ref()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if title.is_empty() {
        diagnostics.push(empty_title(path, text, split.front_start, &front.title));
    }
    let (slug, slug_line) = match &front.slug {
        Some(slug) => {
            if let Err(message) = check_slug(slug.get_ref()) {
                diagnostics.push(at(slug.span().start, format!("`slug` {message}")));
            }
            (
                slug.get_ref().clone(),
                crate::diagnostic::line_of_offset(text, split.front_start + slug.span().start),
            )
        }
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Err(message) = check_slug(&stem) {
                diagnostics.push(Diagnostic::new(
                    path,
                    1,
                    format!("file name {message}; rename the file or set `slug`"),
                ));
            }
            (stem, 1)
        }
    };
    let published = front.date.get_ref().0;
    let updated = front.updated.as_ref().map(|u| u.get_ref().0);
    if let (Some(updated), Some(spanned)) = (updated, &front.updated) {
        if updated < published {
            diagnostics.push(at(
                spanned.span().start,
                "`updated` is before `date`".to_string(),
            ));
        }
    }
    let mut authors = Vec::new();
    for entry in front.authors {
        let name = entry.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            diagnostics.push(at(
                entry.span.start,
                "an author's name is empty".to_string(),
            ));
        } else {
            authors.push(Author {
                name,
                role: entry.role,
            });
        }
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in front.tags {
        let tag = tag.split_whitespace().collect::<Vec<_>>().join(" ");
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }

    let url = config.base_url.join(&format!("{section}/{slug}/"));
    let rendered = markdown::render(split.body, &url);
    if let Some((offset, c)) = rendered.forbidden {
        let body_start = text.len() - split.body.len();
        return Err(Diagnostic::at_offset(
            path,
            text,
            body_start + offset,
            format!(
                "a character reference here is character U+{:04X}, which is not allowed in a feed: remove it",
                c as u32
            ),
        )
        .into());
    }
    let summary = match front.description {
        Some(description) => description.split_whitespace().collect::<Vec<_>>().join(" "),
        None => rendered.first_paragraph,
    };
    let article = Article {
        id: ArticleId::new(config.tag_authority.as_str(), published, section, &slug),
        section: section.to_string(),
        slug,
        title,
        published,
        updated,
        authors,
        summary,
        tags,
        content_html: Html::new(rendered.html),
        url,
        source: path.to_path_buf(),
        fingerprint: text_hash(text),
    };
    Ok(ParsedArticle {
        article: Arc::new(article),
        draft: front.draft,
        slug_line,
    })
}

/// Slugs become URL path segments and parts of ids: lower-case ASCII letters,
/// digits, `-` and `_`, so they never need escaping anywhere.
fn check_slug(slug: &str) -> Result<(), String> {
    let ok = !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{slug}` is not a valid slug: use lower-case letters, digits, `-` and `_`"
        ))
    }
}

/// A front matter date: a TOML date or date-time, or a string holding one.
/// A plain date means midnight UTC; a date-time must carry its UTC offset,
/// since a feed date without one is ambiguous.
struct Date(DateTime<FixedOffset>);

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match toml::Value::deserialize(deserializer)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(d) => d.to_string(),
            other => {
                return Err(de::Error::custom(format!(
                    "expected a date such as 2024-05-20 or 2024-05-20T08:00:00+08:00, found {}",
                    other.type_str()
                )))
            }
        };
        parse_date(&text).map(Date).map_err(de::Error::custom)
    }
}

/// Parses an RFC 3339 date-time or a plain `YYYY-MM-DD` date (midnight UTC).
pub(crate) fn parse_date(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let text = text.trim();
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Ok(date);
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .fixed_offset());
    }
    if chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").is_ok()
    {
        return Err(format!(
            "date `{text}` has no UTC offset: add one, as in `{text}Z` or `{text}+08:00`"
        ));
    }
    Err(format!(
        "`{text}` is not a date: use 2024-05-20 or 2024-05-20T08:00:00+08:00 (RFC 3339)"
    ))
}

/// One entry of `authors`: a name, or a table `{ name = "…", role = "editor" }`.
struct AuthorEntry {
    name: String,
    role: Option<String>,
    span: std::ops::Range<usize>,
}

impl<'de> Deserialize<'de> for AuthorEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<AuthorSpec>::deserialize(deserializer)?;
        let span = spanned.span();
        let spec = spanned.into_inner();
        Ok(AuthorEntry {
            name: spec.name,
            role: spec.role,
            span,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorTable {
    name: String,
    #[serde(default)]
    role: Option<String>,
}

struct AuthorSpec {
    name: String,
    role: Option<String>,
}

impl<'de> Deserialize<'de> for AuthorSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = AuthorSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a name, or a table such as { name = \"…\", role = \"editor\" }")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<AuthorSpec, E> {
                Ok(AuthorSpec {
                    name: name.to_string(),
                    role: None,
                })
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<AuthorSpec, M::Error> {
                let table = AuthorTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let role = table
                    .role
                    .map(|r| r.trim().to_lowercase())
                    .filter(|r| !r.is_empty() && r != "author");
                Ok(AuthorSpec {
                    name: table.name,
                    role,
                })
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            Path::new("config.toml"),
            "title = \"T\"\nbase_url = \"https://example.com/\"\ntag_authority = \"example.com\"\n",
        )
        .unwrap()
    }

    fn check(text: &str) -> Result<ParsedArticle, String> {
        parse_article(Path::new("content/s/a.md"), text, "s", &config()).map_err(|d| d.to_string())
    }

    #[test]
    fn parses_a_full_article() {
        let parsed = check(
            "+++\ntitle = \"Hello\"\ndate = 2024-05-20\nupdated = \"2024-05-21T10:00:00+08:00\"\nauthors = [\"A\", { name = \"B\", role = \"Editor\" }]\ntags = [\"x\", \"x\", \"y\"]\n+++\n\nFirst *para*.\n\n[link](img.png)\n",
        )
        .unwrap();
        let a = parsed.article;
        assert_eq!(a.title, "Hello");
        assert_eq!(a.published.to_rfc3339(), "2024-05-20T00:00:00+00:00");
        assert_eq!(a.updated.unwrap().to_rfc3339(), "2024-05-21T10:00:00+08:00");
        assert_eq!(
            a.authors[1],
            Author {
                name: "B".into(),
                role: Some("editor".into())
            }
        );
        assert_eq!(a.tags, ["x", "y"]);
        assert_eq!(a.summary, "First para.");
        assert_eq!(a.id.as_str(), "tag:example.com,2024-05-20:s/a");
        assert_eq!(a.url.as_str(), "https://example.com/s/a/");
        assert!(a
            .content_html
            .as_str()
            .contains("https://example.com/s/a/img.png"));
    }

    #[test]
    fn errors_point_at_the_offending_line() {
        for (text, expected) in [
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20\ntittle = 1\n+++\n",
                "content/s/a.md:4: unknown field `tittle`",
            ),
            (
                "+++\ndate = 2024-05-20\n+++\n",
                "content/s/a.md:2: missing field `title`",
            ),
            (
                "+++\ntitle = \"  \"\ndate = 2024-05-20\n+++\n",
                "content/s/a.md:2: `title` is empty",
            ),
            (
                "+++\ntitle = \"x\"\n\ndate = \"May 20\"\n+++\n",
                "content/s/a.md:4: `May 20` is not a date",
            ),
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20T08:00:00\n+++\n",
                "content/s/a.md:3: date `2024-05-20T08:00:00` has no UTC offset",
            ),
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20\nslug = \"A B\"\n+++\n",
                "content/s/a.md:4: `slug` `A B` is not a valid slug",
            ),
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20\nauthors = [{ nam = \"x\" }]\n+++\n",
                "content/s/a.md:4: unknown field `nam`",
            ),
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20\ntitle = \"y\"\n+++\n",
                "content/s/a.md:4: ",
            ),
            (
                "+++\ntitle = \"x\"\n",
                "content/s/a.md:1: the front matter opened by `+++`",
            ),
            ("title = \"x\"\n", "content/s/a.md:1: no front matter"),
        ] {
            let err = check(text).err().unwrap_or_default();
            assert!(
                err.starts_with(expected),
                "{text:?}\n  got: {err}\n  expected: {expected}"
            );
        }
    }

    #[test]
    fn escapes_of_forbidden_characters_are_refused() {
        let err = check("+++\ntitle = \"a\\u0001b\"\ndate = 2024-01-01\n+++\n").unwrap_err();
        assert!(
            err.starts_with("content/s/a.md:2: escape `\\u0001` is character U+0001"),
            "{err}"
        );
        let err = check("+++\ntitle = \"x\"\ndate = 2024-01-01\n+++\n\nfine\n\nbad &#x7f; ref\n")
            .unwrap_err();
        assert!(
            err.starts_with("content/s/a.md:8: a character reference here is character U+007F"),
            "{err}"
        );
        assert!(
            check("+++\ntitle = \"caf\\u00e9\"\ndate = 2024-01-01\n+++\n&#0; &#xe9;\n").is_ok()
        );
    }

    #[test]
    fn control_characters_are_refused() {
        let err = check_xml_chars(Path::new("a.md"), "ok\nbad\u{0}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.md:2: character U+0000 is not allowed in a feed: remove it"
        );
        assert!(check_xml_chars(Path::new("a.md"), "tab\t, 中文, emoji 🎉, rtl \u{200f}").is_ok());
    }

    /// A temporary site: a config and one section, `s`, with no articles.
    fn site_with_one_section() -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap();
        fs::write(
            dir.path().join("config.toml"),
            "title = \"T\"\nbase_url = \"https://e.com/\"\ntag_authority = \"e.com\"\n",
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("content/s")).unwrap();
        fs::write(
            dir.path().join("content/s/_index.md"),
            "+++\ntitle = \"S\"\n+++\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn next_publication_is_the_earliest_later_article_that_is_no_draft() {
        let dir = site_with_one_section();
        let root = dir.path();
        let articles = [
            ("old", "2024-01-01T00:00:00Z", false),
            ("draft", "2024-03-01T00:00:00Z", true),
            ("soon", "2024-03-02T00:00:00+08:00", false),
            ("later", "2024-04-01T00:00:00Z", false),
        ];
        for (name, date, draft) in articles {
            let text =
                format!("+++\ntitle = \"{name}\"\ndate = {date}\ndraft = {draft}\n+++\nText.\n");
            fs::write(root.join(format!("content/s/{name}.md")), text).unwrap();
        }
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        let site = load(root, at("2024-02-01T00:00:00Z")).unwrap();
        assert_eq!(site.next_publication, Some(at("2024-03-01T16:00:00Z")));
        let site = load(root, at("2024-03-01T16:00:00Z")).unwrap();
        assert_eq!(site.next_publication, Some(at("2024-04-01T00:00:00Z")));
        assert_eq!(site.sections[0].articles.len(), 2);
        assert_eq!(
            load(root, at("2025-01-01T00:00:00Z"))
                .unwrap()
                .next_publication,
            None
        );
    }

    #[test]
    fn an_unchanged_article_file_read_again_keeps_its_allocation() {
        let dir = site_with_one_section();
        let root = dir.path();
        fs::write(
            root.join("content/s/a.md"),
            "+++\ntitle = \"A\"\ndate = 2024-01-01\n+++\n![x](x.png)\n",
        )
        .unwrap();
        fs::create_dir(root.join("content/s/a")).unwrap();
        // Just written: its stamp is not trusted yet, so each load reads it.
        fs::write(root.join("content/s/a/x.png"), b"\x89PNG same bytes").unwrap();
        let mut cache = ParseCache::default();
        let first = load_cached(root, Utc::now(), &mut cache).unwrap();
        let second = load_cached(root, Utc::now(), &mut cache).unwrap();
        let bytes = |site: &Site| site.sections[0].media[0].bytes.clone();
        assert_eq!(bytes(&first), &b"\x89PNG same bytes"[..]);
        assert_eq!(bytes(&first).as_ptr(), bytes(&second).as_ptr());
    }

    #[test]
    fn reload_parses_only_changed_articles() {
        let dir = site_with_one_section();
        let root = dir.path();
        for name in ["a", "b", "c"] {
            let text = format!("+++\ntitle = \"{name}\"\ndate = 2024-01-01\n+++\nBody {name}.\n");
            fs::write(root.join(format!("content/s/{name}.md")), text).unwrap();
        }
        let now = Utc::now();
        let mut cache = ParseCache::default();
        load_cached(root, now, &mut cache).unwrap();
        assert_eq!((cache.parsed_last_load(), cache.len()), (3, 3));

        fs::write(
            root.join("content/s/b.md"),
            "+++\ntitle = \"b2\"\ndate = 2024-01-01\n+++\nNew.\n",
        )
        .unwrap();
        fs::remove_file(root.join("content/s/c.md")).unwrap();
        let site = load_cached(root, now, &mut cache).unwrap();
        assert_eq!((cache.parsed_last_load(), cache.len()), (1, 2));
        let titles: Vec<_> = site.sections[0]
            .articles
            .iter()
            .map(|a| a.title.as_str())
            .collect();
        assert_eq!(titles, ["a", "b2"]);

        // A changed configuration (base_url is in every link) invalidates everything.
        fs::write(
            root.join("config.toml"),
            "title = \"T\"\nbase_url = \"https://f.com/\"\ntag_authority = \"e.com\"\n",
        )
        .unwrap();
        let site = load_cached(root, now, &mut cache).unwrap();
        assert_eq!(cache.parsed_last_load(), 2);
        assert_eq!(
            site.sections[0].articles[0].url.as_str(),
            "https://f.com/s/a/"
        );
    }

    #[test]
    fn only_files_changed_before_the_racy_window_are_trusted_by_stamp() {
        let now = std::time::SystemTime::now();
        let secs = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let stamp = |changed: i64| FileStamp {
            len: 10,
            inode: 1,
            mtime: (0, 0),
            ctime: (changed, 0),
        };
        assert!(stamp(secs - 3600).is_settled(now));
        assert!(!stamp(secs).is_settled(now));
        assert!(
            !stamp(secs + 60).is_settled(now),
            "a change time in the future"
        );
    }

    #[test]
    fn a_file_changed_just_now_is_read_again_on_every_load() {
        let dir = site_with_one_section();
        let root = dir.path();
        let article = root.join("content/s/a.md");
        fs::write(
            &article,
            "+++\ntitle = \"one\"\ndate = 2024-01-01\n+++\nA.\n",
        )
        .unwrap();
        let now = Utc::now();
        let mut cache = ParseCache::default();
        load_cached(root, now, &mut cache).unwrap();
        assert!(
            cache.articles.values().all(|c| c.stamp.is_none()),
            "a fresh file is not trusted"
        );
        // Same length, written again in the same instant as far as stamps may tell.
        fs::write(
            &article,
            "+++\ntitle = \"two\"\ndate = 2024-01-01\n+++\nA.\n",
        )
        .unwrap();
        let site = load_cached(root, now, &mut cache).unwrap();
        assert_eq!(cache.parsed_last_load(), 1);
        assert_eq!(site.sections[0].articles[0].title, "two");
    }

    #[test]
    fn section_header_parses() {
        let header = parse_section(
            Path::new("s/_index.md"),
            "+++\ntitle = \"S\"\nlimit = 3\n+++\n",
        )
        .unwrap();
        assert_eq!(header.title, "S");
        assert_eq!(header.limit.map(|l| l.get()), Some(3));
    }
}
