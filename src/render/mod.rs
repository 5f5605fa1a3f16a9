//! Renderers: pure functions from the model to the bytes of one output.
//!
//! No renderer reads a file, a clock or a hash map's order: the same model
//! always gives the same bytes.

pub mod atom;
pub mod favicon;
pub mod html;
pub mod json;
pub mod opml;
pub mod preview;
pub mod rss;

use std::collections::BTreeMap;

use atom_syndication::Link;

use crate::archive::{Place, HISTORY_NAMESPACE};
use crate::feed::FeedView;
use crate::format::Format;

/// The bytes of `feed` in `format`, a feed with no archive chain (a tag's
/// or an author's). The site's and sections' feeds have one (`feed_at`).
pub fn feed(format: Format, feed: &FeedView<'_>) -> Vec<u8> {
    feed_at(format, feed, &Place::Alone)
}

/// The bytes of `feed` in `format`, standing at `place` in its archive
/// chain: the one place a format meets its renderer.
pub fn feed_at(format: Format, feed: &FeedView<'_>, place: &Place) -> Vec<u8> {
    match format {
        Format::Rss => rss::render(feed, place),
        Format::Atom => atom::render(feed, place),
        Format::Json => json::render(feed, place),
    }
}

/// The `atom:link`s of `feed` in `format` at `place` (self, the archive
/// chain, the hub), as the Atom crate's links, which RSS's Atom extension
/// uses too.
pub(crate) fn atom_links(feed: &FeedView<'_>, format: Format, place: &Place) -> Vec<Link> {
    place
        .atom_links(feed, format)
        .into_iter()
        .map(|(rel, href, media_type)| Link {
            href,
            rel: rel.to_string(),
            mime_type: media_type.map(str::to_string),
            ..Default::default()
        })
        .collect()
}

/// The Feed History namespace, declared where `place` carries its marker.
pub(crate) fn history_namespaces(place: &Place) -> BTreeMap<String, String> {
    place
        .marker()
        .map(|_| ("fh".to_string(), HISTORY_NAMESPACE.to_string()))
        .into_iter()
        .collect()
}

/// `xml` with the Feed History marker of `place` (`fh:complete`,
/// `fh:archive`) written as the empty element RFC 5005 defines: the feed
/// crates write an extension as a start tag and an end tag, with the
/// indentation between them as text.
pub(crate) fn empty_history_marker(xml: Vec<u8>, place: &Place) -> Vec<u8> {
    let Some(marker) = place.marker() else {
        return xml;
    };
    let start = format!("<fh:{marker}>");
    let end = format!("</fh:{marker}>");
    let Some(at) = memchr::memmem::find(&xml, start.as_bytes()) else {
        return xml;
    };
    let after = at + start.len();
    let blank = xml[after..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    if !xml[after + blank..].starts_with(end.as_bytes()) {
        return xml;
    }
    let mut out = Vec::with_capacity(xml.len());
    out.extend_from_slice(&xml[..at]);
    out.extend_from_slice(format!("<fh:{marker}/>").as_bytes());
    out.extend_from_slice(&xml[after + blank + end.len()..]);
    out
}

/// The name and version written in every feed's generator element.
pub const GENERATOR: &str = "broadsheet";
/// This program's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the generator's home is said to be.
pub const GENERATOR_URI: &str = "https://github.com/broadsheet/broadsheet";

/// `text`, plain text, as HTML that shows exactly that text: `&`, `<`, `>`
/// and `"` escaped. For elements that readers take as HTML (RSS
/// `description`), so that "S&P 500" or "<b> tags" are shown, not parsed.
pub fn plain_text_to_html(text: &str) -> String {
    use std::fmt::Write;
    let mut html = String::with_capacity(text.len());
    // An `Escaper` writes into a `String`, which cannot fail.
    let _ = maud::Escaper::new(&mut html).write_str(text);
    html
}

#[cfg(test)]
mod tests {
    use super::plain_text_to_html;

    #[test]
    fn the_history_marker_is_an_empty_element() {
        use crate::archive::Place;
        let xml = b"<a>\n  <fh:complete>\n  </fh:complete>\n</a>".to_vec();
        assert_eq!(
            super::empty_history_marker(xml.clone(), &Place::Complete),
            b"<a>\n  <fh:complete/>\n</a>"
        );
        assert_eq!(super::empty_history_marker(xml.clone(), &Place::Alone), xml);
    }

    #[test]
    fn plain_text_becomes_html_that_shows_it() {
        assert_eq!(
            plain_text_to_html(r#"S&P 500, R&D, AT&T: <b> "tags" as text"#),
            "S&amp;P 500, R&amp;D, AT&amp;T: &lt;b&gt; &quot;tags&quot; as text"
        );
        assert_eq!(plain_text_to_html("中文 🎉"), "中文 🎉");
    }
}
