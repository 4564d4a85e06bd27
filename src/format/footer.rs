//! `SealFooter` and the sparse LSN-to-offset index: encode, validate, search.

use std::mem::offset_of;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{FOOTER_SIZE, INDEX_ENTRY_SIZE, checksum, index_capacity, index_start};

/// The first eight bytes of a seal footer.
pub const FOOTER_MAGIC: [u8; 8] = *b"ISTCEND\x01";

/// The first eight bytes of a close summary: the footer a clean close writes into an unsealed
/// (version 2) segment, in the same layout, so that the next open need not walk its records.
/// It does not seal the segment; `decode` reads it as "not sealed".
pub const CLOSE_MAGIC: [u8; 8] = *b"ISTCCLS\x01";

/// The footer in the last 64 bytes of a sealed segment.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SealFooter {
    /// `FOOTER_MAGIC`.
    pub magic: [u8; 8],
    /// The segment's id (as in the header).
    pub segment_id: U64,
    /// LSN of the first data record, or 0 when the segment holds none.
    pub first_lsn: U64,
    /// LSN of the last data record, or 0 when the segment holds none.
    pub last_lsn: U64,
    /// Number of data records.
    pub records: U64,
    /// End of the last record: the data area is `64..data_end`.
    pub data_end: U64,
    /// The segment chain: CRC (seeded) of every data record's header checksum, in order.
    pub chain: U32,
    /// Number of entries in the sparse index.
    pub index_entries: U32,
    /// CRC (seeded) of the index entries.
    pub index_crc: U32,
    /// CRC (seeded) of bytes `0..60` of this footer.
    pub crc: U32,
}

const _: () = assert!(size_of::<SealFooter>() == FOOTER_SIZE);

/// One sparse index entry: the record with `lsn` starts at `offset`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct IndexEntry {
    /// LSN of a data record.
    pub lsn: U64,
    /// Its offset in the segment.
    pub offset: U64,
}

const _: () = assert!(size_of::<IndexEntry>() == INDEX_ENTRY_SIZE);

impl IndexEntry {
    /// An entry.
    #[must_use]
    pub fn new(lsn: u64, offset: u64) -> IndexEntry {
        IndexEntry {
            lsn: lsn.into(),
            offset: offset.into(),
        }
    }
}

/// The validated contents of a footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FooterInfo {
    /// The segment's id.
    pub segment_id: u64,
    /// First data record's LSN, 0 if none.
    pub first_lsn: u64,
    /// Last data record's LSN, 0 if none.
    pub last_lsn: u64,
    /// Number of data records.
    pub records: u64,
    /// End of the data.
    pub data_end: u64,
    /// Segment chain value.
    pub chain: u32,
    /// Number of index entries.
    pub index_entries: u32,
}

/// Writes the index and the footer into the tail of `segment` (the whole file's bytes).
///
/// # Panics
/// If the index does not fit its reserved region (the writer indexes at most one entry per
/// `INDEX_STRIDE` bytes, which is what the region is sized for).
pub fn seal_into(segment: &mut [u8], seed: u32, info: &FooterInfo, index: &[IndexEntry]) {
    write_into(segment, FOOTER_MAGIC, seed, info, index);
}

/// Writes the index and a close summary (`CLOSE_MAGIC`) into the tail of `segment`.
///
/// # Panics
/// As `seal_into`.
pub fn close_into(segment: &mut [u8], seed: u32, info: &FooterInfo, index: &[IndexEntry]) {
    write_into(segment, CLOSE_MAGIC, seed, info, index);
}

fn write_into(
    segment: &mut [u8],
    magic: [u8; 8],
    seed: u32,
    info: &FooterInfo,
    index: &[IndexEntry],
) {
    let size = segment.len() as u64;
    assert!(
        index.len() <= index_capacity(size),
        "index larger than its region"
    );
    assert_eq!(info.index_entries as usize, index.len());
    let start = index_start(size);
    let index_bytes = index.as_bytes();
    segment[start..start + index_bytes.len()].copy_from_slice(index_bytes);
    let footer = encode_with(magic, seed, info, index_bytes);
    let at = segment.len() - FOOTER_SIZE;
    segment[at..].copy_from_slice(&footer);
}

/// Frames a seal footer for the given index bytes.
#[must_use]
pub fn encode(seed: u32, info: &FooterInfo, index_bytes: &[u8]) -> [u8; FOOTER_SIZE] {
    encode_with(FOOTER_MAGIC, seed, info, index_bytes)
}

/// Frames a close summary for the given index bytes (`chain` is not computed for it: zero).
#[must_use]
pub fn encode_close(seed: u32, info: &FooterInfo, index_bytes: &[u8]) -> [u8; FOOTER_SIZE] {
    encode_with(CLOSE_MAGIC, seed, info, index_bytes)
}

fn encode_with(
    magic: [u8; 8],
    seed: u32,
    info: &FooterInfo,
    index_bytes: &[u8],
) -> [u8; FOOTER_SIZE] {
    let mut footer = SealFooter {
        magic,
        segment_id: info.segment_id.into(),
        first_lsn: info.first_lsn.into(),
        last_lsn: info.last_lsn.into(),
        records: info.records.into(),
        data_end: info.data_end.into(),
        chain: info.chain.into(),
        index_entries: info.index_entries.into(),
        index_crc: checksum::crc(seed, index_bytes).into(),
        crc: 0.into(),
    };
    let covered = offset_of!(SealFooter, crc);
    footer.crc = checksum::crc(seed, &footer.as_bytes()[..covered]).into();
    let mut out = [0; FOOTER_SIZE];
    out.copy_from_slice(footer.as_bytes());
    out
}

/// Reads the seal footer of a segment (the whole file's bytes). `Ok(None)` when the segment is
/// not sealed: its footer area is all zeroes or holds a close summary.
///
/// # Errors
/// A description of what does not validate.
pub fn decode(
    segment: &[u8],
    seed: u32,
    data_capacity: usize,
) -> Result<Option<FooterInfo>, String> {
    if has_close_summary(segment) {
        return Ok(None);
    }
    decode_with(FOOTER_MAGIC, segment, seed, data_capacity)
}

/// True when the footer area of `segment` starts with `CLOSE_MAGIC` (valid or not).
#[must_use]
pub fn has_close_summary(segment: &[u8]) -> bool {
    segment
        .len()
        .checked_sub(FOOTER_SIZE)
        .is_some_and(|at| segment[at..at + CLOSE_MAGIC.len()] == CLOSE_MAGIC)
}

/// Reads the close summary of an unsealed segment; `None` unless one is there and validates
/// (checksums, bounds) exactly as a seal footer would. A summary that does not validate is a
/// close cut short, not damage: the segment is walked instead.
#[must_use]
pub fn decode_close(segment: &[u8], seed: u32, data_capacity: usize) -> Option<FooterInfo> {
    if !has_close_summary(segment) {
        return None;
    }
    decode_with(CLOSE_MAGIC, segment, seed, data_capacity)
        .ok()
        .flatten()
}

fn decode_with(
    magic: [u8; 8],
    segment: &[u8],
    seed: u32,
    data_capacity: usize,
) -> Result<Option<FooterInfo>, String> {
    let size = segment.len() as u64;
    let Some(tail) = segment
        .len()
        .checked_sub(FOOTER_SIZE)
        .map(|at| &segment[at..])
    else {
        return Err("segment shorter than a footer".into());
    };
    if tail.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let footer = SealFooter::ref_from_bytes(tail).map_err(|_| "footer unreadable".to_string())?;
    if footer.magic != magic {
        return Err("footer magic missing".into());
    }
    let covered = offset_of!(SealFooter, crc);
    if checksum::crc(seed, &footer.as_bytes()[..covered]) != footer.crc.get() {
        return Err("footer checksum mismatch".into());
    }
    let info = FooterInfo {
        segment_id: footer.segment_id.get(),
        first_lsn: footer.first_lsn.get(),
        last_lsn: footer.last_lsn.get(),
        records: footer.records.get(),
        data_end: footer.data_end.get(),
        chain: footer.chain.get(),
        index_entries: footer.index_entries.get(),
    };
    if info.index_entries as usize > index_capacity(size) {
        return Err(format!(
            "{} index entries exceed the region",
            info.index_entries
        ));
    }
    if info.data_end < super::SEGMENT_HEADER_SIZE as u64 || info.data_end > data_capacity as u64 {
        return Err(format!("data end {} out of bounds", info.data_end));
    }
    if (info.records == 0) != (info.last_lsn == 0) || info.first_lsn > info.last_lsn {
        return Err("inconsistent LSN range".into());
    }
    let index_bytes = index_bytes(segment, info.index_entries);
    if checksum::crc(seed, index_bytes) != footer.index_crc.get() {
        return Err("index checksum mismatch".into());
    }
    Ok(Some(info))
}

/// The index region's bytes for `entries` entries.
#[must_use]
pub fn index_bytes(segment: &[u8], entries: u32) -> &[u8] {
    let start = index_start(segment.len() as u64);
    &segment[start..start + entries as usize * INDEX_ENTRY_SIZE]
}

/// The offset from which a walk finds `lsn`: the entry with the greatest LSN at or below it,
/// or `None` when `lsn` precedes every entry.
#[must_use]
pub fn search(index: &[IndexEntry], lsn: u64) -> Option<u64> {
    let position = index.partition_point(|entry| entry.lsn.get() <= lsn);
    position.checked_sub(1).map(|i| index[i].offset.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::data_capacity;

    fn info(chain: u32, index_entries: u32) -> FooterInfo {
        FooterInfo {
            segment_id: 2,
            first_lsn: 10,
            last_lsn: 12,
            records: 3,
            data_end: 200,
            chain,
            index_entries,
        }
    }

    fn sealed() -> (Vec<u8>, FooterInfo) {
        let size = 16 * 1024;
        let mut segment = vec![0; size];
        let info = info(77, 2);
        let index = [IndexEntry::new(10, 64), IndexEntry::new(12, 150)];
        seal_into(&mut segment, 5, &info, &index);
        (segment, info)
    }

    #[test]
    fn footer_round_trips() {
        let (segment, info) = sealed();
        let capacity = data_capacity(segment.len() as u64);
        assert_eq!(decode(&segment, 5, capacity), Ok(Some(info)));
        assert!(decode(&segment, 6, capacity).is_err());
        assert_eq!(decode(&vec![0; 16 * 1024], 5, capacity), Ok(None));
    }

    #[test]
    fn a_close_summary_is_not_a_seal() {
        let size = 16 * 1024;
        let capacity = data_capacity(size as u64);
        let mut segment = vec![0; size];
        let info = info(0, 1);
        close_into(&mut segment, 5, &info, &[IndexEntry::new(10, 64)]);
        assert_eq!(decode(&segment, 5, capacity), Ok(None));
        assert_eq!(decode_close(&segment, 5, capacity), Some(info));
        assert_eq!(decode_close(&segment, 6, capacity), None);
        let start = index_start(size as u64);
        segment[start] ^= 1;
        assert_eq!(decode_close(&segment, 5, capacity), None);
        let (sealed, _) = sealed();
        assert_eq!(decode_close(&sealed, 5, capacity), None);
    }

    #[test]
    fn flipped_index_byte_is_detected() {
        let (mut segment, _) = sealed();
        let start = index_start(segment.len() as u64);
        segment[start + 3] ^= 4;
        assert!(decode(&segment, 5, data_capacity(segment.len() as u64)).is_err());
    }

    #[test]
    fn search_finds_the_entry_at_or_below() {
        let index = [IndexEntry::new(10, 64), IndexEntry::new(20, 500)];
        assert_eq!(search(&index, 9), None);
        assert_eq!(search(&index, 10), Some(64));
        assert_eq!(search(&index, 19), Some(64));
        assert_eq!(search(&index, 25), Some(500));
    }
}
