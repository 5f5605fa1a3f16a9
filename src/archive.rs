//! Archived feeds (RFC 5005 section 4): how one feed's items split into its
//! subscription document and a chain of archive pages, and where each
//! document stands in that chain. Pure arithmetic on counts; no rendering.
//!
//! The rule, with `n` items, a subscription document of `limit` items and
//! pages of `page_size`:
//!
//! - the subscription document holds the newest `limit` items;
//! - the `n - limit` older items are numbered from the oldest (0, 1, …) and
//!   archive page `k` (from 1) holds numbers `(k-1)·page_size` to
//!   `k·page_size - 1`: every page but the newest is full, and the newest
//!   holds the remainder, from 0 to `page_size - 1` items (it is published
//!   even when empty, so that the full page before it can always name it as
//!   its `next-archive`);
//! - with `n <= limit` there is no archive: the subscription document says
//!   it is complete.
//!
//! Why full pages never change: a new article is newer than every archived
//! one, so it only pushes the subscription document's oldest item onto the
//! newest page; the numbers counted from the oldest stay, and so do full
//! pages, their URLs and their links (a full page `k` always links `k-1`,
//! `k+1` and the subscription document). An edit changes only the page that
//! holds the article. What renumbers pages is a change to the past: an
//! article back-dated among archived ones, deleted, or moved out of the
//! feed shifts every page from its place onward.

use crate::feed::FeedView;
use crate::format::Format;

/// The folder of a feed's archive pages, inside the feed's own folder.
pub const ARCHIVE_DIR: &str = "archive";

/// How one feed's items split: `archived` items in `pages` archive pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Items held by the subscription document.
    pub current: usize,
    /// Items held by archive pages.
    pub archived: usize,
    /// Items per full archive page (at least 1).
    pub page_size: usize,
    /// Archive pages (0 when the subscription document holds every item).
    pub pages: usize,
}

impl Split {
    /// How `total` items split with a subscription document of `limit`
    /// items and archive pages of `page_size` (both at least 1).
    pub fn new(total: usize, limit: usize, page_size: usize) -> Split {
        let page_size = page_size.max(1);
        let archived = total.saturating_sub(limit);
        let pages = if archived == 0 {
            0
        } else {
            archived / page_size + 1
        };
        Split {
            current: total - archived,
            archived,
            page_size,
            pages,
        }
    }

    /// Where the subscription document stands.
    pub fn subscription(&self) -> Place {
        match self.pages {
            0 => Place::Complete,
            newest => Place::Subscription { newest },
        }
    }

    /// Which of `items` (newest first, as many as the split counted) archive
    /// page `page` holds, newest first; `None` for a page that does not exist.
    pub fn page_items<'s, T>(&self, items: &'s [T], page: usize) -> Option<&'s [T]> {
        if page == 0 || page > self.pages {
            return None;
        }
        // Numbers counted from the oldest: page `page` holds [first, end).
        let first = (page - 1) * self.page_size;
        let end = (page * self.page_size).min(self.archived);
        let total = self.current + self.archived;
        items.get(total - end..total - first)
    }

    /// True when archive page `page` is full, and so never changes as
    /// articles are added: every page but the newest.
    pub fn is_full(&self, page: usize) -> bool {
        page >= 1 && page < self.pages
    }
}

/// Where one feed document stands in its feed's archive chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// Not part of an archived feed: the document says nothing of archives.
    Alone,
    /// A subscription document that holds every item (`fh:complete`).
    Complete,
    /// A subscription document whose older items are in archive pages, the
    /// newest of which is `newest`.
    Subscription {
        /// The newest archive page's number.
        newest: usize,
    },
    /// Archive page `page` (1 is the oldest) of a feed whose newest page is `newest`.
    Archive {
        /// This page's number.
        page: usize,
        /// The newest archive page's number.
        newest: usize,
    },
}

/// A link of the chain: its relation and its site-relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// `prev-archive`, `next-archive` or `current`.
    pub rel: &'static str,
    /// The linked document's path, such as `opinion/archive/3/rss.xml`.
    pub path: String,
}

/// The site-relative path of archive page `page` of `feed` in `format`,
/// such as `opinion/archive/3/rss.xml`.
pub fn page_path(feed: &FeedView<'_>, page: usize, format: Format) -> String {
    format!("{}{ARCHIVE_DIR}/{page}/{}", feed.dir, format.file_name())
}

impl Place {
    /// The document's own site-relative path in `format`.
    pub fn path(&self, feed: &FeedView<'_>, format: Format) -> String {
        match *self {
            Place::Archive { page, .. } => page_path(feed, page, format),
            _ => feed.path(format),
        }
    }

    /// Its links along the chain: `prev-archive` towards older items, then
    /// (archive pages only) `next-archive` towards newer ones and `current`.
    pub fn links(&self, feed: &FeedView<'_>, format: Format) -> Vec<ChainLink> {
        let link = |rel, path| ChainLink { rel, path };
        match *self {
            Place::Alone | Place::Complete => Vec::new(),
            Place::Subscription { newest } => {
                vec![link("prev-archive", page_path(feed, newest, format))]
            }
            Place::Archive { page, newest } => {
                let mut links = Vec::with_capacity(3);
                if page > 1 {
                    links.push(link("prev-archive", page_path(feed, page - 1, format)));
                }
                if page < newest {
                    links.push(link("next-archive", page_path(feed, page + 1, format)));
                }
                links.push(link("current", feed.path(format)));
                links
            }
        }
    }

    /// The WebSub hubs the document names: the subscription document's
    /// (an archive page is no topic anyone subscribes to).
    pub fn hubs(&self, feed: &FeedView<'_>) -> Vec<String> {
        match self {
            Place::Archive { .. } => Vec::new(),
            _ => feed.hubs(),
        }
    }

    /// The empty element of the Feed History namespace the document
    /// carries: `complete` or `archive`.
    pub fn marker(&self) -> Option<&'static str> {
        match self {
            Place::Complete => Some("complete"),
            Place::Archive { .. } => Some("archive"),
            Place::Alone | Place::Subscription { .. } => None,
        }
    }

    /// The `atom:link`s an RSS or Atom document at this place carries, as
    /// (relation, absolute URL, media type): its `self` link, its chain
    /// links, then (on a subscription document) the WebSub hubs.
    pub fn atom_links(
        &self,
        feed: &FeedView<'_>,
        format: Format,
    ) -> Vec<(&'static str, String, Option<&'static str>)> {
        let media_type = Some(format.media_type());
        std::iter::once(("self", self.path(feed, format)))
            .chain(
                self.links(feed, format)
                    .into_iter()
                    .map(|link| (link.rel, link.path)),
            )
            .map(|(rel, path)| {
                (
                    rel,
                    feed.config.base_url.join(&path).to_string(),
                    media_type,
                )
            })
            // The WebSub hubs (WebSub section 4).
            .chain(self.hubs(feed).into_iter().map(|href| ("hub", href, None)))
            .collect()
    }

    /// The path of the next document a JSON Feed reader pages to
    /// (`next_url`): the next older one.
    pub fn older(&self, feed: &FeedView<'_>, format: Format) -> Option<String> {
        self.links(feed, format)
            .into_iter()
            .find(|link| link.rel == "prev-archive")
            .map(|link| link.path)
    }
}

/// The Feed History namespace (RFC 5005 section 5).
pub const HISTORY_NAMESPACE: &str = "http://purl.org/syndication/history/1.0";

#[cfg(test)]
mod tests {
    use super::*;

    /// Items named by their number counted from the oldest, newest first.
    fn items(total: usize) -> Vec<usize> {
        (0..total).rev().collect()
    }

    #[test]
    fn every_item_is_in_exactly_one_document() {
        for total in 0..40 {
            for limit in 1..6 {
                for page_size in 1..7 {
                    let split = Split::new(total, limit, page_size);
                    let all = items(total);
                    let mut seen: Vec<usize> = all[..split.current].to_vec();
                    for page in (1..=split.pages).rev() {
                        let held = split.page_items(&all, page).unwrap_or_default();
                        assert!(held.len() <= page_size);
                        if split.is_full(page) {
                            assert_eq!(held.len(), page_size, "{total} {limit} {page_size}");
                        } else {
                            assert!(held.len() < page_size);
                        }
                        seen.extend_from_slice(held);
                    }
                    assert_eq!(seen, all, "{total} {limit} {page_size}");
                    assert_eq!(split.page_items(&all, split.pages + 1), None);
                    assert_eq!(split.page_items(&all, 0), None);
                }
            }
        }
    }

    #[test]
    fn a_new_item_leaves_full_pages_as_they_were() {
        let (limit, page_size) = (3, 4);
        for total in 0..40 {
            let before = Split::new(total, limit, page_size);
            let after = Split::new(total + 1, limit, page_size);
            let (old, new) = (items(total), items(total + 1));
            for page in (1..=before.pages).filter(|&p| before.is_full(p)) {
                assert_eq!(
                    before.page_items(&old, page),
                    after.page_items(&new, page),
                    "{total}"
                );
                assert!(after.is_full(page));
            }
        }
    }

    #[test]
    fn a_feed_that_fits_is_complete_and_one_over_has_one_page() {
        assert_eq!(Split::new(20, 20, 100).subscription(), Place::Complete);
        assert_eq!(Split::new(0, 20, 100).subscription(), Place::Complete);
        let split = Split::new(21, 20, 100);
        assert_eq!(split.subscription(), Place::Subscription { newest: 1 });
        assert_eq!(split.page_items(&items(21), 1), Some(&[0][..]));
        // Exactly full: the full page is followed by an empty newest page.
        let split = Split::new(120, 20, 100);
        assert_eq!(split.pages, 2);
        assert!(split.is_full(1) && !split.is_full(2));
        assert_eq!(split.page_items(&items(120), 2), Some(&[][..]));
    }
}
