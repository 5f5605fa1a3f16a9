//! The export's swap into place: atomic on Linux (a reader polling a feed
//! never finds it missing), trees left by a killed export cleaned up, and
//! targets that would break the site (or are links) refused with a message
//! that says why.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::fixture::{files_in, Site};
use chrono::Utc;

#[cfg(target_os = "linux")]
#[test]
fn a_reader_polling_a_feed_never_finds_it_missing_during_exports() {
    let site = Site::bundled();
    let built = crate::prelude::build_dir(site.root(), Utc::now()).expect("bundled site builds");
    let public = site.path("public");
    crate::prelude::export(&built, &public).expect("first export");
    let feed = public.join("rss.xml");
    let expected = fs::read(&feed).expect("rss.xml");

    let stop = AtomicBool::new(false);
    let (reads, missing) = std::thread::scope(|scope| {
        let poller = scope.spawn(|| {
            let (mut reads, mut missing) = (0u64, 0u64);
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                // Mostly `stat`, which is quick, so that more of the time is spent looking.
                let result = if reads % 16 == 0 {
                    fs::read(&feed).map(|bytes| assert_eq!(bytes, expected, "a changed rss.xml"))
                } else {
                    fs::metadata(&feed).map(|_| ())
                };
                match result {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => missing += 1,
                    Err(error) => panic!("reading rss.xml: {error}"),
                }
                reads += 1;
            }
            (reads, missing)
        });
        // With two renames, a reader in a tight loop fell into the gap
        // between them about a hundred times per export.
        for _ in 0..30 {
            crate::prelude::export(&built, &public).expect("export");
        }
        stop.store(true, Ordering::Relaxed);
        poller.join().expect("poller")
    });
    assert!(reads > 100, "the poller read only {reads} times");
    assert_eq!(
        missing, 0,
        "rss.xml was missing in {missing} of {reads} reads"
    );
    // Nothing is left beside the export.
    let mut names: Vec<String> = fs::read_dir(site.root())
        .expect("site dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["config.toml", "content", "public"]);
}

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("run true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

#[test]
fn trees_left_by_a_killed_export_are_removed_at_the_next() {
    let site = Site::bundled();
    let dead = dead_pid();
    let stale_new = site.path(&format!(".public.broadsheet-new-{dead}"));
    let stale_old = site.path(&format!(".public.broadsheet-old-{dead}"));
    // Process 1 is always there: its tree may belong to an export at work.
    let live = site.path(".public.broadsheet-new-1");
    let other = site.path(".elsewhere.broadsheet-new-1234567");
    for dir in [&stale_new, &stale_old, &live, &other] {
        fs::create_dir_all(dir.join("opinion")).expect("stale dir");
        fs::write(dir.join("opinion/rss.xml"), "old").expect("stale file");
    }
    site.export();
    assert!(
        !stale_new.exists(),
        "the staging tree of a dead export is still there"
    );
    assert!(
        !stale_old.exists(),
        "the retired tree of a dead export is still there"
    );
    assert!(live.exists(), "the tree of a running process was removed");
    assert!(other.exists(), "a tree beside another target was removed");
}

/// Runs `export DIR` and returns its stderr, asserting that it failed and wrote nothing.
fn refused(site: &Site, dir: &str) -> String {
    let before = files_in(site.root());
    let output = site.run(&["export", dir]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "export {dir} succeeded");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        before,
        files_in(site.root()),
        "export {dir} changed the site"
    );
    stderr
}

#[test]
fn targets_that_would_break_the_site_are_refused() {
    let site = Site::bundled();
    for (dir, reason) in [
        ("content/public", "this is in the site's content/ folder: the next build would read the export as content"),
        ("content", "this is in the site's content/ folder"),
        ("./content/../content/opinion", "this is in the site's content/ folder"),
        (".", "this is the site directory: replacing it would delete config.toml and content/"),
        ("..", "this folder holds the site directory"),
    ] {
        let stderr = refused(&site, dir);
        assert!(
            stderr.starts_with(&format!("error: {dir}: {reason}")),
            "{dir}: {stderr}"
        );
        assert!(stderr.contains("; export elsewhere, such as public"), "{dir}: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn a_symlinked_target_is_refused_saying_where_it_points() {
    let site = Site::bundled();
    let elsewhere = tempfile::TempDir::new().expect("temp dir");
    std::os::unix::fs::symlink(elsewhere.path(), site.path("public")).expect("symlink");
    let stderr = refused(&site, "public");
    let target = elsewhere.path().display();
    assert!(
        stderr.starts_with(&format!(
            "error: public: is a symbolic link to {target}; an export replaces its target directory whole, and would replace the link rather than write where it points: export to {target} directly, or remove the link"
        )),
        "{stderr}"
    );
    assert!(fs::read_dir(elsewhere.path())
        .expect("dir")
        .next()
        .is_none());
    assert!(Path::new(&site.path("public")).is_symlink());
}
