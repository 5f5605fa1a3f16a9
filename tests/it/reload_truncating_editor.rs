//! An editor that saves by truncating the file and writing it again, in two
//! steps, over and over: no reload failure is ever reported (every save ends
//! in valid content) and no feed ever holds a partial article.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::fixture::{client, eventually, url, Site};
use crate::prelude::RunningServer;

const ARTICLE: &str = "content/opinion/china-russia-energy-cooperation.md";
const FEED: &str = "/opinion/atom.xml";
const RELOAD: Duration = Duration::from_secs(10);

/// The article as saved the `k`th time: its text, ending with a marker.
fn version(base: &str, k: usize) -> String {
    format!("{}\n\nRevision {k} ends here: THE END.\n", base.trim_end())
}

async fn get(server: &RunningServer, path: &str) -> Option<String> {
    let response = client().get(url(server, path)).send().await.ok()?;
    response.text().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_that_truncates_then_writes_never_shows_a_failure_or_a_partial_article() {
    let site = Site::bundled();
    let server = site.serve_watching();
    let base = site.read(ARTICLE);
    site.write(ARTICLE, &version(&base, 0));
    eventually(RELOAD, "the first revision", || async {
        get(&server, FEED)
            .await?
            .contains("Revision 0 ")
            .then_some(())
    })
    .await;

    // Watch /healthz and the feed for as long as the editor saves.
    let saving = Arc::new(AtomicBool::new(true));
    let stale = Arc::new(AtomicUsize::new(0));
    let partial = Arc::new(AtomicUsize::new(0));
    let polls = Arc::new(AtomicUsize::new(0));
    let addr = server.local_addr();
    let poller = {
        let (saving, stale, partial, polls) = (
            saving.clone(),
            stale.clone(),
            partial.clone(),
            polls.clone(),
        );
        tokio::spawn(async move {
            let client = client();
            while saving.load(Ordering::Relaxed) {
                let health = client.get(format!("http://{addr}/healthz")).send().await;
                if let Ok(body) = health {
                    let report: serde_json::Value =
                        serde_json::from_slice(&body.bytes().await.unwrap_or_default())
                            .unwrap_or_default();
                    if report["status"] != "ok" {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Ok(feed) = client.get(format!("http://{addr}{FEED}")).send().await {
                    let feed = feed.text().await.unwrap_or_default();
                    if !feed.contains("ends here: THE END.") {
                        partial.fetch_add(1, Ordering::Relaxed);
                    }
                }
                polls.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let path = site.path(ARTICLE);
    let saves = 40;
    let editor = tokio::task::spawn_blocking(move || {
        for k in 1..=saves {
            let text = version(&base, k);
            let (first, second) = text.split_at(text.len() / 2);
            let mut file = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .expect("open to truncate");
            std::thread::sleep(Duration::from_millis(3));
            file.write_all(first.as_bytes()).expect("first half");
            file.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(3));
            file.write_all(second.as_bytes()).expect("second half");
            drop(file);
            // Saves 60 to 160 ms apart: some land in a quiet period's end,
            // some during a build, some after it.
            std::thread::sleep(Duration::from_millis(60 + (k as u64 * 37) % 100));
        }
    });
    editor.await.expect("editor");
    let last = format!("Revision {saves} ");
    eventually(RELOAD, "the last revision", || async {
        get(&server, FEED).await?.contains(&last).then_some(())
    })
    .await;
    saving.store(false, Ordering::Relaxed);
    poller.await.expect("poller");
    let report: serde_json::Value =
        serde_json::from_str(&get(&server, "/healthz").await.unwrap()).unwrap();
    assert_eq!(report["status"], "ok", "{report}");
    assert!(polls.load(Ordering::Relaxed) > 10, "the poller ran");
    assert_eq!(
        stale.load(Ordering::Relaxed),
        0,
        "polls that saw a failed reload"
    );
    assert_eq!(
        partial.load(Ordering::Relaxed),
        0,
        "polls that saw a partial article"
    );
}
