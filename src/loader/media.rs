//! An article's files: the folder `content/<section>/<slug>/` beside
//! `<slug>.md` holds the images, recordings and documents the article shows
//! or links to, published beside its page where its relative references
//! point. Names are checked (they are part of URLs, and some would be taken
//! for the article's page, a feed or a precompressed copy); files are read
//! whole, and again only when their `stat` changes.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use bytes::Bytes;

use super::cache::{CachedMedia, FileStamp, Reuse};
use super::files::{check_inside, read_capped, sorted_entries, ContentEntry};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::format::Format;
use crate::model::Media;

/// The largest file an article's folder may hold: the server keeps every
/// published file in memory.
pub(crate) const MAX_MEDIA_BYTES: u64 = 32 * 1024 * 1024;

/// Where an article's folder is, and whether its files are published now.
pub(super) struct MediaPlace<'a> {
    pub section: &'a str,
    pub content_dir: &'a Path,
    /// False for a draft or a later article: its files are checked, not read.
    pub publish: bool,
}

/// Checks the files of the article whose folder is `dir` and, when it is
/// published, reads them into `media`; unchanged files come from the cache
/// unread.
pub(super) fn load_media(
    dir: &ContentEntry,
    place: &MediaPlace<'_>,
    diagnostics: &mut Diagnostics,
    reuse: &mut Reuse,
    media: &mut Vec<Media>,
) {
    if let Err(error) = check_inside(dir, place.content_dir) {
        diagnostics.push(error);
        return;
    }
    let entries = match sorted_entries(&dir.path) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(Diagnostic::new(
                &dir.path,
                1,
                format!("cannot read the article's folder: {error}"),
            ));
            return;
        }
    };
    // Lower-cased names seen, so that two names differing only in case (one
    // file on a case-insensitive disk, or behind a CDN) are refused.
    let mut seen: HashMap<String, String> = HashMap::new();
    reuse.saw_link |= entries.iter().any(|entry| entry.is_link);
    for entry in entries {
        let lower = entry.name.to_ascii_lowercase();
        if let Some(message) = refusal(&entry, &lower, &seen) {
            diagnostics.push(Diagnostic::new(&entry.path, 1, message));
            continue;
        }
        seen.insert(lower, entry.name.clone());
        if let Err(error) = check_inside(&entry, place.content_dir) {
            diagnostics.push(error);
            continue;
        }
        let file = match media_file(&entry.path) {
            Ok(file) => file,
            Err(error) => {
                diagnostics.push(error);
                continue;
            }
        };
        if !place.publish {
            continue;
        }
        let cached = cached_or_read(&entry.path, file, reuse);
        match cached {
            Ok(cached) => {
                media.push(Media {
                    path: format!("{}/{}/{}", place.section, dir.name, entry.name),
                    bytes: cached.bytes.clone(),
                });
                reuse.media_next.insert(entry.path, cached);
            }
            Err(error) => diagnostics.push(error),
        }
    }
}

/// Why the file or folder `entry` of an article's folder cannot be
/// published (`lower` is its name in lower case, `seen` the names before it),
/// or `None` when it can.
fn refusal(entry: &ContentEntry, lower: &str, seen: &HashMap<String, String>) -> Option<String> {
    let message = if entry.is_dir {
        "folders inside an article's folder are not read: put its files directly in it"
    } else if lower.ends_with(".md") {
        "an article's folder holds its files, not articles: move this one to the section folder"
    } else if lower.starts_with("index.html") {
        "`index.html` is the article's own page: rename this file"
    } else if lower.ends_with(".gz") || lower.ends_with(".br") {
        "names ending in `.gz` and `.br` are those of precompressed copies, which web servers send in place of the file: rename this one"
    } else if Format::ALL.iter().any(|format| format.file_name() == lower) {
        "this is the name of a feed, which web servers serve as one: rename this file"
    } else if !is_media_name(&entry.name) {
        "a file name in an article's folder is part of its URL: use ASCII letters, digits, `-`, `_` and `.`"
    } else {
        return seen.get(lower).map(|first| {
            format!("differs from `{first}` only in case: the two are one file on some disks and servers")
        });
    };
    Some(message.to_string())
}

/// The article's file at `path` from the cache when its stamp is settled and
/// unchanged, else read.
fn cached_or_read(
    path: &Path,
    file: MediaFile,
    reuse: &mut Reuse,
) -> Result<CachedMedia, Diagnostic> {
    let stamp = Some(file.stamp).filter(|stamp| stamp.is_settled(std::time::SystemTime::now()));
    match reuse.media_previous.remove(path) {
        Some(cached) if stamp.is_some() && cached.stamp == stamp => Ok(cached),
        previous => {
            reuse.read.push((path.to_path_buf(), Some(file.stamp)));
            read_media(path, file).map(|bytes| {
                // The same bytes as before keep their allocation: the served
                // set holds that one, and should not hold a second copy.
                let bytes = match previous {
                    Some(previous) if previous.bytes == bytes => previous.bytes,
                    _ => bytes,
                };
                CachedMedia { stamp, bytes }
            })
        }
    }
}

/// A file name that can stand in a URL as it is, and is no hidden file.
fn is_media_name(name: &str) -> bool {
    !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// What `stat` says of an article's file, once it is known to be a regular
/// file of an allowed size.
#[derive(Debug, Clone, Copy)]
struct MediaFile {
    stamp: FileStamp,
}

/// Checks, without opening it, that `path` is a regular file (a named pipe
/// would block the build) within [`MAX_MEDIA_BYTES`].
fn media_file(path: &Path) -> Result<MediaFile, Diagnostic> {
    let meta = fs::metadata(path)
        .map_err(|error| Diagnostic::new(path, 1, format!("cannot read file: {error}")))?;
    if !meta.is_file() {
        return Err(Diagnostic::new(
            path,
            1,
            "not a regular file: an article's folder holds files",
        ));
    }
    if meta.len() > MAX_MEDIA_BYTES {
        return Err(Diagnostic::new(
            path,
            1,
            format!(
                "file is larger than the {} MiB an article's file may be",
                MAX_MEDIA_BYTES >> 20
            ),
        ));
    }
    Ok(MediaFile {
        stamp: FileStamp::of(&meta),
    })
}

/// Reads an article's file whole.
fn read_media(path: &Path, file: MediaFile) -> Result<Bytes, Diagnostic> {
    match read_capped(path, file.stamp.len, MAX_MEDIA_BYTES)? {
        Some(bytes) => Ok(Bytes::from(bytes)),
        None => Err(Diagnostic::new(
            path,
            1,
            "file grew past the limit while it was read",
        )),
    }
}
