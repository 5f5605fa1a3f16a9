//! The feed formats, each defined once: the name `formats` takes in
//! `config.toml`, the file name of its feeds, the media type they are served
//! with, the label readers see and the OPML `version` attribute all come
//! from [`Format::spec`]. A new format is a variant and its row here, plus
//! its renderer in `render/` (dispatched by `render::feed`).

use serde::Deserialize;

/// A feed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RSS 2.0, at `rss.xml`.
    Rss,
    /// Atom 1.0 (RFC 4287), at `atom.xml`.
    Atom,
    /// JSON Feed 1.1, at `feed.json`.
    Json,
}

/// What defines a format everywhere it is published.
#[derive(Debug)]
pub struct FormatSpec {
    /// The name `formats` takes in `config.toml` (and audience counting stores).
    pub name: &'static str,
    /// The file name of this format's feed in each feed directory.
    pub file_name: &'static str,
    /// The media type, as `<link rel="alternate" type>` and OPML give it.
    pub media_type: &'static str,
    /// The `Content-Type` the feed is served with.
    pub content_type: &'static str,
    /// The name readers show for the format.
    pub label: &'static str,
    /// The OPML 2.0 `version` attribute of an outline of this format.
    pub opml_version: &'static str,
}

impl Format {
    /// Every format, in the order feeds are listed.
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    /// The format's definition: the one place each of its names is written.
    pub fn spec(self) -> &'static FormatSpec {
        match self {
            Format::Rss => &FormatSpec {
                name: "rss",
                file_name: "rss.xml",
                media_type: "application/rss+xml",
                content_type: "application/rss+xml; charset=utf-8",
                label: "RSS 2.0",
                opml_version: "RSS2",
            },
            Format::Atom => &FormatSpec {
                name: "atom",
                file_name: "atom.xml",
                media_type: "application/atom+xml",
                content_type: "application/atom+xml; charset=utf-8",
                label: "Atom 1.0",
                opml_version: "ATOM",
            },
            Format::Json => &FormatSpec {
                name: "json",
                file_name: "feed.json",
                media_type: "application/feed+json",
                content_type: "application/feed+json; charset=utf-8",
                label: "JSON Feed 1.1",
                opml_version: "JSONFEED",
            },
        }
    }

    /// The file name of this format's feed in each feed directory.
    pub fn file_name(self) -> &'static str {
        self.spec().file_name
    }

    /// The name `formats` takes in `config.toml`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The format whose feeds are named `file_name`, if one is.
    pub fn of_file_name(file_name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|format| format.file_name() == file_name)
    }

    /// The media type the feed is served with, without parameters.
    pub fn media_type(self) -> &'static str {
        self.spec().media_type
    }

    /// The name readers show for the format.
    pub fn label(self) -> &'static str {
        self.spec().label
    }
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn every_format_has_its_own_file_name_and_a_content_type_of_its_media_type() {
        for format in Format::ALL {
            let spec = format.spec();
            assert!(spec.content_type.starts_with(spec.media_type), "{format:?}");
            let same_name = Format::ALL
                .iter()
                .filter(|f| f.file_name() == spec.file_name);
            assert_eq!(same_name.count(), 1, "{format:?}");
            let named: Format = toml::Value::String(spec.name.into()).try_into().unwrap();
            assert_eq!(named, format);
            assert_eq!(Format::of_file_name(spec.file_name), Some(format));
        }
    }
}
