//! `RecoveryReport`: what opening found in each segment and what it did about it.

use std::ops::Range;
use std::path::PathBuf;

use crate::error::Damage;
use crate::ids::{Lsn, SegmentId};

/// How the walk of one segment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A sealed segment opened from its footer (its records are checked when read).
    Sealed,
    /// A sealed segment whose every record was checked against its footer.
    SealedVerified,
    /// The records end in zeroes: nothing lost.
    CleanEnd,
    /// Bytes after the last durable point that do not validate: never acknowledged, discarded
    /// (after being saved to a quarantine file) when the log is opened for writing.
    TornTail {
        /// Where the valid prefix ends.
        offset: u64,
        /// What stopped the walk.
        damage: Damage,
        /// Bytes from `offset` to the last non-zero byte.
        bytes: u64,
    },
    /// Damaged ranges passed over in `RecoveryMode::SkipCorrupt`.
    Skipped(Vec<SkippedRange>),
    /// A segment whose header never reached the disk (a crash while creating it); removed.
    Unfinished,
}

/// One damaged range passed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRange {
    /// Byte range in the segment file.
    pub range: Range<u64>,
    /// What was wrong at its start.
    pub damage: Damage,
}

/// The recovery of one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRecovery {
    /// The segment's id.
    pub id: SegmentId,
    /// Its file.
    pub path: PathBuf,
    /// Bytes walked (0 for a segment opened from its seal footer or close summary).
    pub bytes_scanned: u64,
    /// Records it holds after recovery.
    pub records: u64,
    /// Its last LSN after recovery, if it holds any record.
    pub last_lsn: Option<Lsn>,
    /// How its walk ended.
    pub outcome: Outcome,
    /// Quarantine files written for it (removed bytes, saved first).
    pub quarantined: Vec<PathBuf>,
    /// True when recovery changed the file.
    pub modified: bool,
}

/// What opening a log found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// One entry per segment, in LSN order.
    pub segments: Vec<SegmentRecovery>,
    /// Files removed: segments left half-prepared or unfinished by a crash.
    pub removed: Vec<PathBuf>,
}

impl RecoveryReport {
    /// True when nothing was discarded, skipped or removed.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.segments.iter().all(|s| {
            matches!(
                s.outcome,
                Outcome::Sealed | Outcome::SealedVerified | Outcome::CleanEnd
            )
        })
    }

    /// Bytes discarded as torn tail or skipped as damage.
    #[must_use]
    pub fn bytes_discarded(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| match &s.outcome {
                Outcome::TornTail { bytes, .. } => *bytes,
                Outcome::Skipped(ranges) => {
                    ranges.iter().map(|r| r.range.end - r.range.start).sum()
                }
                _ => 0,
            })
            .sum()
    }

    /// Every quarantine file written.
    pub fn quarantine_files(&self) -> impl Iterator<Item = &PathBuf> {
        self.segments.iter().flat_map(|s| s.quarantined.iter())
    }
}
