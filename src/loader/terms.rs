//! Tags and authors checked across the site: two different names that
//! would be published at one URL (`taxonomy::collisions`) are an error on
//! the later use, naming both, so that neither page silently takes the
//! other's place.

use std::collections::HashMap;
use std::path::PathBuf;

use super::cache::CachedArticle;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::taxonomy::{self, Kind, Use};

/// Checks the tags and authors of every article loaded (drafts and later
/// articles too: they are checked like the rest), in file order.
///
/// `clean` is the signature of the names last checked and found without
/// collision: the same names in the same files (an edit to an article's
/// text, the usual reload) cannot collide either, and are not checked again.
pub(super) fn check(
    articles: &HashMap<PathBuf, CachedArticle>,
    diagnostics: &mut Diagnostics,
    clean: &mut Option<u64>,
) {
    // Each file's names, hashed when it was parsed, combined without
    // regard to order.
    let signature = articles
        .values()
        .fold(0u64, |signature, cached| signature ^ cached.names);
    if *clean == Some(signature) {
        return;
    }
    let found = diagnostics.len();
    check_all(articles, diagnostics);
    *clean = (diagnostics.len() == found).then_some(signature);
}

fn check_all(articles: &HashMap<PathBuf, CachedArticle>, diagnostics: &mut Diagnostics) {
    let mut files: Vec<(&PathBuf, &CachedArticle)> = articles.iter().collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    for kind in [Kind::Tag, Kind::Author] {
        let uses = files.iter().flat_map(|(path, cached)| {
            let parsed = &cached.parsed;
            let lines: Vec<usize> = match kind {
                Kind::Tag => vec![parsed.tags_line; parsed.article.tags.len()],
                Kind::Author => parsed.author_lines.clone(),
            };
            kind.names(&parsed.article)
                .zip(lines)
                .map(move |(name, line)| Use {
                    source: path.as_path(),
                    line,
                    name,
                })
        });
        for collision in taxonomy::collisions(uses) {
            let noun = kind.noun();
            diagnostics.push(Diagnostic::new(
                collision.other.source,
                collision.other.line,
                format!(
                    "the {noun} `{}` would be published at /{}{}/, the URL of the {noun} `{}` ({}:{}): \
                     two {noun}s are one only when they differ in case or spacing; rename one of them",
                    collision.other.name,
                    kind.dir(),
                    collision.slug,
                    collision.first.name,
                    collision.first.source.display(),
                    collision.first.line,
                ),
            ));
        }
    }
}
