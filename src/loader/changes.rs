//! What changed under `content/` since the last load, and what each load of
//! a section folder leaves for the next, so that a server's reload after an
//! edit reads the edited section and takes every other one as it was.
//!
//! The rule: a load told which sections changed ([`Changes`], from the
//! server's file watcher) reads those folders again, as a load always did
//! (a `stat` of each file, a read of those whose stamp changed), and takes
//! every other section as the last load left it, its problems included,
//! without a system call, except a section
//! - that is or holds a symbolic link: a watch on the folder does not see
//!   the file behind the link change;
//! - whose earliest article dated later is due by now: it is published
//!   with no change to any file.
//!
//! A load told nothing, or told that anything may have changed (the watch
//! lost events or failed, `config.toml` or `content/` itself changed,
//! `SIGHUP`, a build to confirm a failure), reads every section folder.
//!
//! A load also remembers every file it read, with its `stat` from before
//! the read: [`ParseCache::changed_since_read`] says whether any changed
//! since, which is how a server knows that a build may have read a file
//! half-written, without waiting for the watcher's event to arrive.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::cache::{FileStamp, ParseCache};
use crate::diagnostic::Diagnostic;
use crate::model::{Article, Section};

/// What may have changed under `content/` since a load: some sections
/// (by folder name), or anything. The default is nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    everything: bool,
    sections: BTreeSet<String>,
}

impl Changes {
    /// Anything may have changed: every section is read again.
    pub fn everything() -> Changes {
        Changes {
            everything: true,
            sections: BTreeSet::new(),
        }
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.everything && self.sections.is_empty()
    }

    /// True when anything may have changed.
    pub fn is_everything(&self) -> bool {
        self.everything
    }

    /// Notes that anything may have changed.
    pub fn add_everything(&mut self) {
        self.everything = true;
        self.sections.clear();
    }

    /// Notes a change at `relative`, a path inside `content/`: a change to
    /// the section it is in (its first component), or to everything when
    /// it is `content/` itself.
    pub fn add_content_path(&mut self, relative: &Path) {
        match relative.components().next() {
            Some(Component::Normal(name)) => self.add_section(&name.to_string_lossy()),
            _ => self.add_everything(),
        }
    }

    /// Notes a change to the section in the folder `name`.
    pub fn add_section(&mut self, name: &str) {
        if !self.everything {
            self.sections.insert(name.to_string());
        }
    }

    /// Notes every change of `other` too.
    pub fn add(&mut self, other: Changes) {
        if other.everything {
            self.add_everything();
        } else {
            for name in other.sections {
                self.add_section(&name);
            }
        }
    }

    /// True when the section in the folder `name` may have changed.
    pub(super) fn covers(&self, name: &str) -> bool {
        self.everything || self.sections.contains(name)
    }
}

/// What one load of a section folder left for the next.
#[derive(Debug)]
pub(super) struct LoadedSection {
    /// The section, or `None` when it had problems.
    pub section: Option<Section>,
    /// Its problems, in the order they were found.
    pub diagnostics: Vec<Diagnostic>,
    /// Its articles' files: their keys in the parse cache.
    pub articles: Vec<PathBuf>,
    /// The files in its articles' folders: their keys in the cache's media.
    pub media: Vec<PathBuf>,
    /// The earliest date after the load of an article in it that is no draft.
    pub next_due: Option<DateTime<Utc>>,
    /// Whether its folder is, or holds, a symbolic link.
    pub has_links: bool,
}

impl LoadedSection {
    /// True when a load at `now` that was not told of a change to this
    /// section may take it as it is (see the module's rule).
    pub fn can_be_kept(&self, now: DateTime<Utc>) -> bool {
        !self.has_links && self.next_due.is_none_or(|due| due > now)
    }
}

/// A file a load read: its path, its stamp from before the read, and the
/// folder of its section (`None` for `config.toml`).
#[derive(Debug)]
pub(super) struct FileRead {
    pub path: PathBuf,
    pub stamp: Option<FileStamp>,
    pub section: Option<String>,
}

impl ParseCache {
    /// Tells the next load what changed since the last one (a watcher's
    /// report): it reads only that. A load that was told nothing reads
    /// everything.
    pub fn note_changes(&mut self, changes: Changes) {
        self.changes = Some(changes);
    }

    /// The sections (or everything, for `config.toml`) of the files the
    /// last load read that changed since: a build from that load may hold
    /// a file read while it was being written. Empty when none changed.
    pub fn changed_since_read(&self) -> Changes {
        let mut changed = Changes::default();
        for read in &self.read_last_load {
            if FileStamp::read(&read.path) != read.stamp {
                match &read.section {
                    Some(name) => changed.add_section(name),
                    None => changed.add_everything(),
                }
            }
        }
        changed
    }
}

/// Has the sections kept for the next load hold the articles in `replaced`
/// (each an article held before, and the one that now takes its place):
/// a kept section must show the very articles the parse cache holds.
pub(super) fn replace_articles(
    sections: &mut HashMap<String, LoadedSection>,
    replaced: Vec<(Arc<Article>, Arc<Article>)>,
) {
    let mut by_section: HashMap<&str, HashMap<*const Article, &Arc<Article>>> = HashMap::new();
    for (old, new) in &replaced {
        by_section
            .entry(old.section.as_str())
            .or_default()
            .insert(Arc::as_ptr(old), new);
    }
    for (name, news) in by_section {
        let Some(Some(section)) = sections.get_mut(name).map(|s| s.section.as_mut()) else {
            continue;
        };
        for article in &mut section.articles {
            if let Some(new) = news.get(&Arc::as_ptr(article)) {
                *article = Arc::clone(new);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_sections_or_everything() {
        let mut changes = Changes::default();
        assert!(changes.is_empty());
        changes.add_content_path(Path::new("opinion/energy.md"));
        changes.add_content_path(Path::new("world/energy/photo.jpg"));
        changes.add_content_path(Path::new("world"));
        assert!(changes.covers("opinion") && changes.covers("world"));
        assert!(!changes.covers("sport") && !changes.is_everything());
        changes.add_content_path(Path::new(""));
        assert!(changes.is_everything() && changes.covers("sport"));
        let mut more = Changes::default();
        more.add(changes);
        more.add_section("opinion");
        assert_eq!(more, Changes::everything());
    }
}
