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
//! export whole. On Linux the swap is one `renameat2(RENAME_EXCHANGE)`: a
//! reader of `public/rss.xml` finds the old file or the new one, never
//! none, and a kill at any moment leaves a whole `public/`. Elsewhere (or
//! on a file system that does not support the exchange) it is two renames,
//! with a moment in between when the target is missing.
//!
//! A directory is only replaced if an earlier export made it (it holds
//! [`MARKER`]) or it is empty: an export never deletes files that someone
//! else put there. Trees left beside the target by an export that was
//! killed (`.public.broadsheet-new-<pid>`, `.public.broadsheet-old-<pid>`)
//! are removed by the next export once their process is gone.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crate::build::BuiltSet;
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
    /// The target is a symbolic link.
    #[error("{}: is a symbolic link to {}; an export replaces its target directory whole, and would replace the link rather than write where it points: export to {} directly, or remove the link", path.display(), points_to.display(), points_to.display())]
    SymbolicLink {
        /// The target as given.
        path: PathBuf,
        /// What the link says.
        points_to: PathBuf,
    },
    /// The target would break the site: it is the site directory, one of
    /// its parents, or in `content/`.
    #[error("{}: {reason}; export elsewhere, such as {}", path.display(), suggestion.display())]
    InsideSite {
        /// The target as given.
        path: PathBuf,
        /// Why it is refused.
        reason: &'static str,
        /// The default target, `public` in the site directory.
        suggestion: PathBuf,
    },
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

/// Refuses a target directory that would break the site in `root`: the
/// site directory itself or one of its parents (replacing it deletes
/// `config.toml` and `content/`), or `content/` or a folder in it (the next
/// build would read the export as content). Paths are compared once made
/// absolute with links resolved, so `./content/../content/x` is caught too.
pub fn check_target(root: &Path, dir: &Path) -> Result<(), ExportError> {
    let refuse = |reason| {
        Err(ExportError::InsideSite {
            path: dir.to_path_buf(),
            reason,
            suggestion: crate::loader::display_root(root).join("public"),
        })
    };
    let root_abs = fs::canonicalize(root).map_err(io(root))?;
    let content = root_abs.join("content");
    let content_abs = fs::canonicalize(&content).unwrap_or(content);
    let target = resolved(dir).map_err(io(dir))?;
    if target == root_abs {
        refuse("this is the site directory: replacing it would delete config.toml and content/")
    } else if root_abs.starts_with(&target) {
        refuse("this folder holds the site directory: replacing it would delete the site")
    } else if target.starts_with(&content_abs) {
        refuse("this is in the site's content/ folder: the next build would read the export as content")
    } else {
        Ok(())
    }
}

/// `path` made absolute, with links resolved in the part of it that exists.
fn resolved(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        match fs::canonicalize(existing) {
            Ok(mut found) => {
                for part in rest.iter().rev() {
                    found.push(part);
                }
                return Ok(found);
            }
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => return Ok(absolute),
            },
        }
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
    remove_stale(&parent, &name);
    remove_if_present(&staging)?;
    let previous = dir.join(MARKER).is_file().then_some(dir);
    let summary = match write_tree(built, &staging, previous) {
        Ok(summary) => summary,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    let old_tree = match swap_in(&staging, dir, &retired) {
        Ok(old_tree) => old_tree,
        Err(error) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    // The old tree is out of sight already; failing to delete it loses
    // nothing (and the next export removes it).
    if let Some(old_tree) = old_tree {
        let _ = fs::remove_dir_all(old_tree);
    }
    Ok(summary)
}

/// Removes what exports into `parent/name` left behind when they were
/// killed: their staging (`.<name>.broadsheet-new-<pid>`) and retired
/// (`.<name>.broadsheet-old-<pid>`) trees, each once its process is gone.
/// A tree whose process still runs (another export at work) is left alone;
/// so is one that cannot be removed (the next export tries again).
fn remove_stale(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let prefixes = [
        format!(".{name}.broadsheet-new-"),
        format!(".{name}.broadsheet-old-"),
    ];
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let pid = prefixes
            .iter()
            .find_map(|prefix| file_name.strip_prefix(prefix.as_str()))
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && pid != std::process::id() && !process_exists(pid) {
            tracing::info!(path = %entry.path().display(), "removing what a killed export left behind");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// True unless the system says there is no process `pid` (a process of
/// another user counts as existing). Elsewhere than Unix: always true, so
/// nothing is removed that might still be in use.
fn process_exists(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return true;
        };
        if pid <= 0 {
            return true;
        }
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        let result = unsafe { libc::kill(pid, 0) };
        result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

fn check_replaceable(dir: &Path) -> Result<(), ExportError> {
    match fs::symlink_metadata(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io(dir)(error)),
        Ok(meta) if meta.file_type().is_symlink() => Err(ExportError::SymbolicLink {
            path: dir.to_path_buf(),
            points_to: fs::read_link(dir).map_err(io(dir))?,
        }),
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

fn write_tree(
    built: &BuiltSet,
    root: &Path,
    previous: Option<&Path>,
) -> Result<ExportSummary, ExportError> {
    fs::create_dir(root).map_err(io(root))?;
    let mut summary = ExportSummary {
        files: 0,
        bytes: 0,
        precompressed: 0,
    };
    let times = file_times(built, previous);
    let mut files: Vec<FileToWrite<'_>> = built
        .resources
        .iter()
        .zip(&times)
        .map(|((url_path, resource), time)| {
            let mut file = FileToWrite::new(root.join(file_for(url_path)), &resource.body);
            file.modified = Some(*time);
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
    let times_by_path: HashMap<&str, SystemTime> = built
        .resources
        .keys()
        .map(String::as_str)
        .zip(times.iter().copied())
        .collect();
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
            let mut file = FileToWrite::new(sibling.into(), &representation.body);
            // nginx's `gzip_static` sends the sibling's own time as `Last-Modified`.
            file.modified = times_by_path.get(url_path.as_str()).copied();
            siblings.push(file);
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

/// The modification time of each resource's file, in the order of
/// `built.resources`: what a web server serving the export sends as
/// `Last-Modified` (and nginx builds its ETag from), as `serve` would:
/// - a file whose bytes are those of the previous export's file keeps that
///   file's time, so exporting the same content again changes no time;
/// - with no previous export, the resource's own time (its content's date,
///   the same from every copy of the content);
/// - a file whose bytes changed, or that is new, since the previous export:
///   now, and later than the previous file's time, so that
///   `If-Modified-Since` with the old time gets the new bytes.
///
/// Times are whole seconds, as HTTP dates are, and never in the future.
fn file_times(built: &BuiltSet, previous: Option<&Path>) -> Vec<SystemTime> {
    let now = SystemTime::now();
    let mut slots: Vec<(&str, &[u8], Option<Earlier>)> = built
        .resources
        .iter()
        .map(|(url_path, resource)| (url_path.as_str(), &resource.body[..], None))
        .collect();
    if let Some(previous) = previous {
        parallel::for_each(&mut slots, |(url_path, bytes, earlier)| {
            *earlier = Some(earlier_file(&previous.join(file_for(url_path)), bytes));
            crate::spill::release(bytes);
        });
    }
    // A changed file must get a time later than its previous one: when that
    // is this very second, wait for the next one rather than date it ahead.
    let not_before = slots
        .iter()
        .filter_map(|(_, _, earlier)| match earlier {
            Some(Earlier::Changed(time)) => Some(*time + Duration::from_secs(1)),
            _ => None,
        })
        .max();
    if let Some(wait) = not_before.and_then(|t| t.duration_since(SystemTime::now()).ok()) {
        std::thread::sleep(wait.min(Duration::from_secs(2)));
    }
    let stamp = whole_seconds(SystemTime::now());
    built
        .resources
        .values()
        .zip(slots)
        .map(|(resource, (_, _, earlier))| match earlier {
            None => whole_seconds(resource.modified_by(now)),
            Some(Earlier::Same(time)) => time,
            Some(Earlier::Changed(_) | Earlier::Absent) => stamp,
        })
        .collect()
}

/// What the previous export held at a file's place.
enum Earlier {
    /// The same bytes, written at this time.
    Same(SystemTime),
    /// Other bytes, written at this time.
    Changed(SystemTime),
    /// No file (or none that could be read: treated as new).
    Absent,
}

fn earlier_file(path: &Path, bytes: &[u8]) -> Earlier {
    let Ok(meta) = fs::metadata(path) else {
        return Earlier::Absent;
    };
    let Ok(time) = meta.modified().map(whole_seconds) else {
        return Earlier::Absent;
    };
    if meta.is_file() && meta.len() == bytes.len() as u64 {
        if let Ok(old) = fs::read(path) {
            if old == bytes {
                return Earlier::Same(time);
            }
        }
    }
    Earlier::Changed(time)
}

fn whole_seconds(time: SystemTime) -> SystemTime {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
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
    // fails here, before the swap. A spilled page is copied from its spill
    // file by the kernel, not read into this process.
    crate::spill::write_into(bytes, &mut file).map_err(io(path))?;
    match modified {
        Some(time) => file.set_modified(time).map_err(io(path)),
        None => Ok(()),
    }
}

/// Puts `staging` at `dir`. With an existing `dir`, the two are exchanged
/// in one step where the system can ([`exchange`]), and the old tree is
/// then at `staging`; otherwise `dir` is moved to `retired` first (and back
/// again if the second rename fails). Returns where the old tree now is.
fn swap_in(staging: &Path, dir: &Path, retired: &Path) -> Result<Option<PathBuf>, ExportError> {
    if !dir.exists() {
        fs::rename(staging, dir).map_err(io(dir))?;
        return Ok(None);
    }
    match exchange(staging, dir) {
        Ok(true) => return Ok(Some(staging.to_path_buf())),
        Ok(false) => {}
        Err(error) => return Err(io(dir)(error)),
    }
    remove_if_present(retired)?;
    fs::rename(dir, retired).map_err(io(dir))?;
    if let Err(error) = fs::rename(staging, dir) {
        let _ = fs::rename(retired, dir);
        return Err(io(dir)(error));
    }
    Ok(Some(retired.to_path_buf()))
}

/// Exchanges `a` and `b` atomically (`renameat2` with `RENAME_EXCHANGE`,
/// Linux 3.15 and later). `Ok(false)` where that is not available: another
/// system, an older kernel (`ENOSYS`) or a file system without it (`EINVAL`,
/// as on some network and FUSE file systems).
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let a = CString::new(a.as_os_str().as_bytes())?;
        let b = CString::new(b.as_os_str().as_bytes())?;
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let result = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if result == 0 {
            return Ok(true);
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINVAL | libc::ENOSYS | libc::ENOTSUP) => Ok(false),
            _ => Err(error),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Ok(false)
    }
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
