//! `/sitemap.xml` lists every HTML page in the built set with its date and
//! is valid against the sitemaps.org schemas (checked by lxml with the XSDs
//! in `tests/sitemap/`; `bash .ci/run` installs lxml where missing);
//! `/robots.txt` names it; `export` writes both, byte for byte as built.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use crate::fixture::{repo_root, Site};
use crate::prelude::ResourceKind;

/// Runs the schema check on `files`; fails with its report, or with how to
/// install lxml when it is missing.
fn validate(files: &[std::path::PathBuf]) {
    let output = Command::new("python3")
        .arg(repo_root().join("tests/sitemap/validate_sitemap.py"))
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): install python3 and lxml"));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "sitemap validation failed ({}; lxml: python3 -m pip install lxml):\n{report}",
        output.status
    );
    assert_eq!(report.matches(": valid").count(), files.len(), "{report}");
}

#[test]
fn the_sitemap_lists_every_page_and_is_valid_and_robots_names_it() {
    let site = Site::bundled();
    let built = site.build();
    let pages: BTreeSet<String> = built
        .resources
        .iter()
        .filter(|(_, r)| {
            matches!(
                r.kind,
                ResourceKind::Index | ResourceKind::LaterPage | ResourceKind::Article
            )
        })
        .map(|(path, _)| format!("http://127.0.0.1:8080{path}"))
        .collect();
    assert!(pages.len() >= 11, "{pages:?}");
    let sitemap = String::from_utf8(built.resources["/sitemap.xml"].body.to_vec()).expect("UTF-8");
    let listed: BTreeSet<String> = sitemap
        .split("<loc>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</loc>").map(|(loc, _)| loc.to_string()))
        .collect();
    assert_eq!(listed, pages);
    assert_eq!(
        sitemap.matches("<lastmod>2024-05-20T00:0").count(),
        pages.len()
    );
    let robots = String::from_utf8(built.resources["/robots.txt"].body.to_vec()).expect("UTF-8");
    assert!(
        robots.contains("\nSitemap: http://127.0.0.1:8080/sitemap.xml\n"),
        "{robots}"
    );

    let public = site.export();
    for path in ["sitemap.xml", "robots.txt"] {
        let file = fs::read(public.join(path)).expect("exported");
        assert_eq!(
            file,
            built.resources[&format!("/{path}")].body.to_vec(),
            "{path}"
        );
    }
    validate(&[public.join("sitemap.xml")]);
}

#[test]
fn the_schema_check_fails_a_sitemap_that_breaks_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("sitemap.xml");
    fs::write(
        &bad,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n  <url><lastmod>yesterday</lastmod></url>\n</urlset>\n",
    )
    .expect("write");
    let output = Command::new("python3")
        .arg(repo_root().join("tests/sitemap/validate_sitemap.py"))
        .arg(&bad)
        .output()
        .expect("python3 runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
}
