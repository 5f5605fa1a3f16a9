//! `[limits] resource_bytes`: no published resource (a feed, a page) may
//! be larger, so that one mistake in the content (a pasted wall of markup,
//! repeated in every feed that lists it, in three formats) cannot cost
//! hundreds of megabytes of export and memory. Articles' files are left
//! out: they are published as they are, under their own cap.
//!
//! A resource over the limit is an error on the article that made it so:
//! the largest of those it shows, the one to shorten.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{BuiltSet, ResourceKind};
use crate::config::bytes_in_words;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Article, Site};

/// Every resource of `built` larger than the site's `resource_bytes`, as
/// one error per article to blame (or on `config.toml` for a resource that
/// shows no article).
pub(super) fn check_resource_sizes(
    site: &Site,
    built: &BuiltSet,
    config_path: PathBuf,
) -> Result<(), Diagnostics> {
    let most = site.config.limits.resource_bytes.get();
    let mut blamed: BTreeMap<PathBuf, (Option<usize>, Vec<String>)> = BTreeMap::new();
    for (url_path, resource) in &built.resources {
        if resource.kind == ResourceKind::Media || resource.body.len() <= most {
            continue;
        }
        let culprit = largest_shown(site, url_path, resource.kind);
        let (source, html) = match culprit {
            Some(article) => (
                article.source.clone(),
                Some(article.content_html.as_str().len()),
            ),
            None => (config_path.clone(), None),
        };
        let entry = blamed.entry(source).or_insert((html, Vec::new()));
        entry.1.push(format!(
            "`{url_path}` {}",
            bytes_in_words(resource.body.len())
        ));
    }
    if blamed.is_empty() {
        return Ok(());
    }
    let limit = bytes_in_words(most);
    Err(Diagnostics(
        blamed
            .into_iter()
            .map(|(source, (html, resources))| {
                let what = resources.join(", ");
                let message = match html {
                    Some(html) => format!(
                        "this article ({} of HTML) is the largest in {what}, over the {limit} a published resource may have (`[limits] resource_bytes` in config.toml): shorten it, lower the feed's `limit`, or raise the limit",
                        bytes_in_words(html)
                    ),
                    None => format!(
                        "{what} over the {limit} a published resource may have (`[limits] resource_bytes`)"
                    ),
                };
                Diagnostic::new(source, 1, message)
            })
            .collect(),
    ))
}

/// The largest article (HTML and summary) that the resource at `url_path` shows.
fn largest_shown<'a>(site: &'a Site, url_path: &str, kind: ResourceKind) -> Option<&'a Article> {
    let relative = url_path.trim_start_matches('/');
    let section_slug = relative.split_once('/').map(|(first, _)| first);
    let size = |a: &&Article| a.content_html.as_str().len() + a.summary.len();
    match kind {
        ResourceKind::Article => site
            .sections
            .iter()
            .flat_map(|s| s.articles.iter())
            .find(|a| a.path() == relative)
            .map(|a| a.as_ref()),
        ResourceKind::Feed | ResourceKind::Index | ResourceKind::LaterPage => {
            let shown = |limit: Option<usize>| match kind {
                ResourceKind::Index | ResourceKind::LaterPage => site.config.page_size.get(),
                _ => limit.unwrap_or(site.config.limit.get()),
            };
            match section_slug.and_then(|slug| site.sections.iter().find(|s| s.slug == slug)) {
                Some(section) => section
                    .articles
                    .iter()
                    .take(shown(section.limit.map(|l| l.get())))
                    .map(|a| a.as_ref())
                    .max_by_key(size),
                None => site.newest(shown(None)).into_iter().max_by_key(size),
            }
        }
        _ => None,
    }
}
