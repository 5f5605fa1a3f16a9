//! Renderers: pure functions from the model to the bytes of one output.
//!
//! No renderer reads a file, a clock or a hash map's order: the same model
//! always gives the same bytes.

pub mod atom;
pub mod favicon;
pub mod html;
pub mod json;
pub mod opml;
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
