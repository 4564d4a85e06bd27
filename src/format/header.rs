//! `SegmentHeader`: the 64 bytes at the start of every segment file.

use std::mem::offset_of;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::checksum::{self, Binding, RecordCheck};
use super::{FORMAT_VERSION, SEGMENT_HEADER_SIZE, SEGMENT_SIZE_MAX, SEGMENT_SIZE_MIN};

/// The first eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ISTCSEG\x01";

/// The segment header, read in place with zerocopy. Layout in docs/FORMAT.md.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SegmentHeader {
    /// `SEGMENT_MAGIC`.
    pub magic: [u8; 8],
    /// Format version of the writer (1 or 2).
    pub version: U32,
    /// Reserved flags, zero.
    pub flags: U32,
    /// Random identity of the log, shared by all its segments.
    pub log_id: U64,
    /// The segment's id; it matches the file name.
    pub segment_id: U64,
    /// LSN of the segment's first record.
    pub base_lsn: U64,
    /// Length of the file in bytes.
    pub segment_size: U64,
    /// Zero.
    pub reserved: [u8; 12],
    /// CRC32 of bytes `0..60`.
    pub crc: U32,
}

const _: () = assert!(size_of::<SegmentHeader>() == SEGMENT_HEADER_SIZE);

/// The validated contents of a segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Format version of the segment: it says how its records are checked.
    pub version: u32,
    /// Identity of the log.
    pub log_id: u64,
    /// The segment's id.
    pub segment_id: u64,
    /// LSN of the first record.
    pub base_lsn: u64,
    /// Length of the file.
    pub segment_size: u64,
}

/// Why a header did not validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than 64 bytes.
    Truncated,
    /// All 64 bytes are zero: a segment whose header never reached the disk.
    Zeroed,
    /// Not our magic: a foreign file.
    Foreign,
    /// Our magic, another version.
    Version(u32),
    /// Our magic, damaged contents.
    Damaged(String),
}

impl HeaderInfo {
    /// The header of a new segment, written in this build's `FORMAT_VERSION`.
    #[must_use]
    pub fn new(log_id: u64, segment_id: u64, base_lsn: u64, segment_size: u64) -> HeaderInfo {
        HeaderInfo {
            version: FORMAT_VERSION,
            log_id,
            segment_id,
            base_lsn,
            segment_size,
        }
    }

    /// Frames the header.
    #[must_use]
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_SIZE] {
        let mut header = SegmentHeader {
            magic: SEGMENT_MAGIC,
            version: self.version.into(),
            flags: 0.into(),
            log_id: self.log_id.into(),
            segment_id: self.segment_id.into(),
            base_lsn: self.base_lsn.into(),
            segment_size: self.segment_size.into(),
            reserved: [0; 12],
            crc: 0.into(),
        };
        let covered = offset_of!(SegmentHeader, crc);
        header.crc = checksum::plain(&header.as_bytes()[..covered]).into();
        let mut out = [0; SEGMENT_HEADER_SIZE];
        out.copy_from_slice(header.as_bytes());
        out
    }

    /// Parses and validates the header at the start of `bytes`.
    ///
    /// # Errors
    /// `HeaderError` saying what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<HeaderInfo, HeaderError> {
        let Ok((header, _)) = SegmentHeader::ref_from_prefix(bytes) else {
            return Err(HeaderError::Truncated);
        };
        if header.as_bytes().iter().all(|&b| b == 0) {
            return Err(HeaderError::Zeroed);
        }
        if header.magic != SEGMENT_MAGIC {
            return Err(HeaderError::Foreign);
        }
        let covered = offset_of!(SegmentHeader, crc);
        if checksum::plain(&header.as_bytes()[..covered]) != header.crc.get() {
            return Err(HeaderError::Damaged("checksum mismatch".into()));
        }
        let version = header.version.get();
        if RecordCheck::of_version(version).is_none() {
            return Err(HeaderError::Version(version));
        }
        let info = HeaderInfo {
            version,
            log_id: header.log_id.get(),
            segment_id: header.segment_id.get(),
            base_lsn: header.base_lsn.get(),
            segment_size: header.segment_size.get(),
        };
        if !(SEGMENT_SIZE_MIN..=SEGMENT_SIZE_MAX).contains(&info.segment_size)
            || !info.segment_size.is_multiple_of(super::PAGE_SIZE)
        {
            return Err(HeaderError::Damaged(format!(
                "segment size {} out of bounds",
                info.segment_size
            )));
        }
        if info.base_lsn == 0 {
            return Err(HeaderError::Damaged("base LSN 0".into()));
        }
        Ok(info)
    }

    /// The checksum seed of this segment (records, footer, index).
    #[must_use]
    pub fn seed(&self) -> u32 {
        checksum::segment_seed(self.log_id, self.segment_id)
    }

    /// The binding of this segment's record checks: its seed and its version's check.
    #[must_use]
    pub fn binding(&self) -> Binding {
        Binding {
            seed: self.seed(),
            // `decode` accepts only versions with a check, and `new` writes the current one.
            check: RecordCheck::of_version(self.version).unwrap_or(RecordCheck::CURRENT),
        }
    }
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Truncated => write!(f, "file shorter than a segment header"),
            HeaderError::Zeroed => write!(f, "header is all zeroes"),
            HeaderError::Foreign => write!(f, "no Interstice segment magic"),
            HeaderError::Version(v) => write!(f, "format version {v}"),
            HeaderError::Damaged(why) => write!(f, "{why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> HeaderInfo {
        HeaderInfo::new(0xfeed, 3, 100, 64 * 1024)
    }

    #[test]
    fn header_round_trips() {
        assert_eq!(HeaderInfo::decode(&info().encode()), Ok(info()));
    }

    #[test]
    fn versions_1_and_2_decode_and_others_are_refused() {
        for (version, check) in [(1, Some(RecordCheck::Crc32)), (2, Some(RecordCheck::Xxh3))] {
            let old = HeaderInfo { version, ..info() };
            let decoded = HeaderInfo::decode(&old.encode()).unwrap();
            assert_eq!(decoded, old);
            assert_eq!(Some(decoded.binding().check), check);
        }
        for version in [0, 3, 99] {
            let other = HeaderInfo { version, ..info() };
            assert_eq!(
                HeaderInfo::decode(&other.encode()),
                Err(HeaderError::Version(version))
            );
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = info().encode();
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(HeaderInfo::decode(&damaged).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn zeroes_and_foreign_bytes_are_told_apart() {
        assert_eq!(HeaderInfo::decode(&[0; 64]), Err(HeaderError::Zeroed));
        assert_eq!(HeaderInfo::decode(&[7; 64]), Err(HeaderError::Foreign));
        assert_eq!(HeaderInfo::decode(&[0; 10]), Err(HeaderError::Truncated));
    }
}
