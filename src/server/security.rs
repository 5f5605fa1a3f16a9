//! Fields that keep what is served from being run as something else on the
//! site's origin:
//!
//! - `X-Content-Type-Options: nosniff` on every response the server makes
//!   (Fetch standard, "X-Content-Type-Options"): a browser takes each
//!   response as its `Content-Type` says, never sniffs a feed, a text file or
//!   an error body into HTML or script.
//! - `Content-Security-Policy: sandbox` (CSP Level 3, section 6.3.2) on the
//!   articles' files a browser would open as a document able to run script:
//!   HTML, SVG and XML (XML may hold XHTML or SVG elements with scripts). An
//!   author's `demo.html` or `chart.svg` then runs in a unique opaque origin,
//!   with no script, and cannot reach the site's origin (its pages, its
//!   storage). The site's own pages, stylesheet and icon carry none: they are
//!   ours, and hold no script either. Images, audio, video and PDFs carry
//!   none (Chromium's PDF viewer does not open a sandboxed PDF).
//!
//! The fields of a resource are made once per build (`served.rs`); the
//! responses that are not a resource's add [`NOSNIFF`] themselves.

use http::header::{CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, HeaderValue};

use crate::build::ResourceKind;

/// `X-Content-Type-Options: nosniff`, as name and value.
pub(crate) const NOSNIFF: (&str, &str) = ("x-content-type-options", "nosniff");

/// Adds `X-Content-Type-Options: nosniff` to `headers`.
pub(crate) fn add_nosniff(headers: &mut HeaderMap) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static(NOSNIFF.1));
}

/// The fields of every response of a resource of `kind` and `content_type`.
pub(crate) fn resource_fields(kind: ResourceKind, content_type: &str) -> HeaderMap {
    let mut fields = HeaderMap::new();
    add_nosniff(&mut fields);
    if kind == ResourceKind::Media && runs_script(content_type) {
        fields.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    }
    fields
}

/// True for the media types a browser opens as a document that may run script.
fn runs_script(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html" | "image/svg+xml" | "application/xml" | "text/xml" | "application/xhtml+xml"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::media_type;

    fn csp(kind: ResourceKind, path: &str) -> Option<String> {
        resource_fields(kind, media_type(path))
            .get(CONTENT_SECURITY_POLICY)
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn articles_files_that_can_run_script_are_sandboxed() {
        for path in ["demo.html", "chart.svg", "CHART.SVG", "data.xml"] {
            assert_eq!(
                csp(ResourceKind::Media, path).as_deref(),
                Some("sandbox"),
                "{path}"
            );
        }
        for path in [
            "photo.jpg",
            "talk.mp3",
            "paper.pdf",
            "notes.txt",
            "data.json",
            "x.bin",
        ] {
            assert_eq!(csp(ResourceKind::Media, path), None, "{path}");
        }
    }

    #[test]
    fn the_sites_own_resources_are_not_sandboxed() {
        for kind in [ResourceKind::Index, ResourceKind::Feed, ResourceKind::Opml] {
            assert_eq!(csp(kind, "index.html"), None);
        }
    }

    #[test]
    fn every_resource_has_nosniff() {
        for kind in [ResourceKind::Index, ResourceKind::Media, ResourceKind::Feed] {
            let fields = resource_fields(kind, "text/html; charset=utf-8");
            assert_eq!(fields.get(X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        }
    }
}
