//! `ActiveSegment`: append into the mapping, publish the committed length, write commit
//! markers, seal.

use std::io;
use std::sync::Arc;

use zerocopy::IntoBytes;

use super::{Counts, Segment, scan::Scan};
use crate::disk::mmap::MapWriter;
use crate::format::checksum::Chain;
use crate::format::footer::{self, FooterInfo, IndexEntry};
use crate::format::record::{self, KIND_DATA, KIND_MARKER, MARKER_BODY_SIZE};
use crate::format::{FOOTER_SIZE, INDEX_STRIDE, RECORD_HEADER_SIZE, framed_len, index_start};

/// Framed size of a commit marker; the data area always keeps room for one.
pub const MARKER_FRAMED_LEN: usize = framed_len(MARKER_BODY_SIZE);

/// The segment being written, with the writer's running state.
#[derive(Debug)]
pub struct ActiveSegment {
    segment: Arc<Segment>,
    writer: MapWriter,
    seed: u32,
    end: usize,
    counts: Counts,
    chain: Chain,
    next_index_at: usize,
    last_marker_end: usize,
    records_since_marker: u32,
    synced_to: usize,
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
            writer,
            end: scan.end,
            counts: Counts {
                data_end: scan.end,
                first_lsn: scan.first_lsn,
                last_lsn: if scan.records == 0 { 0 } else { scan.last_lsn },
                records: scan.records,
            },
            chain: scan.chain.clone(),
            next_index_at: scan.next_index_at,
            last_marker_end: scan.last_marker_end,
            records_since_marker: scan.records_since_marker,
            synced_to: 0,
            segment,
        }
    }

    /// The segment.
    #[must_use]
    pub fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// Bytes left for records (room for a commit marker is kept aside). None once sealed: a
    /// rotation that failed after sealing leaves the writer here, and the next append must
    /// rotate again.
    #[must_use]
    pub fn room(&self) -> usize {
        if self.segment.is_sealed() {
            return 0;
        }
        (self.segment.capacity() - MARKER_FRAMED_LEN).saturating_sub(self.end)
    }

    /// Room for records in an empty segment of this size.
    #[must_use]
    pub fn room_when_empty(&self) -> usize {
        self.segment.capacity() - MARKER_FRAMED_LEN - crate::format::SEGMENT_HEADER_SIZE
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
        let header = record::encode_header(self.seed, lsn, KIND_DATA, flags, payload);
        self.writer.write(offset, header.as_bytes());
        self.writer.write(offset + RECORD_HEADER_SIZE, payload);
        if offset >= self.next_index_at {
            self.segment.push_index(IndexEntry::new(lsn, offset as u64));
            self.next_index_at = offset + INDEX_STRIDE;
        }
        self.chain.push(header.header_crc.get());
        if self.counts.records == 0 {
            self.counts.first_lsn = lsn;
        }
        self.counts.records += 1;
        self.counts.last_lsn = lsn;
        self.records_since_marker += 1;
        self.end = offset + framed_len(payload.len());
    }

    /// Publishes everything written so far to readers.
    #[inline]
    pub fn publish(&mut self) {
        self.writer.freeze(self.end);
        self.counts.data_end = self.end;
        self.segment.publish(self.counts);
    }

    /// Writes and publishes a commit marker for the records since the previous one, if any.
    pub fn write_marker(&mut self) {
        // A sealed segment is durable whole; its mapping is frozen.
        if self.records_since_marker == 0 || self.segment.is_sealed() {
            return;
        }
        let body = record::encode_marker(self.last_marker_end as u64, self.records_since_marker);
        let header = record::encode_header(self.seed, self.counts.last_lsn, KIND_MARKER, 0, &body);
        self.writer.write(self.end, header.as_bytes());
        self.writer.write(self.end + RECORD_HEADER_SIZE, &body);
        self.end += MARKER_FRAMED_LEN;
        self.last_marker_end = self.end;
        self.records_since_marker = 0;
        self.publish();
    }

    /// The range written since the last call, to be flushed; the header is in the first.
    pub fn take_unsynced(&mut self) -> std::ops::Range<usize> {
        let range = self.synced_to..self.end;
        self.synced_to = self.end;
        range
    }

    /// Last data LSN written, 0 if none.
    #[must_use]
    pub fn last_lsn(&self) -> u64 {
        self.counts.last_lsn
    }

    /// Seals the segment: flushes its data, then writes the sparse index and the footer and
    /// flushes them, so a valid footer on disk implies durable data. Sealing twice does nothing.
    ///
    /// # Errors
    /// The OS error of a flush.
    pub fn seal(&mut self) -> io::Result<()> {
        if self.segment.is_sealed() {
            return Ok(());
        }
        let map = Arc::clone(self.writer.mapping());
        let unsynced = self.take_unsynced();
        map.flush(unsynced)?;
        let index = self.segment.active_index();
        let info = FooterInfo {
            segment_id: self.segment.id().0,
            first_lsn: self.counts.first_lsn,
            last_lsn: self.counts.last_lsn,
            records: self.counts.records,
            data_end: self.end as u64,
            chain: self.chain.value(),
            index_entries: u32::try_from(index.len()).expect("index bounded by the segment size"),
        };
        let len = map.len();
        let index_at = index_start(len as u64);
        let index_bytes = index.as_bytes();
        let footer = footer::encode(self.seed, &info, index_bytes);
        self.writer.write(index_at, index_bytes);
        self.writer.write(len - FOOTER_SIZE, &footer);
        map.flush(index_at..len)?;
        self.writer.freeze(len);
        self.segment.mark_sealed(info.index_entries);
        Ok(())
    }
}
