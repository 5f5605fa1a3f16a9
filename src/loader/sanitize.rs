//! `sanitize_html = true`: an article's HTML, raw HTML from the Markdown
//! included, cleaned for sites whose authors are not all trusted. Pure.
//!
//! The body is rendered once, in the loader, and the same HTML goes into
//! the article's page and into every feed, so sanitizing here covers both.
//! The rules are ammonia's defaults: an allow-list of tags and attributes in
//! which `<script>`, `<style>`, `<iframe>`, `<object>`, forms, event handler
//! attributes (`onclick`) and `style` are not, and URLs limited to safe
//! schemes (`http`, `https`, `mailto`, …; never `javascript:`). Figures,
//! captions, images, links, tables, lists, quotes and emphasis are kept;
//! links get `rel="noopener noreferrer"`. The one addition: `class` on
//! `<code>`, where the Markdown renderer names a code block's language.

use std::sync::LazyLock;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder.add_tag_attributes("code", &["class"]);
    builder
});

/// `html` with everything outside the allow-list removed.
pub(crate) fn html(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_frames_and_javascript_urls_are_removed() {
        let dirty = concat!(
            r#"<p onclick="steal()">Hi <a href="javascript:alert(1)">x</a></p>"#,
            r#"<script>alert(1)</script><iframe src="https://evil.example/"></iframe>"#,
            r#"<img src="https://e.com/a.jpg" onerror="steal()" alt="A">"#,
        );
        let clean = html(dirty);
        for gone in [
            "onclick",
            "javascript:",
            "<script",
            "alert(1)",
            "<iframe",
            "onerror",
        ] {
            assert!(!clean.contains(gone), "{gone} in {clean}");
        }
        assert!(
            clean.contains(r#"<img src="https://e.com/a.jpg" alt="A">"#),
            "{clean}"
        );
    }

    #[test]
    fn ordinary_article_markup_is_kept() {
        let markup = concat!(
            "<figure><img src=\"https://e.com/p.jpg\" alt=\"P\"><figcaption>Caption <em>here</em></figcaption></figure>",
            "<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>",
            "<pre><code class=\"language-rust\">fn main() {}</code></pre>",
            "<blockquote><p><strong>Bold</strong> and <del>gone</del></p></blockquote>",
        );
        assert_eq!(html(markup), markup);
    }
}
