//! Publishing: the bundled site exported and read back with an independent
//! parser (`feed-rs`), determinism, stable ids, escaping, and the rules of
//! what is published.

use std::fs;
use std::path::Path;

use crate::fixture::{files_in, parse_feed, Site, MINIMAL_CONFIG};

/// The bundled articles: section, slug, title, author names as feeds carry them.
const BUNDLED: [(&str, &str, &str, &str); 5] = [
    (
        "opinion",
        "china-russia-energy-cooperation",
        "China, Russia Intensify High-quality Energy Cooperation",
        "TANG Zhexiao",
    ),
    (
        "comment",
        "us-curbs-on-ai-models",
        "U. S. Curbs on AI Models Threaten AI Progress",
        "GONG Qian",
    ),
    (
        "voice-of-the-world",
        "biden-vs-biden-tariffs",
        "Biden Vs. Biden: Monster Tariffs Dismantling Global Trade",
        "TANG Zhexiao, editor",
    ),
    (
        "overseas-echoes",
        "intelligent-manufacturing-envoys",
        "Intelligent Manufacturing a Model for Developing Countries: Envoys",
        "Staff Reporters",
    ),
    (
        "hi-tech",
        "future-air-taxi-unveiled",
        "Future 'Air Taxi' Unveiled",
        "Staff Reporters",
    ),
];

const FEEDS: [&str; 3] = ["rss.xml", "atom.xml", "feed.json"];

fn read(dir: &Path, relative: &str) -> Vec<u8> {
    fs::read(dir.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The plain text of each paragraph of an article's Markdown body, as a
/// reader would see it (emphasis markers and HTML blocks left out).
fn source_paragraphs(site: &Site, section: &str, slug: &str) -> Vec<String> {
    let text = site.read(&format!("content/{section}/{slug}.md"));
    let body = text.splitn(3, "+++\n").nth(2).expect("front matter closed");
    body.split("\n\n")
        .map(|p| p.trim().replace('*', ""))
        .filter(|p| !p.is_empty() && !p.starts_with('<'))
        .collect()
}

fn html_text(html: &str) -> String {
    html.replace("<em>", "")
        .replace("</em>", "")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn bundled_site_exports_every_url_of_the_layout() {
    let site = Site::bundled();
    let public = site.export();
    let mut expected = vec![
        "index.html".to_string(),
        "feeds.opml".to_string(),
        "style.css".to_string(),
        "feed.xsl".to_string(),
        "favicon.svg".to_string(),
        "favicon.ico".to_string(),
        "sitemap.xml".to_string(),
        "robots.txt".to_string(),
    ];
    expected.extend(FEEDS.iter().map(|f| f.to_string()));
    for (section, slug, _, _) in BUNDLED {
        expected.push(format!("{section}/index.html"));
        expected.push(format!("{section}/{slug}/index.html"));
        expected.extend(FEEDS.iter().map(|f| format!("{section}/{f}")));
    }
    // Each tag and author: a page and three feeds, beside the two indexes.
    expected.push("tags/index.html".to_string());
    expected.push("authors/index.html".to_string());
    for (kind, count) in [("tags", 14), ("authors", 3)] {
        let mut terms: Vec<String> = std::fs::read_dir(public.join(kind))
            .expect("a folder of terms")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        terms.sort();
        assert_eq!(terms.len(), count, "{kind}: {terms:?}");
        for term in terms {
            expected.push(format!("{kind}/{term}/index.html"));
            expected.extend(FEEDS.iter().map(|f| format!("{kind}/{term}/{f}")));
        }
    }
    assert!(expected.contains(&"authors/tang-zhexiao/atom.xml".to_string()));
    assert!(expected.contains(&"tags/china-russia-relations/rss.xml".to_string()));
    for path in &expected {
        assert!(public.join(path).is_file(), "missing {path}");
    }
    // Besides these: the export marker and precompressed siblings (tests/export_precompressed.rs).
    let written = files_in(&public)
        .into_iter()
        .filter(|(path, _)| !matches!(path.extension().and_then(|e| e.to_str()), Some("gz" | "br")))
        .count();
    assert_eq!(written - 1, expected.len(), "unexpected extra files");
}

#[test]
fn each_section_feed_holds_its_article_in_every_format() {
    let site = Site::bundled();
    let public = site.export();
    for (section, slug, title, author) in BUNDLED {
        let paragraphs = source_paragraphs(&site, section, slug);
        assert!(
            paragraphs.len() >= 5,
            "{section}: too few paragraphs read from the source"
        );
        for format in FEEDS {
            let feed = parse_feed(&read(&public, &format!("{section}/{format}")));
            let context = format!("{section}/{format}");
            assert_eq!(feed.entries.len(), 1, "{context}");
            let entry = &feed.entries[0];
            assert_eq!(
                entry.title.as_ref().map(|t| t.content.as_str()),
                Some(title),
                "{context}"
            );
            let authors: Vec<&str> = entry
                .authors
                .iter()
                .map(|a| a.name.as_deref().unwrap_or_default())
                .collect();
            assert_eq!(authors, [author], "{context}");
            assert_eq!(
                entry.id,
                format!("tag:insights.example.com,2024-05-20:{section}/{slug}"),
                "{context}"
            );
            assert_eq!(
                entry.links[0].href,
                format!("http://127.0.0.1:8080/{section}/{slug}/"),
                "{context}"
            );
            let published = entry.published.expect("published date");
            assert_eq!(
                published.date_naive().to_string(),
                "2024-05-20",
                "{context}"
            );
            let content = entry
                .content
                .as_ref()
                .and_then(|c| c.body.clone())
                .expect("full content");
            let content = html_text(&content);
            for paragraph in &paragraphs {
                assert!(
                    content.contains(paragraph.as_str()),
                    "{context}: content lacks {paragraph:?}"
                );
            }
            assert!(
                content.contains("<figcaption>")
                    || section == "comment"
                    || section == "overseas-echoes",
                "{context}: photo caption missing"
            );
        }
    }
}

#[test]
fn site_feeds_hold_all_articles_newest_first_and_agree_across_formats() {
    let site = Site::bundled();
    let public = site.export();
    let mut orders = Vec::new();
    for format in FEEDS {
        let feed = parse_feed(&read(&public, format));
        assert_eq!(feed.entries.len(), BUNDLED.len(), "{format}");
        let dates: Vec<_> = feed
            .entries
            .iter()
            .map(|e| e.published.expect("date"))
            .collect();
        assert!(
            dates.windows(2).all(|w| w[0] >= w[1]),
            "{format} is not newest first: {dates:?}"
        );
        orders.push(
            feed.entries
                .iter()
                .map(|e| e.id.clone())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[1], orders[2]);
}

#[test]
fn articles_published_at_the_same_instant_sort_by_section_then_slug() {
    let site = Site::minimal();
    site.section("b-section", "B").section("a-section", "A");
    for (path, title) in [
        ("b-section/zeta", "Z"),
        ("b-section/alpha", "A2"),
        ("a-section/mid", "M"),
    ] {
        site.write(
            &format!("content/{path}.md"),
            &format!("+++\ntitle = \"{title}\"\ndate = 2024-01-01\n+++\nBody.\n"),
        );
    }
    site.write(
        "content/a-section/newer.md",
        "+++\ntitle = \"N\"\ndate = 2024-01-02\n+++\nBody.\n",
    );
    let public = site.export();
    for format in FEEDS {
        let feed = parse_feed(&read(&public, format));
        let titles: Vec<_> = feed
            .entries
            .iter()
            .map(|e| e.title.clone().expect("title").content)
            .collect();
        assert_eq!(titles, ["N", "M", "A2", "Z"], "{format}");
    }
}

#[test]
fn two_exports_of_unchanged_content_are_byte_identical() {
    let site = Site::bundled();
    let first = files_in(&site.export());
    let second = files_in(&site.export());
    assert_eq!(first.len(), second.len());
    for ((path_a, bytes_a), (path_b, bytes_b)) in first.iter().zip(&second) {
        assert_eq!(path_a, path_b);
        assert!(
            bytes_a == bytes_b,
            "{} differs between two exports",
            path_a.display()
        );
    }
}

fn ids_and_links(public: &Path) -> (Vec<String>, Vec<String>) {
    let feed = parse_feed(&read(public, "atom.xml"));
    let ids = feed.entries.iter().map(|e| e.id.clone()).collect();
    let links = feed
        .entries
        .iter()
        .map(|e| e.links[0].href.clone())
        .collect();
    (ids, links)
}

#[test]
fn ids_survive_editing_an_article_and_moving_base_url() {
    let site = Site::bundled();
    let (ids_before, links_before) = ids_and_links(&site.export());

    let article = "content/opinion/china-russia-energy-cooperation.md";
    let edited = site.read(article).replace(
        "China and Russia will continue",
        "China and Russia will keep on",
    );
    site.write(article, &edited);
    let config = site.read("config.toml").replace(
        "http://127.0.0.1:8080/",
        "https://news.example.net/insights/",
    );
    site.write("config.toml", &config);
    let public = site.export();
    let (ids_after, links_after) = ids_and_links(&public);

    assert_eq!(ids_before, ids_after);
    assert_ne!(
        links_before, links_after,
        "the base_url change did not reach the links"
    );
    assert!(links_after
        .iter()
        .all(|l| l.starts_with("https://news.example.net/insights/")));
    let rss = String::from_utf8(read(&public, "opinion/rss.xml")).expect("utf-8");
    assert!(
        rss.contains("will keep on"),
        "the edit did not reach the feed"
    );
}

#[test]
fn hostile_text_round_trips_through_every_format() {
    let title = r#"Q&A: <b>bold</b> "quotes" & 'apostrophes' ]]> 🎉 中文标题"#;
    let author = r#"李 & <Sons> "Ltd" ]]>"#;
    let site = Site::minimal();
    site.section("news", "News & <Views>");
    site.write(
        "content/news/hostile.md",
        &format!(
            "+++\ntitle = '''{title}'''\ndate = 2024-05-20T10:00:00+08:00\nauthors = ['''{author}''']\ntags = [\"a&b\", \"<c>\"]\n+++\n\nFish & chips < 5 \"quoted\" 🎉 中文 ]]> end.\n\n<!-- raw ]]> in a comment -->\n"
        ),
    );
    let public = site.export();
    for format in FEEDS {
        for path in [format.to_string(), format!("news/{format}")] {
            let feed = parse_feed(&read(&public, &path));
            let entry = &feed.entries[0];
            assert_eq!(
                entry.title.as_ref().map(|t| t.content.as_str()),
                Some(title),
                "{path}"
            );
            assert_eq!(entry.authors[0].name.as_deref(), Some(author), "{path}");
            let content = entry
                .content
                .as_ref()
                .and_then(|c| c.body.clone())
                .expect("content");
            assert!(
                content.contains("Fish &amp; chips &lt; 5 \"quoted\" 🎉 中文 ]]&gt; end."),
                "{path}: {content}"
            );
            assert!(
                content.contains("<!-- raw ]]> in a comment -->"),
                "{path}: {content}"
            );
            let terms: Vec<&str> = entry.categories.iter().map(|c| c.term.as_str()).collect();
            assert_eq!(terms, ["a&b", "<c>"], "{path}");
        }
    }
    let page = String::from_utf8(read(&public, "news/hostile/index.html")).expect("utf-8");
    assert!(
        page.contains("Q&amp;A: &lt;b&gt;bold&lt;/b&gt;"),
        "title not escaped in the page"
    );
    assert!(!page.contains("<b>bold</b>"));
}

#[test]
fn drafts_and_future_articles_are_left_out_of_every_output() {
    let site = Site::minimal();
    site.section("news", "News");
    site.write(
        "content/news/live.md",
        "+++\ntitle = \"Live\"\ndate = 2024-01-01\n+++\nLive.\n",
    );
    site.write(
        "content/news/draft.md",
        "+++\ntitle = \"Secret draft\"\ndate = 2024-01-01\ndraft = true\n+++\nDraft.\n",
    );
    site.write(
        "content/news/future.md",
        "+++\ntitle = \"From the future\"\ndate = 2999-01-01\n+++\nLater.\n",
    );
    let public = site.export();
    for (path, bytes) in files_in(&public) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("Secret draft") && !text.contains("From the future"),
            "{} leaks",
            path.display()
        );
    }
    assert!(!public.join("news/draft").exists() && !public.join("news/future").exists());
    assert!(public.join("news/live/index.html").is_file());
}

#[test]
fn relative_links_and_images_in_bodies_become_absolute() {
    let site = Site::minimal();
    site.section("news", "News");
    site.write(
        "content/news/links.md",
        "+++\ntitle = \"Links\"\ndate = 2024-01-01\n+++\nSee [the other](../other/) and [home](/).\n\n![A photo](photo.jpg)\n",
    );
    let public = site.export();
    let feed = parse_feed(&read(&public, "news/atom.xml"));
    let content = feed.entries[0]
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .expect("content");
    assert!(
        content.contains(r#"href="https://news.example.org/news/other/""#),
        "{content}"
    );
    assert!(
        content.contains(r#"href="https://news.example.org/""#),
        "{content}"
    );
    assert!(
        content.contains(r#"src="https://news.example.org/news/links/photo.jpg""#),
        "{content}"
    );
}

#[test]
fn opml_lists_every_feed_in_every_format() {
    let site = Site::bundled();
    let public = site.export();
    let opml = String::from_utf8(read(&public, "feeds.opml")).expect("utf-8");
    let mut reader = quick_xml::Reader::from_str(&opml);
    let mut urls = Vec::new();
    loop {
        match reader.read_event().expect("well-formed OPML") {
            quick_xml::events::Event::Empty(e) | quick_xml::events::Event::Start(e) => {
                if let Some(attr) = e.try_get_attribute("xmlUrl").expect("attribute") {
                    urls.push(
                        attr.decoded_and_normalized_value(
                            quick_xml::XmlVersion::Explicit1_0,
                            reader.decoder(),
                        )
                        .expect("value")
                        .into_owned(),
                    );
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    let mut expected: Vec<String> = Vec::new();
    for dir in std::iter::once(String::new()).chain(BUNDLED.iter().map(|b| format!("{}/", b.0))) {
        for format in FEEDS {
            expected.push(format!("http://127.0.0.1:8080/{dir}{format}"));
        }
    }
    urls.sort();
    expected.sort();
    assert_eq!(urls, expected);
    for url in &urls {
        let path = url.trim_start_matches("http://127.0.0.1:8080/");
        assert!(
            public.join(path).is_file(),
            "OPML lists {url}, which was not exported"
        );
    }
}

#[test]
fn every_page_carries_autodiscovery_links_to_its_feeds() {
    let site = Site::bundled();
    let public = site.export();
    let home = String::from_utf8(read(&public, "index.html")).expect("utf-8");
    assert!(home.contains(r#"<link rel="alternate" type="application/rss+xml" title="INSIGHTS (RSS 2.0)" href="http://127.0.0.1:8080/rss.xml">"#), "{home}");
    for (section, slug, title, _) in BUNDLED {
        for page in [
            format!("{section}/index.html"),
            format!("{section}/{slug}/index.html"),
        ] {
            let html = String::from_utf8(read(&public, &page)).expect("utf-8");
            for (media_type, file) in [
                ("application/rss+xml", "rss.xml"),
                ("application/atom+xml", "atom.xml"),
                ("application/feed+json", "feed.json"),
            ] {
                let link = format!(r#"type="{media_type}""#);
                let href = format!(r#"href="http://127.0.0.1:8080/{section}/{file}""#);
                assert!(
                    html.lines().any(|l| l.contains(&link)) && html.contains(&href),
                    "{page} lacks {href}"
                );
            }
            assert!(
                html.contains(r#"href="http://127.0.0.1:8080/rss.xml""#),
                "{page} lacks the site feed"
            );
            assert!(
                html.contains(r#"<link rel="stylesheet" href="/style.css">"#),
                "{page} lacks the stylesheet"
            );
        }
        let article_page =
            String::from_utf8(read(&public, &format!("{section}/{slug}/index.html")))
                .expect("utf-8");
        let escaped_title = title.replace('\'', "&#39;");
        assert!(
            article_page.contains(title) || article_page.contains(&escaped_title),
            "{section}: title missing"
        );
    }
}

#[test]
fn formats_and_limits_from_config_shape_the_output() {
    let site = Site::minimal();
    site.append("config.toml", "limit = 2\nformats = [\"atom\"]\n");
    site.section("news", "News");
    site.write(
        "content/few/_index.md",
        "+++\ntitle = \"Few\"\nlimit = 1\n+++\n",
    );
    for day in 1..=3 {
        site.write(
            &format!("content/news/day{day}.md"),
            &format!("+++\ntitle = \"Day {day}\"\ndate = 2024-01-0{day}\n+++\nText.\n"),
        );
        site.write(
            &format!("content/few/day{day}.md"),
            &format!("+++\ntitle = \"Few {day}\"\ndate = 2024-01-0{day}\n+++\nText.\n"),
        );
    }
    let public = site.export();
    assert!(!public.join("rss.xml").exists() && !public.join("feed.json").exists());
    assert!(!public.join("news/rss.xml").exists());
    let site_feed = parse_feed(&read(&public, "atom.xml"));
    assert_eq!(site_feed.entries.len(), 2);
    let news = parse_feed(&read(&public, "news/atom.xml"));
    let titles: Vec<_> = news
        .entries
        .iter()
        .map(|e| e.title.clone().expect("title").content)
        .collect();
    assert_eq!(titles, ["Day 3", "Day 2"]);
    assert_eq!(parse_feed(&read(&public, "few/atom.xml")).entries.len(), 1);
    // The section page lists everything, not only what the feed holds.
    assert!(site.read("public/news/index.html").contains("Day 1"));
}

#[test]
fn export_replaces_its_own_previous_export_and_refuses_foreign_directories() {
    let site = Site::bundled();
    site.export();
    site.write("public/stale.html", "left from before");
    let public = site.export();
    assert!(
        !public.join("stale.html").exists(),
        "the old tree was not replaced whole"
    );

    site.write("elsewhere/keep.txt", "mine");
    let output = site.run(&["export", "elsewhere"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("elsewhere: refusing to replace a non-empty directory"),
        "{stderr}"
    );
    assert_eq!(site.read("elsewhere/keep.txt"), "mine");
    assert_eq!(files_in(&site.path("elsewhere")).len(), 1);
}

#[test]
fn export_prints_one_summary_line() {
    let site = Site::bundled();
    let output = site.run(&["export"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with(
            "exported 5 articles in 5 sections: 307 files (201 precompressed, 0 unchanged, 0 of them not rendered again), "
        ),
        "{stdout}"
    );
    assert!(lines[0].contains(" bytes to public in "), "{stdout}");
}

#[test]
fn export_goes_to_the_given_directory_and_root() {
    let site = Site::bundled();
    let out = tempfile::TempDir::new().expect("temp dir");
    let target = out.path().join("deploy");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .args([
            "--root",
            site.root().to_str().expect("utf-8 path"),
            "export",
            target.to_str().expect("utf-8 path"),
        ])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(target.join("opinion/rss.xml").is_file());
    assert!(!site.path("public").exists());
}

#[test]
fn hostile_but_valid_content_stays_well_formed_everywhere() {
    let site = Site::minimal();
    // 500 tags are over the default `tags_per_article` (100). Not ten
    // thousand, as before tags had pages: each tag has three feeds that
    // carry this article with all its tags, so the cost of one article
    // grows with the square of its tags (README, `tags_per_article`).
    site.write(
        "config.toml",
        &format!("{MINIMAL_CONFIG}[limits]\ntags_per_article = 500\n"),
    );
    site.section("news", "News");
    let tags: Vec<String> = (0..500).map(|i| format!("\"tag-{i}\"")).collect();
    site.write(
        "content/news/hostile.md",
        &format!(
            "+++\ntitle = \"<script>alert(1)</script> -- ]]> \u{200f}עברית\u{200e} & more\"\ndate = 2024-01-01\ntags = [{}]\n+++\n\n<script>alert('body')</script> -- ]]> \u{202e}reversed\u{202c} text\n",
            tags.join(", ")
        ),
    );
    let public = site.export();
    for format in FEEDS {
        let feed = parse_feed(&read(&public, &format!("news/{format}")));
        assert_eq!(feed.entries[0].categories.len(), 500, "{format}");
        let title = feed.entries[0].title.clone().expect("title").content;
        assert!(
            title.starts_with("<script>alert(1)</script> -- ]]> \u{200f}עברית"),
            "{format}: {title}"
        );
    }
    for xml in ["news/rss.xml", "news/atom.xml", "feeds.opml"] {
        let text = String::from_utf8(read(&public, xml)).expect("utf-8");
        let mut reader = quick_xml::Reader::from_str(&text);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{xml} is not well-formed: {e}"),
            }
        }
    }
    let page = String::from_utf8(read(&public, "news/hostile/index.html")).expect("utf-8");
    assert!(
        page.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt; -- ]]&gt;"),
        "title not escaped"
    );
}

#[test]
fn index_pages_are_paged_by_page_size() {
    let site = Site::minimal();
    site.section("news", "News");
    for i in 0..105 {
        site.write(
            &format!("content/news/a{i:03}.md"),
            &format!(
                "+++\ntitle = \"Story {i:03}\"\ndate = 2024-01-01T00:{:02}:{:02}Z\n+++\nText.\n",
                i / 60,
                i % 60
            ),
        );
    }
    let public = site.export();
    // 50 a page by default: 104 to 55, 54 to 5, 4 to 0.
    for dir in ["", "news/"] {
        let html = |page: &str| {
            String::from_utf8(read(&public, &format!("{dir}{page}index.html"))).expect("utf-8")
        };
        let first = html("");
        assert!(
            first.contains("Articles 1–50 of 105, newest first."),
            "{dir}"
        );
        assert!(
            first.contains("Story 104") && first.contains("Story 055"),
            "{dir}"
        );
        assert!(!first.contains("Story 054"), "{dir} lists more than 50");
        let last = html("page/3/");
        assert!(
            last.contains("Articles 101–105 of 105, newest first."),
            "{dir}"
        );
        assert!(
            last.contains("Story 004") && last.contains("Story 000"),
            "{dir}"
        );
        assert!(!public.join(format!("{dir}page/4")).exists(), "{dir}");
    }
    assert!(
        public.join("news/a000/index.html").is_file(),
        "older articles keep their pages"
    );
}

#[test]
fn site_lists_merge_the_sections_newest_first() {
    let site = Site::minimal();
    site.append("config.toml", "limit = 11\nformats = [\"atom\"]\n");
    let stamp = |seconds: u32| format!("2024-02-01T00:{:02}:{:02}Z", seconds / 60, seconds % 60);
    let article = |section: &str, name: &str, title: &str, date: &str| {
        site.write(
            &format!("content/{section}/{name}.md"),
            &format!("+++\ntitle = \"{title}\"\ndate = {date}\n+++\nText.\n"),
        );
    };
    for section in ["new", "mid", "old"] {
        site.section(section, section);
    }
    // 101 articles two seconds apart; one in another section between the
    // 91st and the 92nd newest of them; three older than all.
    for i in 0..=100 {
        article(
            "new",
            &format!("n{i:03}"),
            &format!("New {i:03}"),
            &stamp(2 * i),
        );
    }
    article("mid", "m", "Mid", &stamp(181));
    for i in 0..3 {
        article(
            "old",
            &format!("o{i}"),
            &format!("Old {i}"),
            &format!("2024-01-0{}", i + 1),
        );
    }
    let public = site.export();

    let feed = parse_feed(&read(&public, "atom.xml"));
    let titles: Vec<_> = feed
        .entries
        .iter()
        .map(|e| e.title.clone().expect("title").content)
        .collect();
    let mut expected: Vec<String> = (91..=100).rev().map(|i| format!("New {i:03}")).collect();
    expected.push("Mid".into());
    assert_eq!(titles, expected);

    let home = String::from_utf8(read(&public, "index.html")).expect("utf-8");
    assert!(home.contains("Articles 1–50 of 105, newest first."));
    let listed = |title: &str| home.contains(&format!(">{title}</a>"));
    assert!(listed("Mid") && listed("New 100") && listed("New 052"));
    assert!(
        !listed("New 051") && !listed("Old 2"),
        "home lists more than the newest 50"
    );
    // The rest, merged the same way, on the later pages.
    let last = String::from_utf8(read(&public, "page/3/index.html")).expect("utf-8");
    assert!(last.contains(">Old 0</a>") && last.contains(">New 000</a>"));
    let mid = home.find(">Mid</a>").expect("Mid listed");
    assert!(home.find(">New 091</a>").expect("listed") < mid);
    assert!(mid < home.find(">New 090</a>").expect("listed"));
}

#[test]
fn an_articles_files_are_published_beside_its_page() {
    let site = Site::minimal();
    site.append("config.toml", "precompress = \"all\"\n");
    site.section("news", "News");
    site.write(
        "content/news/story.md",
        "+++\ntitle = \"Story\"\ndate = 2024-01-01\n+++\n![A photo](photo.png)\n\n[Listen](talk.MP3)\n",
    );
    let photo: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x01\x02\xff not really a picture";
    site.write_bytes("content/news/story/photo.png", photo)
        .write_bytes("content/news/story/talk.MP3", b"ID3 not really a recording");
    site.write(
        "content/news/unfinished.md",
        "+++\ntitle = \"Unfinished\"\ndate = 2024-01-02\ndraft = true\n+++\n![x](secret.png)\n",
    );
    site.write_bytes("content/news/unfinished/secret.png", b"\x89PNG secret");
    let public = site.export();

    assert_eq!(read(&public, "news/story/photo.png"), photo);
    let mtime = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    // On purpose since issue 11: the article's date, the same from every
    // clone of the content (the file's own time differs from clone to clone).
    assert_eq!(
        mtime(&public.join("news/story/photo.png")),
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_704_067_200),
        "an exported file has its article's date, for a web server's Last-Modified"
    );
    assert_eq!(
        read(&public, "news/story/talk.MP3"),
        b"ID3 not really a recording"
    );
    let page = String::from_utf8(read(&public, "news/story/index.html")).expect("utf-8");
    assert!(
        page.contains("src=\"https://news.example.org/news/story/photo.png\""),
        "{page}"
    );
    assert!(
        page.contains("href=\"https://news.example.org/news/story/talk.MP3\""),
        "{page}"
    );
    // Already compressed formats get no siblings, even with precompress = "all".
    assert!(public.join("news/story/index.html.gz").is_file());
    assert!(!public.join("news/story/photo.png.gz").exists());
    assert!(!public.join("news/story/photo.png.br").exists());
    // A draft's files wait with it.
    assert!(!public.join("news/unfinished").exists());
}
