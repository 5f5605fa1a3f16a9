//! The archive pages of the site feed and of every section feed, in every
//! published format (RFC 5005 section 4; the split is `crate::archive`'s).
//!
//! A page is rendered only when no earlier build left one under the same
//! fingerprint (everything it shows: the settings, the feed's title, its
//! place in the chain, the format and its items), so adding an article
//! renders the newest page of the feeds it is in, and an edit the page that
//! holds the article; full pages untouched are reused as they are.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use super::{keep, BuiltSet, ResourceKind};
use crate::archive::{Place, Split};
use crate::feed::FeedView;
use crate::fingerprint;
use crate::format::Format;
use crate::model::{Article, Site};
use crate::parallel;
use crate::render;
use crate::spill::Spill;

/// One feed's items and how they split.
pub(super) struct FeedArchive<'a> {
    /// The feed's folder (`""`, `opinion/`).
    pub dir: String,
    /// Every item of the feed, newest first.
    pub items: Vec<&'a Article>,
    /// How they split into the subscription document and archive pages.
    pub split: Split,
}

/// The archives of the site feed and the section feeds, by feed folder.
pub(super) struct Archives<'a>(Vec<FeedArchive<'a>>);

impl<'a> Archives<'a> {
    /// How the items of `feeds` (the site feed first, then one per section,
    /// in `site.sections` order) split; `everything` is every article of
    /// the site, newest first.
    pub fn new(site: &'a Site, feeds: &[FeedView<'a>], everything: &[&'a Article]) -> Archives<'a> {
        let page_size = site.config.archive_page_size.get();
        let site_items = feeds.first().map(|feed| (feed, everything.to_vec()));
        let section_items = site
            .sections
            .iter()
            .zip(feeds.iter().skip(1))
            .map(|(s, feed)| {
                let items: Vec<&Article> = s.articles.iter().map(|a| a.as_ref()).collect();
                (feed, items)
            });
        Archives(
            site_items
                .into_iter()
                .chain(section_items)
                .map(|(feed, items)| FeedArchive {
                    dir: feed.dir.clone(),
                    // The subscription document holds `feed.items`, the
                    // newest `limit` (or all, when fewer).
                    split: Split::new(items.len(), feed.items.len(), page_size),
                    items,
                })
                .collect(),
        )
    }

    /// Where the subscription document of the feed in `dir` stands: alone
    /// for a feed with no archive (one this module does not know).
    pub fn place_of(&self, feed: &FeedView<'_>) -> Place {
        self.0
            .iter()
            .find(|archive| archive.dir == feed.dir)
            .map_or(Place::Alone, |archive| archive.split.subscription())
    }
}

/// An archive page as this build published it, for the next build to reuse.
pub(super) struct ArchivePage {
    pub path: String,
    pub fingerprint: u64,
    pub body: Bytes,
}

/// An archive page rendered by an earlier build, given its path and the
/// fingerprint of what it must show.
pub(super) type EarlierArchivePage<'a> = dyn FnMut(&str, u64) -> Option<Bytes> + 'a;

/// Publishes every archive page of `archives` in every format, taking
/// unchanged pages from `earlier`; returns every page published.
pub(super) fn publish(
    site: &Site,
    feeds: &[FeedView<'_>],
    archives: &Archives<'_>,
    earlier: &mut EarlierArchivePage<'_>,
    spill: &Spill,
    built: &mut BuiltSet,
) -> Vec<ArchivePage> {
    let config_fingerprint = fingerprint::of_debug(&site.config);
    struct Slot<'v> {
        view: FeedView<'v>,
        place: Place,
        format: Format,
        path: String,
        fingerprint: u64,
        kind: ResourceKind,
        body: Option<Bytes>,
    }
    let mut slots = Vec::new();
    for (feed, archive) in feeds.iter().zip(&archives.0) {
        let split = archive.split;
        if split.pages == 0 {
            continue;
        }
        // What an empty newest page is dated by: the items before it.
        let archived_newest = archive.items[split.current..]
            .iter()
            .map(|a| a.modified())
            .max();
        for page in 1..=split.pages {
            let items = split.page_items(&archive.items, page).unwrap_or_default();
            let updated = items
                .iter()
                .map(|a| a.modified())
                .max()
                .or(archived_newest)
                .unwrap_or(feed.updated);
            let place = Place::Archive {
                page,
                newest: split.pages,
            };
            let view = FeedView {
                items: items.to_vec(),
                updated,
                ..feed.clone()
            };
            let kind = if split.is_full(page) {
                ResourceKind::ArchivePage
            } else {
                ResourceKind::NewestArchivePage
            };
            let items_fingerprint =
                page_fingerprint(config_fingerprint, &view, (page, kind), updated);
            for format in site.config.formats.iter() {
                let path = place.path(&view, format);
                let fingerprint = fingerprint::of(&(items_fingerprint, format));
                let body = earlier(&path, fingerprint);
                slots.push(Slot {
                    view: view.clone(),
                    place,
                    format,
                    path,
                    fingerprint,
                    kind,
                    body,
                });
            }
        }
    }
    let todo = slots.iter().any(|slot| slot.body.is_none());
    parallel::for_each(if todo { &mut slots[..] } else { &mut [] }, |slot| {
        if slot.body.is_none() {
            let bytes = render::feed_at(slot.format, &slot.view, &slot.place);
            slot.body = Some(keep(spill, slot.kind, bytes));
        }
    });
    slots
        .into_iter()
        .filter_map(|slot| {
            let body = slot.body?;
            built.insert_bytes(
                &slot.path,
                slot.kind,
                slot.format.spec().content_type,
                body.clone(),
                slot.view.updated,
            );
            Some(ArchivePage {
                path: slot.path,
                fingerprint: slot.fingerprint,
                body,
            })
        })
        .collect()
}

/// A fingerprint of everything an archive page shows but its format: the
/// settings, the feed's title and folder, its number and whether it is
/// full (not the newest page's number: a full page links the same pages
/// however many follow), its date and its items (each by its fingerprint:
/// its section, slug and text, which make the rest).
fn page_fingerprint(
    config: u64,
    view: &FeedView<'_>,
    place: (usize, ResourceKind),
    updated: DateTime<FixedOffset>,
) -> u64 {
    let items = super::lists::stories_fingerprint(&view.items);
    fingerprint::of(&(
        config,
        &view.title,
        &view.description,
        &view.dir,
        place,
        updated,
        items,
    ))
}
