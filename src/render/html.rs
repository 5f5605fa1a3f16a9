//! Small HTML pages, so that every link in a feed resolves: the home page,
//! one page per section and one per article. Templates are `maud` macros,
//! which escape every interpolated string; only article bodies, already
//! HTML, are inserted as they are.
//!
//! Every page carries `<link rel="alternate">` tags for its feeds, so
//! browsers and readers given the page's URL find the feeds themselves.

use chrono::{DateTime, FixedOffset};
use std::ops::Range;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::config::Config;
use crate::feed::FeedView;
use crate::model::{Article, Section, Site};
use crate::render::{GENERATOR, VERSION};

/// The home page: every section, and the site's newest articles (at most
/// [`INDEX_PAGE_LIMIT`]), newest first.
/// `site_feed` is the site-wide feed, for the autodiscovery links.
pub fn home(site: &Site, site_feed: &FeedView<'_>) -> Vec<u8> {
    let config = &site.config;
    let body = html! {
        header {
            h1 { (config.title) }
            @if !config.description.is_empty() { p.description { (config.description) } }
            nav { ul { @for section in &site.sections {
                li { a href=(config.base_url.join(&format!("{}/", section.slug))) { (section.title) } }
            } } }
        }
        main { (article_list(&site.newest(INDEX_PAGE_LIMIT), site.article_count())) }
        (feeds_footer(&[site_feed], site))
    };
    page(config, config.title.as_str(), &[site_feed], body)
}

/// A section's page: its newest articles (at most [`INDEX_PAGE_LIMIT`]).
/// The feeds are the section's and the site's, for the autodiscovery links.
pub fn section(
    site: &Site,
    section: &Section,
    section_feed: &FeedView<'_>,
    site_feed: &FeedView<'_>,
) -> Vec<u8> {
    let config = &site.config;
    let newest: Vec<&Article> = section
        .articles
        .iter()
        .take(INDEX_PAGE_LIMIT)
        .map(|a| a.as_ref())
        .collect();
    let body = html! {
        header {
            p.masthead { a href=(config.base_url.url()) { (config.title) } }
            h1 { (section.title) }
            @if !section.description.is_empty() { p.description { (section.description) } }
        }
        main { (article_list(&newest, section.articles.len())) }
        (feeds_footer(&[section_feed, site_feed], site))
    };
    let title = format!("{} | {}", section.title, config.title);
    page(config, &title, &[section_feed, site_feed], body)
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
    let body = html! {
        header {
            p.masthead {
                a href=(config.base_url.url()) { (config.title) }
                " / "
                a href=(config.base_url.join(&format!("{}/", section.slug))) { (section.title) }
            }
        }
        main {
            article {
                h1 { (article.title) }
                p.meta {
                    @for (i, author) in article.authors.iter().enumerate() {
                        @if i > 0 { ", " }
                        span.author { (author.byline()) }
                    }
                    @if !article.authors.is_empty() { " · " }
                    (time(article.published))
                    @if let Some(updated) = article.updated {
                        " · updated " (time(updated))
                    }
                }
                (PreEscaped(BODY_MARK))
                @if !article.tags.is_empty() {
                    ul.tags { @for tag in &article.tags { li { (tag) } } }
                }
            }
        }
        (feeds_footer(&[section_feed, site_feed], site))
    };
    let title = format!("{} | {}", article.title, config.title);
    let frame = page(config, &title, &[section_feed, site_feed], body);
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

fn page(config: &Config, title: &str, feeds: &[&FeedView<'_>], body: Markup) -> Vec<u8> {
    let markup = html! {
        (DOCTYPE)
        html lang=(config.language.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content=(format!("{GENERATOR} {VERSION}"));
                title { (title) }
                @for feed in feeds {
                    @for format in feed.config.formats.iter() {
                        link rel="alternate" type=(format.media_type())
                            title=(format!("{} ({})", feed.title, format.label()))
                            href=(feed.url(format));
                    }
                }
                link rel="stylesheet" href=(config.base_url.join(STYLESHEET_PATH));
            }
            body { (body) }
        }
    };
    let mut bytes = markup.into_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The most articles the home page and a section page list, newest first.
/// Every article keeps its own page; a list of a hundred thousand would be
/// megabytes that no reader scrolls, rebuilt on every change.
pub const INDEX_PAGE_LIMIT: usize = 100;

fn article_list(shown: &[&Article], total: usize) -> Markup {
    html! {
        @if shown.is_empty() {
            p { "Nothing published yet." }
        } @else {
            @if shown.len() < total {
                p.count { "The newest " (shown.len()) " of " (total) " articles." }
            }
            ol.articles { @for article in shown {
                li {
                    a href=(article.url) { (article.title) }
                    " "
                    (time(article.published))
                    @if !article.summary.is_empty() { p.summary { (article.summary) } }
                }
            } }
        }
    }
}

fn feeds_footer(feeds: &[&FeedView<'_>], site: &Site) -> Markup {
    html! {
        footer {
            p { "Subscribe:" }
            ul.feeds {
                @for feed in feeds {
                    @for format in feed.config.formats.iter() {
                        li { a href=(feed.url(format)) { (feed.title) " (" (format.label()) ")" } }
                    }
                }
                li { a href=(site.config.base_url.join("feeds.opml")) { "All feeds (OPML)" } }
            }
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
    let mut bytes = STYLE.as_bytes().to_vec();
    bytes.push(b'\n');
    bytes
}

const STYLE: &str = "body{font-family:Georgia,serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.55;color:#222}\
a{color:#1a4f8b}h1{line-height:1.2}.meta,.masthead,time,footer{color:#555;font-size:.95rem}\
ol.articles{list-style:none;padding:0}ol.articles li{margin:0 0 1.2rem}\
figure{margin:1.5rem 0;font-style:italic;color:#444}ul.tags{padding:0}ul.tags li{display:inline;margin-right:.8rem}";
