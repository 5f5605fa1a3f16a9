//! Links follow the address the site is served at: a loopback `base_url`
//! follows the bound port, `--base-url` wins over both, and the binary
//! prints the OPML list apart from the feeds.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::{client, url, Site};
use crate::prelude::{start_server, BaseUrl, RunningServer, ServeOptions};

const FEEDS: [&str; 6] = [
    "/rss.xml",
    "/atom.xml",
    "/feed.json",
    "/opinion/rss.xml",
    "/opinion/atom.xml",
    "/opinion/feed.json",
];
const PAGES: [&str; 3] = [
    "/",
    "/opinion/",
    "/opinion/china-russia-energy-cooperation/",
];

fn serve(site: &Site, base_url: Option<&str>) -> RunningServer {
    start_server(ServeOptions {
        root: site.root().to_path_buf(),
        bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: false,
        base_url: base_url.map(|u| BaseUrl::parse(u).expect("test URL")),
    })
    .expect("server starts")
}

async fn body(server: &RunningServer, path: &str) -> String {
    let response = client()
        .get(url(server, path))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("body")
}

/// The `href` of every `<link>` (HTML) or `<atom:link>`/`<link>` (feeds)
/// whose `rel` is `rel`, and JSON Feed's `feed_url`.
fn links(text: &str, rel: &str) -> Vec<String> {
    let mut found = Vec::new();
    for tag in text.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let is_link = tag.starts_with("link ") || tag.starts_with("atom:link ");
        if is_link && tag.contains(&format!("rel=\"{rel}\"")) {
            if let Some(href) = tag.split("href=\"").nth(1) {
                found.push(href.split('"').next().unwrap_or("").to_string());
            }
        }
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        if rel == "self" {
            found.extend(json["feed_url"].as_str().map(String::from));
        }
    }
    found
}

/// Checks that every feed's self link is the URL it was fetched from (under
/// `base`), that every page's alternate links are under `base`, and that no
/// body names the configured address, 127.0.0.1:8080.
async fn check_links_under(server: &RunningServer, base: &str) {
    for path in FEEDS {
        let text = body(server, path).await;
        let expected = format!("{}{}", base, &path[1..]);
        let own = links(&text, "self");
        assert_eq!(own, vec![expected], "{path}: self links");
        assert!(
            !text.contains("127.0.0.1:8080"),
            "{path} names the configured address"
        );
    }
    for path in PAGES {
        let text = body(server, path).await;
        let alternates = links(&text, "alternate");
        assert!(
            alternates.len() >= 3,
            "{path}: alternate links {alternates:?}"
        );
        for link in alternates {
            assert!(link.starts_with(base), "{path}: {link} is not under {base}");
        }
        assert!(
            !text.contains("127.0.0.1:8080"),
            "{path} names the configured address"
        );
    }
}

#[tokio::test]
async fn a_loopback_base_url_follows_the_bound_port() {
    let site = Site::bundled();
    assert!(site.read("config.toml").contains("http://127.0.0.1:8080/"));
    let server = serve(&site, None);
    let base = format!("http://{}/", server.local_addr());
    assert_eq!(server.base_url().url().as_str(), base);
    check_links_under(&server, &base).await;
}

#[tokio::test]
async fn a_loopback_base_url_keeps_following_the_bound_port_after_a_reload() {
    let site = Site::bundled();
    let server = serve(&site, None);
    let base = format!("http://{}/", server.local_addr());
    let article = "content/opinion/china-russia-energy-cooperation.md";
    site.write(
        article,
        &site
            .read(article)
            .replace("China and Russia", "China & Russia"),
    );
    server.reload();
    crate::fixture::eventually(Duration::from_secs(10), "the reload", || async {
        body(&server, "/opinion/atom.xml")
            .await
            .contains("China &amp;amp; Russia")
            .then_some(())
    })
    .await;
    check_links_under(&server, &base).await;
}

#[tokio::test]
async fn base_url_option_puts_every_link_under_it() {
    let site = Site::bundled();
    let server = serve(&site, Some("https://example.org/"));
    assert_eq!(server.base_url().url().as_str(), "https://example.org/");
    check_links_under(&server, "https://example.org/").await;
}

#[test]
fn the_binary_prints_the_opml_list_apart_from_the_feeds() {
    let site = Site::bundled();
    let mut child = Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .arg("--root")
        .arg(site.root())
        .args(["serve", "--bind", "127.0.0.1:0", "--no-watch"])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run broadsheet");
    let stdout = child.stdout.take().expect("stdout");
    // Read on a thread, so that a missing line fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let next = || rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    let first = next().unwrap_or_default();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_default()
        .to_string();
    let mut printed = Vec::new();
    while let Ok(line) = next() {
        let last = line.starts_with("feed list");
        printed.push(line);
        if last {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(addr.starts_with("http://127.0.0.1:"), "first line: {first}");
    let (feeds, lists): (Vec<_>, Vec<_>) = printed.iter().partition(|l| l.starts_with("  "));
    assert_eq!(feeds.len(), 18, "{printed:?}");
    assert!(feeds.iter().all(|l| !l.contains(".opml")), "{printed:?}");
    assert_eq!(lists, vec![&format!("feed list (OPML): {addr}/feeds.opml")]);
}
