//! Loading one section folder: its `_index.md`, its articles (read and
//! parsed on every core, or taken from the cache), their slugs claimed once
//! each, and the folders of their files. Problems are collected, never
//! thrown: a section with a bad article still reports every other one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::article::{check_slug, parse_article, parse_section, ParsedArticle, SectionHeader};
use super::cache::{CachedArticle, FileStamp, Reuse};
use super::files::{is_markdown, read_content_file, sorted_entries, ContentEntry};
use super::media::{load_media, MediaPlace};
use crate::config::Config;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fingerprint;
use crate::model::{newest_first, Article, Html, Section};
use crate::parallel;

/// The section whose folder is `dir`, or `None` when it has errors (all of
/// them in `diagnostics`). `content_dir` is the real path of `content/`.
/// The folder names the site's own pages take: `/tags/`, `/authors/` and
/// the home page's later pages, `/page/2/`.
const RESERVED_SECTION_NAMES: [&str; 3] = ["tags", "authors", "page"];

fn check_section_name(slug: &str) -> Result<(), String> {
    if RESERVED_SECTION_NAMES.contains(&slug) {
        Err(format!(
            "`{slug}` is reserved for the site's own pages (/{slug}/): rename the folder"
        ))
    } else {
        Ok(())
    }
}

pub(super) fn load_section(
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
    let slug_ok = match check_slug(&slug).and_then(|()| check_section_name(&slug)) {
        Ok(()) => true,
        Err(message) => {
            let message = format!("section folder name {message}");
            diagnostics.push(Diagnostic::new(&index_path, 1, message));
            false
        }
    };
    let entries = match sorted_entries(dir) {
        Ok(entries) => entries,
        Err(error) => {
            let message = format!("cannot read the section folder: {error}");
            diagnostics.push(Diagnostic::new(dir, 1, message));
            return None;
        }
    };
    reuse.saw_link |= entries.iter().any(|entry| entry.is_link);
    let header = read_header(&entries, &index_path, content_dir, &mut reuse.read)
        .map_err(|d| diagnostics.extend(d.0))
        .ok();
    let (mut slots, media_dirs) = plan_reads(entries, reuse);
    reuse.parsed += read_and_parse(&mut slots, content_dir, &slug, config);
    pack_fresh_bodies(&mut slots);
    let kept = keep_articles(slots, !media_dirs.is_empty(), now, diagnostics, reuse);
    let place = |publish| MediaPlace {
        section: &slug,
        content_dir,
        publish,
    };
    let published: HashSet<&str> = if media_dirs.is_empty() {
        HashSet::new()
    } else {
        kept.articles.iter().map(|a| a.slug.as_str()).collect()
    };
    let mut media = Vec::new();
    for dir in media_dirs {
        match kept.folder_of(&dir.name, &published) {
            Ok(publish) => load_media(&dir, &place(publish), diagnostics, reuse, &mut media),
            Err(Some(message)) => diagnostics.push(Diagnostic::new(&dir.path, 1, message)),
            // The article has errors: those are reported, not its folder.
            Err(None) => {}
        }
    }
    drop(published);
    let header = header?;
    if !slug_ok {
        return None;
    }
    let mut articles = kept.articles;
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

/// The section's `_index.md`, read and parsed; noted in `read` with its
/// stamp from before the read.
fn read_header(
    entries: &[ContentEntry],
    index_path: &Path,
    content_dir: &Path,
    read: &mut Vec<(PathBuf, Option<FileStamp>)>,
) -> Result<SectionHeader, Diagnostics> {
    match entries.iter().find(|e| e.name == "_index.md") {
        Some(index) => {
            read.push((index.path.clone(), FileStamp::read(&index.path)));
            read_content_file(index, content_dir).and_then(|text| parse_section(index_path, &text))
        }
        None => Err(Diagnostic::new(
            index_path,
            1,
            "file is missing: every section folder needs an _index.md with the section's title",
        )
        .into()),
    }
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

/// In file order: which articles the cache settles without reading them,
/// and which must be read (and parsed, if their text changed); and apart,
/// the folders, which hold articles' files, read once the articles are known.
fn plan_reads(
    entries: Vec<ContentEntry>,
    reuse: &mut Reuse,
) -> (Vec<(ContentEntry, Slot)>, Vec<ContentEntry>) {
    let mut slots = Vec::new();
    let mut media_dirs = Vec::new();
    let mut files = Vec::new();
    for entry in entries {
        if entry.name == "_index.md" {
            continue;
        }
        if entry.is_dir {
            media_dirs.push(entry);
            continue;
        }
        if is_markdown(&entry.name) {
            files.push((entry, None));
        }
    }
    // Every file's stat, on every core: a section of thousands of files
    // is read again to find the few that changed.
    parallel::for_each(&mut files, |(entry, stamp)| {
        *stamp = FileStamp::read(&entry.path);
    });
    let now = std::time::SystemTime::now();
    for (entry, stamp) in files {
        let trusted = stamp.filter(|stamp| stamp.is_settled(now));
        let slot = match reuse.previous.remove(&entry.path) {
            // Unchanged since it was parsed: not even read.
            Some(cached) if trusted.is_some() && cached.stamp == trusted => Slot::Done(Ok(cached)),
            cached => {
                reuse.read.push((entry.path.clone(), stamp));
                Slot::Todo {
                    cached,
                    stamp: trusted,
                }
            }
        };
        slots.push((entry, slot));
    }
    (slots, media_dirs)
}

/// Reads every article still to be read, on every core, and parses those
/// whose text changed; returns how many were parsed.
fn read_and_parse(
    slots: &mut [(ContentEntry, Slot)],
    content_dir: &Path,
    section: &str,
    config: &Config,
) -> usize {
    let parsed = AtomicUsize::new(0);
    parallel::for_each(slots, |(entry, slot)| {
        let Slot::Todo { cached, stamp } = slot else {
            return;
        };
        let mut fresh = false;
        let outcome = read_content_file(entry, content_dir).and_then(|text| {
            let text_hash = fingerprint::of_text(&text);
            let article = match cached.take() {
                Some(cached) if cached.text_hash == text_hash => cached.parsed,
                _ => {
                    parsed.fetch_add(1, Ordering::Relaxed);
                    fresh = true;
                    parse_article(&entry.path, &text, section, config)?
                }
            };
            Ok(CachedArticle::new(&entry.path, text_hash, *stamp, article))
        });
        *slot = match outcome {
            Ok(cached) if fresh => Slot::Fresh(cached),
            outcome => Slot::Done(outcome),
        };
    });
    parsed.into_inner()
}

/// Moves the bodies just parsed, each in an allocation of its own, into one
/// block for the section. Until the build re-points each body into its page,
/// the bodies and the pages are in memory together; as one block, the
/// bodies are then freed whole and handed back to the system, instead of
/// leaving thousands of holes between the pages that it cannot take.
fn pack_fresh_bodies(slots: &mut [(ContentEntry, Slot)]) {
    let mut bodies: Vec<&mut Html> = slots
        .iter_mut()
        .filter_map(|(_, slot)| match slot {
            Slot::Fresh(cached) => Arc::get_mut(&mut cached.parsed.article),
            _ => None,
        })
        .map(|article| &mut article.content_html)
        .collect();
    Html::pack(&mut bodies);
}

/// The articles a section keeps, and what its folders of files are checked against.
struct KeptArticles {
    /// Published by now, in file order.
    articles: Vec<Arc<Article>>,
    /// Slug -> the file that claimed it first, so a second one is reported against it.
    claimed: BTreeMap<String, PathBuf>,
    /// File name without `.md` -> the slug of its article, or `None` when the
    /// file has errors (reported already): what a folder beside it may be
    /// named. Only filled when the section has folders.
    slug_of_file: HashMap<String, Option<String>>,
}

impl KeptArticles {
    /// Whether the files in the folder `name` are published now (`Ok`: when
    /// its article's slug is among `published`), or why the folder is wrong
    /// (`Err(None)` when its article's errors are reported already).
    fn folder_of(&self, name: &str, published: &HashSet<&str>) -> Result<bool, Option<String>> {
        if self.claimed.contains_key(name) {
            // A draft's or a later article's files are checked, and wait with it.
            return Ok(published.contains(name));
        }
        Err(match self.slug_of_file.get(name) {
            Some(None) => None,
            Some(Some(article_slug)) => Some(format!(
                "the article in {name}.md has the slug `{article_slug}`: name its folder `{article_slug}`"
            )),
            None => Some(format!(
                "no article in this section has the slug `{name}`: a folder in a section holds \
                 the files (images, audio) of the article whose slug is its name"
            )),
        })
    }
}

/// In file order again: claims each article's slug, reports errors, keeps
/// what is published by `now`, and fills the cache for the next load.
fn keep_articles(
    slots: Vec<(ContentEntry, Slot)>,
    has_folders: bool,
    now: DateTime<Utc>,
    diagnostics: &mut Diagnostics,
    reuse: &mut Reuse,
) -> KeptArticles {
    let mut kept = KeptArticles {
        articles: Vec::new(),
        claimed: BTreeMap::new(),
        slug_of_file: HashMap::new(),
    };
    for (entry, slot) in slots {
        let outcome = match slot {
            Slot::Fresh(cached) => Ok(cached),
            Slot::Done(outcome) => outcome,
            Slot::Todo { .. } => continue,
        };
        let stem = has_folders.then(|| {
            let stem = entry.name.strip_suffix(".md").unwrap_or(&entry.name);
            stem.to_string()
        });
        match outcome {
            Ok(cached) => {
                if let Some(stem) = stem {
                    let slug = cached.parsed.article.slug.clone();
                    kept.slug_of_file.insert(stem, Some(slug));
                }
                let parsed = cached.parsed.clone();
                reuse.next.insert(entry.path.clone(), cached);
                kept.claim(parsed, &entry.path, now, diagnostics);
            }
            Err(errors) => {
                if let Some(stem) = stem {
                    kept.slug_of_file.insert(stem, None);
                }
                diagnostics.extend(errors.0);
            }
        }
    }
    kept
}

impl KeptArticles {
    /// Claims `parsed`'s slug in its section (a slug claimed already is an
    /// error against the later file) and keeps the article if it is
    /// published by `now`.
    fn claim(
        &mut self,
        parsed: ParsedArticle,
        path: &Path,
        now: DateTime<Utc>,
        diagnostics: &mut Diagnostics,
    ) {
        let key = parsed.article.slug.clone();
        if let Some(first) = self.claimed.get(&key) {
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
        self.claimed.insert(key, path.to_path_buf());
        if !parsed.draft && parsed.article.published <= now {
            self.articles.push(parsed.article);
        }
    }
}
