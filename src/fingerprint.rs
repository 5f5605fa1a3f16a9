//! Fingerprints: 64-bit hashes that say whether something changed since the
//! last build (a file's text, the settings a page shows). They are compared
//! within one process only and never published. XXH3 (already the ETags'
//! hash), streaming: a rebuild fingerprints every list page and archive
//! page, a hundred thousand small values at 10,000 articles, and SipHash
//! was a twentieth of a reload.

use std::hash::{Hash, Hasher};

use xxhash_rust::xxh3::Xxh3Default;

/// A fingerprint of `text`.
pub(crate) fn of_text(text: &str) -> u64 {
    let mut hasher = Xxh3Default::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// A fingerprint of `value`: of what a page shows (paths, article
/// fingerprints, numbers), hashed as it is.
pub(crate) fn of(value: &impl Hash) -> u64 {
    let mut hasher = Xxh3Default::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A fingerprint of a sequence of fingerprints (a list's stories, by
/// their articles' fingerprints), hashed as they come, with no list made.
pub(crate) fn of_all(fingerprints: impl IntoIterator<Item = u64>) -> u64 {
    let mut hasher = Xxh3Default::new();
    for fingerprint in fingerprints {
        hasher.write_u64(fingerprint);
    }
    hasher.finish()
}

/// A fingerprint of `value`'s debug form: of settings, whose debug form
/// shows every field. Written into the hasher as it is formatted, with no
/// string in between; still, a build takes the settings' fingerprint once,
/// not once per page.
pub(crate) fn of_debug(value: &impl std::fmt::Debug) -> u64 {
    struct Into<'h>(&'h mut Xxh3Default);
    impl std::fmt::Write for Into<'_> {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.0.write(text.as_bytes());
            Ok(())
        }
    }
    let mut hasher = Xxh3Default::new();
    // Writing into a hasher cannot fail.
    let _ = std::fmt::write(&mut Into(&mut hasher), format_args!("{value:?}"));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_values_have_equal_fingerprints_and_others_differ() {
        assert_eq!(super::of_debug(&("a", 1)), super::of_debug(&("a", 1)));
        assert_ne!(super::of_debug(&("a", 1)), super::of_debug(&("a", 2)));
        assert_eq!(super::of(&("a", 1u64)), super::of(&("a", 1u64)));
        assert_ne!(super::of(&("a", 1u64)), super::of(&("b", 1u64)));
    }
}
