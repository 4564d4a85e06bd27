//! `Mapping`: a segment file mapped with memmap2; the only `unsafe` in the crate.
//!
//! # The contract
//!
//! A `Mapping` splits its bytes at a *frozen* watermark that only grows:
//!
//! - bytes below the watermark are never written again by this process, so any thread may
//!   borrow them as `&[u8]` (`frozen()`), for as long as it holds the `Mapping`;
//! - bytes at or above it are written only through the one `MapWriter` (`writer()` hands out at
//!   most one at a time), and are never read through a shared reference until `freeze` moves
//!   the watermark past them with release ordering (readers load it with acquire ordering);
//! - `exclusive()` gives all bytes mutably, but needs `&mut self`, i.e. no borrow and no writer.
//!
//! What the process cannot promise alone is that no other process truncates or rewrites the
//! file while it is mapped. The log's lock file keeps other Interstice writers out, no
//! Interstice code ever shortens a segment file, and a read-only mapping of a segment another
//! process is appending to only validates records the writer has finished (the writer never
//! rewrites a finished record). A file truncated underneath a mapping by a foreign program is
//! outside this contract (`docs/RECOVERY_MODE.md` says what then happens).
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use memmap2::{Advice, MmapOptions, MmapRaw};

/// A mapped segment file.
#[derive(Debug)]
pub struct Mapping {
    raw: MmapRaw,
    len: usize,
    writable: bool,
    frozen: AtomicUsize,
    writer_taken: AtomicBool,
}

impl Mapping {
    /// Maps the whole of `file` (its current length). A writable mapping starts with nothing
    /// frozen; a read-only one is frozen whole.
    ///
    /// # Errors
    /// The OS error of `mmap`, or `InvalidInput` for an empty file.
    pub fn map(file: &File, writable: bool) -> io::Result<Mapping> {
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty file"));
        }
        let raw = if writable {
            MmapOptions::new().len(len).map_raw(file)?
        } else {
            MmapOptions::new().len(len).map_raw_read_only(file)?
        };
        Ok(Mapping {
            raw,
            len,
            writable,
            frozen: AtomicUsize::new(if writable { 0 } else { len }),
            writer_taken: AtomicBool::new(false),
        })
    }

    /// Length of the mapping.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping covers a non-empty file.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes below the frozen watermark.
    #[must_use]
    pub fn frozen(&self) -> &[u8] {
        let frozen = self.frozen.load(Ordering::Acquire);
        // SAFETY: `raw` maps `len` bytes and lives as long as `self`; `frozen <= len` (every
        // store checks it). Bytes below the watermark are never written again by this process
        // (the writer asserts offset >= watermark; `exclusive` needs `&mut self`, which cannot
        // coexist with this borrow), so a shared slice over them is never aliased by a write.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), frozen) }
    }

    /// All bytes, mutably, while nothing else borrows the mapping.
    ///
    /// # Panics
    /// If the mapping is read-only, or a `MapWriter` is alive.
    pub fn exclusive(&mut self) -> &mut [u8] {
        assert!(self.writable, "exclusive access to a read-only mapping");
        assert!(
            !self.writer_taken.load(Ordering::Acquire),
            "exclusive access while a writer lives"
        );
        // SAFETY: `&mut self` proves no `frozen()` borrow exists, and no `MapWriter` is alive
        // (checked above; a writer holds an `Arc`, so `&mut Mapping` could not be had anyway
        // when it lives behind one). The mapping is writable (PROT_WRITE) and `len` long.
        unsafe { std::slice::from_raw_parts_mut(self.raw.as_mut_ptr(), self.len) }
    }

    /// All bytes for reading while nothing else borrows the mapping mutably.
    #[must_use]
    pub fn whole(&mut self) -> &[u8] {
        // SAFETY: as for `exclusive`: `&mut self` rules out any concurrent writer in this
        // process; reading is allowed for read-only mappings too.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), self.len) }
    }

    /// Sets the frozen watermark while nothing else holds the mapping.
    ///
    /// # Panics
    /// If `upto` exceeds the mapping.
    pub fn set_frozen(&mut self, upto: usize) {
        assert!(upto <= self.len);
        *self.frozen.get_mut() = upto;
    }

    /// Hands out the one writer, or `None` when one is alive.
    #[must_use]
    pub fn writer(self: &Arc<Self>) -> Option<MapWriter> {
        if !self.writable || self.writer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(MapWriter {
            map: Arc::clone(self),
        })
    }

    /// `msync(MS_SYNC)` of `range`: durable once it returns.
    ///
    /// # Errors
    /// The OS error of `msync`.
    pub fn flush(&self, range: Range<usize>) -> io::Result<()> {
        if range.is_empty() || !self.writable {
            return Ok(());
        }
        self.raw
            .flush_range(range.start, range.end.min(self.len) - range.start)
    }

    /// Faults every page in writable ahead of need (`MADV_POPULATE_WRITE`, Linux 5.14+), so the
    /// appends that follow take no page faults. Falls back to touching each page.
    pub fn populate_write(&mut self) {
        if self.raw.advise(Advice::PopulateWrite).is_ok() {
            return;
        }
        let bytes = self.exclusive();
        for page in bytes.chunks_mut(4096) {
            // Writing back the byte that is there dirties the page without changing it.
            let first = page[0];
            page[0] = std::hint::black_box(first);
        }
    }
}

/// The one writer of a mapping: writes above the frozen watermark, then freezes them.
#[derive(Debug)]
pub struct MapWriter {
    map: Arc<Mapping>,
}

impl MapWriter {
    /// Copies `bytes` to `offset`.
    ///
    /// # Panics
    /// If the range is not entirely above the frozen watermark and inside the mapping: the
    /// engine never does that, and doing it would break the contract of `frozen()`.
    #[inline]
    pub fn write(&mut self, offset: usize, bytes: &[u8]) {
        let frozen = self.map.frozen.load(Ordering::Relaxed);
        let end = offset.checked_add(bytes.len()).expect("offset overflow");
        assert!(
            offset >= frozen && end <= self.map.len,
            "write outside the unfrozen area"
        );
        // SAFETY: the destination `offset..end` lies inside the mapping (checked) and above
        // the frozen watermark (checked), so no shared slice covers it; this is the only
        // `MapWriter` (`writer_taken`), so no other write races with it; the mapping is
        // writable (writers are only handed out for writable mappings); source and
        // destination cannot overlap since `bytes` is a shared borrow that cannot point into
        // the unfrozen area.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.raw.as_mut_ptr().add(offset),
                bytes.len(),
            );
        }
    }

    /// Copies `first` then `second` to `offset`, contiguously, with one bounds check.
    ///
    /// # Panics
    /// As `write`.
    #[inline]
    pub fn write_pair(&mut self, offset: usize, first: &[u8], second: &[u8]) {
        let frozen = self.map.frozen.load(Ordering::Relaxed);
        let end = offset
            .checked_add(first.len())
            .and_then(|n| n.checked_add(second.len()))
            .expect("offset overflow");
        assert!(
            offset >= frozen && end <= self.map.len,
            "write outside the unfrozen area"
        );
        // SAFETY: as in `write`: `offset..end` is inside the mapping and above the frozen
        // watermark (checked), this is the only writer, the mapping is writable, and neither
        // source (shared borrows) can point into the unfrozen destination.
        unsafe {
            let destination = self.map.raw.as_mut_ptr().add(offset);
            std::ptr::copy_nonoverlapping(first.as_ptr(), destination, first.len());
            std::ptr::copy_nonoverlapping(
                second.as_ptr(),
                destination.add(first.len()),
                second.len(),
            );
        }
    }

    /// Moves the frozen watermark to `upto`, publishing the bytes below it to readers.
    ///
    /// # Panics
    /// If `upto` would move the watermark back or past the end.
    #[inline]
    pub fn freeze(&mut self, upto: usize) {
        let frozen = self.map.frozen.load(Ordering::Relaxed);
        assert!(
            upto >= frozen && upto <= self.map.len,
            "watermark must grow within the map"
        );
        self.map.frozen.store(upto, Ordering::Release);
    }

    /// The mapping written to.
    #[must_use]
    pub fn mapping(&self) -> &Arc<Mapping> {
        &self.map
    }
}

impl Drop for MapWriter {
    fn drop(&mut self) {
        self.map.writer_taken.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(len: u64) -> (tempfile::NamedTempFile, Mapping) {
        let file = tempfile::NamedTempFile::new().unwrap();
        file.as_file().set_len(len).unwrap();
        let map = Mapping::map(file.as_file(), true).unwrap();
        (file, map)
    }

    #[test]
    fn writes_become_visible_when_frozen() {
        let (_file, map) = mapped(8192);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        assert!(map.writer().is_none(), "a second writer must be refused");
        writer.write(0, b"abc");
        assert!(map.frozen().is_empty());
        writer.freeze(3);
        assert_eq!(map.frozen(), b"abc");
        map.flush(0..3).unwrap();
        drop(writer);
        assert!(map.writer().is_some());
    }

    #[test]
    fn write_pair_lands_contiguously() {
        let (_file, map) = mapped(8192);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        writer.write_pair(4, b"head", b"tail");
        writer.freeze(12);
        assert_eq!(&map.frozen()[4..], b"headtail");
    }

    #[test]
    #[should_panic(expected = "write outside the unfrozen area")]
    fn write_pair_past_the_end_panics() {
        let (_file, map) = mapped(8192);
        let map = Arc::new(map);
        map.writer().unwrap().write_pair(8190, b"ab", b"c");
    }

    #[test]
    #[should_panic(expected = "write outside the unfrozen area")]
    fn writing_below_the_watermark_panics() {
        let (_file, map) = mapped(8192);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        writer.write(0, b"abc");
        writer.freeze(3);
        writer.write(1, b"x");
    }

    #[test]
    fn exclusive_edits_reach_the_file() {
        let (file, mut map) = mapped(8192);
        map.populate_write();
        map.exclusive()[10] = 42;
        map.flush(0..4096).unwrap();
        let bytes = std::fs::read(file.path()).unwrap();
        assert_eq!(bytes[10], 42);
    }

    #[test]
    fn read_only_mapping_is_frozen_whole() {
        let (file, _) = mapped(8192);
        let map = Mapping::map(&File::open(file.path()).unwrap(), false).unwrap();
        assert_eq!(map.frozen().len(), 8192);
        assert!(Arc::new(map).writer().is_none());
    }
}
