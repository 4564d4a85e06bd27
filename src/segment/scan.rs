//! The one walk over a segment's records: open, verify, repair and the readers' checks all
//! use it. It takes the segment's bytes (`&[u8]`), never a file.

use std::ops::Range;

use crate::error::Damage;
use crate::format::checksum::{Binding, Chain};
use crate::format::footer::{self, FooterInfo, IndexEntry};
use crate::format::record::{
    self, FLAG_BATCH_CONTINUES, FLAG_CLEAN_CLOSE, KIND_DATA, KIND_MARKER, KIND_PAD, Parsed, Step,
};
use crate::format::{
    ALIGN, INDEX_STRIDE, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, framed_len,
    record::MARKER_BODY_SIZE,
};
use crate::ids::Lsn;
use zerocopy::FromBytes;

/// What a scan needs to know about the segment.
#[derive(Clone, Copy, Debug)]
pub struct ScanConfig {
    /// Checksum binding of the segment.
    pub binding: Binding,
    /// LSN of the segment's first record.
    pub base_lsn: u64,
    /// Largest payload accepted.
    pub payload_max: u64,
    /// Resynchronize past damaged bytes instead of stopping.
    pub skip_damage: bool,
}

/// A damaged range passed over by a skipping scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Byte range in the segment.
    pub range: Range<usize>,
    /// What was wrong at its start.
    pub damage: Damage,
}

/// Where and why a scan stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A header's worth of zeroes (or the end of the data area).
    End,
    /// Bytes that do not validate.
    Damage {
        /// Offset of the first bad byte.
        offset: usize,
        /// What was wrong.
        damage: Damage,
    },
}

/// Where a walk stood before a batch began: what rolling an incomplete batch back restores
/// (`Scan::mark`, `Scan::roll_back`). Within a batch only data records are accepted, so the
/// index is the only list that grows: its length is enough.
#[derive(Debug)]
struct Mark {
    end: usize,
    records: u64,
    first_lsn: u64,
    last_lsn: u64,
    chain: Option<Chain>,
    index_len: usize,
    next_index_at: usize,
    last_marker_end: usize,
    records_since_marker: u32,
    gap_allowed: bool,
    ended_clean: bool,
}

/// The running state of a walk.
#[derive(Clone, Debug)]
pub struct Scan {
    /// End of the last accepted record or marker.
    pub end: usize,
    /// Data records accepted.
    pub records: u64,
    /// LSN of the first data record, 0 if none.
    pub first_lsn: u64,
    /// LSN of the last data record, or `base_lsn - 1` if none.
    pub last_lsn: u64,
    /// Chain over the data records' header checks; `None` for a header-only walk
    /// (`scan_headers`), which has no use for it and skips its cost.
    pub chain: Option<Chain>,
    /// Sparse index of the data records.
    pub index: Vec<IndexEntry>,
    /// Offset at which the next index entry is due.
    pub next_index_at: usize,
    /// End of the last commit marker (or of the segment header).
    pub last_marker_end: usize,
    /// Data records since that marker.
    pub records_since_marker: u32,
    /// The next record may skip LSNs (it follows padding or skipped damage).
    pub gap_allowed: bool,
    /// Why the walk ended.
    pub stop: Stop,
    /// Damaged ranges passed over (skipping scans only).
    pub skipped: Vec<Skipped>,
    /// Markers that no longer match their records after a skip (to be rewritten as padding).
    pub stale_markers: Vec<Range<usize>>,
    /// The last item accepted is the marker of a clean close.
    pub ended_clean: bool,
}

impl Scan {
    fn mark(&self) -> Mark {
        Mark {
            end: self.end,
            records: self.records,
            first_lsn: self.first_lsn,
            last_lsn: self.last_lsn,
            chain: self.chain.clone(),
            index_len: self.index.len(),
            next_index_at: self.next_index_at,
            last_marker_end: self.last_marker_end,
            records_since_marker: self.records_since_marker,
            gap_allowed: self.gap_allowed,
            ended_clean: self.ended_clean,
        }
    }

    /// Back to `mark`, dropping every record accepted since; returns where it stood.
    fn roll_back(&mut self, mark: Mark) -> usize {
        self.end = mark.end;
        self.records = mark.records;
        self.first_lsn = mark.first_lsn;
        self.last_lsn = mark.last_lsn;
        self.chain = mark.chain;
        self.index.truncate(mark.index_len);
        self.next_index_at = mark.next_index_at;
        self.last_marker_end = mark.last_marker_end;
        self.records_since_marker = mark.records_since_marker;
        self.gap_allowed = mark.gap_allowed;
        self.ended_clean = mark.ended_clean;
        self.end
    }

    /// The state before the first record.
    #[must_use]
    pub fn start(config: &ScanConfig) -> Scan {
        Scan {
            end: SEGMENT_HEADER_SIZE,
            records: 0,
            first_lsn: 0,
            last_lsn: config.base_lsn - 1,
            chain: Some(Chain::new(config.binding.seed)),
            index: Vec::new(),
            next_index_at: SEGMENT_HEADER_SIZE,
            last_marker_end: SEGMENT_HEADER_SIZE,
            records_since_marker: 0,
            gap_allowed: false,
            stop: Stop::End,
            skipped: Vec::new(),
            stale_markers: Vec::new(),
            ended_clean: false,
        }
    }

    /// The chain's value, `None` after a header-only walk.
    #[must_use]
    pub fn chain_value(&self) -> Option<u32> {
        self.chain.as_ref().map(Chain::value)
    }

    /// The last LSN accepted, as an `Lsn`.
    #[must_use]
    pub fn last_good_lsn(&self) -> Lsn {
        Lsn(self.last_lsn)
    }

    /// Accepts one data record at `offset`.
    pub fn push_data(&mut self, offset: usize, lsn: u64, header_check: u32, framed_len: usize) {
        if offset >= self.next_index_at {
            self.index.push(IndexEntry::new(lsn, offset as u64));
            self.next_index_at = offset + INDEX_STRIDE;
        }
        if self.records == 0 {
            self.first_lsn = lsn;
        }
        self.records += 1;
        self.last_lsn = lsn;
        if let Some(chain) = &mut self.chain {
            chain.push(header_check);
        }
        self.records_since_marker += 1;
        self.gap_allowed = false;
        self.ended_clean = false;
        self.end = offset + framed_len;
    }

    /// Accepts one commit marker at `offset`.
    pub fn push_marker(&mut self, offset: usize, framed_len: usize) {
        self.end = offset + framed_len;
        self.last_marker_end = self.end;
        self.records_since_marker = 0;
        self.ended_clean = false;
    }

    /// Checks a record against the sequence so far.
    fn check(&self, parsed: &Parsed<'_>) -> Result<(), Damage> {
        match parsed.kind {
            KIND_DATA => {
                let expected = self.last_lsn + 1;
                if parsed.lsn == expected || (self.gap_allowed && parsed.lsn > expected) {
                    Ok(())
                } else {
                    Err(Damage::LsnOutOfOrder {
                        expected: Lsn(expected),
                        found: Lsn(parsed.lsn),
                    })
                }
            }
            KIND_MARKER => {
                let matches = record::decode_marker(parsed.payload).is_some_and(|(from, n)| {
                    from == self.last_marker_end as u64 && n == self.records_since_marker
                }) && parsed.lsn == self.last_lsn;
                if matches || self.gap_allowed_since_marker() {
                    Ok(())
                } else {
                    Err(Damage::MarkerMismatch)
                }
            }
            _ => Ok(()),
        }
    }

    fn gap_allowed_since_marker(&self) -> bool {
        self.skipped
            .last()
            .is_some_and(|skipped| skipped.range.start >= self.last_marker_end)
    }
}

/// Walks the data area `bytes[..capacity]` of a segment from its first record.
#[must_use]
pub fn scan(bytes: &[u8], capacity: usize, config: &ScanConfig) -> Scan {
    let mut state = Scan::start(config);
    scan_from(bytes, capacity, config, &mut state);
    state
}

/// Walks like `scan` but checks only record headers, not payload checksums, and keeps no
/// chain: for a segment that a clean close left complete (payloads are checked when read).
/// Use the result only if it `ended_clean`; otherwise walk again with `scan`.
#[must_use]
pub fn scan_headers(bytes: &[u8], capacity: usize, config: &ScanConfig) -> Scan {
    let mut state = Scan::start(config);
    state.chain = None;
    walk(bytes, capacity, config, &mut state, false);
    state
}

/// The close summary of segment `segment_id` that an open takes instead of walking, as the
/// state the walk would end in: `None` when there is none, it does not validate
/// (`footer::decode_close`), names another segment or fails `from_close_summary`'s checks.
#[must_use]
pub fn close_summary(
    bytes: &[u8],
    capacity: usize,
    config: &ScanConfig,
    segment_id: u64,
) -> Option<Scan> {
    let info = footer::decode_close(bytes, config.binding.seed, capacity)
        .filter(|info| info.segment_id == segment_id)?;
    from_close_summary(bytes, capacity, config, &info)
}

/// The state a header walk of a cleanly closed segment ends in, taken from its close summary
/// (`footer::decode_close`) instead of walking. `None` unless the summary agrees with what
/// can be checked cheaply: a valid clean-close marker with the summary's last LSN ends the
/// data at `data_end`, nothing follows it (a writer that resumes the segment writes a marker
/// there first), the LSNs run without a gap from the segment's base, and the index is ordered
/// inside the data and starts with the first record. Anything else sends the caller to a walk.
#[must_use]
pub fn from_close_summary(
    bytes: &[u8],
    capacity: usize,
    config: &ScanConfig,
    info: &FooterInfo,
) -> Option<Scan> {
    let data = &bytes[..capacity.min(bytes.len())];
    let end = usize::try_from(info.data_end).ok()?;
    let marker_at = end
        .checked_sub(framed_len(MARKER_BODY_SIZE))
        .filter(|&at| at >= SEGMENT_HEADER_SIZE && at.is_multiple_of(ALIGN))?;
    let check = config.binding.seeded();
    let last_lsn = if info.records == 0 {
        if info.first_lsn != 0 || info.last_lsn != 0 {
            return None;
        }
        config.base_lsn - 1
    } else {
        if info.first_lsn != config.base_lsn
            || info.last_lsn.checked_sub(info.first_lsn)? + 1 != info.records
        {
            return None;
        }
        info.last_lsn
    };
    let Step::Record(marker) = record::parse_seeded(data, marker_at, &check, config.payload_max)
    else {
        return None;
    };
    let (covered_from, _) = record::decode_marker(marker.payload)?;
    if marker.kind != KIND_MARKER
        || marker.flags & FLAG_CLEAN_CLOSE == 0
        || marker.lsn != last_lsn
        || covered_from > marker_at as u64
        || !matches!(
            record::parse_seeded(data, end, &check, config.payload_max),
            Step::End
        )
    {
        return None;
    }
    let index = <[IndexEntry]>::ref_from_bytes(footer::index_bytes(bytes, info.index_entries))
        .ok()?
        .to_vec();
    let first_ok = match index.first() {
        None => info.records == 0,
        Some(first) => {
            first.offset.get() >= SEGMENT_HEADER_SIZE as u64 && first.lsn.get() == info.first_lsn
        }
    };
    let ordered = index.windows(2).all(|pair| {
        pair[0].offset.get() < pair[1].offset.get() && pair[0].lsn.get() < pair[1].lsn.get()
    });
    let inside = index
        .last()
        .is_none_or(|e| e.offset.get() < marker_at as u64 && e.lsn.get() <= info.last_lsn);
    if !(first_ok && ordered && inside) {
        return None;
    }
    let next_index_at = index.last().map_or(SEGMENT_HEADER_SIZE, |e| {
        usize::try_from(e.offset.get()).unwrap_or(usize::MAX) + INDEX_STRIDE
    });
    Some(Scan {
        end,
        records: info.records,
        first_lsn: info.first_lsn,
        last_lsn,
        chain: None,
        index,
        next_index_at,
        last_marker_end: end,
        records_since_marker: 0,
        gap_allowed: false,
        stop: Stop::End,
        skipped: Vec::new(),
        stale_markers: Vec::new(),
        ended_clean: true,
    })
}

/// Continues a walk from `state.end`.
pub fn scan_from(bytes: &[u8], capacity: usize, config: &ScanConfig, state: &mut Scan) {
    walk(bytes, capacity, config, state, true);
}

fn walk(bytes: &[u8], capacity: usize, config: &ScanConfig, state: &mut Scan, payloads: bool) {
    let data = &bytes[..capacity.min(bytes.len())];
    let check = config.binding.seeded();
    let mut batch_start: Option<Mark> = None;
    let mut offset = state.end;
    loop {
        let damage = match record::parse_with(data, offset, &check, config.payload_max, payloads) {
            Step::End => match batch_start.take() {
                None => {
                    state.stop = Stop::End;
                    return;
                }
                Some(before) => {
                    offset = state.roll_back(before);
                    Damage::IncompleteBatch
                }
            },
            Step::Bad(damage) => damage,
            Step::Record(parsed) => {
                if let Err(damage) = state.check(&parsed) {
                    damage
                } else {
                    let in_batch = batch_start.is_some();
                    match parsed.kind {
                        KIND_DATA => {
                            if parsed.flags & FLAG_BATCH_CONTINUES != 0 {
                                if !in_batch {
                                    batch_start = Some(state.mark());
                                }
                            } else {
                                batch_start = None;
                            }
                            state.push_data(
                                offset,
                                parsed.lsn,
                                parsed.header_check,
                                parsed.framed_len,
                            );
                            offset = state.end;
                            continue;
                        }
                        _ if in_batch => Damage::IncompleteBatch,
                        KIND_MARKER => {
                            if state.gap_allowed_since_marker() {
                                state.stale_markers.push(offset..offset + parsed.framed_len);
                            }
                            state.push_marker(offset, parsed.framed_len);
                            state.ended_clean = parsed.flags & FLAG_CLEAN_CLOSE != 0;
                            offset = state.end;
                            continue;
                        }
                        _ => {
                            // Padding replaced damage: the LSN sequence may jump, and the
                            // marker after it (rewritten as padding too) starts a new range.
                            debug_assert_eq!(parsed.kind, KIND_PAD);
                            state.push_marker(offset, parsed.framed_len);
                            state.gap_allowed = true;
                            offset = state.end;
                            continue;
                        }
                    }
                }
            }
        };
        // Damage: an incomplete batch is dropped whole.
        if let Some(before) = batch_start.take() {
            offset = state.roll_back(before);
        }
        if config.skip_damage
            && let Some(next) = resync(data, offset, config, state.last_lsn)
        {
            state.skipped.push(Skipped {
                range: offset..next,
                damage,
            });
            state.gap_allowed = true;
            state.end = next;
            offset = next;
            continue;
        }
        state.stop = Stop::Damage { offset, damage };
        return;
    }
}

/// The first offset after `from` where a record that could continue the sequence validates.
#[must_use]
pub fn resync(data: &[u8], from: usize, config: &ScanConfig, last_lsn: u64) -> Option<usize> {
    let check = config.binding.seeded();
    let mut offset = from + ALIGN;
    while offset + RECORD_HEADER_SIZE <= data.len() {
        if let Step::Record(parsed) = record::parse_seeded(data, offset, &check, config.payload_max)
            && (parsed.kind != KIND_DATA || parsed.lsn > last_lsn)
        {
            return Some(offset);
        }
        offset += ALIGN;
    }
    None
}

/// True when a valid commit marker after `from` vouches for the bytes at `from`: it covers
/// records from an offset past `from`, so the sync that covered `from` had completed before
/// it was written. Damage there is corruption, not a torn tail.
#[must_use]
pub fn vouched_by_later_marker(data: &[u8], from: usize, config: &ScanConfig) -> bool {
    let check = config.binding.seeded();
    let mut offset = from + ALIGN;
    while offset + RECORD_HEADER_SIZE <= data.len() {
        // The kind byte is cheap to test before any checksum.
        if data[offset + 20] == KIND_MARKER
            && let Step::Record(parsed) =
                record::parse_seeded(data, offset, &check, config.payload_max)
            && parsed.kind == KIND_MARKER
            && record::decode_marker(parsed.payload)
                .is_some_and(|(covered, _)| covered > from as u64)
        {
            return true;
        }
        offset += ALIGN;
    }
    false
}

/// End (aligned up) of the last non-zero byte of `data[from..]`, or `from` if all are zero.
/// Checks 4 KiB chunks with an OR-fold the compiler vectorizes: an all-zero tail (every clean
/// open) runs at memory bandwidth.
#[must_use]
pub fn nonzero_end(data: &[u8], from: usize) -> usize {
    const CHUNK: usize = 4096;
    let from = from.min(data.len());
    let rest = &data[from..];
    let is_zero = |chunk: &[u8]| chunk.iter().fold(0u8, |acc, &b| acc | b) == 0;
    let Some(chunk_index) = rest.chunks(CHUNK).rposition(|chunk| !is_zero(chunk)) else {
        return from;
    };
    let chunk_start = chunk_index * CHUNK;
    let chunk = &rest[chunk_start..(chunk_start + CHUNK).min(rest.len())];
    let last = chunk.iter().rposition(|&b| b != 0).unwrap_or(0);
    crate::format::align_up(from + chunk_start + last + 1).min(data.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{encode_marker, frame_into};

    const SEED: Binding = Binding::current(0xabcd);

    fn config(skip: bool) -> ScanConfig {
        ScanConfig {
            binding: SEED,
            base_lsn: 1,
            payload_max: 1000,
            skip_damage: skip,
        }
    }

    /// A segment image with records 1..=n of 10 bytes each, a marker after `marker_after`.
    fn image(n: u64, marker_after: Option<u64>) -> Vec<u8> {
        let mut bytes = vec![0; 4096];
        let mut at = SEGMENT_HEADER_SIZE;
        for lsn in 1..=n {
            at += frame_into(&mut bytes[at..], SEED, lsn, KIND_DATA, 0, &[lsn as u8; 10]);
            if marker_after == Some(lsn) {
                let body = encode_marker(SEGMENT_HEADER_SIZE as u64, lsn as u32);
                at += frame_into(&mut bytes[at..], SEED, lsn, KIND_MARKER, 0, &body);
            }
        }
        bytes
    }

    #[test]
    fn clean_segment_scans_to_its_end() {
        let bytes = image(5, Some(3));
        let scan = scan(&bytes, bytes.len(), &config(false));
        assert_eq!((scan.records, scan.first_lsn, scan.last_lsn), (5, 1, 5));
        assert_eq!(scan.stop, Stop::End);
        assert_eq!(scan.last_marker_end, SEGMENT_HEADER_SIZE + 3 * 40 + 40);
    }

    #[test]
    fn damage_stops_the_scan_at_the_record() {
        let mut bytes = image(5, None);
        bytes[SEGMENT_HEADER_SIZE + 2 * 40 + 30] ^= 1;
        let scan = scan(&bytes, bytes.len(), &config(false));
        assert_eq!(scan.last_lsn, 2);
        let expected = Stop::Damage {
            offset: SEGMENT_HEADER_SIZE + 80,
            damage: Damage::PayloadChecksum,
        };
        assert_eq!(scan.stop, expected);
    }

    #[test]
    fn skipping_scan_keeps_every_intact_record() {
        let mut bytes = image(5, None);
        bytes[SEGMENT_HEADER_SIZE + 40 + 2] ^= 0xff; // header of record 2
        let scan = scan(&bytes, bytes.len(), &config(true));
        assert_eq!(scan.records, 4);
        assert_eq!(scan.skipped.len(), 1);
        assert_eq!(
            scan.skipped[0].range,
            SEGMENT_HEADER_SIZE + 40..SEGMENT_HEADER_SIZE + 80
        );
    }

    #[test]
    fn later_marker_makes_damage_corruption() {
        let mut bytes = image(5, Some(4));
        bytes[SEGMENT_HEADER_SIZE + 40 + 30] ^= 1; // record 2, covered by the marker
        let config = config(false);
        let scan = scan(&bytes, bytes.len(), &config);
        let Stop::Damage { offset, .. } = scan.stop else {
            panic!("no damage found")
        };
        // The marker covers from the header end, which is not past the damage: not vouched.
        assert!(!vouched_by_later_marker(&bytes, offset, &config));
    }

    #[test]
    fn incomplete_batch_is_dropped_whole() {
        let mut bytes = vec![0; 4096];
        let mut at = SEGMENT_HEADER_SIZE;
        at += frame_into(&mut bytes[at..], SEED, 1, KIND_DATA, 0, b"a");
        let batch_start = at;
        at += frame_into(
            &mut bytes[at..],
            SEED,
            2,
            KIND_DATA,
            FLAG_BATCH_CONTINUES,
            b"b",
        );
        frame_into(
            &mut bytes[at..],
            SEED,
            3,
            KIND_DATA,
            FLAG_BATCH_CONTINUES,
            b"c",
        );
        let scan = scan(&bytes, bytes.len(), &config(false));
        assert_eq!(scan.last_lsn, 1);
        assert_eq!(
            scan.stop,
            Stop::Damage {
                offset: batch_start,
                damage: Damage::IncompleteBatch
            }
        );
    }

    #[test]
    fn nonzero_end_finds_trailing_garbage() {
        let mut data = vec![0; 100];
        assert_eq!(nonzero_end(&data, 10), 10);
        data[50] = 1;
        assert_eq!(nonzero_end(&data, 10), 56);
    }
}
