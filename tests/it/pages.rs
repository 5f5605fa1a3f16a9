//! The HTML pages as readers meet them: the masthead and its issue date, the
//! sections bar, column labels, bylines with roles, tags, the follow box,
//! the head's description, canonical link and Open Graph tags, the icon,
//! pages that load nothing from elsewhere, their weight; then, as a person
//! would see them, the pages in Debian's Chromium: axe-core finds no serious
//! or critical violation (tests/a11y/check.mjs), and html5lib parses every
//! exported page in strict mode (tests/a11y/validate_html.py). Those two need
//! node, /usr/bin/chromium, `npm ci` in tests/a11y and python3 with
//! html5lib (`bash .ci/run` installs what is missing); without them the
//! tests fail and say what is missing.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::fixture::Site;
use crate::prelude::{build_dir, start_server, BuiltSet, ServeOptions};
use chrono::Utc;

fn built(site: &Site) -> BuiltSet {
    build_dir(site.root(), Utc::now()).unwrap_or_else(|e| panic!("build: {e}"))
}

fn text(built: &BuiltSet, path: &str) -> String {
    let resource = built
        .resources
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not published"));
    String::from_utf8(resource.body.to_vec()).expect("utf-8")
}

/// Every HTML page of a built site, by path.
fn pages(built: &BuiltSet) -> Vec<(&String, String)> {
    built
        .resources
        .iter()
        .filter(|(_, r)| r.content_type.starts_with("text/html"))
        .map(|(path, r)| (path, String::from_utf8(r.body.to_vec()).expect("utf-8")))
        .collect()
}

/// How many times `needle` occurs in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn home_page_has_the_masthead_the_sections_bar_and_every_story_set_in_full() {
    let built = built(&Site::bundled());
    let home = text(&built, "/");
    assert!(
        home.contains(
            r#"<h1 class="nameplate"><a href="http://127.0.0.1:8080/">INSIGHTS</a></h1>"#
        ),
        "{home}"
    );
    assert!(
        home.contains(r#"<time datetime="2024-05-20">Monday, 20 May 2024</time>"#),
        "the issue date is missing: {home}"
    );
    let bar = home
        .split_once(r#"<nav class="sections" aria-label="Sections">"#)
        .and_then(|(_, rest)| rest.split_once("</nav>"))
        .map(|(bar, _)| bar)
        .expect("a sections bar");
    let titles: Vec<&str> = bar
        .split("\">")
        .skip(1)
        .filter_map(|s| s.split_once("</a>").map(|(title, _)| title))
        .collect();
    assert_eq!(
        titles,
        [
            "Comment",
            "Hi! Tech",
            "Opinion",
            "Overseas Echoes",
            "Voice of the World"
        ]
    );
    // Five stories, each with its column label, headline, byline and standfirst.
    assert_eq!(count(&home, r#"<li class="story-card">"#), 5);
    assert_eq!(count(&home, r#"<p class="kicker">"#), 5);
    assert_eq!(count(&home, r#"<p class="standfirst">"#), 5);
    assert!(home.contains(r#"<p class="kicker"><a href="http://127.0.0.1:8080/voice-of-the-world/">Voice of the World</a></p><h2><a href="http://127.0.0.1:8080/voice-of-the-world/biden-vs-biden-tariffs/">Biden Vs. Biden: Monster Tariffs Dismantling Global Trade</a></h2><p class="byline"><span class="author">Edited by TANG Zhexiao</span>"#), "{home}");
    assert!(home.contains(r#"<span class="author">By GONG Qian</span>"#));
    // The page's order: the top article leads.
    let lead = home.find("China, Russia Intensify").expect("lead");
    assert!(lead < home.find("U. S. Curbs on AI Models").expect("second"));
}

#[test]
fn the_issue_date_is_the_newest_articles_and_the_current_section_is_marked() {
    let site = Site::minimal();
    site.section("news", "News").section("sport", "Sport");
    site.write(
        "content/news/old.md",
        "+++\ntitle = \"Old\"\ndate = 2024-03-01T09:00:00Z\n+++\nOld.\n",
    )
    .write(
        "content/sport/new.md",
        "+++\ntitle = \"New\"\ndate = 2024-04-02T23:30:00-05:00\n+++\nNew.\n",
    );
    let built = built(&site);
    for path in ["/", "/news/", "/sport/"] {
        let page = text(&built, path);
        // The newest article's own date, in its own time zone.
        assert!(
            page.contains(r#"<time datetime="2024-04-02">Tuesday, 2 April 2024</time>"#),
            "{path}: {page}"
        );
    }
    let news = text(&built, "/news/");
    assert!(
        news.contains(r#"<a href="https://news.example.org/news/" aria-current="page">News</a>"#)
    );
    assert!(news.contains(r#"<a href="https://news.example.org/sport/">Sport</a>"#));
    assert_eq!(count(&news, "aria-current"), 1);
    // A section's own list needs no column labels.
    assert_eq!(count(&news, r#"class="kicker""#), 0);
}

#[test]
fn article_page_has_a_byline_block_labelled_tags_and_a_compact_follow_box() {
    let built = built(&Site::bundled());
    let page = text(&built, "/voice-of-the-world/biden-vs-biden-tariffs/");
    assert!(page.contains(r#"<p class="kicker"><a href="http://127.0.0.1:8080/voice-of-the-world/">Voice of the World</a></p><h1>Biden Vs. Biden: Monster Tariffs Dismantling Global Trade</h1><div class="byline"><ul class="authors"><li>Edited by <a href="http://127.0.0.1:8080/authors/tang-zhexiao/">TANG Zhexiao</a></li></ul><p class="dates"><time datetime="2024-05-20T08:02:00+08:00">20 May 2024</time></p></div>"#), "{page}");
    assert!(page.contains(r#"<footer class="tags"><h2 id="tags-label">Tags</h2><ul aria-labelledby="tags-label"><li class="tag"><a href="http://127.0.0.1:8080/tags/tariffs/">tariffs</a></li><li class="tag"><a href="http://127.0.0.1:8080/tags/trade/">trade</a></li><li class="tag"><a href="http://127.0.0.1:8080/tags/electric-vehicles/">electric vehicles</a></li></ul></footer>"#), "{page}");
    let follow = page
        .split_once(r#"<aside class="follow" aria-labelledby="follow-label"><h2 id="follow-label">Follow this column</h2>"#)
        .and_then(|(_, rest)| rest.split_once("</aside>"))
        .map(|(follow, _)| follow)
        .expect("a follow box");
    // One link per format, then the OPML list: four links, not seven.
    assert_eq!(count(follow, "<a "), 4, "{follow}");
    for (file, label) in [
        ("rss.xml", "RSS"),
        ("atom.xml", "Atom"),
        ("feed.json", "JSON Feed"),
    ] {
        assert!(
            follow.contains(&format!(
                r#"href="http://127.0.0.1:8080/voice-of-the-world/{file}""#
            )) && follow.contains(&format!(">{label}</a>")),
            "{file}: {follow}"
        );
    }
    assert!(follow.contains(r#"href="http://127.0.0.1:8080/feeds.opml""#));
    // The body is there verbatim, its photo-less caption included.
    assert!(page.contains(
        "<figure>\n<figcaption><p><strong>Photo caption (image not reproduced):</strong> China's home-made BYD EV"
    ));
}

#[test]
fn article_page_head_has_description_canonical_link_and_open_graph_tags() {
    let built = built(&Site::bundled());
    let page = text(&built, "/opinion/china-russia-energy-cooperation/");
    let url = "http://127.0.0.1:8080/opinion/china-russia-energy-cooperation/";
    let summary =
        "China and Russia will continue to consolidate their energy strategic cooperation";
    for tag in [
        format!(r#"<meta name="description" content="{summary}"#),
        format!(r#"<link rel="canonical" href="{url}">"#),
        r#"<meta property="og:type" content="article">"#.to_string(),
        r#"<meta property="og:title" content="China, Russia Intensify High-quality Energy Cooperation">"#.to_string(),
        format!(r#"<meta property="og:url" content="{url}">"#),
        format!(r#"<meta property="og:description" content="{summary}"#),
        r#"<meta property="og:site_name" content="INSIGHTS">"#.to_string(),
        r#"<meta property="article:published_time" content="2024-05-20T08:04:00+08:00">"#.to_string(),
        r#"<meta property="article:section" content="Opinion">"#.to_string(),
        r#"<meta property="article:tag" content="energy">"#.to_string(),
    ] {
        let head = page.split_once("</head>").expect("a head").0;
        assert!(head.contains(&tag), "missing {tag}");
    }
    // Home and section pages have a canonical link too, and no article tags.
    let home = text(&built, "/");
    assert!(home.contains(r#"<link rel="canonical" href="http://127.0.0.1:8080/">"#));
    assert!(!home.contains("og:type"));
}

#[test]
fn the_icon_is_served_as_svg_and_as_ico_and_every_page_links_it() {
    let built = built(&Site::bundled());
    let svg = &built.resources["/favicon.svg"];
    assert_eq!(svg.content_type, "image/svg+xml");
    assert!(svg
        .body
        .starts_with(b"<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let ico = &built.resources["/favicon.ico"];
    assert_eq!(ico.content_type, "image/x-icon");
    assert_eq!(&ico.body[..6], &[0, 0, 1, 0, 1, 0], "an ICO with one image");
    for (path, page) in pages(&built) {
        assert!(
            page.contains(r#"<link rel="icon" type="image/svg+xml" href="/favicon.svg">"#),
            "{path}"
        );
    }
}

#[test]
fn pages_run_no_script_and_load_nothing_from_another_origin() {
    let built = built(&Site::bundled());
    let css = text(&built, "/style.css");
    assert!(!css.contains("@import") && !css.contains("url("), "{css}");
    for (path, page) in pages(&built) {
        assert!(!page.contains("<script"), "{path} has a script");
        assert!(!page.contains(" style="), "{path} has inline styles");
        // What a browser loads by itself: the stylesheet and the icon, by path.
        for loaded in page.split("<link ").skip(1) {
            let loaded = loaded.split_once('>').expect("closed").0;
            if loaded.contains("rel=\"stylesheet\"") || loaded.contains("rel=\"icon\"") {
                assert!(loaded.contains("href=\"/"), "{path}: {loaded}");
            }
        }
        assert!(!page.contains(" src="), "{path} loads something");
    }
}

#[test]
fn the_stylesheet_and_icon_follow_a_base_url_with_a_path() {
    let site = Site::minimal();
    site.write(
        "config.toml",
        &crate::fixture::MINIMAL_CONFIG.replace(
            "base_url = \"https://news.example.org/\"",
            "base_url = \"https://example.org/paper/\"",
        ),
    );
    let home = text(&built(&site), "/");
    assert!(home.contains(r#"<link rel="stylesheet" href="/paper/style.css">"#));
    assert!(home.contains(r#"href="/paper/favicon.svg""#));
    assert!(home.contains("Nothing published yet."));
}

#[test]
fn captions_without_a_photo_are_styled_as_notes() {
    let built = built(&Site::bundled());
    let css = text(&built, "/style.css");
    let rule = "figure:not(:has(img, picture, video, svg, iframe, object)) {\n  padding";
    assert!(css.contains(rule), "{css}");
    // The three articles with such a caption hold no image at all.
    for path in [
        "/opinion/china-russia-energy-cooperation/",
        "/voice-of-the-world/biden-vs-biden-tariffs/",
        "/hi-tech/future-air-taxi-unveiled/",
    ] {
        let page = text(&built, path);
        assert!(page.contains("<figcaption>"), "{path}");
        assert!(!page.contains("<img"), "{path}");
    }
}

#[test]
fn the_stylesheet_has_a_dark_scheme_a_print_sheet_and_wide_screen_columns() {
    let css = text(&built(&Site::bundled()), "/style.css");
    for rule in [
        "@media (prefers-color-scheme: dark)",
        "@media print",
        "@media (min-width: 48rem)",
        "@media (min-width: 64rem)",
        "--serif: Georgia",
    ] {
        assert!(css.contains(rule), "missing {rule}");
    }
}

#[test]
fn each_page_with_the_stylesheet_weighs_under_30_kb_gzipped() {
    let built = built(&Site::bundled());
    let gzipped = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip").len()
    };
    let css = gzipped(&built.resources["/style.css"].body);
    for (path, page) in pages(&built) {
        let total = css + gzipped(page.as_bytes());
        assert!(total < 30_000, "{path}: {total} bytes with the stylesheet");
    }
}

#[test]
fn pages_stylesheet_and_icons_are_the_same_bytes_from_build_to_build() {
    let site = Site::bundled();
    let (first, second) = (built(&site), built(&site));
    let looked_at: Vec<&String> = first
        .resources
        .iter()
        .filter(|(_, r)| {
            r.content_type.starts_with("text/html")
                || r.content_type.starts_with("text/css")
                || r.content_type.starts_with("image/")
        })
        .map(|(path, _)| path)
        .collect();
    // The home page, 5 section pages, 5 article pages, the tag and author
    // indexes with a page per tag and per author; the stylesheet; the icons.
    let tags = first
        .resources
        .keys()
        .filter(|p| p.starts_with("/tags/") && p.ends_with('/'))
        .count();
    let authors = first
        .resources
        .keys()
        .filter(|p| p.starts_with("/authors/") && p.ends_with('/'))
        .count();
    assert_eq!((tags, authors), (1 + 14, 1 + 3));
    assert_eq!(
        looked_at.len(),
        11 + tags + authors + 1 + 2,
        "{looked_at:?}"
    );
    for path in looked_at {
        assert_eq!(
            first.resources[path].body, second.resources[path].body,
            "{path}"
        );
    }
}

/// Runs `program` with `args` in `dir`; panics with what is missing when it
/// cannot start, and with its output when it fails.
fn run_tool(dir: &Path, program: &str, args: &[&str], missing: &str) {
    let output = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): {missing}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}{stderr}",
        output.status
    );
    assert!(!stdout.is_empty(), "{program} printed nothing: {stderr}");
}

#[test]
fn axe_finds_no_serious_violation_in_chromium_light_and_dark() {
    let a11y = crate::fixture::repo_root().join("tests/a11y");
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium is missing: apt-get update && apt-get install -y chromium"
    );
    assert!(
        a11y.join("node_modules/axe-core").is_dir()
            && a11y.join("node_modules/playwright-core").is_dir(),
        "axe-core and playwright-core are missing: run `npm ci` in tests/a11y"
    );
    let site = paged_bundled();
    let server = start_server(ServeOptions {
        root: site.root().to_path_buf(),
        bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: false,
        // The bundled base_url is loopback: links follow the bound port.
        base_url: None,
    })
    .expect("server starts");
    let base = format!("http://{}", server.local_addr());
    run_tool(
        &a11y,
        "node",
        &[
            "check.mjs",
            &base,
            "/",
            "/opinion/",
            "/opinion/china-russia-energy-cooperation/",
            "/page/2/",
            "/tags/",
            "/tags/china-russia-relations/",
            "/authors/",
            "/authors/tang-zhexiao/",
        ],
        "install Node.js (apt-get install -y nodejs)",
    );
}

#[test]
fn every_exported_page_parses_in_html5lib_strict_mode() {
    let site = paged_bundled();
    assert!(site.export().join("page/3/index.html").is_file());
    let public = site.export();
    let public = public.to_string_lossy();
    run_tool(
        &crate::fixture::repo_root().join("tests/a11y"),
        "python3",
        &["validate_html.py", &public],
        "install python3 and html5lib (python3 -m pip install html5lib)",
    );
}

/// The bundled site with two stories a page, so that the home page has
/// later pages (`/page/2/`, `/page/3/`) and a pager to check.
fn paged_bundled() -> Site {
    let site = Site::bundled();
    let config = site.read("config.toml");
    site.write("config.toml", &format!("page_size = 2\n{config}"));
    site
}
