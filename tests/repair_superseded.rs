//! Suffix truncation leaves the superseded records of the segment it sealed in place: the next
//! segment's base LSN hides them. A truncating repair that removed that next segment (damage
//! at its first record, or in its header) left the sealed segment last, with nothing to hide
//! its superseded records: the records `truncate_after` had removed came back, in place of
//! the ones appended after it. Verify and repair also counted superseded records as held.

mod common;

use std::path::Path;

use common::records;
use interstice::recovery::repair::{Strategy, repair};
use interstice::recovery::verify::verify;
use interstice::{Log, Lsn, Options};

fn options() -> Options {
    Options {
        segment_size: 16 * 1024,
        ..Options::default()
    }
}

fn flip(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

/// Records 1..=10 ("old-N"), `truncate_after(5)` sealing them, then 6..=8 ("new-N") in a
/// second segment.
fn truncated_log(dir: &Path) -> Vec<interstice::SegmentInfo> {
    let log = Log::open(dir, options()).unwrap();
    for i in 1..=10 {
        log.append(format!("old-{i}").as_bytes()).unwrap();
    }
    log.sync().unwrap();
    // A reader holding the segment makes the truncation seal it and start a new one (without
    // it, the cut would rewind the segment in place).
    let reader = log.reader();
    log.truncate_after(Lsn(5)).unwrap();
    drop(reader);
    for i in 6..=8 {
        log.append(format!("new-{i}").as_bytes()).unwrap();
    }
    let segments = log.segments();
    log.close().unwrap();
    assert_eq!(segments.len(), 2);
    segments
}

fn expected(range: std::ops::RangeInclusive<u64>, prefix: &str) -> Vec<(u64, Vec<u8>)> {
    range
        .map(|i| (i, format!("{prefix}-{i}").into_bytes()))
        .collect()
}

#[test]
fn verify_counts_only_records_not_superseded() {
    let dir = tempfile::tempdir().unwrap();
    truncated_log(dir.path());
    let report = verify(dir.path()).unwrap();
    assert!(report.is_intact());
    assert_eq!(report.records(), 8, "{:?}", report.segments);
    assert_eq!(report.segments[0].last_lsn, Some(Lsn(5)));
}

#[test]
fn truncating_repair_never_brings_back_records_truncate_after_removed() {
    let dir = tempfile::tempdir().unwrap();
    let segments = truncated_log(dir.path());
    // The payload of the second segment's first record (LSN 6, "new-6").
    flip(&segments[1].path, 64 + 24);
    let report = repair(dir.path(), Strategy::Truncate, false).unwrap();
    assert!(report.refused.is_empty());
    assert_eq!(report.records_kept, 5);
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(records(&log), expected(1..=5, "old"));
    assert_eq!(log.last_lsn(), Lsn(5));
    assert_eq!(log.append(b"next").unwrap(), Lsn(6));
}

#[test]
fn truncating_repair_of_a_superseded_record_keeps_the_live_ones_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let segments = truncated_log(dir.path());
    // Damage superseded LSN 8 ("old-8") of the first segment: the repair keeps 1..=5 and
    // nothing superseded, and removes the second segment with the rest.
    let bytes = std::fs::read(&segments[0].path).unwrap();
    let at = bytes.windows(5).position(|w| w == b"old-8").unwrap();
    flip(&segments[0].path, at);
    let report = repair(dir.path(), Strategy::Truncate, false).unwrap();
    assert!(report.refused.is_empty());
    assert_eq!(report.records_kept, 5);
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(records(&log), expected(1..=5, "old"));
}
