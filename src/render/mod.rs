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

use crate::feed::FeedView;
use crate::format::Format;

/// The bytes of `feed` in `format`: the one place a format meets its renderer.
pub fn feed(format: Format, feed: &FeedView<'_>) -> Vec<u8> {
    match format {
        Format::Rss => rss::render(feed),
        Format::Atom => atom::render(feed),
        Format::Json => json::render(feed),
    }
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
    fn plain_text_becomes_html_that_shows_it() {
        assert_eq!(
            plain_text_to_html(r#"S&P 500, R&D, AT&T: <b> "tags" as text"#),
            "S&amp;P 500, R&amp;D, AT&amp;T: &lt;b&gt; &quot;tags&quot; as text"
        );
        assert_eq!(plain_text_to_html("中文 🎉"), "中文 🎉");
    }
}
