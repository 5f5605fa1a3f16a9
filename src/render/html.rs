//! The HTML pages, so that every link in a feed resolves: the home page, one
//! page per section and one per article, set like the printed INSIGHTS page
//! they come from: a masthead, the sections as a bar, each story under its
//! column label with its headline, byline and standfirst. Templates are
//! `maud` macros, which escape every interpolated string; only article
//! bodies, already HTML, are inserted as they are.
//!
//! Every page carries `<link rel="alternate">` tags for its feeds, so
//! browsers and readers given the page's URL find the feeds themselves, and
//! a compact box that links them. Pages load nothing from another origin and
//! run no script: the stylesheet and the icon are linked by path (not by
//! `base_url`'s host), so a page served at another address, a preview on
//! port 0, still finds them on its own server.
//!
//! An article page shows only its article, its section and the site's
//! settings: the incremental build keeps a page while those three are
//! unchanged (`build::publish`), so it must not show the other sections or
//! the newest date of the site, which change with other articles.

use chrono::{DateTime, FixedOffset};
use std::ops::Range;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::config::Config;
use crate::feed::FeedView;
use crate::model::{Article, Author, Section, Site};
use crate::render::favicon;
use crate::render::{GENERATOR, VERSION};
use crate::taxonomy::{self, Kind, Term};

/// One page of a paged list (the home page, a section's, a tag's, an
/// author's): which page it is, of how many, and what the whole list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Paging {
    /// 1 for the first page.
    pub number: usize,
    /// How many pages the list has; at least 1.
    pub count: usize,
    /// How many stories the whole list holds.
    pub total: usize,
    /// The position in the whole list of this page's first story, from 0.
    pub first: usize,
}

impl Paging {
    /// The pages of a list of `total` stories, `page_size` to a page: one
    /// page even for an empty list, which says so.
    pub fn pages(total: usize, page_size: usize) -> impl Iterator<Item = Paging> {
        let size = page_size.max(1);
        let count = total.div_ceil(size).max(1);
        (1..=count).map(move |number| Paging {
            number,
            count,
            total,
            first: (number - 1) * size,
        })
    }
}

/// The site-relative path of page `number` of the list whose first page is
/// `dir` (`""`, `opinion/`, `tags/energy/`): `dir` itself, then
/// `<dir>page/2/` and on.
pub fn page_dir(dir: &str, number: usize) -> String {
    if number <= 1 {
        dir.to_string()
    } else {
        format!("{dir}page/{number}/")
    }
}

/// A list page's title: the name, then the page number after the first.
fn paged_title(name: &str, paging: Paging) -> String {
    if paging.number > 1 {
        format!("{name}, page {} of {}", paging.number, paging.count)
    } else {
        name.to_string()
    }
}

/// The home page, or one of its later pages (`page/2/`): the masthead with
/// the issue date (the newest article's), the sections as a bar, and the
/// page's stories (`shown`, newest first), each under its column label.
/// `site_feed` is the site-wide feed, for the autodiscovery links.
pub fn home(site: &Site, site_feed: &FeedView<'_>, paging: Paging, shown: &[&Article]) -> Vec<u8> {
    let config = &site.config;
    let body = html! {
        (skip_link())
        header.masthead {
            @if paging.number == 1 {
                h1.nameplate { a href=(config.base_url.url()) { (config.title) } }
            } @else {
                p.nameplate { a href=(config.base_url.url()) { (config.title) } }
            }
            (dateline(site))
        }
        (section_bar(site, None))
        main #content {
            @if paging.number > 1 {
                header.section-head { h1 { "Earlier stories" } }
            }
            (story_list(site, shown, paging, true))
            (pager(config, "", paging))
        }
        (follow_box("Follow INSIGHTS", config, site_feed))
        (site_footer(config))
    };
    let title = paged_title(config.title.as_str(), paging);
    let canonical = config.base_url.join(&page_dir("", paging.number));
    let head = Head {
        title: &title,
        description: &config.description,
        canonical: canonical.as_str(),
        article: None,
        ..Head::pager(config, "", paging)
    };
    page(config, &head, &[site_feed], body)
}

/// A section's page, or one of its later pages: the masthead, the
/// sections' bar with this one marked, and the page's stories.
/// The feeds are the section's and the site's, for the autodiscovery links.
pub fn section(
    site: &Site,
    section: &Section,
    section_feed: &FeedView<'_>,
    site_feed: &FeedView<'_>,
    paging: Paging,
    shown: &[&Article],
) -> Vec<u8> {
    let config = &site.config;
    let dir = format!("{}/", section.slug);
    let body = html! {
        (skip_link())
        (compact_masthead(site))
        (section_bar(site, Some(&section.slug)))
        main #content {
            header.section-head {
                h1 { (section.title) }
                @if !section.description.is_empty() { p.standfirst { (section.description) } }
            }
            (story_list(site, shown, paging, false))
            (pager(config, &dir, paging))
        }
        (follow_box("Follow this column", config, section_feed))
        (site_footer(config))
    };
    let title = format!("{} | {}", paged_title(&section.title, paging), config.title);
    let canonical = config.base_url.join(&page_dir(&dir, paging.number));
    let head = Head {
        title: &title,
        description: &section.description,
        canonical: canonical.as_str(),
        article: None,
        ..Head::pager(config, &dir, paging)
    };
    page(config, &head, &[section_feed, site_feed], body)
}

/// A tag's or an author's page, or one of its later pages: the masthead,
/// the sections' bar, the term's heading and the page's stories (an
/// author's with every role shown in the bylines). The feeds are the
/// term's and the site's.
pub fn term(
    site: &Site,
    kind: Kind,
    term: &Term<'_>,
    term_feed: &FeedView<'_>,
    site_feed: &FeedView<'_>,
    paging: Paging,
    shown: &[&Article],
) -> Vec<u8> {
    let config = &site.config;
    let dir = term.dir(kind);
    let heading = match kind {
        Kind::Tag => "Tags",
        Kind::Author => "Authors",
    };
    let index = config.base_url.join(kind.dir());
    let body = html! {
        (skip_link())
        (compact_masthead(site))
        (section_bar(site, None))
        main #content {
            header.section-head {
                p.kicker { a href=(index.as_str()) { (heading) } }
                h1 { (term.name) }
            }
            (story_list(site, shown, paging, true))
            (pager(config, &dir, paging))
        }
        (follow_box(&format!("Follow this {}", kind.noun()), config, term_feed))
        (site_footer(config))
    };
    let title = format!("{} | {}", paged_title(term.name, paging), config.title);
    let canonical = config.base_url.join(&page_dir(&dir, paging.number));
    let head = Head {
        title: &title,
        description: &term_feed.description,
        canonical: canonical.as_str(),
        article: None,
        ..Head::pager(config, &dir, paging)
    };
    page(config, &head, &[term_feed, site_feed], body)
}

/// The index of every tag (or author), `/tags/`: each term's name linked
/// to its page, with its count of articles. Its head carries, besides the
/// site's feeds, each term's feed in the first published format: one
/// autodiscovery link per term, not one per format, since a reader lists
/// them all to its user.
pub fn term_index(
    site: &Site,
    kind: Kind,
    terms: &[Term<'_>],
    term_feeds: &[FeedView<'_>],
    site_feed: &FeedView<'_>,
) -> Vec<u8> {
    let config = &site.config;
    let heading = match kind {
        Kind::Tag => "Tags",
        Kind::Author => "Authors",
    };
    let body = html! {
        (skip_link())
        (compact_masthead(site))
        (section_bar(site, None))
        main #content {
            header.section-head { h1 { (heading) } }
            @if terms.is_empty() {
                p.empty { "None yet." }
            } @else {
                ul.terms { @for term in terms {
                    li {
                        a href=(config.base_url.join(&term.dir(kind)).as_str()) { (term.name) }
                        " "
                        span.count { (articles_count(term.articles.len())) }
                    }
                } }
            }
        }
        (follow_box("Follow INSIGHTS", config, site_feed))
        (site_footer(config))
    };
    let title = format!("{heading} | {}", config.title);
    let canonical = config.base_url.join(kind.dir());
    let alternates: Vec<Alternate> = config
        .formats
        .iter()
        .next()
        .map(|format| {
            term_feeds
                .iter()
                .map(|feed| Alternate {
                    media_type: format.media_type(),
                    title: format!("{} ({})", feed.title, format.label()),
                    href: feed.url(format).to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let head = Head {
        title: &title,
        description: "",
        canonical: canonical.as_str(),
        article: None,
        prev: None,
        next: None,
        alternates: &alternates,
    };
    page(config, &head, &[site_feed], body)
}

/// `1 article`, `12 articles`.
fn articles_count(count: usize) -> String {
    if count == 1 {
        "1 article".to_string()
    } else {
        format!("{count} articles")
    }
}

/// The visible page navigation of a paged list: newer and older pages
/// (with `rel` as the head's links), the first and last, and where this
/// The masthead of the list pages after the home page: the nameplate,
/// linked home, and the date line.
fn compact_masthead(site: &Site) -> Markup {
    html! {
        header.masthead.compact {
            p.nameplate { a href=(site.config.base_url.url()) { (site.config.title) } }
            (dateline(site))
        }
    }
}

/// page stands. Nothing for a list of one page.
fn pager(config: &Config, dir: &str, paging: Paging) -> Markup {
    let link = |number: usize| config.base_url.join(&page_dir(dir, number));
    html! {
        @if paging.count > 1 {
            nav.pager aria-label="Pages" {
                ul {
                    @if paging.number > 1 {
                        @if paging.number > 2 {
                            li { a href=(link(1).as_str()) { "Newest" } }
                        }
                        li { a href=(link(paging.number - 1).as_str()) rel="prev" { "← Newer" } }
                    }
                    li aria-current="page" { "Page " (paging.number) " of " (paging.count) }
                    @if paging.number < paging.count {
                        li { a href=(link(paging.number + 1).as_str()) rel="next" { "Older →" } }
                        @if paging.number + 1 < paging.count {
                            li { a href=(link(paging.count).as_str()) { "Oldest" } }
                        }
                    }
                }
            }
        }
    }
}

/// An article's page, and where in it the article's body stands (its bytes
/// are `article.content_html`, verbatim). The feeds are its section's and
/// the site's, built once by the caller rather than once per page.
pub fn article(
    site: &Site,
    section: &Section,
    article: &Article,
    section_feed: &FeedView<'_>,
    site_feed: &FeedView<'_>,
) -> (Vec<u8>, Range<usize>) {
    let config = &site.config;
    let section_url = section_url(config, section);
    let body = html! {
        (skip_link())
        header.masthead.compact {
            p.nameplate { a href=(config.base_url.url()) { (config.title) } }
            nav.crumbs aria-label="You are here" {
                a href=(config.base_url.url()) { "Front page" }
                " › "
                a href=(section_url.as_str()) { (section.title) }
            }
        }
        main #content {
            article.story {
                header.story-head {
                    p.kicker { a href=(section_url.as_str()) { (section.title) } }
                    h1 { (article.title) }
                    div.byline {
                        @if !article.authors.is_empty() {
                            ul.authors { @for author in &article.authors {
                                li { (linked_byline(config, author)) }
                            } }
                        }
                        p.dates {
                            (time(article.published))
                            @if let Some(updated) = article.updated {
                                " · Updated " (time(updated))
                            }
                        }
                    }
                }
                div.body { (PreEscaped(BODY_MARK)) }
                @if !article.tags.is_empty() {
                    footer.tags {
                        h2 #tags-label { "Tags" }
                        ul aria-labelledby="tags-label" { @for tag in &article.tags {
                            li.tag { a href=(taxonomy::url(config, Kind::Tag, tag).as_str()) { (tag) } }
                        } }
                    }
                }
            }
        }
        (follow_box("Follow this column", config, section_feed))
        (site_footer(config))
    };
    let title = format!("{} | {}", article.title, config.title);
    let head = Head {
        title: &title,
        description: &article.summary,
        canonical: article.url.as_str(),
        article: Some((article, &section.title)),
        prev: None,
        next: None,
        alternates: &[],
    };
    let frame = page(config, &head, &[section_feed, site_feed], body);
    // The mark is a NUL, which no content can hold (the loader refuses it),
    // so the one found is the one placed.
    let at = frame
        .iter()
        .position(|&b| b == BODY_MARK.as_bytes()[0])
        .unwrap_or(frame.len());
    let content = article.content_html.as_str().as_bytes();
    let mut bytes = Vec::with_capacity(frame.len() + content.len());
    bytes.extend_from_slice(&frame[..at]);
    bytes.extend_from_slice(content);
    bytes.extend_from_slice(frame.get(at + 1..).unwrap_or_default());
    (bytes, at..at + content.len())
}

/// Where an article's body goes in its page while the page is rendered.
const BODY_MARK: &str = "\0";

/// What a page's `<head>` says about it besides its feeds.
struct Head<'a> {
    title: &'a str,
    /// The meta description; left out when empty.
    description: &'a str,
    /// The page's absolute URL.
    canonical: &'a str,
    /// For an article page: the article and its section's title, for its
    /// Open Graph `article` properties.
    article: Option<(&'a Article, &'a str)>,
    /// The previous (newer) and next (older) page of a paged list.
    prev: Option<String>,
    next: Option<String>,
    /// More feeds to announce, beyond those of the page's own feed views.
    alternates: &'a [Alternate],
}

impl Head<'_> {
    /// A head with only the `prev` and `next` links of page `paging` of the
    /// list at `dir`; the caller fills in the rest.
    fn pager(config: &Config, dir: &str, paging: Paging) -> Head<'static> {
        let link = |number: usize| config.base_url.join(&page_dir(dir, number)).to_string();
        Head {
            title: "",
            description: "",
            canonical: "",
            article: None,
            prev: (paging.number > 1).then(|| link(paging.number - 1)),
            next: (paging.number < paging.count).then(|| link(paging.number + 1)),
            alternates: &[],
        }
    }
}

/// An autodiscovery link.
struct Alternate {
    media_type: &'static str,
    title: String,
    href: String,
}

fn page(config: &Config, head: &Head<'_>, feeds: &[&FeedView<'_>], body: Markup) -> Vec<u8> {
    let markup = html! {
        (DOCTYPE)
        html lang=(config.language.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="generator" content=(format!("{GENERATOR} {VERSION}"));
                title { (head.title) }
                @if !head.description.is_empty() {
                    meta name="description" content=(head.description);
                }
                link rel="canonical" href=(head.canonical);
                @if let Some((article, section_title)) = head.article {
                    meta property="og:type" content="article";
                    meta property="og:title" content=(article.title);
                    meta property="og:url" content=(head.canonical);
                    @if !head.description.is_empty() {
                        meta property="og:description" content=(head.description);
                    }
                    meta property="og:site_name" content=(config.title);
                    meta property="article:published_time" content=(article.published.to_rfc3339());
                    @if let Some(updated) = article.updated {
                        meta property="article:modified_time" content=(updated.to_rfc3339());
                    }
                    meta property="article:section" content=(section_title);
                    @for tag in &article.tags {
                        meta property="article:tag" content=(tag);
                    }
                }
                @for feed in feeds {
                    @for format in feed.config.formats.iter() {
                        link rel="alternate" type=(format.media_type())
                            title=(format!("{} ({})", feed.title, format.label()))
                            href=(feed.url(format));
                    }
                }
                @for alternate in head.alternates {
                    link rel="alternate" type=(alternate.media_type) title=(alternate.title) href=(alternate.href);
                }
                @if let Some(prev) = &head.prev { link rel="prev" href=(prev); }
                @if let Some(next) = &head.next { link rel="next" href=(next); }
                link rel="stylesheet" href=(site_path(config, STYLESHEET_PATH));
                link rel="icon" type="image/svg+xml" href=(site_path(config, favicon::SVG_PATH));
            }
            body { (body) }
        }
    };
    let mut bytes = markup.into_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The absolute path of a file at the site's root (`/style.css`, or
/// `/news/style.css` under a base URL with a path): same-origin wherever
/// the pages are served from.
fn site_path(config: &Config, file: &str) -> String {
    format!("{}{file}", config.base_url.url().path())
}

fn section_url(config: &Config, section: &Section) -> url::Url {
    config.base_url.join(&format!("{}/", section.slug))
}

/// A byline with the person's name linked to their page: "Edited by
/// [TANG Zhexiao]". The words are [`Author::byline`]'s.
fn linked_byline(config: &Config, author: &Author) -> Markup {
    let byline = author.byline();
    let (before, after) = byline.split_once(&author.name).unwrap_or((&byline, ""));
    html! {
        (before)
        a href=(taxonomy::url(config, Kind::Author, &author.name).as_str()) { (author.name) }
        (after)
    }
}

fn skip_link() -> Markup {
    html! { a.skip href="#content" { "Skip to content" } }
}

/// The issue date under the nameplate: the newest article's date, in that
/// article's own time zone, as the printed page would carry it.
fn dateline(site: &Site) -> Markup {
    let config = &site.config;
    html! {
        p.dateline {
            @if let Some(newest) = site.newest(1).first() {
                time datetime=(newest.published.date_naive().to_string()) {
                    (newest.published.format("%A, %-d %B %Y"))
                }
            }
            @if !config.description.is_empty() {
                span.motto { (config.description) }
            }
        }
    }
}

/// The sections as a navigation bar; `current` is marked for assistive
/// technology and styled as the page one is on.
fn section_bar(site: &Site, current: Option<&str>) -> Markup {
    let config = &site.config;
    html! {
        @if !site.sections.is_empty() {
            nav.sections aria-label="Sections" {
                ul { @for section in &site.sections {
                    li {
                        @if current == Some(section.slug.as_str()) {
                            a href=(section_url(config, section).as_str()) aria-current="page" { (section.title) }
                        } @else {
                            a href=(section_url(config, section).as_str()) { (section.title) }
                        }
                    }
                } }
            }
        }
    }
}

/// The stories of a list page: column label (when the list mixes columns),
/// headline, byline and standfirst. The first story leads.
fn story_list(site: &Site, shown: &[&Article], paging: Paging, with_column: bool) -> Markup {
    html! {
        @if shown.is_empty() {
            p.empty { "Nothing published yet." }
        } @else {
            @if shown.len() < paging.total {
                p.count {
                    "Articles " (paging.first + 1) "–" (paging.first + shown.len())
                    " of " (paging.total) ", newest first."
                }
            }
            ol.stories { @for article in shown {
                li.story-card {
                    article {
                        @if with_column {
                            @if let Some(section) = site.sections.iter().find(|s| s.slug == article.section) {
                                p.kicker { a href=(section_url(&site.config, section).as_str()) { (section.title) } }
                            }
                        }
                        h2 { a href=(article.url) { (article.title) } }
                        p.byline {
                            @for (i, author) in article.authors.iter().enumerate() {
                                @if i > 0 { " · " }
                                span.author { (author.byline()) }
                            }
                            @if !article.authors.is_empty() { " · " }
                            (time(article.published))
                        }
                        @if !article.summary.is_empty() { p.standfirst { (article.summary) } }
                    }
                }
            } }
        }
    }
}

/// A compact box with one link per feed format and the OPML list of all feeds.
fn follow_box(heading: &str, config: &Config, feed: &FeedView<'_>) -> Markup {
    html! {
        aside.follow aria-labelledby="follow-label" {
            h2 #follow-label { (heading) }
            ul {
                @for format in feed.config.formats.iter() {
                    li { a href=(feed.url(format)) title=(format!("{} ({})", feed.title, format.label())) { (short_label(format.label())) } }
                }
                li { a href=(config.base_url.join("feeds.opml")) title="Every feed of the site, as an OPML list" { "All feeds (OPML)" } }
            }
        }
    }
}

/// `RSS 2.0` → `RSS`: the box names formats, not their versions.
fn short_label(label: &str) -> &str {
    label.rsplit_once(' ').map_or(label, |(name, _)| name)
}

fn site_footer(config: &Config) -> Markup {
    html! {
        footer.colophon {
            p { a href=(config.base_url.url()) { (config.title) } }
        }
    }
}

fn time(date: DateTime<FixedOffset>) -> Markup {
    html! { time datetime=(date.to_rfc3339()) { (date.format("%-d %B %Y")) } }
}

/// Where the pages' stylesheet is published, relative to the site root. One
/// file, not a `<style>` in every page: a large site's pages stay small, and
/// browsers fetch it once.
pub const STYLESHEET_PATH: &str = "style.css";

/// The stylesheet of every page.
pub fn stylesheet() -> Vec<u8> {
    STYLE.as_bytes().to_vec()
}

/// The stylesheet's text, kept in its own file so that it reads as CSS.
const STYLE: &str = include_str!("style.css");
