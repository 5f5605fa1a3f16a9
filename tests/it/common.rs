//! Fixture sites for the integration tests: a temporary site directory,
//! either the repository's own bundled site or a minimal one built up file
//! by file, and a way to run the real `broadsheet` binary against it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The repository's root, where `config.toml` and `content/` live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A minimal valid `config.toml`.
pub const MINIMAL_CONFIG: &str = "title = \"Test Times\"\n\
description = \"A test site\"\n\
base_url = \"https://news.example.org/\"\n\
tag_authority = \"news.example.org\"\n";

/// A site directory in a temporary folder, removed when dropped.
pub struct SiteDir {
    dir: TempDir,
}

impl SiteDir {
    /// A site with only `config.toml` and an empty `content/`.
    pub fn minimal() -> SiteDir {
        let site = SiteDir {
            dir: TempDir::new().expect("create temp dir"),
        };
        site.write("config.toml", MINIMAL_CONFIG);
        fs::create_dir_all(site.path("content")).expect("create content/");
        site
    }

    /// A copy of the repository's bundled site (`config.toml` and `content/`).
    pub fn bundled() -> SiteDir {
        let site = SiteDir {
            dir: TempDir::new().expect("create temp dir"),
        };
        fs::copy(repo_root().join("config.toml"), site.path("config.toml")).expect("copy config");
        copy_dir(&repo_root().join("content"), &site.path("content"));
        site
    }

    /// The site's root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the site.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `text` to `relative`, creating folders as needed.
    pub fn write(&self, relative: &str, text: &str) -> &SiteDir {
        self.write_bytes(relative, text.as_bytes())
    }

    /// Writes raw bytes to `relative`, creating folders as needed.
    pub fn write_bytes(&self, relative: &str, bytes: &[u8]) -> &SiteDir {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(path, bytes).expect("write fixture file");
        self
    }

    /// Adds a section folder with its `_index.md`.
    pub fn section(&self, slug: &str, title: &str) -> &SiteDir {
        self.write(
            &format!("content/{slug}/_index.md"),
            &format!("+++\ntitle = \"{title}\"\n+++\n"),
        )
    }

    /// Reads a file of the site as text.
    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// Runs the `broadsheet` binary with `--root` set to this site, from the site's root.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .current_dir(self.root())
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run broadsheet")
    }

    /// Runs `broadsheet export` and returns the export directory; panics with the output on failure.
    pub fn export(&self) -> PathBuf {
        let output = self.run(&["export"]);
        assert!(
            output.status.success(),
            "export failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.path("public")
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// Every file under `dir`, as sorted relative paths with their bytes.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    files
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let bytes = fs::read(&path).expect("read file");
            files.push((
                path.strip_prefix(root).expect("under root").to_path_buf(),
                bytes,
            ));
        }
    }
}

/// Parses a feed with `feed-rs`, an independent parser.
pub fn parse_feed(bytes: &[u8]) -> feed_rs::model::Feed {
    feed_rs::parser::parse(bytes).unwrap_or_else(|e| panic!("feed-rs cannot parse the feed: {e}"))
}
