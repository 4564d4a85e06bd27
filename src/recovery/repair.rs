//! Removing bytes safely: save them to a quarantine file first, then zero them (torn tail) or
//! replace them with padding records (skipped damage), and reseal what was sealed.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::disk::dir::QUARANTINE_PREFIX;
use crate::disk::file;
use crate::error::{Damage, Error, Result};
use crate::format::footer::{self, FooterInfo};
use crate::format::record::{self, KIND_PAD};
use crate::format::{RECORD_HEADER_SIZE, data_capacity};
use crate::ids::{Lsn, SegmentId};
use crate::segment::scan::{self, ScanConfig, Stop};

/// Saves `bytes` (taken from `offset` of segment `id`) to a new quarantine file in `dir`,
/// durably, and returns its path. The name says where the bytes came from.
///
/// # Errors
/// `Error::Io` naming the quarantine file.
pub fn quarantine(dir: &Path, id: SegmentId, offset: usize, bytes: &[u8]) -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{QUARANTINE_PREFIX}{:020}-at-{offset}-{nanos}.bin", id.0);
    let path = dir.join(name);
    file::write_new_durably(&path, bytes)?;
    Ok(path)
}

/// Replaces each range of `segment` with one padding record (quarantine first).
///
/// # Errors
/// `Error::Corrupt` when a range is too short to hold a padding header (only a forged record
/// can cause that), `Error::Io` from the quarantine.
pub fn pad_ranges(
    dir: &Path,
    path: &Path,
    id: SegmentId,
    segment: &mut [u8],
    seed: u32,
    ranges: &[Range<usize>],
) -> Result<Vec<PathBuf>> {
    let mut quarantined = Vec::new();
    for range in ranges {
        if range.len() < RECORD_HEADER_SIZE {
            return Err(Error::Corrupt {
                path: path.to_owned(),
                offset: range.start as u64,
                last_good_lsn: Lsn::ZERO,
                damage: Damage::Garbage,
            });
        }
        quarantined.push(quarantine(dir, id, range.start, &segment[range.clone()])?);
        let zeroes = vec![0; range.len() - RECORD_HEADER_SIZE];
        record::frame_into(&mut segment[range.clone()], seed, 0, KIND_PAD, 0, &zeroes);
    }
    Ok(quarantined)
}

/// Rewrites the sparse index and the footer of `segment` from a fresh walk of its records.
///
/// # Errors
/// `Error::Corrupt` when the walk does not end cleanly.
pub fn reseal(path: &Path, segment: &mut [u8], config: &ScanConfig) -> Result<FooterInfo> {
    let capacity = data_capacity(segment.len() as u64);
    let walk = scan::scan(
        segment,
        capacity,
        &ScanConfig {
            skip_damage: false,
            ..*config
        },
    );
    if let Stop::Damage { offset, damage } = walk.stop.clone() {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            offset: offset as u64,
            last_good_lsn: walk.last_good_lsn(),
            damage,
        });
    }
    let info = FooterInfo {
        segment_id: segment_id_of(segment),
        first_lsn: walk.first_lsn,
        last_lsn: if walk.records == 0 { 0 } else { walk.last_lsn },
        records: walk.records,
        data_end: walk.end as u64,
        chain: walk.chain.value(),
        index_entries: u32::try_from(walk.index.len()).unwrap_or(u32::MAX),
    };
    // Clear the old footer region first so a shorter index leaves no stale entries behind.
    let index_at = crate::format::index_start(segment.len() as u64);
    segment[index_at..].fill(0);
    footer::seal_into(segment, config.seed, &info, &walk.index);
    Ok(info)
}

fn segment_id_of(segment: &[u8]) -> u64 {
    crate::format::header::HeaderInfo::decode(segment).map_or(0, |h| h.segment_id)
}
