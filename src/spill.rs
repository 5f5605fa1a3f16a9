//! Cold bytes kept in a file mapped into memory rather than in the heap.
//!
//! A large site publishes gigabytes that are each read about once per
//! reader: at 100,000 articles the archive pages of the site and section
//! feeds hold every article's body six times more (2.4 GB), and the later
//! pages of its lists a story of every article once more per list it is on
//! (0.5 GB). Kept in the heap, they made `serve` four times larger than
//! everything else it holds, and `export` hold the whole archive before
//! writing a byte of it.
//!
//! A [`Spill`] takes such bytes as they are rendered, writes them into a
//! file and hands back [`Bytes`] that are a slice of a read-only shared
//! mapping of that file: every consumer (the server's lookup, `export`,
//! ETags) still sees `Bytes`, and nothing renders or reads a file on a
//! request. The bytes are in the kernel's page cache, as an exported site's
//! files are for nginx: pages that are read stay there while memory
//! allows, the rest can be dropped and are read back from the file when
//! asked for (a page fault, not a read the server makes).
//!
//! The rules that make it sound:
//! - Each chunk is a file of its own that no one else can open: created
//!   with `O_TMPFILE` (or created and at once removed), so no other process
//!   can truncate it under the mapping, and nothing is left behind however
//!   the process ends.
//! - Bytes are written (with a positional write, not through the mapping)
//!   before the slice that shows them is handed out, and never written
//!   again: a slice never changes.
//! - A chunk lives while any slice of it lives (the slice holds the
//!   mapping), so a rebuild that keeps a page keeps its chunk.
//! - When a write fails (a full disk), the bytes are kept in the heap and
//!   the spill is not used again: nothing is lost, it only costs memory.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use memmap2::{Mmap, MmapOptions, UncheckedAdvice};

/// The size of a chunk: the file space (and address space) taken at a time.
/// A resource larger than this gets a chunk of its own size.
pub(crate) const CHUNK_BYTES: usize = 64 << 20;

/// Where cold bytes go: a directory to spill to, or nowhere (the heap).
#[derive(Debug)]
pub struct Spill {
    /// The directory of the chunk files; `None`: everything stays in the heap.
    dir: Option<PathBuf>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The chunk being filled and how much of it is taken.
    current: Option<(Arc<Chunk>, Bytes, usize)>,
    /// Set once a chunk could not be made or written: the heap from then on.
    failed: bool,
}

/// Every chunk of the process that is still alive, for [`release`] and
/// [`holds`]: which addresses are mappings of spill files is a fact about
/// the process's address space, so it is kept once for the process. A dead
/// chunk's entry no longer upgrades, so an address reused by the heap after
/// a chunk is unmapped is never taken for a chunk's.
static CHUNKS: Mutex<Vec<Weak<Chunk>>> = Mutex::new(Vec::new());

fn live_chunks() -> Vec<Arc<Chunk>> {
    CHUNKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect()
}

/// The live chunk whose mapping holds all of `bytes`, if one does.
fn chunk_of(bytes: &[u8]) -> Option<Arc<Chunk>> {
    if bytes.is_empty() {
        return None;
    }
    let start = bytes.as_ptr() as usize;
    live_chunks().into_iter().find(|chunk| {
        let base = chunk.map.as_ptr() as usize;
        start >= base && start + bytes.len() <= base + chunk.map.len()
    })
}

/// Tells the system that this process is done reading `bytes` for now,
/// when they are in a spill chunk: their pages leave the process's mapping
/// (and its resident size) and stay in the page cache, from which a later
/// read maps them again. Bytes in the heap are left alone.
pub fn release(bytes: &[u8]) {
    let Some(chunk) = chunk_of(bytes) else {
        return;
    };
    // A read maps the pages around the one it needs too (the kernel's
    // fault-around, 64 KiB by default): those of neighbours that may have
    // been released already. They go as well; a later read maps them again.
    let start = bytes.as_ptr() as usize - chunk.map.as_ptr() as usize;
    let from = start.saturating_sub(FAULT_AROUND);
    let to = (start + bytes.len() + FAULT_AROUND).min(chunk.map.len());
    // SAFETY: the range is inside this chunk's mapping, a read-only shared
    // mapping of a file: MADV_DONTNEED only drops the process's page table
    // entries, and a later read maps the same bytes again from the page
    // cache or the file.
    let _ = unsafe {
        chunk
            .map
            .unchecked_advise_range(UncheckedAdvice::DontNeed, from, to - from)
    };
}

/// Twice the kernel's default fault-around (`fault_around_bytes`).
const FAULT_AROUND: usize = 128 << 10;

/// Writes `bytes` to `out` (at its offset): when they are in a spill chunk,
/// copied from the chunk's file by the kernel (`copy_file_range`), so that
/// nothing is mapped into this process (an export writes gigabytes of
/// spilled pages); else, or where the system cannot copy between these
/// files, from memory.
pub fn write_into(bytes: &[u8], out: &mut File) -> io::Result<()> {
    use std::io::Write;
    let Some(chunk) = chunk_of(bytes) else {
        return out.write_all(bytes);
    };
    let start = bytes.as_ptr() as usize - chunk.map.as_ptr() as usize;
    let copied = copy_range(&chunk.file, start, bytes.len(), out)?;
    if copied < bytes.len() {
        out.write_all(&bytes[copied..])?;
        release(bytes);
    }
    Ok(())
}

/// Copies `len` bytes at `offset` of `from` to `to`'s offset within the
/// kernel; returns how many were copied before the system said it cannot
/// (then the caller writes the rest).
#[cfg(target_os = "linux")]
fn copy_range(from: &File, offset: usize, len: usize, to: &File) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut at = offset as libc::loff_t;
    let mut copied = 0;
    while copied < len {
        // SAFETY: both descriptors are open files owned by the caller for
        // the call's duration; the input offset is ours (not the file's),
        // and the output offset is the file's own (a null pointer).
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                &mut at,
                to.as_raw_fd(),
                std::ptr::null_mut(),
                len - copied,
                0,
            )
        };
        match n {
            n if n > 0 => copied += n as usize,
            // The chunk ends before the bytes do: never, but not a loop.
            0 => return Ok(copied),
            _ => {
                let error = io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // Not between these file systems, or not here at all.
                    Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => {
                        return Ok(copied)
                    }
                    _ => return Err(error),
                }
            }
        }
    }
    Ok(copied)
}

#[cfg(not(target_os = "linux"))]
fn copy_range(_: &File, _: usize, _: usize, _: &File) -> io::Result<usize> {
    Ok(0)
}

/// The fingerprint of `bytes` (XXH3-128), which says whether a file's
/// bytes changed: for a spilled slice, the one taken when it was kept,
/// without reading its pages back into this process (an export of
/// 100,000 articles would map and release 3 GB for it); for any other
/// bytes, computed.
pub fn fingerprint(bytes: &[u8]) -> u128 {
    recorded(bytes).map_or_else(|| fingerprint_of(bytes), |digests| digests.fingerprint)
}

/// The XXH3-64 hash of `bytes`, of which entity tags are made
/// (`crate::encoding::content_hash`): recorded for a spilled slice as
/// [`fingerprint`] is, else computed.
pub fn tag_hash(bytes: &[u8]) -> u64 {
    recorded(bytes).map_or_else(|| tag_hash_of(bytes), |digests| digests.tag_hash)
}

/// What was recorded of `bytes` when they were kept, when they are exactly
/// a kept slice of a live chunk.
fn recorded(bytes: &[u8]) -> Option<Digests> {
    let chunk = chunk_of(bytes)?;
    let start = bytes.as_ptr() as usize - chunk.map.as_ptr() as usize;
    let digests = chunk
        .digests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    digests
        .get(&start)
        .filter(|digests| digests.len == bytes.len())
        .copied()
}

/// The hashes of one kept slice, taken while its bytes were in the heap.
#[derive(Debug, Clone, Copy)]
struct Digests {
    len: usize,
    fingerprint: u128,
    tag_hash: u64,
}

fn tag_hash_of(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

fn fingerprint_of(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// True when `bytes` are in a spill chunk rather than in the heap.
pub fn holds(bytes: &[u8]) -> bool {
    chunk_of(bytes).is_some()
}

/// The file space of the process's live spill chunks (those some slice of
/// which is still in use).
pub fn mapped_bytes() -> u64 {
    live_chunks()
        .iter()
        .map(|chunk| chunk.map.len() as u64)
        .sum()
}

/// One chunk file and its mapping.
#[derive(Debug)]
struct Chunk {
    file: File,
    map: Mmap,
    /// Each slice's [`fingerprint`] and [`tag_hash`], taken while its
    /// bytes were still in the heap: by its offset, with its length.
    digests: Mutex<HashMap<usize, Digests>>,
}

/// What a chunk's `Bytes` own: the chunk, shared.
struct Owner(Arc<Chunk>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.0.map
    }
}

impl Default for Spill {
    fn default() -> Spill {
        Spill::heap()
    }
}

impl Spill {
    /// A spill that keeps everything in the heap.
    pub fn heap() -> Spill {
        Spill {
            dir: None,
            state: Mutex::new(State::default()),
        }
    }

    /// A spill into files in `dir` (created when missing). Nothing is
    /// created until bytes are kept.
    pub fn to_dir(dir: &Path) -> Spill {
        Spill {
            dir: Some(dir.to_path_buf()),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state whole
        // (every change to it is a single assignment).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `bytes`, kept in the spill file (or, with no file or after a
    /// failure, in the heap with no spare capacity). Safe to call from
    /// several threads at once: only taking room in a chunk is serialized.
    pub fn keep(&self, mut bytes: Vec<u8>) -> Bytes {
        let heap = |mut bytes: Vec<u8>| {
            bytes.shrink_to_fit();
            Bytes::from(bytes)
        };
        let Some(dir) = &self.dir else {
            return heap(bytes);
        };
        if bytes.is_empty() {
            return Bytes::new();
        }
        let (chunk, whole, offset) = {
            let mut state = self.lock();
            if state.failed {
                return heap(bytes);
            }
            let room = state
                .current
                .as_ref()
                .is_some_and(|(_, whole, used)| whole.len() - used >= bytes.len());
            if !room {
                match Chunk::create(dir, CHUNK_BYTES.max(bytes.len())) {
                    Ok(chunk) => {
                        let chunk = Arc::new(chunk);
                        let mut chunks = CHUNKS
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        chunks.retain(|c| c.strong_count() > 0);
                        chunks.push(Arc::downgrade(&chunk));
                        drop(chunks);
                        let whole = Bytes::from_owner(Owner(Arc::clone(&chunk)));
                        state.current = Some((chunk, whole, 0));
                    }
                    Err(error) => {
                        tracing::warn!(dir = %dir.display(), %error, "cannot spill cold pages to a file; keeping them in memory");
                        state.failed = true;
                        state.current = None;
                        return heap(bytes);
                    }
                }
            }
            let Some((chunk, whole, used)) = state.current.as_mut() else {
                return heap(bytes);
            };
            let offset = *used;
            *used += bytes.len();
            (Arc::clone(chunk), whole.clone(), offset)
        };
        let digests = Digests {
            len: bytes.len(),
            fingerprint: fingerprint_of(&bytes),
            tag_hash: tag_hash_of(&bytes),
        };
        match chunk.write_at(&bytes, offset) {
            Ok(()) => {
                chunk
                    .digests
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(offset, digests);
                whole.slice(offset..offset + bytes.len())
            }
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot spill cold pages to a file; keeping them in memory");
                let mut state = self.lock();
                state.failed = true;
                state.current = None;
                drop(state);
                bytes.shrink_to_fit();
                Bytes::from(bytes)
            }
        }
    }
}

impl Chunk {
    /// A new chunk file of `len` bytes (sparse until written) in `dir`,
    /// mapped read-only.
    fn create(dir: &Path, len: usize) -> io::Result<Chunk> {
        std::fs::create_dir_all(dir)?;
        let file = anonymous_file(dir)?;
        file.set_len(len as u64)?;
        // SAFETY: the file has no name (no other process can open it to
        // truncate or write it), this process writes each range once,
        // before any slice showing it exists, and never truncates it.
        let map = unsafe { MmapOptions::new().len(len).map(&file)? };
        Ok(Chunk {
            file,
            map,
            digests: Mutex::new(HashMap::new()),
        })
    }

    #[cfg(unix)]
    fn write_at(&self, bytes: &[u8], offset: usize) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(bytes, offset as u64)
    }

    #[cfg(not(unix))]
    fn write_at(&self, _: &[u8], _: usize) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Elsewhere than Unix, no spill: the heap.
#[cfg(not(unix))]
fn anonymous_file(_: &Path) -> io::Result<File> {
    Err(io::ErrorKind::Unsupported.into())
}

/// A file in `dir` with no name: `O_TMPFILE` where the system and file
/// system have it, else a new file removed as soon as it is open.
#[cfg(unix)]
fn anonymous_file(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    #[cfg(target_os = "linux")]
    {
        match OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
        {
            Ok(file) => return Ok(file),
            // Not supported here: name it, then remove the name.
            Err(error)
                if matches!(
                    error.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) => {}
            Err(error) => return Err(error),
        }
    }
    for attempt in 0u32..100 {
        let path = dir.join(format!(
            ".broadsheet-spill-{}-{attempt}",
            std::process::id()
        ));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => {
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::other("no free name for a spill file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spilled_slice_has_the_fingerprint_of_its_bytes_without_reading_them() {
        let dir = tempfile::TempDir::new().unwrap();
        let spill = Spill::to_dir(dir.path());
        let a = spill.keep(b"<rss>one</rss>".to_vec());
        let b = spill.keep((0..200_000u32).map(|i| (i % 251) as u8).collect());
        for bytes in [&a, &b] {
            assert!(holds(bytes));
            assert_eq!(fingerprint(bytes), fingerprint_of(bytes));
            assert_eq!(tag_hash(bytes), tag_hash_of(bytes));
        }
        // A part of a slice, or bytes in the heap, are hashed as they are.
        let part = b.slice(10..5_000);
        assert_eq!(fingerprint(&part), fingerprint_of(&part));
        assert_eq!(tag_hash(&part), tag_hash_of(&part));
        assert_ne!(fingerprint(&part), fingerprint(&b));
        assert_eq!(fingerprint(b"<rss>one</rss>"), fingerprint(&a));
        // The record is the bytes' own: released pages read back to the same.
        release(&b);
        assert_eq!(fingerprint(&b), fingerprint_of(&b));
    }

    /// A small deterministic generator (no dependency).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    fn check_all(live: &[Bytes]) {
        for b in live {
            assert_eq!(fingerprint(b), fingerprint_of(b), "len {}", b.len());
            assert_eq!(tag_hash(b), tag_hash_of(b), "len {}", b.len());
            // A slice of the slice with the same start and length.
            let same = b.slice(0..b.len());
            assert_eq!(fingerprint(&same), fingerprint_of(&same));
            // Same start, one shorter; same end, one later.
            if b.len() > 1 {
                let shorter = b.slice(0..b.len() - 1);
                assert_eq!(fingerprint(&shorter), fingerprint_of(&shorter));
                let later = b.slice(1..);
                assert_eq!(fingerprint(&later), fingerprint_of(&later));
            }
            // The same bytes in the heap.
            let copy = b.to_vec();
            assert_eq!(fingerprint(&copy), fingerprint_of(&copy));
        }
        assert_eq!(fingerprint(&[]), fingerprint_of(&[]));
    }

    #[test]
    fn recorded_fingerprints_agree_with_bytes_across_threads_drops_and_new_spills() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut live: Vec<Bytes> = Vec::new();
        for round in 0..4u64 {
            // A new Spill each round: the chunks of the last ones, once their
            // slices are dropped, are unmapped and their addresses free for the
            // new chunks (same offsets, same lengths, other bytes).
            let spill = Spill::to_dir(dir.path());
            let kept: Vec<Vec<Bytes>> = std::thread::scope(|scope| {
                let jobs: Vec<_> = (0..3u64)
                    .map(|t| {
                        let spill = &spill;
                        scope.spawn(move || {
                            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (round * 31 + t + 1));
                            (0..400)
                                .map(|i| {
                                    // Same lengths every round (by index), other bytes.
                                    let len = match i % 7 {
                                        0 => 0,
                                        1 => 1,
                                        2 => 4096,
                                        _ => 100 + (i * 37 % 20_000),
                                    };
                                    spill.keep(rng.bytes(len))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                jobs.into_iter().map(|j| j.join().unwrap()).collect()
            });
            let mut kept: Vec<Bytes> = kept.into_iter().flatten().collect();
            assert!(kept.iter().filter(|b| !b.is_empty()).all(|b| holds(b)));
            check_all(&kept);
            // Drop every other one, and every page of earlier rounds but a few.
            let mut i = 0;
            kept.retain(|_| {
                i += 1;
                i % 2 == 0
            });
            live.truncate(50);
            live.extend(kept);
            check_all(&live);
            // Release (MADV_DONTNEED) changes nothing.
            for b in &live {
                release(b);
            }
            check_all(&live);
        }
        // A chunk of its own (larger than a chunk), dropped, then another of
        // the same size with other bytes: likely mapped at the same address.
        let spill = Spill::to_dir(dir.path());
        let big_len = CHUNK_BYTES + 4096;
        let a = spill.keep(vec![1u8; big_len]);
        assert_eq!(fingerprint(&a), fingerprint_of(&a));
        drop(a);
        let spill = Spill::to_dir(dir.path());
        let b = spill.keep(vec![2u8; big_len]);
        assert_eq!(fingerprint(&b), fingerprint_of(&b));
        assert_eq!(&b[..4], &[2u8; 4]);
    }

    #[test]
    fn kept_bytes_read_back_the_same_from_a_file_with_no_name() {
        let dir = tempfile::TempDir::new().unwrap();
        let spill = Spill::to_dir(dir.path());
        let a = spill.keep(b"<rss>one</rss>".to_vec());
        let b = spill.keep(vec![7u8; 100_000]);
        assert_eq!(&a[..], b"<rss>one</rss>");
        assert_eq!(&b[..], &vec![7u8; 100_000][..]);
        assert!(holds(&a) && holds(&b));
        assert!(!holds(&[1u8; 10]));
        // No file shows in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // Released pages read back the same.
        release(&b);
        assert_eq!(&b[..], &vec![7u8; 100_000][..]);
        // Written to a file by the kernel, or from memory: the same bytes.
        let out_path = dir.path().join("out");
        let mut out = File::create(&out_path).unwrap();
        write_into(b"head:", &mut out).unwrap();
        write_into(&b, &mut out).unwrap();
        write_into(&a, &mut out).unwrap();
        drop(out);
        let mut expected = b"head:".to_vec();
        expected.extend_from_slice(&b);
        expected.extend_from_slice(&a);
        assert!(std::fs::read(&out_path).unwrap() == expected);
    }

    #[test]
    fn a_chunk_lives_while_a_slice_of_it_does() {
        let dir = tempfile::TempDir::new().unwrap();
        let spill = Spill::to_dir(dir.path());
        let big = spill.keep(vec![1u8; CHUNK_BYTES + 10]);
        let chunk = Arc::downgrade(&chunk_of(&big).unwrap());
        let small = spill.keep(vec![2u8; 10]);
        assert!(chunk.upgrade().is_some());
        drop(big);
        // The large chunk is unmapped; the small slice's stays.
        assert!(chunk.upgrade().is_none());
        assert!(holds(&small));
        assert_eq!(&small[..], &[2u8; 10]);
    }

    #[test]
    fn with_no_usable_directory_bytes_stay_in_the_heap() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("not-a-directory");
        std::fs::write(&file, b"x").unwrap();
        let spill = Spill::to_dir(&file.join("below"));
        let kept = spill.keep(b"still here".to_vec());
        assert_eq!(&kept[..], b"still here");
        assert!(!holds(&kept));
        assert!(spill.lock().failed, "the heap from then on");
        let heap = Spill::heap();
        assert_eq!(&heap.keep(b"x".to_vec())[..], b"x");
    }
}
