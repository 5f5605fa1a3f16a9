//! Writing a [`BuiltSet`] to a directory, all or nothing.
//!
//! Beside each file that `precompress` selects (by default the feeds, the
//! OPML list and the index pages), `export` writes `.gz` and `.br` siblings
//! made by the same encoder as `serve`'s variants, so a web server or CDN in
//! front of the files (nginx `gzip_static`) sends exactly the bytes `serve`
//! would. A sibling is written only when it is smaller than the file, as
//! `serve` only keeps such variants.
//!
//! The new tree is written beside the target, then swapped in by renaming,
//! so a failed export (a full disk, a permission error) leaves the previous
//! export whole. A directory is only replaced if an earlier export made it
//! (it holds [`MARKER`]) or it is empty: an export never deletes files that
//! someone else put there.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use crate::build::{BuiltSet, ResourceKind};
use crate::encoding::{encode_many, Coding};
use crate::parallel;

/// The file that marks a directory as written by `broadsheet export`.
pub const MARKER: &str = ".broadsheet-export";

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Files written (not counting the marker), precompressed siblings included.
    pub files: usize,
    /// Bytes written.
    pub bytes: usize,
    /// Of `files`, how many are `.gz` or `.br` siblings.
    pub precompressed: usize,
}

/// Why an export failed; in every case the target directory is as it was.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The target holds files that no export wrote.
    #[error("{}: refusing to replace a non-empty directory that broadsheet did not create (it has no {MARKER} file); remove it or export elsewhere", .0.display())]
    NotOurs(PathBuf),
    /// The target exists and is not a directory.
    #[error("{}: exists and is not a directory", .0.display())]
    NotADirectory(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file a URL path is written to, relative to the export directory:
/// `/` is `index.html`, `/opinion/` is `opinion/index.html`.
///
/// ```
/// use std::path::Path;
/// use broadsheet::file_for;
///
/// assert_eq!(file_for("/"), Path::new("index.html"));
/// assert_eq!(file_for("/opinion/"), Path::new("opinion/index.html"));
/// assert_eq!(file_for("/opinion/atom.xml"), Path::new("opinion/atom.xml"));
/// ```
pub fn file_for(url_path: &str) -> PathBuf {
    let relative = url_path.trim_start_matches('/');
    if relative.is_empty() || relative.ends_with('/') {
        PathBuf::from(format!("{relative}index.html"))
    } else {
        PathBuf::from(relative)
    }
}

/// Writes every resource of `built` under `dir`, replacing an earlier export there.
pub fn export(built: &BuiltSet, dir: &Path) -> Result<ExportSummary, ExportError> {
    check_replaceable(dir)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "public".into());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let pid = std::process::id();
    let staging = parent.join(format!(".{name}.broadsheet-new-{pid}"));
    let retired = parent.join(format!(".{name}.broadsheet-old-{pid}"));
    remove_if_present(&staging)?;
    let summary = match write_tree(built, &staging) {
        Ok(summary) => summary,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    if let Err(error) = swap_in(&staging, dir, &retired) {
        let _ = fs::remove_dir_all(&staging);
        return Err(error);
    }
    // The old tree is out of sight already; failing to delete it loses nothing.
    let _ = fs::remove_dir_all(&retired);
    Ok(summary)
}

fn check_replaceable(dir: &Path) -> Result<(), ExportError> {
    match fs::symlink_metadata(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io(dir)(error)),
        Ok(meta) if !meta.is_dir() => Err(ExportError::NotADirectory(dir.to_path_buf())),
        Ok(_) => {
            let empty = fs::read_dir(dir).map_err(io(dir))?.next().is_none();
            if empty || dir.join(MARKER).is_file() {
                Ok(())
            } else {
                Err(ExportError::NotOurs(dir.to_path_buf()))
            }
        }
    }
}

fn remove_if_present(path: &Path) -> Result<(), ExportError> {
    match fs::remove_dir_all(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io(path)(error)),
        _ => Ok(()),
    }
}

fn write_tree(built: &BuiltSet, root: &Path) -> Result<ExportSummary, ExportError> {
    fs::create_dir(root).map_err(io(root))?;
    let mut summary = ExportSummary {
        files: 0,
        bytes: 0,
        precompressed: 0,
    };
    let now = SystemTime::now();
    let mut files: Vec<FileToWrite<'_>> = built
        .resources
        .iter()
        .map(|(url_path, resource)| {
            let mut file = FileToWrite::new(root.join(file_for(url_path)), &resource.body);
            // An article's file keeps its own time, so that a web server
            // serving the export sends the `Last-Modified` that `serve` does.
            // (Never in the future, as `serve` holds it back too.)
            if resource.kind == ResourceKind::Media {
                file.modified = Some(resource.modified_by(now));
            }
            file
        })
        .collect();
    write_all(&mut files)?;
    summary.files += files.len();
    summary.bytes += files.iter().map(|f| f.bytes.len()).sum::<usize>();
    drop(files);

    let selected = built
        .resources
        .iter()
        .filter(|(_, resource)| built.precompress.covers(resource.kind))
        .map(|(path, resource)| (path, resource, true))
        .collect();
    let encoded = encode_many(selected);
    let mut siblings = Vec::new();
    for (url_path, representations) in &encoded {
        let path = root.join(file_for(url_path));
        for coding in [Coding::Gzip, Coding::Brotli] {
            let (Some(representation), Some(extension)) =
                (representations.get(coding), coding.extension())
            else {
                continue;
            };
            let mut sibling = path.clone().into_os_string();
            sibling.push(".");
            sibling.push(extension);
            siblings.push(FileToWrite::new(sibling.into(), &representation.body));
        }
    }
    write_all(&mut siblings)?;
    summary.files += siblings.len();
    summary.precompressed += siblings.len();
    summary.bytes += siblings.iter().map(|f| f.bytes.len()).sum::<usize>();

    write_file(
        &root.join(MARKER),
        b"Written by `broadsheet export`, which replaces this directory whole on every export.\n",
        None,
    )?;
    Ok(summary)
}

/// One file of the export, and how writing it went.
struct FileToWrite<'a> {
    path: PathBuf,
    bytes: &'a [u8],
    /// The modification time to give it; `None`: the time of writing.
    modified: Option<SystemTime>,
    result: Result<(), ExportError>,
}

impl<'a> FileToWrite<'a> {
    fn new(path: PathBuf, bytes: &'a [u8]) -> FileToWrite<'a> {
        FileToWrite {
            path,
            bytes,
            modified: None,
            result: Ok(()),
        }
    }
}

/// Writes `files` (and their directories) on every core: creating a hundred
/// thousand files is most of an export's time. Once one fails, the others
/// are not tried (on a full disk each would fail in turn). The error
/// reported is that of the first file, in order, that failed.
fn write_all(files: &mut [FileToWrite<'_>]) -> Result<(), ExportError> {
    let failed = AtomicBool::new(false);
    parallel::for_each(files, |file| {
        if failed.load(Ordering::Relaxed) {
            return;
        }
        file.result = create_parent(&file.path)
            .and_then(|()| write_file(&file.path, file.bytes, file.modified));
        if file.result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
    });
    files
        .iter_mut()
        .find(|file| file.result.is_err())
        .map_or(Ok(()), |file| std::mem::replace(&mut file.result, Ok(())))
}

/// `create_dir_all` of the file's directory: safe when two threads create
/// the same directory at once.
fn create_parent(path: &Path) -> Result<(), ExportError> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(io(parent)),
        None => Ok(()),
    }
}

fn write_file(path: &Path, bytes: &[u8], modified: Option<SystemTime>) -> Result<(), ExportError> {
    let mut file = fs::File::create(path).map_err(io(path))?;
    // No fsync per file: it would multiply the time of a large export, and
    // the file systems in use reserve space at write time, so a full disk
    // fails here, before the swap.
    file.write_all(bytes).map_err(io(path))?;
    match modified {
        Some(time) => file.set_modified(time).map_err(io(path)),
        None => Ok(()),
    }
}

/// Puts `staging` at `dir`, moving an existing `dir` to `retired` first and
/// back again if the second rename fails.
fn swap_in(staging: &Path, dir: &Path, retired: &Path) -> Result<(), ExportError> {
    let had_old = dir.exists();
    if had_old {
        remove_if_present(retired)?;
        fs::rename(dir, retired).map_err(io(dir))?;
    }
    if let Err(error) = fs::rename(staging, dir) {
        if had_old {
            let _ = fs::rename(retired, dir);
        }
        return Err(io(dir)(error));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_map_to_files() {
        assert_eq!(file_for("/"), PathBuf::from("index.html"));
        assert_eq!(file_for("/opinion/"), PathBuf::from("opinion/index.html"));
        assert_eq!(
            file_for("/opinion/rss.xml"),
            PathBuf::from("opinion/rss.xml")
        );
    }
}
