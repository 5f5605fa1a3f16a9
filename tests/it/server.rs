//! The server's HTTP behaviour, over real TCP connections to a server started
//! from the library on 127.0.0.1 port 0, serving a copy of the bundled site.

use std::collections::BTreeMap;

use chrono::Utc;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::fixture::{client, gunzip, raw, raw_status, unbrotli, url, Site};
use crate::prelude::{export, file_for, ResourceKind, RunningServer};

/// Fetches `path` with the given request headers.
async fn get(server: &RunningServer, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client().get(url(server, path));
    for (name, value) in fields {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map_or("", |v| v.to_str().expect("ASCII header"))
}

#[tokio::test]
async fn content_types_per_format() {
    let site = Site::bundled();
    let server = site.serve();
    for (path, expected) in [
        ("/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/opinion/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/feeds.opml", "text/x-opml; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
        ("/opinion/", "text/html; charset=utf-8"),
        (
            "/opinion/china-russia-energy-cooperation/",
            "text/html; charset=utf-8",
        ),
    ] {
        let response = get(&server, path, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(response.headers(), "content-type"),
            expected,
            "{path}"
        );
    }
}

#[tokio::test]
async fn every_response_has_validators_cache_control_vary_and_length() {
    let site = Site::bundled_with_server("max_age = 60");
    let server = site.serve();
    let response = get(&server, "/opinion/atom.xml", &[]).await;
    let headers = response.headers().clone();
    let etag = header(&headers, "etag");
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    assert!(httpdate::parse_http_date(header(&headers, "last-modified")).is_ok());
    assert_eq!(header(&headers, "cache-control"), "public, max-age=60");
    assert_eq!(header(&headers, "vary"), "accept-encoding");
    let length: usize = header(&headers, "content-length")
        .parse()
        .expect("Content-Length");
    assert_eq!(response.bytes().await.unwrap().len(), length);
}

#[tokio::test]
async fn conditional_get_with_etag_round_trips_to_304() {
    let site = Site::bundled();
    let server = site.serve();
    let first = get(&server, "/rss.xml", &[]).await;
    let etag = header(first.headers(), "etag").to_string();
    let last_modified = header(first.headers(), "last-modified").to_string();
    let second = get(&server, "/rss.xml", &[("if-none-match", &etag)]).await;
    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    let headers = second.headers().clone();
    assert_eq!(header(&headers, "etag"), etag);
    assert_eq!(header(&headers, "last-modified"), last_modified);
    assert_eq!(header(&headers, "cache-control"), "public, max-age=300");
    assert_eq!(header(&headers, "vary"), "accept-encoding");
    assert!(second.bytes().await.unwrap().is_empty());
    // Lists, weak tags and `*` match too (weak comparison, RFC 9110 13.1.2).
    for value in [
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
        "*".to_string(),
    ] {
        let response = get(&server, "/rss.xml", &[("if-none-match", &value)]).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "If-None-Match: {value}"
        );
    }
    let response = get(&server, "/rss.xml", &[("if-none-match", "\"other\"")]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn conditional_get_with_last_modified_round_trips_to_304() {
    let site = Site::bundled();
    let server = site.serve();
    let first = get(&server, "/opinion/rss.xml", &[]).await;
    let last_modified = header(first.headers(), "last-modified").to_string();
    let second = get(
        &server,
        "/opinion/rss.xml",
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        header(second.headers(), "etag"),
        header(first.headers(), "etag")
    );
    assert!(second.bytes().await.unwrap().is_empty());
    let earlier = "Mon, 01 Jan 2001 00:00:00 GMT";
    let third = get(
        &server,
        "/opinion/rss.xml",
        &[("if-modified-since", earlier)],
    )
    .await;
    assert_eq!(third.status(), StatusCode::OK);
}

#[tokio::test]
async fn if_none_match_wins_over_if_modified_since() {
    let site = Site::bundled();
    let server = site.serve();
    let first = get(&server, "/atom.xml", &[]).await;
    let etag = header(first.headers(), "etag").to_string();
    let last_modified = header(first.headers(), "last-modified").to_string();
    let stale_tag = get(
        &server,
        "/atom.xml",
        &[
            ("if-none-match", "\"old\""),
            ("if-modified-since", &last_modified),
        ],
    )
    .await;
    assert_eq!(
        stale_tag.status(),
        StatusCode::OK,
        "a tag that does not match wins over a current date"
    );
    let old_date = "Mon, 01 Jan 2001 00:00:00 GMT";
    let current_tag = get(
        &server,
        "/atom.xml",
        &[("if-none-match", &etag), ("if-modified-since", old_date)],
    )
    .await;
    assert_eq!(
        current_tag.status(),
        StatusCode::NOT_MODIFIED,
        "a matching tag wins over an old date"
    );
}

#[tokio::test]
async fn each_encoding_decodes_to_the_identity_bytes() {
    let site = Site::bundled();
    let server = site.serve();
    let built = site.build();
    for path in built.resources.keys() {
        let identity = get(&server, path, &[]).await;
        let identity_tag = header(identity.headers(), "etag").to_string();
        let identity = identity.bytes().await.unwrap();
        assert_eq!(
            identity, built.resources[path].body,
            "{path}: identity bytes are the built bytes"
        );
        let mut tags = vec![identity_tag];
        for (coding, decode) in [("gzip", gunzip as fn(&[u8]) -> Vec<u8>), ("br", unbrotli)] {
            let response = get(&server, path, &[("accept-encoding", coding)]).await;
            let headers = response.headers().clone();
            // robots.txt (about 70 bytes) is smaller than its gzip form, which is
            // therefore not kept; brotli's is.
            if path == "/robots.txt" && coding == "gzip" {
                assert_eq!(header(&headers, "content-encoding"), "", "{path}");
                continue;
            }
            if matches!(
                built.resources[path].kind,
                ResourceKind::Article | ResourceKind::LaterPage
            ) {
                // `precompress = "feeds"` (the default) leaves article pages
                // and later list pages as they are.
                assert_eq!(header(&headers, "content-encoding"), "", "{path}");
                assert_eq!(response.bytes().await.unwrap(), identity, "{path}");
                continue;
            }
            assert_eq!(header(&headers, "content-encoding"), coding, "{path}");
            assert_eq!(header(&headers, "vary"), "accept-encoding", "{path}");
            let body = response.bytes().await.unwrap();
            assert_eq!(
                header(&headers, "content-length"),
                body.len().to_string(),
                "{path}"
            );
            assert!(body.len() < identity.len(), "{path}: {coding} is smaller");
            assert_eq!(
                decode(&body),
                identity,
                "{path}: {coding} decodes to the identity bytes"
            );
            tags.push(header(&headers, "etag").to_string());
            // The compressed variant revalidates against its own tag.
            let etag = header(&headers, "etag").to_string();
            let revalidated = get(
                &server,
                path,
                &[("accept-encoding", coding), ("if-none-match", &etag)],
            )
            .await;
            assert_eq!(
                revalidated.status(),
                StatusCode::NOT_MODIFIED,
                "{path} {coding}"
            );
        }
        tags.sort();
        tags.dedup();
        let codings = if matches!(
            built.resources[path].kind,
            ResourceKind::Article | ResourceKind::LaterPage
        ) {
            1
        } else if path == "/robots.txt" {
            2
        } else {
            3
        };
        assert_eq!(tags.len(), codings, "{path}: one ETag per coding");
    }
}

#[tokio::test]
async fn accept_encoding_q_values_pick_the_coding() {
    let site = Site::bundled();
    let server = site.serve();
    for (accept, expected) in [
        ("gzip, deflate, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0, gzip;q=0", ""),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("identity", ""),
        ("identity;q=0", ""),
    ] {
        let response = get(&server, "/rss.xml", &[("accept-encoding", accept)]).await;
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
        assert_eq!(
            header(response.headers(), "content-encoding"),
            expected,
            "Accept-Encoding: {accept}"
        );
    }
}

#[tokio::test]
async fn head_has_the_headers_of_get_and_no_body() {
    let site = Site::bundled();
    let server = site.serve();
    for accept in ["identity", "gzip", "br"] {
        let get_response = get(&server, "/feed.json", &[("accept-encoding", accept)]).await;
        let mut get_headers = get_response.headers().clone();
        let head = client()
            .head(url(&server, "/feed.json"))
            .header("accept-encoding", accept);
        let head_response = head.send().await.unwrap();
        let mut head_headers = head_response.headers().clone();
        get_headers.remove("date");
        head_headers.remove("date");
        assert_eq!(get_headers, head_headers, "{accept}");
        assert!(head_response.bytes().await.unwrap().is_empty());
    }
    // On the wire: the head ends the response, no body bytes follow.
    let response = raw(
        server.local_addr(),
        "HEAD /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw_status(&response), 200);
    assert!(
        response.ends_with("\r\n\r\n"),
        "no body after the head: {response}"
    );
    assert!(
        response.to_ascii_lowercase().contains("content-length: "),
        "{response}"
    );
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let site = Site::bundled();
    let server = site.serve();
    // OPTIONS left this list on purpose (issue 11): it is answered (tests/cors.rs).
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client()
            .request(method.clone(), url(&server, "/rss.xml"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(
            header(response.headers(), "allow"),
            "GET, HEAD, OPTIONS",
            "{method}"
        );
        assert!(header(response.headers(), "content-length")
            .parse::<usize>()
            .is_ok());
    }
}

#[tokio::test]
async fn unknown_paths_are_404_with_a_small_body() {
    let site = Site::bundled();
    let server = site.serve();
    for path in [
        "/nothing-here",
        "/opinion/no-such-article/",
        "/rss.xml/",
        "/content/opinion/_index.md",
    ] {
        let response = get(&server, path, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body = response.bytes().await.unwrap();
        assert!(!body.is_empty() && body.len() < 100, "{path}: small body");
    }
}

#[test]
fn traversal_paths_are_404() {
    let site = Site::bundled();
    let server = site.serve();
    for path in [
        "/%2e%2e/config.toml",
        "/../Cargo.toml",
        "//etc/passwd",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/opinion/../config.toml",
        "/%2fetc%2fpasswd",
        "/config.toml",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let response = raw(server.local_addr(), &request);
        assert_eq!(raw_status(&response), 404, "{path}: {response}");
        assert!(
            !response.contains("[server]") && !response.contains("root:"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn directory_without_slash_redirects() {
    let site = Site::bundled();
    let server = site.serve();
    let response = get(&server, "/opinion", &[]).await;
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(response.headers(), "location"), "/opinion/");
    let response = get(
        &server,
        "/opinion/china-russia-energy-cooperation?from=rss",
        &[],
    )
    .await;
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        header(response.headers(), "location"),
        "/opinion/china-russia-energy-cooperation/?from=rss"
    );
    crate::fixture::install_crypto_provider();
    let followed = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = followed.get(url(&server, "/opinion")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().path(), "/opinion/");
}

#[tokio::test]
async fn healthz_reports_counts_and_build_time() {
    let site = Site::bundled();
    let server = site.serve();
    let response = get(&server, "/healthz", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/json"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let built = site.build();
    assert_eq!(report["status"], "ok");
    assert_eq!(report["articles"], built.articles);
    assert_eq!(report["feeds"], built.feeds);
    assert_eq!(report["sections"], built.sections);
    assert!(report["built_at"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<Utc>>()
        .is_ok());
    assert!(report["last_reload_error"].is_null());
}

#[tokio::test]
async fn http2_prior_knowledge_works() {
    let site = Site::bundled();
    let server = site.serve();
    crate::fixture::install_crypto_provider();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap();
    let response = h2
        .get(url(&server, "/atom.xml"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let etag = header(response.headers(), "etag").to_string();
    let body = response.bytes().await.unwrap();
    let identity = get(&server, "/atom.xml", &[]).await.bytes().await.unwrap();
    assert_eq!(unbrotli(&body), identity);
    let again = h2
        .get(url(&server, "/atom.xml"))
        .header("accept-encoding", "br")
        .header("if-none-match", &etag);
    assert_eq!(
        again.send().await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );
}

#[tokio::test]
async fn served_feeds_parse_as_feeds() {
    let site = Site::bundled();
    let server = site.serve();
    let feed_paths = server.state().served().feed_paths.clone();
    let mut parsed = 0;
    for path in feed_paths.iter().filter(|p| !p.ends_with(".opml")) {
        let body = get(&server, path, &[]).await.bytes().await.unwrap();
        let feed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!feed.entries.is_empty(), "{path} has entries");
        parsed += 1;
    }
    let built = site.build();
    assert_eq!(parsed, built.feeds);
}

#[tokio::test]
async fn serve_and_export_publish_the_same_bytes() {
    let site = Site::bundled();
    let server = site.serve();
    let built = site.build();
    let out = tempfile::TempDir::new().unwrap();
    let dir = out.path().join("public");
    export(&built, &dir).expect("export");
    let mut compared = BTreeMap::new();
    for path in built.resources.keys() {
        let served = get(&server, path, &[]).await.bytes().await.unwrap();
        let exported = std::fs::read(dir.join(file_for(path))).unwrap();
        assert_eq!(served, exported, "{path}");
        compared.insert(path.clone(), served.len());
    }
    assert_eq!(compared.len(), server.state().served().len());
}

#[tokio::test]
async fn an_articles_files_are_served_as_they_are() {
    let site = Site::bundled();
    let folder = site.path("content/opinion/china-russia-energy-cooperation");
    std::fs::create_dir_all(&folder).expect("article folder");
    let photo: &[u8] = b"\xff\xd8\xff\xe0 not really a JPEG";
    std::fs::write(folder.join("pipeline.JPG"), photo).expect("write photo");
    let server = site.serve();
    let path = "/opinion/china-russia-energy-cooperation/pipeline.JPG";
    let response = get(&server, path, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    assert_eq!(header(&headers, "content-encoding"), "", "sent as it is");
    assert!(httpdate::parse_http_date(header(&headers, "last-modified")).is_ok());
    let etag = header(&headers, "etag").to_string();
    assert_eq!(&response.bytes().await.unwrap()[..], photo);
    let again = get(&server, path, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let modified = header(&headers, "last-modified").to_string();
    let again = get(&server, path, &[("if-modified-since", &modified)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // On purpose since issue 11: the article's date, the same from every
    // clone of the content (the file's own time differs from clone to clone).
    assert_eq!(
        modified, "Mon, 20 May 2024 00:04:00 GMT",
        "Last-Modified is the article's"
    );
}

#[tokio::test]
async fn an_articles_files_are_sent_in_parts_when_asked() {
    let site = Site::bundled();
    let folder = site.path("content/opinion/china-russia-energy-cooperation");
    std::fs::create_dir_all(&folder).expect("article folder");
    let recording: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    std::fs::write(folder.join("interview.mp3"), &recording).expect("write");
    let server = site.serve();
    let path = "/opinion/china-russia-energy-cooperation/interview.mp3";

    let whole = get(&server, path, &[]).await;
    assert_eq!(header(whole.headers(), "accept-ranges"), "bytes");
    let etag = header(whole.headers(), "etag").to_string();

    let part = get(&server, path, &[("range", "bytes=100-199")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(part.headers(), "content-range"),
        "bytes 100-199/1000"
    );
    assert_eq!(header(part.headers(), "content-length"), "100");
    assert_eq!(&part.bytes().await.unwrap()[..], &recording[100..200]);

    let tail = get(
        &server,
        path,
        &[("range", "bytes=-10"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&tail.bytes().await.unwrap()[..], &recording[990..]);

    let past = get(&server, path, &[("range", "bytes=1000-")]).await;
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(past.headers(), "content-range"), "bytes */1000");
    assert_eq!(header(past.headers(), "cache-control"), "no-store");
    assert_eq!(header(past.headers(), "content-type"), "");

    // Conditions come first: a client that has the file gets 304, not a part.
    let held = get(
        &server,
        path,
        &[("range", "bytes=0-9"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(held.status(), StatusCode::NOT_MODIFIED);
    // HEAD tells the whole length; ranges are for GET.
    let head = client()
        .head(url(&server, path))
        .header("range", "bytes=0-9")
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(head.headers(), "content-length"), "1000");

    // A range of a version the client no longer has: the whole file.
    let changed = get(
        &server,
        path,
        &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.bytes().await.unwrap().len(), 1000);

    // Feeds are always sent whole.
    let feed = get(&server, "/opinion/rss.xml", &[("range", "bytes=0-9")]).await;
    assert_eq!(feed.status(), StatusCode::OK);
    assert_eq!(header(feed.headers(), "accept-ranges"), "");
}
