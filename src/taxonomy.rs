//! Tags and authors as the site groups them: which names are one term, the
//! URL segment (slug) each term is published under, and the articles of
//! each term. Pure functions over the model: no IO, no clock, no hash map
//! order in anything returned.
//!
//! The rule, in three steps (README, "Tags and authors"):
//!
//! 1. **Identity.** White space is collapsed (the loader does it), then the
//!    name is decomposed (NFD), given full Unicode case folding
//!    (`CaseFolding.txt`, statuses C and F, through the `caseless` crate:
//!    `ẞ` and `ß` fold to `ss`, every sigma to `σ`) and recomposed (NFC).
//!    Two names with one identity are one term: "Économie" and "économie",
//!    "China-Russia relations" and "china-russia  relations".
//! 2. **Slug.** From the identity: letters, digits and combining marks of
//!    any script are kept as they are (`économie`, `中俄关系`, `اقتصاد`),
//!    `_` too; every other character (space, punctuation, symbols) is a
//!    separator, and runs of separators become one `-`, none at either end.
//!    A slug is at most [`MAX_SLUG_BYTES`] bytes, cut at a character. A name
//!    with nothing left (`!!!`) gets `_` and the hex of its identity's UTF-8
//!    bytes (`_212121`). So every name has a slug, and a slug never holds
//!    `/`, `.`, `%`, `?` or `#`: it is never a file name such as `rss.xml`,
//!    never `.` or `..`, and a link only has to percent-encode its UTF-8.
//! 3. **Collisions.** Two terms with different identities and one slug
//!    ("C++" and "C#" are both `c`) are an error naming both
//!    ([`collisions`]), never merged and never overwritten.
//!
//! The display name of a term is the spelling of its earliest published use
//! (by [`newest_first`] reversed): a new article never renames a tag, and the
//! name is the same whatever order files are read in.

use std::collections::HashMap;

use caseless::Caseless;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::config::Config;
use crate::model::Article;

/// The longest slug, in bytes: file names in an export stay well under the
/// 255 bytes file systems allow (a Chinese character is 3 bytes).
pub const MAX_SLUG_BYTES: usize = 120;

/// Which kind of term: the two share every rule and differ in where they live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A topic from an article's `tags`.
    Tag,
    /// A person from an article's `authors`, whatever the role.
    Author,
}

impl Kind {
    /// The folder the kind's pages live in, relative to the site root: `tags/`.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::Tag => "tags/",
            Kind::Author => "authors/",
        }
    }

    /// "tag" or "author", for messages and pages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Tag => "tag",
            Kind::Author => "author",
        }
    }

    /// The names of this kind an article carries, in its order.
    pub fn names(self, article: &Article) -> impl Iterator<Item = &str> {
        let (tags, authors) = match self {
            Kind::Tag => (article.tags.as_slice(), &[][..]),
            Kind::Author => (&[][..], article.authors.as_slice()),
        };
        tags.iter()
            .map(String::as_str)
            .chain(authors.iter().map(|a| a.name.as_str()))
    }
}

/// The identity of a name: NFC of the full case folding of its NFD.
pub fn identity(name: &str) -> String {
    name.nfd().default_case_fold().nfc().collect()
}

/// The URL segment of a name (see the module's rule). Total: every name,
/// even an empty one, has a non-empty slug.
pub fn slug(name: &str) -> String {
    slug_of_identity(&identity(name))
}

fn slug_of_identity(identity: &str) -> String {
    let mut slug = String::with_capacity(identity.len());
    let mut separator = false;
    for c in identity.chars() {
        if c.is_alphanumeric() || c == '_' || (is_combining_mark(c) && !slug.is_empty()) {
            if separator && !slug.is_empty() {
                if slug.len() + 1 + c.len_utf8() > MAX_SLUG_BYTES {
                    break;
                }
                slug.push('-');
            }
            if slug.len() + c.len_utf8() > MAX_SLUG_BYTES {
                break;
            }
            separator = false;
            slug.push(c);
        } else {
            separator = true;
        }
    }
    if slug.is_empty() {
        slug.push('_');
        for byte in identity.bytes().take((MAX_SLUG_BYTES - 1) / 2) {
            slug.push_str(&format!("{byte:02x}"));
        }
    }
    slug
}

/// The site-relative path of a term's page: `tags/économie/`.
pub fn path(kind: Kind, name: &str) -> String {
    format!("{}{}/", kind.dir(), slug(name))
}

/// The absolute URL of a term's page; non-ASCII is percent-encoded UTF-8.
///
/// Remembered per thread: every item of every feed names its authors'
/// pages, and folding, slugging and joining a name once per use was a
/// twentieth of a large export's time; the same few hundred names recur.
pub fn url(config: &Config, kind: Kind, name: &str) -> url::Url {
    thread_local! {
        static URLS: std::cell::RefCell<UrlMemo> = std::cell::RefCell::default();
    }
    URLS.with_borrow_mut(|memo| {
        let base = config.base_url.url().as_str();
        if memo.base != base {
            *memo = UrlMemo {
                base: base.to_string(),
                ..UrlMemo::default()
            };
        }
        let urls = &mut memo.urls[kind as usize];
        if let Some(url) = urls.get(name) {
            return url.clone();
        }
        // A bound on what a site of absurdly many names keeps.
        if urls.len() >= 4096 {
            urls.clear();
        }
        let url = config.base_url.join(&path(kind, name));
        urls.insert(name.to_string(), url.clone());
        url
    })
}

/// The term URLs one thread has made under one base URL, by kind and name.
#[derive(Default)]
struct UrlMemo {
    base: String,
    urls: [HashMap<String, url::Url>; 2],
}

/// The absolute URL of a kind's index page (`<base_url>tags/`): the
/// `domain` of RSS categories and the `scheme` of Atom ones.
pub fn index_url(config: &Config, kind: Kind) -> url::Url {
    config.base_url.join(kind.dir())
}

/// One tag or author and the articles that carry it.
#[derive(Debug, Clone)]
pub struct Term<'a> {
    /// Its URL segment.
    pub slug: String,
    /// The spelling of its earliest published use.
    pub name: &'a str,
    /// Its articles, newest first.
    pub articles: Vec<&'a Article>,
}

impl Term<'_> {
    /// The site-relative path of its page: `tags/<slug>/`.
    pub fn dir(&self, kind: Kind) -> String {
        format!("{}{}/", kind.dir(), self.slug)
    }
}

/// Every term of `kind` among `articles`, by identity (so in a stable order that
/// ignores case), each with its articles newest first. Terms whose slugs
/// collide are kept apart here; the loader refuses such content first.
///
/// `articles` are every published article, newest first (as `Site::newest`
/// gives them).
pub fn terms_among<'a>(articles: &[&'a Article], kind: Kind) -> Vec<Term<'a>> {
    // Oldest first, so that the first name seen is the earliest use, and
    // each term's list comes out newest first once reversed.
    let articles = articles.iter().rev().copied();
    // Each spelling is folded once, and each use is then one lookup of its
    // spelling (a site of 100,000 articles gives hundreds of thousands of
    // uses of a few hundred spellings).
    let mut by_spelling: HashMap<&str, usize> = HashMap::new();
    let mut by_identity: HashMap<String, usize> = HashMap::new();
    let mut found: Vec<(String, Term<'_>)> = Vec::new();
    for article in articles {
        for name in kind.names(article) {
            let at = match by_spelling.get(name) {
                Some(&at) => at,
                None => {
                    let identity = identity(name);
                    let at = *by_identity.entry(identity.clone()).or_insert_with(|| {
                        found.push((
                            identity.clone(),
                            Term {
                                slug: slug_of_identity(&identity),
                                name,
                                articles: Vec::new(),
                            },
                        ));
                        found.len() - 1
                    });
                    by_spelling.insert(name, at);
                    at
                }
            };
            let term = &mut found[at].1;
            // A name given twice in one article (as editor and author) counts once.
            if term
                .articles
                .last()
                .is_none_or(|last| !std::ptr::eq(*last, article))
            {
                term.articles.push(article);
            }
        }
    }
    // By identity: a stable order that ignores case.
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
        .into_iter()
        .map(|(_, mut term)| {
            term.articles.reverse();
            term
        })
        .collect()
}

/// Where one name was given: the file, the line, the name as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use<'a> {
    /// The article's file, as messages show it.
    pub source: &'a std::path::Path,
    /// The line of the name (or of its list).
    pub line: usize,
    /// The name as written.
    pub name: &'a str,
}

/// A slug that two different names would share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision<'a> {
    /// The shared slug.
    pub slug: String,
    /// The first use of the slug's first name, in the order given.
    pub first: Use<'a>,
    /// A use of another name with that slug.
    pub other: Use<'a>,
}

/// Every pair of names of one kind with different identities and one slug,
/// given the uses in a stable order (the first use of a slug claims it);
/// each other identity is reported once, at its first use.
pub fn collisions<'a>(uses: impl IntoIterator<Item = Use<'a>>) -> Vec<Collision<'a>> {
    let mut claimed: HashMap<String, (String, Use<'a>)> = HashMap::new();
    let mut reported: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut found = Vec::new();
    // A site of 10,000 articles gives tens of thousands of uses of a few
    // hundred spellings, and a later use of a spelling says nothing new
    // (same identity, same slug, and a collision of that identity is
    // reported at its first use): each spelling is folded once.
    let mut seen: std::collections::HashSet<&'a str> = std::collections::HashSet::new();
    for one in uses {
        if !seen.insert(one.name) {
            continue;
        }
        let identity = identity(one.name);
        let slug = slug_of_identity(&identity);
        match claimed.get(&slug) {
            None => {
                claimed.insert(slug, (identity, one));
            }
            Some((first_identity, first)) => {
                if *first_identity != identity && reported.insert(identity) {
                    found.push(Collision {
                        slug,
                        first: first.clone(),
                        other: one,
                    });
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn case_and_spacing_variants_are_one_identity_and_slug() {
        assert_eq!(
            identity("China-Russia relations"),
            identity("china-russia relations")
        );
        assert_eq!(slug("China-Russia relations"), "china-russia-relations");
        assert_eq!(identity("Économie"), identity("économie"));
        // Decomposed and precomposed é are one.
        assert_eq!(identity("E\u{301}conomie"), identity("économie"));
        assert_eq!(slug("Économie"), "économie");
    }

    #[test]
    fn folding_is_full_case_folding_not_lowercasing() {
        // `to_lowercase` leaves ß as it is and makes ẞ ß; folding makes both "ss".
        assert_eq!(identity("Straße"), identity("STRASSE"));
        assert_eq!(identity("ẞ"), "ss");
        // Final and medial sigma are one letter.
        assert_eq!(identity("ΟΔΟΣ"), identity("οδος"));
        assert_eq!(identity("οδος"), identity("οδοσ"));
    }

    #[test]
    fn other_scripts_keep_their_letters() {
        assert_eq!(slug("中俄关系"), "中俄关系");
        assert_eq!(slug("الاقتصاد العالمي"), "الاقتصاد-العالمي");
        assert_eq!(slug("हिन्दी"), "हिन्दी", "combining marks are kept");
        assert_eq!(slug("São Paulo"), "são-paulo");
    }

    #[test]
    fn punctuation_separates_and_reserved_names_cannot_arise() {
        assert_eq!(slug("rss.xml"), "rss-xml");
        assert_eq!(slug("feed.json"), "feed-json");
        assert_eq!(slug("index.html"), "index-html");
        assert_eq!(slug("page"), "page");
        assert_eq!(slug("  a / b ? c # d %e "), "a-b-c-d-e");
        assert_eq!(slug("snake_case"), "snake_case");
    }

    #[test]
    fn every_name_has_a_slug() {
        assert_eq!(slug("!!!"), "_212121");
        assert_eq!(slug(".."), "_2e2e");
        assert_eq!(slug(""), "_");
        let long = "字".repeat(100);
        let cut = slug(&long);
        assert!(
            cut.len() <= MAX_SLUG_BYTES && cut.len() > 100,
            "{}",
            cut.len()
        );
        assert!(slug(&"!".repeat(500)).len() <= MAX_SLUG_BYTES);
    }

    #[test]
    fn different_names_sharing_a_slug_are_collisions() {
        let (a, b) = (Path::new("a.md"), Path::new("b.md"));
        let uses = vec![
            Use {
                source: a,
                line: 3,
                name: "C++",
            },
            Use {
                source: b,
                line: 4,
                name: "c++",
            },
            Use {
                source: b,
                line: 4,
                name: "C#",
            },
            Use {
                source: a,
                line: 5,
                name: "c#",
            },
        ];
        let found = collisions(uses);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].slug, "c");
        assert_eq!(found[0].first.name, "C++");
        assert_eq!(found[0].other.name, "C#");
        assert_eq!(found[0].other.line, 4);
    }
}
