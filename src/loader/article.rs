//! Parsing one content file's text into what it says: an article
//! (`<slug>.md`) or a section's header (`_index.md`). Pure functions over
//! `&str`: no file is read here, and the same text and settings always give
//! the same article. Every mistake is a [`Diagnostic`] on its own line.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::fields::{collapse_whitespace, AuthorEntry, Date};
use super::front_matter;
use super::markdown;
use super::sanitize;
use crate::config::Config;
use crate::diagnostic::{line_of_offset, Diagnostic, Diagnostics};
use crate::fingerprint;
use crate::model::{Article, ArticleId, Author, Html};
use crate::toml_source;

/// The front matter of a section's `_index.md`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionFrontMatter {
    title: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    limit: Option<NonZeroUsize>,
}

/// A section's `_index.md`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SectionHeader {
    pub title: String,
    pub description: String,
    pub limit: Option<NonZeroUsize>,
}

/// Parses the text of a section's `_index.md`.
pub(crate) fn parse_section(path: &Path, text: &str) -> Result<SectionHeader, Diagnostics> {
    let split = front_matter::split(text).map_err(|e| Diagnostic::new(path, e.line, e.message))?;
    let front: SectionFrontMatter = toml_source::parse(path, text, split.front, split.front_start)?;
    let title = front.title.get_ref().trim().to_string();
    if title.is_empty() {
        return Err(empty_title(path, text, split.front_start, &front.title).into());
    }
    Ok(SectionHeader {
        title,
        description: front.description.trim().to_string(),
        limit: front.limit,
    })
}

fn empty_title(path: &Path, text: &str, start: usize, title: &Spanned<String>) -> Diagnostic {
    Diagnostic::at_offset(path, text, start + title.span().start, "`title` is empty")
}

/// The front matter of an article.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArticleFrontMatter {
    title: Spanned<String>,
    date: Spanned<Date>,
    #[serde(default)]
    updated: Option<Spanned<Date>>,
    #[serde(default)]
    authors: Vec<AuthorEntry>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    slug: Option<Spanned<String>>,
}

/// An article as parsed, with what the loader needs beyond the model.
#[derive(Debug, Clone)]
pub(crate) struct ParsedArticle {
    /// Shared between the cache and the model.
    pub article: Arc<Article>,
    pub draft: bool,
    /// The line of the `slug` key, or 1 when the slug is the file name.
    pub slug_line: usize,
    /// The line of the `tags` key (1 without tags), for errors on a tag.
    pub tags_line: usize,
    /// The line of each byline, in `article.authors`' order.
    pub author_lines: Vec<usize>,
}

/// Where a content file's front matter stands, so that errors found in a
/// key's value point at the key's line in the file.
struct FrontMatterPlace<'a> {
    path: &'a Path,
    text: &'a str,
    /// Byte offset of the front matter in `text`.
    start: usize,
}

impl FrontMatterPlace<'_> {
    /// An error at byte `offset` of the front matter.
    fn at(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at_offset(self.path, self.text, self.start + offset, message)
    }
}

/// Parses the text of an article in section `section`; `path` names it in errors.
pub(crate) fn parse_article(
    path: &Path,
    text: &str,
    section: &str,
    config: &Config,
) -> Result<ParsedArticle, Diagnostics> {
    let split = front_matter::split(text).map_err(|e| Diagnostic::new(path, e.line, e.message))?;
    let front: ArticleFrontMatter = toml_source::parse(path, text, split.front, split.front_start)?;
    let place = FrontMatterPlace {
        path,
        text,
        start: split.front_start,
    };
    let mut diagnostics = Diagnostics::default();
    let title = collapse_whitespace(front.title.get_ref());
    if title.is_empty() {
        diagnostics.push(empty_title(path, text, split.front_start, &front.title));
    }
    let (slug, slug_line) = slug_of(&place, front.slug.as_ref(), &mut diagnostics);
    let published = front.date.get_ref().0;
    let updated = front.updated.as_ref().map(|u| u.get_ref().0);
    if let (Some(updated), Some(spanned)) = (updated, &front.updated) {
        if updated < published {
            diagnostics.push(place.at(spanned.span().start, "`updated` is before `date`"));
        }
    }
    let (authors, author_lines) = authors_of(&place, front.authors, &mut diagnostics);
    let mut tags_line = 1;
    let tags = match front.tags {
        Some(given) => {
            let offset = given.span().start;
            tags_line = line_of_offset(text, split.front_start + offset);
            let tags = tags_of(given.into_inner());
            let most = config.limits.tags_per_article.get();
            if tags.len() > most {
                diagnostics.push(place.at(
                    offset,
                    format!(
                        "{} tags, more than the {most} an article may have (`[limits] tags_per_article` in config.toml)",
                        tags.len()
                    ),
                ));
            }
            tags
        }
        None => Vec::new(),
    };
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }

    let url = config.base_url.join(&format!("{section}/{slug}/"));
    let mut rendered = markdown::render(split.body, &url);
    let body_start = text.len() - split.body.len();
    if let Some((offset, c)) = rendered.forbidden {
        return Err(Diagnostic::at_offset(
            path,
            text,
            body_start + offset,
            format!(
                "a character reference here is character U+{:04X}, which is not allowed in a feed: remove it",
                c as u32
            ),
        )
        .into());
    }
    if config.sanitize_html {
        rendered.html = sanitize::html(&rendered.html);
    }
    let most = config.limits.article_html_bytes.get();
    if rendered.html.len() > most {
        return Err(Diagnostic::at_offset(
            path,
            text,
            body_start,
            format!(
                "the article's HTML is {}, more than the {} an article may have (`[limits] article_html_bytes` in config.toml): split the article or raise the limit",
                crate::config::bytes_in_words(rendered.html.len()),
                crate::config::bytes_in_words(most),
            ),
        )
        .into());
    }
    let summary = match front.description {
        Some(description) => collapse_whitespace(&description),
        None => rendered.first_paragraph,
    };
    let fingerprint = fingerprint::of(&(section, &slug, text));
    let article = Article {
        id: ArticleId::new(config.tag_authority.as_str(), published, section, &slug),
        section: section.to_string(),
        slug,
        title,
        published,
        updated,
        authors,
        summary,
        tags,
        content_html: Html::new(rendered.html),
        url,
        source: path.to_path_buf(),
        fingerprint,
    };
    Ok(ParsedArticle {
        article: Arc::new(article),
        draft: front.draft,
        slug_line,
        tags_line,
        author_lines,
    })
}

/// The article's slug, from its `slug` key or else its file name, checked,
/// with the line that gave it.
fn slug_of(
    place: &FrontMatterPlace<'_>,
    slug: Option<&Spanned<String>>,
    diagnostics: &mut Diagnostics,
) -> (String, usize) {
    match slug {
        Some(slug) => {
            if let Err(message) =
                check_slug(slug.get_ref()).and_then(|()| check_not_reserved(slug.get_ref()))
            {
                diagnostics.push(place.at(slug.span().start, format!("`slug` {message}")));
            }
            let line = line_of_offset(place.text, place.start + slug.span().start);
            (slug.get_ref().clone(), line)
        }
        None => {
            let stem = place
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Err(message) = check_slug(&stem).and_then(|()| check_not_reserved(&stem)) {
                diagnostics.push(Diagnostic::new(
                    place.path,
                    1,
                    format!("file name {message}; rename the file or set `slug`"),
                ));
            }
            (stem, 1)
        }
    }
}

/// The bylines, white space collapsed, each with its line; an empty name
/// is an error on its line.
fn authors_of(
    place: &FrontMatterPlace<'_>,
    entries: Vec<AuthorEntry>,
    diagnostics: &mut Diagnostics,
) -> (Vec<Author>, Vec<usize>) {
    let mut authors = Vec::new();
    let mut lines = Vec::new();
    for entry in entries {
        let name = collapse_whitespace(&entry.name);
        if name.is_empty() {
            diagnostics.push(place.at(entry.span.start, "an author's name is empty"));
        } else {
            lines.push(line_of_offset(place.text, place.start + entry.span.start));
            authors.push(Author {
                name,
                role: entry.role,
            });
        }
    }
    (authors, lines)
}

/// The tags, white space collapsed, empty ones and repeats left out (a
/// repeat is a tag of the same identity, whatever its case: see
/// `taxonomy`), in the order first given, each as first spelled. Linear in
/// the number of tags: a generated list of a hundred thousand must not
/// stall the build before it is refused.
fn tags_of(given: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(given.len());
    let mut tags: Vec<String> = Vec::new();
    for tag in given {
        let tag = collapse_whitespace(&tag);
        if !tag.is_empty() && seen.insert(crate::taxonomy::identity(&tag)) {
            tags.push(tag);
        }
    }
    tags
}

/// `page` is the folder of a section's later pages (`/opinion/page/2/`), so
/// no article may take it.
fn check_not_reserved(slug: &str) -> Result<(), String> {
    if slug == "page" {
        Err("`page` is reserved for the section's later pages (<section>/page/2/)".to_string())
    } else {
        Ok(())
    }
}

/// Slugs become URL path segments and parts of ids: lower-case ASCII letters,
/// digits, `-` and `_`, so they never need escaping anywhere.
pub(super) fn check_slug(slug: &str) -> Result<(), String> {
    let ok = !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{slug}` is not a valid slug: use lower-case letters, digits, `-` and `_`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            Path::new("config.toml"),
            "title = \"T\"\nbase_url = \"https://example.com/\"\ntag_authority = \"example.com\"\n",
        )
        .unwrap()
    }

    fn check(text: &str) -> Result<ParsedArticle, String> {
        parse_article(Path::new("content/s/a.md"), text, "s", &config()).map_err(|d| d.to_string())
    }

    #[test]
    fn parses_a_full_article() {
        let parsed = check(
            "+++\ntitle = \"Hello\"\ndate = 2024-05-20\nupdated = \"2024-05-21T10:00:00+08:00\"\nauthors = [\"A\", { name = \"B\", role = \"Editor\" }]\ntags = [\"x\", \"X \", \"y\"]\n+++\n\nFirst *para*.\n\n[link](img.png)\n",
        )
        .unwrap();
        let a = parsed.article;
        assert_eq!(a.title, "Hello");
        assert_eq!(a.published.to_rfc3339(), "2024-05-20T00:00:00+00:00");
        assert_eq!(a.updated.unwrap().to_rfc3339(), "2024-05-21T10:00:00+08:00");
        assert_eq!(
            a.authors[1],
            Author {
                name: "B".into(),
                role: Some("editor".into())
            }
        );
        assert_eq!(a.tags, ["x", "y"], "a repeat in another case is left out");
        assert_eq!(
            (parsed.tags_line, parsed.author_lines.clone()),
            (6, vec![5, 5])
        );
        assert_eq!(a.summary, "First para.");
        assert_eq!(a.id.as_str(), "tag:example.com,2024-05-20:s/a");
        assert_eq!(a.url.as_str(), "https://example.com/s/a/");
        assert!(a
            .content_html
            .as_str()
            .contains("https://example.com/s/a/img.png"));
    }

    #[test]
    fn errors_point_at_the_offending_line() {
        for (text, expected) in [
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20\ntittle = 1\n+++\n",
                "content/s/a.md:4: unknown field `tittle`",
            ),
            (
                "+++\ndate = 2024-05-20\n+++\n",
                "content/s/a.md:2: missing field `title`",
            ),
            (
                "+++\ntitle = \"  \"\ndate = 2024-05-20\n+++\n",
                "content/s/a.md:2: `title` is empty",
            ),
            (
                "+++\ntitle = \"x\"\n\ndate = \"May 20\"\n+++\n",
                "content/s/a.md:4: `May 20` is not a date",
            ),
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20T08:00:00\n+++\n",
                "content/s/a.md:3: date `2024-05-20T08:00:00` has no UTC offset",
            ),
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20\nslug = \"A B\"\n+++\n",
                "content/s/a.md:4: `slug` `A B` is not a valid slug",
            ),
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20\nauthors = [{ nam = \"x\" }]\n+++\n",
                "content/s/a.md:4: unknown field `nam`",
            ),
            (
                "+++\ntitle = \"x\"\ndate = 2024-05-20\ntitle = \"y\"\n+++\n",
                "content/s/a.md:4: ",
            ),
            (
                "+++\ntitle = \"x\"\n",
                "content/s/a.md:1: the front matter opened by `+++`",
            ),
            ("title = \"x\"\n", "content/s/a.md:1: no front matter"),
        ] {
            let err = check(text).err().unwrap_or_default();
            assert!(
                err.starts_with(expected),
                "{text:?}\n  got: {err}\n  expected: {expected}"
            );
        }
    }

    #[test]
    fn escapes_of_forbidden_characters_are_refused() {
        let err = check("+++\ntitle = \"a\\u0001b\"\ndate = 2024-01-01\n+++\n").unwrap_err();
        assert!(
            err.starts_with("content/s/a.md:2: escape `\\u0001` is character U+0001"),
            "{err}"
        );
        let err = check("+++\ntitle = \"x\"\ndate = 2024-01-01\n+++\n\nfine\n\nbad &#x7f; ref\n")
            .unwrap_err();
        assert!(
            err.starts_with("content/s/a.md:8: a character reference here is character U+007F"),
            "{err}"
        );
        assert!(
            check("+++\ntitle = \"caf\\u00e9\"\ndate = 2024-01-01\n+++\n&#0; &#xe9;\n").is_ok()
        );
    }

    #[test]
    fn section_header_parses() {
        let header = parse_section(
            Path::new("s/_index.md"),
            "+++\ntitle = \"S\"\nlimit = 3\n+++\n",
        )
        .unwrap();
        assert_eq!(header.title, "S");
        assert_eq!(header.limit.map(|l| l.get()), Some(3));
    }
}
