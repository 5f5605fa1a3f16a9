//! The site as feeds see it: sections of published articles, sorted, with
//! everything resolved (absolute URLs, plain-text summaries, rendered HTML).
//!
//! The model is built by `loader` and read by the renderers; it does no IO.

use std::cmp::Ordering;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use chrono::{DateTime, FixedOffset, Utc};
use url::Url;

use crate::config::Config;

/// A loaded site: its settings and its sections, sorted by folder name.
#[derive(Debug, Clone)]
pub struct Site {
    /// The settings from `config.toml`.
    pub config: Config,
    /// The sections, sorted by slug.
    pub sections: Vec<Section>,
    /// The earliest date of an article left out because it is dated after
    /// the load (drafts aside): when the site changes next with no edit.
    pub next_publication: Option<DateTime<Utc>>,
}

/// One folder of `content/`: a column of the publication, with its own feeds.
#[derive(Debug, Clone)]
pub struct Section {
    /// The folder name, which is also the section's URL path.
    pub slug: String,
    /// From `_index.md`.
    pub title: String,
    /// From `_index.md`; may be empty.
    pub description: String,
    /// The most items this section's feeds hold, overriding the site's `limit`.
    pub limit: Option<NonZeroUsize>,
    /// Published articles (no drafts, nothing dated in the future), newest
    /// first. Shared with the loader's cache, so a large site holds each
    /// article once.
    pub articles: Vec<Arc<Article>>,
    /// The files of the published articles (images, audio), by path.
    pub media: Vec<Media>,
}

/// A file an article shows or links to (an image, a recording), read from
/// the folder named after the article's slug beside it, and published beside
/// the article's page, where the article's relative references point.
#[derive(Debug, Clone)]
pub struct Media {
    /// Its URL path below the site root: `<section>/<slug>/<file name>`.
    pub path: String,
    /// The file's bytes, as they are.
    pub bytes: Bytes,
}

/// One published article.
#[derive(Debug, Clone)]
pub struct Article {
    /// The slug of the section it belongs to.
    pub section: String,
    /// Its URL path segment within the section.
    pub slug: String,
    /// Its permanent identity in every feed.
    pub id: ArticleId,
    /// The headline.
    pub title: String,
    /// When it was first published.
    pub published: DateTime<FixedOffset>,
    /// When it was last changed, if it was.
    pub updated: Option<DateTime<FixedOffset>>,
    /// Its bylines, in order.
    pub authors: Vec<Author>,
    /// Plain text: the `description`, else the body's first paragraph.
    pub summary: String,
    /// Topics, in the order the author gave them.
    pub tags: Vec<String>,
    /// The body as HTML, every link absolute.
    pub content_html: Html,
    /// Its absolute URL (the article's HTML page).
    pub url: Url,
    /// The file it was read from.
    pub source: PathBuf,
    /// A hash of its section, its slug and the file's text: equal
    /// fingerprints, equal articles and the same page (within one
    /// configuration). Lets a rebuild skip unchanged work; a list of
    /// stories is fingerprinted by its articles' fingerprints alone.
    pub fingerprint: u64,
}

impl Article {
    /// The site-relative path of the article's page, such as `opinion/energy/`.
    pub fn path(&self) -> String {
        // Joined by hand: a rebuild asks this of every article, and
        // `format!` took twice as long.
        let mut path = String::with_capacity(self.section.len() + self.slug.len() + 2);
        path.push_str(&self.section);
        path.push('/');
        path.push_str(&self.slug);
        path.push('/');
        path
    }

    /// When the article last changed: `updated`, else `published`.
    pub fn modified(&self) -> DateTime<FixedOffset> {
        self.updated.unwrap_or(self.published)
    }
}

/// HTML text held in shared bytes, so that an article's body can live inside
/// its rendered page rather than beside it: a large site then holds each
/// body once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(Bytes);

impl Html {
    /// HTML from a string.
    pub fn new(html: String) -> Html {
        Html(Bytes::from(html))
    }

    /// HTML from bytes whose text the caller has checked already (a slice
    /// of a page kept in a spill file, checked before it went there, so
    /// that building does not read the file back). Were they not text,
    /// [`Html::as_str`] would show nothing, never anything unsound.
    pub(crate) fn from_checked_bytes(bytes: Bytes) -> Html {
        Html(bytes)
    }

    /// Copies `texts` into one shared block and makes each a slice of it:
    /// one allocation in place of many (see the loader).
    pub fn pack(texts: &mut [&mut Html]) {
        let total = texts.iter().map(|html| html.0.len()).sum();
        let mut block = Vec::with_capacity(total);
        let mut spans = Vec::with_capacity(texts.len());
        for html in texts.iter() {
            let start = block.len();
            block.extend_from_slice(&html.0);
            spans.push(start..block.len());
        }
        let block = Bytes::from(block);
        for (html, span) in texts.iter_mut().zip(spans) {
            // Each span is exactly one whole UTF-8 text.
            **html = Html(block.slice(span));
        }
    }

    /// The HTML text.
    pub fn as_str(&self) -> &str {
        // Only UTF-8 ever gets in (see the constructors).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The bytes, shared.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

/// The order of every feed and list: newest first; among articles published at
/// the same instant, by section then slug, so the order never depends on the
/// order files happen to be read in.
pub fn newest_first(a: &Article, b: &Article) -> Ordering {
    b.published
        .cmp(&a.published)
        .then_with(|| a.section.cmp(&b.section))
        .then_with(|| a.slug.cmp(&b.slug))
}

/// A byline: a name and, where it is not plain authorship, the person's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The name as printed.
    pub name: String,
    /// A role such as `editor`; `None` for an author.
    pub role: Option<String>,
}

impl Author {
    /// The name with its role, as every feed format carries it:
    /// `TANG Zhexiao, editor`. Not `TANG Zhexiao (editor)`: RSS readers take
    /// `x (y)` for the `email (name)` convention of RSS's `author`, and
    /// `reader` then stores the byline of a `dc:creator` as the name
    /// `TANG Zhexiao` with the role lost, while Atom and JSON keep it whole.
    /// An appositive has no such reading in any parser.
    pub fn display_name(&self) -> String {
        match &self.role {
            None => self.name.clone(),
            Some(role) => format!("{}, {role}", self.name),
        }
    }

    /// The byline as a page prints it: `By TANG Zhexiao`, `Edited by TANG Zhexiao`.
    pub fn byline(&self) -> String {
        match self.role.as_deref() {
            None => format!("By {}", self.name),
            Some("editor") => format!("Edited by {}", self.name),
            Some("translator") => format!("Translated by {}", self.name),
            Some("photographer") => format!("Photos by {}", self.name),
            Some(role) => format!("{} ({role})", self.name),
        }
    }
}

/// An article's permanent id, a `tag:` URI (RFC 4151):
/// `tag:AUTHORITY,YYYY-MM-DD:SECTION/SLUG`, where the date is the article's
/// publication date. It depends on neither `base_url` nor the article's text,
/// so editing or moving the site never makes readers show an item twice.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArticleId(String);

impl ArticleId {
    /// The id of the article `section/slug` published on `published`'s date.
    pub fn new(
        authority: &str,
        published: DateTime<FixedOffset>,
        section: &str,
        slug: &str,
    ) -> Self {
        ArticleId(format!(
            "tag:{authority},{}:{section}/{slug}",
            published.format("%Y-%m-%d")
        ))
    }

    /// The id whose URI is `uri`, as [`ArticleId::new`] made it before
    /// (read back from a cache that kept it).
    pub(crate) fn from_uri(uri: String) -> Self {
        ArticleId(uri)
    }

    /// The URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Site {
    /// The site's `n` newest articles, newest first. Each section's list is
    /// sorted already, so the newest `n` of the site are among the first `n`
    /// of each section: only those are sorted, not every article.
    pub fn newest(&self, n: usize) -> Vec<&Article> {
        let mut newest: Vec<&Article> = self
            .sections
            .iter()
            .flat_map(|s| s.articles.iter().take(n).map(Arc::as_ref))
            .collect();
        newest.sort_by(|a, b| newest_first(a, b));
        newest.truncate(n);
        newest
    }

    /// How many articles are published.
    pub fn article_count(&self) -> usize {
        self.sections.iter().map(|s| s.articles.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_uses_authority_date_section_and_slug() {
        let date = DateTime::parse_from_rfc3339("2024-05-20T23:30:00-05:00").unwrap();
        let id = ArticleId::new("example.com", date, "opinion", "energy");
        assert_eq!(id.as_str(), "tag:example.com,2024-05-20:opinion/energy");
    }

    #[test]
    fn bylines_keep_roles() {
        let editor = Author {
            name: "TANG Zhexiao".into(),
            role: Some("editor".into()),
        };
        assert_eq!(editor.byline(), "Edited by TANG Zhexiao");
        assert_eq!(editor.display_name(), "TANG Zhexiao, editor");
        let author = Author {
            name: "GONG Qian".into(),
            role: None,
        };
        assert_eq!(author.byline(), "By GONG Qian");
        assert_eq!(author.display_name(), "GONG Qian");
    }
}
