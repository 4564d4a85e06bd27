//! `ActiveSegment`: append into the mapping, publish the committed length, write commit
//! markers, seal.

use std::io;
use std::sync::Arc;

use zerocopy::{FromBytes, IntoBytes};

use super::{Counts, Segment, scan::Scan};
use crate::disk::mmap::{MapWriter, Mapping};
use crate::format::checksum::{Chain, Seeded};
use crate::format::footer::{self, FooterInfo, IndexEntry};
use crate::format::record::{
    self, FLAG_BATCH_CONTINUES, KIND_DATA, KIND_MARKER, MARKER_BODY_SIZE, RecordHeader, Step,
};
use crate::format::{
    FOOTER_SIZE, INDEX_ENTRY_SIZE, INDEX_STRIDE, PAGE_SIZE, RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE, framed_len, index_start,
};
use crate::points::{self, Point};

/// Framed size of a commit marker; the data area always keeps room for one.
pub const MARKER_FRAMED_LEN: usize = framed_len(MARKER_BODY_SIZE);

/// The most commit markers after a cut that an in-place rewind zeroes (one flush each, or
/// per sector); a truncation with more seals the segment instead.
pub const REWIND_MARKERS_MAX: usize = 64;

/// The unit a disk writes whole (docs/FORMAT.md, section 6).
const SECTOR: usize = 512;

/// How close to the end of its backing the writer gets before the pager's step backs the rest
/// of the data area (`ActiveSegment::back_ahead`).
pub const BACK_EARLY: usize = 1 << 20;

/// Room past the data kept backed for the markers that may follow it without a record (a
/// commit marker, then a clean-close marker): writing them never needs a block.
const MARKERS_BACKED: usize = 2 * MARKER_FRAMED_LEN;

/// Backs with allocated blocks what writing a segment's data area up to `data_end` may
/// touch (`Mapping::allocate`): the index area and the footer, whole and first (so a seal or
/// a close summary never needs a block), then the data area from `from` to there.
///
/// A segment is backed in two pieces (a first part when it is created, the rest of its data
/// area when the writer nears its end) plus its tail, so that ext4 keeps it in the few
/// extents an inode holds without an extent block: backing in 8 MiB steps made every sync
/// of a busy log slower (`docs/DESIGN_DECISIONS.md`, "Disk use follows the data").
///
/// # Errors
/// The OS error of `fallocate` (`ENOSPC` on a full disk).
pub fn back_data(map: &Mapping, from: usize, data_end: usize) -> io::Result<()> {
    let len = map.len();
    map.allocate(index_start(len as u64)..len)?;
    map.allocate(from..data_end)
}

/// Where a suffix truncation cuts the active segment's records in place
/// (`ActiveSegment::cut_after`).
#[derive(Debug)]
pub struct Cut {
    /// Offset of the first record removed.
    offset: usize,
    /// Commit markers after it: zeroed first, so that none vouches for bytes being removed.
    markers_after: Vec<usize>,
    /// The records kept.
    counts: Counts,
    /// End of the last marker (or padding) before the cut.
    last_marker_end: usize,
    /// Data records between it and the cut.
    records_since_marker: u32,
}

/// The segment being written, with the writer's running state.
#[derive(Debug)]
pub struct ActiveSegment {
    segment: Arc<Segment>,
    writer: MapWriter,
    seed: u32,
    check: Seeded,
    end: usize,
    counts: Counts,
    next_index_at: usize,
    last_marker_end: usize,
    records_since_marker: u32,
    synced_to: usize,
    sealed: bool,
    /// The last item written is the marker of a clean close.
    ended_clean: bool,
    /// Where records must end (capacity less room for a marker); 0 once sealed.
    room_end: usize,
    /// The data area up to here is backed by allocated blocks, and so are the index area
    /// and the footer (`back_data`): every write checks that it stays below.
    backed: usize,
    /// Whether the next backing covers the rest of the data area (else only what is needed:
    /// the first backing of a resumed segment, which its first marker needs).
    back_whole: bool,
}

impl ActiveSegment {
    /// Resumes writing `segment` where `scan` ended.
    ///
    /// # Panics
    /// If the segment's mapping already has a writer (the log hands out one per segment).
    #[must_use]
    pub fn resume(segment: Arc<Segment>, scan: &Scan) -> ActiveSegment {
        let mut writer = segment.mapping().writer().expect("one writer per segment");
        writer.freeze(scan.end);
        ActiveSegment {
            seed: segment.header().seed(),
            check: segment.header().binding().seeded(),
            writer,
            end: scan.end,
            counts: Counts {
                data_end: scan.end,
                first_lsn: scan.first_lsn,
                last_lsn: if scan.records == 0 { 0 } else { scan.last_lsn },
                records: scan.records,
            },
            next_index_at: scan.next_index_at,
            last_marker_end: scan.last_marker_end,
            records_since_marker: scan.records_since_marker,
            synced_to: 0,
            sealed: false,
            ended_clean: false,
            room_end: segment.capacity() - MARKER_FRAMED_LEN,
            // What was written is backed; the rest is backed before it is written.
            backed: scan.end,
            back_whole: false,
            segment,
        }
    }

    /// Records that the data area of this new segment's file is backed up to `backed`
    /// (`back_data` ran for it when the file was prepared).
    pub fn set_backed(&mut self, backed: usize) {
        self.backed = self.backed.max(backed.min(self.segment.capacity()));
        self.back_whole = true;
    }

    /// Makes sure `len` more bytes of records, and the markers that may follow them, can be
    /// written without needing a block: a full disk is then this error, never a `SIGBUS` at
    /// the write. One comparison per append; past the backing, one `fallocate` backs the
    /// rest of the data area.
    ///
    /// # Errors
    /// The OS error of `fallocate` (`ENOSPC` on a full disk); nothing changed.
    #[inline]
    pub fn reserve(&mut self, len: usize) -> io::Result<()> {
        let need = self.end + len + MARKERS_BACKED;
        if need > self.backed {
            self.back_to(need)?;
        }
        Ok(())
    }

    /// Called at each pager step with how far ahead the pager would fault pages in: once the
    /// writer is within `BACK_EARLY` of the end of the backing, backs the rest of the data
    /// area, so that `reserve` seldom has to. Returns how far it is backed (the pager faults
    /// in nothing past it). On a full disk it backs nothing more (the appends that need it
    /// then fail in `reserve`).
    pub fn back_ahead(&mut self, ahead: usize) -> usize {
        if ahead > self.backed && self.end + BACK_EARLY >= self.backed {
            let _ = self.back_to(ahead);
        }
        self.backed
    }

    /// Backs the data area to its end, or to `need` at least when the disk has no room for
    /// that. The first backing of a resumed segment covers only `need`: its first marker
    /// falls where a closing writer left blocks (`give_back_unused`), so an open allocates
    /// nothing, and its flush has no allocation to commit.
    #[cold]
    fn back_to(&mut self, need: usize) -> io::Result<()> {
        let page = PAGE_SIZE as usize;
        let capacity = self.segment.capacity();
        let need = need.next_multiple_of(page).min(capacity);
        let from = self.backed / page * page;
        let map = self.writer.mapping();
        if !self.back_whole {
            // The room for its first markers, where the closing writer kept blocks
            // (`give_back_unused`), as it kept them for the index entries and the footer.
            let need = need
                .max(self.end + MARKERS_BACKED)
                .next_multiple_of(page)
                .min(capacity);
            self.back_whole = true;
            map.allocate(from..need)?;
            self.backed = need;
            return Ok(());
        }
        if back_data(map, from, capacity).is_ok() {
            self.backed = capacity;
            return Ok(());
        }
        // A disk nearly full: only what is needed now.
        back_data(map, from, need)?;
        self.backed = need;
        Ok(())
    }

    /// Gives the blocks of the space this segment will not use back to the file system
    /// (`MapWriter::give_back`): the data area past its last item (less the room a resumed
    /// writer's first marker needs) and the index area past the entries written. The bytes
    /// there read as zero, as before; the file keeps its length. For a segment that is being
    /// sealed or closed: a writer that resumes it backs what it writes first (`reserve`).
    pub fn give_back_unused(&mut self) {
        let page = PAGE_SIZE as usize;
        let len = self.writer.mapping().len();
        let index_at = index_start(len as u64);
        let data_from = (self.end + MARKERS_BACKED).next_multiple_of(page);
        self.writer
            .give_back(data_from.min(index_at)..index_at / page * page);
        // The index pages that the entries of the data kept could reach stay too: a writer
        // that resumes the segment may index a record there without backing anything.
        let entries = self
            .segment
            .active_index()
            .len()
            .max(data_from.saturating_sub(SEGMENT_HEADER_SIZE) / INDEX_STRIDE + 1);
        let index_from = (index_at + entries * INDEX_ENTRY_SIZE).next_multiple_of(page);
        let footer_page = (len - FOOTER_SIZE) / page * page;
        self.writer
            .give_back(index_from.min(footer_page)..footer_page);
        self.backed = self.backed.min(data_from);
    }

    /// Writes records and markers with `pwritev` into the file rather than by copying into
    /// the mapping (`MapWriter::set_through_file`): for logs that flush after every append.
    pub fn set_through_file(&mut self, on: bool) {
        self.writer.set_through_file(on);
    }

    /// The segment.
    #[must_use]
    pub fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// Bytes left for records (room for a commit marker is kept aside).
    #[must_use]
    pub fn room(&self) -> usize {
        self.room_end.saturating_sub(self.end)
    }

    /// Offset where the next record goes.
    #[must_use]
    pub fn end(&self) -> usize {
        self.end
    }

    /// Room for records in an empty segment of this size.
    #[must_use]
    pub fn room_when_empty(&self) -> usize {
        crate::format::batch_capacity(self.segment.header().segment_size)
    }

    /// Next LSN this segment would write after its last record.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.counts.records
    }

    /// Writes one data record (not yet published). The caller checked `room()`.
    #[inline]
    pub fn write(&mut self, lsn: u64, flags: u8, payload: &[u8]) {
        let offset = self.end;
        let header = record::encode_header_seeded(&self.check, lsn, KIND_DATA, flags, payload);
        self.writer.write_pair(offset, header.as_bytes(), payload);
        self.wrote(lsn, offset, payload.len());
    }

    /// Writes the records of a batch (not yet published), the first with LSN `first_lsn`:
    /// framed in `staging`, then written into the file with one `pwrite`
    /// (`MapWriter::write_through_file`). The caller checked `room()` and `reserve`d.
    pub fn write_staged<T: AsRef<[u8]>>(
        &mut self,
        first_lsn: u64,
        records: &[T],
        staging: &mut Vec<u8>,
    ) {
        let start = self.end;
        staging.clear();
        let count = records.len();
        for (i, payload) in records.iter().enumerate() {
            let payload = payload.as_ref();
            let flags = record::batch_flags(i, count);
            let lsn = first_lsn + i as u64;
            let header = record::encode_header_seeded(&self.check, lsn, KIND_DATA, flags, payload);
            let at = staging.len();
            staging.extend_from_slice(header.as_bytes());
            staging.extend_from_slice(payload);
            staging.resize(at + framed_len(payload.len()), 0);
            self.wrote(lsn, self.end, payload.len());
        }
        self.writer.write_through_file(start, staging);
    }

    /// Accounts for a data record just written at `offset`.
    #[inline]
    fn wrote(&mut self, lsn: u64, offset: usize, payload_len: usize) {
        if offset >= self.next_index_at {
            self.segment.push_index(IndexEntry::new(lsn, offset as u64));
            self.next_index_at = offset + INDEX_STRIDE;
        }
        if self.counts.records == 0 {
            self.counts.first_lsn = lsn;
        }
        self.counts.records += 1;
        self.counts.last_lsn = lsn;
        self.records_since_marker += 1;
        self.ended_clean = false;
        self.end = offset + framed_len(payload_len);
    }

    /// Publishes everything written so far to readers.
    #[inline]
    pub fn publish(&mut self) {
        self.writer.freeze(self.end);
        self.counts.data_end = self.end;
        self.segment.publish(self.counts);
    }

    /// Writes and publishes a commit marker for the records since the previous one, if any.
    ///
    /// # Errors
    /// As `reserve`, when the marker's bytes are not backed and cannot be (never after a
    /// `reserve` for the records it covers).
    pub fn write_marker(&mut self) -> io::Result<()> {
        if self.records_since_marker > 0 {
            self.write_marker_flagged(0)?;
        }
        Ok(())
    }

    /// True when a commit marker still fits after the last item.
    #[must_use]
    pub fn has_room_for_marker(&self) -> bool {
        !self.sealed && self.end + MARKER_FRAMED_LEN <= self.segment.capacity()
    }

    /// Writes the marker of a clean close: the last bytes this writer writes, which lets the
    /// next open skip checking the rest of the segment for stray bytes.
    ///
    /// # Errors
    /// As `write_marker`.
    pub fn write_close_marker(&mut self) -> io::Result<()> {
        self.write_marker_flagged(record::FLAG_CLEAN_CLOSE)
    }

    /// Writes a commit marker even when no record follows the previous one. A writer that
    /// resumes a segment whose last item is a clean-close marker writes one (and flushes it)
    /// before anything else: from then on that marker is no longer last, so the next open
    /// checks the rest of the segment. A clean-close marker that is still the last item thus
    /// proves no writer wrote past it, and lets an open skip reading the unused space.
    ///
    /// # Errors
    /// As `reserve`.
    pub fn write_resume_marker(&mut self) -> io::Result<()> {
        self.write_marker_flagged(0)
    }

    fn write_marker_flagged(&mut self, flags: u8) -> io::Result<()> {
        if self.sealed || self.end + MARKER_FRAMED_LEN > self.segment.capacity() {
            return Ok(());
        }
        if self.end + MARKER_FRAMED_LEN > self.backed {
            self.back_to(self.end + MARKER_FRAMED_LEN)?;
        }
        let body = record::encode_marker(self.last_marker_end as u64, self.records_since_marker);
        // A marker carries the last LSN it covers: in a segment without records yet, the
        // one before the segment's base.
        let lsn = if self.counts.records == 0 {
            self.segment.base_lsn() - 1
        } else {
            self.counts.last_lsn
        };
        let header = record::encode_header_seeded(&self.check, lsn, KIND_MARKER, flags, &body);
        self.writer.write_pair(self.end, header.as_bytes(), &body);
        self.end += MARKER_FRAMED_LEN;
        self.last_marker_end = self.end;
        self.records_since_marker = 0;
        self.ended_clean = flags & record::FLAG_CLEAN_CLOSE != 0;
        self.publish();
        Ok(())
    }

    /// After a clean close whose marker is durable, writes the close summary (the sparse
    /// index and a `CLOSE_MAGIC` footer, docs/FORMAT.md) and flushes it, so the next open
    /// need not walk the records. Nothing is written unless the clean-close marker is the last
    /// item, nor into a version 1 segment (a build that only knows version 1 would read the
    /// summary as a damaged seal footer).
    ///
    /// # Errors
    /// The OS error of the flush.
    pub fn write_close_summary(&mut self) -> io::Result<()> {
        if self.sealed
            || !self.ended_clean
            || self.segment.header().version < crate::format::CLOSE_SUMMARY_VERSION
        {
            return Ok(());
        }
        // Without blocks for it (a full disk), no summary: the next open walks the segment.
        if self.back_tail().is_err() {
            return Ok(());
        }
        self.write_tail(0, footer::encode_close).map(|_| ())
    }

    /// Backs the index entries written so far and the footer (a no-op where the writer
    /// kept their blocks, as it always does).
    fn back_tail(&self) -> io::Result<()> {
        let map = self.writer.mapping();
        let len = map.len();
        let index_at = index_start(len as u64);
        let entries = self.segment.active_index().len();
        map.allocate(index_at..index_at + entries * INDEX_ENTRY_SIZE)?;
        map.allocate(len - FOOTER_SIZE..len)
    }

    /// Writes the sparse index and a footer framed by `encode` (a seal footer or a close
    /// summary) into the tail of the file and flushes them; returns what the footer says.
    fn write_tail(
        &mut self,
        chain: u32,
        encode: fn(u32, &FooterInfo, &[u8]) -> [u8; FOOTER_SIZE],
    ) -> io::Result<FooterInfo> {
        let map = Arc::clone(self.writer.mapping());
        let index = self.segment.active_index();
        let info = FooterInfo {
            segment_id: self.segment.id().0,
            first_lsn: self.counts.first_lsn,
            last_lsn: self.counts.last_lsn,
            records: self.counts.records,
            data_end: self.end as u64,
            chain,
            index_entries: u32::try_from(index.len()).expect("index bounded by the segment size"),
        };
        let len = map.len();
        let index_at = index_start(len as u64);
        let index_bytes = index.as_bytes();
        let footer = encode(self.seed, &info, index_bytes);
        self.writer.write(index_at, index_bytes);
        self.writer.write(len - FOOTER_SIZE, &footer);
        map.flush(index_at..len)?;
        Ok(info)
    }

    /// `fsync` of the segment's file (`Mapping::sync_all`), the last step of a clean close.
    ///
    /// # Errors
    /// The OS error.
    pub fn sync_all(&self) -> io::Result<()> {
        self.writer.mapping().sync_all()
    }

    /// Turns the kernel's read-ahead off for the space this writer fills
    /// (`Mapping::read_ahead`), from the page of `start`, where the range a flush took
    /// begins: that flush and every later one stay inside the range so advised (`msync`
    /// syncs the file once per range of its own advice that it crosses). What was written
    /// before stays read ahead, for replays of it.
    pub fn fill_without_read_ahead(&self, start: usize) {
        let page = PAGE_SIZE as usize;
        let from = start / page * page;
        self.writer
            .mapping()
            .read_ahead(from..self.segment.capacity(), false);
    }

    /// True when everything written has been taken by a flush (`take_unsynced`).
    #[must_use]
    pub fn all_synced(&self) -> bool {
        self.synced_to == self.end
    }

    /// The range written since the last call, to be flushed; the header is in the first.
    pub fn take_unsynced(&mut self) -> std::ops::Range<usize> {
        let range = self.synced_to..self.end;
        self.synced_to = self.end;
        range
    }

    /// Where `truncate_after(x)` would cut this segment in place (a walk of its record
    /// headers): `None` when the cut is not inside it, falls inside a batch (all or nothing:
    /// its last record kept would say the batch continues), or after a gap in LSNs.
    #[must_use]
    pub fn cut_after(&self, x: u64) -> Option<Cut> {
        let data = &self.writer.mapping().frozen()[..self.end];
        let base = self.segment.base_lsn();
        let payload_max = self.segment.payload_max;
        let mut kept = Counts {
            data_end: SEGMENT_HEADER_SIZE,
            first_lsn: 0,
            last_lsn: 0,
            records: 0,
        };
        let (mut last_marker_end, mut records_since_marker) = (SEGMENT_HEADER_SIZE, 0);
        let mut batch_open = false;
        let mut cut = None;
        let mut markers_after = Vec::new();
        let mut offset = SEGMENT_HEADER_SIZE;
        while offset < data.len() {
            let Step::Record(parsed) =
                record::parse_with(data, offset, &self.check, payload_max, false)
            else {
                return None;
            };
            let next = offset + parsed.framed_len;
            match (cut, parsed.kind) {
                (None, KIND_DATA) if parsed.lsn > x => cut = Some(offset),
                (None, KIND_DATA) => {
                    if kept.records == 0 {
                        kept.first_lsn = parsed.lsn;
                    }
                    kept.records += 1;
                    kept.last_lsn = parsed.lsn;
                    records_since_marker += 1;
                    batch_open = parsed.flags & FLAG_BATCH_CONTINUES != 0;
                }
                // A marker or padding: the next marker covers from its end.
                (None, _) => {
                    last_marker_end = next;
                    records_since_marker = 0;
                }
                (Some(_), KIND_MARKER) => markers_after.push(offset),
                (Some(_), _) => {}
            }
            offset = next;
        }
        let offset = cut?;
        // Each marker after the cut costs a flush: past a bound, sealing is cheaper.
        if markers_after.len() > REWIND_MARKERS_MAX {
            return None;
        }
        let kept_last = if kept.records == 0 {
            base - 1
        } else {
            kept.last_lsn
        };
        if batch_open || kept_last != x {
            return None;
        }
        kept.data_end = offset;
        Some(Cut {
            offset,
            markers_after,
            counts: kept,
            last_marker_end,
            records_since_marker,
        })
    }

    /// Lowers the watermark to `cut` and forgets the records from there on, when the caller
    /// holds the only other handle on the segment (it took it out of the log's list) and no
    /// flush or pager holds the mapping. Returns false, changing nothing, otherwise.
    pub fn unfreeze_at(&mut self, cut: &Cut) -> bool {
        let Some(segment) = Arc::get_mut(&mut self.segment) else {
            return false;
        };
        if !self.writer.unfreeze(&mut segment.map, cut.offset) {
            return false;
        }
        segment.rewind(cut.offset, cut.counts);
        self.next_index_at = segment
            .active_index
            .get_mut()
            .last()
            .map_or(SEGMENT_HEADER_SIZE, |entry| {
                usize::try_from(entry.offset.get()).unwrap_or(usize::MAX) + INDEX_STRIDE
            });
        true
    }

    /// After `unfreeze_at`, removes the records from the cut on, so that a crash at any
    /// moment leaves a prefix of the records before it that holds every record kept, and
    /// never a marker vouching for removed bytes: (1) the markers after the cut are zeroed,
    /// newest first, each flushed before the next; (2) a marker for the records kept is
    /// written at the cut and flushed with them; (3) the rest, up to the old end, is zeroed
    /// and flushed. What a crash leaves past the last valid record is a torn tail (no marker
    /// after it vouches for it), which the next open discards.
    ///
    /// # Errors
    /// The OS error of a flush: the caller poisons the log.
    pub fn rewind(&mut self, cut: &Cut) -> io::Result<()> {
        let map = Arc::clone(self.writer.mapping());
        let old_end = self.end;
        // Newest first, each durable before the next: the markers left are always the oldest,
        // so none of them covers a marker already zeroed. Markers within one sector reach the
        // disk together and are zeroed in one flush.
        let mut markers = cut.markers_after.iter().rev().peekable();
        while let Some(&newest) = markers.next() {
            let sector = newest / SECTOR;
            let mut oldest = newest;
            while let Some(&&m) = markers.peek().filter(|&&&m| m / SECTOR == sector) {
                oldest = m;
                markers.next();
            }
            let end = newest + MARKER_FRAMED_LEN;
            self.write_zeroes(oldest..end);
            points::reach(Point::Rewinding);
            map.flush(oldest..end)?;
        }
        self.end = cut.offset;
        self.counts = cut.counts;
        self.last_marker_end = cut.last_marker_end;
        self.records_since_marker = cut.records_since_marker;
        self.ended_clean = false;
        self.write_marker_flagged(0)?;
        points::reach(Point::Rewinding);
        map.flush(0..self.end)?;
        self.write_zeroes(self.end..old_end);
        points::reach(Point::Rewinding);
        map.flush(self.end..old_end.max(self.end))?;
        self.synced_to = self.end;
        Ok(())
    }

    fn write_zeroes(&mut self, range: std::ops::Range<usize>) {
        const ZEROES: [u8; 4096] = [0; 4096];
        let mut at = range.start;
        while at < range.end {
            let n = (range.end - at).min(ZEROES.len());
            self.writer.write(at, &ZEROES[..n]);
            at += n;
        }
    }

    /// Last data LSN written, 0 if none.
    #[must_use]
    pub fn last_lsn(&self) -> u64 {
        self.counts.last_lsn
    }

    /// True once sealed: it takes no more records or markers.
    #[must_use]
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Seals the segment (once; later calls do nothing): flushes its data, then writes the
    /// sparse index and the footer and flushes them, so a valid footer on disk implies
    /// durable data.
    ///
    /// # Errors
    /// The OS error of a flush.
    pub fn seal(&mut self) -> io::Result<()> {
        if self.sealed {
            return Ok(());
        }
        let map = Arc::clone(self.writer.mapping());
        self.take_unsynced();
        // Read ahead again, for readers whose pages were evicted; first, so that the mapping
        // is one range again and the flush below syncs the file once.
        map.read_ahead(0..map.len(), true);
        map.release_pages(0..self.end);
        // All of the data, not only what no flush has taken yet: a flush leader may still be
        // writing a range it took, and the footer must not reach the disk before it. Flushes
        // of a mapping run one at a time, so this one waits for that one (and fails if it
        // failed); pages already clean cost it nothing.
        map.flush(0..self.end)?;
        self.back_tail()?;
        // The chain is computed here, off the append path, from the headers written.
        let chain = chain_of(&map.frozen()[..self.end], self.seed);
        let info = self.write_tail(chain, footer::encode)?;
        self.give_back_unused();
        self.writer.freeze(map.len());
        self.sealed = true;
        self.room_end = 0;
        self.segment.mark_sealed(info.index_entries);
        map.release_file();
        Ok(())
    }
}

/// The segment chain over the data records of `data` (a segment's bytes up to its data end),
/// walking headers only. The bytes are this writer's own, already framed and published.
fn chain_of(data: &[u8], seed: u32) -> u32 {
    let mut chain = Chain::new(seed);
    let mut offset = crate::format::SEGMENT_HEADER_SIZE;
    while let Some(bytes) = data.get(offset..offset + RECORD_HEADER_SIZE) {
        let Ok(header) = RecordHeader::ref_from_bytes(bytes) else {
            break;
        };
        if header.kind == KIND_DATA {
            chain.push(header.header_check.get());
        }
        offset += framed_len(header.len.get() as usize);
    }
    chain.value()
}
