//! The built set as a static host holds it: one file per resource at the
//! path a web server maps its URL to ([`file_for`]: `/` is `index.html`,
//! `/opinion/` is `opinion/index.html`), and beside each resource that
//! `precompress` covers, `.gz` and `.br` siblings made by the same encoder
//! as `serve`'s variants (each only when smaller, as `serve` keeps them).
//!
//! `export` writes these files and `deploy` uploads them as objects, so the
//! two publish the same bytes under the same names, and both send what
//! `serve` would. The headers a host should send with each file are decided
//! here too, from the leaves `serve` uses: the resource's `Content-Type`,
//! [`crate::build::cache_control`], and `Content-Encoding` for a sibling.

use std::path::PathBuf;

use bytes::Bytes;

use crate::build::{BuiltSet, Resource};
use crate::encoding::{encode_many, Coding};

/// One file of the static site.
#[derive(Debug, Clone)]
pub(crate) struct StaticFile<'a> {
    /// Its path relative to the site's root, with `/` between segments:
    /// `opinion/rss.xml`, `opinion/rss.xml.gz`, `index.html`.
    pub name: String,
    /// The URL path of the resource it holds (a sibling's is its resource's).
    pub url_path: &'a str,
    /// The resource.
    pub resource: &'a Resource,
    /// Identity for the resource's own bytes; gzip or brotli for a sibling.
    pub coding: Coding,
    /// The bytes of the file.
    pub body: Bytes,
}

impl StaticFile<'_> {
    /// `Cache-Control`, as `serve` sends it for this resource.
    pub fn cache_control(&self, built: &BuiltSet) -> String {
        crate::build::cache_control(self.resource.kind, built.max_age, built.archive_max_age)
    }
}

/// The file a URL path is written to, relative to the export directory:
/// `/` is `index.html`, `/opinion/` is `opinion/index.html`.
///
/// ```
/// use std::path::Path;
/// use broadsheet::file_for;
///
/// assert_eq!(file_for("/"), Path::new("index.html"));
/// assert_eq!(file_for("/opinion/"), Path::new("opinion/index.html"));
/// assert_eq!(file_for("/opinion/atom.xml"), Path::new("opinion/atom.xml"));
/// ```
pub fn file_for(url_path: &str) -> PathBuf {
    PathBuf::from(name_for(url_path))
}

/// [`file_for`] as text with `/` between segments (an object key's form).
pub(crate) fn name_for(url_path: &str) -> String {
    let relative = url_path.trim_start_matches('/');
    if relative.is_empty() || relative.ends_with('/') {
        format!("{relative}index.html")
    } else {
        relative.to_string()
    }
}

/// Every resource's own file, in the order of `built.resources`.
pub(crate) fn identity_files(built: &BuiltSet) -> Vec<StaticFile<'_>> {
    built
        .resources
        .iter()
        .map(|(url_path, resource)| StaticFile {
            name: name_for(url_path),
            url_path,
            resource,
            coding: Coding::Identity,
            body: resource.body.clone(),
        })
        .collect()
}

/// The `.gz` and `.br` siblings of the resources `precompress` covers
/// (of those whose URL path `wanted` takes), compressed on every core; a
/// sibling that would not be smaller is left out. Sorted by name.
pub(crate) fn precompressed_files(
    built: &BuiltSet,
    wanted: impl Fn(&str) -> bool,
) -> Vec<StaticFile<'_>> {
    let selected = built
        .resources
        .iter()
        .filter(|(path, resource)| built.precompress.covers(resource.kind) && wanted(path))
        .map(|(path, resource)| (path, resource, true))
        .collect();
    let mut siblings = Vec::new();
    for (url_path, representations) in encode_many(selected) {
        let Some((url_path, resource)) = built.resources.get_key_value(&url_path) else {
            continue;
        };
        for coding in [Coding::Gzip, Coding::Brotli] {
            let (Some(representation), Some(extension)) =
                (representations.get(coding), coding.extension())
            else {
                continue;
            };
            siblings.push(StaticFile {
                name: format!("{}.{extension}", name_for(url_path)),
                url_path,
                resource,
                coding,
                body: representation.body.clone(),
            });
        }
    }
    siblings.sort_by(|a, b| a.name.cmp(&b.name));
    siblings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_map_to_files() {
        assert_eq!(file_for("/"), PathBuf::from("index.html"));
        assert_eq!(file_for("/opinion/"), PathBuf::from("opinion/index.html"));
        assert_eq!(
            file_for("/opinion/rss.xml"),
            PathBuf::from("opinion/rss.xml")
        );
        assert_eq!(name_for("/tags/économie/"), "tags/économie/index.html");
    }
}
