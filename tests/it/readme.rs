//! The README shows what is tested: its nginx server block is the one the
//! benchmark serves the export with.

use std::fs;

use crate::fixture::repo_root;

fn read(relative: &str) -> String {
    fs::read_to_string(repo_root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn readme_nginx_block_is_the_benchmarks_server_block() {
    let readme = read("README.md");
    let start = readme
        .find("```nginx\n")
        .expect("an nginx block in the README")
        + "```nginx\n".len();
    let end = start + readme[start..].find("```").expect("the block is closed");
    let shown = &readme[start..end];

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
