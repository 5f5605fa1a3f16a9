//! Splitting a content file into its TOML front matter and its Markdown body.
//!
//! A content file starts with a line `+++`, then TOML, then another `+++`
//! line, then the body. This module only finds those lines; it knows nothing
//! of the keys (see `loader`).

/// A content file cut in two, with byte offsets into the file so that errors
/// inside either part can be reported on the file's own lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split<'a> {
    /// The TOML between the `+++` lines.
    pub front: &'a str,
    /// Byte offset of `front` in the file.
    pub front_start: usize,
    /// Everything after the closing `+++` line.
    pub body: &'a str,
}

/// A file whose front matter cannot be found: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitError {
    pub line: usize,
    pub message: String,
}

/// Finds the front matter of `text`, which must start with a `+++` line.
pub(crate) fn split(text: &str) -> Result<Split<'_>, SplitError> {
    // A UTF-8 byte order mark is invisible in editors; let it pass.
    let start = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let mut lines = Lines { text, pos: start };
    match lines.next() {
        Some((_, line)) if is_fence(line) => {}
        None => {
            return Err(SplitError {
                line: 1,
                message: "file is empty: an article needs front matter between `+++` lines, with at least `title` and `date`".into(),
            })
        }
        Some(_) => {
            return Err(SplitError {
                line: 1,
                message: "no front matter: the file must start with a `+++` line (did you forget `+++`?)".into(),
            })
        }
    }
    let front_start = lines.pos;
    while let Some((line_start, line)) = lines.next() {
        if is_fence(line) {
            return Ok(Split {
                front: &text[front_start..line_start],
                front_start,
                body: &text[lines.pos..],
            });
        }
    }
    Err(SplitError {
        line: 1,
        message:
            "the front matter opened by `+++` on this line is never closed by another `+++` line"
                .into(),
    })
}

fn is_fence(line: &str) -> bool {
    line.trim_end() == "+++"
}

/// Lines of a text with the byte offset each starts at, line endings removed.
struct Lines<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let start = self.pos;
        let rest = &self.text[start..];
        let (line, advance) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        Some((start, line.strip_suffix('\r').unwrap_or(line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_front_matter_and_body() {
        let text = "+++\ntitle = \"a\"\n+++\n\nbody\n";
        let split = split(text).unwrap();
        assert_eq!(split.front, "title = \"a\"\n");
        assert_eq!(split.front_start, 4);
        assert_eq!(split.body, "\nbody\n");
    }

    #[test]
    fn accepts_crlf_and_bom() {
        let text = "\u{feff}+++\r\ntitle = \"a\"\r\n+++\r\nbody";
        let split = split(text).unwrap();
        assert_eq!(split.front, "title = \"a\"\r\n");
        assert_eq!(split.body, "body");
    }

    #[test]
    fn missing_opening_fence_is_line_one() {
        let err = split("title = \"a\"\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("did you forget `+++`?"));
    }

    #[test]
    fn unclosed_front_matter_is_an_error() {
        let err = split("+++\ntitle = \"a\"\n").unwrap_err();
        assert!(err.message.contains("never closed"), "{}", err.message);
    }

    #[test]
    fn empty_file_is_an_error() {
        assert!(split("").unwrap_err().message.starts_with("file is empty"));
    }

    #[test]
    fn file_ending_at_the_closing_fence_has_an_empty_body() {
        let split = split("+++\n+++").unwrap();
        assert_eq!(split.front, "");
        assert_eq!(split.body, "");
    }
}
