//! RSS 2.0 (<https://www.rssboard.org/rss-specification>), through the `rss` crate.
//!
//! Beyond the core elements: `atom:link rel="self"` (the RSS Advisory Board's
//! best practice), `dc:creator` for bylines (RSS's own `author` must be an
//! e-mail address), and `content:encoded` for the full HTML body, with the
//! summary in `description`. Item `guid`s are the `tag:` ids, not permalinks.

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Guid, Item};

use crate::feed::FeedView;
use crate::format::Format;
use crate::render::{GENERATOR, VERSION};

/// The RSS 2.0 document of `feed`.
pub fn render(feed: &FeedView<'_>) -> Vec<u8> {
    let items = feed
        .items
        .iter()
        .map(|article| Item {
            title: Some(article.title.clone()),
            link: Some(article.url.to_string()),
            description: (!article.summary.is_empty()).then(|| article.summary.clone()),
            categories: article
                .tags
                .iter()
                .map(|tag| Category {
                    name: tag.clone(),
                    domain: None,
                })
                .collect(),
            guid: Some(Guid {
                value: article.id.to_string(),
                permalink: false,
            }),
            pub_date: Some(article.published.to_rfc2822()),
            content: Some(article.content_html.as_str().to_string()),
            dublin_core_ext: (!article.authors.is_empty()).then(|| DublinCoreExtension {
                creators: article.authors.iter().map(|a| a.display_name()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let channel = Channel {
        title: feed.title.clone(),
        link: feed.home_url().to_string(),
        description: feed.description.clone(),
        language: Some(feed.config.language.as_str().to_string()),
        last_build_date: Some(feed.updated.to_rfc2822()),
        generator: Some(format!("{GENERATOR} {VERSION}")),
        docs: Some("https://www.rssboard.org/rss-specification".to_string()),
        atom_ext: Some(AtomExtension {
            links: vec![Link {
                href: feed.url(Format::Rss).to_string(),
                rel: "self".to_string(),
                mime_type: Some(Format::Rss.media_type().to_string()),
                ..Default::default()
            }],
        }),
        items,
        ..Default::default()
    };
    let mut bytes = channel
        .pretty_write_to(Vec::new(), b' ', 2)
        .expect("writing XML to memory cannot fail");
    bytes.push(b'\n');
    bytes
}
