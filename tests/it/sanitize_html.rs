//! `sanitize_html`: off by default (authors are trusted and raw HTML passes
//! through, as in Zola); on, the script, the frame, the event handler and the
//! `javascript:` URL are gone from the feeds and the article page alike,
//! and ordinary markup is kept.

use crate::fixture::{parse_feed, Site, MINIMAL_CONFIG};

const BODY: &str = r#"First paragraph.

<script>alert("stolen")</script>

<iframe src="https://evil.example/frame"></iframe>

<p onclick="alert('clicked')">Click <a href="javascript:alert('linked')">here</a>.</p>

<figure><img src="photo.jpg" alt="A photo"><figcaption>The <em>caption</em></figcaption></figure>

| a | b |
|---|---|
| 1 | 2 |
"#;

/// Exports a site with one article holding `BODY` and `config_extra` in
/// config.toml; returns the Atom entry's content and the article page.
fn export(config_extra: &str) -> (String, String) {
    let site = Site::minimal();
    site.write("config.toml", &format!("{MINIMAL_CONFIG}{config_extra}"));
    site.section("news", "News");
    site.write(
        "content/news/raw.md",
        &format!("+++\ntitle = \"Raw\"\ndate = 2024-05-20\n+++\n{BODY}"),
    );
    let public = site.export();
    let feed = parse_feed(&std::fs::read(public.join("news/atom.xml")).expect("atom.xml"));
    let content = feed.entries[0]
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .expect("entry content");
    let json = site.read("public/feed.json");
    assert_eq!(
        json.contains("alert("),
        content.contains("alert("),
        "feed.json and atom.xml disagree"
    );
    (content, site.read("public/news/raw/index.html"))
}

const HOSTILE: [&str; 5] = ["<script", "alert(", "<iframe", "onclick", "javascript:"];

#[test]
fn sanitize_html_removes_scripts_from_feeds_and_pages() {
    let (feed, page) = export("sanitize_html = true\n");
    for (what, html) in [("feed", &feed), ("page", &page)] {
        for hostile in HOSTILE {
            assert!(
                !html.contains(hostile),
                "{what} still has {hostile}: {html}"
            );
        }
        for kept in [
            "<figure>",
            r#"<img src="photo.jpg" alt="A photo">"#,
            "<figcaption>The <em>caption</em></figcaption>",
            "<table>",
            "<td>1</td>",
            "<a rel=\"noopener noreferrer\">here</a>",
        ] {
            assert!(html.contains(kept), "{what} lost {kept}: {html}");
        }
    }
}

#[test]
fn raw_html_passes_through_by_default() {
    let (feed, page) = export("");
    for (what, html) in [("feed", &feed), ("page", &page)] {
        for hostile in HOSTILE {
            assert!(html.contains(hostile), "{what} lost {hostile}: {html}");
        }
    }
}
