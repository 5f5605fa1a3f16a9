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
//! - `section`: one section folder, its articles and their slugs
//! - `media`: an article's folder of files
//! - `article`, `fields`, `front_matter`, `markdown`: parsing text, pure
//! - `sanitize`: an article's HTML cleaned, with `sanitize_html = true`
//! - `saved`: the parse cache in the binary form `export` keeps between runs

mod article;
mod cache;
mod fields;
mod files;
mod front_matter;
mod markdown;
mod media;
mod sanitize;
mod saved;
mod section;
mod terms;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fingerprint;
use crate::model::{Section, Site};
use cache::{CachedArticle, Reuse};
use files::{check_inside, read_text, sorted_entries};

pub use cache::ParseCache;
pub use files::{is_read, PathKind};

/// Loads the site in `root` as it stands at `now`: drafts and articles dated
/// after `now` are checked but left out of the model.
pub fn load(root: &Path, now: DateTime<Utc>) -> Result<Site, Diagnostics> {
    load_cached(root, now, &mut ParseCache::default())
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
    let config = read_text(&config_path).and_then(|text| {
        let mut config = Config::parse(&config_path, &text)?;
        if let Some(base_url) = &cache.base_url {
            config.base_url = base_url.clone();
        }
        Ok((config, fingerprint::of_text(&text)))
    });
    let content_dir = root.join("content");
    let previous = std::mem::take(&mut cache.articles);
    let mut reuse = Reuse {
        next: HashMap::with_capacity(previous.len()),
        previous,
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
    terms::check(&cache.articles, &mut diagnostics, &mut cache.terms_clean);
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

/// Reads and checks the `config.toml` of the site in `root`, alone: a server
/// needs its address and `base_url` before it builds.
pub(crate) fn load_config(root: &Path) -> Result<Config, crate::diagnostic::Diagnostic> {
    let path = display_root(root).join("config.toml");
    read_text(&path).and_then(|text| Config::parse(&path, &text))
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
            if let Some(section) = section::load_section(
                &entry.path,
                &real_content_dir,
                config,
                now,
                diagnostics,
                reuse,
            ) {
                sections.push(section);
            }
        } else if files::is_markdown(&entry.name) {
            diagnostics.push(Diagnostic::new(
                &entry.path,
                1,
                "articles live in a section folder: move this file to content/<section>/",
            ));
        }
    }
    sections
}

#[cfg(test)]
mod tests {
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
}
