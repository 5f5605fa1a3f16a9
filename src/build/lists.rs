//! The lists of the site, paged, and the feeds of its tags and authors: the
//! home page and its later pages, each section's pages, `/tags/` and
//! `/authors/`, each tag's and author's pages and feeds.
//!
//! Each resource is rendered only when what it shows changed: its
//! fingerprint covers the page's frame (settings, sections, issue date),
//! its place in the list and each story it shows (the article's path and
//! fingerprint), so that after an edit to one article only the pages and
//! feeds that list it are rendered again; the rest come from `earlier`.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use super::{keep, BuiltSet, ResourceKind, HTML};
use crate::feed::{site_updated, FeedView};
use crate::fingerprint;
use crate::model::{Article, Site};
use crate::render;
use crate::render::html::{page_dir, Paging};
use crate::spill::Spill;
use crate::taxonomy::{self, Kind, Term};

/// A resource rendered by an earlier build, given its URL path and the
/// fingerprint of what it must show: its bytes and date when it still
/// shows exactly that.
pub(super) type EarlierResource<'a> =
    dyn FnMut(&str, u64) -> Option<(Bytes, DateTime<FixedOffset>)> + Send + 'a;

/// A list resource (or a feed, or a sitemap) as this build published it,
/// for the next build: its URL path, the fingerprint of what it shows, its
/// bytes and date, and whether this build rendered it (rather than kept it).
pub(super) struct ListResource {
    pub path: String,
    pub fingerprint: u64,
    pub body: Bytes,
    pub modified: DateTime<FixedOffset>,
    pub rendered: bool,
}

/// Publishes into `built` what it renders or takes from `earlier`: what
/// must be rendered waits in `jobs`, and [`Publisher::finish`] renders it on
/// every core (a large site has thousands of list pages).
pub(super) struct Publisher<'e, 'b, 'j> {
    earlier: &'e mut EarlierResource<'b>,
    spill: &'e Spill,
    built: &'e mut BuiltSet,
    jobs: Vec<Job<'j>>,
}

/// One list resource: its place, and its bytes, earlier or to render.
struct Job<'j> {
    path: String,
    kind: ResourceKind,
    content_type: &'static str,
    fingerprint: u64,
    modified: DateTime<FixedOffset>,
    body: Option<Bytes>,
    /// True when this build renders it (no earlier bytes showed the same).
    fresh: bool,
    render: Option<Box<dyn FnOnce() -> Vec<u8> + Send + 'j>>,
}

impl<'e, 'b, 'j> Publisher<'e, 'b, 'j> {
    /// A publisher into `built` of resources kept in `spill` when cold,
    /// taken from `earlier` when they still show the same.
    pub(super) fn new(
        earlier: &'e mut EarlierResource<'b>,
        spill: &'e Spill,
        built: &'e mut BuiltSet,
    ) -> Publisher<'e, 'b, 'j> {
        Publisher {
            earlier,
            spill,
            built,
            jobs: Vec::new(),
        }
    }

    /// Publishes the resource at `path` showing what `fingerprint` covers:
    /// the earlier bytes when they show it, else `render()`'s.
    pub(super) fn publish(
        &mut self,
        path: &str,
        kind: ResourceKind,
        content_type: &'static str,
        fingerprint: u64,
        modified: DateTime<FixedOffset>,
        render: impl FnOnce() -> Vec<u8> + Send + 'j,
    ) {
        // A list's date comes from what it shows, computed again here.
        let body = (self.earlier)(path, fingerprint).map(|(body, _)| body);
        self.jobs.push(Job {
            path: path.to_string(),
            kind,
            content_type,
            fingerprint,
            modified,
            fresh: body.is_none(),
            render: body.is_none().then(|| Box::new(render) as Box<_>),
            body,
        });
    }

    /// Renders what has to be, on every core, and publishes everything;
    /// returns every resource published, for the next build.
    pub(super) fn finish(self) -> Vec<ListResource> {
        let Publisher {
            spill,
            built,
            mut jobs,
            ..
        } = self;
        let todo = jobs.iter().any(|job| job.body.is_none());
        crate::parallel::for_each(if todo { &mut jobs[..] } else { &mut [] }, |job| {
            if let Some(render) = job.render.take() {
                job.body = Some(keep(spill, job.kind, render()));
            }
        });
        jobs.into_iter()
            .filter_map(|job| {
                let body = job.body?;
                built.insert_bytes(
                    &job.path,
                    job.kind,
                    job.content_type,
                    body.clone(),
                    job.modified,
                );
                Some(ListResource {
                    path: job.path,
                    fingerprint: job.fingerprint,
                    body,
                    modified: job.modified,
                    rendered: job.fresh,
                })
            })
            .collect()
    }
}

/// What the stories of a list show of their articles: each one's page
/// (section and slug) and its text (headline, byline, standfirst, date
/// all come from the text; the column label from the section, in the
/// frame), which each article's fingerprint covers.
pub(super) fn stories_fingerprint(articles: &[&Article]) -> u64 {
    fingerprint::of_all(articles.iter().map(|a| a.fingerprint))
}

/// When a list page last changed: its newest story's change, or the
/// site's for an empty list.
fn newest(articles: &[&Article], site: &Site) -> DateTime<FixedOffset> {
    articles
        .iter()
        .map(|a| a.modified())
        .max()
        .unwrap_or_else(|| site_updated(site))
}

/// Publishes every list page and every tag's and author's feed of `site`.
/// `feeds` are the site's feed then each section's, in section order;
/// `everything` is every article, newest first.
pub(super) fn publish_lists<'s>(
    site: &'s Site,
    feeds: &[FeedView<'s>],
    everything: &[&'s Article],
    earlier: &mut EarlierResource<'_>,
    spill: &Spill,
    built: &mut BuiltSet,
) -> Vec<ListResource> {
    let config = &site.config;
    let page_size = config.page_size.get();
    // What every list page shows around its stories: the settings, the
    // sections' bar and column labels, and the issue date.
    let settings = fingerprint::of_debug(config);
    let frame = fingerprint::of(&(
        settings,
        site.sections
            .iter()
            .map(|s| (&s.slug, &s.title, &s.description))
            .collect::<Vec<_>>(),
        site.newest(1).first().map(|a| a.published),
    ));
    let Some((site_feed, section_feeds)) = feeds.split_first() else {
        return Vec::new();
    };
    // What the lists show, made first: the pages to render borrow it.
    let by_section: Vec<Vec<&Article>> = site
        .sections
        .iter()
        .map(|section| section.articles.iter().map(AsRef::as_ref).collect())
        .collect();
    let taxonomies: Vec<(Kind, Vec<Term<'_>>, Vec<FeedView<'_>>)> = [Kind::Tag, Kind::Author]
        .into_iter()
        .map(|kind| {
            let terms = taxonomy::terms_among(everything, kind);
            let term_feeds = terms
                .iter()
                .map(|term| FeedView::term(site, kind, term))
                .collect();
            (kind, terms, term_feeds)
        })
        .collect();
    let mut out = Publisher::new(earlier, spill, built);

    // The home page and its later pages.
    for paging in Paging::pages(everything.len(), page_size) {
        let shown = page_of(everything, paging, page_size);
        let fingerprint = fingerprint::of(&("home", frame, paging, stories_fingerprint(shown)));
        // The first page is dated by the site's newest change, as before it was paged.
        let modified = if paging.number == 1 {
            site_updated(site)
        } else {
            newest(shown, site)
        };
        out.publish(
            &page_dir("", paging.number),
            list_kind(paging),
            HTML,
            fingerprint,
            modified,
            move || render::html::home(site, site_feed, paging, shown),
        );
    }

    // Each section's pages.
    for ((section, feed), articles) in site.sections.iter().zip(section_feeds).zip(&by_section) {
        for paging in Paging::pages(articles.len(), page_size) {
            let shown = page_of(articles, paging, page_size);
            let fingerprint = fingerprint::of(&(
                "section",
                frame,
                &section.slug,
                section.limit,
                paging,
                stories_fingerprint(shown),
            ));
            let modified = if paging.number == 1 {
                feed.updated
            } else {
                newest(shown, site)
            };
            out.publish(
                &page_dir(&feed.dir, paging.number),
                list_kind(paging),
                HTML,
                fingerprint,
                modified,
                move || render::html::section(site, section, feed, site_feed, paging, shown),
            );
        }
    }

    // Tags and authors: the index, then each term's feeds and pages.
    for (kind, terms, term_feeds) in &taxonomies {
        publish_index(&mut out, site, *kind, terms, term_feeds, site_feed, frame);
        for (term, feed) in terms.iter().zip(term_feeds) {
            publish_term(
                &mut out,
                site,
                *kind,
                term,
                feed,
                site_feed,
                (settings, frame),
            );
        }
    }
    out.finish()
}

/// `/tags/` or `/authors/`: every term, its count, and its feed's link.
fn publish_index<'j>(
    out: &mut Publisher<'_, '_, 'j>,
    site: &'j Site,
    kind: Kind,
    terms: &'j [Term<'j>],
    term_feeds: &'j [FeedView<'j>],
    site_feed: &'j FeedView<'j>,
    frame: u64,
) {
    let fingerprint = fingerprint::of(&(
        kind,
        frame,
        terms
            .iter()
            .map(|t| (&t.slug, t.name, t.articles.len()))
            .collect::<Vec<_>>(),
    ));
    let modified = terms
        .iter()
        .filter_map(|t| t.articles.first().map(|a| a.modified()))
        .max()
        .unwrap_or_else(|| site_updated(site));
    out.publish(
        kind.dir(),
        ResourceKind::Index,
        HTML,
        fingerprint,
        modified,
        move || render::html::term_index(site, kind, terms, term_feeds, site_feed),
    );
}

/// One tag's or author's feeds, in every published format, and its pages.
fn publish_term<'j>(
    out: &mut Publisher<'_, '_, 'j>,
    site: &'j Site,
    kind: Kind,
    term: &'j Term<'j>,
    feed: &'j FeedView<'j>,
    site_feed: &'j FeedView<'j>,
    (settings, frame): (u64, u64),
) {
    let items = fingerprint::of(&(
        settings,
        &feed.title,
        &feed.description,
        stories_fingerprint(&feed.items),
    ));
    for format in site.config.formats.iter() {
        out.publish(
            &feed.path(format),
            ResourceKind::Feed,
            format.spec().content_type,
            fingerprint::of(&(items, format)),
            feed.updated,
            move || render::feed(format, feed),
        );
        out.built.feeds += 1;
    }
    let page_size = site.config.page_size.get();
    for paging in Paging::pages(term.articles.len(), page_size) {
        let shown = page_of(&term.articles, paging, page_size);
        let fingerprint = fingerprint::of(&(
            kind,
            frame,
            &term.slug,
            term.name,
            paging,
            stories_fingerprint(shown),
        ));
        out.publish(
            &page_dir(&feed.dir, paging.number),
            list_kind(paging),
            HTML,
            fingerprint,
            newest(shown, site),
            move || render::html::term(site, kind, term, feed, site_feed, paging, shown),
        );
    }
}

/// What a list's page is: its first page, or a later one.
fn list_kind(paging: Paging) -> ResourceKind {
    if paging.number == 1 {
        ResourceKind::Index
    } else {
        ResourceKind::LaterPage
    }
}

/// The stories of page `paging` of `articles`.
fn page_of<'s, 'a>(
    articles: &'s [&'a Article],
    paging: Paging,
    page_size: usize,
) -> &'s [&'a Article] {
    let start = paging.first.min(articles.len());
    let end = (paging.first + page_size).min(articles.len());
    &articles[start..end]
}
