//! Content codings computed once per build: the gzip and brotli variants of
//! each resource, and the strong entity tag of every variant.
//!
//! Nothing here knows about HTTP requests. The server picks among the
//! variants made here, and `export` can write the same bytes as `.gz` and
//! `.br` siblings, so what a CDN serves is byte-identical to what `serve` sends.
//!
//! Rules:
//! - A variant is kept only when it is smaller than the identity bytes; a
//!   client that asks for a coding that was not worth keeping gets identity.
//! - The entity tag is a 64-bit XXH3 hash of the identity bytes, in hex,
//!   with a suffix per coding: `"<hash>"`, `"<hash>-gz"`, `"<hash>-br"`. The
//!   hash is defined by its algorithm (not by the Rust release), so tags stay
//!   the same across restarts and upgrades while the content stays the same.
//!   The compressors are deterministic (gzip header with no time stamp or
//!   name), so within a release one tag always names one byte sequence.
//! - Compression is the slow part of a build, so [`encode_site`] reuses
//!   the variants of every resource whose bytes did not change since the
//!   previous build, and spreads the rest over the machine's cores.
//!   Brotli runs at quality [`BROTLI_QUALITY`] (5) for everything. Measured
//!   on a 60 KB feed of the benchmark corpus: quality 5 gives 13.9 KB
//!   (gzip 9: 14.6 KB), quality 10 gives 13.0 KB, 7% smaller, at a tenth of
//!   the speed (about 3 MB/s): a reload after an edit recompresses the six
//!   feeds the article is in, and quality 10 made that 250 ms instead of
//!   190 ms at 10,000 articles, over the reload target; 6 gives the same
//!   bytes as 5, and 7 to 9 are slower than 10 for no gain (the `brotli`
//!   crate zero-fills a large hash table on every call at those levels).
//!   Its window is the smallest that holds the whole resource, from 128 KiB
//!   to the default 4 MiB: on resources far smaller than the default
//!   window, quality 5 spent a third of its time on a 60 KB feed, and half
//!   on a 40 KB page, zero-filling tables sized for the window, for the
//!   same output size. Not smaller: at windows of 64 KiB and less the
//!   crate takes another match finder at quality 5, ten times slower.
//! - gzip runs at level [`GZIP_LEVEL`] (6, zlib's default): with the
//!   feeds of every tag and author, a large site compresses a few hundred
//!   feeds per build, and level 9 took 50% longer than 6 on them for 4
//!   bytes in 14 KB (measured on a 60 KB tag feed of the benchmark corpus).

use std::collections::BTreeMap;
use std::io::Write;

use bytes::Bytes;

use crate::build::{BuiltSet, Resource};

/// The brotli quality: fast (tens of MB/s) and still ahead of gzip's best.
pub const BROTLI_QUALITY: i32 = 5;
/// gzip level: zlib's default, as small as the best for feeds (see the module doc).
pub const GZIP_LEVEL: u32 = 6;

/// A content coding (RFC 9110, section 8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Coding {
    /// No coding: the bytes as rendered.
    Identity,
    /// `gzip` (RFC 1952).
    Gzip,
    /// `br` (RFC 7932).
    Brotli,
}

impl Coding {
    /// The token used in `Content-Encoding` and `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }

    /// The file name extension of a precompressed sibling (`rss.xml.gz`).
    pub fn extension(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gz"),
            Coding::Brotli => Some("br"),
        }
    }

    fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Gzip => "-gz",
            Coding::Brotli => "-br",
        }
    }
}

/// One representation of a resource: its bytes in one coding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    /// The coding of `body`.
    pub coding: Coding,
    /// The bytes sent.
    pub body: Bytes,
    /// The strong entity tag, quoted: `"0123456789abcdef-gz"`.
    pub etag: String,
}

/// Every representation kept for one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representations {
    /// The bytes as rendered.
    pub identity: Representation,
    /// The gzip variant, when smaller than identity.
    pub gzip: Option<Representation>,
    /// The brotli variant, when smaller than identity.
    pub brotli: Option<Representation>,
    /// Whether compression was tried (the resource is covered by the
    /// `precompress` policy), whatever came of it.
    pub compressed: bool,
}

impl Representations {
    /// The representation in `coding`, if one is kept.
    pub fn get(&self, coding: Coding) -> Option<&Representation> {
        match coding {
            Coding::Identity => Some(&self.identity),
            Coding::Gzip => self.gzip.as_ref(),
            Coding::Brotli => self.brotli.as_ref(),
        }
    }

    /// Every representation kept, identity first.
    pub fn iter(&self) -> impl Iterator<Item = &Representation> {
        std::iter::once(&self.identity)
            .chain(self.gzip.as_ref())
            .chain(self.brotli.as_ref())
    }
}

/// The hex XXH3-64 hash of `bytes`: the opaque part of every entity tag
/// (for a spilled page, the one recorded when it was kept: its pages are
/// not read back for it).
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:016x}", crate::spill::tag_hash(bytes))
}

/// `bytes` compressed with gzip at [`GZIP_LEVEL`], with no name or time stamp in the header.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let out = Vec::with_capacity(bytes.len() / 3 + 64);
    let mut encoder = flate2::GzBuilder::new().write(out, flate2::Compression::new(GZIP_LEVEL));
    // Writing to a Vec cannot fail.
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// `bytes` compressed with brotli at `quality` (0 to 11), with the
/// smallest window that holds them (see the module doc).
pub fn brotli(bytes: &[u8], quality: i32) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        lgwin: window_bits(bytes.len()),
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(bytes.len() / 3 + 64);
    // Reading from a slice and writing to a Vec cannot fail.
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).expect("brotli into memory");
    out
}

/// The base-2 logarithm of the smallest brotli window that holds `len`
/// bytes (a window of `2^bits - 16` bytes), from 17 to 22 (see the module doc).
fn window_bits(len: usize) -> i32 {
    let mut bits = 17;
    while bits < 22 && (1usize << bits) - 16 < len {
        bits += 1;
    }
    bits
}

/// Computes every representation of `resource`: with `compress`, its gzip
/// and brotli variants too (each kept only when smaller); without, only the
/// identity bytes and their tag.
pub fn encode(resource: &Resource, compress: bool) -> Representations {
    let representations = encode_bytes(resource, compress);
    // Read to be compressed: a spilled page's bytes leave this process's
    // memory again, until a request reads them. (Its tag's hash was
    // recorded when it was spilled: without compressing, nothing is read.)
    if compress {
        crate::spill::release(&resource.body);
    }
    representations
}

fn encode_bytes(resource: &Resource, compress: bool) -> Representations {
    let hash = content_hash(&resource.body);
    let variant = |coding: Coding, bytes: Vec<u8>| {
        (bytes.len() < resource.body.len()).then(|| Representation {
            coding,
            body: Bytes::from(bytes),
            etag: format!("\"{hash}{}\"", coding.etag_suffix()),
        })
    };
    Representations {
        gzip: compress
            .then(|| variant(Coding::Gzip, gzip(&resource.body)))
            .flatten(),
        brotli: compress
            .then(|| variant(Coding::Brotli, brotli(&resource.body, BROTLI_QUALITY)))
            .flatten(),
        compressed: compress,
        identity: Representation {
            coding: Coding::Identity,
            body: resource.body.clone(),
            etag: format!("\"{hash}\""),
        },
    }
}

/// Computes the representations of every resource of `built`, by URL path,
/// compressing those that `built.precompress` covers.
///
/// `previous` looks up the representations of a path in the last build; they
/// are reused when the identity bytes and the policy for them are unchanged,
/// so a reload after an edit to one article compresses only what that edit
/// changed.
pub fn encode_site<'a>(
    built: &BuiltSet,
    previous: impl Fn(&str) -> Option<&'a Representations> + Sync,
) -> BTreeMap<String, Representations> {
    let mut done = BTreeMap::new();
    let mut todo = Vec::new();
    for (path, resource) in &built.resources {
        let compress = built.precompress.covers(resource.kind);
        match previous(path) {
            Some(old)
                if old.compressed == compress && same_bytes(&old.identity.body, &resource.body) =>
            {
                done.insert(path.clone(), old.clone());
            }
            _ => todo.push((path, resource, compress)),
        }
    }
    done.extend(encode_many(todo));
    done
}

/// True when `a` and `b` hold the same bytes. Pages reused from the build
/// cache share their allocation with the last build's, which settles it
/// without reading them; bytes in a spill file that had to be read for it
/// leave the process's memory again.
fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    if a.as_ptr() == b.as_ptr() && a.len() == b.len() {
        return true;
    }
    let same = a == b;
    crate::spill::release(a);
    crate::spill::release(b);
    same
}

/// Computes the representations of each of `resources` (path, resource,
/// whether to compress it), spread over the machine's cores.
pub fn encode_many(resources: Vec<(&String, &Resource, bool)>) -> Vec<(String, Representations)> {
    let mut slots: Vec<_> = resources
        .into_iter()
        .map(|(path, resource, compress)| (path, resource, compress, None))
        .collect();
    // Only compression takes time: those first, largest first, so one big
    // feed does not end up last on a thread that already has its share.
    slots.sort_by_key(|(_, resource, compress, _)| {
        std::cmp::Reverse(if *compress { resource.body.len() } else { 0 })
    });
    crate::parallel::for_each(&mut slots, |(_, resource, compress, out)| {
        *out = Some(encode(resource, *compress));
    });
    slots
        .into_iter()
        .filter_map(|(path, _, _, out)| out.map(|encoded| (path.clone(), encoded)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use chrono::{TimeZone, Utc};

    use super::*;

    fn resource(content_type: &'static str, body: &str) -> Resource {
        Resource {
            kind: crate::build::ResourceKind::Feed,
            content_type,
            body: Bytes::copy_from_slice(body.as_bytes()),
            last_modified: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        }
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn unbrotli(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(bytes, 4096)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn variants_decode_to_the_identity_bytes() {
        let text = "<rss><channel><item>energy</item></channel></rss>\n".repeat(50);
        let encoded = encode(&resource("application/rss+xml; charset=utf-8", &text), true);
        assert_eq!(
            gunzip(&encoded.gzip.as_ref().unwrap().body),
            text.as_bytes()
        );
        assert_eq!(
            unbrotli(&encoded.brotli.as_ref().unwrap().body),
            text.as_bytes()
        );
    }

    #[test]
    fn the_brotli_window_holds_the_whole_resource() {
        assert_eq!(window_bits(0), 17);
        assert_eq!(window_bits(60_000), 17);
        assert_eq!(window_bits(131_056), 17);
        assert_eq!(window_bits(131_057), 18);
        assert_eq!(window_bits(usize::MAX), 22);
        let text = "<item>energy and trade</item>\n".repeat(5000);
        assert_eq!(unbrotli(&brotli(text.as_bytes(), 5)), text.as_bytes());
    }

    #[test]
    fn etags_are_strong_quoted_and_distinct_per_coding() {
        let text = "<p>hello</p>\n".repeat(40);
        let encoded = encode(&resource("text/html; charset=utf-8", &text), true);
        let tags: Vec<&str> = encoded.iter().map(|r| r.etag.as_str()).collect();
        let hash = content_hash(text.as_bytes());
        assert_eq!(
            tags,
            [
                format!("\"{hash}\""),
                format!("\"{hash}-gz\""),
                format!("\"{hash}-br\"")
            ]
        );
    }

    #[test]
    fn same_bytes_same_tags_and_variants() {
        let text = "same content ".repeat(30);
        let a = encode(&resource("text/html; charset=utf-8", &text), true);
        let b = encode(&resource("text/html; charset=utf-8", &text), true);
        assert_eq!(a, b);
        let c = encode(
            &resource("text/html; charset=utf-8", &format!("{text}!")),
            true,
        );
        assert_ne!(a.identity.etag, c.identity.etag);
    }

    #[test]
    fn variants_that_are_not_smaller_are_dropped() {
        let encoded = encode(&resource("text/html; charset=utf-8", "x"), true);
        assert!(encoded.gzip.is_none());
        assert!(encoded.brotli.is_none());
        assert_eq!(encoded.iter().count(), 1);
    }

    #[test]
    fn only_resources_the_policy_covers_are_compressed() {
        use crate::build::ResourceKind;
        use crate::config::Precompress;
        let mut built = BuiltSet::default();
        let mut page = resource("text/html; charset=utf-8", &"<p>page</p>".repeat(100));
        page.kind = ResourceKind::Article;
        built.resources.insert("/s/a/".into(), page);
        built.resources.insert(
            "/rss.xml".into(),
            resource("application/rss+xml; charset=utf-8", &"<item/>".repeat(100)),
        );
        let encoded = encode_site(&built, |_| None);
        assert!(encoded["/rss.xml"].gzip.is_some() && encoded["/rss.xml"].brotli.is_some());
        assert_eq!(
            encoded["/s/a/"].iter().count(),
            1,
            "article pages stay identity by default"
        );

        built.precompress = Precompress::All;
        let all = encode_site(&built, |path| encoded.get(path));
        assert!(
            all["/s/a/"].gzip.is_some(),
            "a policy change is not hidden by reuse"
        );
        built.precompress = Precompress::None;
        let none = encode_site(&built, |path| all.get(path));
        assert!(none.values().all(|r| r.iter().count() == 1));
    }

    #[test]
    fn unchanged_resources_reuse_the_previous_variants() {
        let mut built = BuiltSet::default();
        built.resources.insert(
            "/a/".into(),
            resource("text/html; charset=utf-8", &"a".repeat(500)),
        );
        built.resources.insert(
            "/b/".into(),
            resource("text/html; charset=utf-8", &"b".repeat(500)),
        );
        let first = encode_site(&built, |_| None);
        // A marker variant that a fresh encode would never produce proves reuse.
        let mut marked = first.clone();
        marked.get_mut("/a/").unwrap().gzip.as_mut().unwrap().body = Bytes::from_static(b"reused");
        built.resources.insert(
            "/b/".into(),
            resource("text/html; charset=utf-8", &"c".repeat(500)),
        );
        let second = encode_site(&built, |path| marked.get(path));
        assert_eq!(
            second["/a/"].gzip.as_ref().unwrap().body,
            Bytes::from_static(b"reused")
        );
        assert_eq!(
            gunzip(&second["/b/"].gzip.as_ref().unwrap().body),
            "c".repeat(500).as_bytes()
        );
    }
}
