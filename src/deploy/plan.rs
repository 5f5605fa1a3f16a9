//! Pure: what a deploy does, from what should be published, what the store
//! lists and what the last deploy's manifest recorded. No requests here.
//!
//! Each published file is one object, uploaded in one of three phases so
//! that no reader following a link meets an object not yet there: first
//! the articles' pages and files (and the pages' assets), then the feeds'
//! archive pages, then the feeds and every list that links to articles
//! (home, section, tag and author pages, the OPML list, the sitemap).
//! Deletions of objects no longer published come last, after every upload.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::manifest::{Manifest, ObjectState};
use crate::build::{BuiltSet, ResourceKind};
use crate::encoding::Coding;
use crate::static_files::{identity_files, precompressed_files};

/// The upload phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Phase {
    /// Articles' pages and files, and the pages' assets (stylesheet, icons).
    Articles,
    /// The feeds' archive pages.
    Archives,
    /// Feeds, and the pages and lists that link to articles.
    Feeds,
}

impl Phase {
    /// Every phase, in upload order.
    pub const ALL: [Phase; 3] = [Phase::Articles, Phase::Archives, Phase::Feeds];

    /// What the phase uploads, for progress lines.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Articles => "articles' pages and files",
            Phase::Archives => "archive pages",
            Phase::Feeds => "feeds and lists",
        }
    }

    fn of(kind: ResourceKind) -> Phase {
        match kind {
            ResourceKind::Article | ResourceKind::Media | ResourceKind::Asset => Phase::Articles,
            ResourceKind::ArchivePage | ResourceKind::NewestArchivePage => Phase::Archives,
            ResourceKind::Feed
            | ResourceKind::Opml
            | ResourceKind::Index
            | ResourceKind::LaterPage
            | ResourceKind::Sitemap => Phase::Feeds,
        }
    }
}

/// One object that the deploy publishes.
#[derive(Debug, Clone)]
pub(crate) struct WantedObject {
    /// Its name under the prefix: the export's file name (`opinion/rss.xml.gz`).
    pub name: String,
    /// Its bytes.
    pub body: Bytes,
    /// Its hash and headers.
    pub state: ObjectState,
    /// When it is uploaded.
    pub phase: Phase,
}

/// Every object `built` publishes: each file `export` would write, with
/// the headers `serve` sends for it, hashed on every core.
pub(crate) fn wanted_objects(built: &BuiltSet) -> Vec<WantedObject> {
    let files: Vec<_> = identity_files(built)
        .into_iter()
        .chain(precompressed_files(built, |_| true))
        .collect();
    let mut slots: Vec<_> = files.iter().map(|file| (file, None)).collect();
    crate::parallel::for_each(&mut slots, |(file, out)| {
        *out = Some(sha256_hex(&file.body));
    });
    slots
        .into_iter()
        .map(|(file, sha256)| WantedObject {
            name: file.name.clone(),
            body: file.body.clone(),
            state: ObjectState {
                sha256: sha256.unwrap_or_default(),
                size: file.body.len() as u64,
                content_type: file.resource.content_type.to_string(),
                cache_control: file.cache_control(built),
                content_encoding: (file.coding != Coding::Identity)
                    .then(|| file.coding.token().to_string()),
            },
            phase: Phase::of(file.resource.kind),
        })
        .collect()
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// An object the store lists under the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Bytes.
    pub size: u64,
    /// The store's `ETag`, if it gives one.
    pub e_tag: Option<String>,
}

/// What to do with each object.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Indexes into the wanted objects to upload.
    pub upload: Vec<usize>,
    /// Indexes of wanted objects already in the store as wanted, with the
    /// `ETag` the store listed for them.
    pub keep: Vec<(usize, Option<String>)>,
    /// Indexes of wanted objects present in the store that the manifest
    /// cannot vouch for: their state is read with a `HEAD` request.
    pub check: Vec<usize>,
    /// Names (and sizes) of listed objects no longer published.
    pub delete: Vec<(String, u64)>,
}

/// Compares what should be published with what is listed: an object not
/// listed is uploaded; one whose listing matches the manifest's record
/// (same `ETag` and size) is kept if that record is the wanted state and
/// uploaded otherwise; any other listed object is checked. Listed objects
/// not wanted are deleted.
pub(crate) fn plan(
    wanted: &[WantedObject],
    listed: &BTreeMap<String, Listed>,
    manifest: &Manifest,
) -> Plan {
    let mut plan = Plan::default();
    for (index, object) in wanted.iter().enumerate() {
        let Some(present) = listed.get(&object.name) else {
            plan.upload.push(index);
            continue;
        };
        match manifest.objects.get(&object.name) {
            Some(entry)
                if entry.e_tag.is_some()
                    && entry.e_tag == present.e_tag
                    && entry.state.size == present.size =>
            {
                if entry.state == object.state {
                    plan.keep.push((index, present.e_tag.clone()));
                } else {
                    plan.upload.push(index);
                }
            }
            _ => plan.check.push(index),
        }
    }
    let names: std::collections::HashSet<&str> = wanted.iter().map(|o| o.name.as_str()).collect();
    plan.delete = listed
        .iter()
        .filter(|(name, _)| !names.contains(name.as_str()))
        .map(|(name, listed)| (name.clone(), listed.size))
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::super::manifest::ManifestEntry;
    use super::*;

    fn object(name: &str, body: &str) -> WantedObject {
        WantedObject {
            name: name.into(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            state: ObjectState {
                sha256: sha256_hex(body.as_bytes()),
                size: body.len() as u64,
                content_type: "text/html; charset=utf-8".into(),
                cache_control: "public, max-age=300".into(),
                content_encoding: None,
            },
            phase: Phase::Articles,
        }
    }

    fn listed(size: u64, e_tag: &str) -> Listed {
        Listed {
            size,
            e_tag: Some(e_tag.into()),
        }
    }

    #[test]
    fn the_manifest_vouches_only_for_objects_not_rewritten_since() {
        let wanted = vec![
            object("a/index.html", "aaa"),
            object("b/index.html", "bbb"),
            object("c/index.html", "ccc"),
            object("d/index.html", "ddd"),
            object("new/index.html", "new"),
        ];
        let mut manifest = Manifest::new();
        let record = |o: &WantedObject, e_tag: &str| ManifestEntry {
            state: o.state.clone(),
            e_tag: Some(e_tag.into()),
        };
        manifest
            .objects
            .insert(wanted[0].name.clone(), record(&wanted[0], "e1"));
        // b changed since: the manifest holds another hash.
        let mut old_b = record(&wanted[1], "e2");
        old_b.state.sha256 = sha256_hex(b"old");
        manifest.objects.insert(wanted[1].name.clone(), old_b);
        // c was rewritten since the manifest (an interrupted deploy): checked.
        manifest
            .objects
            .insert(wanted[2].name.clone(), record(&wanted[2], "e3"));
        // d has no record: checked.
        let listed: BTreeMap<String, Listed> = [
            ("a/index.html", listed(3, "e1")),
            ("b/index.html", listed(3, "e2")),
            ("c/index.html", listed(3, "other")),
            ("d/index.html", listed(3, "e4")),
            ("gone/index.html", listed(7, "e5")),
        ]
        .into_iter()
        .map(|(name, l)| (name.to_string(), l))
        .collect();
        let plan = plan(&wanted, &listed, &manifest);
        assert_eq!(plan.keep, vec![(0, Some("e1".into()))]);
        assert_eq!(plan.upload, vec![1, 4]);
        assert_eq!(plan.check, vec![2, 3]);
        assert_eq!(plan.delete, vec![("gone/index.html".into(), 7)]);
    }

    #[test]
    fn a_change_of_headers_alone_is_an_upload() {
        let wanted = vec![object("rss.xml", "feed")];
        let mut manifest = Manifest::new();
        let mut state = wanted[0].state.clone();
        state.cache_control = "public, max-age=60".into();
        manifest.objects.insert(
            "rss.xml".into(),
            ManifestEntry {
                state,
                e_tag: Some("e".into()),
            },
        );
        let listed = [("rss.xml".to_string(), listed(4, "e"))]
            .into_iter()
            .collect();
        assert_eq!(plan(&wanted, &listed, &manifest).upload, vec![0]);
    }

    #[test]
    fn phases_put_articles_before_archives_before_feeds() {
        assert!(Phase::of(ResourceKind::Media) < Phase::of(ResourceKind::ArchivePage));
        assert!(Phase::of(ResourceKind::Article) < Phase::of(ResourceKind::NewestArchivePage));
        assert!(Phase::of(ResourceKind::ArchivePage) < Phase::of(ResourceKind::Feed));
        assert_eq!(Phase::of(ResourceKind::Index), Phase::Feeds);
        assert_eq!(Phase::of(ResourceKind::Sitemap), Phase::Feeds);
    }
}
