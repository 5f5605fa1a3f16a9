//! Archived feeds (RFC 5005 section 4): at 1,000 articles, a reader that
//! follows `prev-archive` (RSS, Atom) or `next_url` (JSON Feed) from each
//! subscription document collects every article of that feed exactly once,
//! newest to oldest, with the same ids in every format; full archive pages
//! keep their bytes when an article is added, an edit changes only the
//! pages that hold the article, and full pages are served with the long
//! `archive_max_age`.

use std::collections::BTreeSet;

use crate::fixture::{client, parse_feed, url, Site};
use crate::prelude::{BuiltSet, ResourceKind};

const BASE: &str = "https://news.example.org";
const SECTIONS: [&str; 3] = ["alpha", "beta", "gamma"];

/// Article `i`'s file and text: dated `i` hours after the start of 2024, so
/// that a larger `i` is newer.
fn article(i: usize, body: &str) -> (String, String) {
    let section = SECTIONS[i % SECTIONS.len()];
    let (day, hour) = (1 + i / 24, i % 24);
    let path = format!("content/{section}/a{i:04}.md");
    let text = format!(
        "+++\ntitle = \"Article {i}\"\ndate = 2024-{:02}-{:02}T{hour:02}:00:00Z\n+++\n\n{body}\n",
        1 + (day - 1) / 28,
        1 + (day - 1) % 28,
    );
    (path, text)
}

/// The tag: id of article `i`, as every feed gives it.
fn id(i: usize) -> String {
    let section = SECTIONS[i % SECTIONS.len()];
    let day = 1 + i / 24;
    format!(
        "tag:news.example.org,2024-{:02}-{:02}:{section}/a{i:04}",
        1 + (day - 1) / 28,
        1 + (day - 1) % 28
    )
}

/// A site of `n` articles over three sections, with `settings` added to its config.
fn site_of(n: usize, settings: &str) -> Site {
    let site = Site::minimal();
    site.append("config.toml", settings);
    for section in SECTIONS {
        site.section(section, &section.to_uppercase());
    }
    for i in 0..n {
        let (path, text) = article(i, &format!("Body of article {i}."));
        site.write(&path, &text);
    }
    site
}

/// The built resource at `path` (`/opinion/rss.xml`).
fn body<'a>(built: &'a BuiltSet, path: &str) -> &'a [u8] {
    &built
        .resources
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not published"))
        .body
}

/// The path of `href`, an absolute URL under the fixture's base URL.
fn path_of(href: &str) -> String {
    href.strip_prefix(BASE)
        .unwrap_or_else(|| panic!("{href} is not under {BASE}"))
        .to_string()
}

/// Walks the chain from the subscription document at `start`: the ids of
/// every item met, in order, and the documents visited.
fn walk(built: &BuiltSet, start: &str) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut visited) = (Vec::new(), Vec::new());
    let mut next = Some(start.to_string());
    while let Some(path) = next.take() {
        assert!(!visited.contains(&path), "the chain loops at {path}");
        let bytes = body(built, &path);
        let feed = parse_feed(bytes);
        ids.extend(feed.entries.iter().map(|e| e.id.clone()));
        let older = if path.ends_with(".json") {
            let json: serde_json::Value = serde_json::from_slice(bytes).expect("JSON");
            json["next_url"].as_str().map(str::to_string)
        } else {
            feed.links
                .iter()
                .find(|l| l.rel.as_deref() == Some("prev-archive"))
                .map(|l| l.href.clone())
        };
        let text = String::from_utf8_lossy(bytes);
        if visited.is_empty() {
            assert!(!text.contains("fh:archive"), "{path}");
        } else if !path.ends_with(".json") {
            assert!(text.contains("<fh:archive/>"), "{path}");
            let current = feed
                .links
                .iter()
                .find(|l| l.rel.as_deref() == Some("current"))
                .map(|l| path_of(&l.href));
            assert_eq!(current.as_deref(), Some(start), "{path}");
        }
        visited.push(path);
        next = older.map(|href| path_of(&href));
    }
    (ids, visited)
}

#[test]
fn every_chain_holds_every_article_once_newest_first_in_every_format() {
    let n = 1000;
    let built = site_of(n, "").build();
    let feeds = std::iter::once((String::new(), (0..n).rev().collect::<Vec<_>>())).chain(
        SECTIONS.iter().enumerate().map(|(s, slug)| {
            let items = (0..n).rev().filter(|i| i % SECTIONS.len() == s).collect();
            (format!("/{slug}"), items)
        }),
    );
    for (dir, items) in feeds {
        let expected: Vec<String> = items.into_iter().map(id).collect();
        for file in ["rss.xml", "atom.xml", "feed.json"] {
            let start = format!("{dir}/{file}");
            let (ids, visited) = walk(&built, &start);
            assert_eq!(ids.len(), expected.len(), "{start}");
            assert_eq!(ids, expected, "{start}");
            // 20 in the subscription document, then pages of 100.
            let pages = (expected.len() - 20) / 100 + 1;
            assert_eq!(visited.len(), 1 + pages, "{start}: {visited:?}");
            assert_eq!(visited[1], format!("{dir}/archive/{pages}/{file}"));
            assert_eq!(visited[pages], format!("{dir}/archive/1/{file}"));
        }
    }
    // Every archive page is in some chain, and every page but the newest is full.
    let archive_pages: Vec<_> = built
        .resources
        .iter()
        .filter(|(_, r)| matches!(r.kind, ResourceKind::ArchivePage))
        .collect();
    assert!(!archive_pages.is_empty());
    for (path, resource) in archive_pages {
        assert_eq!(parse_feed(&resource.body).entries.len(), 100, "{path}");
    }
}

#[test]
fn a_feed_that_fits_says_it_is_complete_and_has_no_archive() {
    let built = site_of(5, "").build();
    for path in ["/rss.xml", "/atom.xml", "/alpha/rss.xml"] {
        let text = String::from_utf8_lossy(body(&built, path)).to_string();
        assert!(text.contains("<fh:complete/>"), "{path}");
        assert!(!text.contains("prev-archive"), "{path}");
    }
    assert!(!built.resources.keys().any(|p| p.contains("/archive/")));
}

#[test]
fn an_archive_page_is_dated_by_its_own_items() {
    let built = site_of(300, "").build();
    // Site feed: 280 archived; page 1 holds articles 0 to 99.
    let page = parse_feed(body(&built, "/archive/1/atom.xml"));
    let newest = page.entries.iter().filter_map(|e| e.updated).max();
    assert_eq!(page.updated, newest);
    let resource = &built.resources["/archive/1/atom.xml"];
    assert_eq!(Some(resource.last_modified), newest);
    assert!(resource.last_modified < built.resources["/atom.xml"].last_modified);
}

/// Paths and bytes of every archive page of `built`.
fn archive_pages(built: &BuiltSet) -> Vec<(String, ResourceKind, Vec<u8>)> {
    built
        .resources
        .iter()
        .filter(|(path, _)| path.contains("/archive/"))
        .map(|(path, r)| (path.clone(), r.kind, r.body.to_vec()))
        .collect()
}

#[test]
fn adding_an_article_keeps_every_full_page_and_an_edit_changes_only_its_pages() {
    let n = 1000;
    let site = site_of(n, "");
    let before = site.build();
    let full: Vec<_> = archive_pages(&before)
        .into_iter()
        .filter(|(_, kind, _)| *kind == ResourceKind::ArchivePage)
        .collect();
    assert!(full.len() >= 3 * (8 + 2), "{}", full.len());

    let (path, text) = article(n, "The newest article.");
    site.write(&path, &text);
    let added = site.build();
    for (path, _, bytes) in &full {
        let now = &added.resources[path];
        assert_eq!(now.kind, ResourceKind::ArchivePage, "{path}");
        assert!(
            now.body == bytes,
            "{path} changed when an article was added"
        );
    }

    // Article 150 is on the site feed's page 2 and its section's page 1.
    let old = 150;
    let holding: BTreeSet<String> = archive_pages(&added)
        .into_iter()
        .filter(|(_, _, bytes)| String::from_utf8_lossy(bytes).contains(&id(old)))
        .map(|(path, _, _)| path)
        .collect();
    assert_eq!(holding.len(), 6, "{holding:?}");
    let (path, text) = article(old, "A corrected body.");
    site.write(&path, &text);
    let edited = site.build();
    let changed: BTreeSet<String> = archive_pages(&added)
        .into_iter()
        .filter(|(path, _, bytes)| edited.resources[path].body != bytes)
        .map(|(path, _, _)| path)
        .collect();
    assert_eq!(changed, holding);
}

#[tokio::test]
async fn full_pages_are_cached_long_and_answer_304() {
    let site = site_of(250, "[server]\narchive_max_age = 7200\n");
    let server = site.serve();
    let full = client()
        .get(url(&server, "/archive/1/rss.xml"))
        .send()
        .await
        .expect("request");
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["cache-control"], "public, max-age=7200");
    assert_eq!(full.headers()["access-control-allow-origin"], "*");
    let etag = full.headers()["etag"].clone();
    let again = client()
        .get(url(&server, "/archive/1/rss.xml"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["cache-control"], "public, max-age=7200");
    // 230 archived: page 3, the newest, holds 30 and changes: cached as feeds are.
    let newest = client()
        .get(url(&server, "/archive/3/rss.xml"))
        .send()
        .await
        .expect("request");
    assert_eq!(newest.status(), 200);
    assert_eq!(newest.headers()["cache-control"], "public, max-age=300");
}
