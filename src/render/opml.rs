//! OPML 2.0 (<http://opml.org/spec2.opml>): the list of every feed, for
//! readers that import subscriptions. Written with `quick-xml`, which
//! escapes attribute values.
//!
//! One folder outline per format, each holding the site-wide feed and every
//! section's, so a reader can import the folder of the format it prefers.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::feed::{site_updated, FeedView};
use crate::model::Site;

/// The OPML document listing every feed of `site`.
pub fn render(site: &Site) -> Vec<u8> {
    let mut feeds = vec![FeedView::site(site)];
    feeds.extend(
        site.sections
            .iter()
            .map(|section| FeedView::section(site, section)),
    );
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write(&mut writer, site, &feeds).expect("writing XML to memory cannot fail");
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    bytes
}

fn write(writer: &mut Writer<Vec<u8>>, site: &Site, feeds: &[FeedView<'_>]) -> std::io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    writer.write_event(Event::Start(
        BytesStart::new("opml").with_attributes([("version", "2.0")]),
    ))?;
    writer.write_event(Event::Start(BytesStart::new("head")))?;
    text_element(
        writer,
        "title",
        &format!("{}: all feeds", site.config.title),
    )?;
    text_element(writer, "dateModified", &site_updated(site).to_rfc2822())?;
    text_element(writer, "docs", "http://opml.org/spec2.opml")?;
    writer.write_event(Event::End(BytesEnd::new("head")))?;
    writer.write_event(Event::Start(BytesStart::new("body")))?;
    for format in site.config.formats.iter() {
        let label = format!("{} ({})", site.config.title, format.label());
        writer.write_event(Event::Start(
            BytesStart::new("outline")
                .with_attributes([("text", label.as_str()), ("title", label.as_str())]),
        ))?;
        for feed in feeds {
            // The format in the title: a reader importing more than one
            // folder shows each feed once per format, told apart.
            let title = format!("{} ({})", feed.title, format.label());
            let xml_url = feed.url(format).to_string();
            let html_url = feed.home_url().to_string();
            let outline = BytesStart::new("outline").with_attributes([
                ("type", "rss"),
                ("text", title.as_str()),
                ("title", title.as_str()),
                ("description", feed.description.as_str()),
                ("xmlUrl", xml_url.as_str()),
                ("htmlUrl", html_url.as_str()),
                ("language", site.config.language.as_str()),
                ("version", format.spec().opml_version),
            ]);
            writer.write_event(Event::Empty(outline))?;
        }
        writer.write_event(Event::End(BytesEnd::new("outline")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("body")))?;
    writer.write_event(Event::End(BytesEnd::new("opml")))?;
    Ok(())
}

fn text_element(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(name)))?;
    writer.write_event(Event::Text(BytesText::new(text)))?;
    writer.write_event(Event::End(BytesEnd::new(name)))?;
    Ok(())
}
