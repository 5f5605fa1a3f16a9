//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>), through `serde_json`.
//!
//! Empty optional fields are left out rather than written as `null` or `[]`.
//! An archived feed's documents page from newest to oldest through
//! `next_url` (the subscription document to the newest archive page, each
//! page to the one before it); every page keeps the subscription
//! document's `feed_url`, the feed's identity, so a reader that opens a
//! page never subscribes to it.

use serde::Serialize;

use crate::archive::Place;
use crate::feed::FeedView;
use crate::format::Format;
use crate::taxonomy::{self, Kind};

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: String,
    feed_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<String>,
    description: &'a str,
    language: &'a str,
    authors: Vec<JsonAuthor>,
    /// The WebSub hubs (JSON Feed 1.1 `hubs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<JsonHub>,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct JsonHub {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Serialize)]
struct JsonAuthor {
    name: String,
    /// The author's page on the site; none for the publication itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    content_html: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    summary: &'a str,
    date_published: String,
    /// Only when the article was updated: equal to `date_published`, it
    /// would tell readers of an update that never happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    date_modified: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<JsonAuthor>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: &'a Vec<String>,
}

/// The JSON Feed document of `feed`, standing at `place` in its archive chain.
pub fn render(feed: &FeedView<'_>, place: &Place) -> Vec<u8> {
    let document = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &feed.title,
        home_page_url: feed.home_url().to_string(),
        feed_url: feed.url(Format::Json).to_string(),
        next_url: place
            .older(feed, Format::Json)
            .map(|path| feed.config.base_url.join(&path).to_string()),
        description: &feed.description,
        language: feed.config.language.as_str(),
        authors: vec![JsonAuthor {
            name: feed.config.publisher().to_string(),
            url: None,
        }],
        hubs: feed
            .hubs()
            .into_iter()
            .map(|url| JsonHub {
                kind: "WebSub",
                url,
            })
            .collect(),
        items: feed
            .items
            .iter()
            .map(|article| JsonItem {
                id: article.id.as_str(),
                url: article.url.as_str(),
                title: &article.title,
                content_html: article.content_html.as_str(),
                summary: &article.summary,
                date_published: article.published.to_rfc3339(),
                date_modified: article
                    .updated
                    .filter(|updated| *updated != article.published)
                    .map(|updated| updated.to_rfc3339()),
                authors: article
                    .authors
                    .iter()
                    .map(|a| JsonAuthor {
                        name: a.display_name(),
                        url: Some(taxonomy::url(feed.config, Kind::Author, &a.name).to_string()),
                    })
                    .collect(),
                tags: &article.tags,
            })
            .collect(),
    };
    let mut bytes =
        serde_json::to_vec_pretty(&document).expect("serializing to memory cannot fail");
    bytes.push(b'\n');
    bytes
}
