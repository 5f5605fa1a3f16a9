//! The pure build: a loaded site in, every published resource out. Feeds in
//! each format, the OPML list, the feeds' and the pages' stylesheets, the
//! icon, the home page, section pages, article pages and articles' files,
//! each at its URL path with its media type and time. No IO, no clock: the
//! same site gives the same bytes.

use std::ops::Range;
use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use super::archive::{self, ArchivePage, Archives, EarlierArchivePage};
use super::lists::{publish_lists, stories_fingerprint, EarlierResource, ListResource, Publisher};
use super::{keep, media_type, sitemap, BuiltSet, ResourceKind, CSS, HTML, OPML};
use crate::archive::Place;
use crate::feed::{site_updated, FeedView};
use crate::fingerprint;
use crate::format::Format;
use crate::model::{Article, Html, Section, Site};
use crate::parallel;
use crate::render;
use crate::spill::Spill;

/// An article page as this build published it, for the incremental build
/// to keep: its URL path, the fingerprint of what it shows, its bytes and
/// where the article's body stands in them; and, when the article still
/// holds its body in an allocation of its own, the body as the slice of the
/// page, to be shared so the text is in memory once.
pub(super) struct ArticlePage {
    pub path: String,
    pub fingerprint: u64,
    pub body: Bytes,
    pub content: Range<usize>,
    /// Whether the body's range was checked to be text when the page was rendered.
    pub body_is_text: bool,
    /// The article's file, and its body as the slice of the page.
    pub body_to_share: Option<(PathBuf, Html)>,
}

/// A page rendered by an earlier build, given its URL path and the
/// fingerprint of what it must show: `Some((bytes, body range, whether the
/// body was checked to be text))` when that page still shows exactly this.
pub(super) type EarlierPage<'a> = dyn FnMut(&str, u64) -> Option<(Bytes, Range<usize>, bool)> + 'a;

/// What a build leaves for the next to reuse: the article pages, the
/// archive pages, and the list pages and tags' and authors' feeds it
/// published.
pub(super) struct Rendered {
    pub articles: Vec<ArticlePage>,
    pub archives: Vec<ArchivePage>,
    pub lists: Vec<ListResource>,
}

/// Renders every output of `site`, taking article pages from `earlier`,
/// archive pages from `earlier_archive`, and feeds, list pages and
/// sitemaps from `earlier_lists`, when nothing they show has changed; then
/// the sitemap of every page published.
pub(super) fn publish(
    site: &Site,
    earlier: &mut EarlierPage<'_>,
    earlier_archive: &mut EarlierArchivePage<'_>,
    earlier_lists: &mut EarlierResource<'_>,
    spill: &Spill,
) -> (BuiltSet, Rendered) {
    let (mut built, mut rendered) =
        publish_resources(site, earlier, earlier_archive, earlier_lists, spill);
    rendered.lists.extend(sitemap::publish(
        &site.config.base_url,
        earlier_lists,
        &mut built,
    ));
    (built, rendered)
}

fn publish_resources(
    site: &Site,
    earlier: &mut EarlierPage<'_>,
    earlier_archive: &mut EarlierArchivePage<'_>,
    earlier_lists: &mut EarlierResource<'_>,
    spill: &Spill,
) -> (BuiltSet, Rendered) {
    let mut built = BuiltSet {
        articles: site.article_count(),
        sections: site.sections.len(),
        precompress: site.config.precompress,
        max_age: site.config.server.max_age,
        archive_max_age: site.config.server.archive_max_age,
        next_publication: site.next_publication,
        feed_links: super::FeedLinks {
            hubs: site.config.websub.hub_urls(&site.config.base_url),
            base_url: site.config.base_url.url().to_string(),
        },
        ..BuiltSet::default()
    };
    let mut feeds = vec![FeedView::site(site)];
    feeds.extend(site.sections.iter().map(|s| FeedView::section(site, s)));
    // Every article, newest first: the site feed's archive and the home
    // page's lists show them all.
    let everything = site.newest(site.article_count());
    let archives = Archives::new(site, &feeds, &everything);
    let mut lists = publish_feeds(
        site,
        &feeds,
        &|feed| archives.place_of(feed),
        earlier_lists,
        spill,
        &mut built,
    );
    let archive_pages =
        archive::publish(site, &feeds, &archives, earlier_archive, spill, &mut built);
    publish_site_pages(site, &mut built);
    // The lists and the article pages show different things: they are
    // published side by side, on a thread each (the lists into a set of
    // their own, merged after), so that a rebuild that renders little
    // takes what each costs to look up, once.
    let mut lists_built = BuiltSet::default();
    let mut lists_done = None;
    let pages = std::thread::scope(|scope| {
        let lists_thread = std::thread::Builder::new().spawn_scoped(scope, || {
            publish_lists(
                site,
                &feeds,
                &everything,
                earlier_lists,
                spill,
                &mut lists_built,
            )
        });
        let pages = publish_articles(site, &feeds, earlier, spill, &mut built);
        if let Ok(thread) = lists_thread {
            match thread.join() {
                Ok(done) => lists_done = Some(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        pages
    });
    // No thread could be started: the lists after the pages, here.
    let lists_done = lists_done.unwrap_or_else(|| {
        publish_lists(
            site,
            &feeds,
            &everything,
            earlier_lists,
            spill,
            &mut lists_built,
        )
    });
    lists.extend(lists_done);
    built.feeds += lists_built.feeds;
    built.resources.append(&mut lists_built.resources);
    let rendered = Rendered {
        articles: pages,
        archives: archive_pages,
        lists,
    };
    (built, rendered)
}

/// The articles' files and pages of every section (`feeds` are the site's
/// feed then each section's); returns the pages, for the next build.
fn publish_articles(
    site: &Site,
    feeds: &[FeedView<'_>],
    earlier: &mut EarlierPage<'_>,
    spill: &Spill,
    built: &mut BuiltSet,
) -> Vec<ArticlePage> {
    // An article page shows the article, its section's header and the site's
    // settings (titles, feed links); with all three unchanged, so is the page.
    let config_fingerprint = fingerprint::of_debug(&site.config);
    let mut pages = Vec::with_capacity(site.article_count());
    for (section, feed) in site.sections.iter().zip(&feeds[1..]) {
        // The articles' dates by slug, looked up once per file (a section
        // may hold thousands of articles with folders).
        let dates: std::collections::HashMap<&str, _> = if section.media.is_empty() {
            std::collections::HashMap::new()
        } else {
            section
                .articles
                .iter()
                .map(|article| (article.slug.as_str(), article.modified()))
                .collect()
        };
        for media in &section.media {
            // An article's file is dated by its article, not by the file's
            // time, which differs from clone to clone: every copy of the
            // content must send the same `Last-Modified`. (A server moves it
            // forward when the file's bytes change while it runs.)
            let slug = media.path.split('/').nth(1).unwrap_or_default();
            let modified = dates.get(slug).copied().unwrap_or(feed.updated);
            built.insert_bytes(
                &media.path,
                ResourceKind::Media,
                media_type(&media.path),
                media.bytes.clone(),
                modified,
            );
        }
        let section_fingerprint = fingerprint::of(&(
            config_fingerprint,
            &section.slug,
            &section.title,
            &section.description,
        ));
        let place = PagePlace {
            site,
            section,
            feed,
            site_feed: &feeds[0],
            fingerprint: section_fingerprint,
        };
        publish_article_pages(&place, earlier, spill, built, &mut pages);
    }
    pages
}

/// Every feed of the site in every published format, each standing where
/// `place_of` says in its archive chain, rendered on every core or taken
/// from `earlier` when it shows the same, and the stylesheet that the RSS
/// and Atom feeds name for browsers, when either is published; returns
/// the feeds published, for the next build.
fn publish_feeds(
    site: &Site,
    feeds: &[FeedView<'_>],
    place_of: &dyn Fn(&FeedView<'_>) -> Place,
    earlier: &mut EarlierResource<'_>,
    spill: &Spill,
    built: &mut BuiltSet,
) -> Vec<ListResource> {
    let formats = &site.config.formats;
    if formats
        .iter()
        .any(|f| matches!(f, Format::Rss | Format::Atom))
    {
        // Like the pages' stylesheet, it never changes with the content.
        built.insert(
            render::preview::PATH,
            ResourceKind::Asset,
            render::preview::CONTENT_TYPE,
            render::preview::stylesheet(),
            DateTime::UNIX_EPOCH.fixed_offset(),
        );
    }
    built.feeds += feeds.len() * site.config.formats.iter().count();
    let settings = fingerprint::of_debug(&site.config);
    let mut out = Publisher::new(earlier, spill, built);
    for feed in feeds {
        let place = place_of(feed);
        // Everything a feed shows: the settings, its title, folder and
        // date, its place in its archive chain, and its items.
        let shows = fingerprint::of(&(
            settings,
            &feed.title,
            &feed.description,
            &feed.dir,
            feed.updated,
            place,
            stories_fingerprint(&feed.items),
        ));
        for format in site.config.formats.iter() {
            out.publish(
                &feed.path(format),
                ResourceKind::Feed,
                format.spec().content_type,
                fingerprint::of(&(shows, format)),
                feed.updated,
                move || render::feed_at(format, feed, &place),
            );
        }
    }
    out.finish()
}

/// The OPML list of feeds, the stylesheet and the icon.
fn publish_site_pages(site: &Site, built: &mut BuiltSet) {
    let updated = site_updated(site);
    built.insert(
        "feeds.opml",
        ResourceKind::Opml,
        OPML,
        render::opml::render(site),
        updated,
    );
    built.insert(
        render::html::STYLESHEET_PATH,
        ResourceKind::Asset,
        CSS,
        render::html::stylesheet(),
        stylesheet_changed(),
    );
    // So is the icon, in both its forms (see `render::favicon`).
    for (path, media_type, bytes) in [
        (
            render::favicon::SVG_PATH,
            render::favicon::SVG_TYPE,
            render::favicon::svg(),
        ),
        (
            render::favicon::ICO_PATH,
            render::favicon::ICO_TYPE,
            render::favicon::ico(),
        ),
    ] {
        built.insert(
            path,
            ResourceKind::Asset,
            media_type,
            bytes,
            DateTime::UNIX_EPOCH.fixed_offset(),
        );
    }
}

/// When the stylesheet's bytes last changed, fixed in the source: every
/// clone, build and replica of one version sends the same `Last-Modified`,
/// and a newer version whose stylesheet differs sends a later one. The test
/// `the_stylesheet_date_moves_with_its_bytes` pins the stylesheet's hash
/// to this date, so a change to the stylesheet fails it until both move.
const STYLESHEET_CHANGED: &str = "2026-11-30T15:40:00Z";

fn stylesheet_changed() -> DateTime<FixedOffset> {
    // A constant checked by the test below: never the fallback in practice.
    DateTime::parse_from_rfc3339(STYLESHEET_CHANGED).unwrap_or(DateTime::UNIX_EPOCH.fixed_offset())
}

/// What a section's article pages show besides their article, and its fingerprint.
struct PagePlace<'a> {
    site: &'a Site,
    section: &'a Section,
    feed: &'a FeedView<'a>,
    site_feed: &'a FeedView<'a>,
    fingerprint: u64,
}

/// The article pages of one section: those whose fingerprint is unchanged
/// come from `earlier`; the rest are rendered on every core.
fn publish_article_pages(
    place: &PagePlace<'_>,
    earlier: &mut EarlierPage<'_>,
    spill: &Spill,
    built: &mut BuiltSet,
    pages: &mut Vec<ArticlePage>,
) {
    // The page, where the body stands in it, and whether that range is
    // UTF-8 text (checked while the page is still in the heap: a spilled
    // page is not read again to build).
    type Slot<'a> = (
        &'a Article,
        String,
        u64,
        Option<(Bytes, Range<usize>, bool)>,
    );
    let mut slots: Vec<Slot<'_>> = place
        .section
        .articles
        .iter()
        .map(|article| {
            let path = article.path();
            let page_fingerprint = fingerprint::of(&(place.fingerprint, article.fingerprint));
            let page = earlier(&path, page_fingerprint);
            (article.as_ref(), path, page_fingerprint, page)
        })
        .collect();
    // Most rebuilds render no page of most sections: no thread for those.
    let todo = slots.iter().any(|(_, _, _, page)| page.is_none());
    parallel::for_each(
        if todo { &mut slots[..] } else { &mut [] },
        |(article, _, _, page)| {
            if page.is_none() {
                let (bytes, content) = render::html::article(
                    place.site,
                    place.section,
                    article,
                    place.feed,
                    place.site_feed,
                );
                let body_is_text = bytes
                    .get(content.clone())
                    .is_some_and(|body| std::str::from_utf8(body).is_ok());
                let bytes = keep(spill, ResourceKind::Article, bytes);
                *page = Some((bytes, content, body_is_text));
            }
        },
    );
    for (article, path, fingerprint, page) in slots {
        let Some((body, content, body_is_text)) = page else {
            continue;
        };
        // The page holds the article's body verbatim: the parse cache can
        // keep that slice instead of a copy of its own (when its text was
        // checked as the page was rendered; a kept page moved to a new
        // spill file is shared again from there).
        let in_page = body.slice(content.clone());
        let body_to_share = (body_is_text
            && article.content_html.bytes().as_ptr() != in_page.as_ptr())
        .then(|| (article.source.clone(), Html::from_checked_bytes(in_page)));
        built.insert_bytes(
            &path,
            ResourceKind::Article,
            HTML,
            body.clone(),
            article.modified(),
        );
        pages.push(ArticlePage {
            path,
            fingerprint,
            body,
            content,
            body_is_text,
            body_to_share,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_date_moves_with_its_bytes() {
        // When the stylesheet changes, set STYLESHEET_CHANGED to the day of
        // the change (later than the one below) and both values here.
        let hash = crate::encoding::content_hash(&render::html::stylesheet());
        assert_eq!(
            (hash.as_str(), STYLESHEET_CHANGED),
            ("337e2fc5992f5f33", "2026-11-30T15:40:00Z"),
            "the stylesheet changed: move STYLESHEET_CHANGED forward"
        );
        assert!(stylesheet_changed() > DateTime::UNIX_EPOCH.fixed_offset());
    }
}
