//! The deploy manifest: one object, `.broadsheet-deploy.json` at the
//! target's prefix, written after every other change of a deploy, that
//! records what each object holds (the SHA-256 of its bytes and its
//! headers) and the store's `ETag` it had when this was recorded.
//!
//! The next deploy lists the prefix (one request per thousand objects) and
//! trusts an entry only while the listed object still has the recorded
//! `ETag` and size, that is, while no one (no interrupted deploy either)
//! wrote it since; any other object is checked with a `HEAD` request, whose
//! metadata carries the same hash. The store's `ETag` is never taken for a
//! content hash (a multipart upload's is not the MD5 of the bytes, and
//! stores differ): it only says "not rewritten since".
//!
//! The manifest also marks the prefix as broadsheet's: a deploy deletes
//! objects no longer published, so it refuses a non-empty prefix without
//! one, and claims an empty prefix by writing an empty manifest first, so
//! that a first deploy killed midway can be run again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest's name under the target's prefix.
pub(crate) const MANIFEST: &str = ".broadsheet-deploy.json";

/// What an object holds: the hash of its bytes and the headers the store
/// sends with it. Two objects with equal states need no upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ObjectState {
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// `Content-Type`.
    pub content_type: String,
    /// `Cache-Control`.
    pub cache_control: String,
    /// `Content-Encoding` of a precompressed sibling; none for the resource's own bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
}

/// An object as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    /// What it holds.
    #[serde(flatten)]
    pub state: ObjectState,
    /// The store's `ETag` right after it was written (or checked).
    #[serde(default)]
    pub e_tag: Option<String>,
}

/// Every object of the last deploy, by name under the prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The format's version: 1.
    pub version: u32,
    /// By name under the prefix (`opinion/rss.xml.gz`).
    pub objects: BTreeMap<String, ManifestEntry>,
}

impl Manifest {
    /// An empty manifest of the current version.
    pub fn new() -> Manifest {
        Manifest {
            version: 1,
            objects: BTreeMap::new(),
        }
    }

    /// Parses a manifest; one that does not parse (or of another version)
    /// is taken as empty, so that every object is checked, never trusted.
    pub fn parse(bytes: &[u8]) -> Manifest {
        match serde_json::from_slice::<Manifest>(bytes) {
            Ok(manifest) if manifest.version == 1 => manifest,
            _ => Manifest::new(),
        }
    }

    /// The manifest as stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A map of strings and numbers always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_garbage_is_an_empty_one() {
        let mut manifest = Manifest::new();
        manifest.objects.insert(
            "rss.xml.gz".into(),
            ManifestEntry {
                state: ObjectState {
                    sha256: "ab".into(),
                    size: 2,
                    content_type: "application/rss+xml; charset=utf-8".into(),
                    cache_control: "public, max-age=300".into(),
                    content_encoding: Some("gzip".into()),
                },
                e_tag: Some("\"x\"".into()),
            },
        );
        assert_eq!(Manifest::parse(&manifest.to_bytes()), manifest);
        assert_eq!(Manifest::parse(b"{not json"), Manifest::new());
        assert_eq!(
            Manifest::parse(br#"{"version":9,"objects":{}}"#),
            Manifest::new()
        );
    }
}
