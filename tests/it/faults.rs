//! Faults during export: a disk that fills up mid-export must leave the
//! previous export whole, with no half-written tree left behind.
//!
//! The full disk is a small tmpfs mounted in a private mount namespace
//! (`unshare --user --map-root-user --mount`), so the test needs no
//! privileges and leaves nothing mounted behind it.

use std::process::Command;

use crate::fixture::{files_in, Site};

#[test]
fn disk_full_during_export_keeps_the_previous_export() {
    let site = Site::bundled();
    let work = tempfile::TempDir::new().expect("temp dir");
    let mount_point = work.path().join("disk");
    let out = work.path().join("out");
    std::fs::create_dir_all(&mount_point).expect("mount point");
    std::fs::create_dir_all(&out).expect("out dir");
    // An article big enough that its page and feeds cannot fit the disk,
    // yet under the default `[limits] article_html_bytes` (4 MiB), so that
    // what fails is the disk and not the check.
    let big = work.path().join("big.md");
    let body = "A paragraph that fills the disk. ".repeat(100_000);
    std::fs::write(
        &big,
        format!("+++\ntitle = \"Big\"\ndate = 2024-05-21\n+++\n\n{body}\n"),
    )
    .expect("write");

    let script = r#"
        set -u
        mount -t tmpfs -o size=4m tmpfs "$MNT" || exit 90
        "$BIN" --root "$SITE" export "$MNT/public" > "$OUT/first.out" 2>&1 || exit 91
        cp -a "$MNT/public" "$OUT/before"
        cp "$BIG" "$SITE/content/opinion/big.md"
        "$BIN" --root "$SITE" export "$MNT/public" > "$OUT/second.out" 2>&1
        echo $? > "$OUT/second.status"
        cp -a "$MNT/public" "$OUT/after"
        ls -A "$MNT" > "$OUT/listing"
    "#;
    let status = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .env("MNT", &mount_point)
        .env("OUT", &out)
        .env("BIG", &big)
        .env("SITE", site.root())
        .env("BIN", env!("CARGO_BIN_EXE_broadsheet"))
        .env("RUST_LOG", "warn")
        .status()
        .expect("run unshare (util-linux)");
    let first = std::fs::read_to_string(out.join("first.out")).unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(0),
        "setting up the small disk failed: {first}"
    );

    let second_status = std::fs::read_to_string(out.join("second.status")).expect("status");
    assert_eq!(
        second_status.trim(),
        "1",
        "the export on a full disk did not fail"
    );
    let second = std::fs::read_to_string(out.join("second.out")).expect("output");
    assert!(second.contains("No space left on device"), "{second}");
    assert!(
        second.contains("export failed;") && second.contains("is as it was"),
        "{second}"
    );
    assert_eq!(
        files_in(&out.join("before")),
        files_in(&out.join("after")),
        "the previous export changed"
    );
    // The first export's cache stays beside it, as it was; no partial tree
    // or cache file is left.
    let listing = std::fs::read_to_string(out.join("listing")).expect("listing");
    assert_eq!(
        listing.split_whitespace().collect::<Vec<_>>(),
        [".public.broadsheet-cache", "public"],
        "a partial tree was left behind: {listing}"
    );
}
