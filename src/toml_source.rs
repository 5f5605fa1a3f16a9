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
    let value = toml::from_str(toml_text).map_err(|error| {
        let offset = error.span().map(|span| span.start).unwrap_or(0);
        let message = error.message().trim().trim_end_matches('.').to_string();
        Diagnostic::at_offset(path, file_text, start + offset, message)
    })?;
    if let Some((offset, c)) = forbidden_escape(toml_text) {
        return Err(Diagnostic::at_offset(
            path,
            file_text,
            start + offset,
            format!(
                "escape `{}` is character U+{:04X}, which is not allowed in a feed: remove it",
                &toml_text[offset..offset + escape_len(toml_text, offset)],
                c as u32
            ),
        ));
    }
    Ok(value)
}

/// The first `\uXXXX` or `\UXXXXXXXX` escape in `toml_text` that decodes to
/// a character XML cannot carry, with its byte offset. (Characters written
/// as they are were refused before parsing; an escape only becomes one when
/// TOML decodes it.) A `\u` inside a literal string is not an escape, but
/// flagging one there too only asks the author to write it differently.
fn forbidden_escape(toml_text: &str) -> Option<(usize, char)> {
    let bytes = toml_text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = match bytes[i + 1] {
                b'u' => 4,
                b'U' => 8,
                _ => {
                    // Skip the escaped character, so `\\u0001` is not read as an escape.
                    i += 2;
                    continue;
                }
            };
            let hex = toml_text.get(i + 2..i + 2 + digits);
            let c = hex
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32);
            if let Some(c) = c.filter(|&c| !crate::xml_char::is_xml_char(c)) {
                return Some((i, c));
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    None
}

fn escape_len(toml_text: &str, offset: usize) -> usize {
    match toml_text.as_bytes().get(offset + 1) {
        Some(b'U') => 10,
        _ => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_escapes_of_forbidden_characters() {
        assert_eq!(forbidden_escape(r#"t = "a\u0001b""#), Some((6, '\u{1}')));
        assert_eq!(
            forbidden_escape(r#"t = "\U0000FFFE""#),
            Some((5, '\u{fffe}'))
        );
        assert_eq!(forbidden_escape(r#"t = "caf\u00e9 \\u0001""#), None);
        assert_eq!(forbidden_escape(r#"t = "\u00""#), None);
    }
}
