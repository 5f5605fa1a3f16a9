//! Walking and reading the content directory: sorted listings that skip
//! hidden files and editor leftovers, symbolic links kept inside `content/`,
//! and capped reads of text that XML can carry. Every failure is a
//! [`Diagnostic`] naming the file. Nothing here knows what a file means.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diagnostic::{line_of_offset, Diagnostic, Diagnostics};
use crate::xml_char::is_xml_char;

/// The largest content file read, in bytes; anything larger is a mistake.
pub(crate) const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// One entry of a content directory: a file or a folder.
pub(super) struct ContentEntry {
    pub path: PathBuf,
    pub name: String,
    pub is_dir: bool,
    /// A symbolic link, to be checked for pointing outside `content/`.
    pub is_link: bool,
}

/// Refuses a symbolic link that leads outside the content directory.
pub(super) fn check_inside(entry: &ContentEntry, content_dir: &Path) -> Result<(), Diagnostic> {
    if !entry.is_link {
        return Ok(());
    }
    match fs::canonicalize(&entry.path) {
        Ok(real) if !real.starts_with(content_dir) => Err(Diagnostic::new(
            &entry.path,
            1,
            format!("links to {}, outside the content directory", real.display()),
        )),
        // A dangling link is reported when the file is read.
        _ => Ok(()),
    }
}

/// The entries of `dir` that are content, sorted by name. Hidden files and
/// editor leftovers are skipped, so a half-saved file never becomes an article.
pub(super) fn sorted_entries(dir: &Path) -> std::io::Result<Vec<ContentEntry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_skipped(&name) {
            continue;
        }
        let path = dir.join(&name);
        // The entry's own type costs no system call; only a link is followed.
        let file_type = entry.file_type()?;
        let is_link = file_type.is_symlink();
        let is_dir = if is_link {
            fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false)
        } else {
            file_type.is_dir()
        };
        entries.push(ContentEntry {
            path,
            name,
            is_dir,
            is_link,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Hidden files and editor leftovers (`.x`, `.#x`, `#x#`, `x~`, `x.swp`),
/// which no listing of a content directory holds.
fn is_skipped(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('#') || name.ends_with('~') || name.ends_with(".swp")
}

/// What a changed path is, as far as the one who asks knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A file (or a link to one).
    File,
    /// A folder (or a link to one).
    Folder,
    /// Gone, or not known.
    Unknown,
}

/// True when the loader reads or checks the entry at `relative`, a path
/// inside `content/` (empty for `content/` itself), so that a change to it
/// can change what a build gives; the file watcher asks this of every
/// change. It follows what the loader lists: the sections (any folder, and
/// `.md` files, which are refused) in `content/`; `_index.md`, the
/// articles (`*.md`) and the articles' folders in a section; every entry of
/// an article's folder (its files, and folders, which are refused). Nothing
/// under a hidden file or an editor leftover ([`sorted_entries`] skips
/// them), no other file of `content/` or a section (`notes.txt`), nothing
/// deeper. An entry of [`PathKind::Unknown`] kind counts as a folder: a
/// removed folder may have been a section.
pub fn is_read(relative: &Path, kind: PathKind) -> bool {
    let mut depth = 0;
    let mut last = String::new();
    for component in relative.components() {
        let std::path::Component::Normal(name) = component else {
            return true;
        };
        let name = name.to_string_lossy();
        if is_skipped(&name) {
            return false;
        }
        depth += 1;
        last = name.into_owned();
    }
    match depth {
        0 | 3 => true,
        1 | 2 => is_markdown(&last) || kind != PathKind::File,
        _ => false,
    }
}

/// An article (or `_index.md`) by its name; the loader reads no other text file.
pub(super) fn is_markdown(name: &str) -> bool {
    name.ends_with(".md")
}

/// Reads the regular file `path`, of `len` bytes by its metadata, into a
/// buffer of that size, so that it takes one read (growing one from empty
/// took nine reads and as many copies per article). The length is only a
/// hint: a file that grows meanwhile is still capped, and `None` says it
/// went past `max`.
pub(super) fn read_capped(path: &Path, len: u64, max: u64) -> Result<Option<Vec<u8>>, Diagnostic> {
    let cannot_read =
        |error: std::io::Error| Diagnostic::new(path, 1, format!("cannot read file: {error}"));
    let hint = len.min(max + 1);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0) + 1);
    fs::File::open(path)
        .map_err(cannot_read)?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// Reads a content file as UTF-8 text, refusing what could never be an
/// article: a file outside `content/` through a link, a huge file, bytes
/// that are not UTF-8 or characters that XML cannot carry.
pub(super) fn read_content_file(
    entry: &ContentEntry,
    content_dir: &Path,
) -> Result<String, Diagnostics> {
    check_inside(entry, content_dir)?;
    let text = read_text(&entry.path)?;
    check_xml_chars(&entry.path, &text)?;
    Ok(text)
}

/// Reads `path` as UTF-8 text of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let cannot_read =
        |error: std::io::Error| Diagnostic::new(path, 1, format!("cannot read file: {error}"));
    // Checked before opening: opening a named pipe would wait for a writer.
    let meta = fs::metadata(path).map_err(cannot_read)?;
    if !meta.is_file() {
        return Err(Diagnostic::new(path, 1, "not a regular file"));
    }
    let Some(bytes) = read_capped(path, meta.len(), MAX_FILE_BYTES)? else {
        return Err(Diagnostic::new(
            path,
            1,
            format!(
                "file is larger than the {} MiB a content file may be",
                MAX_FILE_BYTES >> 20
            ),
        ));
    };
    String::from_utf8(bytes).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        let line = line_of_offset(
            &String::from_utf8_lossy(&error.as_bytes()[..offset]),
            offset,
        );
        Diagnostic::new(path, line, "file is not valid UTF-8: save it as UTF-8")
    })
}

/// Rejects characters that XML 1.0 forbids (most C0 and C1 controls,
/// U+FFFE, U+FFFF): they could never reach a feed.
pub(super) fn check_xml_chars(path: &Path, text: &str) -> Result<(), Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    for (offset, c) in text.char_indices() {
        if !is_xml_char(c) {
            diagnostics.push(Diagnostic::at_offset(
                path,
                text,
                offset,
                format!(
                    "character U+{:04X} is not allowed in a feed: remove it",
                    c as u32
                ),
            ));
            if diagnostics.len() >= 10 {
                break;
            }
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(diagnostics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_reads_sections_articles_and_their_files_only() {
        let read = |path: &str, kind| is_read(Path::new(path), kind);
        use PathKind::{File, Folder, Unknown};
        for (path, kind) in [
            ("", Folder),
            ("opinion", Folder),
            ("opinion", Unknown),
            ("stray.md", File),
            ("opinion/_index.md", File),
            ("opinion/energy.md", File),
            ("opinion/energy.md", Unknown),
            ("opinion/energy", Folder),
            ("opinion/gone", Unknown),
            ("opinion/energy/photo.jpg", File),
            ("opinion/energy/sub", Folder),
            ("opinion/energy/notes.txt", Unknown),
        ] {
            assert!(read(path, kind), "{path} ({kind:?}) is read");
        }
        for (path, kind) in [
            ("notes.txt", File),
            ("opinion/notes.txt", File),
            ("opinion/.energy.md.swp", File),
            ("opinion/.#energy.md", File),
            ("opinion/#energy.md#", File),
            ("opinion/energy.md~", File),
            ("opinion/4913", File),
            ("opinion/.git", Folder),
            (".git/objects/ab/cdef", File),
            ("opinion/energy/.photo.jpg.tmp", File),
            ("opinion/energy/sub/deeper.jpg", File),
        ] {
            assert!(!read(path, kind), "{path} ({kind:?}) is not read");
        }
    }

    #[test]
    fn control_characters_are_refused() {
        let err = check_xml_chars(Path::new("a.md"), "ok\nbad\u{0}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.md:2: character U+0000 is not allowed in a feed: remove it"
        );
        assert!(check_xml_chars(Path::new("a.md"), "tab\t, 中文, emoji 🎉, rtl \u{200f}").is_ok());
    }
}
