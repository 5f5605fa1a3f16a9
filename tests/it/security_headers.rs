//! `X-Content-Type-Options: nosniff` on every response, and
//! `Content-Security-Policy: sandbox` on the articles' files a browser would
//! run script in (HTML, SVG, XML), over real TCP: the adversarial pass found
//! an article's `.svg` and `.html` served bare, able to run script on the
//! site's origin.

use crate::fixture::{raw, Site};

fn field<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn status(response: &str) -> u16 {
    crate::fixture::raw_status(response)
}

#[test]
fn every_response_has_nosniff_and_scriptable_files_are_sandboxed() {
    let site = Site::bundled_with_server("rate_limit = 0.001\nrate_burst = 40");
    let folder = site.path("content/opinion/china-russia-energy-cooperation");
    std::fs::create_dir_all(&folder).expect("article folder");
    std::fs::write(
        folder.join("chart.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
    )
    .unwrap();
    std::fs::write(
        folder.join("demo.html"),
        "<script>alert(document.cookie)</script>",
    )
    .unwrap();
    std::fs::write(folder.join("photo.jpg"), b"\xff\xd8\xff\xe0 jpeg").unwrap();
    let server = site.serve();
    let addr = server.local_addr();
    let article = "/opinion/china-russia-energy-cooperation";
    let get = |path: &str, fields: &str| {
        raw(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{fields}Connection: close\r\n\r\n"),
        )
    };
    let svg = get(&format!("{article}/chart.svg"), "");
    let etag = field(&svg, "etag").expect("an ETag").to_string();
    let mut seen = Vec::new();
    for (response, sandboxed) in [
        (svg, true),
        (get(&format!("{article}/demo.html"), ""), true),
        (
            get(&format!("{article}/chart.svg"), "Range: bytes=0-3\r\n"),
            true,
        ),
        (
            get(&format!("{article}/chart.svg"), "Range: bytes=9999-\r\n"),
            true,
        ),
        (
            get(
                &format!("{article}/chart.svg"),
                &format!("If-None-Match: {etag}\r\n"),
            ),
            true,
        ),
        (
            get(&format!("{article}/chart.svg"), "If-Match: \"other\"\r\n"),
            true,
        ),
        (get(&format!("{article}/photo.jpg"), ""), false),
        (get(&format!("{article}/"), ""), false),
        (get("/rss.xml", ""), false),
        (get("/nope", ""), false),
        (
            raw(
                addr,
                "DELETE /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ),
            false,
        ),
        (
            raw(
                addr,
                "GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
            ),
            false,
        ),
        (get(&format!("/{}", "a".repeat(9000)), ""), false),
        (get(&format!("/{}", "a".repeat(100_000)), ""), false),
    ] {
        let code = status(&response);
        assert_eq!(
            field(&response, "x-content-type-options"),
            Some("nosniff"),
            "{code}"
        );
        let csp = field(&response, "content-security-policy");
        assert_eq!(csp, sandboxed.then_some("sandbox"), "{code}");
        seen.push(code);
    }
    assert_eq!(
        seen,
        [200, 200, 206, 416, 304, 412, 200, 200, 200, 404, 405, 400, 414, 414]
    );
    // The burst of 40 is spent: the rest are refused, with the field too.
    let refused = (0..40)
        .map(|_| get("/rss.xml", ""))
        .find(|response| status(response) == 429)
        .expect("a 429 once the burst is spent");
    assert_eq!(field(&refused, "x-content-type-options"), Some("nosniff"));
}
