//! Precompressed siblings in the export: `rss.xml.gz` and `rss.xml.br` are
//! byte for byte what `serve` sends for those codings, and decode to the
//! file itself, so a web server or CDN in front of the export (nginx
//! `gzip_static`) serves exactly what `serve` would.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::fixture::{client, gunzip, unbrotli, url, Site};
use crate::prelude::{export, file_for, ResourceKind};

fn exported_siblings(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("gz" | "br")) {
                let relative = path.strip_prefix(dir).expect("under dir");
                found.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn siblings_decode_to_the_file_and_equal_what_serve_sends() {
    let site = Site::bundled();
    let server = site.serve();
    let built = site.build();
    let out = tempfile::TempDir::new().expect("temp dir");
    let dir = out.path().join("public");
    let summary = export(&built, &dir).expect("export");

    let mut expected = BTreeSet::new();
    for (path, resource) in &built.resources {
        let file = dir.join(file_for(path));
        let identity = fs::read(&file).expect("exported file");
        for (coding, extension) in [("gzip", "gz"), ("br", "br")] {
            let sibling_name = format!("{}.{extension}", file_for(path).display());
            let sibling = dir.join(&sibling_name);
            let served = client()
                .get(url(&server, path))
                .header("accept-encoding", coding)
                .send()
                .await
                .expect("request");
            let served_coding = served
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().expect("ascii").to_string());
            let served = served.bytes().await.expect("body");
            if matches!(
                resource.kind,
                ResourceKind::Article | ResourceKind::LaterPage
            ) {
                assert!(
                    !sibling.exists(),
                    "{sibling_name}: article pages and later list pages are not precompressed by default"
                );
                continue;
            }
            if served_coding.as_deref() != Some(coding) {
                // serve keeps no variant that is not smaller; export writes none either.
                assert!(
                    !sibling.exists(),
                    "{sibling_name} exists but serve has no {coding} variant"
                );
                continue;
            }
            let bytes = fs::read(&sibling).unwrap_or_else(|e| panic!("{sibling_name}: {e}"));
            assert!(
                bytes == served,
                "{sibling_name} differs from what serve sends"
            );
            let decoded = if extension == "gz" {
                gunzip(&bytes)
            } else {
                unbrotli(&bytes)
            };
            assert!(
                decoded == identity,
                "{sibling_name} does not decode to the file"
            );
            expected.insert(sibling_name);
        }
    }
    assert!(
        expected.len() >= 2 * built.feeds,
        "too few siblings: {expected:?}"
    );
    assert_eq!(exported_siblings(&dir), expected);
    assert_eq!(summary.precompressed, expected.len());
    assert_eq!(summary.files, built.resources.len() + expected.len());
}

#[test]
fn precompress_all_covers_article_pages_and_none_writes_no_siblings() {
    let site = Site::bundled();
    let original = site.read("config.toml");
    for (setting, article_siblings, any_siblings) in [
        ("\"all\"", true, true),
        ("\"none\"", false, false),
        ("\"feeds\"", false, true),
    ] {
        // A top-level key, so it goes before the config's first table.
        let config = original.clone();
        site.write("config.toml", &format!("precompress = {setting}\n{config}"));
        let built = site.build();
        let out = tempfile::TempDir::new().expect("temp dir");
        let dir = out.path().join("public");
        export(&built, &dir).expect("export");
        let siblings = exported_siblings(&dir);
        let article = "opinion/china-russia-energy-cooperation/index.html.gz";
        assert_eq!(siblings.contains(article), article_siblings, "{setting}");
        assert_eq!(!siblings.is_empty(), any_siblings, "{setting}");
    }
}
