//! What one feed holds, whatever its format: the site-wide feed or a
//! section's, with its items already chosen, sorted and limited.
//!
//! Each renderer turns a [`FeedView`] into bytes; building it once keeps
//! the three formats in agreement about titles, order, limits and dates.

use chrono::{DateTime, FixedOffset};
use url::Url;

use crate::config::Config;
use crate::format::Format;
use crate::model::{Article, Section, Site};
use crate::taxonomy::{Kind, Term};

/// One feed's contents, ready to render in any format.
#[derive(Debug, Clone)]
pub struct FeedView<'a> {
    /// The site's settings.
    pub config: &'a Config,
    /// The feed's title.
    pub title: String,
    /// What the feed is about; never empty.
    pub description: String,
    /// The directory the feed lives in: `""` for the site, `"opinion/"` for a section.
    pub dir: String,
    /// The items, newest first, at most the limit.
    pub items: Vec<&'a Article>,
    /// When the feed last changed: its newest item's modification time.
    pub updated: DateTime<FixedOffset>,
}

impl<'a> FeedView<'a> {
    /// The site-wide feed: every section's articles.
    pub fn site(site: &'a Site) -> FeedView<'a> {
        let config = &site.config;
        let items = site.newest(config.limit.get());
        let description = non_empty(&config.description, config.title.as_str());
        FeedView {
            config,
            title: config.title.to_string(),
            description,
            dir: String::new(),
            updated: newest_change(&items, site),
            items,
        }
    }

    /// A section's feed.
    pub fn section(site: &'a Site, section: &'a Section) -> FeedView<'a> {
        let config = &site.config;
        let limit = section.limit.unwrap_or(config.limit).get();
        let items: Vec<&Article> = section
            .articles
            .iter()
            .take(limit)
            .map(|a| a.as_ref())
            .collect();
        FeedView {
            config,
            title: format!("{}: {}", config.title, section.title),
            description: non_empty(&section.description, &section.title),
            dir: format!("{}/", section.slug),
            updated: newest_change(&items, site),
            items,
        }
    }

    /// A tag's or an author's feed: the newest `limit` of its articles,
    /// the same items, with the same ids, as every other feed carries.
    pub fn term(site: &'a Site, kind: Kind, term: &Term<'a>) -> FeedView<'a> {
        let config = &site.config;
        let items: Vec<&Article> = term
            .articles
            .iter()
            .take(config.limit.get())
            .copied()
            .collect();
        let description = match kind {
            Kind::Tag => format!("Articles tagged “{}”", term.name),
            Kind::Author => format!("Articles by {}, whatever the role", term.name),
        };
        FeedView {
            config,
            title: format!("{}: {}", config.title, term.name),
            description,
            dir: term.dir(kind),
            updated: newest_change(&items, site),
            items,
        }
    }

    /// The feed's own URL in `format` (its `self` link).
    pub fn url(&self, format: Format) -> Url {
        self.config
            .base_url
            .join(&format!("{}{}", self.dir, format.file_name()))
    }

    /// The site-relative path of the feed in `format`, such as `opinion/rss.xml`.
    pub fn path(&self, format: Format) -> String {
        format!("{}{}", self.dir, format.file_name())
    }

    /// The HTML page the feed stands for.
    pub fn home_url(&self) -> Url {
        self.config.base_url.join(&self.dir)
    }

    /// The WebSub hubs the feed names (`[websub]`), in order.
    pub fn hubs(&self) -> Vec<String> {
        self.config.websub.hub_urls(&self.config.base_url)
    }
}

fn non_empty(text: &str, fallback: &str) -> String {
    if text.trim().is_empty() {
        fallback.to_string()
    } else {
        text.to_string()
    }
}

/// The newest modification among `items`; a feed with no items takes the
/// site's newest, and an empty site the Unix epoch, so that output never
/// depends on the clock.
fn newest_change(items: &[&Article], site: &Site) -> DateTime<FixedOffset> {
    items
        .iter()
        .map(|a| a.modified())
        .max()
        // With no items, the newest change of any article: a plain maximum.
        .or_else(|| {
            site.sections
                .iter()
                .flat_map(|section| section.articles.iter())
                .map(|a| a.modified())
                .max()
        })
        .unwrap_or_else(|| DateTime::UNIX_EPOCH.fixed_offset())
}

/// The newest modification of anything on the site.
pub fn site_updated(site: &Site) -> DateTime<FixedOffset> {
    newest_change(&[], site)
}
