//! Fingerprints: 64-bit hashes that say whether something changed since the
//! last build (a file's text, the settings a page shows). They are compared
//! within one process only and never published, so the standard library's
//! hasher, fixed-keyed, is enough.

use std::hash::{Hash, Hasher};

/// A fingerprint of `text`.
pub(crate) fn of_text(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// A fingerprint of `value`'s debug form: of settings and headers, whose
/// debug form shows every field.
pub(crate) fn of_debug(value: &impl std::fmt::Debug) -> u64 {
    of_text(&format!("{value:?}"))
}
