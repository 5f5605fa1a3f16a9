//! CORS over real TCP: feeds, the OPML list and `/healthz` may be fetched by
//! pages of other origins, conditionally too (after a preflight); other
//! paths answer `OPTIONS` with `Allow` only.

use crate::fixture::{raw, raw_status, Site};

/// The value of `name` in a raw response head, if present.
fn field<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next().unwrap_or("");
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

const ORIGIN: &str = "Origin: http://reader.example\r\n";

#[test]
fn feeds_opml_and_healthz_allow_every_origin_on_200_and_304() {
    let site = Site::bundled();
    let server = site.serve();
    let addr = server.local_addr();
    for path in [
        "/rss.xml",
        "/opinion/atom.xml",
        "/feed.json",
        "/feeds.opml",
        "/healthz",
    ] {
        let response = raw(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{ORIGIN}Connection: close\r\n\r\n"),
        );
        assert_eq!(raw_status(&response), 200, "{path}");
        assert_eq!(
            field(&response, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert_eq!(
            field(&response, "access-control-expose-headers"),
            Some("ETag, Last-Modified"),
            "{path}"
        );
        if path == "/healthz" {
            continue;
        }
        let etag = field(&response, "etag").expect("an ETag");
        let again = raw(
            addr,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\n{ORIGIN}If-None-Match: {etag}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(raw_status(&again), 304, "{path}");
        assert_eq!(
            field(&again, "access-control-allow-origin"),
            Some("*"),
            "{path}: 304"
        );
    }
    // Pages are shown by browsers without CORS; nothing reads them by script.
    let page = raw(
        addr,
        &format!("GET / HTTP/1.1\r\nHost: x\r\n{ORIGIN}Connection: close\r\n\r\n"),
    );
    assert_eq!(raw_status(&page), 200);
    assert_eq!(field(&page, "access-control-allow-origin"), None);
}

#[test]
fn a_preflight_for_a_conditional_get_is_allowed() {
    let site = Site::bundled();
    let server = site.serve();
    for path in ["/rss.xml", "/opinion/feed.json", "/feeds.opml", "/healthz"] {
        let response = raw(
            server.local_addr(),
            &format!(
                "OPTIONS {path} HTTP/1.1\r\nHost: x\r\n{ORIGIN}Access-Control-Request-Method: GET\r\n\
                 Access-Control-Request-Headers: if-none-match, if-modified-since\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(raw_status(&response), 204, "{path}: {response}");
        assert_eq!(
            field(&response, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert_eq!(
            field(&response, "access-control-allow-methods"),
            Some("GET, HEAD")
        );
        let allowed = field(&response, "access-control-allow-headers").unwrap_or("");
        for name in ["If-None-Match", "If-Modified-Since"] {
            assert!(allowed.contains(name), "{path}: {allowed}");
        }
        let max_age: u32 = field(&response, "access-control-max-age")
            .and_then(|v| v.parse().ok())
            .expect("a max age");
        assert!(max_age >= 600);
        assert_eq!(field(&response, "allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(
            field(&response, "content-length"),
            None,
            "{path}: 204 has no length"
        );
    }
}

#[test]
fn options_elsewhere_is_204_with_allow_or_404() {
    let site = Site::bundled();
    let server = site.serve();
    let addr = server.local_addr();
    for target in [
        "*",
        "/",
        "/opinion/china-russia-energy-cooperation/",
        "/style.css",
    ] {
        let response = raw(
            addr,
            &format!("OPTIONS {target} HTTP/1.1\r\nHost: x\r\n{ORIGIN}Connection: close\r\n\r\n"),
        );
        assert_eq!(raw_status(&response), 204, "{target}: {response}");
        assert_eq!(
            field(&response, "allow"),
            Some("GET, HEAD, OPTIONS"),
            "{target}"
        );
        assert_eq!(
            field(&response, "access-control-allow-origin"),
            None,
            "{target}"
        );
    }
    let missing = raw(
        addr,
        "OPTIONS /missing.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw_status(&missing), 404);
}

/// A page served on one origin reads a feed served on another in Debian's
/// Chromium: 200 with its validators readable, then, after the preflight
/// that `If-None-Match` needs, 304 (`tests/a11y/cors.mjs`).
#[test]
fn a_page_on_another_origin_fetches_a_feed_then_gets_304_in_chromium() {
    let browser = crate::fixture::repo_root().join("tests/a11y");
    assert!(
        std::path::Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium is missing: apt-get update && apt-get install -y chromium"
    );
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci` in tests/a11y"
    );
    let feeds = Site::bundled();
    let feed_server = feeds.serve();
    let pages = Site::bundled();
    let page_server = pages.serve();
    let page = format!("http://{}/", page_server.local_addr());
    let feed = format!("http://{}/opinion/atom.xml", feed_server.local_addr());
    let output = std::process::Command::new("node")
        .current_dir(&browser)
        .args(["cors.mjs", &page, &feed])
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): apt-get install nodejs npm"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(r#""second":304"#), "{stdout}");
}
