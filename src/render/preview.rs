//! The feed preview: one XSLT stylesheet of our own (`feed.xsl`), published
//! at [`PATH`], that the RSS and Atom feeds name in an
//! `<?xml-stylesheet?>` processing instruction. A browser that applies it
//! shows a page saying what a feed is, the address to copy into a reader,
//! and the items with their links, in place of raw XML.
//!
//! It is an enhancement for people, never a change for readers: the
//! instruction sits in the prolog, outside the document element, where
//! feed parsers ignore it, and feeds keep their own media types (see the
//! README, "Feed previews in browsers", for what browsers do with them).

/// Where the stylesheet is published, relative to the site root.
pub const PATH: &str = "feed.xsl";

/// The `Content-Type` of the stylesheet: the XSLT media type registered with
/// IANA. Browsers take any XML type for a stylesheet (`text/xsl` is the
/// customary *name* in the instruction, not a registered type).
pub const CONTENT_TYPE: &str = "application/xslt+xml; charset=utf-8";

/// The stylesheet's bytes.
pub fn stylesheet() -> Vec<u8> {
    include_bytes!("feed.xsl").to_vec()
}

/// The XML document at site-relative `path` (`opinion/archive/2/rss.xml`) whose document element (and everything after
/// the prolog) is `root`: the XML declaration, with its encoding, then the
/// stylesheet instruction, then `root`.
///
/// The instruction's address is relative to the feed (`feed.xsl`,
/// `../feed.xsl`): browsers apply only a stylesheet of the document's own
/// origin, and a relative address is on it wherever the feed is fetched
/// from (a preview of `serve` on another host than `base_url`, http or
/// https), and under whatever path `base_url` has.
pub fn document(path: &str, root: &[u8]) -> Vec<u8> {
    let up = "../".repeat(path.matches('/').count());
    let prolog = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <?xml-stylesheet type=\"text/xsl\" href=\"{up}{PATH}\"?>\n"
    );
    let mut bytes = Vec::with_capacity(prolog.len() + root.len());
    bytes.extend_from_slice(prolog.as_bytes());
    bytes.extend_from_slice(root);
    bytes
}

/// `xml` without its XML declaration (and the white space after it), if it
/// starts with one: for writers that always write their own.
pub fn without_declaration(xml: &[u8]) -> &[u8] {
    if !xml.starts_with(b"<?xml ") {
        return xml;
    }
    let Some(end) = xml.windows(2).position(|w| w == b"?>") else {
        return xml;
    };
    let rest = xml.get(end + 2..).unwrap_or_default();
    let start = rest
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    rest.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::without_declaration;

    #[test]
    fn the_declaration_is_taken_off_and_nothing_else() {
        assert_eq!(
            without_declaration(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss/>\n"),
            b"<rss/>\n"
        );
        assert_eq!(without_declaration(b"<rss/>"), b"<rss/>");
        assert_eq!(without_declaration(b"<?xml broken"), b"<?xml broken");
    }

    #[test]
    fn the_stylesheet_is_well_formed_xml() {
        let text = String::from_utf8(super::stylesheet()).expect("utf-8");
        let mut reader = quick_xml::Reader::from_str(&text);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("feed.xsl is not well-formed: {e}"),
            }
        }
    }
}
