//! The on-disk format's constants and layout arithmetic; docs/FORMAT.md is its specification.
//!
//! A segment file of `segment_size` bytes is laid out as:
//!
//! ```text
//! 0              64                        data_capacity       index_start      size-64   size
//! | SegmentHeader | records (8-aligned) ... | zero ...          | sparse index     | footer  |
//! ```
//!
//! This module knows no files: it frames and parses byte slices.

pub mod checksum;
pub mod footer;
pub mod header;
pub mod record;

/// Format version written by this build.
pub const FORMAT_VERSION: u32 = 2;
/// First format version whose unsealed segments get a close summary (`footer::CLOSE_MAGIC`):
/// a build that knows only version 1 would read one as a damaged seal footer.
pub const CLOSE_SUMMARY_VERSION: u32 = 2;
/// Every record starts at a multiple of this.
pub const ALIGN: usize = 8;
/// The unit of segment sizes.
pub const PAGE_SIZE: u64 = 4096;
/// Size of the segment header at offset 0.
pub const SEGMENT_HEADER_SIZE: usize = 64;
/// Size of a record header.
pub const RECORD_HEADER_SIZE: usize = 24;
/// Size of the seal footer at the end of the file.
pub const FOOTER_SIZE: usize = 64;
/// Size of one sparse index entry (LSN, offset).
pub const INDEX_ENTRY_SIZE: usize = 16;
/// Data bytes between two sparse index entries: a lookup walks at most this much.
pub const INDEX_STRIDE: usize = 4096;
/// Smallest segment accepted.
pub const SEGMENT_SIZE_MIN: u64 = 16 * 1024;
/// Largest segment accepted (offsets in the index and markers are u64, but a mapping of
/// more than 4 GiB per segment buys nothing).
pub const SEGMENT_SIZE_MAX: u64 = 4 * 1024 * 1024 * 1024;

const _: () = assert!(SEGMENT_HEADER_SIZE.is_multiple_of(ALIGN));
const _: () = assert!(RECORD_HEADER_SIZE.is_multiple_of(ALIGN));
const _: () = assert!(FOOTER_SIZE.is_multiple_of(ALIGN));
const _: () = assert!(INDEX_STRIDE.is_multiple_of(ALIGN));
const _: () = assert!(SEGMENT_SIZE_MIN.is_multiple_of(PAGE_SIZE));

/// Rounds `n` up to the record alignment.
#[must_use]
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// Framed size of a record with a payload of `payload_len` bytes.
#[must_use]
pub const fn framed_len(payload_len: usize) -> usize {
    align_up(RECORD_HEADER_SIZE + payload_len)
}

/// Number of sparse index entries a segment of this size reserves room for.
#[must_use]
pub fn index_capacity(segment_size: u64) -> usize {
    usize::try_from(segment_size).unwrap_or(usize::MAX) / INDEX_STRIDE + 1
}

/// Offset of the sparse index region.
#[must_use]
pub fn index_start(segment_size: u64) -> usize {
    let size = usize::try_from(segment_size).unwrap_or(usize::MAX);
    size - FOOTER_SIZE - index_capacity(segment_size) * INDEX_ENTRY_SIZE
}

/// End of the data area: records occupy `SEGMENT_HEADER_SIZE..data_capacity`.
#[must_use]
pub fn data_capacity(segment_size: u64) -> usize {
    index_start(segment_size) & !(ALIGN - 1)
}

/// The framed bytes of the largest batch one segment of this size holds: its data area
/// after the header, less room for one commit marker.
#[must_use]
pub fn batch_capacity(segment_size: u64) -> usize {
    data_capacity(segment_size) - SEGMENT_HEADER_SIZE - framed_len(record::MARKER_BODY_SIZE)
}

/// The largest payload one segment of this size holds (room for one commit marker is kept).
#[must_use]
pub fn payload_capacity(segment_size: u64) -> u64 {
    let marker = framed_len(record::MARKER_BODY_SIZE);
    (data_capacity(segment_size) - SEGMENT_HEADER_SIZE - RECORD_HEADER_SIZE - marker) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_regions_do_not_overlap() {
        for size in [
            SEGMENT_SIZE_MIN,
            64 * 1024,
            64 * 1024 * 1024,
            SEGMENT_SIZE_MAX,
        ] {
            let data = data_capacity(size);
            let index = index_start(size);
            assert!(SEGMENT_HEADER_SIZE < data);
            assert!(data <= index);
            assert_eq!(
                index + index_capacity(size) * INDEX_ENTRY_SIZE + FOOTER_SIZE,
                usize::try_from(size).unwrap()
            );
        }
        assert_eq!(framed_len(0), 24);
        assert_eq!(framed_len(1), 32);
        assert_eq!(framed_len(128), 152);
    }
}
