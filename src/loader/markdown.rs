//! Markdown bodies to HTML, with every link and image made absolute.
//!
//! Feed readers show an item away from its page, so a relative `href` or
//! `src` would point nowhere: each is resolved against the article's own URL.
//! Raw HTML blocks are passed through as written.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};
use url::Url;

/// The HTML of a Markdown body, and the plain text of its first paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub html: String,
    pub first_paragraph: String,
    /// The first character that XML cannot carry that a character reference
    /// (`&#x1;`) decoded to, with the byte offset of its source in `markdown`.
    pub forbidden: Option<(usize, char)>,
}

/// Renders `markdown`, resolving relative URLs against `page_url`.
pub(crate) fn render(markdown: &str, page_url: &Url) -> Rendered {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut first_paragraph = String::new();
    let mut paragraph_state = ParagraphState::NotYet;
    let mut forbidden = None;
    let events = Parser::new_ext(markdown, options)
        .into_offset_iter()
        .map(|(event, range)| {
            if let Event::Text(text) | Event::Code(text) = &event {
                if let Some(c) = text.chars().find(|&c| !crate::xml_char::is_xml_char(c)) {
                    forbidden.get_or_insert((range.start, c));
                }
            }
            paragraph_state.observe(&event, &mut first_paragraph);
            absolutize(event, page_url)
        });
    let mut html = String::with_capacity(markdown.len() * 5 / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    // Parsed articles are kept between builds: no spare capacity.
    html.shrink_to_fit();
    Rendered {
        html,
        first_paragraph: summary_of(&super::fields::collapse_whitespace(&first_paragraph)),
        forbidden,
    }
}

/// The most characters of a summary taken from the body. A news lede is
/// 25 to 40 words (150 to 250 characters), a long one about 400, so a first
/// paragraph of that kind is kept whole; readers show two to four lines of it
/// and clip the rest themselves. What is cut is the paragraph that was never
/// meant as a summary (a wall of text, a pasted log), which would otherwise
/// be repeated in every feed and index page that lists the article.
pub(crate) const SUMMARY_CHARS: usize = 500;

/// `text` (white space already collapsed) cut to at most [`SUMMARY_CHARS`]
/// characters: at the end of the last sentence that leaves at least half of
/// them, or else at the last word boundary followed by `…`, or, for one
/// word longer than that, mid-word followed by `…`.
pub(crate) fn summary_of(text: &str) -> String {
    let Some((limit, _)) = text.char_indices().nth(SUMMARY_CHARS) else {
        return text.to_string();
    };
    let window = &text[..limit];
    let half = window
        .char_indices()
        .nth(SUMMARY_CHARS / 2)
        .map_or(0, |(i, _)| i);
    // A sentence ends at `.`, `!` or `?` (perhaps closed by a quote or a
    // bracket) followed by a space.
    let sentence_end = window
        .match_indices(' ')
        .map(|(i, _)| i)
        .filter(|&i| i >= half)
        .rfind(|&i| {
            let before = window[..i].trim_end_matches(['"', '\'', '’', '”', ')']);
            before.ends_with(['.', '!', '?'])
        });
    if let Some(end) = sentence_end {
        return window[..end].to_string();
    }
    let cut = match window.rfind(' ') {
        Some(space) if space > 0 => {
            window[..space].trim_end_matches([',', ';', ':', '-', '–', '—'])
        }
        _ => window,
    };
    format!("{}…", cut.trim_end())
}

/// Collects the text of the first top-level paragraph.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ParagraphState {
    NotYet,
    Inside,
    Done,
}

impl ParagraphState {
    fn observe(&mut self, event: &Event<'_>, text: &mut String) {
        match (*self, event) {
            (ParagraphState::NotYet, Event::Start(Tag::Paragraph)) => {
                *self = ParagraphState::Inside
            }
            (ParagraphState::Inside, Event::End(TagEnd::Paragraph)) => *self = ParagraphState::Done,
            (ParagraphState::Inside, Event::Text(t) | Event::Code(t)) => text.push_str(t),
            (ParagraphState::Inside, Event::SoftBreak | Event::HardBreak) => text.push(' '),
            _ => {}
        }
    }
}

fn absolutize<'a>(event: Event<'a>, base: &Url) -> Event<'a> {
    match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: resolve(dest_url, base),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: resolve(dest_url, base),
            title,
            id,
        }),
        other => other,
    }
}

fn resolve<'a>(dest: CowStr<'a>, base: &Url) -> CowStr<'a> {
    if Url::parse(&dest).is_ok() {
        return dest;
    }
    match base.join(&dest) {
        Ok(url) => CowStr::from(url.to_string()),
        Err(_) => dest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://example.com/news/opinion/energy/").unwrap()
    }

    #[test]
    fn relative_links_and_images_become_absolute() {
        let r = render(
            "[a](../other/) ![p](photo.jpg) [r](/about/) [x](https://x.org/)",
            &page(),
        );
        assert!(
            r.html
                .contains(r#"href="https://example.com/news/opinion/other/""#),
            "{}",
            r.html
        );
        assert!(r
            .html
            .contains(r#"src="https://example.com/news/opinion/energy/photo.jpg""#));
        assert!(r.html.contains(r#"href="https://example.com/about/""#));
        assert!(r.html.contains(r#"href="https://x.org/""#));
    }

    #[test]
    fn long_first_paragraphs_are_cut_at_a_sentence_or_a_word() {
        let short = "A lede of one sentence. And a second.";
        assert_eq!(summary_of(short), short);
        let exact = "x".repeat(SUMMARY_CHARS);
        assert_eq!(summary_of(&exact), exact);

        // A sentence ends in the second half of the window: cut there.
        let sentence = format!("{}. {}", "word ".repeat(80).trim_end(), "more ".repeat(100));
        let cut = summary_of(&sentence);
        assert!(cut.ends_with("word."), "{cut}");
        assert_eq!(cut.chars().count(), 80 * 5);

        // No sentence end late enough: cut at the last word, with an ellipsis.
        let words = "wordy ".repeat(200);
        let cut = summary_of(&words);
        assert!(cut.ends_with("wordy…"), "{cut}");
        assert!(cut.chars().count() <= SUMMARY_CHARS + 1, "{cut}");

        // One endless word (the 7 MB of `<` of the hardening issue): cut mid-word.
        let wall = "<".repeat(7_000_000);
        let cut = summary_of(&wall);
        assert_eq!(cut.chars().count(), SUMMARY_CHARS + 1);
        assert!(cut.ends_with('…'));

        // Multi-byte text is cut on a character boundary.
        let cjk = "能源合作".repeat(300);
        assert_eq!(summary_of(&cjk).chars().count(), SUMMARY_CHARS + 1);
    }

    #[test]
    fn first_paragraph_is_plain_text() {
        let r = render(
            "<figure></figure>\n\nOne *two*\n`three` & four.\n\nSecond.",
            &page(),
        );
        assert_eq!(r.first_paragraph, "One two three & four.");
        assert!(r.html.contains("<em>two</em>"));
    }
}
