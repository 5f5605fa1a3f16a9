//! Atom 1.0 (RFC 4287), through the `atom_syndication` crate.
//!
//! The feed's id is its own URL; each entry's id is the article's `tag:` URI.
//! The publication is the feed-level author, so an entry without a byline
//! still has one (RFC 4287 section 4.1.1 requires an author for every entry).

use atom_syndication::{
    Category, Content, Entry, Feed, Generator, Link, Person, Text, WriteConfig,
};

use crate::feed::FeedView;
use crate::format::Format;
use crate::render::{plain_text_to_html, preview, GENERATOR, GENERATOR_URI, VERSION};
use crate::taxonomy::{self, Kind};

/// The Atom document of `feed`.
pub fn render(feed: &FeedView<'_>) -> Vec<u8> {
    let tag_scheme = taxonomy::index_url(feed.config, Kind::Tag).to_string();
    let entries = feed
        .items
        .iter()
        .map(|article| Entry {
            title: Text::plain(article.title.clone()),
            id: article.id.to_string(),
            updated: article.modified(),
            published: Some(article.published),
            authors: article
                .authors
                .iter()
                .map(|a| Person {
                    name: a.display_name(),
                    uri: Some(taxonomy::url(feed.config, Kind::Author, &a.name).to_string()),
                    ..Default::default()
                })
                .collect(),
            categories: article
                .tags
                .iter()
                .map(|tag| Category {
                    term: tag.clone(),
                    scheme: Some(tag_scheme.clone()),
                    ..Default::default()
                })
                .collect(),
            links: vec![Link {
                href: article.url.to_string(),
                rel: "alternate".to_string(),
                mime_type: Some("text/html".to_string()),
                ..Default::default()
            }],
            // As HTML, escaped, as in RSS: plain text that looks like
            // markup ("<b> tags") in a `type="text"` summary makes the W3C
            // validator warn, and readers guess at it.
            summary: (!article.summary.is_empty())
                .then(|| Text::html(plain_text_to_html(&article.summary))),
            content: Some(Content {
                value: Some(article.content_html.as_str().to_string()),
                content_type: Some("html".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let atom = Feed {
        title: Text::plain(feed.title.clone()),
        id: feed.url(Format::Atom).to_string(),
        updated: feed.updated,
        authors: vec![Person {
            name: feed.config.publisher().to_string(),
            ..Default::default()
        }],
        generator: Some(Generator {
            value: GENERATOR.to_string(),
            uri: Some(GENERATOR_URI.to_string()),
            version: Some(VERSION.to_string()),
        }),
        // `alternate` first: some readers (feed-extractor) take the first
        // link as the site's page, whatever its `rel`.
        links: vec![
            Link {
                href: feed.home_url().to_string(),
                rel: "alternate".to_string(),
                mime_type: Some("text/html".to_string()),
                ..Default::default()
            },
            Link {
                href: feed.url(Format::Atom).to_string(),
                rel: "self".to_string(),
                mime_type: Some(Format::Atom.media_type().to_string()),
                ..Default::default()
            },
        ],
        subtitle: Some(Text::plain(feed.description.clone())),
        lang: Some(feed.config.language.as_str().to_string()),
        entries,
        ..Default::default()
    };
    // The crate's declaration has no `encoding`; ours does, as RSS's does.
    let config = WriteConfig {
        write_document_declaration: false,
        indent_size: Some(2),
    };
    let xml = atom
        .write_with_config(Vec::new(), config)
        .expect("writing XML to memory cannot fail");
    let mut bytes = preview::document(feed, &xml);
    bytes.push(b'\n');
    bytes
}
