//! Tags and authors: one page and three feeds per tag and per author, one
//! slug rule for every script and case, collisions refused with both names,
//! roles kept, feeds pointing at the pages; and the paged list pages, with
//! every article reachable from `/` by following links.

use std::collections::{BTreeSet, VecDeque};

use crate::fixture::{client, parse_feed, url, Site};
use crate::prelude::{BuiltSet, ResourceKind};

fn article(title: &str, date: &str, authors: &str, tags: &str) -> String {
    format!("+++\ntitle = \"{title}\"\ndate = {date}\nauthors = [{authors}]\ntags = [{tags}]\n+++\n\n{title}: the text.\n")
}

/// Two articles whose tags are variants of one another, in several scripts,
/// and one article edited (not written) by a person.
fn site() -> Site {
    let site = Site::minimal();
    site.section("news", "News");
    site.write(
        "content/news/first.md",
        &article(
            "First",
            "2024-05-01T08:00:00Z",
            "\"Ana Núñez\"",
            "\"China-Russia relations\", \"Économie\", \"Straße\"",
        ),
    );
    site.write(
        "content/news/second.md",
        &article(
            "Second",
            "2024-05-02T08:00:00Z",
            "\"ana núñez\", { name = \"TANG Zhexiao\", role = \"editor\" }",
            "\"china-russia  relations\", \"économie\", \"STRASSE\", \"中俄关系\", \"الاقتصاد\", \"page\", \"rss.xml\"",
        ),
    );
    site
}

fn text(built: &BuiltSet, path: &str) -> String {
    let resource = built
        .resources
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not published"));
    String::from_utf8(resource.body.to_vec()).expect("UTF-8")
}

#[test]
fn variants_of_a_tag_are_one_tag_under_its_first_spelling() {
    let built = site().build();
    let index = text(&built, "/tags/");
    // Case, spacing and full case folding (ß, ẞ → ss) make one tag each.
    assert!(
        index.contains(">China-Russia relations</a> <span class=\"count\">2 articles</span>"),
        "{index}"
    );
    assert!(
        index.contains(">Économie</a> <span class=\"count\">2 articles</span>"),
        "{index}"
    );
    assert!(
        index.contains(">Straße</a> <span class=\"count\">2 articles</span>"),
        "{index}"
    );
    assert!(!index.contains("china-russia  relations"), "{index}");
    let page = text(&built, "/tags/china-russia-relations/");
    assert!(page.contains("<h1>China-Russia relations</h1>"), "{page}");
    assert!(page.contains(">First</a>") && page.contains(">Second</a>"));
    assert!(built.resources.contains_key("/tags/strasse/"));
}

#[test]
fn every_script_gets_a_working_url_and_reserved_names_still_work() {
    let built = site().build();
    for path in [
        "/tags/économie/",
        "/tags/中俄关系/",
        "/tags/الاقتصاد/",
        "/tags/page/",
        "/tags/rss-xml/",
        "/authors/ana-núñez/",
    ] {
        assert!(built.resources.contains_key(path), "{path} missing");
        for feed in ["rss.xml", "atom.xml", "feed.json"] {
            let feed_path = format!("{path}{feed}");
            let parsed = parse_feed(&built.resources[&feed_path].body);
            assert!(!parsed.entries.is_empty(), "{feed_path} has no entries");
        }
    }
    // Links percent-encode the UTF-8 of the slug.
    let article = text(&built, "/news/second/");
    assert!(
        article.contains("href=\"https://news.example.org/tags/%C3%A9conomie/\""),
        "{article}"
    );
    assert!(article.contains(
        "href=\"https://news.example.org/tags/%E4%B8%AD%E4%BF%84%E5%85%B3%E7%B3%BB/\">中俄关系</a>"
    ));
    // The tag "page" has its own page beside the tag index, which is not paged.
    assert!(text(&built, "/tags/page/").contains("<h1>page</h1>"));
}

#[tokio::test]
async fn the_server_and_the_export_find_non_latin_pages() {
    let site = site();
    let server = site.serve();
    for path in [
        "/tags/%E4%B8%AD%E4%BF%84%E5%85%B3%E7%B3%BB/",
        "/tags/%C3%A9conomie/feed.json",
        "/authors/ana-n%C3%BA%C3%B1ez/atom.xml",
    ] {
        let response = client()
            .get(url(&server, path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
    }
    let public = site.export();
    assert!(public.join("tags/中俄关系/index.html").is_file());
    assert!(public.join("tags/économie/rss.xml").is_file());
    assert!(public.join("authors/ana-núñez/feed.json").is_file());
}

#[test]
fn an_editor_s_page_and_feeds_carry_what_they_edited_with_the_role() {
    let built = site().build();
    let page = text(&built, "/authors/tang-zhexiao/");
    assert!(page.contains(">Second</a>") && !page.contains(">First</a>"));
    assert!(page.contains("Edited by TANG Zhexiao"), "{page}");
    let feed = parse_feed(&built.resources["/authors/tang-zhexiao/atom.xml"].body);
    assert_eq!(feed.entries.len(), 1);
    assert_eq!(
        feed.entries[0].id,
        "tag:news.example.org,2024-05-02:news/second"
    );
    let names: Vec<&str> = feed.entries[0]
        .authors
        .iter()
        .map(|a| a.name.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(names, ["ana núñez", "TANG Zhexiao, editor"]);
    assert_eq!(
        feed.entries[0].authors[1].uri.as_deref(),
        Some("https://news.example.org/authors/tang-zhexiao/")
    );
    // Ana Núñez wrote both, spelled two ways: one page, first spelling.
    let ana = text(&built, "/authors/ana-núñez/");
    assert!(ana.contains("<h1>Ana Núñez</h1>") && ana.contains(">First</a>"));
    // The article page links each byline's name to the person's page.
    let article = text(&built, "/news/second/");
    assert!(
        article.contains(
            "Edited by <a href=\"https://news.example.org/authors/tang-zhexiao/\">TANG Zhexiao</a>"
        ),
        "{article}"
    );
}

#[test]
fn feeds_name_the_tag_index_and_the_authors_pages() {
    let built = site().build();
    let rss = text(&built, "/rss.xml");
    assert!(
        rss.contains("<category domain=\"https://news.example.org/tags/\">Économie</category>"),
        "{rss}"
    );
    let atom = text(&built, "/news/atom.xml");
    assert!(atom.contains("scheme=\"https://news.example.org/tags/\""));
    assert!(atom.contains("<uri>https://news.example.org/authors/ana-n%C3%BA%C3%B1ez/</uri>"));
    let json: serde_json::Value =
        serde_json::from_slice(&built.resources["/feed.json"].body).expect("JSON");
    assert_eq!(
        json["items"][0]["authors"][1]["url"],
        "https://news.example.org/authors/tang-zhexiao/"
    );
    // The publication, as the feed's author, has no page.
    assert!(json["authors"][0].get("url").is_none());
    // A tag's feed holds the same items, with the same ids, as the site's.
    let tag = parse_feed(&built.resources["/tags/économie/rss.xml"].body);
    let site_feed = parse_feed(&built.resources["/rss.xml"].body);
    let ids = |feed: &feed_rs::model::Feed| -> Vec<String> {
        feed.entries.iter().map(|e| e.id.clone()).collect()
    };
    assert_eq!(ids(&tag), ids(&site_feed));
}

#[test]
fn index_and_term_pages_announce_their_feeds_and_the_opml_does_not_list_them() {
    let built = site().build();
    let index = text(&built, "/tags/");
    assert!(index.contains(
        "<link rel=\"alternate\" type=\"application/rss+xml\" title=\"Test Times: Économie (RSS 2.0)\" href=\"https://news.example.org/tags/%C3%A9conomie/rss.xml\">"
    ), "{index}");
    let authors = text(&built, "/authors/");
    assert!(authors.contains("href=\"https://news.example.org/authors/tang-zhexiao/rss.xml\""));
    let page = text(&built, "/tags/page/");
    for feed in ["rss.xml", "atom.xml", "feed.json"] {
        assert!(
            page.contains(&format!(
                "rel=\"alternate\" type=\"{}\" title=\"Test Times: page",
                match feed {
                    "rss.xml" => "application/rss+xml",
                    "atom.xml" => "application/atom+xml",
                    _ => "application/feed+json",
                }
            )),
            "{feed}: {page}"
        );
    }
    let opml = text(&built, "/feeds.opml");
    assert!(
        !opml.contains("/tags/") && !opml.contains("/authors/"),
        "{opml}"
    );
}

#[test]
fn two_tags_that_would_share_a_url_are_an_error_naming_both() {
    let site = Site::minimal();
    site.section("news", "News");
    site.write(
        "content/news/a.md",
        &article("A", "2024-05-01", "\"X\"", "\"C++\""),
    );
    site.write(
        "content/news/b.md",
        &article("B", "2024-05-02", "\"x.\"", "\"C#\", \"c++\""),
    );
    for command in ["check", "export"] {
        let output = site.run(&[command]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{command}: {stderr}");
        assert!(stderr.contains(
            "content/news/b.md:5: the tag `C#` would be published at /tags/c/, the URL of the tag `C++` (content/news/a.md:5)"
        ), "{command}: {stderr}");
        assert!(stderr.contains(
            "content/news/b.md:4: the author `x.` would be published at /authors/x/, the URL of the author `X` (content/news/a.md:4)"
        ), "{command}: {stderr}");
        assert!(stderr.contains("2 problems found"), "{stderr}");
        assert!(!site.path("public").exists());
    }
}

#[test]
fn sections_and_articles_may_not_take_the_site_s_own_folders() {
    let site = Site::minimal();
    site.section("tags", "Tags");
    site.section("news", "News");
    site.write("content/news/page.md", &article("P", "2024-05-01", "", ""));
    let output = site.run(&["check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("content/tags/_index.md:1: section folder name `tags` is reserved"),
        "{stderr}"
    );
    assert!(
        stderr.contains("content/news/page.md:1: file name `page` is reserved"),
        "{stderr}"
    );
}

/// A site of `n` articles in four sections, with 30 tags (one on every
/// article, the rest spread) and 7 authors, `page_size` stories a page.
fn generated(n: usize, page_size: usize) -> Site {
    let site = Site::minimal();
    site.append("config.toml", &format!("page_size = {page_size}\n"));
    let sections = ["alpha", "beta", "gamma", "delta"];
    for section in sections {
        site.section(section, &section.to_uppercase());
    }
    for i in 0..n {
        let section = sections[i % sections.len()];
        let minute = i % 60;
        let hour = (i / 60) % 24;
        let day = 1 + i / 1440;
        site.write(
            &format!("content/{section}/a{i:04}.md"),
            &article(
                &format!("Story {i}"),
                &format!("2024-01-{day:02}T{hour:02}:{minute:02}:00Z"),
                &format!("\"Writer {}\"", i % 7),
                &format!(
                    "\"everything\", \"topic {}\", \"Topic {}\"",
                    i % 29,
                    (i * 7) % 29
                ),
            ),
        );
    }
    site
}

/// The site paths of every `href` in `html` that points inside `base`,
/// percent-decoded, without fragments.
fn links_inside(html: &str, base: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter_map(|href| href.strip_prefix(base))
        .map(|path| {
            let path = path.split('#').next().unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .expect("links are UTF-8");
            format!("/{decoded}")
        })
        .collect()
}

#[test]
fn following_links_from_the_home_page_reaches_every_article_at_1000_articles() {
    let built = generated(1000, 50).build();
    let base = "https://news.example.org/";
    let mut seen: BTreeSet<String> = BTreeSet::from(["/".to_string()]);
    let mut queue = VecDeque::from(["/".to_string()]);
    while let Some(path) = queue.pop_front() {
        let Some(resource) = built.resources.get(&path) else {
            panic!("a link leads to {path}, which is not published");
        };
        if !resource.content_type.starts_with("text/html") {
            continue;
        }
        let html = std::str::from_utf8(&resource.body).expect("UTF-8");
        for link in links_inside(html, base) {
            if seen.insert(link.clone()) {
                queue.push_back(link);
            }
        }
    }
    let articles: Vec<&String> = built
        .resources
        .iter()
        .filter(|(_, r)| r.kind == ResourceKind::Article)
        .map(|(path, _)| path)
        .collect();
    assert_eq!(articles.len(), 1000);
    let missed: Vec<&&String> = articles.iter().filter(|p| !seen.contains(**p)).collect();
    assert!(missed.is_empty(), "not reached from /: {missed:?}");
    // The home page alone reaches them all through its pages: 1000 / 50.
    assert!(built.resources.contains_key("/page/20/"));
    assert!(!built.resources.contains_key("/page/21/"));
    assert!(!built.resources.contains_key("/page/1/"));
    // "everything" is on all 1000: 20 pages of its own.
    assert!(built.resources.contains_key("/tags/everything/page/20/"));
    assert!(seen.contains("/tags/everything/page/20/"));
    assert!(seen.contains("/authors/writer-3/"));
}

#[test]
fn pages_link_their_neighbours_in_the_head_and_visibly() {
    let built = generated(9, 2).build();
    let base = "https://news.example.org/";
    let first = text(&built, "/");
    assert!(first.contains(&format!("<link rel=\"next\" href=\"{base}page/2/\">")));
    assert!(!first.contains("rel=\"prev\""));
    let second = text(&built, "/page/2/");
    assert!(second.contains(&format!("<link rel=\"prev\" href=\"{base}\">")));
    assert!(second.contains(&format!("<link rel=\"next\" href=\"{base}page/3/\">")));
    assert!(second.contains("<nav class=\"pager\" aria-label=\"Pages\">"));
    assert!(second.contains("Page 2 of 5"), "{second}");
    assert!(
        second.contains("Articles 3–4 of 9, newest first."),
        "{second}"
    );
    assert!(
        second.contains("<title>Test Times, page 2 of 5</title>"),
        "{second}"
    );
    let last = text(&built, "/page/5/");
    assert!(!last.contains("rel=\"next\""));
    // One story on the last page: the oldest.
    assert_eq!(last.matches("class=\"story-card\"").count(), 1);
    assert!(last.contains(">Story 0</a>"));
    // A section's and a tag's later pages.
    assert!(text(&built, "/alpha/").contains(&format!("href=\"{base}alpha/page/2/\"")));
    assert!(text(&built, "/tags/everything/page/5/").contains(">Story 0</a>"));
}
