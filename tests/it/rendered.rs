//! Snapshots of what the bundled site renders to, built as of a fixed date:
//! the site's feeds in each format and its OPML, one section's feed in each
//! format, the home page, a section page, an article page and the
//! stylesheet. A change to any of them fails here until its snapshot under
//! `tests/it/snapshots/` is updated, so that it is reviewed in the diff
//! rather than missed where no other test looks.
//!
//! To accept a change: `INSTA_UPDATE=always cargo test --test it rendered`,
//! then read and commit the changed `.snap` files (or `cargo insta review`,
//! where cargo-insta is installed). With `CI=true` insta writes nothing, and
//! a difference fails.
//!
//! Pages and the stylesheet are one line each. They are shown with a line
//! break added after every `>` (pages) or `}` (stylesheet), so that a change
//! shows as the tag or rule it is in; no byte of them is lost that way,
//! since every added break follows the character it was added after.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};

use crate::fixture::Site;
use crate::prelude::BuiltSet;

/// After every bundled article (all dated 2024-05-20), so all are published.
fn as_of() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap()
}

/// The bundled site, built once for all the snapshots.
fn bundled() -> &'static BuiltSet {
    static BUILT: OnceLock<BuiltSet> = OnceLock::new();
    BUILT.get_or_init(|| Site::bundled().build_at(as_of()))
}

/// `text` with a line break added after every `after`.
fn broken_after(text: &str, after: char) -> String {
    text.replace(after, &format!("{after}\n"))
}

/// Compares the resource at URL path `path` with its snapshot, which is
/// named after the file the path is exported to.
fn assert_rendered(path: &str) {
    let resource = bundled()
        .resources
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not built"));
    let text = std::str::from_utf8(&resource.body).expect("UTF-8");
    let (name, shown) = if path.ends_with('/') {
        (format!("{}index.html", &path[1..]), broken_after(text, '>'))
    } else if path.ends_with(".css") {
        (path[1..].to_string(), broken_after(text, '}'))
    } else {
        (path[1..].to_string(), text.to_string())
    };
    insta::assert_snapshot!(name, shown);
}

#[test]
fn site_rss() {
    assert_rendered("/rss.xml");
}

#[test]
fn site_atom() {
    assert_rendered("/atom.xml");
}

#[test]
fn site_json_feed() {
    assert_rendered("/feed.json");
}

#[test]
fn opml_of_every_feed() {
    assert_rendered("/feeds.opml");
}

#[test]
fn section_rss() {
    assert_rendered("/opinion/rss.xml");
}

#[test]
fn section_atom() {
    assert_rendered("/opinion/atom.xml");
}

#[test]
fn section_json_feed() {
    assert_rendered("/opinion/feed.json");
}

#[test]
fn home_page() {
    assert_rendered("/");
}

#[test]
fn section_page() {
    assert_rendered("/opinion/");
}

#[test]
fn article_page() {
    assert_rendered("/opinion/china-russia-energy-cooperation/");
}

#[test]
fn stylesheet() {
    assert_rendered("/style.css");
}

#[test]
fn tag_index_page() {
    assert_rendered("/tags/");
}

#[test]
fn tag_page() {
    assert_rendered("/tags/energy/");
}

#[test]
fn tag_atom() {
    assert_rendered("/tags/energy/atom.xml");
}

#[test]
fn author_index_page() {
    assert_rendered("/authors/");
}

#[test]
fn author_page() {
    assert_rendered("/authors/tang-zhexiao/");
}

#[test]
fn author_json_feed() {
    assert_rendered("/authors/tang-zhexiao/feed.json");
}
