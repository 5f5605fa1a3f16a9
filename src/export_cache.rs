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
//! renderers may differ, never reads another's cache); the last 16 bytes
//! are the checksum of everything between (128-bit XXH3), which ends
//! with the stat of the export's marker file (a file every export writes
//! anew), so a cache is only read with the export it was written with (a
//! kill between the swap of the export and the rename of its cache leaves
//! the two apart: the cache is then not used). A cache that is
//! missing, another binary's, damaged or not the export's is ignored with
//! a warning, and the export renders every page, as a first export does.
//! Drafts and articles dated later are never written into it.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::build::SavedBuild;
use crate::codec::{checksum, Reader, Writer};
use crate::loader::ParseCache;
use crate::spare_tree::TreeRecord;

/// The version of the format written: another is never read.
const FORMAT: u32 = 2;

/// What the first line starts with.
const MAGIC: &str = "broadsheet export cache";

/// The most the first line may take.
const HEADER_BYTES: usize = 512;

/// The checksum after the payload: 128 bits, little-endian.
const TRAILER_BYTES: usize = 16;

/// Which export a cache was written with: the stat of that export's
/// marker file (device, inode, size, modification time), a file written
/// anew by every export. A cache whose export is not the one in the
/// target (a kill came between the swap of the export and the rename of
/// its cache) is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExportStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl ExportStamp {
    /// The stamp of the marker file whose metadata is `meta`.
    pub fn of(meta: &fs::Metadata) -> ExportStamp {
        use std::os::unix::fs::MetadataExt;
        ExportStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    fn save<W: Write>(&self, out: &mut Writer<W>) {
        out.u64(self.dev);
        out.u64(self.ino);
        out.u64(self.len);
        out.i64(self.mtime.0);
        out.i64(self.mtime.1);
    }

    fn restore(input: &mut Reader) -> Result<ExportStamp, crate::codec::Corrupt> {
        Ok(ExportStamp {
            dev: input.u64()?,
            ino: input.u64()?,
            len: input.u64()?,
            mtime: (input.i64()?, input.i64()?),
        })
    }
}

/// What a cache holds: what the build saved, and the records of the
/// export's tree and of the spare tree beside it.
#[derive(Debug, Default)]
pub(crate) struct SavedExport {
    pub build: SavedBuild,
    /// The export's tree, as it wrote it.
    pub tree: Option<TreeRecord>,
    /// The spare tree beside it (the export before), when there is one.
    pub spare: Option<TreeRecord>,
}

/// A cache being written: begun with the articles, while the site is
/// built ([`CacheWriter::begin`]); ended by [`CacheWriter::finish`] with the
/// pages' fingerprints, the trees' records and the export's stamp, then
/// the checksum.
pub(crate) struct CacheWriter(Writer<BufWriter<fs::File>>);

impl CacheWriter {
    /// Starts the cache in `file`: the first line, then the articles of
    /// `articles` published by `now` (the bulk: their bodies). `None`
    /// where this binary cannot be told apart from another (no
    /// `/proc/self/exe` to look at): no cache is written.
    pub fn begin(
        file: fs::File,
        articles: &ParseCache,
        now: DateTime<Utc>,
    ) -> Option<std::io::Result<CacheWriter>> {
        let binary = this_binary()?;
        Some((|| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            writeln!(
                out,
                "{MAGIC} {FORMAT} {} {binary}",
                env!("CARGO_PKG_VERSION")
            )?;
            let mut payload = Writer::new(out);
            articles.save(now, &mut payload);
            Ok(CacheWriter(payload))
        })())
    }

    /// Ends the cache of the export whose marker is `export`, built as
    /// `saved` says (its articles were written by `begin`), whose tree is
    /// `trees.0` with the spare tree `trees.1` beside it.
    pub fn finish(
        self,
        saved: &SavedBuild,
        trees: (&TreeRecord, Option<&TreeRecord>),
        export: &ExportStamp,
    ) -> std::io::Result<()> {
        let mut payload = self.0;
        saved.save_pages(&mut payload);
        trees.0.save(&mut payload);
        payload.option(trees.1, |out, spare| spare.save(out));
        export.save(&mut payload);
        let (mut out, sum) = payload.finish()?;
        out.write_all(&sum.to_le_bytes())?;
        out.flush()
    }
}

/// The cache at `path`, if it is one this binary wrote, whole, for the
/// export whose marker is `export`; else why not. The file is mapped, not read: the articles'
/// bodies are published from the mapping as they are needed. (Exports
/// only ever replace a cache by renaming another over it, never write one
/// in place; a file cut short by hand while an export reads it would
/// stop that export, before the swap, with the previous export whole.)
pub(crate) fn read(path: &Path, export: &ExportStamp) -> Result<SavedExport, String> {
    let file = fs::File::open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => "the export's cache is missing".to_string(),
        _ => format!("cannot be read: {error}"),
    })?;
    let len = file
        .metadata()
        .map_err(|error| format!("cannot be read: {error}"))?
        .len();
    if len < (TRAILER_BYTES + 2) as u64 {
        return Err("is not an export cache".into());
    }
    // SAFETY: a read-only private mapping of a file that exports never
    // change in place (see above).
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
        .map_err(|error| format!("cannot be read: {error}"))?;
    let end = memchr::memchr(b'\n', &map[..map.len().min(HEADER_BYTES)])
        .ok_or("is not an export cache")?;
    let header = std::str::from_utf8(&map[..end]).map_err(|_| "is not an export cache")?;
    check_header(header)?;
    let payload_end = map.len() - TRAILER_BYTES;
    let mut recorded = [0; TRAILER_BYTES];
    recorded.copy_from_slice(&map[payload_end..]);
    let start = end + 1;
    if start > payload_end {
        return Err("is not an export cache".into());
    }
    if checksum(&map[start..payload_end]) != u128::from_le_bytes(recorded) {
        return Err("is damaged (its checksum does not match)".into());
    }
    let mut payload = Reader::new(Bytes::from_owner(map).slice(start..payload_end));
    let damaged = |corrupt| format!("is damaged ({corrupt})");
    let build = SavedBuild::restore(&mut payload).map_err(damaged)?;
    let tree = TreeRecord::restore(&mut payload).map_err(damaged)?;
    let spare = payload.option(TreeRecord::restore).map_err(damaged)?;
    let written_for = ExportStamp::restore(&mut payload).map_err(damaged)?;
    if !payload.is_at_end() {
        return Err(damaged(crate::codec::Corrupt("bytes after the end")));
    }
    if written_for != *export {
        return Err(
            "is not the cache of the export beside it (one of the two was replaced without the other)"
                .into(),
        );
    }
    Ok(SavedExport {
        build,
        tree: Some(tree),
        spare,
    })
}

/// Checks that the first line says that this very binary wrote the cache
/// in this format.
fn check_header(header: &str) -> Result<(), String> {
    let fields = header
        .strip_prefix(MAGIC)
        .map(|rest| rest.split(' ').collect::<Vec<&str>>());
    let Some(["", format, release, binary]) = fields.as_deref() else {
        return Err("is not an export cache".into());
    };
    if *format != FORMAT.to_string() {
        return Err(format!(
            "is in another format ({format}; this release writes {FORMAT})"
        ));
    }
    let (this_release, this_binary) = (env!("CARGO_PKG_VERSION"), this_binary());
    if *release != this_release || Some(*binary) != this_binary.as_deref() {
        return Err(format!(
            "was written by another build of broadsheet (release {release}, binary {binary}; this is release {this_release}, binary {})",
            this_binary.as_deref().unwrap_or("unknown")
        ));
    }
    Ok(())
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
    fn only_this_binarys_header_in_this_format_is_taken() {
        let header = format!(
            "{MAGIC} {FORMAT} {} {}",
            env!("CARGO_PKG_VERSION"),
            this_binary().expect("this binary")
        );
        assert_eq!(check_header(&header), Ok(()));
        let other_release = header.replace(env!("CARGO_PKG_VERSION"), "0.0.0-other");
        assert!(check_header(&other_release)
            .unwrap_err()
            .contains("another build"));
        let other_format = header.replacen(&format!(" {FORMAT} "), " 99 ", 1);
        assert!(check_header(&other_format)
            .unwrap_err()
            .contains("another format"));
        for garbage in [
            "",
            "broadsheet export cache",
            "hello world",
            "broadsheet export cache 2",
        ] {
            assert!(check_header(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn a_written_cache_reads_back_and_any_change_to_it_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("cache");
        fs::write(dir.path().join("marker"), "m").unwrap();
        let export = ExportStamp::of(&fs::metadata(dir.path().join("marker")).unwrap());
        let saved = SavedBuild::default();
        let file = fs::File::create(&path).unwrap();
        CacheWriter::begin(file, &ParseCache::default(), Utc::now())
            .expect("this binary")
            .unwrap()
            .finish(&saved, (&TreeRecord::default(), None), &export)
            .unwrap();
        assert!(read(&path, &export).is_ok());
        let other = ExportStamp {
            ino: export.ino + 1,
            ..export
        };
        assert!(read(&path, &other).unwrap_err().contains("not the cache"));
        let good = fs::read(&path).unwrap();
        let header = good.iter().position(|b| *b == b'\n').unwrap();
        for at in header + 1..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            fs::write(&path, &bad).unwrap();
            assert!(
                read(&path, &export).unwrap_err().contains("damaged"),
                "byte {at}"
            );
        }
        for cut in 0..good.len() {
            fs::write(&path, &good[..cut]).unwrap();
            assert!(read(&path, &export).is_err(), "cut at {cut}");
        }
        assert!(read(&dir.path().join("none"), &export)
            .unwrap_err()
            .contains("missing"));
    }
}
