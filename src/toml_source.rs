//! Deserializing TOML that sits inside a larger file, with errors placed on
//! the file's own lines.
//!
//! Front matter starts a few lines into an article, so a TOML error's byte
//! span is shifted by where the TOML starts before it becomes a line number.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::diagnostic::Diagnostic;

/// Deserializes `toml_text`, which starts at byte `start` of `file_text`
/// (the whole of `path`), into `T`.
pub(crate) fn parse<T: DeserializeOwned>(
    path: &Path,
    file_text: &str,
    toml_text: &str,
    start: usize,
) -> Result<T, Diagnostic> {
    toml::from_str(toml_text).map_err(|error| {
        let offset = error.span().map(|span| span.start).unwrap_or(0);
        let message = error.message().trim().trim_end_matches('.').to_string();
        Diagnostic::at_offset(path, file_text, start + offset, message)
    })
}
