//! The cache an export leaves beside itself for the next export into the
//! same directory (`.<name>.broadsheet-cache` beside `<name>`; `export`
//! places it): the build's `SavedBuild`, that is the
//! articles parsed and the fingerprint of every page published, so that a
//! re-export after an edit parses and renders only what changed
//! (`build/saved.rs`).
//!
//! It is never trusted blindly. Its first line names the format, the
//! release and the very binary that wrote it (the executable's device,
//! inode, size and change time: a rebuilt or upgraded binary, whose
//! renderers may differ, never reads another's cache), and the checksum of
//! everything after it (128-bit XXH3). The export's marker file names the
//! same checksum, so a cache is only read with the export it was written
//! with (a kill between the swap of the export and that of its cache
//! leaves the two apart: the cache is then not used). A cache that is
//! missing, another binary's, damaged or not the export's is ignored with
//! a warning, and the export renders every page, as a first export does.
//! Drafts and articles dated later are never written into it.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::build::SavedBuild;
use crate::codec::{Reader, Writer};

/// The version of the format written: another is never read.
const FORMAT: u32 = 1;

/// What the first line starts with.
const MAGIC: &str = "broadsheet export cache";

/// The most the first line may take.
const HEADER_BYTES: u64 = 512;

/// A cache ready to be written.
pub(crate) struct EncodedCache {
    header: String,
    payload: Vec<u8>,
    /// The checksum of its payload, which the export's marker names.
    pub checksum: u128,
}

impl EncodedCache {
    /// Writes the cache into `file`.
    pub fn write_to(&self, file: &mut fs::File) -> std::io::Result<()> {
        file.write_all(self.header.as_bytes())?;
        file.write_all(&self.payload)
    }
}

/// `saved` as the cache file holds it (articles published by `now`), or
/// `None` where this binary cannot be told apart from another (no
/// `/proc/self/exe` to look at): no cache is then written.
pub(crate) fn encode(saved: &SavedBuild, now: DateTime<Utc>) -> Option<EncodedCache> {
    let binary = this_binary()?;
    let mut out = Writer::default();
    saved.save(now, &mut out);
    let checksum = xxhash_rust::xxh3::xxh3_128(&out.bytes);
    let header = format!(
        "{MAGIC} {FORMAT} {} {binary} {checksum:032x}\n",
        env!("CARGO_PKG_VERSION")
    );
    Some(EncodedCache {
        header,
        payload: out.bytes,
        checksum,
    })
}

/// The cache at `path`, if it is one this binary wrote with the checksum
/// `expected`; else why not.
pub(crate) fn read(path: &Path, expected: u128) -> Result<SavedBuild, String> {
    let mut file = fs::File::open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => "the export's cache is missing".to_string(),
        _ => format!("cannot be read: {error}"),
    })?;
    let unreadable = |error: std::io::Error| format!("cannot be read: {error}");
    let len = file.metadata().map_err(unreadable)?.len();
    let mut bytes = Vec::new();
    Read::by_ref(&mut file)
        .take(HEADER_BYTES)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    let end = memchr::memchr(b'\n', &bytes).ok_or("is not an export cache")?;
    let header = std::str::from_utf8(&bytes[..end]).map_err(|_| "is not an export cache")?;
    let checksum = check_header(header, expected)?;
    let start = end + 1;
    bytes.reserve(usize::try_from(len).unwrap_or(0).saturating_sub(bytes.len()));
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    let payload = Bytes::from(bytes).slice(start..);
    if xxhash_rust::xxh3::xxh3_128(&payload) != checksum {
        return Err("is damaged (its checksum does not match)".into());
    }
    SavedBuild::restore(&mut Reader::new(payload)).map_err(|corrupt| format!("is damaged ({corrupt})"))
}

/// The checksum the first line names, when the line says that this very
/// binary wrote the cache in this format, for the export whose marker
/// names `expected`.
fn check_header(header: &str, expected: u128) -> Result<u128, String> {
    let fields = header
        .strip_prefix(MAGIC)
        .map(|rest| rest.split(' ').collect::<Vec<&str>>());
    let Some(["", format, release, binary, checksum]) = fields.as_deref() else {
        return Err("is not an export cache".into());
    };
    if *format != FORMAT.to_string() {
        return Err(format!(
            "is in another format ({format}; this release writes {FORMAT})"
        ));
    }
    let this = env!("CARGO_PKG_VERSION");
    if *release != this || Some(*binary) != this_binary().as_deref() {
        return Err(format!(
            "was written by another build of broadsheet ({release}, binary {binary}; this is {this})"
        ));
    }
    let checksum = u128::from_str_radix(checksum, 16).map_err(|_| "is not an export cache")?;
    if checksum != expected {
        return Err(
            "is not the cache of the export beside it (one of the two was replaced without the other)"
                .into(),
        );
    }
    Ok(checksum)
}

/// This executable, told apart from every other build: its file's device,
/// inode, size and change time (which no write leaves as it was, and no
/// tool can set back). Any rebuild, upgrade or copy is another binary.
fn this_binary() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    static BINARY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            let meta = fs::metadata("/proc/self/exe").ok()?;
            Some(format!(
                "{:x}:{:x}:{:x}:{}.{:09}",
                meta.dev(),
                meta.ino(),
                meta.size(),
                meta.ctime(),
                meta.ctime_nsec()
            ))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_binarys_header_for_this_export_is_taken() {
        let cache = encode(&SavedBuild::default(), Utc::now()).expect("this binary");
        let header = cache.header.trim_end();
        assert_eq!(check_header(header, cache.checksum), Ok(cache.checksum));
        assert!(check_header(header, cache.checksum ^ 1)
            .unwrap_err()
            .contains("not the cache of the export"));
        let other_release = header.replace(env!("CARGO_PKG_VERSION"), "0.0.0-other");
        assert!(check_header(&other_release, cache.checksum)
            .unwrap_err()
            .contains("another build"));
        let other_format = header.replacen(" 1 ", " 2 ", 1);
        assert!(check_header(&other_format, cache.checksum)
            .unwrap_err()
            .contains("another format"));
        for garbage in ["", "broadsheet export cache", "hello world", "broadsheet export cache 1"] {
            assert!(check_header(garbage, cache.checksum).is_err(), "{garbage}");
        }
    }
}
