//! The incremental parse cache: what one load leaves for the next, so that
//! a reload after editing one article reads and parses one article. A file
//! whose `stat` is unchanged (and settled) is not read; a file read again
//! whose text is unchanged is not parsed again. Nothing here reads content;
//! it only remembers what the rest of the loader read.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::article::ParsedArticle;
use super::changes::{replace_articles, Changes, FileRead, LoadedSection};
use crate::model::{Article, Html};

/// Articles parsed by an earlier load, reused by the next one when a file's
/// text and the configuration are unchanged, so that a reload after editing
/// one article parses one article. Files are still read (to compare their
/// text), which costs far less than parsing and rendering Markdown.
#[derive(Debug, Default)]
pub struct ParseCache {
    /// The base URL to build with instead of config.toml's `base_url` (a
    /// server's effective one); set before the first load and kept, so the
    /// articles cached, whose links are absolute under it, stay right.
    pub(crate) base_url: Option<crate::config::BaseUrl>,
    pub(super) config_hash: u64,
    pub(super) articles: HashMap<PathBuf, CachedArticle>,
    /// Articles' files (images, audio), read again only when their stat changes.
    pub(super) media: HashMap<PathBuf, CachedMedia>,
    pub(super) parsed_last_load: usize,
    /// The signature of the tags and authors of the last load, when they
    /// had no collision: the next load with the same skips the check.
    pub(super) terms_clean: Option<u64>,
    /// What the last load of each section folder left, by folder name.
    pub(super) sections: HashMap<String, LoadedSection>,
    /// What changed since the last load, when a watcher said
    /// ([`ParseCache::note_changes`]); `None`: anything may have.
    pub(super) changes: Option<Changes>,
    /// Every file the last load read, with its stamp from before the read.
    pub(super) read_last_load: Vec<FileRead>,
}

#[derive(Debug)]
pub(super) struct CachedMedia {
    pub stamp: Option<FileStamp>,
    pub bytes: Bytes,
}

#[derive(Debug)]
pub(super) struct CachedArticle {
    pub text_hash: u64,
    /// The file's metadata when it was read.
    pub stamp: Option<FileStamp>,
    pub parsed: ParsedArticle,
    /// A fingerprint of the file's path and its tags' and authors' names,
    /// for the collision check to see that no name changed.
    pub names: u64,
}

impl CachedArticle {
    pub fn new(
        path: &std::path::Path,
        text_hash: u64,
        stamp: Option<FileStamp>,
        parsed: ParsedArticle,
    ) -> CachedArticle {
        let article = &parsed.article;
        let authors: Vec<&str> = article.authors.iter().map(|a| a.name.as_str()).collect();
        let names = crate::fingerprint::of(&(path, &article.tags, authors));
        CachedArticle {
            text_hash,
            stamp,
            parsed,
            names,
        }
    }
}

/// What `stat` says of a file: when its size, times and inode are all as
/// they were, the file was not written since (the rule `make` and git use),
/// and the next load does not read it at all. A file changed in the last
/// [`RACY_WINDOW`] is not trusted this way (a write in the same clock tick
/// may not show in its time stamps yet): it is read and compared again. The
/// window is measured on the change time, which, unlike the modification
/// time, no tool can set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    pub len: u64,
    pub inode: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

/// How long ago a file must have changed for its stamp to be trusted.
const RACY_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

impl FileStamp {
    /// The stamp of `path`, following links.
    pub(super) fn read(path: &Path) -> Option<FileStamp> {
        fs::metadata(path).ok().map(|meta| FileStamp::of(&meta))
    }

    /// The stamp in metadata already read.
    pub(super) fn of(meta: &fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            len: meta.len(),
            inode: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// True when the file last changed more than [`RACY_WINDOW`] before `now`.
    pub(super) fn is_settled(&self, now: std::time::SystemTime) -> bool {
        let changed = std::time::UNIX_EPOCH
            + std::time::Duration::new(
                u64::try_from(self.ctime.0).unwrap_or(0),
                u32::try_from(self.ctime.1).unwrap_or(0),
            );
        now.duration_since(changed)
            .is_ok_and(|age| age > RACY_WINDOW)
    }
}

impl ParseCache {
    /// How many parsed articles the cache holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.articles.len()
    }

    /// How many articles the last load had to parse (the rest were reused).
    #[cfg(test)]
    pub(crate) fn parsed_last_load(&self) -> usize {
        self.parsed_last_load
    }

    /// Has the cached article of each named file keep its body as the given
    /// `Html` (the same text, held inside its rendered page), so the body is
    /// in memory once. The incremental build, which owns this cache and the
    /// pages, hands the bodies back after rendering.
    pub(crate) fn share_bodies(&mut self, bodies: Vec<(PathBuf, Html)>) {
        let mut replaced = Vec::new();
        for (path, html) in bodies {
            if let Some(cached) = self.articles.get_mut(&path) {
                let same = cached.parsed.article.content_html.as_str() == html.as_str();
                // A body in a spilled page was read for that comparison
                // only: it leaves the process's memory again.
                crate::spill::release(html.bytes());
                if same {
                    let mut article = Article::clone(&cached.parsed.article);
                    article.content_html = html;
                    let article = Arc::new(article);
                    let old = std::mem::replace(&mut cached.parsed.article, article.clone());
                    replaced.push((old, article));
                }
            }
        }
        replace_articles(&mut self.sections, replaced);
    }
}

/// The cache as the load of one section folder uses it: what the previous
/// load left (each file's entry is taken out as the file is listed), and
/// what this load parsed or reused, which goes back into the cache for the
/// next load (so files that are gone drop out).
pub(super) struct Reuse<'c> {
    pub previous: &'c mut HashMap<PathBuf, CachedArticle>,
    pub next: HashMap<PathBuf, CachedArticle>,
    pub media_previous: &'c mut HashMap<PathBuf, CachedMedia>,
    pub media_next: HashMap<PathBuf, CachedMedia>,
    pub parsed: usize,
    /// Whether a symbolic link was among the entries listed.
    pub saw_link: bool,
    /// Every file read, with its stamp from before the read.
    pub read: Vec<(PathBuf, Option<FileStamp>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_changed_before_the_racy_window_are_trusted_by_stamp() {
        let now = std::time::SystemTime::now();
        let secs = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let stamp = |changed: i64| FileStamp {
            len: 10,
            inode: 1,
            mtime: (0, 0),
            ctime: (changed, 0),
        };
        assert!(stamp(secs - 3600).is_settled(now));
        assert!(!stamp(secs).is_settled(now));
        assert!(
            !stamp(secs + 60).is_settled(now),
            "a change time in the future"
        );
    }
}
