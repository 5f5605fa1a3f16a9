//! Hot reload: edits to a temporary copy of the bundled site reach the
//! running server, bad edits leave the last good set served and show in
//! `/healthz`, and the next good edit goes through.

mod support;

use std::fs;
use std::io::Write;
use std::time::Duration;

use broadsheet::server::RunningServer;
use support::{client, eventually, url, Site};

const ARTICLE: &str = "content/opinion/china-russia-energy-cooperation.md";
const ARTICLE_URL: &str = "/opinion/china-russia-energy-cooperation/";
/// How long a reload may take: the debounce plus a debug-build rebuild.
const RELOAD: Duration = Duration::from_secs(10);

/// The ETag and body of `path`.
async fn fetch(server: &RunningServer, path: &str) -> (String, String) {
    let response = client()
        .get(url(server, path))
        .send()
        .await
        .expect("request");
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (etag, response.text().await.expect("body"))
}

async fn health(server: &RunningServer) -> serde_json::Value {
    let body = client()
        .get(url(server, "/healthz"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&body).expect("JSON")
}

/// Waits until `path` has a body containing `marker`; returns its ETag.
async fn served_with(server: &RunningServer, path: &str, marker: &str) -> String {
    eventually(RELOAD, &format!("{path} to contain {marker:?}"), || async {
        let (etag, body) = fetch(server, path).await;
        body.contains(marker).then_some(etag)
    })
    .await
}

/// The article with `paragraph` appended to its body.
fn edited(site: &Site, paragraph: &str) -> String {
    format!("{}\n{paragraph}\n", site.read(ARTICLE).trim_end())
}

#[tokio::test]
async fn edited_article_is_served_with_new_etag_and_content() {
    let site = Site::bundled("");
    let server = site.serve(true);
    let (page_tag, _) = fetch(&server, ARTICLE_URL).await;
    let (feed_tag, _) = fetch(&server, "/opinion/atom.xml").await;
    site.write(
        ARTICLE,
        &edited(&site, "A freshly added closing paragraph."),
    );
    let new_page_tag =
        served_with(&server, ARTICLE_URL, "A freshly added closing paragraph.").await;
    assert_ne!(new_page_tag, page_tag);
    let new_feed_tag = served_with(
        &server,
        "/opinion/atom.xml",
        "A freshly added closing paragraph.",
    )
    .await;
    assert_ne!(new_feed_tag, feed_tag);
    let report = health(&server).await;
    assert_eq!(report["status"], "ok");
    assert!(report["reloads"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn truncate_and_rewrite_save_is_served_whole() {
    let site = Site::bundled("");
    let server = site.serve(true);
    let text = edited(&site, "Rewritten in place, ending here: THE END.");
    let (first_half, second_half) = text.split_at(text.len() / 2);
    // An editor that truncates the file and writes it in two pieces.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(site.path(ARTICLE))
        .unwrap();
    file.write_all(first_half.as_bytes()).unwrap();
    file.flush().unwrap();
    file.write_all(second_half.as_bytes()).unwrap();
    drop(file);
    served_with(&server, ARTICLE_URL, "THE END.").await;
    eventually(
        RELOAD,
        "no reload error after the whole file is written",
        || async {
            health(&server).await["last_reload_error"]
                .is_null()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn broken_edit_keeps_the_last_good_set_and_reports_the_error() {
    let site = Site::bundled("");
    let server = site.serve(true);
    let good = site.read(ARTICLE);
    let (feed_tag, feed) = fetch(&server, "/opinion/rss.xml").await;
    let (page_tag, _) = fetch(&server, ARTICLE_URL).await;

    // A typo in the front matter: an unknown field on line 6.
    let broken = good.replacen("title = ", "tittle = ", 1);
    let line = broken
        .lines()
        .position(|l| l.starts_with("tittle = "))
        .unwrap()
        + 1;
    site.write(ARTICLE, &broken);
    let errors = eventually(RELOAD, "the reload error in /healthz", || async {
        let report = health(&server).await;
        report["last_reload_error"]["errors"].as_array().cloned()
    })
    .await;
    let expected = format!("china-russia-energy-cooperation.md:{line}: ");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains(&expected)
                && e.as_str().unwrap().contains("tittle")),
        "an error naming {expected}: {errors:?}"
    );
    assert_eq!(health(&server).await["status"], "stale");
    assert_eq!(
        fetch(&server, "/opinion/rss.xml").await,
        (feed_tag.clone(), feed)
    );
    assert_eq!(fetch(&server, ARTICLE_URL).await.0, page_tag);

    // Fixed: the next good edit goes through and the error is cleared.
    site.write(
        ARTICLE,
        &format!("{}\nFixed and extended.\n", good.trim_end()),
    );
    let new_tag = served_with(&server, "/opinion/rss.xml", "Fixed and extended.").await;
    assert_ne!(new_tag, feed_tag);
    let report = health(&server).await;
    assert!(report["last_reload_error"].is_null(), "{report}");
    assert_eq!(report["status"], "ok");
}

#[tokio::test]
async fn content_directory_removed_and_restored_is_watched_again() {
    let site = Site::bundled("");
    let server = site.serve(true);
    fs::rename(site.path("content"), site.path("content.moved")).unwrap();
    eventually(
        RELOAD,
        "a reload error for the missing content/",
        || async {
            health(&server).await["last_reload_error"]["errors"]
                .as_array()
                .cloned()
        },
    )
    .await;
    assert_eq!(
        client()
            .get(url(&server, ARTICLE_URL))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    fs::rename(site.path("content.moved"), site.path("content")).unwrap();
    eventually(
        RELOAD,
        "the error to clear once content/ is back",
        || async {
            health(&server).await["last_reload_error"]
                .is_null()
                .then_some(())
        },
    )
    .await;
    // The restored directory is watched: an edit inside it is picked up.
    site.write(
        ARTICLE,
        &edited(&site, "Edited after the directory came back."),
    );
    served_with(
        &server,
        ARTICLE_URL,
        "Edited after the directory came back.",
    )
    .await;
}

#[tokio::test]
async fn config_change_applies_max_age() {
    let site = Site::bundled("");
    let server = site.serve(true);
    let config = site
        .read("config.toml")
        .replace("max_age = 300", "max_age = 42");
    site.write("config.toml", &config);
    eventually(RELOAD, "Cache-Control with the new max-age", || async {
        let response = client().get(url(&server, "/rss.xml")).send().await.unwrap();
        let value = response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_string();
        (value == "public, max-age=42").then_some(())
    })
    .await;
}

#[tokio::test]
async fn reload_on_request_without_watching() {
    let site = Site::bundled("");
    let server = site.serve(false);
    site.write(ARTICLE, &edited(&site, "Picked up on SIGHUP."));
    server.reload();
    served_with(&server, ARTICLE_URL, "Picked up on SIGHUP.").await;
}

#[tokio::test]
async fn new_article_in_a_new_section_is_picked_up() {
    let site = Site::bundled("");
    let server = site.serve(true);
    let section = site.path("content/letters");
    fs::create_dir(&section).unwrap();
    fs::write(section.join("_index.md"), "+++\ntitle = \"Letters\"\n+++\n").unwrap();
    let article = site
        .read(ARTICLE)
        .replacen("title = \"", "title = \"Letter: ", 1);
    fs::write(section.join("first.md"), article).unwrap();
    served_with(&server, "/letters/rss.xml", "Letter: ").await;
}
