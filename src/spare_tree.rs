//! The spare tree: the tree an export's swap took out of service, kept
//! beside the target (`.<name>.broadsheet-spare`) instead of deleted, and
//! made into the next export's new tree. Most of its files are hard links
//! to the files of the export in service (the ones that did not change),
//! so bringing it up to date touches only what changed since it was in
//! service: creating a hundred thousand names and deleting as many again
//! (the folders and links of a new tree, the removal of the old one) was
//! most of a re-export's time on a large site.
//!
//! It is never used on trust. The export's cache ([`crate::export_cache`])
//! holds its [`TreeRecord`]: its top folder's device and inode, each
//! file's inode and each folder's modification time, as the export that
//! wrote it left them. Before use, every folder's time is compared with
//! the record: adding, removing or replacing a name in a folder moves its
//! time, so a folder whose time moved is read and anything not in the
//! record is removed, and its files looked at again. A file of the spare
//! tree is kept in place only when it is the very file (same inode) of
//! the export in service that the new export keeps, whose size and time
//! that export checked; every other one is removed, and the new tree's
//! files linked or written in its place.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::codec::{Corrupt, Reader, Writer};
use crate::parallel;

/// What an export left in a tree it wrote: enough to tell, by `stat`
/// alone, that the tree still holds exactly those files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TreeRecord {
    /// The top folder's device and inode.
    pub root: (u64, u64),
    /// Every file (the marker too), by name relative to the top folder:
    /// its inode.
    pub files: HashMap<String, u64>,
    /// Every folder but the top one, and the top one as `""`: its
    /// modification time (seconds, nanoseconds).
    pub folders: HashMap<String, (i64, i64)>,
}

impl TreeRecord {
    pub(crate) fn save<W: Write>(&self, out: &mut Writer<W>) {
        out.u64(self.root.0);
        out.u64(self.root.1);
        out.len(self.files.len());
        for (name, ino) in &self.files {
            out.str(name);
            out.u64(*ino);
        }
        out.len(self.folders.len());
        for (name, (secs, nanos)) in &self.folders {
            out.str(name);
            out.i64(*secs);
            out.i64(*nanos);
        }
    }

    pub(crate) fn restore(input: &mut Reader) -> Result<TreeRecord, Corrupt> {
        let root = (input.u64()?, input.u64()?);
        let count = input.count(16)?;
        let mut files = HashMap::with_capacity(count);
        for _ in 0..count {
            let name = input.string()?;
            files.insert(name, input.u64()?);
        }
        let count = input.count(24)?;
        let mut folders = HashMap::with_capacity(count);
        for _ in 0..count {
            let name = input.string()?;
            folders.insert(name, (input.i64()?, input.i64()?));
        }
        Ok(TreeRecord {
            root,
            files,
            folders,
        })
    }
}

/// A folder's modification time as the record keeps it.
pub(crate) fn folder_time(meta: &fs::Metadata) -> (i64, i64) {
    (meta.mtime(), meta.mtime_nsec())
}

/// A spare tree claimed for an export: moved to where the export's new
/// tree is made, and checked against its record, which now says what it
/// holds.
#[derive(Debug)]
pub(crate) struct SpareTree {
    pub record: TreeRecord,
}

impl SpareTree {
    /// Takes the spare tree at `spare` (when it is the one `record`
    /// describes) by moving it to `path`, and checks it: every folder of
    /// the record must be there; one whose time moved is read, and what
    /// the record does not list in it is removed. `None` (and nothing left
    /// at `path`) when it cannot be used: missing, another tree, a folder
    /// gone.
    pub(crate) fn claim(spare: &Path, path: &Path, mut record: TreeRecord) -> Option<SpareTree> {
        let meta = fs::symlink_metadata(spare).ok()?;
        if !meta.is_dir() || (meta.dev(), meta.ino()) != record.root {
            return None;
        }
        fs::rename(spare, path).ok()?;
        let mut folders: Vec<(&String, &(i64, i64), Option<bool>)> = record
            .folders
            .iter()
            .map(|(name, time)| (name, time, None))
            .collect();
        parallel::for_each(&mut folders, |(name, time, same)| {
            *same = fs::symlink_metadata(path.join(name.as_str()))
                .ok()
                .filter(fs::Metadata::is_dir)
                .map(|meta| folder_time(&meta) == **time);
        });
        if folders.iter().any(|(_, _, same)| same.is_none()) {
            remove_all(path);
            return None;
        }
        let moved: Vec<String> = folders
            .into_iter()
            .filter(|(_, _, same)| *same == Some(false))
            .map(|(name, _, _)| name.clone())
            .collect();
        for folder in moved {
            if clean(path, &folder, &mut record).is_err() {
                remove_all(path);
                return None;
            }
        }
        Some(SpareTree { record })
    }
}

/// Reads `folder` of the tree at `root` and removes what the record does
/// not list in it; files the record lists are looked at again (their
/// inode), and those gone leave the record, which then holds the folder's
/// time as it is now.
fn clean(root: &Path, folder: &str, record: &mut TreeRecord) -> std::io::Result<()> {
    let dir = root.join(folder);
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let mut seen = std::collections::HashSet::new();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
            remove_entry(&entry.path())?;
            continue;
        };
        let name = format!("{prefix}{file_name}");
        let meta = fs::symlink_metadata(entry.path())?;
        if meta.is_dir() && record.folders.contains_key(&name) {
            continue;
        }
        if meta.is_file() && record.files.contains_key(&name) {
            record.files.insert(name.clone(), meta.ino());
            seen.insert(name);
            continue;
        }
        remove_entry(&entry.path())?;
    }
    // The record's files of this folder that are gone.
    let gone: Vec<String> = record
        .files
        .keys()
        .filter(|name| {
            name.strip_prefix(prefix.as_str())
                .is_some_and(|rest| !rest.contains('/'))
                && !seen.contains(*name)
        })
        .cloned()
        .collect();
    for name in gone {
        record.files.remove(&name);
    }
    let time = folder_time(&fs::symlink_metadata(&dir)?);
    record.folders.insert(folder.to_string(), time);
    Ok(())
}

fn remove_entry(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Removes the tree at `path`, if there is one; what cannot be removed is left.
pub(crate) fn remove_all(path: &Path) {
    let _ = fs::remove_dir_all(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree of two folders and three files, and its record.
    fn tree(root: &Path) -> TreeRecord {
        fs::create_dir_all(root.join("a/b")).unwrap();
        for name in ["top.txt", "a/one.txt", "a/b/two.txt"] {
            fs::write(root.join(name), name).unwrap();
        }
        let meta = fs::metadata(root).unwrap();
        let mut record = TreeRecord {
            root: (meta.dev(), meta.ino()),
            ..TreeRecord::default()
        };
        for name in ["top.txt", "a/one.txt", "a/b/two.txt"] {
            record
                .files
                .insert(name.into(), fs::metadata(root.join(name)).unwrap().ino());
        }
        for name in ["", "a", "a/b"] {
            let time = folder_time(&fs::metadata(root.join(name)).unwrap());
            record.folders.insert(name.into(), time);
        }
        record
    }

    #[test]
    fn a_spare_tree_reads_back_and_is_claimed_as_recorded() {
        let dir = tempfile::TempDir::new().unwrap();
        let (spare, claimed) = (dir.path().join("spare"), dir.path().join("new"));
        let record = tree(&spare);
        let mut out = Writer::to_vec();
        record.save(&mut out);
        let (bytes, _) = out.finish().unwrap();
        let restored = TreeRecord::restore(&mut Reader::new(bytes::Bytes::from(bytes))).unwrap();
        assert_eq!(restored, record);

        let tree = SpareTree::claim(&spare, &claimed, restored).expect("claimed");
        assert_eq!(tree.record, record);
        assert!(!spare.exists() && claimed.join("a/b/two.txt").is_file());
    }

    #[test]
    fn what_was_added_or_replaced_by_hand_is_removed_or_looked_at_again() {
        let dir = tempfile::TempDir::new().unwrap();
        let (spare, claimed) = (dir.path().join("spare"), dir.path().join("new"));
        let record = tree(&spare);
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(spare.join("a/stray.html"), "not ours").unwrap();
        fs::create_dir(spare.join("a/b/stray")).unwrap();
        fs::write(spare.join("a/b/stray/x"), "x").unwrap();
        fs::remove_file(spare.join("top.txt")).unwrap();
        fs::write(spare.join("top.txt"), "replaced").unwrap();
        fs::remove_file(spare.join("a/one.txt")).unwrap();

        let tree = SpareTree::claim(&spare, &claimed, record.clone()).expect("claimed");
        assert!(!claimed.join("a/stray.html").exists());
        assert!(!claimed.join("a/b/stray").exists());
        assert!(!tree.record.files.contains_key("a/one.txt"), "gone");
        let replaced = fs::metadata(claimed.join("top.txt")).unwrap().ino();
        assert_eq!(tree.record.files["top.txt"], replaced);
        assert_eq!(
            tree.record.files["a/b/two.txt"],
            record.files["a/b/two.txt"]
        );
        for folder in ["", "a", "a/b"] {
            let now = folder_time(&fs::metadata(claimed.join(folder)).unwrap());
            assert_eq!(
                tree.record.folders[folder], now,
                "{folder}: the record holds the folder as cleaned"
            );
        }
    }

    #[test]
    fn another_tree_or_a_missing_folder_is_not_used() {
        let dir = tempfile::TempDir::new().unwrap();
        let (spare, claimed) = (dir.path().join("spare"), dir.path().join("new"));
        let record = tree(&spare);
        let other = TreeRecord {
            root: (record.root.0, record.root.1 + 1),
            ..record.clone()
        };
        assert!(SpareTree::claim(&spare, &claimed, other).is_none());
        assert!(spare.exists(), "not ours to take");
        fs::remove_dir_all(spare.join("a/b")).unwrap();
        assert!(SpareTree::claim(&spare, &claimed, record).is_none());
        assert!(!claimed.exists(), "removed");
    }
}
