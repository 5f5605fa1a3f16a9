//! Atom 1.0 (RFC 4287), through the `atom_syndication` crate.
//!
//! The feed's id is its own URL; each entry's id is the article's `tag:` URI.
//! The publication is the feed-level author, so an entry without a byline
//! still has one (RFC 4287 section 4.1.1 requires an author for every entry).
//! Every document of an archived feed has the subscription document's id
//! (they are one feed), its own `self` link, RFC 5005's chain links and
//! `fh:complete` or `fh:archive` (see `crate::archive`).

use atom_syndication::extension::{Extension, ExtensionMap};
use atom_syndication::{
    Category, Content, Entry, Feed, Generator, Link, Person, Text, WriteConfig,
};

use crate::archive::Place;
use crate::feed::FeedView;
use crate::format::Format;
use crate::render::{plain_text_to_html, preview, GENERATOR, GENERATOR_URI, VERSION};
use crate::taxonomy::{self, Kind};

/// The Atom document of `feed`, standing at `place` in its archive chain.
pub fn render(feed: &FeedView<'_>, place: &Place) -> Vec<u8> {
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
        links: std::iter::once(Link {
            href: feed.home_url().to_string(),
            rel: "alternate".to_string(),
            mime_type: Some("text/html".to_string()),
            ..Default::default()
        })
        .chain(super::atom_links(feed, Format::Atom, place))
        .collect(),
        namespaces: super::history_namespaces(place),
        extensions: history_marker(place),
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
    let xml = crate::render::empty_history_marker(xml, place);
    let mut bytes = preview::document(&place.path(feed, Format::Atom), &xml);
    bytes.push(b'\n');
    bytes
}

/// `fh:complete` or `fh:archive`, as the feed's extension, when `place` has one.
fn history_marker(place: &Place) -> ExtensionMap {
    let mut map = ExtensionMap::new();
    if let Some(marker) = place.marker() {
        let element = Extension {
            name: format!("fh:{marker}"),
            ..Default::default()
        };
        map.entry("fh".to_string())
            .or_default()
            .insert(marker.to_string(), vec![element]);
    }
    map
}
