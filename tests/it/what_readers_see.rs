//! What feed readers take from the feeds, read back with the independent
//! `feed-rs` parser and from the raw bytes: roles in bylines, the order of
//! Atom's links, polling hints, plain text that looks like HTML, the XML
//! declaration, JSON's modification dates and the OPML titles.

use std::fs;
use std::path::Path;

use crate::fixture::{parse_feed, Site};

const FEEDS: [&str; 3] = ["rss.xml", "atom.xml", "feed.json"];

fn read(dir: &Path, relative: &str) -> String {
    fs::read_to_string(dir.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Plain text as HTML that shows it, written here apart from the code under test.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[test]
fn a_role_reads_as_part_of_the_name_not_as_an_address_in_every_format() {
    let site = Site::minimal();
    site.section("news", "News");
    site.write(
        "content/news/edited.md",
        "+++\ntitle = \"Edited\"\ndate = 2024-05-20T08:00:00+08:00\nauthors = [\"GONG Qian\", { name = \"TANG Zhexiao\", role = \"editor\" }]\n+++\n\nText.\n",
    );
    let public = site.export();
    for format in FEEDS {
        let feed = parse_feed(read(&public, &format!("news/{format}")).as_bytes());
        let authors: Vec<(Option<&str>, Option<&str>)> = feed.entries[0]
            .authors
            .iter()
            .map(|a| (a.name.as_deref(), a.email.as_deref()))
            .collect();
        assert_eq!(
            authors,
            [
                (Some("GONG Qian"), None),
                (Some("TANG Zhexiao, editor"), None)
            ],
            "{format}"
        );
    }
}

#[test]
fn atom_lists_the_alternate_link_before_the_self_link() {
    let site = Site::bundled();
    let public = site.export();
    for path in ["atom.xml", "opinion/atom.xml"] {
        let atom = read(&public, path);
        let alternate = atom.find(r#"rel="alternate""#).expect("alternate link");
        let this = atom.find(r#"rel="self""#).expect("self link");
        assert!(alternate < this, "{path}: self comes first");
        // What a reader that takes the first link gets: the site's page.
        let feed = parse_feed(atom.as_bytes());
        let home = if path == "atom.xml" { "" } else { "opinion/" };
        assert_eq!(feed.links[0].href, format!("http://127.0.0.1:8080/{home}"));
    }
}

#[test]
fn rss_ttl_is_max_age_in_minutes_rounded_up() {
    for (max_age, ttl) in [(300, 5), (61, 2), (0, 1)] {
        let site = Site::minimal();
        let config = format!(
            "{}[server]\nmax_age = {max_age}\n",
            crate::fixture::MINIMAL_CONFIG
        );
        site.write("config.toml", &config);
        site.section("news", "News");
        let public = site.export();
        for path in ["rss.xml", "news/rss.xml"] {
            let feed = parse_feed(read(&public, path).as_bytes());
            assert_eq!(feed.ttl, Some(ttl), "{path} with max_age {max_age}");
        }
    }
}

#[test]
fn plain_text_that_looks_like_html_reads_back_as_the_same_text_in_every_format() {
    let cases = [
        (
            "S&P 500 Rallies",
            "The S&P 500 rose; R&D spending at AT&T grew.",
        ),
        (
            "R&D <b> tags as text",
            "Write <b> tags as text, and a < b > c \"quoted\".",
        ),
    ];
    let site = Site::minimal();
    site.write(
        "config.toml",
        &crate::fixture::MINIMAL_CONFIG.replace("A test site", "Markets & <Money>"),
    );
    site.section("news", "News");
    for (i, (title, summary)) in cases.iter().enumerate() {
        site.write(
            &format!("content/news/case-{i}.md"),
            &format!(
                "+++\ntitle = '''{title}'''\ndate = 2024-05-2{i}T08:00:00Z\ndescription = '''{summary}'''\n+++\n\nBody.\n"
            ),
        );
    }
    let public = site.export();
    for format in FEEDS {
        let feed = parse_feed(read(&public, &format!("news/{format}")).as_bytes());
        // Newest first: the last case first.
        for (entry, (title, summary)) in feed.entries.iter().zip(cases.iter().rev()) {
            let read_title = entry.title.as_ref().map(|t| t.content.as_str());
            assert_eq!(read_title, Some(*title), "{format}");
            let read_summary = entry.summary.as_ref().map(|s| s.content.clone());
            // RSS's description and Atom's summary (type html) are HTML;
            // JSON's summary is plain text.
            let expected = match format {
                "feed.json" => summary.to_string(),
                _ => escaped(summary),
            };
            assert_eq!(read_summary, Some(expected), "{format}");
        }
    }
    // A channel's description is plain text (to the W3C validator too).
    let rss = parse_feed(read(&public, "rss.xml").as_bytes());
    assert_eq!(
        rss.description.map(|d| d.content).as_deref(),
        Some("Markets & <Money>")
    );
}

#[test]
fn atom_declares_its_encoding_as_rss_does() {
    let site = Site::bundled();
    let public = site.export();
    for path in ["atom.xml", "rss.xml", "opinion/atom.xml"] {
        assert!(
            read(&public, path).starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"),
            "{path}"
        );
    }
}

#[test]
fn json_date_modified_is_left_out_unless_the_article_was_updated() {
    let site = Site::minimal();
    site.section("news", "News");
    site.write(
        "content/news/edited.md",
        "+++\ntitle = \"Edited\"\ndate = 2024-05-20T08:00:00Z\nupdated = 2024-05-21T09:00:00Z\n+++\n\nText.\n",
    );
    site.write(
        "content/news/untouched.md",
        "+++\ntitle = \"Untouched\"\ndate = 2024-05-19T08:00:00Z\n+++\n\nText.\n",
    );
    let public = site.export();
    let json: serde_json::Value =
        serde_json::from_str(&read(&public, "news/feed.json")).expect("JSON");
    let items = json["items"].as_array().expect("items");
    assert_eq!(items[0]["title"], "Edited");
    assert_eq!(items[0]["date_modified"], "2024-05-21T09:00:00+00:00");
    assert_eq!(items[1]["title"], "Untouched");
    assert_eq!(items[1]["date_published"], "2024-05-19T08:00:00+00:00");
    assert!(items[1].get("date_modified").is_none(), "{}", items[1]);
}

#[test]
fn opml_titles_name_the_format_so_no_two_feeds_share_one() {
    let site = Site::bundled();
    let public = site.export();
    let opml = read(&public, "feeds.opml");
    let mut reader = quick_xml::Reader::from_str(&opml);
    let mut titles = Vec::new();
    loop {
        match reader.read_event().expect("well-formed OPML") {
            quick_xml::events::Event::Empty(e) => {
                let title = e
                    .try_get_attribute("title")
                    .expect("attribute")
                    .expect("title")
                    .decoded_and_normalized_value(
                        quick_xml::XmlVersion::Explicit1_0,
                        reader.decoder(),
                    )
                    .expect("value")
                    .into_owned();
                titles.push(title);
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(titles.len(), 18);
    assert!(titles.contains(&"INSIGHTS: Opinion (RSS 2.0)".to_string()));
    assert!(titles.contains(&"INSIGHTS: Opinion (Atom 1.0)".to_string()));
    assert!(titles.contains(&"INSIGHTS: Opinion (JSON Feed 1.1)".to_string()));
    let mut unique = titles.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), titles.len(), "{titles:?}");
}

#[test]
fn a_caption_whose_photo_is_not_reproduced_says_so_in_its_own_paragraph_in_every_format() {
    let site = Site::bundled();
    let public = site.export();
    for format in FEEDS {
        let feed = parse_feed(read(&public, &format!("opinion/{format}")).as_bytes());
        let content = feed.entries[0]
            .content
            .as_ref()
            .and_then(|c| c.body.as_deref())
            .unwrap_or_else(|| panic!("{format}: no content"));
        // A paragraph of its own: text readers that flatten `<figure>` still
        // set it apart from the paragraph before, and it names what is missing.
        assert!(
            content.contains(
                "<figcaption><p><strong>Photo caption (image not reproduced):</strong> The Power of Siberia"
            ),
            "{format}: {content}"
        );
    }
}
