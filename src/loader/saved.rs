//! The parse cache in the binary form `export` keeps on disk between runs
//! (`crate::codec`), so that a new process re-exporting a site parses only
//! the articles whose files changed. What is kept is what the next load
//! needs to trust an article without reading its file: the file's stamp
//! and text hash, and the article as parsed (its body as the very bytes it
//! was published with).
//!
//! Only published articles are written: a draft or an article dated later
//! never leaves the content directory through the cache (a later load
//! parses them again, as it would anyway once they change).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use url::Url;

use super::article::ParsedArticle;
use super::cache::{CachedArticle, FileStamp, ParseCache};
use crate::codec::{Corrupt, Reader, Writer};
use crate::model::{Article, ArticleId, Author, Html};

impl ParseCache {
    /// Writes the configuration's hash, the signature of the tags and
    /// authors last checked, and every article published by `now`.
    pub(crate) fn save<W: Write>(&self, now: DateTime<Utc>, out: &mut Writer<W>) {
        out.u64(self.config_hash);
        out.option(self.terms_clean, |out, hash| out.u64(hash));
        let mut published: Vec<(&PathBuf, &CachedArticle)> = self
            .articles
            .iter()
            .filter(|(_, cached)| !cached.parsed.draft && cached.parsed.article.published <= now)
            .collect();
        // By file: the same cache gives the same bytes. (Compared as bytes:
        // comparing paths splits them into components.)
        published.sort_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
        // Every body, one after the other (the bulk, copied as it is); the
        // articles name theirs by place.
        let body = |cached: &CachedArticle| cached.parsed.article.content_html.bytes().len();
        out.len(published.iter().map(|(_, cached)| body(cached)).sum());
        for (_, cached) in &published {
            out.raw(cached.parsed.article.content_html.bytes());
        }
        // The rest in chunks, each encoded, and read back, on its own core.
        // Each chunk: where its first body stands, its articles, and
        // (once encoded) its bytes.
        type Chunk<'a> = (usize, &'a [(&'a PathBuf, &'a CachedArticle)], Vec<u8>);
        let mut chunks: Vec<Chunk<'_>> = Vec::new();
        let mut at = 0;
        for chunk in published.chunks(CHUNK) {
            chunks.push((at, chunk, Vec::new()));
            at += chunk.iter().map(|(_, cached)| body(cached)).sum::<usize>();
        }
        crate::parallel::for_each(&mut chunks, |(at, chunk, encoded)| {
            let mut out = Writer::new(Vec::new());
            out.len(chunk.len());
            for (path, cached) in chunk.iter() {
                out.path(path);
                out.u64(cached.text_hash);
                out.option(cached.stamp.as_ref(), save_stamp);
                save_parsed(&cached.parsed, *at, &mut out);
                *at += body(cached);
            }
            // Writing into memory cannot fail.
            *encoded = out.finish().map(|(bytes, _)| bytes).unwrap_or_default();
        });
        out.len(chunks.len());
        for (_, _, encoded) in &chunks {
            out.bytes(encoded);
        }
    }

    /// The cache [`ParseCache::save`] wrote.
    pub(crate) fn restore(input: &mut Reader) -> Result<ParseCache, Corrupt> {
        let mut cache = ParseCache {
            config_hash: input.u64()?,
            terms_clean: input.option(Reader::u64)?,
            ..ParseCache::default()
        };
        let bodies = input.bytes()?;
        type Chunk = (Bytes, Result<Vec<(PathBuf, CachedArticle)>, Corrupt>);
        let mut chunks = (0..input.count(8)?)
            .map(|_| Ok((input.bytes()?, Ok(Vec::new()))))
            .collect::<Result<Vec<Chunk>, Corrupt>>()?;
        crate::parallel::for_each(&mut chunks, |(chunk, articles)| {
            *articles = restore_chunk(Reader::new(chunk.clone()), &bodies);
        });
        for (_, articles) in chunks {
            let articles = articles?;
            cache.articles.reserve(articles.len());
            cache.articles.extend(articles);
        }
        Ok(cache)
    }
}

/// How many articles are encoded, and read back, together.
const CHUNK: usize = 1024;

/// The articles of one chunk, their bodies in `bodies`.
fn restore_chunk(
    mut input: Reader,
    bodies: &Bytes,
) -> Result<Vec<(PathBuf, CachedArticle)>, Corrupt> {
    let count = input.count(64)?;
    let mut articles = Vec::with_capacity(count);
    for _ in 0..count {
        let path = input.path()?;
        let text_hash = input.u64()?;
        let stamp = input.option(restore_stamp)?;
        let parsed = restore_parsed(&mut input, bodies)?;
        let cached = CachedArticle::new(&path, text_hash, stamp, parsed);
        articles.push((path, cached));
    }
    if !input.is_at_end() {
        return Err(Corrupt("bytes after a chunk's articles"));
    }
    Ok(articles)
}

fn save_stamp<W: Write>(out: &mut Writer<W>, stamp: &FileStamp) {
    out.u64(stamp.len);
    out.u64(stamp.inode);
    for (secs, nanos) in [stamp.mtime, stamp.ctime] {
        out.i64(secs);
        out.i64(nanos);
    }
}

fn restore_stamp(input: &mut Reader) -> Result<FileStamp, Corrupt> {
    Ok(FileStamp {
        len: input.u64()?,
        inode: input.u64()?,
        mtime: (input.i64()?, input.i64()?),
        ctime: (input.i64()?, input.i64()?),
    })
}

/// Writes `parsed`, its body named by its place `body_at` among the bodies.
fn save_parsed<W: Write>(parsed: &ParsedArticle, body_at: usize, out: &mut Writer<W>) {
    out.len(parsed.slug_line);
    out.len(parsed.tags_line);
    out.len(parsed.author_lines.len());
    for line in &parsed.author_lines {
        out.len(*line);
    }
    let article = &parsed.article;
    out.str(&article.section);
    out.str(&article.slug);
    out.str(article.id.as_str());
    out.str(&article.title);
    save_date(out, article.published);
    out.option(article.updated, save_date);
    out.len(article.authors.len());
    for author in &article.authors {
        out.str(&author.name);
        out.option(author.role.as_deref(), |out, role| out.str(role));
    }
    out.str(&article.summary);
    out.len(article.tags.len());
    for tag in &article.tags {
        out.str(tag);
    }
    out.len(body_at);
    out.len(article.content_html.bytes().len());
    out.str(article.url.as_str());
    out.path(&article.source);
    out.u64(article.fingerprint);
}

fn restore_parsed(input: &mut Reader, bodies: &Bytes) -> Result<ParsedArticle, Corrupt> {
    let slug_line = input.u64().map(|n| n as usize)?;
    let tags_line = input.u64().map(|n| n as usize)?;
    let author_lines = (0..input.count(8)?)
        .map(|_| input.u64().map(|n| n as usize))
        .collect::<Result<Vec<usize>, Corrupt>>()?;
    let section = input.string()?;
    let slug = input.string()?;
    let id = ArticleId::from_uri(input.string()?);
    let title = input.string()?;
    let published = restore_date(input)?;
    let updated = input.option(restore_date)?;
    let authors = (0..input.count(9)?)
        .map(|_| {
            Ok(Author {
                name: input.string()?,
                role: input.option(Reader::string)?,
            })
        })
        .collect::<Result<Vec<Author>, Corrupt>>()?;
    let summary = input.string()?;
    let tags = (0..input.count(8)?)
        .map(|_| input.string())
        .collect::<Result<Vec<String>, Corrupt>>()?;
    let (at, len) = (input.u64()?, input.u64()?);
    let body = usize::try_from(at)
        .ok()
        .zip(usize::try_from(len).ok())
        .and_then(|(at, len)| Some(at..at.checked_add(len)?))
        .filter(|place| place.end <= bodies.len())
        .map(|place| bodies.slice(place))
        .ok_or(Corrupt("an article's body past the end"))?;
    if std::str::from_utf8(&body).is_err() {
        return Err(Corrupt("an article's body that is not UTF-8"));
    }
    let url = Url::parse(&input.string()?).map_err(|_| Corrupt("an article's URL"))?;
    let source = input.path()?;
    let fingerprint = input.u64()?;
    if author_lines.len() != authors.len() {
        return Err(Corrupt(
            "an article's bylines and their lines differ in number",
        ));
    }
    let article = Article {
        section,
        slug,
        id,
        title,
        published,
        updated,
        authors,
        summary,
        tags,
        content_html: Html::from_checked_bytes(body),
        url,
        source,
        fingerprint,
    };
    Ok(ParsedArticle {
        article: Arc::new(article),
        draft: false,
        slug_line,
        tags_line,
        author_lines,
    })
}

/// A date with its offset: seconds and nanoseconds since the epoch, and
/// the offset's seconds east of UTC.
fn save_date<W: Write>(out: &mut Writer<W>, date: DateTime<FixedOffset>) {
    out.i64(date.timestamp());
    out.u32(date.timestamp_subsec_nanos());
    out.i32(date.offset().local_minus_utc());
}

fn restore_date(input: &mut Reader) -> Result<DateTime<FixedOffset>, Corrupt> {
    let (secs, nanos, offset) = (input.i64()?, input.u32()?, input.i32()?);
    let offset = FixedOffset::east_opt(offset).ok_or(Corrupt("a date's offset"))?;
    DateTime::from_timestamp(secs, nanos)
        .map(|utc| utc.with_timezone(&offset))
        .ok_or(Corrupt("a date"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A site with one section, `s`, and no article yet.
    fn site_with_section_s() -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path();
        fs::write(
            root.join("config.toml"),
            "title = \"T\"\nbase_url = \"https://e.com/\"\ntag_authority = \"e.com\"\n",
        )
        .unwrap();
        fs::create_dir_all(root.join("content/s")).unwrap();
        fs::write(
            root.join("content/s/_index.md"),
            "+++\ntitle = \"S\"\n+++\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_restored_cache_loads_the_same_site_without_parsing_and_keeps_no_draft() {
        let dir = site_with_section_s();
        let root = dir.path();
        fs::write(
            root.join("content/s/a.md"),
            "+++\ntitle = \"A\"\ndate = 2024-01-01T10:00:00+08:00\nupdated = 2024-01-02\nauthors = [\"Ann\", { name = \"Bo\", role = \"editor\" }]\ntags = [\"x\", \"Économie\"]\n+++\nBody *one*.\n",
        )
        .unwrap();
        fs::write(
            root.join("content/s/d.md"),
            "+++\ntitle = \"D\"\ndate = 2024-01-01\ndraft = true\n+++\nSecret.\n",
        )
        .unwrap();
        let now = Utc::now();
        let mut cache = ParseCache::default();
        let site = super::super::load_cached(root, now, &mut cache).unwrap();
        let mut out = Writer::to_vec();
        cache.save(now, &mut out);
        let (saved, _) = out.finish().unwrap();
        assert!(
            !String::from_utf8_lossy(&saved).contains("Secret"),
            "a draft was saved"
        );

        let mut input = Reader::new(Bytes::from(saved));
        let mut restored = ParseCache::restore(&mut input).unwrap();
        assert!(input.is_at_end());
        assert_eq!(restored.len(), 1);
        let again = super::super::load_cached(root, now, &mut restored).unwrap();
        // The draft's file was parsed again; the article came from the cache.
        assert_eq!(restored.parsed_last_load(), 1);
        let (a, b) = (
            &site.sections[0].articles[0],
            &again.sections[0].articles[0],
        );
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn every_cut_of_a_saved_cache_is_an_error() {
        let dir = site_with_section_s();
        let root = dir.path();
        fs::write(
            root.join("content/s/a.md"),
            "+++\ntitle = \"A\"\ndate = 2024-01-01\nauthors = [\"Ann\"]\n+++\nBody.\n",
        )
        .unwrap();
        let now = Utc::now();
        let mut cache = ParseCache::default();
        super::super::load_cached(root, now, &mut cache).unwrap();
        let mut out = Writer::to_vec();
        cache.save(now, &mut out);
        let (saved, _) = out.finish().unwrap();
        for cut in 0..saved.len() {
            let mut input = Reader::new(Bytes::copy_from_slice(&saved[..cut]));
            assert!(ParseCache::restore(&mut input).is_err(), "cut at {cut}");
        }
    }
}
