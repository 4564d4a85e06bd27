//! `RecordHeader`: frame a record into `&mut [u8]`, parse one from `&[u8]`.
//!
//! Three kinds share the header: data records (the caller's payloads), commit markers (written
//! at each sync; they vouch for the records since the previous marker) and padding (written by
//! repair over damaged bytes).

use std::mem::offset_of;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::checksum::{Binding, Seeded};
use super::{RECORD_HEADER_SIZE, align_up};
use crate::error::Damage;

/// A caller's record.
pub const KIND_DATA: u8 = 1;
/// A commit marker (payload: `MarkerBody`).
pub const KIND_MARKER: u8 = 2;
/// Padding over bytes removed by repair (payload: zeroes).
pub const KIND_PAD: u8 = 3;
/// Flag: the next record belongs to the same batch.
pub const FLAG_BATCH_CONTINUES: u8 = 1;
/// Flag on a commit marker: written by a clean close, nothing was written after it.
pub const FLAG_CLEAN_CLOSE: u8 = 2;

/// The 24-byte record header, read in place with zerocopy.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RecordHeader {
    /// Check (the segment's `RecordCheck`, seeded with its binding) of bytes `4..24` of this
    /// header.
    pub header_check: U32,
    /// Check (likewise) of the payload.
    pub payload_check: U32,
    /// The record's LSN; for a marker, the last LSN it covers; for padding, the LSN before it.
    pub lsn: U64,
    /// Payload length in bytes.
    pub len: U32,
    /// `KIND_DATA`, `KIND_MARKER` or `KIND_PAD`; zero is never valid.
    pub kind: u8,
    /// `FLAG_BATCH_CONTINUES` (data), `FLAG_CLEAN_CLOSE` (marker) or zero.
    pub flags: u8,
    /// Zero.
    pub reserved: [u8; 2],
}

const _: () = assert!(size_of::<RecordHeader>() == RECORD_HEADER_SIZE);

/// Payload of a commit marker.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MarkerBody {
    /// Offset where the records it covers begin (the end of the previous marker, or of the
    /// segment header).
    pub covered_from: U64,
    /// Number of data records it covers.
    pub records: U32,
    /// Zero.
    pub reserved: U32,
}

/// Size of a marker's payload.
pub const MARKER_BODY_SIZE: usize = size_of::<MarkerBody>();

/// One record parsed in place.
#[derive(Clone, Copy, Debug)]
pub struct Parsed<'a> {
    /// Kind of record.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// LSN field.
    pub lsn: u64,
    /// Header check (what the segment chain hashes).
    pub header_check: u32,
    /// The payload, borrowed.
    pub payload: &'a [u8],
    /// Bytes the record occupies, alignment included.
    pub framed_len: usize,
}

/// What lies at one offset of a data area.
#[derive(Debug)]
pub enum Step<'a> {
    /// A header's worth of zeroes: the end of the written data.
    End,
    /// A valid record.
    Record(Parsed<'a>),
    /// Bytes that do not validate.
    Bad(Damage),
}

/// Frames a record at the start of `dst`, which must hold `framed_len(payload.len())` bytes
/// (it is written in two pieces: the header then the payload). Returns the header check.
///
/// # Panics
/// If `dst` is too short; callers size it with `framed_len`.
pub fn encode_header(
    binding: Binding,
    lsn: u64,
    kind: u8,
    flags: u8,
    payload: &[u8],
) -> RecordHeader {
    encode_header_seeded(&binding.seeded(), lsn, kind, flags, payload)
}

/// The flags of the record at `index` of a batch of `count`: every record but the last says
/// the batch continues.
#[must_use]
pub const fn batch_flags(index: usize, count: usize) -> u8 {
    if index + 1 < count {
        FLAG_BATCH_CONTINUES
    } else {
        0
    }
}

/// `encode_header` with a prepared checksum (the writer's per-record path).
#[inline]
pub fn encode_header_seeded(
    check: &Seeded,
    lsn: u64,
    kind: u8,
    flags: u8,
    payload: &[u8],
) -> RecordHeader {
    let len = u32::try_from(payload.len()).expect("payload length bounded by the segment size");
    let mut header = RecordHeader {
        header_check: 0.into(),
        payload_check: check.check(payload).into(),
        lsn: lsn.into(),
        len: len.into(),
        kind,
        flags,
        reserved: [0; 2],
    };
    let covered = offset_of!(RecordHeader, payload_check);
    header.header_check = check.check(&header.as_bytes()[covered..]).into();
    header
}

/// Frames a marker's payload.
#[must_use]
pub fn encode_marker(covered_from: u64, records: u32) -> [u8; MARKER_BODY_SIZE] {
    let body = MarkerBody {
        covered_from: covered_from.into(),
        records: records.into(),
        reserved: 0.into(),
    };
    let mut out = [0; MARKER_BODY_SIZE];
    out.copy_from_slice(body.as_bytes());
    out
}

/// Reads a marker's payload.
#[must_use]
pub fn decode_marker(payload: &[u8]) -> Option<(u64, u32)> {
    let body = MarkerBody::ref_from_bytes(payload).ok()?;
    Some((body.covered_from.get(), body.records.get()))
}

/// Parses the record at `offset` of `data`, which ends at the data area's capacity.
/// `payload_max` bounds the length field.
#[must_use]
pub fn parse(data: &[u8], offset: usize, binding: Binding, payload_max: u64) -> Step<'_> {
    parse_seeded(data, offset, &binding.seeded(), payload_max)
}

/// `parse` with a prepared checksum (the walks' per-record path).
#[inline]
#[must_use]
pub fn parse_seeded<'a>(
    data: &'a [u8],
    offset: usize,
    check: &Seeded,
    payload_max: u64,
) -> Step<'a> {
    parse_with(data, offset, check, payload_max, true)
}

/// `parse_seeded`, optionally without checking a data payload's checksum (the header's still is,
/// and markers and padding are checked whole):
/// for a walk that only needs the records' places, over bytes known to be complete.
#[inline]
#[must_use]
pub fn parse_with<'a>(
    data: &'a [u8],
    offset: usize,
    check: &Seeded,
    payload_max: u64,
    check_payload: bool,
) -> Step<'a> {
    parse_checking(data, offset, Some(check), payload_max, check_payload)
}

/// `parse_seeded` without any checksum, for bytes another walk checked a moment ago and that
/// cannot have changed since (frozen bytes of a mapping): a replay's walk of a piece another
/// thread checked ahead of it (`Segment::check_span`). Ends, kinds and
/// bounds are decided as `parse_seeded` decides them.
#[inline]
#[must_use]
pub fn parse_trusted(data: &[u8], offset: usize, payload_max: u64) -> Step<'_> {
    parse_checking(data, offset, None, payload_max, false)
}

#[inline]
fn parse_checking<'a>(
    data: &'a [u8],
    offset: usize,
    check: Option<&Seeded>,
    payload_max: u64,
    check_payload: bool,
) -> Step<'a> {
    let Some(bytes) = data.get(offset..offset + RECORD_HEADER_SIZE) else {
        return if data
            .get(offset..)
            .is_none_or(|rest| rest.iter().all(|&b| b == 0))
        {
            Step::End
        } else {
            Step::Bad(Damage::Truncated)
        };
    };
    let Ok(header) = RecordHeader::ref_from_bytes(bytes) else {
        return Step::Bad(Damage::Truncated);
    };
    if bytes.iter().all(|&b| b == 0) {
        return Step::End;
    }
    let covered = offset_of!(RecordHeader, payload_check);
    if check.is_some_and(|check| check.check(&bytes[covered..]) != header.header_check.get()) {
        return Step::Bad(Damage::HeaderChecksum);
    }
    let kind = header.kind;
    if !matches!(kind, KIND_DATA | KIND_MARKER | KIND_PAD) {
        return Step::Bad(Damage::UnknownKind(kind));
    }
    let len = u64::from(header.len.get());
    let start = offset + RECORD_HEADER_SIZE;
    let framed = align_up(RECORD_HEADER_SIZE + header.len.get() as usize);
    if (kind == KIND_DATA && len > payload_max)
        || (kind == KIND_MARKER && len != MARKER_BODY_SIZE as u64)
        || offset + framed > data.len()
    {
        return Step::Bad(Damage::LengthOutOfBounds(len));
    }
    let payload = &data[start..start + header.len.get() as usize];
    // Markers and padding are always checked whole: a walk trusts what they say.
    if let Some(check) = check
        && (check_payload || kind != KIND_DATA)
        && check.check(payload) != header.payload_check.get()
    {
        return Step::Bad(Damage::PayloadChecksum);
    }
    Step::Record(Parsed {
        kind,
        flags: header.flags,
        lsn: header.lsn.get(),
        header_check: header.header_check.get(),
        payload,
        framed_len: framed,
    })
}

/// Decodes the data record at `offset` of bytes that a walk validated a moment ago, whole
/// (`parse_seeded`: both checksums, kind and bounds), and that cannot have changed since
/// (frozen bytes of a mapping): the second pass over a batch that a reader checked before
/// yielding its first record. Bounds are checked again; checksums are not. `None` when the
/// bytes do not hold a data record there after all.
#[inline]
#[must_use]
pub fn decode_checked(data: &[u8], offset: usize) -> Option<Parsed<'_>> {
    let bytes = data.get(offset..offset + RECORD_HEADER_SIZE)?;
    let header = RecordHeader::ref_from_bytes(bytes).ok()?;
    let len = header.len.get() as usize;
    let framed = align_up(RECORD_HEADER_SIZE + len);
    if header.kind != KIND_DATA || offset + framed > data.len() {
        return None;
    }
    let start = offset + RECORD_HEADER_SIZE;
    Some(Parsed {
        kind: KIND_DATA,
        flags: header.flags,
        lsn: header.lsn.get(),
        header_check: header.header_check.get(),
        payload: &data[start..start + len],
        framed_len: framed,
    })
}

/// Writes a whole framed record into `dst` (for tests, repair and fuzzers; the writer writes
/// header and payload straight into the mapping). Returns the framed length.
///
/// # Panics
/// If `dst` is shorter than the framed record.
pub fn frame_into(
    dst: &mut [u8],
    binding: Binding,
    lsn: u64,
    kind: u8,
    flags: u8,
    payload: &[u8],
) -> usize {
    let header = encode_header(binding, lsn, kind, flags, payload);
    let framed = align_up(RECORD_HEADER_SIZE + payload.len());
    dst[..RECORD_HEADER_SIZE].copy_from_slice(header.as_bytes());
    dst[RECORD_HEADER_SIZE..RECORD_HEADER_SIZE + payload.len()].copy_from_slice(payload);
    dst[RECORD_HEADER_SIZE + payload.len()..framed].fill(0);
    framed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::checksum::RecordCheck;

    const B9: Binding = Binding {
        seed: 9,
        check: RecordCheck::Xxh3,
    };
    const B10: Binding = Binding {
        seed: 10,
        check: RecordCheck::Xxh3,
    };

    #[test]
    fn record_round_trips() {
        let mut buf = vec![0; 64];
        let framed = frame_into(&mut buf, B9, 5, KIND_DATA, 0, b"hello");
        assert_eq!(framed, 32);
        let Step::Record(parsed) = parse(&buf, 0, B9, 100) else {
            panic!("record did not parse");
        };
        assert_eq!(
            (parsed.lsn, parsed.payload, parsed.kind),
            (5, &b"hello"[..], KIND_DATA)
        );
        assert!(matches!(parse(&buf, 32, B9, 100), Step::End));
    }

    #[test]
    fn decoding_a_checked_record_agrees_with_parsing_it() {
        let mut buf = vec![0; 256];
        let mut at = 0;
        for (lsn, payload) in [(7u64, &b""[..]), (8, b"abc"), (9, &[5u8; 100][..])] {
            at += frame_into(
                &mut buf[at..],
                B9,
                lsn,
                KIND_DATA,
                FLAG_BATCH_CONTINUES,
                payload,
            );
        }
        let mut offset = 0;
        while let Step::Record(parsed) = parse(&buf, offset, B9, 1000) {
            let decoded = decode_checked(&buf, offset).expect("a data record");
            assert_eq!(
                (
                    decoded.lsn,
                    decoded.payload,
                    decoded.flags,
                    decoded.framed_len
                ),
                (parsed.lsn, parsed.payload, parsed.flags, parsed.framed_len)
            );
            offset += parsed.framed_len;
        }
        assert_eq!(offset, at);
        // Not a data record, or one running past the bytes: none.
        assert!(decode_checked(&buf, at).is_none());
        assert!(decode_checked(&buf[..at - 1], 0).is_some());
        let last = at - crate::format::framed_len(100);
        assert!(decode_checked(&buf[..at - 1], last).is_none());
        frame_into(&mut buf[at..], B9, 9, KIND_PAD, 0, &[0; 8]);
        assert!(decode_checked(&buf, at).is_none());
    }

    #[test]
    fn wrong_seed_never_validates() {
        let mut buf = vec![0; 64];
        frame_into(&mut buf, B9, 5, KIND_DATA, 0, b"hello");
        assert!(matches!(
            parse(&buf, 0, B10, 100),
            Step::Bad(Damage::HeaderChecksum)
        ));
    }

    #[test]
    fn every_flipped_bit_is_detected_in_both_versions() {
        for check in [RecordCheck::Crc32, RecordCheck::Xxh3] {
            let binding = Binding { seed: 9, check };
            let mut buf = vec![0; 40];
            frame_into(&mut buf, binding, 5, KIND_DATA, 0, b"hello world");
            for bit in 0..(RECORD_HEADER_SIZE + 11) * 8 {
                let mut damaged = buf.clone();
                damaged[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    !matches!(parse(&damaged, 0, binding, 100), Step::Record(_)),
                    "{check:?} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn a_record_validates_only_under_its_own_version() {
        let mut buf = vec![0; 64];
        frame_into(&mut buf, B9, 5, KIND_DATA, 0, b"hello");
        let v1 = Binding {
            seed: 9,
            check: RecordCheck::Crc32,
        };
        assert!(matches!(
            parse(&buf, 0, v1, 100),
            Step::Bad(Damage::HeaderChecksum)
        ));
    }

    #[test]
    fn oversized_length_is_rejected_without_reading_past_the_end() {
        let mut buf = vec![0; 64];
        frame_into(&mut buf, B9, 5, KIND_DATA, 0, &[1; 30]);
        assert!(matches!(
            parse(&buf[..40], 0, B9, 100),
            Step::Bad(Damage::LengthOutOfBounds(30))
        ));
        assert!(matches!(
            parse(&buf, 0, B9, 10),
            Step::Bad(Damage::LengthOutOfBounds(30))
        ));
    }
}
