//! `Last-Modified` moves forward whenever a resource's bytes change, on
//! `serve` and in `export` (file times), and is the same from every copy of
//! the same content, whatever its files' times.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::fixture::{client, url, Site};
use crate::prelude::build_dir;
use crate::prelude::{export, file_for};
use chrono::Utc;

const ARTICLE: &str = "content/opinion/china-russia-energy-cooperation.md";
const PHOTO: &str = "content/opinion/china-russia-energy-cooperation/pipeline.jpg";

async fn validators(server: &crate::prelude::RunningServer, path: &str) -> (String, String) {
    let response = client()
        .get(url(server, path))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{path}");
    let header = |name: &str| {
        response.headers()[name]
            .to_str()
            .expect("ASCII")
            .to_string()
    };
    (header("last-modified"), header("etag"))
}

fn time_of(text: &str) -> SystemTime {
    httpdate::parse_http_date(text).expect("an HTTP date")
}

#[tokio::test]
async fn an_edited_body_moves_last_modified_forward() {
    let site = Site::bundled();
    assert!(!site.read(ARTICLE).contains("updated ="));
    let server = site.serve();
    let paths = [
        "/opinion/china-russia-energy-cooperation/",
        "/opinion/atom.xml",
        "/opinion/rss.xml",
        "/rss.xml",
        "/feed.json",
    ];
    let mut before = BTreeMap::new();
    for path in paths {
        before.insert(path, validators(&server, path).await);
    }
    let edited = site
        .read(ARTICLE)
        .replacen("China and Russia", "China and Russia (corrected)", 1);
    site.write(ARTICLE, &edited);
    server.reload();
    crate::fixture::eventually(Duration::from_secs(10), "the reload", || async {
        let (_, etag) = validators(&server, "/opinion/atom.xml").await;
        (etag != before["/opinion/atom.xml"].1).then_some(())
    })
    .await;
    for path in paths {
        let (old_modified, old_etag) = &before[path];
        let (modified, etag) = validators(&server, path).await;
        assert_ne!(&etag, old_etag, "{path}: the bytes changed");
        assert!(
            time_of(&modified) > time_of(old_modified),
            "{path}: Last-Modified {modified} is not after {old_modified}"
        );
        let polled = client()
            .get(url(&server, path))
            .header("if-modified-since", old_modified)
            .send()
            .await
            .expect("request");
        assert_eq!(
            polled.status(),
            200,
            "{path}: a poller with the old date gets the new bytes"
        );
    }
    // What the edit did not change keeps its validators.
    let (style, _) = validators(&server, "/style.css").await;
    assert!(time_of(&style) > SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 365 * 50));
}

#[tokio::test]
async fn two_edits_within_a_second_give_two_last_modified_times() {
    let site = Site::bundled();
    let server = site.serve();
    let path = "/opinion/atom.xml";
    let mut seen = Vec::new();
    for word in ["first", "second"] {
        let before = validators(&server, path).await;
        let edited = site.read(ARTICLE).replacen(
            "China and Russia",
            &format!("China and Russia ({word})"),
            1,
        );
        site.write(ARTICLE, &edited);
        server.reload();
        let after = crate::fixture::eventually(Duration::from_secs(10), "the reload", || async {
            let now = validators(&server, path).await;
            (now.1 != before.1).then_some(now)
        })
        .await;
        seen.push(time_of(&after.0));
    }
    assert!(seen[1] > seen[0], "{seen:?}");
}

/// Every file's time under `dir`, by relative path.
fn file_times(dir: &Path) -> BTreeMap<String, SystemTime> {
    let mut times = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        for entry in fs::read_dir(&next).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let time = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .expect("mtime");
                times.insert(relative, time);
            }
        }
    }
    // The export's marker file is not part of the site.
    times.remove(".broadsheet-export");
    times
}

/// Gives every file under `dir` the time `time`, as a fresh clone would.
fn touch_all(dir: &Path, time: SystemTime) {
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            touch_all(&path, time);
        } else {
            fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(time))
                .expect("set time");
        }
    }
}

fn with_photo(site: &Site, time: SystemTime) {
    fs::create_dir_all(site.path(PHOTO).parent().unwrap()).expect("folder");
    fs::write(site.path(PHOTO), b"\xff\xd8\xff\xe0 not really a JPEG").expect("photo");
    touch_all(&site.path("content"), time);
}

#[test]
fn exports_of_the_same_content_give_the_same_file_times() {
    let site = Site::bundled();
    with_photo(&site, SystemTime::now() - Duration::from_secs(3600));
    let out = tempfile::TempDir::new().expect("temp dir");
    let public = out.path().join("public");
    let build = || build_dir(site.root(), Utc::now()).expect("build");
    export(&build(), &public).expect("first export");
    let first = file_times(&public);
    assert!(
        first.keys().any(|p| p.ends_with(".gz")),
        "siblings are there"
    );

    // Again, later: nothing changed, no time moves.
    export(&build(), &public).expect("second export");
    assert_eq!(file_times(&public), first);

    // A clone of the same content (other file times), exported afresh.
    let clone = Site::bundled();
    with_photo(&clone, SystemTime::now() - Duration::from_secs(7200));
    let elsewhere = out.path().join("elsewhere");
    export(
        &build_dir(clone.root(), Utc::now()).expect("build"),
        &elsewhere,
    )
    .expect("export");
    assert_eq!(file_times(&elsewhere), first);

    // An edit: what changed moves forward, and nothing else moves.
    let edited = site
        .read(ARTICLE)
        .replacen("China and Russia", "China and Russia (corrected)", 1);
    site.write(ARTICLE, &edited);
    export(&build(), &public).expect("export after an edit");
    let third = file_times(&public);
    for file in [
        "opinion/atom.xml",
        "opinion/atom.xml.gz",
        "rss.xml",
        "opinion/china-russia-energy-cooperation/index.html",
    ] {
        assert!(third[file] > first[file], "{file} did not move forward");
    }
    for file in [
        "style.css",
        "comment/atom.xml",
        "opinion/china-russia-energy-cooperation/pipeline.jpg",
    ] {
        assert_eq!(third[file], first[file], "{file} moved");
    }
}

#[tokio::test]
async fn servers_of_two_copies_send_the_same_validators() {
    let (one, two) = (Site::bundled(), Site::bundled());
    with_photo(&one, SystemTime::now() - Duration::from_secs(3600));
    with_photo(&two, SystemTime::now() - Duration::from_secs(86_400));
    let paths: Vec<String> = build_dir(one.root(), Utc::now())
        .expect("build")
        .resources
        .into_keys()
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("pipeline.jpg")));
    // Two replicas behind one public name: the same base URL, other ports.
    let serve = |site: &Site| {
        crate::prelude::start_server(crate::prelude::ServeOptions {
            root: site.root().to_path_buf(),
            bind: Some(([127, 0, 0, 1], 0).into()),
            watch: false,
            base_url: Some(crate::prelude::BaseUrl::parse("http://127.0.0.1:8080/").expect("URL")),
        })
        .expect("server starts")
    };
    let (a, b) = (serve(&one), serve(&two));
    for path in &paths {
        assert_eq!(
            validators(&a, path).await,
            validators(&b, path).await,
            "{path}"
        );
    }
    // And an export of either gives the files those times.
    let out = tempfile::TempDir::new().expect("temp dir");
    export(
        &build_dir(two.root(), Utc::now()).expect("build"),
        out.path(),
    )
    .expect("export");
    for path in &paths {
        let time = fs::metadata(out.path().join(file_for(path)))
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(
            httpdate::fmt_http_date(time),
            validators(&a, path).await.0,
            "{path}"
        );
    }
}
