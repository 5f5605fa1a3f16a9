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
