//! Reading a site directory (`config.toml` and `content/`) into the [`Site`] model.
//!
//! This is the only module that reads content from disk. It reads directories
//! in sorted order, checks every file, and reports every problem it finds as
//! `path:line: message` in one run. Parsing is pure (`article`); the other
//! files do the IO around it.
//!
//! Layout: `content/<section>/_index.md` holds a section's title and
//! description; `content/<section>/<slug>.md` is an article, and the folder
//! `content/<section>/<slug>/`, if there is one, holds its files (images,
//! audio), published beside its page. Hidden files and editor leftovers
//! (`.#x`, `x~`, `x.swp`) are skipped; other non-Markdown files in a section
//! are not published.
//!
//! - `files`: walking directories and reading files (capped, UTF-8, XML characters)
//! - `cache`: what one load leaves for the next (`ParseCache`, file stamps)
//! - `changes`: what changed since the last load, and the sections kept as they were
//! - `section`: one section folder, its articles and their slugs
//! - `media`: an article's folder of files
//! - `article`, `fields`, `front_matter`, `markdown`: parsing text, pure
//! - `sanitize`: an article's HTML cleaned, with `sanitize_html = true`
//! - `saved`: the parse cache in the binary form `export` keeps between runs

mod article;
mod cache;
mod changes;
mod fields;
mod files;
mod front_matter;
mod markdown;
mod media;
mod sanitize;
mod saved;
mod section;
mod terms;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fingerprint;
use crate::model::{Section, Site};
use cache::{FileStamp, Reuse};
use changes::{FileRead, LoadedSection};
use files::{check_inside, read_text, sorted_entries};

pub use cache::ParseCache;
pub use changes::Changes;
pub use files::{is_read, PathKind};

/// Loads the site in `root` as it stands at `now`: drafts and articles dated
/// after `now` are checked but left out of the model.
pub fn load(root: &Path, now: DateTime<Utc>) -> Result<Site, Diagnostics> {
    load_cached(root, now, &mut ParseCache::default())
}

/// Like [`load`], reusing (and then replacing) the articles in `cache`,
/// and reading only the sections that changed when `cache` was told which
/// ([`ParseCache::note_changes`]; see `changes`).
pub fn load_cached(
    root: &Path,
    now: DateTime<Utc>,
    cache: &mut ParseCache,
) -> Result<Site, Diagnostics> {
    let root = display_root(root);
    let mut diagnostics = Diagnostics::default();
    let config_path = root.join("config.toml");
    let changes = cache.changes.take().unwrap_or_else(Changes::everything);
    cache.read_last_load.clear();
    cache.read_last_load.push(FileRead {
        stamp: FileStamp::read(&config_path),
        path: config_path.clone(),
        section: None,
    });
    let config = read_text(&config_path).and_then(|text| {
        let mut config = Config::parse(&config_path, &text)?;
        if let Some(base_url) = &cache.base_url {
            config.base_url = base_url.clone();
        }
        Ok((config, fingerprint::of_text(&text)))
    });
    let content_dir = root.join("content");
    cache.parsed_last_load = 0;
    let (config, sections) = match config {
        Ok((config, hash)) => {
            let changes = if hash == cache.config_hash {
                changes
            } else {
                // The settings are in every article's links: all parsed again.
                cache.articles.clear();
                cache.sections.clear();
                cache.config_hash = hash;
                Changes::everything()
            };
            let sections = load_sections(
                &content_dir,
                &config,
                now,
                &changes,
                &mut diagnostics,
                cache,
            );
            terms::check(&cache.articles, &mut diagnostics, &mut cache.terms_clean);
            (Ok(config), sections)
        }
        Err(error) => (Err(error), Vec::new()),
    };
    let next_publication = cache
        .sections
        .values()
        .filter_map(|loaded| loaded.next_due)
        .min();
    tracing::debug!(
        parsed = cache.parsed_last_load,
        reused = cache.articles.len() - cache.parsed_last_load,
        "loaded articles"
    );
    match config {
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

/// Reads and checks the `config.toml` of the site in `root`, alone: a server
/// needs its address and `base_url` before it builds.
pub(crate) fn load_config(root: &Path) -> Result<Config, crate::diagnostic::Diagnostic> {
    let path = display_root(root).join("config.toml");
    read_text(&path).and_then(|text| Config::parse(&path, &text))
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

/// The sections of `content_dir`, in folder order: each read again when
/// `changes` covers it or it cannot be kept as the last load left it,
/// else taken from `cache` with its problems.
fn load_sections(
    content_dir: &Path,
    config: &Config,
    now: DateTime<Utc>,
    changes: &Changes,
    diagnostics: &mut Diagnostics,
    cache: &mut ParseCache,
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
    let mut previous = std::mem::take(&mut cache.sections);
    let mut sections = Vec::new();
    for entry in entries {
        if entry.is_dir {
            if let Err(error) = check_inside(&entry, &real_content_dir) {
                diagnostics.push(error);
                continue;
            }
            let loaded = match previous.remove(&entry.name) {
                Some(kept)
                    if !changes.covers(&entry.name) && !entry.is_link && kept.can_be_kept(now) =>
                {
                    kept
                }
                earlier => load_section(&entry, earlier, &real_content_dir, config, now, cache),
            };
            diagnostics.extend(loaded.diagnostics.iter().cloned());
            sections.extend(loaded.section.clone());
            cache.sections.insert(entry.name, loaded);
        } else if files::is_markdown(&entry.name) {
            diagnostics.push(Diagnostic::new(
                &entry.path,
                1,
                "articles live in a section folder: move this file to content/<section>/",
            ));
        }
    }
    // Sections that are gone take their files out of the cache.
    for gone in previous.into_values() {
        for path in gone.articles {
            cache.articles.remove(&path);
        }
        for path in gone.media {
            cache.media.remove(&path);
        }
    }
    if changes.is_everything() {
        forget_unlisted(cache);
    }
    sections
}

/// Loads the section folder `entry` again, with what its last load
/// (`earlier`) left in `cache`, and puts what this load found back in.
fn load_section(
    entry: &files::ContentEntry,
    earlier: Option<LoadedSection>,
    content_dir: &Path,
    config: &Config,
    now: DateTime<Utc>,
    cache: &mut ParseCache,
) -> LoadedSection {
    let mut diagnostics = Diagnostics::default();
    let mut reuse = Reuse {
        previous: &mut cache.articles,
        next: HashMap::new(),
        media_previous: &mut cache.media,
        media_next: HashMap::new(),
        parsed: 0,
        saw_link: entry.is_link,
        read: Vec::new(),
    };
    let section = section::load_section(
        &entry.path,
        content_dir,
        config,
        now,
        &mut diagnostics,
        &mut reuse,
    );
    let Reuse {
        next,
        media_next,
        parsed,
        saw_link,
        read,
        ..
    } = reuse;
    // Files of the last load that this one did not find.
    if let Some(earlier) = earlier {
        for path in earlier.articles {
            if !next.contains_key(&path) {
                cache.articles.remove(&path);
            }
        }
        for path in earlier.media {
            if !media_next.contains_key(&path) {
                cache.media.remove(&path);
            }
        }
    }
    let next_due = next
        .values()
        .filter(|cached| !cached.parsed.draft)
        .map(|cached| cached.parsed.article.published.with_timezone(&Utc))
        .filter(|published| *published > now)
        .min();
    cache.parsed_last_load += parsed;
    cache
        .read_last_load
        .extend(read.into_iter().map(|(path, stamp)| FileRead {
            path,
            stamp,
            section: Some(entry.name.clone()),
        }));
    let loaded = LoadedSection {
        section,
        diagnostics: diagnostics.0,
        articles: next.keys().cloned().collect(),
        media: media_next.keys().cloned().collect(),
        next_due,
        has_links: saw_link,
    };
    cache.articles.extend(next);
    cache.media.extend(media_next);
    loaded
}

/// Takes out of `cache` every file no section of the last load listed:
/// after a load of every section, nothing else can be of use.
fn forget_unlisted(cache: &mut ParseCache) {
    let listed: HashSet<&Path> = cache
        .sections
        .values()
        .flat_map(|loaded| loaded.articles.iter().chain(&loaded.media))
        .map(PathBuf::as_path)
        .collect();
    cache
        .articles
        .retain(|path, _| listed.contains(path.as_path()));
    cache
        .media
        .retain(|path, _| listed.contains(path.as_path()));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

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

    /// A temporary site with the sections `a` and `b`, an article in each.
    fn site_with_two_sections() -> tempfile::TempDir {
        let dir = site_with_one_section();
        for name in ["a", "b"] {
            let section = dir.path().join("content").join(name);
            fs::create_dir_all(&section).unwrap();
            fs::write(
                section.join("_index.md"),
                format!("+++\ntitle = \"{name}\"\n+++\n"),
            )
            .unwrap();
            fs::write(
                section.join("one.md"),
                format!("+++\ntitle = \"{name} one\"\ndate = 2024-01-01\n+++\nBody.\n"),
            )
            .unwrap();
        }
        fs::remove_dir_all(dir.path().join("content/s")).unwrap();
        dir
    }

    fn titles(site: &Site) -> Vec<String> {
        site.sections
            .iter()
            .flat_map(|s| s.articles.iter().map(|a| a.title.clone()))
            .collect()
    }

    fn changed(names: &[&str]) -> Changes {
        let mut changes = Changes::default();
        for name in names {
            changes.add_section(name);
        }
        changes
    }

    #[test]
    fn a_load_told_what_changed_reads_only_those_sections() {
        let dir = site_with_two_sections();
        let root = dir.path();
        let now = Utc::now();
        let mut cache = ParseCache::default();
        load_cached(root, now, &mut cache).unwrap();
        let edit = |section: &str, title: &str| {
            let text = format!("+++\ntitle = \"{title}\"\ndate = 2024-01-01\n+++\nBody.\n");
            fs::write(root.join(format!("content/{section}/one.md")), text).unwrap();
        };
        edit("a", "a edited");
        edit("b", "b edited");
        // Told of `a` only: `b` is as the last load left it, unread.
        cache.note_changes(changed(&["a"]));
        let site = load_cached(root, now, &mut cache).unwrap();
        assert_eq!(titles(&site), ["a edited", "b one"]);
        assert_eq!(cache.parsed_last_load(), 1);
        let read: Vec<_> = cache
            .read_last_load
            .iter()
            .map(|r| r.path.clone())
            .collect();
        assert!(
            read.iter().all(|p| !p.starts_with(root.join("content/b"))),
            "{read:?}"
        );
        // Told nothing: everything is read, and `b` catches up.
        let site = load_cached(root, now, &mut cache).unwrap();
        assert_eq!(titles(&site), ["a edited", "b edited"]);
        // A new section and a removed one, each reported by its folder.
        fs::remove_dir_all(root.join("content/a")).unwrap();
        fs::create_dir_all(root.join("content/c")).unwrap();
        fs::write(
            root.join("content/c/_index.md"),
            "+++\ntitle = \"C\"\n+++\n",
        )
        .unwrap();
        edit("c", "c one");
        cache.note_changes(changed(&["a", "c"]));
        let site = load_cached(root, now, &mut cache).unwrap();
        assert_eq!(titles(&site), ["b edited", "c one"]);
        assert_eq!(cache.len(), 2, "the removed section's file left the cache");
        assert_eq!(cache.sections.len(), 2);
        // Nothing changed: nothing read but config.toml, the same site.
        cache.note_changes(Changes::default());
        let again = load_cached(root, now, &mut cache).unwrap();
        assert_eq!(titles(&again), ["b edited", "c one"]);
        assert_eq!(cache.read_last_load.len(), 1);
        assert!(Arc::ptr_eq(
            &site.sections[0].articles[0],
            &again.sections[0].articles[0]
        ));
    }

    #[test]
    fn a_section_kept_as_it_was_keeps_its_problems() {
        let dir = site_with_two_sections();
        let root = dir.path();
        fs::write(root.join("content/b/one.md"), "+++\ntitel = \"x\"\n+++\n").unwrap();
        let now = Utc::now();
        let mut cache = ParseCache::default();
        let first = load_cached(root, now, &mut cache).unwrap_err();
        assert!(first.to_string().contains("b/one.md:2:"), "{first}");
        cache.note_changes(changed(&["a"]));
        let kept = load_cached(root, now, &mut cache).unwrap_err();
        assert_eq!(kept, first);
    }

    #[test]
    fn a_section_whose_article_falls_due_is_read_again_untold() {
        let dir = site_with_two_sections();
        let root = dir.path();
        fs::write(
            root.join("content/b/later.md"),
            "+++\ntitle = \"later\"\ndate = 2030-01-01T00:00:00Z\n+++\nLater.\n",
        )
        .unwrap();
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        let mut cache = ParseCache::default();
        let site = load_cached(root, at("2029-12-31T23:59:00Z"), &mut cache).unwrap();
        assert_eq!(site.next_publication, Some(at("2030-01-01T00:00:00Z")));
        cache.note_changes(changed(&["a"]));
        let site = load_cached(root, at("2030-01-01T00:00:00Z"), &mut cache).unwrap();
        assert_eq!(titles(&site), ["a one", "later", "b one"]);
        assert_eq!(site.next_publication, None);
    }

    #[test]
    fn a_section_holding_a_link_is_read_again_untold() {
        let dir = site_with_two_sections();
        let root = dir.path();
        // `b/linked.md` shows `a/one.md`: an edit to it is an event in `a` only.
        std::os::unix::fs::symlink(
            root.join("content/a/one.md"),
            root.join("content/b/linked.md"),
        )
        .unwrap();
        fs::write(
            root.join("content/a/one.md"),
            "+++\ntitle = \"shared\"\ndate = 2024-01-01\nslug = \"shared\"\n+++\nBody.\n",
        )
        .unwrap();
        let now = Utc::now();
        let mut cache = ParseCache::default();
        load_cached(root, now, &mut cache).unwrap();
        fs::write(
            root.join("content/a/one.md"),
            "+++\ntitle = \"edited\"\ndate = 2024-01-01\nslug = \"shared\"\n+++\nBody.\n",
        )
        .unwrap();
        cache.note_changes(changed(&["a"]));
        let site = load_cached(root, now, &mut cache).unwrap();
        assert_eq!(titles(&site), ["edited", "b one", "edited"]);
    }

    #[test]
    fn files_changed_since_they_were_read_name_their_section() {
        let dir = site_with_two_sections();
        let root = dir.path();
        let mut cache = ParseCache::default();
        load_cached(root, Utc::now(), &mut cache).unwrap();
        assert!(cache.changed_since_read().is_empty());
        // Rewritten with the same length after the load read it.
        fs::write(
            root.join("content/b/one.md"),
            "+++\ntitle = \"B one\"\ndate = 2024-01-01\n+++\nBody.\n",
        )
        .unwrap();
        assert_eq!(cache.changed_since_read(), changed(&["b"]));
        fs::write(root.join("config.toml"), "title = \"U\"\n").unwrap();
        assert_eq!(cache.changed_since_read(), Changes::everything());
    }

    #[test]
    fn a_kept_section_shows_the_articles_whose_bodies_were_shared() {
        let dir = site_with_two_sections();
        let root = dir.path();
        let mut cache = ParseCache::default();
        load_cached(root, Utc::now(), &mut cache).unwrap();
        let path = root.join("content/a/one.md");
        let body = cache.articles[&path].parsed.article.content_html.clone();
        // The same text in another allocation, as a rendered page holds it.
        let in_page = crate::model::Html::new(body.as_str().to_string());
        cache.share_bodies(vec![(path.clone(), in_page.clone())]);
        let shared = cache.articles[&path].parsed.article.clone();
        assert_eq!(
            shared.content_html.bytes().as_ptr(),
            in_page.bytes().as_ptr()
        );
        cache.note_changes(changed(&["b"]));
        let site = load_cached(root, Utc::now(), &mut cache).unwrap();
        assert!(Arc::ptr_eq(&site.sections[0].articles[0], &shared));
    }
}
