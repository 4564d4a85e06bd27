//! `Segment`: a reference-counted mapping of one segment file with its id, base LSN, published
//! data end and sparse index. Readers hold `Arc<Segment>`, so rotation and retention never
//! unmap a segment under them (an unlinked file stays mapped until its last reader drops it).

pub mod active;
mod cursor;
pub mod scan;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use parking_lot::RwLock;
use zerocopy::FromBytes;

use crate::disk::mmap::Mapping;
use crate::error::Error;
use crate::format::checksum::Seeded;
use crate::format::footer::{self, FooterInfo, IndexEntry};
use crate::format::header::HeaderInfo;
use crate::format::record::{self, FLAG_BATCH_CONTINUES, KIND_DATA, Step};
use crate::format::{SEGMENT_HEADER_SIZE, data_capacity};
use crate::ids::{Lsn, SegmentId};
use cursor::Prefetch;
pub use cursor::{Cursor, SealedCounts, Trust};
use scan::ScanConfig;

/// One segment of a log.
#[derive(Debug)]
pub struct Segment {
    id: SegmentId,
    path: PathBuf,
    header: HeaderInfo,
    check: Seeded,
    payload_max: u64,
    map: Arc<Mapping>,
    data_end: AtomicUsize,
    first_lsn: AtomicU64,
    last_lsn: AtomicU64,
    records: AtomicU64,
    /// Records at or above this LSN are superseded by a later segment (suffix truncation).
    lsn_end: AtomicU64,
    sealed: AtomicBool,
    sealed_index_entries: AtomicU32,
    /// The sparse index while the segment is active; sealed segments read their mapped one.
    active_index: RwLock<Vec<IndexEntry>>,
    /// Damaged ranges a read-only skipping open passed over (a writable one pads them):
    /// skipping readers jump over them, so they yield exactly what the open-time scan kept.
    skipped: std::sync::OnceLock<Vec<std::ops::Range<usize>>>,
}

/// What the public listing says about one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment's id.
    pub id: SegmentId,
    /// Its file.
    pub path: PathBuf,
    /// LSN its records start at.
    pub base_lsn: Lsn,
    /// First record's LSN, if it holds any.
    pub first_lsn: Option<Lsn>,
    /// Last record's LSN, if it holds any.
    pub last_lsn: Option<Lsn>,
    /// Number of records it holds.
    pub records: u64,
    /// Bytes of the file in use (header and records).
    pub bytes_used: u64,
    /// Length of the file (preallocated).
    pub file_len: u64,
    /// True when sealed (immutable, with a footer).
    pub sealed: bool,
}

/// The counters a segment starts with.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    /// End of the data.
    pub data_end: usize,
    /// First data LSN, 0 if none.
    pub first_lsn: u64,
    /// Last data LSN, 0 if none.
    pub last_lsn: u64,
    /// Number of data records.
    pub records: u64,
}

impl Segment {
    /// A segment over `map`. Sealed segments pass their footer's index entry count.
    #[must_use]
    pub fn new(
        path: PathBuf,
        header: HeaderInfo,
        payload_max: u64,
        map: Arc<Mapping>,
        counts: Counts,
        sealed_index_entries: Option<u32>,
        active_index: Vec<IndexEntry>,
    ) -> Segment {
        Segment {
            id: SegmentId(header.segment_id),
            path,
            check: header.binding().seeded(),
            header,
            payload_max,
            map,
            data_end: AtomicUsize::new(counts.data_end),
            first_lsn: AtomicU64::new(counts.first_lsn),
            last_lsn: AtomicU64::new(counts.last_lsn),
            records: AtomicU64::new(counts.records),
            lsn_end: AtomicU64::new(u64::MAX),
            sealed: AtomicBool::new(sealed_index_entries.is_some()),
            sealed_index_entries: AtomicU32::new(sealed_index_entries.unwrap_or(0)),
            active_index: RwLock::new(active_index),
            skipped: std::sync::OnceLock::new(),
        }
    }

    /// The counters of a sealed segment, from its footer.
    #[must_use]
    pub fn counts_from_footer(info: &FooterInfo) -> Counts {
        Counts {
            data_end: usize::try_from(info.data_end).unwrap_or(usize::MAX),
            first_lsn: info.first_lsn,
            last_lsn: info.last_lsn,
            records: info.records,
        }
    }

    /// The segment's id.
    #[must_use]
    pub fn id(&self) -> SegmentId {
        self.id
    }

    /// Its file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its validated header.
    #[must_use]
    pub fn header(&self) -> &HeaderInfo {
        &self.header
    }

    /// LSN of its first record.
    #[must_use]
    pub fn base_lsn(&self) -> u64 {
        self.header.base_lsn
    }

    /// The error of a walk over a mapping whose file was truncated underneath it.
    pub(crate) fn shrunk_error(&self) -> Error {
        Error::io(
            "read",
            self.path.clone(),
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file was truncated underneath its mapping: the records past its new end \
                 are gone (reopen the log to recover)",
            ),
        )
    }

    /// The mapping.
    #[must_use]
    pub fn mapping(&self) -> &Arc<Mapping> {
        &self.map
    }

    /// The mapping, mutably, while nothing else holds the segment or its mapping (recovery,
    /// before the log hands the segment out).
    pub(crate) fn mapping_mut(self: &mut Arc<Self>) -> Option<&mut Mapping> {
        Arc::get_mut(&mut Arc::get_mut(self)?.map)
    }

    /// The scan configuration of this segment.
    #[must_use]
    pub fn scan_config(&self, skip_damage: bool) -> ScanConfig {
        ScanConfig {
            binding: self.header.binding(),
            base_lsn: self.header.base_lsn,
            payload_max: self.payload_max,
            skip_damage,
        }
    }

    /// True once sealed.
    #[must_use]
    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// The published end of the data.
    #[must_use]
    pub fn data_end(&self) -> usize {
        self.data_end.load(Ordering::Acquire)
    }

    /// The exclusive LSN bound set by a suffix truncation (`u64::MAX` when none).
    #[must_use]
    pub fn lsn_end(&self) -> u64 {
        self.lsn_end.load(Ordering::Acquire)
    }

    /// Supersedes the records at or above `lsn` (a later segment starts there).
    pub fn set_lsn_end(&self, lsn: u64) {
        self.lsn_end.fetch_min(lsn, Ordering::AcqRel);
        let first = self.first_lsn.load(Ordering::Acquire);
        if first != 0 && first >= lsn {
            self.first_lsn.store(0, Ordering::Release);
            self.last_lsn.store(0, Ordering::Release);
            self.records.store(0, Ordering::Release);
            return;
        }
        if self.last_lsn.load(Ordering::Acquire) >= lsn {
            let (records, last) = self.count_below(lsn);
            self.records.store(records, Ordering::Release);
            self.last_lsn.store(last, Ordering::Release);
        }
    }

    fn count_below(&self, lsn_end: u64) -> (u64, u64) {
        let mut records = 0;
        let mut last = 0;
        for record in self.cursor(SEGMENT_HEADER_SIZE, self.data_end(), lsn_end, 0, false) {
            match record {
                Ok(record) => {
                    records += 1;
                    last = record.lsn.0;
                }
                Err(_) => break,
            }
        }
        (records, last)
    }

    /// First data LSN still held, 0 if none.
    #[must_use]
    pub fn first_lsn(&self) -> u64 {
        self.first_lsn.load(Ordering::Acquire)
    }

    /// Last data LSN still held, 0 if none.
    #[must_use]
    pub fn last_lsn(&self) -> u64 {
        self.last_lsn.load(Ordering::Acquire)
    }

    /// Number of records held.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Acquire)
    }

    /// Publishes new counters (the writer, after an append).
    pub fn publish(&self, counts: Counts) {
        if self.first_lsn.load(Ordering::Relaxed) == 0 {
            self.first_lsn.store(counts.first_lsn, Ordering::Release);
        }
        self.last_lsn.store(counts.last_lsn, Ordering::Release);
        self.records.store(counts.records, Ordering::Release);
        self.data_end.store(counts.data_end, Ordering::Release);
    }

    /// Records the damaged ranges a read-only skipping open passed over (sorted, disjoint).
    pub fn set_skipped(&self, ranges: Vec<std::ops::Range<usize>>) {
        let _ = self.skipped.set(ranges);
    }

    /// Marks the segment sealed with `entries` index entries (the writer, after the footer is
    /// durable and frozen).
    pub fn mark_sealed(&self, entries: u32) {
        self.sealed_index_entries.store(entries, Ordering::Release);
        self.sealed.store(true, Ordering::Release);
        self.active_index.write().clear();
    }

    /// Forgets the records from data offset `cut` on, in place (the active segment's writer,
    /// rewinding it with no other handle on the segment): `counts` are the records kept.
    pub(crate) fn rewind(&mut self, cut: usize, counts: Counts) {
        *self.data_end.get_mut() = counts.data_end;
        *self.first_lsn.get_mut() = counts.first_lsn;
        *self.last_lsn.get_mut() = counts.last_lsn;
        *self.records.get_mut() = counts.records;
        self.active_index
            .get_mut()
            .retain(|entry| entry.offset.get() < cut as u64);
    }

    /// Adds an index entry while active.
    pub fn push_index(&self, entry: IndexEntry) {
        self.active_index.write().push(entry);
    }

    /// A copy of the active index (for sealing).
    #[must_use]
    pub fn active_index(&self) -> Vec<IndexEntry> {
        self.active_index.read().clone()
    }

    /// Offset from which a walk finds `lsn` (O(log n) in the sparse index).
    #[must_use]
    pub fn offset_for(&self, lsn: u64) -> usize {
        self.with_index(|index| footer::search(index, lsn))
            .and_then(|offset| usize::try_from(offset).ok())
            .filter(|&offset| offset >= SEGMENT_HEADER_SIZE && offset < self.data_end().max(1))
            .unwrap_or(SEGMENT_HEADER_SIZE)
    }

    /// Runs `f` over the sparse index (the footer's of a sealed segment, else the writer's).
    fn with_index<T>(&self, f: impl FnOnce(&[IndexEntry]) -> Option<T>) -> Option<T> {
        if self.is_sealed() {
            let entries = self.sealed_index_entries.load(Ordering::Acquire);
            let bytes = footer::index_bytes(self.map.frozen(), entries);
            <[IndexEntry]>::ref_from_bytes(bytes).ok().and_then(f)
        } else {
            f(&self.active_index.read())
        }
    }

    /// Offsets of index entries strictly between `from` and `end`, at least `spacing` bytes
    /// apart: where a walk of `from..end` can be cut into pieces that start at a record.
    #[must_use]
    pub fn cuts(&self, from: usize, end: usize, spacing: usize) -> Vec<usize> {
        self.with_index(|index| {
            let mut cuts = Vec::new();
            let mut next = from.saturating_add(spacing);
            for entry in index {
                let Ok(offset) = usize::try_from(entry.offset.get()) else {
                    break;
                };
                if offset >= end {
                    break;
                }
                if offset >= next {
                    cuts.push(offset);
                    next = offset.saturating_add(spacing);
                }
            }
            Some(cuts)
        })
        .unwrap_or_default()
    }

    /// The listing entry.
    #[must_use]
    pub fn info(&self) -> SegmentInfo {
        let first = self.first_lsn();
        let last = self.last_lsn();
        SegmentInfo {
            id: self.id,
            path: self.path.clone(),
            base_lsn: Lsn(self.header.base_lsn),
            first_lsn: (first != 0).then_some(Lsn(first)),
            last_lsn: (last != 0).then_some(Lsn(last)),
            records: self.records(),
            bytes_used: self.data_end() as u64,
            file_len: self.header.segment_size,
            sealed: self.is_sealed(),
        }
    }

    /// The data area's capacity.
    #[must_use]
    pub fn capacity(&self) -> usize {
        data_capacity(self.header.segment_size)
    }

    /// Checks the records, markers and padding that start in `start..end` of this segment's
    /// bytes below `data_end` (both checksums, kind and bounds, as `record::parse_seeded`),
    /// and that every batch begun among them is whole (data records of consecutive LSNs, to
    /// one without `FLAG_BATCH_CONTINUES`, read past `end` when a batch crosses it), without
    /// handing anything over: what a walk trusting `start..end` leaves unchecked (see
    /// `Cursor::trusting`). False on damage, on zeroes before `data_end`, or when `stop` is
    /// raised.
    #[must_use]
    pub fn check_span(&self, data_end: usize, start: usize, end: usize, stop: &AtomicBool) -> bool {
        const STOP_EVERY: u32 = 4096;
        let frozen = self.map.frozen();
        let data = &frozen[..data_end.min(frozen.len())];
        let mut offset = start;
        let mut prefetch = Prefetch::default();
        // The LSN of the last record while inside a batch.
        let mut batch_last = None;
        let mut since_look = 0;
        while offset < end || batch_last.is_some() {
            prefetch.ahead_of(data, offset);
            let Step::Record(parsed) =
                record::parse_seeded(data, offset, &self.check, self.payload_max)
            else {
                return false;
            };
            let data_record = parsed.kind == KIND_DATA;
            if batch_last.is_some_and(|last: u64| !data_record || parsed.lsn != last + 1) {
                return false;
            }
            let continues = data_record && parsed.flags & FLAG_BATCH_CONTINUES != 0;
            batch_last = continues.then_some(parsed.lsn);
            offset += parsed.framed_len;
            since_look += 1;
            if since_look == STOP_EVERY {
                since_look = 0;
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
            }
        }
        true
    }

    /// The counts of this sealed segment when a reader took its view, which the records a
    /// cursor walks must agree with: a record beyond its last LSN (and below `lsn_end`), or a
    /// walk from the start that ends with another last LSN or count, is corruption.
    #[must_use]
    pub fn sealed_counts(&self) -> Option<SealedCounts> {
        // Sealed first: its counts were published before the seal, so they are final (a
        // suffix truncation aside). A truncation lowers `lsn_end` before the counts, so
        // reading the counts first never pairs new counts with an old bound.
        if !self.is_sealed() {
            return None;
        }
        let last_lsn = self.last_lsn();
        let records = self.records();
        Some(SealedCounts {
            last_lsn,
            records,
            lsn_end: self.lsn_end(),
        })
    }
}

/// One record, borrowed from the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's LSN.
    pub lsn: Lsn,
    /// The payload, borrowed from the mapped segment.
    pub payload: &'a [u8],
    /// The segment holding it.
    pub segment: SegmentId,
    /// Byte offset of its header in the segment file.
    pub offset: u64,
}
