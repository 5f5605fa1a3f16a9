//! What one mistake in the content can cost is bounded: a summary taken
//! from the body is cut, an article's HTML and each published resource have
//! a size limit (`[limits]`), and so has an article's tag list, whose
//! de-duplication is linear.

use std::time::{Duration, Instant};

use crate::fixture::{parse_feed, Site, MINIMAL_CONFIG};

fn article(title: &str, extra_front: &str, body: &str) -> String {
    format!("+++\ntitle = \"{title}\"\ndate = 2024-05-20\n{extra_front}+++\n{body}\n")
}

/// Runs `check`; it must fail, print no panic, and report `expected` lines
/// (each a prefix of one line of stderr, in order).
fn check_fails(site: &Site, expected: &[&str]) -> String {
    let output = site.run(&["check"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "check succeeded: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let reported: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("error: "))
        .collect();
    assert_eq!(reported.len(), expected.len(), "{stderr}");
    for (line, expected) in reported.iter().zip(expected) {
        assert!(
            line.starts_with(expected),
            "got: {line}\nexpected: {expected}…"
        );
    }
    stderr
}

#[test]
fn a_wall_of_markup_is_refused_by_the_default_article_html_limit() {
    // The hardening issue's case, at 2 MB: every `<` becomes `&lt;`, four times
    // the bytes, and was repeated in every feed and page that shows it.
    let site = Site::minimal();
    site.section("news", "News");
    site.write(
        "content/news/wall.md",
        &article("Wall", "", &"<".repeat(2_000_000)),
    );
    let stderr = check_fails(
        &site,
        &["content/news/wall.md:5: the article's HTML is 7.6 MiB (8000008 bytes), more than the 4.0 MiB (4194304 bytes) an article may have (`[limits] article_html_bytes` in config.toml)"],
    );
    assert!(
        stderr.contains("split the article or raise the limit"),
        "{stderr}"
    );
    let output = site.run(&["export"]);
    assert!(!output.status.success());
    assert!(!site.path("public").exists());
}

#[test]
fn a_summary_from_a_long_first_paragraph_is_cut_at_a_word() {
    let site = Site::minimal();
    site.section("news", "News");
    let paragraph = "All work and no play makes a dull feed ".repeat(2_000);
    site.write("content/news/long.md", &article("Long", "", &paragraph));
    let public = site.export();
    let feed = parse_feed(&std::fs::read(public.join("feed.json")).expect("feed.json"));
    let summary = feed.entries[0]
        .summary
        .as_ref()
        .expect("a summary")
        .content
        .clone();
    assert!(
        summary.chars().count() <= 501,
        "{} chars",
        summary.chars().count()
    );
    assert!(summary.starts_with("All work and no play"), "{summary}");
    assert!(summary.ends_with('…'), "{summary}");
    // Cut after a whole word of the text, not inside one.
    let kept = summary.trim_end_matches('…');
    assert!(paragraph.starts_with(&format!("{kept} ")), "{summary}");
    // The section page lists the summary, not the paragraph.
    let page = site.read("public/news/index.html");
    assert!(page.len() < 20_000, "section page is {} bytes", page.len());
}

#[test]
fn a_resource_over_the_limit_names_the_largest_article_in_it() {
    let site = Site::minimal();
    site.write(
        "config.toml",
        &format!("{MINIMAL_CONFIG}formats = [\"atom\"]\n[limits]\nresource_bytes = 40000\n"),
    );
    site.section("news", "News");
    site.write(
        "content/news/small.md",
        &article("Small", "", "A short one."),
    );
    site.write(
        "content/news/big.md",
        &article("Big", "", &"Quite a long read indeed. ".repeat(2_000)),
    );
    let stderr = check_fails(
        &site,
        &["content/news/big.md:1: this article (50.8 KiB (52007 bytes) of HTML) is the largest in `/atom.xml` "],
    );
    assert!(stderr.contains("`/news/atom.xml` "), "{stderr}");
    assert!(stderr.contains("over the 39.1 KiB (40000 bytes) a published resource may have (`[limits] resource_bytes` in config.toml)"), "{stderr}");
    // Under the default limit the same site builds.
    site.write(
        "config.toml",
        &format!("{MINIMAL_CONFIG}formats = [\"atom\"]\n"),
    );
    site.export();
}

#[test]
fn too_many_tags_are_an_error_on_the_tags_line() {
    let site = Site::minimal();
    site.section("news", "News");
    let tags: Vec<String> = (0..101).map(|i| format!("\"t{i}\"")).collect();
    site.write(
        "content/news/tagged.md",
        &article(
            "Tagged",
            &format!("# a comment\ntags = [{}]\n", tags.join(", ")),
            "Body.",
        ),
    );
    check_fails(
        &site,
        &["content/news/tagged.md:5: 101 tags, more than the 100 an article may have (`[limits] tags_per_article` in config.toml)"],
    );
    // Repeats do not count: 101 entries naming 100 tags are fine.
    let mut tags: Vec<String> = (0..100).map(|i| format!("\"t{i}\"")).collect();
    tags.push("\"t0\"".into());
    site.write(
        "content/news/tagged.md",
        &article(
            "Tagged",
            &format!("tags = [{}]\n", tags.join(", ")),
            "Body.",
        ),
    );
    let output = site.run(&["check"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_hundred_thousand_tags_are_refused_quickly() {
    // De-duplicating by searching the list so far took 35 s for 120,000 tags.
    let site = Site::minimal();
    site.section("news", "News");
    let tags: Vec<String> = (0..120_000)
        .map(|i| format!("\"tag number {i}\""))
        .collect();
    site.write(
        "content/news/tagged.md",
        &article(
            "Tagged",
            &format!("tags = [{}]\n", tags.join(", ")),
            "Body.",
        ),
    );
    let started = Instant::now();
    check_fails(
        &site,
        &["content/news/tagged.md:4: 120000 tags, more than the 100 an article may have"],
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "check took {took:?}");
}
