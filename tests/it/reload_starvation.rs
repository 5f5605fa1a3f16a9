//! Hot reload is not held back by changes that keep coming: a file the
//! loader never reads (`notes.txt`, an editor's swap file) changing every
//! 80 ms triggers nothing, and a new article is served as soon as usual.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::fixture::{client, eventually, url, Site};

/// Well under the 30 s the issue saw, well over a debug build's reload.
const SERVED_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_file_never_read_changing_every_80_ms_does_not_hold_back_a_new_article() {
    let site = Site::bundled();
    let server = site.serve_watching();
    let stop = Arc::new(AtomicBool::new(false));
    let notes = site.path("content/opinion/notes.txt");
    let swap = site.path("content/opinion/.notes.txt.swp");
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // A change every 80 ms, for at most 15 s (longer than the test waits).
            for i in 0..190 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                for path in [&notes, &swap] {
                    let mut file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open notes");
                    writeln!(file, "note {i}").expect("append");
                }
                std::thread::sleep(Duration::from_millis(80));
            }
        })
    };
    let article = site
        .read("content/opinion/china-russia-energy-cooperation.md")
        .replacen("title = \"", "title = \"Fresh: ", 1);
    site.write("content/opinion/fresh.md", &article);
    eventually(
        SERVED_WITHIN,
        "the new article while notes.txt changes",
        || async {
            let response = client()
                .get(url(&server, "/opinion/fresh/"))
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let report: serde_json::Value = serde_json::from_slice(
        &client()
            .get(url(&server, "/healthz"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report["status"], "ok");
}
