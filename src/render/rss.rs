//! RSS 2.0 (<https://www.rssboard.org/rss-specification>), through the `rss` crate.
//!
//! Beyond the core elements: `atom:link rel="self"` (the RSS Advisory Board's
//! best practice), `dc:creator` for bylines (RSS's own `author` must be an
//! e-mail address), and `content:encoded` for the full HTML body, with the
//! summary in `description`. Item `guid`s are the `tag:` ids, not permalinks.
//!
//! An item's `description` is HTML to every reader, so the plain-text
//! summary goes in escaped: "S&P 500" is shown, not parsed.
//! `ttl` tells pollers what `Cache-Control: max-age` tells HTTP caches.
//! An archived feed's documents carry RFC 5005's `atom:link`s
//! (`prev-archive`, `next-archive`, `current`) and `fh:complete` or
//! `fh:archive` (see `crate::archive`).

use rss::extension::atom::AtomExtension;
use rss::extension::dublincore::DublinCoreExtension;
use rss::extension::{Extension, ExtensionMap};
use rss::{Category, Channel, Guid, Item};

use crate::archive::Place;
use crate::feed::FeedView;
use crate::format::Format;
use crate::render::{plain_text_to_html, preview, GENERATOR, VERSION};
use crate::taxonomy::{self, Kind};

/// The RSS 2.0 document of `feed`, standing at `place` in its archive chain.
pub fn render(feed: &FeedView<'_>, place: &Place) -> Vec<u8> {
    let tag_domain = taxonomy::index_url(feed.config, Kind::Tag).to_string();
    let items = feed
        .items
        .iter()
        .map(|article| Item {
            title: Some(article.title.clone()),
            link: Some(article.url.to_string()),
            description: (!article.summary.is_empty())
                .then(|| plain_text_to_html(&article.summary)),
            categories: article
                .tags
                .iter()
                .map(|tag| Category {
                    name: tag.clone(),
                    // The tag index: readers that group by domain group by site.
                    domain: Some(tag_domain.clone()),
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
        // Plain text: unlike an item's, the channel's description is not
        // HTML to the W3C validator, which warns about escaped markup here.
        description: feed.description.clone(),
        language: Some(feed.config.language.as_str().to_string()),
        last_build_date: Some(feed.updated.to_rfc2822()),
        generator: Some(format!("{GENERATOR} {VERSION}")),
        docs: Some("https://www.rssboard.org/rss-specification".to_string()),
        ttl: Some(ttl_minutes(feed.config.server.max_age).to_string()),
        atom_ext: Some(AtomExtension {
            links: super::atom_links(feed, Format::Rss, place),
        }),
        namespaces: super::history_namespaces(place),
        extensions: history_marker(place),
        items,
        ..Default::default()
    };
    let xml = channel
        .pretty_write_to(Vec::new(), b' ', 2)
        .expect("writing XML to memory cannot fail");
    let xml = hex_references_in_plain_text(crate::render::empty_history_marker(xml, place));
    let mut bytes = preview::document(
        &place.path(feed, Format::Rss),
        preview::without_declaration(&xml),
    );
    bytes.push(b'\n');
    bytes
}

/// `xml` with `&` and `<` in the plain-text elements (titles, bylines,
/// categories) written as hexadecimal character references, as the RSS
/// Advisory Board's profile asks and the W3C validator warns about
/// otherwise (a headline such as "Less Than <Expected>"). The same
/// characters to every XML parser: only their spelling changes.
fn hex_references_in_plain_text(xml: Vec<u8>) -> Vec<u8> {
    const PLAIN: [&str; 3] = ["title", "dc:creator", "category"];
    let text = String::from_utf8_lossy(&xml);
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    // One pass: each `<` is looked at once (a search per element name
    // from every element on made an archive page of 100 items quadratic).
    let mut from = 0;
    while let Some(at) = rest[from..].find('<').map(|i| from + i) {
        let after = &rest[at + 1..];
        let Some(name) = PLAIN
            .iter()
            .find(|name| after.starts_with(*name) && after[name.len()..].starts_with('>'))
        else {
            from = at + 1;
            continue;
        };
        let open = at + name.len() + 2;
        let Some(len) = rest[open..].find(&format!("</{name}>")) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(
            &rest[open..open + len]
                .replace("&lt;", "&#x3C;")
                .replace("&amp;", "&#x26;"),
        );
        rest = &rest[open + len..];
        from = 0;
    }
    out.push_str(rest);
    out.into_bytes()
}

/// `fh:complete` or `fh:archive`, as the channel's extension, when `place` has one.
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

/// RSS `ttl`, in whole minutes, for a `max_age` in seconds: rounded up, so
/// a poller never comes back before caches would, and at least 1 (`ttl` 0
/// reads as "no caching hint" to some readers and as "poll constantly" to
/// others).
fn ttl_minutes(max_age: u32) -> u32 {
    max_age.div_ceil(60).max(1)
}

#[cfg(test)]
mod tests {
    use super::ttl_minutes;

    #[test]
    fn plain_text_elements_spell_ampersand_and_less_than_in_hex() {
        let xml = b"<title>A &amp; B &lt;c&gt;</title><description>&lt;p&gt;</description><category>R&amp;D</category>".to_vec();
        assert_eq!(
            String::from_utf8(super::hex_references_in_plain_text(xml)).unwrap(),
            "<title>A &#x26; B &#x3C;c&gt;</title><description>&lt;p&gt;</description><category>R&#x26;D</category>"
        );
    }

    #[test]
    fn ttl_is_max_age_in_minutes_rounded_up_and_at_least_one() {
        assert_eq!(ttl_minutes(0), 1);
        assert_eq!(ttl_minutes(1), 1);
        assert_eq!(ttl_minutes(60), 1);
        assert_eq!(ttl_minutes(61), 2);
        assert_eq!(ttl_minutes(300), 5);
        assert_eq!(ttl_minutes(u32::MAX), 71_582_789);
    }
}
