//! Bad input: every class of mistake gives its own `path:line: message`,
//! every problem is reported in one run, the exit code is non-zero, and
//! nothing is written.

use crate::fixture::{files_in, Site};
use crate::prelude::build_dir;

/// Runs `check` and `export` on `site`; both must fail, report exactly
/// `expected` (in order) on stderr, and write nothing.
fn check(site: &Site, expected: &[&str]) {
    for command in ["check", "export"] {
        let output = site.run(&[command]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{command} succeeded on bad input");
        let reported: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("error: "))
            .collect();
        assert_eq!(reported.len(), expected.len(), "{command}: {stderr}");
        for (line, expected) in reported.iter().zip(expected) {
            assert!(
                line.starts_with(expected),
                "{command}:\n  got:      {line}\n  expected: {expected}…"
            );
        }
        let n = expected.len();
        let summary = format!(
            "error: {n} problem{} found; nothing was written",
            if n == 1 { "" } else { "s" }
        );
        assert!(stderr.lines().any(|l| l == summary), "{command}: {stderr}");
        assert!(!site.path("public").exists(), "{command} wrote public/");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn site_with(relative: &str, text: &str) -> Site {
    let site = Site::minimal();
    site.section("news", "News");
    site.write(relative, text);
    site
}

#[test]
fn invalid_toml() {
    let site = site_with(
        "content/news/a.md",
        "+++\ntitle = \"x\"\ndate = 2024-01-01\nauthors = [\"a\"\n+++\nBody\n",
    );
    check(
        &site,
        &["content/news/a.md:4: unclosed array, expected `]`"],
    );
}

#[test]
fn missing_title() {
    let site = site_with("content/news/a.md", "+++\ndate = 2024-01-01\n+++\nBody\n");
    check(&site, &["content/news/a.md:2: missing field `title`"]);
}

#[test]
fn missing_date() {
    let site = site_with("content/news/a.md", "+++\ntitle = \"x\"\n+++\nBody\n");
    check(&site, &["content/news/a.md:2: missing field `date`"]);
}

#[test]
fn unknown_key_is_named() {
    let site = site_with(
        "content/news/a.md",
        "+++\ntitle = \"x\"\ndate = 2024-01-01\ncategory = \"y\"\n+++\n",
    );
    check(
        &site,
        &["content/news/a.md:4: unknown field `category`, expected one of"],
    );
}

#[test]
fn unparseable_date() {
    let site = site_with(
        "content/news/a.md",
        "+++\ntitle = \"x\"\ndate = \"20 May 2024\"\n+++\n",
    );
    check(&site, &["content/news/a.md:3: `20 May 2024` is not a date"]);
}

#[test]
fn date_time_without_offset() {
    let site = site_with(
        "content/news/a.md",
        "+++\ntitle = \"x\"\n\ndate = 2024-05-20T10:00:00\n+++\n",
    );
    check(
        &site,
        &["content/news/a.md:4: date `2024-05-20T10:00:00` has no UTC offset"],
    );
}

#[test]
fn empty_title() {
    let site = site_with(
        "content/news/a.md",
        "+++\ndate = 2024-01-01\ntitle = \"   \"\n+++\n",
    );
    check(&site, &["content/news/a.md:3: `title` is empty"]);
}

#[test]
fn duplicate_slug_and_id() {
    let site = site_with(
        "content/news/a.md",
        "+++\ntitle = \"x\"\ndate = 2024-01-01\nslug = \"b\"\n+++\n",
    );
    site.write(
        "content/news/b.md",
        "+++\ntitle = \"y\"\ndate = 2024-01-01\n+++\n",
    );
    check(&site, &["content/news/b.md:1: duplicate slug `b` (and id tag:news.example.org,2024-01-01:news/b): "]);
}

#[test]
fn non_utf8_file() {
    let site = Site::minimal();
    site.section("news", "News");
    site.write_bytes(
        "content/news/a.md",
        b"+++\ntitle = \"x\"\ndate = 2024-01-01\n+++\ncaf\xe9\n",
    );
    check(&site, &["content/news/a.md:5: file is not valid UTF-8"]);
}

#[test]
fn character_illegal_in_xml() {
    let site = site_with(
        "content/news/a.md",
        "+++\ntitle = \"x\u{1}\"\ndate = 2024-01-01\n+++\nok\n\u{0}\n",
    );
    check(
        &site,
        &[
            "content/news/a.md:2: character U+0001 is not allowed in a feed",
            "content/news/a.md:6: character U+0000 is not allowed in a feed",
        ],
    );
}

#[test]
fn section_folder_without_index() {
    let site = Site::minimal();
    site.write(
        "content/orphans/a.md",
        "+++\ntitle = \"x\"\ndate = 2024-01-01\n+++\n",
    );
    check(&site, &["content/orphans/_index.md:1: file is missing"]);
}

#[test]
fn file_without_front_matter() {
    let site = site_with("content/news/a.md", "# Just Markdown\n");
    check(&site, &["content/news/a.md:1: no front matter: the file must start with a `+++` line (did you forget `+++`?)"]);
}

#[test]
fn empty_file() {
    let site = site_with("content/news/a.md", "");
    check(&site, &["content/news/a.md:1: file is empty"]);
}

#[test]
fn bad_config_key_and_value() {
    let site = Site::minimal();
    let good = site.read("config.toml");
    site.append("config.toml", "limt = 5\n");
    check(&site, &["config.toml:5: unknown field `limt`"]);
    site.write(
        "config.toml",
        &good.replace("https://news.example.org/", "news.example.org"),
    );
    check(
        &site,
        &["config.toml:3: `news.example.org` is not an absolute URL"],
    );
}

#[test]
fn missing_config() {
    let site = Site::minimal();
    std::fs::remove_file(site.path("config.toml")).expect("remove");
    check(&site, &["config.toml:1: cannot read file"]);
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let site = site_with(
        "content/news/a.md",
        "+++\ntitle = \"x\"\ndate = \"soon\"\n+++\n",
    );
    site.write(
        "content/news/b.md",
        "+++\ntitle = \"y\"\ndate = 2024-01-01\ntags = \"one\"\n+++\n",
    );
    site.write(
        "content/zzz/c.md",
        "+++\ntitle = \"z\"\ndate = 2024-01-01\n+++\n",
    );
    check(
        &site,
        &[
            "content/news/a.md:3: `soon` is not a date",
            "content/news/b.md:4: invalid type: string \"one\", expected a sequence",
            "content/zzz/_index.md:1: file is missing",
        ],
    );
}

#[test]
fn failed_export_leaves_the_previous_export_in_place() {
    let site = Site::bundled();
    let public = site.export();
    let before = files_in(&public);
    site.write("content/opinion/broken.md", "+++\ntitle = \"x\"\n+++\n");
    let output = site.run(&["export"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("content/opinion/broken.md:2: missing field `date`"));
    assert_eq!(files_in(&public), before);
}

/// Every prefix of a valid article (a file cut off mid-save) is either
/// accepted or reported as `path:line: message`; none makes the program panic.
#[test]
fn truncated_articles_never_panic() {
    let article = "+++\ntitle = \"Q&A — 中文\"\ndate = 2024-05-20T08:00:00+08:00\nauthors = [\"A\", { name = \"B\", role = \"editor\" }]\ntags = [\"x\"]\n+++\n\nText *with* [a link](../x/) and 🎉.\n\n<figure><figcaption>c</figcaption></figure>\n";
    let site = Site::minimal();
    site.section("news", "News");
    let now = chrono::Utc::now();
    let mut cuts = 0;
    for cut in (0..=article.len()).filter(|&i| article.is_char_boundary(i)) {
        site.write("content/news/a.md", &article[..cut]);
        if let Err(diagnostics) = build_dir(site.root(), now) {
            for d in diagnostics.iter() {
                let text = d.to_string();
                assert!(text.contains("content/news/a.md:") && d.line >= 1, "{text}");
            }
            cuts += 1;
        }
    }
    assert!(cuts > 10, "too few prefixes were rejected: {cuts}");
}

#[test]
fn oversized_file() {
    let site = Site::minimal();
    site.section("news", "News");
    let mut text = String::from("+++\ntitle = \"big\"\ndate = 2024-01-01\n+++\n");
    text.push_str(&"All work and no play. ".repeat(50 * 1024 * 1024 / 22));
    site.write("content/news/big.md", &text);
    check(
        &site,
        &["content/news/big.md:1: file is larger than the 8 MiB a content file may be"],
    );
}

#[test]
fn symlink_pointing_outside_content() {
    let site = Site::minimal();
    site.section("news", "News");
    site.write(
        "secret.md",
        "+++\ntitle = \"secret\"\ndate = 2024-01-01\n+++\n",
    );
    std::os::unix::fs::symlink(site.path("secret.md"), site.path("content/news/leak.md"))
        .expect("symlink");
    check(&site, &["content/news/leak.md:1: links to "]);
}

#[test]
fn file_that_cannot_be_read() {
    let site = Site::minimal();
    site.section("news", "News");
    std::os::unix::fs::symlink(
        site.path("content/news/nowhere.md"),
        site.path("content/news/dangling.md"),
    )
    .expect("symlink");
    check(&site, &["content/news/dangling.md:1: cannot read file: "]);
}

#[test]
fn section_folder_linked_from_outside_content() {
    let site = Site::minimal();
    site.write("elsewhere/_index.md", "+++\ntitle = \"Elsewhere\"\n+++\n");
    std::os::unix::fs::symlink(site.path("elsewhere"), site.path("content/elsewhere"))
        .expect("symlink");
    check(&site, &["content/elsewhere:1: links to "]);
}

#[test]
fn article_folders_that_cannot_be_published() {
    let site = site_with(
        "content/news/story.md",
        "+++\ntitle = \"Story\"\ndate = 2024-01-01\n+++\n![A photo](photo.png)\n",
    );
    site.write_bytes("content/news/orphan/x.png", b"\x89PNG")
        .write_bytes("content/news/story/INDEX.HTML", b"<p>mine</p>")
        .write_bytes("content/news/story/Photo.png", b"\x89PNG")
        .write_bytes("content/news/story/deeper/y.png", b"\x89PNG")
        .write("content/news/story/feed.json", "{}")
        .write("content/news/story/index.html", "<p>mine</p>")
        .write_bytes("content/news/story/my photo.png", b"\x89PNG")
        .write("content/news/story/notes.md", "notes")
        .write_bytes("content/news/story/photo.png", b"\x89PNG")
        .write_bytes("content/news/story/photo.png.gz", b"\x1f\x8b")
        .write_bytes("content/news/story/talk.br", b"x")
        .write_bytes("elsewhere.png", b"\x89PNG");
    // 33 MiB, without writing them: a sparse file.
    std::fs::File::create(site.path("content/news/story/huge.mp4"))
        .and_then(|file| file.set_len(33 << 20))
        .expect("sparse file");
    std::os::unix::fs::symlink(
        site.path("elsewhere.png"),
        site.path("content/news/story/outside.png"),
    )
    .expect("symlink");
    // A named pipe would block a reader that opened it.
    let made = std::process::Command::new("mkfifo")
        .arg(site.path("content/news/story/pipe.mp3"))
        .status()
        .expect("run mkfifo (coreutils)");
    assert!(made.success(), "mkfifo");
    check(
        &site,
        &[
            "content/news/orphan:1: no article in this section has the slug `orphan`",
            "content/news/story/INDEX.HTML:1: `index.html` is the article's own page",
            "content/news/story/deeper:1: folders inside an article's folder are not read",
            "content/news/story/feed.json:1: this is the name of a feed",
            "content/news/story/huge.mp4:1: file is larger than the 32 MiB an article's file may be",
            "content/news/story/index.html:1: `index.html` is the article's own page",
            "content/news/story/my photo.png:1: a file name in an article's folder is part of its URL",
            "content/news/story/notes.md:1: an article's folder holds its files, not articles",
            "content/news/story/outside.png:1: links to ",
            "content/news/story/photo.png:1: differs from `Photo.png` only in case",
            "content/news/story/photo.png.gz:1: names ending in `.gz` and `.br` are those of precompressed copies",
            "content/news/story/pipe.mp3:1: not a regular file",
            "content/news/story/talk.br:1: names ending in `.gz` and `.br`",
        ],
    );
}

#[test]
fn article_folders_are_matched_to_slugs_and_checked_before_publication() {
    let site = site_with(
        "content/news/c.md",
        "+++\ntitle = \"C\"\nslug = \"cee\"\ndate = 2024-01-01\n+++\nText.\n",
    );
    site.write_bytes("content/news/c/x.png", b"\x89PNG")
        .write(
            "content/news/broken.md",
            "+++\ntittle = \"Broken\"\n+++\nText.\n",
        )
        .write_bytes("content/news/broken/x.png", b"\x89PNG")
        .write(
            "content/news/later.md",
            "+++\ntitle = \"Later\"\ndate = 2099-01-01\n+++\n![x](bad name.png)\n",
        )
        .write_bytes("content/news/later/bad name.png", b"\x89PNG")
        .write(
            "content/news/story.md",
            "+++\ntitle = \"Story\"\ndate = 2024-01-01\n+++\nText.\n",
        )
        .write_bytes("photos/x.png", b"\x89PNG");
    std::os::unix::fs::symlink(site.path("photos"), site.path("content/news/story"))
        .expect("symlink");
    check(
        &site,
        &[
            "content/news/broken.md:2: unknown field `tittle`",
            "content/news/c:1: the article in c.md has the slug `cee`: name its folder `cee`",
            "content/news/later/bad name.png:1: a file name in an article's folder is part of its URL",
            "content/news/story:1: links to ",
        ],
    );
}
