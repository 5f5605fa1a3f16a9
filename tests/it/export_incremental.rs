//! A re-export links the files whose bytes did not change to the previous
//! export's, and still writes exactly what a fresh export writes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::fixture::{files_in, Site};

/// Inode of every file under `dir` but the marker, by relative path.
fn inodes(dir: &Path) -> BTreeMap<PathBuf, u64> {
    files_in(dir)
        .into_iter()
        .filter(|(path, _)| path != Path::new(".broadsheet-export"))
        .map(|(path, _)| {
            let ino = fs::metadata(dir.join(&path)).expect("stat").ino();
            (path, ino)
        })
        .collect()
}

/// The files under `dir` but the marker, by relative path.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_in(dir)
        .into_iter()
        .filter(|(path, _)| path != Path::new(".broadsheet-export"))
        .collect()
}

fn unchanged_count(stdout: &[u8]) -> usize {
    let text = String::from_utf8_lossy(stdout);
    text.split(" precompressed, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no unchanged count in {text}"))
}

#[test]
fn a_reexport_after_one_edit_links_every_unchanged_file_and_writes_what_a_fresh_export_writes() {
    let site = Site::bundled();
    let public = site.export();
    let before = inodes(&public);
    let old = contents(&public);

    let article = "content/hi-tech/future-air-taxi-unveiled.md";
    assert!(
        site.path(article).is_file(),
        "the bundled site has {article}"
    );
    site.append(article, "\nOne more sentence, added by the test.\n");
    let output = site.run(&["export"]);
    assert!(output.status.success(), "{output:?}");
    let after = inodes(&public);
    let new = contents(&public);

    let fresh = site.path("fresh");
    let output_fresh = site.run(&["export", "fresh"]);
    assert!(output_fresh.status.success(), "{output_fresh:?}");
    assert_eq!(
        new,
        contents(&fresh),
        "the re-export holds what a fresh export writes"
    );

    let mut linked = 0;
    for (path, bytes) in &new {
        match old.get(path) {
            Some(old_bytes) if old_bytes == bytes => {
                assert_eq!(
                    before[path],
                    after[path],
                    "{} is unchanged: linked, not written again",
                    path.display()
                );
                linked += 1;
            }
            _ => assert_ne!(
                before.get(path),
                Some(&after[path]),
                "{} changed: written anew, never through a link to the old file",
                path.display()
            ),
        }
    }
    let page = PathBuf::from("hi-tech/future-air-taxi-unveiled/index.html");
    assert_ne!(old[&page], new[&page], "the edited article's page changed");
    assert!(linked > new.len() / 2, "{linked} of {} linked", new.len());
    assert_eq!(unchanged_count(&output.stdout), linked);
}

#[test]
fn a_file_changed_by_hand_in_the_export_is_written_again_not_linked() {
    let site = Site::bundled();
    let public = site.export();
    let target = public.join("opinion/rss.xml");
    let good = fs::read(&target).expect("read feed");
    // Same size, other bytes: only its time tells it was written.
    let mut tampered = good.clone();
    let last = tampered.len() - 2;
    tampered[last] = b'!';
    fs::write(&target, &tampered).expect("tamper");

    // A sibling changed by hand is not reused for its unchanged resource.
    let sibling = public.join("rss.xml.gz");
    let good_sibling = fs::read(&sibling).expect("read sibling");
    let mut bad_sibling = good_sibling.clone();
    bad_sibling[20] ^= 0xff;
    fs::write(&sibling, &bad_sibling).expect("tamper");

    let output = site.run(&["export"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(fs::read(&target).expect("read feed"), good);
    assert_eq!(fs::read(&sibling).expect("read sibling"), good_sibling);
    // A manifest that cannot be read is no reason to fail: files are compared.
    fs::write(public.join(".broadsheet-export"), "garbage\nnot a line\n").expect("write");
    let output = site.run(&["export"]);
    assert!(output.status.success(), "{output:?}");
    assert!(unchanged_count(&output.stdout) > 0);
    assert_eq!(fs::read(&target).expect("read feed"), good);
}

/// Every file under `dir` but the marker: its bytes, time and inode.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime, u64)> {
    contents(dir)
        .into_iter()
        .map(|(path, bytes)| {
            let meta = fs::metadata(dir.join(&path)).expect("stat");
            (path, (bytes, meta.modified().expect("mtime"), meta.ino()))
        })
        .collect()
}

/// How many files the summary line says were not rendered again.
fn not_rendered_count(stdout: &[u8]) -> usize {
    let text = String::from_utf8_lossy(stdout);
    text.split(" unchanged, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of files not rendered in {text}"))
}

/// Re-exports `site` into `public/` and checks the result against a fresh
/// export of the same content into an empty directory: the same files
/// with the same bytes. Times follow the re-export's rule (as without the
/// cache): a file whose bytes were in the previous export is linked to it,
/// same inode and time; any other is newer than the file it replaces.
/// Returns the re-export's output.
fn reexport_as_fresh(site: &Site, step: &str) -> std::process::Output {
    let public = site.path("public");
    let before = snapshot(&public);
    let output = site.run(&["export"]);
    assert!(output.status.success(), "{step}: {output:?}");
    let after = snapshot(&public);

    let fresh = site.path("fresh");
    let _ = fs::remove_dir_all(&fresh);
    let fresh_output = site.run(&["export", "fresh"]);
    assert!(fresh_output.status.success(), "{step}: {fresh_output:?}");
    let expected = contents(&fresh);
    let got: BTreeMap<PathBuf, Vec<u8>> = after
        .iter()
        .map(|(path, (bytes, _, _))| (path.clone(), bytes.clone()))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{step}: the re-export's files are a fresh export's"
    );
    for (path, bytes) in &expected {
        assert!(got[path] == *bytes, "{step}: {} differs", path.display());
    }
    // A `.gz` or `.br` sibling takes its resource's time: when that moved
    // (the resource's file was changed by hand), so does the sibling's.
    let resource_moved = |path: &Path| {
        let resource = path.with_extension("");
        path.extension().is_some_and(|e| e == "gz" || e == "br")
            && before.get(&resource).map(|(_, time, _)| time)
                != after.get(&resource).map(|(_, time, _)| time)
    };
    let mut linked = 0;
    for (path, (bytes, time, inode)) in &after {
        match before.get(path) {
            Some((old, _, _)) if old == bytes && resource_moved(path) => {}
            Some((old, old_time, old_inode)) if old == bytes => {
                assert_eq!(
                    (time, inode),
                    (old_time, old_inode),
                    "{step}: {} unchanged: linked, its time kept",
                    path.display()
                );
                linked += 1;
            }
            Some((_, old_time, old_inode)) => {
                assert!(time > old_time, "{step}: {} changed: newer", path.display());
                assert_ne!(inode, old_inode, "{step}: {}", path.display());
            }
            None => {}
        }
    }
    if !after.keys().any(|path| resource_moved(path)) {
        assert_eq!(unchanged_count(&output.stdout), linked, "{step}");
    }
    fs::remove_dir_all(&fresh).expect("remove the fresh export");
    output
}

/// The bundled site with short feeds, archive pages and paged lists, so
/// that every kind of page is there to keep.
fn paged_site() -> Site {
    let site = Site::bundled();
    let config = site.read("config.toml").replace(
        "limit = 20",
        "limit = 2\narchive_page_size = 1\npage_size = 2",
    );
    site.write("config.toml", &config);
    site
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_reexport_from_the_cache_writes_what_a_fresh_export_writes() {
    let site = paged_site();
    let public = site.export();
    let cache = site.path(".public.broadsheet-cache");
    assert!(cache.is_file(), "the cache is beside the export");
    assert!(
        !public.join(".public.broadsheet-cache").exists(),
        "and never inside it"
    );
    let files = contents(&public).len();

    // Nothing changed: every page is kept, only the few documents made
    // every time (feeds, sitemap, OPML, assets) are rendered.
    let output = reexport_as_fresh(&site, "no change");
    let kept = not_rendered_count(&output.stdout);
    assert!(kept > files * 3 / 4, "{kept} of {files} kept");
    assert_eq!(unchanged_count(&output.stdout), files);

    site.append(
        "content/hi-tech/future-air-taxi-unveiled.md",
        "\nOne more sentence, added by the test.\n",
    );
    let output = reexport_as_fresh(&site, "one edit");
    let edited = not_rendered_count(&output.stdout);
    assert!(
        edited > kept / 2 && edited < kept,
        "{edited} of {kept} kept"
    );

    site.write(
        "content/opinion/a-new-column.md",
        "+++\ntitle = \"A New Column\"\ndate = 2024-05-21T09:00:00+08:00\nauthors = [\"Staff Reporters\"]\ntags = [\"aviation\", \"a new tag\"]\n+++\n\nA new column, added by the test.\n",
    );
    let output = reexport_as_fresh(&site, "one article added");
    assert!(not_rendered_count(&output.stdout) > 0);
    assert!(public.join("opinion/a-new-column/index.html").is_file());

    fs::remove_file(site.path("content/comment/us-curbs-on-ai-models.md")).expect("remove");
    let output = reexport_as_fresh(&site, "one article removed");
    assert!(not_rendered_count(&output.stdout) > 0);
    assert!(!public.join("comment/us-curbs-on-ai-models").exists());

    // The settings are in every page's fingerprint.
    let config = site.read("config.toml").replace("INSIGHTS", "OUTLOOK");
    site.write("config.toml", &config);
    let output = reexport_as_fresh(&site, "config changed");
    assert_eq!(not_rendered_count(&output.stdout), 0);

    // Files deleted or changed by hand in the previous export are written
    // again, not kept.
    let page = "opinion/china-russia-energy-cooperation/index.html";
    let archived = contents(&public)
        .into_keys()
        .find(|path| path.to_string_lossy().contains("archive"))
        .expect("an archive page");
    fs::remove_file(public.join(page)).expect("delete by hand");
    fs::remove_file(public.join(&archived)).expect("delete by hand");
    fs::remove_file(public.join("tags/index.html.gz")).expect("delete a sibling by hand");
    let tampered = public.join("hi-tech/future-air-taxi-unveiled/index.html");
    let mut bytes = fs::read(&tampered).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    fs::write(&tampered, &bytes).expect("change by hand");
    let output = reexport_as_fresh(&site, "files deleted and changed by hand");
    assert!(not_rendered_count(&output.stdout) > 0);
    assert!(public.join(page).is_file() && public.join(&archived).is_file());
    assert!(public.join("tags/index.html.gz").is_file());
}

#[test]
fn a_cache_that_is_damaged_another_builds_another_exports_or_missing_is_not_used() {
    let site = paged_site();
    site.export();
    let cache = site.path(".public.broadsheet-cache");
    let good = fs::read(&cache).expect("cache");
    let header_end = good.iter().position(|b| *b == b'\n').expect("a first line");

    // A byte changed after the first line.
    let mut damaged = good.clone();
    let at = header_end + (good.len() - header_end) / 2;
    damaged[at] ^= 0x01;
    fs::write(&cache, &damaged).expect("damage");
    let output = reexport_as_fresh(&site, "damaged cache");
    assert!(
        stderr(&output).contains("is damaged"),
        "{}",
        stderr(&output)
    );
    assert_eq!(not_rendered_count(&output.stdout), 0);
    // The export wrote a good one again.
    assert!(not_rendered_count(&reexport_as_fresh(&site, "after damage").stdout) > 0);

    // Another release (or format) wrote it.
    let good = fs::read(&cache).expect("cache");
    let text = String::from_utf8_lossy(&good[..header_end]).into_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert!(text.contains(&format!(" {version} ")), "{text}");
    for (other, reason) in [
        (
            text.replace(&format!(" {version} "), " 99.0.0 "),
            "another build",
        ),
        (text.replacen("cache ", "cache 9", 1), "another format"),
    ] {
        let mut replaced = other.into_bytes();
        replaced.extend_from_slice(&good[header_end..]);
        fs::write(&cache, &replaced).expect("rewrite");
        let output = reexport_as_fresh(&site, reason);
        assert!(stderr(&output).contains(reason), "{}", stderr(&output));
        assert_eq!(not_rendered_count(&output.stdout), 0, "{reason}");
    }

    // The cache of an earlier export (as when a kill came between the swap
    // of the export and that of its cache).
    let earlier = fs::read(&cache).expect("cache");
    site.append(
        "content/hi-tech/future-air-taxi-unveiled.md",
        "\nAn edit between the two.\n",
    );
    reexport_as_fresh(&site, "an edit");
    fs::write(&cache, &earlier).expect("put the earlier cache back");
    let output = reexport_as_fresh(&site, "another export's cache");
    assert!(
        stderr(&output).contains("is not the cache of the export beside it"),
        "{}",
        stderr(&output)
    );
    assert_eq!(not_rendered_count(&output.stdout), 0);

    // None at all (removed, or never written by an earlier release): no
    // reason to warn.
    fs::remove_file(&cache).expect("remove the cache");
    let output = reexport_as_fresh(&site, "no cache");
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    assert_eq!(not_rendered_count(&output.stdout), 0);
    assert!(cache.is_file(), "written again");
}

#[test]
fn a_failed_export_leaves_the_export_and_its_cache_as_they_were() {
    let site = paged_site();
    let public = site.export();
    reexport_as_fresh(&site, "a spare tree");
    let spare = site.path(".public.broadsheet-spare");
    let spare_files = files_in(&spare).len();
    let cache = site.path(".public.broadsheet-cache");
    let (before, cache_before) = (snapshot(&public), fs::read(&cache).expect("cache"));
    site.write(
        "content/opinion/broken.md",
        "+++\ntitle = \"Broken\"\ndate = not a date\n+++\nText.\n",
    );
    let output = site.run(&["export"]);
    assert!(!output.status.success());
    assert_eq!(snapshot(&public), before);
    assert_eq!(fs::read(&cache).expect("cache"), cache_before);
    assert_eq!(
        files_in(&spare).len(),
        spare_files,
        "the spare tree is back"
    );
    fs::remove_file(site.path("content/opinion/broken.md")).expect("fix");
    let output = reexport_as_fresh(&site, "after the fix");
    assert!(not_rendered_count(&output.stdout) > 0, "the cache was kept");
}

#[test]
fn files_added_by_hand_to_an_export_never_reach_a_later_one_through_the_spare_tree() {
    let site = paged_site();
    let public = site.export();
    reexport_as_fresh(&site, "first re-export");
    let spare = site.path(".public.broadsheet-spare");
    assert!(spare.is_dir(), "the old tree is kept as the spare tree");

    // Added to the export in service, which the next re-export sets aside
    // as the spare tree, and the one after makes into its new tree.
    fs::write(public.join("stray.html"), "added by hand").expect("stray");
    fs::create_dir_all(public.join("opinion/stray")).expect("stray folder");
    fs::write(public.join("opinion/stray/x.html"), "added by hand").expect("stray");
    let replaced = public.join("hi-tech/index.html");
    fs::remove_file(&replaced).expect("unlink");
    fs::write(&replaced, "replaced by hand").expect("replace");
    for step in ["strays in service", "strays in the spare tree", "after"] {
        let output = reexport_as_fresh(&site, step);
        assert!(not_rendered_count(&output.stdout) > 0, "{step}");
        assert!(!public.join("stray.html").exists(), "{step}");
        assert!(!public.join("opinion/stray").exists(), "{step}");
    }

    // The spare tree removed, or put in place of another, by hand.
    fs::remove_dir_all(&spare).expect("remove the spare tree");
    reexport_as_fresh(&site, "no spare tree");
    fs::remove_dir_all(&spare).expect("remove the spare tree");
    fs::create_dir_all(spare.join("other")).expect("another tree");
    fs::write(spare.join("other/x.html"), "x").expect("another tree");
    reexport_as_fresh(&site, "another tree as the spare");
    assert!(!public.join("other").exists());
    reexport_as_fresh(&site, "after another tree");
}

/// An edit that changes a spilled page's bytes but not
/// its length (nor where it stands in its spill chunk, the pages being
/// rendered in the same order), twice and back: each re-export writes what
/// a fresh export writes, and the article page is written again.
#[test]
fn a_same_length_edit_of_a_spilled_page_is_exported_as_fresh() {
    let site = paged_site();
    let public = site.export();
    let article = "content/hi-tech/future-air-taxi-unveiled.md";
    let page = Path::new("hi-tech/future-air-taxi-unveiled/index.html");
    let original = site.read(article);
    for (step, word) in ["runwax", "RUNWAY", "runway"].iter().enumerate() {
        let before = fs::read(public.join(page)).expect("page");
        site.write(article, &original.replace("runway", word));
        reexport_as_fresh(&site, &format!("same length {step}"));
        let after = fs::read(public.join(page)).expect("page");
        assert_eq!(before.len(), after.len(), "step {step}");
        assert!(
            String::from_utf8_lossy(&after).contains(word),
            "step {step}: the page shows the edit"
        );
    }
}
