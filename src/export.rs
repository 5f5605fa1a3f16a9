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
//! A re-export is incremental: a file whose bytes equal the previous
//! export's file is a hard link to it in the new tree, neither written again
//! nor read (the marker file holds a manifest of every file's 128-bit
//! fingerprint, size and time; a file whose size or time no longer match it
//! is read and compared instead). The new tree is still whole and separate
//! until the swap: a link adds a name, and deleting the old tree's names
//! afterwards leaves the new tree's.
//!
//! The new tree is made out of the spare tree, the tree the previous swap
//! took out of service, kept beside the target (`crate::spare_tree`): the
//! files it shares with the export in service that the new export keeps
//! stay in place, and only the rest is removed and linked or written.
//!
//! With the cache the previous export left beside itself
//! (`crate::export_cache`, at [`cache_path`], naming the export by its
//! marker file's stat), the build keeps the pages that show what they showed
//! (`build/saved.rs`): such a *kept* resource has no bytes here at all, and
//! its file and siblings are linked from the previous export as the
//! manifest records them, once [`PreviousExport`] has found each still of
//! the recorded size and time.
//!
//! A directory is only replaced if an earlier export made it (it holds
//! [`MARKER`]) or it is empty: an export never deletes files that someone
//! else put there. Trees left beside the target by an export that was
//! killed (`.public.broadsheet-new-<pid>`, `.public.broadsheet-old-<pid>`)
//! are removed by the next export once their process is gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::build::{BuiltSet, ResourceKind, SavedBuild};
use crate::encoding::Coding;
use crate::export_cache::{CacheWriter, ExportStamp};
use crate::parallel;
use crate::spare_tree::{SpareTree, TreeRecord};
use crate::static_files::{identity_files, name_for, precompressed_files, StaticFile};

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
    /// Of `files`, how many held the same bytes in the previous export and
    /// were linked to its files rather than written again.
    pub kept: usize,
    /// Of those, how many were not even rendered (nor compressed): their
    /// resource showed what it showed in the previous export, by the
    /// fingerprints its cache kept.
    pub not_rendered: usize,
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
    let previous = PreviousExport::open(dir);
    export_kept(built, &BTreeMap::new(), previous.as_ref(), None, None, dir)
}

/// Takes the spare tree `record` describes for the next export into
/// `dir` (see [`export_kept`]), checking it, which may be done while the
/// site is built: moved to where the new tree is made. `None` when it
/// cannot be used (then it is removed).
pub(crate) fn claim_spare(dir: &Path, record: TreeRecord) -> Option<SpareTree> {
    let (parent, name) = parent_and_name(dir);
    let staging = parent.join(format!(".{name}.broadsheet-new-{}", std::process::id()));
    remove_stale(&parent, &name);
    remove_if_present(&staging).ok()?;
    let spare_path = spare_path(dir);
    let spare = SpareTree::claim(&spare_path, &staging, record);
    tracing::debug!(used = spare.is_some(), "checked the spare tree");
    spare
}

/// Puts back a spare tree claimed for an export that is not made (its
/// site has errors), for the next one; removes it if that fails.
pub(crate) fn give_back_spare(dir: &Path, spare: SpareTree) {
    drop(spare);
    let (parent, name) = parent_and_name(dir);
    let staging = parent.join(format!(".{name}.broadsheet-new-{}", std::process::id()));
    if fs::rename(&staging, spare_path(dir)).is_err() {
        crate::spare_tree::remove_all(&staging);
    }
}

/// Writes every resource of `built`, and every resource of `kept` (by URL
/// path: unchanged since `previous`, which holds their files) under `dir`,
/// replacing the earlier export there; with `cache`, the cache file the
/// next export reads is written beside it (see [`cache_path`]). The new
/// tree is `spare`, the spare tree claimed by [`claim_spare`], brought up
/// to date, else it is made anew; the old tree becomes the spare tree when
/// the cache written records it, else is removed.
pub(crate) fn export_kept(
    built: &BuiltSet,
    kept: &BTreeMap<String, ResourceKind>,
    previous: Option<&PreviousExport>,
    spare: Option<SpareTree>,
    cache: Option<(CacheWriter, &SavedBuild)>,
    dir: &Path,
) -> Result<ExportSummary, ExportError> {
    let (parent, name) = parent_and_name(dir);
    let ready =
        check_replaceable(dir).and_then(|()| fs::create_dir_all(&parent).map_err(io(&parent)));
    if let Err(error) = ready {
        // The spare tree claimed goes back for the next export.
        if let Some(spare) = spare {
            give_back_spare(dir, spare);
        }
        return Err(error);
    }
    let pid = std::process::id();
    let staging = parent.join(format!(".{name}.broadsheet-new-{pid}"));
    let retired = parent.join(format!(".{name}.broadsheet-old-{pid}"));
    let cache_staging = cache_staging_path(dir);
    remove_stale(&parent, &name);
    let spare_path = spare_path(dir);
    if spare.is_none() {
        remove_if_present(&staging)?;
        if fs::symlink_metadata(&spare_path).is_ok() {
            // Not one the cache vouches for: out of the way of this
            // export's old tree, which may take its place.
            crate::spare_tree::remove_all(&spare_path);
        }
    }
    // A kept file is linked from the previous export's.
    if previous.is_none() && !kept.is_empty() {
        return Err(io(dir)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no previous export to keep files from",
        )));
    }
    let discard = |error| {
        let _ = fs::remove_dir_all(&staging);
        let _ = fs::remove_file(&cache_staging);
        error
    };
    // The old tree becomes the spare tree when the cache records it.
    let old_record = previous.and_then(|previous| previous.tree.as_ref());
    let written = write_tree(built, kept, &staging, previous, spare);
    let (summary, marker, tree) = written.map_err(discard)?;
    // The cache was begun while the site was built (`cache_staging_path`),
    // and is ended with the tree's record and the stat of its marker,
    // which it names. When it cannot be written (a full disk), the export
    // goes on without one (the cache left from before is then not the
    // export's, and not used).
    let cache_written = cache.is_some_and(|(cache, saved)| {
        cache
            .finish(saved, (&tree, old_record), &marker)
            .map_err(|error| {
                tracing::warn!(path = %cache_staging.display(), %error, "the export's cache was not written; the next export renders every page");
            })
            .is_ok()
    });
    if !cache_written {
        let _ = fs::remove_file(&cache_staging);
    }
    tracing::debug!("wrote the cache");
    let old_tree = swap_in(&staging, dir, &retired).map_err(discard)?;
    tracing::debug!("swapped the new tree in");
    if cache_written {
        // Were this lost (a kill right here), the cache on disk would not
        // be the export's, and the next export would not use it.
        let cache_file = cache_path(dir);
        if let Err(error) = fs::rename(&cache_staging, &cache_file) {
            let _ = fs::remove_file(&cache_staging);
            tracing::warn!(path = %cache_file.display(), %error, "the export's cache was not written; the next export renders every page");
        }
    }
    // The old tree is out of sight already: kept as the spare tree, or
    // removed (failing to delete it loses nothing, and the next export
    // removes it).
    if let Some(old_tree) = old_tree {
        let spare =
            cache_written && old_record.is_some() && fs::rename(&old_tree, &spare_path).is_ok();
        if !spare {
            remove_tree(&old_tree, previous.map(|p| &p.manifest));
        }
        tracing::debug!(spare, "set the old tree aside");
    }
    Ok(summary)
}

/// The directory that holds `dir`, and `dir`'s name in it.
fn parent_and_name(dir: &Path) -> (PathBuf, String) {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "public".into());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (parent, name)
}

/// Where the cache of the export into `dir` is written before it takes
/// its place at [`cache_path`]: `.<name>.broadsheet-cache-new-<pid>`.
pub(crate) fn cache_staging_path(dir: &Path) -> PathBuf {
    let (parent, name) = parent_and_name(dir);
    parent.join(format!(
        ".{name}.broadsheet-cache-new-{}",
        std::process::id()
    ))
}

/// Where the spare tree of the export in `dir` is kept: beside it, as
/// `.<name>.broadsheet-spare`.
fn spare_path(dir: &Path) -> PathBuf {
    let (parent, name) = parent_and_name(dir);
    parent.join(format!(".{name}.broadsheet-spare"))
}

/// Where the cache of the export in `dir` is kept: beside it, as
/// `.<name>.broadsheet-cache` (never inside it, where a web server would
/// serve it).
pub(crate) fn cache_path(dir: &Path) -> PathBuf {
    let (parent, name) = parent_and_name(dir);
    parent.join(format!(".{name}.broadsheet-cache"))
}

/// Removes the old tree at `path`: when `manifest` lists what it holds
/// (the export it was), those files and then their folders, deepest first,
/// each on every core, without reading a directory (an old export of a
/// large site is a hundred thousand files in tens of thousands of
/// folders); then whatever is left (a file put there by hand), by walking
/// it. What cannot be removed is left (the next export tries again).
fn remove_tree(path: &Path, manifest: Option<&Manifest>) {
    if let Some(manifest) = manifest {
        let mut files: Vec<&str> = manifest
            .files
            .keys()
            .map(String::as_str)
            .chain([MARKER])
            .collect();
        parallel::for_each(&mut files, |name| {
            let _ = fs::remove_file(path.join(&**name));
        });
        let mut folders = folders_by_depth(files.into_iter());
        for level in folders.values_mut().rev() {
            parallel::for_each(level, |(dir, _)| {
                let _ = fs::remove_dir(path.join(&**dir));
            });
        }
        if fs::remove_dir(path).is_ok() {
            return;
        }
    }
    let _ = fs::remove_dir_all(path);
}

/// Folders by depth (0 for a folder at the top), each with room for what
/// making or removing it gave.
type FoldersByDepth<'a> = BTreeMap<usize, Vec<(&'a str, Result<(), ExportError>)>>;

/// The folders that hold the files `names` (relative, `/` between
/// segments), each once, by depth (0 for a folder at the top), each with
/// room for what making or removing it gave.
fn folders_by_depth<'a>(names: impl Iterator<Item = &'a str>) -> FoldersByDepth<'a> {
    let mut folders: HashSet<&str> = HashSet::new();
    for name in names {
        let mut rest = name;
        while let Some((folder, _)) = rest.rsplit_once('/') {
            if !folders.insert(folder) {
                break;
            }
            rest = folder;
        }
    }
    let mut by_depth = FoldersByDepth::new();
    for folder in folders {
        let depth = folder.matches('/').count();
        by_depth.entry(depth).or_default().push((folder, Ok(())));
    }
    by_depth
}

/// Removes what exports into `parent/name` left behind when they were
/// killed: their staging (`.<name>.broadsheet-new-<pid>`) and retired
/// (`.<name>.broadsheet-old-<pid>`) trees and their unfinished cache files
/// (`.<name>.broadsheet-cache-new-<pid>`), each once its process is gone.
/// A tree whose process still runs (another export at work) is left alone;
/// so is one that cannot be removed (the next export tries again).
fn remove_stale(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let prefixes = [
        format!(".{name}.broadsheet-new-"),
        format!(".{name}.broadsheet-old-"),
        format!(".{name}.broadsheet-cache-new-"),
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
        if pid == std::process::id() || process_exists(pid) {
            continue;
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        tracing::info!(path = %entry.path().display(), "removing what a killed export left behind");
        let _ = if file_type.is_dir() {
            fs::remove_dir_all(entry.path())
        } else {
            fs::remove_file(entry.path())
        };
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

/// Writes the new tree at `root`: anew, or, with `spare`, by bringing the
/// spare tree (already moved to `root`) up to date. Returns what it wrote,
/// the stat of its marker (which the cache names) and the record of the
/// tree (for when it is the spare tree in turn).
fn write_tree(
    built: &BuiltSet,
    kept: &BTreeMap<String, ResourceKind>,
    root: &Path,
    previous: Option<&PreviousExport>,
    spare: Option<SpareTree>,
) -> Result<(ExportSummary, ExportStamp, TreeRecord), ExportError> {
    let previous_export = previous.map(|p| (p.dir.as_path(), &p.manifest));
    let mut files: Vec<FileToWrite<'_>> = identity_files(built)
        .into_iter()
        .map(FileToWrite::new)
        .collect();
    compare_with(previous_export, &mut files);
    let mut siblings = reused_siblings(built, previous_export, &files);
    let reused: HashSet<&str> = siblings.iter().map(|f| f.file.url_path).collect();
    siblings.extend(
        precompressed_files(built, |url_path| !reused.contains(url_path))
            .into_iter()
            .map(FileToWrite::new),
    );
    compare_with(previous_export, &mut siblings);
    files.extend(siblings);
    date_files(&mut files);
    let mut kept_files = match previous {
        Some(previous) => previous.kept_files(kept),
        None => Vec::new(),
    };
    tracing::debug!("compared and compressed");
    // The previous export's file to link at each name, by inode (known
    // once its files were checked).
    for file in &mut files {
        if matches!(file.earlier, Earlier::Same(_)) {
            file.ino = previous
                .and_then(|p| p.manifest.get(&file.file.name))
                .and_then(|e| e.ino);
        }
    }
    let record = match spare {
        Some(spare) => Some(update_spare(
            root,
            previous,
            &mut files,
            &mut kept_files,
            spare.record,
        )?),
        None => {
            fs::create_dir(root).map_err(io(root))?;
            let names = files
                .iter()
                .map(|f| f.file.name.as_str())
                .chain(kept_files.iter().map(|f| f.name.as_str()));
            make_folders(root, &mut folders_by_depth(names))?;
            tracing::debug!("made the folders");
            write_all(root, previous.map(|p| p.dir.as_path()), &mut files)?;
            if let Some(previous) = previous {
                link_all(root, &previous.dir, &mut kept_files)?;
            }
            tracing::debug!("wrote and linked the files");
            None
        }
    };
    let kept_bytes: u64 = kept_files.iter().map(|f| f.entry.len).sum();
    let summary = ExportSummary {
        files: files.len() + kept_files.len(),
        bytes: files.iter().map(|f| f.file.body.len()).sum::<usize>()
            + usize::try_from(kept_bytes).unwrap_or(usize::MAX),
        precompressed: files
            .iter()
            .filter(|f| f.file.coding != Coding::Identity)
            .count()
            + kept_files.iter().filter(|f| f.is_sibling).count(),
        kept: files.iter().filter(|f| f.linked || f.in_place).count()
            + kept_files.iter().filter(|f| f.linked || f.in_place).count(),
        not_rendered: kept_files.len(),
    };
    let marker = root.join(MARKER);
    let marker_meta = write_file(&marker, &Manifest::text(&files, &kept_files), None)?;
    tracing::debug!("wrote the marker");
    let record = match record {
        Some((record, touched)) => finish_record(root, record, &marker_meta, &touched)?,
        None => tree_record(root, &files, &kept_files, &marker_meta)?,
    };
    tracing::debug!("recorded the tree");
    Ok((summary, ExportStamp::of(&marker_meta), record))
}

/// Makes the spare tree (moved to `root`, as `spare` records it) into the
/// new tree, touching only what differs: a file the new tree keeps whose
/// spare name is the previous export's very file (same inode) stays in
/// place; every other file of the spare tree is removed; the rest of the
/// new tree's files are linked or written, in folders made for them; the
/// folders left empty are removed. Returns the record of the new tree but
/// its marker, and the folders touched (whose times are to be looked up).
fn update_spare(
    root: &Path,
    previous: Option<&PreviousExport>,
    files: &mut [FileToWrite<'_>],
    kept: &mut [KeptFile],
    spare: TreeRecord,
) -> Result<(TreeRecord, HashSet<String>), ExportError> {
    let TreeRecord {
        root: top,
        files: mut spare_files,
        mut folders,
    } = spare;
    let mut record = HashMap::with_capacity(files.len() + kept.len() + 1);
    let mut gone: Vec<(String, Result<(), ExportError>)> = Vec::new();
    let mut place = |name: &str, wanted: Option<u64>| match spare_files.remove_entry(name) {
        Some((name, ino)) if wanted == Some(ino) => {
            record.insert(name, ino);
            true
        }
        Some((name, _)) => {
            gone.push((name, Ok(())));
            false
        }
        None => false,
    };
    for file in files.iter_mut() {
        let wanted = file
            .ino
            .filter(|_| matches!(file.earlier, Earlier::Same(_)));
        file.in_place = place(&file.file.name, wanted);
    }
    for file in kept.iter_mut() {
        file.in_place = place(&file.name, file.entry.ino);
    }
    // What is left of the spare tree (its marker too) goes.
    gone.extend(spare_files.into_keys().map(|name| (name, Ok(()))));
    parallel::for_each(&mut gone, |(name, result)| {
        let path = root.join(name.as_str());
        *result = match fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(error)),
            _ => Ok(()),
        };
    });
    first_error(gone.iter_mut().map(|(_, result)| result))?;
    let mut touched: HashSet<String> = HashSet::from([String::new()]);
    touched.extend(gone.iter().map(|(name, _)| parent_of(name).to_string()));
    // Folders for the files to add, parents first.
    let added = files
        .iter()
        .filter(|f| !f.in_place)
        .map(|f| f.file.name.as_str())
        .chain(kept.iter().filter(|f| !f.in_place).map(|f| f.name.as_str()));
    let mut missing = folders_by_depth(added);
    for level in missing.values_mut() {
        level.retain(|(name, _)| !folders.contains_key(*name));
    }
    make_folders(root, &mut missing)?;
    for name in missing.values().flatten().map(|(name, _)| *name) {
        // Its time is looked up once the tree is written.
        folders.insert(name.to_string(), (0, 0));
        touched.extend([name.to_string(), parent_of(name).to_string()]);
    }
    tracing::debug!("made the folders");
    write_all(root, previous.map(|p| p.dir.as_path()), files)?;
    if let Some(previous) = previous {
        link_all(root, &previous.dir, kept)?;
    }
    tracing::debug!("wrote and linked the files");
    for file in files.iter().filter(|f| !f.in_place) {
        touched.insert(parent_of(&file.file.name).to_string());
        if let Some(ino) = file.ino {
            record.insert(file.file.name.clone(), ino);
        }
    }
    for file in kept.iter().filter(|f| !f.in_place) {
        touched.insert(parent_of(&file.name).to_string());
        if let Some(ino) = file.entry.ino {
            record.insert(file.name.clone(), ino);
        }
    }
    // Folders of removed files left empty go, deepest first; one that is
    // not empty (the file system says so) stays, and so do its parents.
    let depth = |folder: &str| std::cmp::Reverse(folder.matches('/').count());
    let mut emptied: std::collections::BTreeSet<(std::cmp::Reverse<usize>, String)> = gone
        .iter()
        .map(|(name, _)| parent_of(name))
        .filter(|folder| !folder.is_empty())
        .map(|folder| (depth(folder), folder.to_string()))
        .collect();
    while let Some((_, folder)) = emptied.pop_first() {
        if !folders.contains_key(&folder) || fs::remove_dir(root.join(&folder)).is_err() {
            continue;
        }
        folders.remove(&folder);
        let parent = parent_of(&folder).to_string();
        touched.insert(parent.clone());
        if !parent.is_empty() {
            emptied.insert((depth(&parent), parent));
        }
    }
    // Files whose inode is not known (a copy where links are refused).
    let unknown: Vec<&str> = files
        .iter()
        .filter(|f| !f.in_place && f.ino.is_none())
        .map(|f| f.file.name.as_str())
        .chain(
            kept.iter()
                .filter(|f| !f.in_place && f.entry.ino.is_none())
                .map(|f| f.name.as_str()),
        )
        .collect();
    for name in unknown {
        let meta = fs::symlink_metadata(root.join(name)).map_err(io(&root.join(name)))?;
        record.insert(name.to_string(), std::os::unix::fs::MetadataExt::ino(&meta));
    }
    let record = TreeRecord {
        root: top,
        files: record,
        folders,
    };
    Ok((record, touched))
}

/// The folder that holds the file or folder `name` (`""`: the top one).
fn parent_of(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// The first error of `results`, taken out.
fn first_error<'r>(
    results: impl Iterator<Item = &'r mut Result<(), ExportError>>,
) -> Result<(), ExportError> {
    for result in results {
        if result.is_err() {
            return std::mem::replace(result, Ok(()));
        }
    }
    Ok(())
}

/// Makes the folders `needed` (by depth) under `root`, parents first,
/// each depth on every core (a large site has a folder per article).
fn make_folders(root: &Path, needed: &mut FoldersByDepth<'_>) -> Result<(), ExportError> {
    for level in needed.values_mut() {
        parallel::for_each(level, |(name, result)| {
            let path = root.join(&**name);
            *result = match fs::create_dir(&path) {
                Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => {
                    Err(io(&path)(error))
                }
                _ => Ok(()),
            };
        });
        first_error(level.iter_mut().map(|(_, result)| result))?;
    }
    Ok(())
}

/// The record of the tree just written anew at `root`: each file's
/// inode (that of the previous export's file linked, or of the file
/// written; looked up where none is known) and each folder's time.
fn tree_record(
    root: &Path,
    files: &[FileToWrite<'_>],
    kept: &[KeptFile],
    marker: &fs::Metadata,
) -> Result<TreeRecord, ExportError> {
    use std::os::unix::fs::MetadataExt;
    let mut inodes: Vec<(&str, Option<u64>)> = files
        .iter()
        .map(|f| (f.file.name.as_str(), f.ino))
        .chain(kept.iter().map(|f| (f.name.as_str(), f.entry.ino)))
        .collect();
    parallel::for_each(&mut inodes, |(name, ino)| {
        if ino.is_none() {
            *ino = fs::symlink_metadata(root.join(&**name))
                .ok()
                .map(|meta| meta.ino());
        }
    });
    let top = fs::symlink_metadata(root).map_err(io(root))?;
    let mut record = TreeRecord {
        root: (top.dev(), top.ino()),
        files: HashMap::with_capacity(inodes.len() + 1),
        folders: HashMap::new(),
    };
    for (name, ino) in &inodes {
        let ino = ino.ok_or_else(|| io(&root.join(name))(std::io::ErrorKind::NotFound.into()))?;
        record.files.insert(name.to_string(), ino);
    }
    let touched: HashSet<String> = folders_by_depth(inodes.iter().map(|(name, _)| *name))
        .into_values()
        .flatten()
        .map(|(name, _)| name.to_string())
        .chain([String::new()])
        .collect();
    record.folders = touched.iter().map(|name| (name.clone(), (0, 0))).collect();
    finish_record(root, record, marker, &touched)
}

/// Completes the record of the tree at `root`: its marker's inode, and the
/// times of the folders `touched` (those something was added to or
/// removed from), looked up now that the tree is written.
fn finish_record(
    root: &Path,
    mut record: TreeRecord,
    marker: &fs::Metadata,
    touched: &HashSet<String>,
) -> Result<TreeRecord, ExportError> {
    record.files.insert(
        MARKER.to_string(),
        std::os::unix::fs::MetadataExt::ino(marker),
    );
    let mut times: Vec<(&str, Option<(i64, i64)>)> = touched
        .iter()
        .filter(|name| record.folders.contains_key(name.as_str()))
        .map(|name| (name.as_str(), None))
        .collect();
    parallel::for_each(&mut times, |(name, time)| {
        *time = fs::symlink_metadata(root.join(&**name))
            .ok()
            .map(|meta| crate::spare_tree::folder_time(&meta));
    });
    for (name, time) in times {
        let time = time.ok_or_else(|| io(&root.join(name))(std::io::ErrorKind::NotFound.into()))?;
        record.folders.insert(name.to_string(), time);
    }
    Ok(record)
}

/// Gives each file its modification time: what a web server serving the
/// export sends as `Last-Modified` (and nginx builds its ETag from), as
/// `serve` would:
/// - a file whose bytes are those of the previous export's file keeps that
///   file's time (and is linked to it rather than written again), so
///   exporting the same content again changes no time;
/// - with no previous export, the resource's own time (its content's date,
///   the same from every copy of the content);
/// - a file whose bytes changed, or that is new, since the previous export:
///   now, and later than the previous file's time, so that
///   `If-Modified-Since` with the old time gets the new bytes.
///
/// A precompressed sibling has its resource's time. Times are whole
/// seconds, as HTTP dates are, and never in the future.
fn date_files(files: &mut [FileToWrite<'_>]) {
    let now = SystemTime::now();
    // A changed file must get a time later than its previous one: when that
    // is this very second, wait for the next one rather than date it ahead.
    let not_before = files
        .iter()
        .filter_map(|file| match file.earlier {
            Earlier::Changed(time) => Some(time + Duration::from_secs(1)),
            _ => None,
        })
        .max();
    if let Some(wait) = not_before.and_then(|t| t.duration_since(SystemTime::now()).ok()) {
        std::thread::sleep(wait.min(Duration::from_secs(2)));
    }
    let stamp = whole_seconds(SystemTime::now());
    let mut times: HashMap<&str, SystemTime> = HashMap::with_capacity(files.len());
    // Resources' own files first (`identity_files` comes first), then
    // their siblings, which take the time their resource got.
    for file in files.iter_mut() {
        let time = match (file.file.coding, file.earlier) {
            (Coding::Identity, Earlier::None) => whole_seconds(file.file.resource.modified_by(now)),
            (Coding::Identity, Earlier::Same(time)) => time,
            (Coding::Identity, Earlier::Changed(_) | Earlier::Absent) => stamp,
            (_, earlier) => {
                let time = times
                    .get(file.file.url_path)
                    .copied()
                    .unwrap_or_else(|| whole_seconds(file.file.resource.modified_by(now)));
                // A sibling is kept only with its resource's time.
                if earlier != Earlier::Same(time) {
                    file.earlier = Earlier::Changed(time);
                }
                time
            }
        };
        if file.file.coding == Coding::Identity {
            times.insert(file.file.url_path, time);
        }
        file.modified = time;
    }
}

/// Sets what the previous export (its directory and manifest) held at each
/// file's place, on every core.
fn compare_with(previous: Option<(&Path, &Manifest)>, files: &mut [FileToWrite<'_>]) {
    if let Some((dir, manifest)) = previous {
        parallel::for_each(files, |file| {
            let fingerprint = *file
                .fingerprint
                .get_or_insert_with(|| fingerprint(&file.file.body));
            file.earlier =
                earlier_file(dir, manifest, &file.file.name, &file.file.body, fingerprint);
        });
    }
}

/// The `.gz` and `.br` siblings that need no compressing: those of each
/// resource `precompress` covers whose own bytes are unchanged since the
/// previous export, read back from it (compression is deterministic, so
/// they are what compressing again would give, and reading them is far
/// cheaper). Only siblings that the manifest vouches for (its fingerprint,
/// size and time) are taken, and only when every sibling of the resource
/// the manifest lists is; a resource with none listed is compressed again
/// (its variants were not smaller, or it was not covered then).
fn reused_siblings<'a>(
    built: &'a BuiltSet,
    previous: Option<(&Path, &Manifest)>,
    identity: &[FileToWrite<'a>],
) -> Vec<FileToWrite<'a>> {
    let Some((dir, manifest)) = previous.filter(|(_, m)| m.encoder == encoder()) else {
        return Vec::new();
    };
    let mut candidates: Vec<(&FileToWrite<'a>, Vec<FileToWrite<'a>>)> = identity
        .iter()
        .filter(|file| {
            matches!(file.earlier, Earlier::Same(_))
                && built.precompress.covers(file.file.resource.kind)
        })
        .map(|file| (file, Vec::new()))
        .collect();
    parallel::for_each(&mut candidates, |(file, out)| {
        for coding in [Coding::Gzip, Coding::Brotli] {
            let Some(extension) = coding.extension() else {
                continue;
            };
            let name = format!("{}.{extension}", file.file.name);
            let Some(entry) = manifest.get(&name) else {
                continue;
            };
            let path = dir.join(&name);
            let unchanged = fs::metadata(&path).is_ok_and(|meta| {
                meta.is_file()
                    && meta.len() == entry.len
                    && meta.modified().is_ok_and(|time| time == entry.modified)
            });
            let body = unchanged
                .then(|| fs::read(&path).ok())
                .flatten()
                .filter(|body| fingerprint(body) == entry.fingerprint);
            let Some(body) = body else {
                out.clear();
                return;
            };
            out.push(FileToWrite::new(StaticFile {
                name,
                coding,
                body: Bytes::from(body),
                ..file.file.clone()
            }));
        }
    });
    candidates
        .into_iter()
        .flat_map(|(_, siblings)| siblings)
        .collect()
}

/// What the previous export held at a file's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Earlier {
    /// No previous export.
    None,
    /// The same bytes, written at this time: the file is linked to it.
    Same(SystemTime),
    /// Other bytes, written at this time.
    Changed(SystemTime),
    /// No file (or none that could be read: treated as new).
    Absent,
}

/// Compares the previous export's file `name` in `dir` with `bytes`: by the
/// fingerprint the previous export's manifest holds for it (`fingerprint`
/// is that of `bytes`), while the
/// file's size and time are those the manifest recorded (nobody wrote to it
/// since), or else by reading it.
fn earlier_file(
    dir: &Path,
    manifest: &Manifest,
    name: &str,
    bytes: &[u8],
    fingerprint: u128,
) -> Earlier {
    let path = dir.join(name);
    let Ok(meta) = fs::metadata(&path) else {
        return Earlier::Absent;
    };
    let Ok(modified) = meta.modified() else {
        return Earlier::Absent;
    };
    let time = whole_seconds(modified);
    if !meta.is_file() || meta.len() != bytes.len() as u64 {
        return Earlier::Changed(time);
    }
    if let Some(entry) = manifest.get(name) {
        if entry.len == meta.len() && modified == entry.modified {
            return if entry.fingerprint == fingerprint {
                Earlier::Same(time)
            } else {
                Earlier::Changed(time)
            };
        }
    }
    let same = fs::read(&path).is_ok_and(|old| old == bytes);
    // Compared byte by byte: a spilled page's bytes leave this process's
    // memory again.
    crate::spill::release(bytes);
    if same {
        Earlier::Same(time)
    } else {
        Earlier::Changed(time)
    }
}

/// The content fingerprint the manifest keeps: 128-bit XXH3, fast enough to
/// hash every byte of a large export in a fraction of the time of writing
/// it, and wide enough that two different files never share one by chance.
fn fingerprint(bytes: &[u8]) -> u128 {
    crate::spill::fingerprint(bytes)
}

/// What an export recorded of each file it wrote, kept in its [`MARKER`]
/// file after the first line: the [`encoder`] line, then `<fingerprint>
/// <size> <time> <name>` per line. The next export into the same directory compares by it instead of
/// reading every file again.
#[derive(Debug, Default)]
struct Manifest {
    files: HashMap<String, ManifestEntry>,
    /// The compressors that made the siblings ([`encoder`]).
    encoder: String,
}

/// What makes the precompressed siblings: the release and the compressors'
/// levels. Siblings are reused only from an export made by the same, so
/// that after an upgrade they are again what `serve` sends.
fn encoder() -> String {
    format!(
        "encoder broadsheet-{} gzip-{} brotli-{}",
        env!("CARGO_PKG_VERSION"),
        crate::encoding::GZIP_LEVEL,
        crate::encoding::BROTLI_QUALITY
    )
}

#[derive(Debug, Clone, Copy)]
struct ManifestEntry {
    fingerprint: u128,
    len: u64,
    modified: SystemTime,
    /// Whether the file was found as recorded (size and time) by
    /// [`PreviousExport::check_files`]; until then, false.
    intact: bool,
    /// Its inode, as [`PreviousExport::check_files`] found it.
    ino: Option<u64>,
    /// Whether the manifest lists `.gz` or `.br` siblings of it, and
    /// whether all of those are intact (set with `intact`).
    has_siblings: bool,
    siblings_intact: bool,
}

const MARKER_TEXT: &str =
    "Written by `broadsheet export`, which replaces this directory whole on every export.\n";

impl Manifest {
    /// The manifest in the marker file at `path`; empty when it has none (an
    /// export by an earlier release) or cannot be read. A line that does not
    /// parse is left out: its file is compared by reading it.
    fn read(path: &Path) -> Manifest {
        let Ok(text) = fs::read_to_string(path) else {
            return Manifest::default();
        };
        let files = text
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut fields = line.splitn(4, ' ');
                let fingerprint = u128::from_str_radix(fields.next()?, 16).ok()?;
                let len = fields.next()?.parse().ok()?;
                let secs: u64 = fields.next()?.parse().ok()?;
                let name = fields.next()?.to_string();
                let modified = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
                Some((
                    name,
                    ManifestEntry {
                        fingerprint,
                        len,
                        modified,
                        intact: false,
                        ino: None,
                        has_siblings: false,
                        siblings_intact: true,
                    },
                ))
            })
            .collect();
        let encoder = text.lines().nth(1).unwrap_or_default().to_string();
        Manifest { files, encoder }
    }

    fn get(&self, name: &str) -> Option<&ManifestEntry> {
        self.files.get(name)
    }

    /// The marker file's text for `files` and `kept`, as written.
    fn text(files: &[FileToWrite<'_>], kept: &[KeptFile]) -> Vec<u8> {
        let lines = files.len() + kept.len();
        let mut text = String::with_capacity(MARKER_TEXT.len() + lines * 96);
        text.push_str(MARKER_TEXT);
        text.push_str(&encoder());
        text.push('\n');
        // By name: the same content gives the same marker file.
        let mut entries: Vec<(&str, ManifestEntry)> = files
            .iter()
            .map(|file| {
                let entry = ManifestEntry {
                    fingerprint: file
                        .fingerprint
                        .unwrap_or_else(|| fingerprint(&file.file.body)),
                    len: file.file.body.len() as u64,
                    modified: file.modified,
                    intact: true,
                    ino: file.ino,
                    has_siblings: false,
                    siblings_intact: true,
                };
                (file.file.name.as_str(), entry)
            })
            .chain(kept.iter().map(|file| (file.name.as_str(), file.entry)))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (name, entry) in entries {
            let secs = entry
                .modified
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // Writing into a String cannot fail.
            let _ = writeln!(
                text,
                "{:032x} {} {secs} {name}",
                entry.fingerprint, entry.len
            );
        }
        text.into_bytes()
    }
}

/// An earlier export in the target directory, as the next export uses it:
/// its manifest, and (once [`PreviousExport::check_files`] ran) which of
/// its files are still as it wrote them.
pub(crate) struct PreviousExport {
    dir: PathBuf,
    manifest: Manifest,
    /// The stat of its marker file, which its cache names.
    marker: Option<ExportStamp>,
    /// The record of its tree, from its cache.
    tree: Option<TreeRecord>,
    /// The record of the spare tree beside it, from its cache.
    spare: Option<TreeRecord>,
}

impl PreviousExport {
    /// The export in `dir`, when an export made it (its marker file is there).
    pub(crate) fn open(dir: &Path) -> Option<PreviousExport> {
        let marker = dir.join(MARKER);
        marker.is_file().then(|| PreviousExport {
            dir: dir.to_path_buf(),
            manifest: Manifest::read(&marker),
            marker: fs::metadata(&marker)
                .ok()
                .map(|meta| ExportStamp::of(&meta)),
            tree: None,
            spare: None,
        })
    }

    /// The record of the spare tree beside it, from its cache, to claim
    /// ([`claim_spare`]).
    pub(crate) fn take_spare(&mut self) -> Option<TreeRecord> {
        self.spare.take()
    }

    /// What this export saved for the next one: its cache, when that is
    /// good, and then its files checked (only those still as written may
    /// be kept); else nothing saved, and why when there was a cache (none
    /// at all is no reason to warn: the first export, or one by a release
    /// before the cache).
    pub(crate) fn saved_build(&mut self) -> (SavedBuild, Option<String>) {
        let path = cache_path(&self.dir);
        let Some(marker) = self.marker.filter(|_| path.exists()) else {
            return (SavedBuild::default(), None);
        };
        // The files are looked at while the cache is read (wasted only
        // when the cache turns out unusable, which is rare).
        let read = std::thread::scope(|scope| {
            let reading = scope.spawn(|| crate::export_cache::read(&path, &marker));
            self.check_files();
            reading
                .join()
                .unwrap_or_else(|_| Err("cannot be read".into()))
        });
        match read {
            Ok(saved) => {
                tracing::debug!("read the cache and looked at the files");
                self.tree = saved.tree;
                self.spare = saved.spare;
                (saved.build, None)
            }
            Err(reason) => (
                SavedBuild::default(),
                Some(format!(
                    "{}: {reason}; every page is rendered again",
                    path.display()
                )),
            ),
        }
    }

    /// Looks at every file the manifest lists, on every core: those whose
    /// size and time are still the recorded ones (nobody wrote to them
    /// since) may be kept.
    fn check_files(&mut self) {
        let dir = &self.dir;
        let mut entries: Vec<(&String, &mut ManifestEntry)> =
            self.manifest.files.iter_mut().collect();
        parallel::for_each(&mut entries, |(name, entry)| {
            let meta = fs::symlink_metadata(dir.join(name.as_str())).ok();
            entry.intact = meta.as_ref().is_some_and(|meta| {
                meta.is_file()
                    && meta.len() == entry.len
                    && meta.modified().is_ok_and(|time| time == entry.modified)
            });
            entry.ino = meta
                .filter(|_| entry.intact)
                .map(|meta| std::os::unix::fs::MetadataExt::ino(&meta));
        });
        // Each resource's file learns whether its siblings are all intact,
        // so that asking costs one lookup.
        let siblings: Vec<(String, bool)> = self
            .manifest
            .files
            .iter()
            .filter_map(|(name, entry)| {
                let resource = name
                    .strip_suffix(".gz")
                    .or_else(|| name.strip_suffix(".br"))?;
                Some((resource.to_string(), entry.intact))
            })
            .collect();
        for (resource, intact) in siblings {
            if let Some(entry) = self.manifest.files.get_mut(&resource) {
                entry.has_siblings = true;
                entry.siblings_intact &= intact;
            }
        }
    }

    /// True when the file of the resource at `url_path`, and each `.gz` or
    /// `.br` sibling the manifest lists beside it, are as this export wrote
    /// them (see [`PreviousExport::check_files`]).
    pub(crate) fn holds_unchanged(&self, url_path: &str) -> bool {
        self.manifest
            .get(&name_for(url_path))
            .is_some_and(|entry| entry.intact && entry.siblings_intact)
    }

    /// The files of the resources in `kept` (URL paths): each one's own
    /// and its siblings, as the manifest records them.
    fn kept_files(&self, kept: &BTreeMap<String, ResourceKind>) -> Vec<KeptFile> {
        let mut files = Vec::with_capacity(kept.len());
        for url_path in kept.keys() {
            let name = name_for(url_path);
            let Some(entry) = self.manifest.get(&name) else {
                continue;
            };
            if entry.has_siblings {
                for sibling in sibling_names(&name) {
                    if let Some(entry) = self.manifest.get(&sibling) {
                        files.push(KeptFile::new(sibling, *entry, true));
                    }
                }
            }
            files.push(KeptFile::new(name, *entry, false));
        }
        files
    }
}

/// The names of the precompressed siblings a file may have: `rss.xml.gz`, `rss.xml.br`.
fn sibling_names(name: &str) -> impl Iterator<Item = String> + '_ {
    [Coding::Gzip, Coding::Brotli]
        .into_iter()
        .filter_map(|coding| coding.extension())
        .map(move |extension| format!("{name}.{extension}"))
}

/// A file of a kept resource: linked from the previous export as it is.
struct KeptFile {
    name: String,
    /// What the previous export's manifest recorded of it (and its inode).
    entry: ManifestEntry,
    is_sibling: bool,
    linked: bool,
    /// Whether the spare tree holds it already: not linked again.
    in_place: bool,
    result: Result<(), ExportError>,
}

impl KeptFile {
    fn new(name: String, entry: ManifestEntry, is_sibling: bool) -> KeptFile {
        KeptFile {
            name,
            entry,
            is_sibling,
            linked: false,
            in_place: false,
            result: Ok(()),
        }
    }
}

fn whole_seconds(time: SystemTime) -> SystemTime {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// One file of the export, and how writing it went.
struct FileToWrite<'a> {
    file: StaticFile<'a>,
    /// What the previous export held in its place.
    earlier: Earlier,
    /// The modification time to give it.
    modified: SystemTime,
    /// Whether it was linked to the previous export's file rather than written.
    linked: bool,
    /// Its bytes' [`fingerprint`], taken once: when it is compared with the
    /// previous export, or else as it is written; for the manifest.
    fingerprint: Option<u128>,
    /// Its inode, when known: that of the previous export's file it is
    /// linked to, or of the file written.
    ino: Option<u64>,
    /// Whether the spare tree holds it already (the previous export's very
    /// file): neither linked nor written.
    in_place: bool,
    result: Result<(), ExportError>,
}

impl<'a> FileToWrite<'a> {
    fn new(file: StaticFile<'a>) -> FileToWrite<'a> {
        FileToWrite {
            file,
            earlier: Earlier::None,
            modified: SystemTime::UNIX_EPOCH,
            linked: false,
            fingerprint: None,
            ino: None,
            in_place: false,
            result: Ok(()),
        }
    }
}

/// Writes `files` (and their directories) under `root` on every core:
/// creating a hundred thousand files is most of an export's time. A file
/// whose bytes are the previous export's file (in `previous`) is a hard
/// link to it: the same bytes and time, without writing them again, and
/// the previous export stays whole until the swap (a link only adds a
/// name). Where linking fails (another file system, no links), it is
/// written. Once one fails, the others are not tried (on a full disk each
/// would fail in turn). The error reported is that of the first file, in
/// order, that failed.
fn write_all(
    root: &Path,
    previous: Option<&Path>,
    files: &mut [FileToWrite<'_>],
) -> Result<(), ExportError> {
    let failed = AtomicBool::new(false);
    parallel::for_each(files, |file| {
        if failed.load(Ordering::Relaxed) {
            return;
        }
        if file.in_place {
            return;
        }
        let path = root.join(&file.file.name);
        file.result = (|| {
            if let (Some(previous), Earlier::Same(_)) = (previous, file.earlier) {
                if fs::hard_link(previous.join(&file.file.name), &path).is_ok() {
                    file.linked = true;
                    return Ok(());
                }
            }
            let meta = write_file(&path, &file.file.body, Some(file.modified))?;
            file.ino = Some(std::os::unix::fs::MetadataExt::ino(&meta));
            Ok(())
        })();
        // Written: the manifest needs only its fingerprint (a spilled
        // page's was recorded when it was kept: its bytes are not read).
        file.fingerprint
            .get_or_insert_with(|| fingerprint(&file.file.body));
        if file.result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
    });
    first_error(files.iter_mut().map(|file| &mut file.result))
}

/// Links every kept file from the previous export in `previous` into
/// `root`, on every core, or copies it where links are refused (the copy
/// given the file's time); the manifest vouched for each file's bytes when
/// it was kept. Stops at the first failure, as [`write_all`] does.
fn link_all(root: &Path, previous: &Path, files: &mut [KeptFile]) -> Result<(), ExportError> {
    let failed = AtomicBool::new(false);
    parallel::for_each(files, |file| {
        if failed.load(Ordering::Relaxed) {
            return;
        }
        if file.in_place {
            return;
        }
        let from = previous.join(&file.name);
        let to = root.join(&file.name);
        file.result = if fs::hard_link(&from, &to).is_ok() {
            file.linked = true;
            Ok(())
        } else {
            // A copy is another file: its inode is looked up for the record.
            file.entry.ino = None;
            fs::copy(&from, &to)
                .and_then(|_| fs::File::options().write(true).open(&to))
                .and_then(|copy| copy.set_modified(file.entry.modified))
                .map_err(io(&from))
        };
        if file.result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
    });
    first_error(files.iter_mut().map(|file| &mut file.result))
}

/// Writes a new file at `path` (never into an existing one, which may be
/// a link to a file of the export in service: a name there is removed
/// first), with `modified` as its time; returns its metadata.
fn write_file(
    path: &Path,
    bytes: &[u8],
    modified: Option<SystemTime>,
) -> Result<fs::Metadata, ExportError> {
    let mut file = fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path))?;
    // No fsync per file: it would multiply the time of a large export, and
    // the file systems in use reserve space at write time, so a full disk
    // fails here, before the swap. A spilled page is copied from its spill
    // file by the kernel, not read into this process.
    crate::spill::write_into(bytes, &mut file).map_err(io(path))?;
    if let Some(time) = modified {
        file.set_modified(time).map_err(io(path))?;
    }
    file.metadata().map_err(io(path))
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
