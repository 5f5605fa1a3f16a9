//! Hot reload: edits to a temporary copy of the bundled site reach the
//! running server, bad edits leave the last good set served and show in
//! `/healthz`, and the next good edit goes through.

use std::fs;
use std::io::Write;
use std::time::Duration;

use crate::fixture::{client, eventually, url, Site};
use crate::prelude::{build_dir, RunningServer};

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
    let site = Site::bundled();
    let server = site.serve_watching();
    let (page_tag, _) = fetch(&server, ARTICLE_URL).await;
    let (feed_tag, _) = fetch(&server, "/opinion/atom.xml").await;
    site.save(
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
    let site = Site::bundled();
    let server = site.serve_watching();
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
    let site = Site::bundled();
    let server = site.serve_watching();
    let good = site.read(ARTICLE);
    let (feed_tag, feed) = fetch(&server, "/opinion/rss.xml").await;
    let (page_tag, _) = fetch(&server, ARTICLE_URL).await;

    // A typo in the front matter: an unknown field on line 6.
    let line = site.misspell_title(ARTICLE);
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
    site.save(
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
    let site = Site::bundled();
    let server = site.serve_watching();
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
    site.save(
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
    let site = Site::bundled();
    let server = site.serve_watching();
    let config = site
        .read("config.toml")
        .replace("max_age = 300", "max_age = 42");
    site.save("config.toml", &config);
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
    let site = Site::bundled();
    let server = site.serve();
    site.save(ARTICLE, &edited(&site, "Picked up on SIGHUP."));
    server.reload();
    served_with(&server, ARTICLE_URL, "Picked up on SIGHUP.").await;
}

#[tokio::test]
async fn new_article_in_a_new_section_is_picked_up() {
    let site = Site::bundled();
    let server = site.serve_watching();
    let section = site.path("content/letters");
    fs::create_dir(&section).unwrap();
    fs::write(section.join("_index.md"), "+++\ntitle = \"Letters\"\n+++\n").unwrap();
    let article = site
        .read(ARTICLE)
        .replacen("title = \"", "title = \"Letter: ", 1);
    fs::write(section.join("first.md"), article).unwrap();
    served_with(&server, "/letters/rss.xml", "Letter: ").await;
}

/// The identity bytes of every resource a fresh build of the site gives,
/// compared with what the server serves; `None` while they differ.
async fn serves_a_fresh_build(server: &RunningServer, site: &Site) -> Option<()> {
    let built = build_dir(site.root(), chrono::Utc::now()).ok()?;
    for (path, resource) in &built.resources {
        let response = client().get(url(server, path)).send().await.ok()?;
        if response.status() != 200 || response.bytes().await.ok()? != resource.body {
            return None;
        }
    }
    // And nothing of an older set is left over.
    let opml = client()
        .get(url(server, "/feeds.opml"))
        .send()
        .await
        .ok()?
        .bytes()
        .await
        .ok()?;
    (opml == built.resources["/feeds.opml"].body).then_some(())
}

#[tokio::test]
async fn articles_deleted_renamed_and_half_written_while_reloads_run() {
    let site = Site::bundled_with_server("reload_debounce_ms = 20");
    let server = site.serve_watching();
    let paths: Vec<String> = [
        "content/comment/us-curbs-on-ai-models.md",
        "content/hi-tech/future-air-taxi-unveiled.md",
        "content/overseas-echoes/intelligent-manufacturing-envoys.md",
        ARTICLE,
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    let originals: Vec<String> = paths.iter().map(|p| site.read(p)).collect();

    // A poller reads every feed throughout: each answer is a 200 with a
    // feed that parses, old or new, never a broken one.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        let base = url(&server, "");
        tokio::spawn(async move {
            let mut polls = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for feed in ["/rss.xml", "/atom.xml", "/feed.json", "/hi-tech/rss.xml"] {
                    let response = client().get(format!("{base}{feed}")).send().await.unwrap();
                    assert_eq!(response.status(), 200, "{feed}");
                    let body = response.bytes().await.unwrap();
                    feed_rs::parser::parse(&body[..])
                        .unwrap_or_else(|e| panic!("{feed} does not parse: {e}"));
                    polls += 1;
                }
            }
            polls
        })
    };

    // Changes at uneven, short intervals, so that some land while a
    // reload is reading the files: deletions, renames, half-written files.
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for step in 0..60 {
        let i = next(paths.len() as u64) as usize;
        let path = site.path(&paths[i]);
        match next(4) {
            0 => {
                let _ = fs::remove_file(&path);
            }
            1 => {
                let moved = path.with_file_name(format!("renamed-{step}.md"));
                let _ = fs::rename(&path, &moved);
                tokio::time::sleep(Duration::from_millis(next(40))).await;
                let _ = fs::rename(&moved, &path);
            }
            2 => {
                // Truncate, write half, pause, write the rest: a slow save.
                let text = &originals[i];
                let cut = text.len() * (1 + next(3) as usize) / 4;
                let cut = (0..=cut).rev().find(|&c| text.is_char_boundary(c)).unwrap();
                let mut file = fs::File::create(&path).unwrap();
                file.write_all(&text.as_bytes()[..cut]).unwrap();
                file.flush().unwrap();
                tokio::time::sleep(Duration::from_millis(next(60))).await;
                file.write_all(&text.as_bytes()[cut..]).unwrap();
            }
            _ => fs::write(
                &path,
                format!("{}\nStep {step}.\n", originals[i].trim_end()),
            )
            .unwrap(),
        }
        tokio::time::sleep(Duration::from_millis(next(50))).await;
        if step % 3 == 0 && !path.exists() {
            fs::write(&path, &originals[i]).unwrap();
        }
    }
    // The last state: every article back, two of them edited.
    for (i, path) in paths.iter().enumerate() {
        fs::write(site.path(path), &originals[i]).unwrap();
    }
    site.save(
        &paths[0],
        &format!("{}\nThe final word.\n", originals[0].trim_end()),
    );
    fs::remove_file(site.path(&paths[1])).unwrap();

    eventually(
        RELOAD,
        "the server to serve a fresh build of the final content",
        || serves_a_fresh_build(&server, &site),
    )
    .await;
    let report = health(&server).await;
    assert_eq!(report["status"], "ok", "{report}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let polls = poller.await.expect("every poll was a whole feed");
    assert!(polls > 0);
    let gone = client()
        .get(url(&server, "/hi-tech/future-air-taxi-unveiled/"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "a deleted article is no longer served");
}

#[tokio::test]
async fn half_written_article_left_in_place_keeps_the_last_good_set() {
    let site = Site::bundled();
    let server = site.serve_watching();
    let (page_tag, page) = fetch(&server, ARTICLE_URL).await;
    let text = site.read(ARTICLE);
    // The save stopped inside the front matter: no closing `+++`.
    let cut = text.find("tags = ").unwrap() + 9;
    fs::write(site.path(ARTICLE), &text[..cut]).unwrap();
    let errors = eventually(RELOAD, "the reload error in /healthz", || async {
        health(&server).await["last_reload_error"]["errors"]
            .as_array()
            .cloned()
    })
    .await;
    assert!(
        errors.iter().any(|e| {
            let e = e.as_str().unwrap();
            e.contains("china-russia-energy-cooperation.md:") && !e.contains(".md:0:")
        }),
        "{errors:?}"
    );
    assert_eq!(fetch(&server, ARTICLE_URL).await, (page_tag.clone(), page));
    let whole = format!("{}\nSaved whole at last.\n", text.trim_end());
    fs::write(site.path(ARTICLE), whole).unwrap();
    served_with(&server, ARTICLE_URL, "Saved whole at last.").await;
    assert_eq!(health(&server).await["status"], "ok");
}

#[tokio::test]
async fn invalid_or_missing_config_keeps_the_last_good_set_and_recovers() {
    let site = Site::bundled();
    let server = site.serve_watching();
    let good = site.read("config.toml");
    let (feed_tag, feed) = fetch(&server, "/rss.xml").await;

    // A typo in a key.
    let broken = format!("{good}titel = \"x\"\n");
    site.save("config.toml", &broken);
    let line = broken.lines().position(|l| l.starts_with("titel")).unwrap() + 1;
    let expected = format!("config.toml:{line}: unknown field `titel`");
    let errors = eventually(RELOAD, "the config error in /healthz", || async {
        health(&server).await["last_reload_error"]["errors"]
            .as_array()
            .cloned()
    })
    .await;
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains(&expected)),
        "{expected} in {errors:?}"
    );
    assert_eq!(health(&server).await["status"], "stale");
    assert_eq!(
        fetch(&server, "/rss.xml").await,
        (feed_tag.clone(), feed.clone())
    );

    // Not TOML at all.
    site.save("config.toml", "title = \"unterminated\nbase_url = ");
    eventually(RELOAD, "the TOML error in /healthz", || async {
        let report = health(&server).await;
        let errors = report["last_reload_error"]["errors"].as_array()?.clone();
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("config.toml:1: "))
            .then_some(())
    })
    .await;
    assert_eq!(fetch(&server, "/rss.xml").await.0, feed_tag);

    // Gone.
    fs::remove_file(site.path("config.toml")).unwrap();
    eventually(RELOAD, "the missing config in /healthz", || async {
        let report = health(&server).await;
        let errors = report["last_reload_error"]["errors"].as_array()?.clone();
        errors
            .iter()
            .any(|e| {
                e.as_str()
                    .unwrap()
                    .contains("config.toml:1: cannot read file")
            })
            .then_some(())
    })
    .await;
    assert_eq!(fetch(&server, "/rss.xml").await.0, feed_tag);

    // Restored with a change: the next good build goes through.
    site.save("config.toml", &good.replace("max_age = 300", "max_age = 7"));
    eventually(RELOAD, "recovery with the new config", || async {
        let response = client().get(url(&server, "/rss.xml")).send().await.unwrap();
        (response.headers()["cache-control"] == "public, max-age=7").then_some(())
    })
    .await;
    let report = health(&server).await;
    assert_eq!(report["status"], "ok", "{report}");
    assert!(report["last_reload_error"].is_null());
}

#[tokio::test]
async fn an_article_dated_later_appears_at_its_time_without_an_edit() {
    use chrono::{SecondsFormat, SubsecRound, Utc};
    let site = Site::bundled();
    let due = (Utc::now() + chrono::Duration::seconds(5)).trunc_subsecs(0);
    site.save(
        "content/opinion/later.md",
        &format!(
            "+++\ntitle = \"Scheduled piece\"\ndate = {}\n+++\nDue soon.\n",
            due.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    );
    // Not watching files: nothing but the schedule can rebuild.
    let server = site.serve();
    let (_, feed) = fetch(&server, "/opinion/rss.xml").await;
    assert!(!feed.contains("Scheduled piece"), "published early");
    assert_eq!(
        health(&server).await["next_publication"],
        due.to_rfc3339_opts(SecondsFormat::Millis, true)
    );

    served_with(&server, "/opinion/rss.xml", "Scheduled piece").await;
    for path in ["/rss.xml", "/opinion/later/", "/"] {
        let (_, body) = fetch(&server, path).await;
        assert!(body.contains("Scheduled piece"), "{path}");
    }
    let report = health(&server).await;
    let built_at = chrono::DateTime::parse_from_rfc3339(report["built_at"].as_str().unwrap())
        .expect("built_at");
    assert!(
        built_at >= due,
        "built at {built_at}, before the date {due}"
    );
    assert_eq!(report["next_publication"], serde_json::Value::Null);
    assert_eq!(report["reloads"], 1);
}

#[tokio::test]
async fn a_replaced_article_file_is_served_new() {
    let site = Site::bundled();
    let folder = site.path("content/opinion/china-russia-energy-cooperation");
    fs::create_dir_all(&folder).expect("article folder");
    fs::write(folder.join("chart.png"), b"first chart").expect("write");
    let server = site.serve_watching();
    let path = "/opinion/china-russia-energy-cooperation/chart.png";
    assert_eq!(fetch(&server, path).await.1, "first chart");
    // Rewritten in place, same length: only its times tell it changed.
    fs::write(folder.join("chart.png"), b"other chart").expect("rewrite");
    served_with(&server, path, "other chart").await;
    fs::remove_file(folder.join("chart.png")).expect("remove");
    eventually(RELOAD, "the removed file to be gone", || async {
        let response = client()
            .get(url(&server, path))
            .send()
            .await
            .expect("request");
        (response.status() == 404).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_file_dated_in_the_future_keeps_one_last_modified_across_reloads() {
    let site = Site::bundled();
    let folder = site.path("content/opinion/china-russia-energy-cooperation");
    fs::create_dir_all(&folder).expect("article folder");
    let file = folder.join("chart.png");
    fs::write(&file, b"a chart").expect("write");
    // A clock that was years ahead when the file was written.
    let ahead = std::time::SystemTime::now() + Duration::from_secs(5 * 365 * 24 * 3600);
    fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(ahead))
        .expect("set the file's time");
    let server = site.serve_watching();
    let path = "/opinion/china-russia-energy-cooperation/chart.png";
    let last_modified = |response: &reqwest::Response| {
        response.headers()["last-modified"]
            .to_str()
            .unwrap()
            .to_string()
    };
    let first = client().get(url(&server, path)).send().await.expect("GET");
    let before = last_modified(&first);
    let date = httpdate::parse_http_date(&before).expect("HTTP date");
    assert!(
        date <= std::time::SystemTime::now(),
        "Last-Modified {before} is in the future"
    );

    // An unrelated edit, in a later second, rebuilds the site; the file's
    // Last-Modified stays.
    eventually(RELOAD, "the clock to pass the next second", || async {
        (std::time::SystemTime::now() >= date + Duration::from_secs(1)).then_some(())
    })
    .await;
    site.save(ARTICLE, &edited(&site, "A paragraph added later."));
    served_with(&server, "/opinion/rss.xml", "A paragraph added later.").await;
    let second = client().get(url(&server, path)).send().await.expect("GET");
    assert_eq!(last_modified(&second), before);
    let revalidated = client()
        .get(url(&server, path))
        .header("if-modified-since", &before)
        .send()
        .await
        .expect("GET");
    assert_eq!(revalidated.status(), 304);
}

#[tokio::test]
async fn an_edit_reads_only_its_section_and_a_change_no_event_reported_waits_for_a_full_pass() {
    let site = Site::bundled();
    // The article's file is also linked from outside `content/`: a write
    // through that name is an event in no watched folder.
    let outside = site.path("article-outside-content.md");
    fs::hard_link(site.path(ARTICLE), &outside).expect("hard link");
    let server = site.serve_watching();
    fs::write(&outside, edited(&site, "Written where no watch sees it.")).expect("write");
    // An edit in another section: its build reads that section only.
    let other = "content/hi-tech/future-air-taxi-unveiled.md";
    site.save(
        other,
        &format!(
            "{}\nEdited in its own section.\n",
            site.read(other).trim_end()
        ),
    );
    served_with(
        &server,
        "/hi-tech/future-air-taxi-unveiled/",
        "Edited in its own section.",
    )
    .await;
    let (_, page) = fetch(&server, ARTICLE_URL).await;
    assert!(
        !page.contains("Written where no watch sees it."),
        "the opinion section was not read again"
    );
    // A full pass (here asked for, as SIGHUP does) reads every file.
    server.reload();
    served_with(&server, ARTICLE_URL, "Written where no watch sees it.").await;
    // And what is served is what a fresh build gives.
    eventually(RELOAD, "a fresh build of the content served", || {
        serves_a_fresh_build(&server, &site)
    })
    .await;
}
