//! The feed preview: RSS and Atom feeds name `feed.xsl`, published beside
//! them, and readers parse exactly what they parsed without it.

use std::fs;
use std::path::Path;

use crate::fixture::{parse_feed, Site};

fn read(dir: &Path, relative: &str) -> String {
    fs::read_to_string(dir.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The stylesheet instruction of an XML feed, with its `href`.
fn instruction(href: &str) -> String {
    format!("<?xml-stylesheet type=\"text/xsl\" href=\"{href}\"?>\n")
}

#[test]
fn rss_and_atom_feeds_name_the_published_stylesheet_by_a_relative_address() {
    let site = Site::bundled();
    let public = site.export();
    for (path, href) in [
        ("rss.xml", "feed.xsl"),
        ("atom.xml", "feed.xsl"),
        ("opinion/rss.xml", "../feed.xsl"),
        ("opinion/atom.xml", "../feed.xsl"),
    ] {
        let xml = read(&public, path);
        let prolog = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}",
            instruction(href)
        );
        assert!(xml.starts_with(&prolog), "{path}: {}", &xml[..200]);
        // The address resolves, from the feed's folder, to the stylesheet.
        let folder = Path::new(path).parent().unwrap_or(Path::new(""));
        let xsl = read(&public.join(folder), href);
        assert!(xsl.contains("<xsl:stylesheet"), "{path}");
    }
    assert!(!read(&public, "feed.json").contains("xsl"));
}

#[test]
fn the_stylesheet_is_served_as_xslt() {
    let site = Site::bundled();
    let built = crate::prelude::build_dir(site.root(), chrono::Utc::now()).expect("build");
    let resource = &built.resources["/feed.xsl"];
    assert_eq!(resource.content_type, "application/xslt+xml; charset=utf-8");
    // The feeds keep their own types: readers and caches see a feed.
    assert!(built.resources["/rss.xml"]
        .content_type
        .starts_with("application/rss+xml"));
    assert!(built.resources["/atom.xml"]
        .content_type
        .starts_with("application/atom+xml"));
}

#[test]
fn readers_parse_the_same_feed_with_the_stylesheet_instruction_as_without() {
    let site = Site::bundled();
    let public = site.export();
    for (path, href) in [("rss.xml", "feed.xsl"), ("opinion/atom.xml", "../feed.xsl")] {
        let with = read(&public, path);
        let without = with.replacen(&instruction(href), "", 1);
        assert_ne!(with, without, "{path}: no instruction to take out");
        let (a, b) = (parse_feed(with.as_bytes()), parse_feed(without.as_bytes()));
        assert!(!a.entries.is_empty(), "{path}");
        assert_eq!(a.title, b.title, "{path}");
        assert_eq!(a.links, b.links, "{path}");
        assert_eq!(a.entries, b.entries, "{path}");
    }
}

#[test]
fn no_stylesheet_is_published_without_an_xml_feed() {
    let site = Site::minimal();
    site.write(
        "config.toml",
        &format!("{}formats = [\"json\"]\n", crate::fixture::MINIMAL_CONFIG),
    );
    site.section("news", "News");
    let public = site.export();
    assert!(public.join("feed.json").is_file());
    assert!(!public.join("feed.xsl").exists());
    assert!(!public.join("rss.xml").exists());
}
