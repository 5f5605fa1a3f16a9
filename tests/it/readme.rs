//! The README shows what is tested: its nginx server block is the one the
//! benchmark serves the export with, and its replicas' upstream block the
//! one `replicas.rs` runs.

use std::fs;

use crate::fixture::repo_root;

fn read(relative: &str) -> String {
    fs::read_to_string(repo_root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The first nginx block of the README after the heading `heading`.
fn nginx_block_after(readme: &str, heading: &str) -> String {
    let section = readme
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading:?} in the README"));
    let start = section
        + readme[section..]
            .find("```nginx\n")
            .expect("an nginx block in the README")
        + "```nginx\n".len();
    let end = start + readme[start..].find("```").expect("the block is closed");
    readme[start..end].to_string()
}

#[test]
fn readme_nginx_block_is_the_benchmarks_server_block() {
    let readme = read("README.md");
    let shown = nginx_block_after(&readme, "### Behind nginx, a CDN or an object store");
    let shown = shown.as_str();

    let template = read("bench/nginx-server.conf.in");
    let block = &template[template.find("server {").expect("a server block")..];
    let filled = block
        .replace("@PORT@", "8080")
        .replace("@ROOT@", "/srv/broadsheet/public");
    assert_eq!(shown.trim_end(), filled.trim_end());
    for media_type in [
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "text/x-opml",
        "text/css",
    ] {
        assert!(
            shown.contains(media_type),
            "the block serves no {media_type}"
        );
    }
    assert!(shown.contains("gzip_static on;"));
}

#[test]
fn readme_replicas_block_is_the_one_the_replicas_test_runs() {
    let readme = read("README.md");
    let shown = nginx_block_after(&readme, "### Running several replicas");
    let filled = read("tests/replicas/nginx-upstream.conf.in")
        .replace("@PORT@", "80")
        .replace("@REPLICA_1@", "10.0.0.11:8080")
        .replace("@REPLICA_2@", "10.0.0.12:8080");
    assert_eq!(shown.trim_end(), filled.trim_end());
    assert!(shown.contains("upstream broadsheet"));
}
