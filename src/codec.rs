//! A compact binary form for what is kept on disk between runs (the export's
//! cache, `src/export_cache.rs`): numbers little-endian in fixed widths,
//! byte strings after their length, written straight to the file with a
//! checksum of everything written. Reading checks every length against
//! what is left and never panics: a file cut short or garbled is an error,
//! and a count never makes it allocate more than the input could hold.
//!
//! Byte strings are read as slices of the one buffer the file was read
//! into (`Bytes`), not copied: an article's body kept in the cache is
//! published from there.

use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use xxhash_rust::xxh3::Xxh3;

/// What went wrong reading: the input ended early or held something that
/// no writer writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Corrupt(pub &'static str);

/// Writes values to `out` (a buffered file, or a `Vec`), keeping the
/// checksum of everything written (128-bit XXH3). Writing never fails
/// here: the first error is kept, and [`Writer::finish`] returns it.
pub(crate) struct Writer<W: Write> {
    out: W,
    checksum: Xxh3,
    failed: Option<std::io::Error>,
}

impl Writer<Vec<u8>> {
    /// A writer into memory.
    #[cfg(test)]
    pub fn to_vec() -> Writer<Vec<u8>> {
        Writer::new(Vec::new())
    }
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            checksum: Xxh3::new(),
            failed: None,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.checksum.update(bytes);
            if let Err(error) = self.out.write_all(bytes) {
                self.failed = Some(error);
            }
        }
    }

    /// The output and the checksum of everything written, or the first
    /// error writing met.
    pub fn finish(self) -> std::io::Result<(W, u128)> {
        match self.failed {
            Some(error) => Err(error),
            None => Ok((self.out, self.checksum.digest128())),
        }
    }

    pub fn u64(&mut self, value: u64) {
        self.put(&value.to_le_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.put(&value.to_le_bytes());
    }

    pub fn u32(&mut self, value: u32) {
        self.put(&value.to_le_bytes());
    }

    pub fn i32(&mut self, value: i32) {
        self.put(&value.to_le_bytes());
    }

    pub fn bool(&mut self, value: bool) {
        self.put(&[u8::from(value)]);
    }

    /// A count or a length (`usize` is written as 64 bits on every platform).
    pub fn len(&mut self, value: usize) {
        self.u64(value as u64);
    }

    pub fn bytes(&mut self, value: &[u8]) {
        self.len(value.len());
        self.put(value);
    }

    /// Bytes as they are, with no length before them (the reader knows
    /// it from elsewhere).
    pub fn raw(&mut self, value: &[u8]) {
        self.put(value);
    }

    pub fn str(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }

    /// A path, as the bytes the system names it by.
    pub fn path(&mut self, value: &std::path::Path) {
        use std::os::unix::ffi::OsStrExt;
        self.bytes(value.as_os_str().as_bytes());
    }

    /// `Some(value)` as a 1 and the value, `None` as a 0.
    pub fn option<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Writer<W>, T)) {
        self.bool(value.is_some());
        if let Some(value) = value {
            write(self, value);
        }
    }
}

/// The checksum [`Writer`] keeps, of bytes read back.
pub(crate) fn checksum(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// Reads values back from a buffer, in the order they were written.
#[derive(Debug)]
pub(crate) struct Reader {
    input: Bytes,
    at: usize,
}

impl Reader {
    pub fn new(input: Bytes) -> Reader {
        Reader { input, at: 0 }
    }

    /// True when every byte was read.
    pub fn is_at_end(&self) -> bool {
        self.at == self.input.len()
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Corrupt> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.input.len())
            .ok_or(Corrupt("cut short"))?;
        let slice = &self.input[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u64(&mut self) -> Result<u64, Corrupt> {
        self.array().map(u64::from_le_bytes)
    }

    pub fn i64(&mut self) -> Result<i64, Corrupt> {
        self.array().map(i64::from_le_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, Corrupt> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn i32(&mut self) -> Result<i32, Corrupt> {
        self.array().map(i32::from_le_bytes)
    }

    pub fn bool(&mut self) -> Result<bool, Corrupt> {
        match self.array::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(Corrupt("a flag that is neither 0 nor 1")),
        }
    }

    /// A length of bytes still to come: never more than is left.
    pub fn len(&mut self) -> Result<usize, Corrupt> {
        let value = usize::try_from(self.u64()?).map_err(|_| Corrupt("a length too large"))?;
        if value > self.input.len() - self.at {
            return Err(Corrupt("a length past the end"));
        }
        Ok(value)
    }

    /// A count of items still to come, each at least `item_bytes` long:
    /// never more than what is left could hold, so that a garbled count
    /// cannot make the reader reserve gigabytes.
    pub fn count(&mut self, item_bytes: usize) -> Result<usize, Corrupt> {
        let value = usize::try_from(self.u64()?).map_err(|_| Corrupt("a count too large"))?;
        let left = self.input.len() - self.at;
        if value.saturating_mul(item_bytes.max(1)) > left {
            return Err(Corrupt("a count past the end"));
        }
        Ok(value)
    }

    /// A byte string, as a slice of the input (not a copy).
    pub fn bytes(&mut self) -> Result<Bytes, Corrupt> {
        let n = self.len()?;
        let start = self.at;
        self.take(n)?;
        Ok(self.input.slice(start..start + n))
    }

    pub fn string(&mut self) -> Result<String, Corrupt> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| Corrupt("text that is not UTF-8"))
    }

    pub fn path(&mut self) -> Result<PathBuf, Corrupt> {
        use std::os::unix::ffi::OsStrExt;
        let n = self.len()?;
        let bytes = self.take(n)?;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }

    pub fn option<T>(
        &mut self,
        read: impl FnOnce(&mut Reader) -> Result<T, Corrupt>,
    ) -> Result<Option<T>, Corrupt> {
        if self.bool()? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written() {
        let mut w = Writer::to_vec();
        w.u64(u64::MAX);
        w.i64(-5);
        w.u32(7);
        w.i32(-28_800);
        w.bool(true);
        w.str("économie");
        w.path(std::path::Path::new("content/a b/c.md"));
        w.option(Some(3u64), |w, v| w.u64(v));
        w.option(None::<u64>, |w, v| w.u64(v));
        w.bytes(b"body");
        let (written, sum) = w.finish().unwrap();
        assert_eq!(sum, checksum(&written));
        let mut r = Reader::new(Bytes::from(written));
        assert_eq!(r.u64(), Ok(u64::MAX));
        assert_eq!(r.i64(), Ok(-5));
        assert_eq!(r.u32(), Ok(7));
        assert_eq!(r.i32(), Ok(-28_800));
        assert_eq!(r.bool(), Ok(true));
        assert_eq!(r.string().as_deref(), Ok("économie"));
        assert_eq!(r.path(), Ok(PathBuf::from("content/a b/c.md")));
        assert_eq!(r.option(Reader::u64), Ok(Some(3)));
        assert_eq!(r.option(Reader::u64), Ok(None));
        assert_eq!(r.bytes().as_deref(), Ok(&b"body"[..]));
        assert!(r.is_at_end());
    }

    #[test]
    fn short_or_garbled_input_is_an_error_never_a_panic() {
        let mut w = Writer::to_vec();
        w.str("a longer text");
        let (whole, _) = w.finish().unwrap();
        for cut in 0..whole.len() {
            let mut r = Reader::new(Bytes::copy_from_slice(&whole[..cut]));
            assert!(r.string().is_err(), "cut at {cut}");
        }
        let mut r = Reader::new(Bytes::from_static(&[0xff; 8]));
        assert!(r.count(1).is_err());
        let mut r = Reader::new(Bytes::from_static(&[2]));
        assert_eq!(r.bool(), Err(Corrupt("a flag that is neither 0 nor 1")));
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 0, 0, 0, 0, 0, 0, 0xff]));
        assert!(r.string().is_err(), "not UTF-8");
    }
}
