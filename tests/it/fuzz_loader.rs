//! Property tests of the loader and the build: arbitrary bytes and
//! arbitrary TOML-ish front matter (random keys and values, `+++` lines in
//! random places, random Unicode, CRLF, byte order marks) written to a
//! temporary site directory and built in-process (`build_dir`).
//!
//! Whatever the files hold, the build never panics, and it either succeeds
//! with outputs free of characters XML forbids and feeds that parse, or fails
//! with errors that each read `path:line: message`, where the path is one of
//! the site's files (or folders) and the line lies within that file (at most
//! one past its last line).
//!
//! `cargo test` runs 256 cases of each property; a longer run:
//! `PROPTEST_CASES=20000 cargo test --release --test it fuzz_loader`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::fixture::Site;
use crate::prelude::{build_dir, ResourceKind};

const CONFIG: &str = crate::fixture::MINIMAL_CONFIG;

const SECTION_INDEX: &str = "+++\ntitle = \"News\"\n+++\n";

/// Text that stresses parsers: quotes, escapes, fences, markup, controls,
/// right-to-left marks, astral characters, non-characters.
fn nasty_text() -> impl Strategy<Value = String> {
    // Characters XML forbids are rare here, so that many cases get past
    // the check for them and into the TOML, the dates and the renderers.
    //
    // Markdown character references that decode to characters XML forbids
    // (`&#x1;`) must be refused with a `path:line` error like the characters
    // themselves (see ESCAPES_OF_FORBIDDEN for TOML escapes).
    let piece = prop_oneof![
        2 => Just("\"".to_string()),
        2 => Just("\\".to_string()),
        1 => Just("\\u00e9".to_string()),
        1 => Just("\\uD800".to_string()),
        1 => Just("'''".to_string()),
        1 => Just("\"\"\"".to_string()),
        2 => Just("+++".to_string()),
        2 => Just("]]>".to_string()),
        2 => Just("<script>alert(1)</script>".to_string()),
        2 => Just("--".to_string()),
        2 => Just("&amp;&#0;&#xe9;&#x1F600;".to_string()),
        1 => Just("&#x1;&#x7f;&#x85;&#xFFFE;".to_string()),
        2 => Just("\u{200f}\u{202e}".to_string()),
        1 => Just("\u{feff}".to_string()),
        2 => Just("\r".to_string()),
        2 => Just("\n".to_string()),
        2 => Just("\t".to_string()),
        2 => Just("😀𝔘 中文 عربي".to_string()),
        2 => Just("[link](../x \"t\") ![i](<a b>) *e* `c` <b>x</b>".to_string()),
        8 => "[a-z ]{0,12}",
        4 => any::<char>()
            .prop_filter("a character XML allows", |&c| xml_char(c))
            .prop_map(String::from),
        1 => prop_oneof![
            Just("\u{fffe}\u{ffff}".to_string()),
            Just("\u{1}\u{7f}\u{85}".to_string()),
            any::<char>().prop_map(String::from),
        ],
    ];
    prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

/// A TOML value, valid or not.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        nasty_text().prop_map(|t| format!("\"{t}\"")),
        nasty_text().prop_map(|t| format!("'{t}'")),
        nasty_text().prop_map(|t| format!("\"\"\"{t}\"\"\"")),
        Just("\"2024-05-20T08:00:00+08:00\"".to_string()),
        Just("2024-05-20T08:00:00+08:00".to_string()),
        Just("2024-05-20T08:00:00Z".to_string()),
        Just("2024-05-20".to_string()),
        Just("2024-05-20T08:00:00".to_string()),
        Just("08:00:00".to_string()),
        Just("\"20 May 2024\"".to_string()),
        Just("2024-13-45".to_string()),
        Just("\"9999-12-31T23:59:59-23:59\"".to_string()),
        Just("\"0000-01-01\"".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        Just("inf".to_string()),
        Just("nan".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("\"unterminated".to_string()),
        Just(String::new()),
        "[^\n]{0,16}",
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(
                (prop_oneof![Just("name"), Just("role"), Just("x")], inner),
                0..3
            )
            .prop_map(|fields| {
                let fields: Vec<String> =
                    fields.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", fields.join(", "))
            }),
        ]
    })
}

/// A key: one the loader knows, a near miss, or anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop_oneof![
            Just("title"),
            Just("date"),
            Just("updated"),
            Just("authors"),
            Just("description"),
            Just("tags"),
            Just("draft"),
            Just("slug"),
            Just("limit"),
        ]
        .prop_map(String::from),
        1 => Just("tittle".to_string()),
        1 => "[a-z_]{1,8}",
        1 => nasty_text().prop_map(|t| format!("\"{}\"", t.replace(['"', '\\'], ""))),
        1 => nasty_text(),
    ]
}

/// One line of front matter, or of what should have been front matter.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => Just("+++".to_string()),
        1 => Just("+++  ".to_string()),
        1 => Just(" +++".to_string()),
        1 => Just("[extra]".to_string()),
        1 => Just("[[authors]]".to_string()),
        1 => Just("# a comment".to_string()),
        1 => Just(String::new()),
        1 => nasty_text(),
    ]
}

/// A whole content file as text: maybe a byte order mark, maybe an opening
/// fence, front matter lines, maybe a closing fence, a body; LF or CRLF.
fn article_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::option::weighted(0.9, Just("+++")),
        prop::collection::vec(line(), 0..10),
        prop::option::weighted(0.8, Just("+++")),
        nasty_text(),
        any::<bool>(),
    )
        .prop_map(|(bom, open, lines, close, body, crlf)| {
            let mut all = Vec::new();
            all.extend(open.map(String::from));
            all.extend(lines);
            all.extend(close.map(String::from));
            all.push(body);
            let eol = if crlf { "\r\n" } else { "\n" };
            let text = all.join(eol);
            if bom {
                format!("\u{feff}{text}")
            } else {
                text
            }
        })
}

/// Found by this test: escapes that decode to characters XML forbids, which
/// a check of the raw file text alone lets through into every output (feeds
/// that are not well-formed XML). Each must be refused on its own line.
const ESCAPES_OF_FORBIDDEN: [(&str, &str); 4] = [
    ("title = \"a\\u0001b\"", "body"),
    ("title = \"ok\"", "a &#x1; b"),
    ("title = \"ok\"", "&#x7f; &#x85;"),
    ("title = \"ok\"", "&#xFFFE;"),
];

/// A TOML basic string holding `text`. Only quotes, backslashes and line
/// breaks are escaped: a character XML forbids stays as it is, for the
/// loader's check of the file text to find (an escape of one is the known
/// bug above).
fn toml_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// An article whose front matter is valid TOML with the keys it needs, and
/// hostile text in its values and body.
fn valid_article() -> impl Strategy<Value = String> {
    (
        nasty_text(),
        prop_oneof![
            Just("2024-05-20T08:00:00+08:00"),
            Just("2024-05-20"),
            Just("\"2024-05-20T08:00:00Z\""),
            Just("1970-01-01T00:00:00Z"),
            Just("2029-12-31T23:59:59-12:00"),
        ],
        prop::option::of(nasty_text()),
        prop::collection::vec(nasty_text(), 0..4),
        prop::collection::vec((nasty_text(), prop::option::of(nasty_text())), 0..3),
        any::<bool>(),
        nasty_text(),
    )
        .prop_map(|(title, date, description, tags, authors, draft, body)| {
            let mut text = format!("+++\ntitle = {}\ndate = {date}\n", toml_string(&title));
            if let Some(description) = description {
                text.push_str(&format!("description = {}\n", toml_string(&description)));
            }
            let tags: Vec<String> = tags.iter().map(|t| toml_string(t)).collect();
            text.push_str(&format!("tags = [{}]\n", tags.join(", ")));
            let authors: Vec<String> = authors
                .iter()
                .map(|(name, role)| match role {
                    Some(role) => format!(
                        "{{ name = {}, role = {} }}",
                        toml_string(name),
                        toml_string(role)
                    ),
                    None => toml_string(name),
                })
                .collect();
            text.push_str(&format!("authors = [{}]\n", authors.join(", ")));
            if draft {
                text.push_str("draft = true\n");
            }
            text.push_str("+++\n");
            text.push_str(&body);
            text
        })
}

/// The bytes of a content file: generated text, or bytes of any kind.
fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        10 => valid_article().prop_map(String::into_bytes),
        5 => article_text().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => (article_text(), prop::collection::vec(any::<u8>(), 1..8), any::<prop::sample::Index>())
            .prop_map(|(text, junk, at)| {
                // Valid text with a few raw bytes spliced in.
                let mut bytes = text.into_bytes();
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, junk);
                bytes
            }),
    ]
}

/// A file name for an article: a good slug, a bad one, or odd.
fn article_name() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[a-z0-9_][a-z0-9_-]{0,7}".prop_map(|s| format!("{s}.md")),
        1 => Just("Bad Name.md".to_string()),
        1 => Just("ünï.md".to_string()),
        1 => Just("-x.md".to_string()),
        1 => Just(".hidden.md".to_string()),
        1 => Just("notes.txt".to_string()),
    ]
}

/// A site: the config, the section's `_index.md`, and articles by file name.
#[derive(Debug, Clone)]
struct SiteFiles {
    config: Vec<u8>,
    index: Vec<u8>,
    articles: BTreeMap<String, Vec<u8>>,
}

fn site_files() -> impl Strategy<Value = SiteFiles> {
    let config = prop_oneof![
        12 => Just(CONFIG.as_bytes().to_vec()),
        1 => prop::collection::vec(line(), 0..6).prop_map(|lines| {
            format!("{CONFIG}{}\n", lines.join("\n")).into_bytes()
        }),
        1 => file_bytes(),
    ];
    let index = prop_oneof![
        12 => Just(SECTION_INDEX.as_bytes().to_vec()),
        2 => file_bytes(),
    ];
    let articles = prop::collection::btree_map(article_name(), file_bytes(), 1..4);
    (config, index, articles).prop_map(|(config, index, articles)| SiteFiles {
        config,
        index,
        articles,
    })
}

/// Writes `files` into `site`; returns every file written, by its path, with its bytes.
fn write(site: &Site, files: &SiteFiles) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut relative = vec![
        ("config.toml".to_string(), &files.config),
        ("content/news/_index.md".to_string(), &files.index),
    ];
    for (name, bytes) in &files.articles {
        relative.push((format!("content/news/{name}"), bytes));
    }
    relative
        .into_iter()
        .map(|(path, bytes)| {
            site.write_bytes(&path, bytes);
            (site.path(&path), bytes.clone())
        })
        .collect()
}

/// True for characters XML 1.0 allows (and does not discourage as controls).
fn xml_char(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// Builds a site of `files` and checks the property; `Err` says what broke.
fn check(files: &SiteFiles) -> Result<(), TestCaseError> {
    let site = Site::empty();
    let root = site.root();
    let files = write(&site, files);
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    match build_dir(root, now) {
        Ok(built) => {
            for (path, resource) in &built.resources {
                // The icon is a fixed binary drawing, not rendered from content.
                if resource.kind == ResourceKind::Asset && path.ends_with(".ico") {
                    continue;
                }
                let text = std::str::from_utf8(&resource.body)
                    .map_err(|e| TestCaseError::fail(format!("{path}: not UTF-8: {e}")))?;
                if let Some(c) = text.chars().find(|&c| !xml_char(c)) {
                    return Err(TestCaseError::fail(format!(
                        "{path}: U+{:04X} reached an output",
                        c as u32
                    )));
                }
                if resource.kind == ResourceKind::Feed {
                    feed_rs::parser::parse(&resource.body[..]).map_err(|e| {
                        TestCaseError::fail(format!("{path}: feed does not parse: {e}"))
                    })?;
                }
            }
        }
        Err(diagnostics) => {
            prop_assert!(!diagnostics.is_empty(), "an error with no diagnostic");
            let folders = [root.join("content"), root.join("content").join("news")];
            for diagnostic in diagnostics.iter() {
                let shown = diagnostic.to_string();
                prop_assert_eq!(
                    &shown,
                    &format!(
                        "{}:{}: {}",
                        diagnostic.path.display(),
                        diagnostic.line,
                        diagnostic.message
                    )
                );
                prop_assert!(
                    !diagnostic.message.trim().is_empty(),
                    "empty message: {}",
                    shown
                );
                prop_assert!(
                    !diagnostic.message.contains('\n'),
                    "a message on more than one line: {:?}",
                    shown
                );
                prop_assert!(diagnostic.line >= 1, "line 0: {}", shown);
                let last_line = match files.get(&diagnostic.path) {
                    Some(bytes) => bytes.iter().filter(|&&b| b == b'\n').count() + 1,
                    None if folders.contains(&diagnostic.path) => 1,
                    None => {
                        return Err(TestCaseError::fail(format!(
                            "names a path that is not a file of the site: {shown}"
                        )))
                    }
                };
                prop_assert!(
                    diagnostic.line <= last_line + 1,
                    "line {} of a file of {} lines: {}",
                    diagnostic.line,
                    last_line,
                    shown
                );
            }
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    // The default reads PROPTEST_CASES (256 when unset). Failures are kept
    // beside this file, in fuzz_loader.regressions (this file's path with
    // its extension replaced), and replayed first.
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_site_builds_or_fails_with_path_line_errors(files in site_files()) {
        check(&files)?;
    }

    #[test]
    fn any_bytes_as_an_article_build_or_fail_with_path_line_errors(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let files = SiteFiles {
            config: CONFIG.as_bytes().to_vec(),
            index: SECTION_INDEX.as_bytes().to_vec(),
            articles: BTreeMap::from([("fuzzed.md".to_string(), bytes)]),
        };
        check(&files)?;
    }
}

/// Regression test for escapes of forbidden characters reaching the outputs:
/// each is refused, on the line of the escape.
#[test]
fn escapes_of_forbidden_characters_are_refused_on_their_line() {
    for (front, body) in ESCAPES_OF_FORBIDDEN {
        let article = format!("+++\n{front}\ndate = 2024-05-20\n+++\n{body}\n");
        let files = SiteFiles {
            config: CONFIG.as_bytes().to_vec(),
            index: SECTION_INDEX.as_bytes().to_vec(),
            articles: BTreeMap::from([("known.md".to_string(), article.into_bytes())]),
        };
        let site = Site::empty();
        write(&site, &files);
        let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let errors = build_dir(site.root(), now).expect_err("a forbidden character was accepted");
        let line = if body == "body" { 2 } else { 5 };
        let first = errors.iter().next().expect("one error").to_string();
        assert!(
            first.contains(&format!("known.md:{line}: "))
                && first.contains("not allowed in a feed"),
            "{front} / {body}: {first}"
        );
        check(&files).expect("the refusal is a proper path:line error");
    }
}
