//! Consecutive segments continue each other's LSNs (docs/FORMAT.md, section 3): the next
//! segment starts inside or right after the records of the one before, never below its base
//! (unless that one is the first), and after a gap only where repair left padding. Opening and
//! `verify` apply the same rule; `SkipCorrupt` keeps the records.

mod common;

use std::path::Path;

use common::{records, segment_paths};
use interstice::format::SEGMENT_HEADER_SIZE;
use interstice::format::header::HeaderInfo;
use interstice::recovery::repair::{Strategy, repair};
use interstice::recovery::verify::verify;
use interstice::{Error, Log, Options, RecoveryMode};

fn options() -> Options {
    Options {
        segment_size: 16 * 1024,
        ..Options::default()
    }
}

fn lsns(log: &Log) -> Vec<u64> {
    records(log).iter().map(|(lsn, _)| *lsn).collect()
}

/// `repair --strategy skip` of a damaged log; then the default open must accept it.
fn after_skip_repair(dir: &Path) -> Log {
    assert!(verify(dir).unwrap().first_corruption().is_some());
    let report = repair(dir, Strategy::Skip, false).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let after = report.after.unwrap();
    assert!(after.is_intact(), "{after:?}");
    Log::open(dir, options()).unwrap()
}

/// A writable `SkipCorrupt` open of a damaged log; then the default open must accept it.
fn after_skip_open(dir: &Path) -> Log {
    let skip = Options {
        recovery: RecoveryMode::SkipCorrupt,
        ..options()
    };
    Log::open(dir, skip).unwrap().close().unwrap();
    assert!(verify(dir).unwrap().is_intact());
    Log::open(dir, options()).unwrap()
}

/// Records 1..=5 in segment 1, 6..=10 in segment 2, and an empty segment 3 (base 11).
fn three_segments(dir: &Path) {
    let log = Log::open(dir, options()).unwrap();
    for i in 1..=10u64 {
        log.append(format!("r-{i}").as_bytes()).unwrap();
        if i == 5 {
            log.rotate_now().unwrap();
        }
    }
    log.rotate_now().unwrap();
    log.close().unwrap();
    assert_eq!(segment_paths(dir).len(), 3);
}

/// Makes the last segment a freshly created, empty one that starts at `base`.
fn rebase_last(dir: &Path, base: u64) {
    let path = segment_paths(dir).pop().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let header = HeaderInfo::decode(&bytes).unwrap();
    let moved = HeaderInfo::new(header.log_id, header.segment_id, base, header.segment_size);
    bytes.fill(0);
    bytes[..SEGMENT_HEADER_SIZE].copy_from_slice(&moved.encode());
    std::fs::write(&path, bytes).unwrap();
}

fn corruption_in_last(dir: &Path, error: Error) -> String {
    let last = segment_paths(dir).pop().unwrap();
    match error {
        Error::Corrupt { path, offset, .. } => {
            assert_eq!(path, last);
            assert_eq!(offset, 0);
        }
        other => panic!("expected corruption, got {other}"),
    }
    let report = verify(dir).unwrap();
    let first = report.first_corruption().expect("verify agrees with open");
    assert_eq!(first.path, last);
    format!("{:?}", first.status)
}

#[test]
fn a_gap_between_segments_is_corruption_for_open_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    rebase_last(dir.path(), 15);
    let error = Log::open(dir.path(), options()).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("LSNs 11..=14 are missing"), "{text}");
    let status = corruption_in_last(dir.path(), error);
    assert!(status.contains("11..=14"), "{status}");
    // Reading only: refused the same way.
    assert!(matches!(
        Log::open_read_only(dir.path(), options()),
        Err(Error::Corrupt { .. })
    ));
    // Skipping keeps every record and goes on at the new base.
    let skip = Options {
        recovery: RecoveryMode::SkipCorrupt,
        ..options()
    };
    let log = Log::open(dir.path(), skip).unwrap();
    assert_eq!(records(&log).len(), 10);
    assert_eq!(log.append(b"next").unwrap().0, 15);
    log.close().unwrap();
    // It padded the end of segment 2, so the gap is accepted from now on.
    assert!(verify(dir.path()).unwrap().is_intact());
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(lsns(&log), (1..=10).chain([15]).collect::<Vec<_>>());
}

#[test]
fn a_segment_starting_below_the_base_of_the_one_before_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    rebase_last(dir.path(), 3);
    let error = Log::open(dir.path(), options()).unwrap_err();
    assert!(
        error.to_string().contains("below base LSN 6 of segment 2"),
        "{error}"
    );
    corruption_in_last(dir.path(), error);
}

#[test]
fn a_segment_starting_inside_the_records_before_supersedes_them() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    // As a suffix truncation to LSN 7 leaves it: segment 3 starts at 8.
    rebase_last(dir.path(), 8);
    assert!(verify(dir.path()).unwrap().is_intact());
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(lsns(&log), (1..=7).collect::<Vec<_>>());
    assert_eq!(log.append(b"next").unwrap().0, 8);
}

#[test]
fn the_first_segment_may_be_superseded_whole_by_a_lower_base() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    for i in 1..=5u64 {
        log.append(format!("r-{i}").as_bytes()).unwrap();
    }
    log.rotate_now().unwrap();
    for i in 6..=10u64 {
        log.append(format!("r-{i}").as_bytes()).unwrap();
    }
    // Only segment 2 left, starting at 6: a truncation before it starts segment 3 at 3.
    assert_eq!(log.truncate_before(interstice::Lsn(6)).unwrap(), 1);
    log.truncate_after(interstice::Lsn(2)).unwrap();
    log.append(b"again-3").unwrap();
    log.close().unwrap();
    assert!(verify(dir.path()).unwrap().is_intact());
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(records(&log), vec![(3, b"again-3".to_vec())]);
}

#[test]
fn skip_repair_of_a_lost_last_record_leaves_padding_so_the_gap_opens() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    // Damage the header of record 10, the last of sealed segment 2: no record follows it to
    // resynchronize on, so the walk stops there.
    damage_record(dir.path(), 10);
    let log = after_skip_repair(dir.path());
    assert_eq!(lsns(&log), (1..=9).collect::<Vec<_>>());
    assert_eq!(log.append(b"next").unwrap().0, 11);
}

#[test]
fn skip_open_of_a_lost_last_record_leaves_padding_so_the_gap_opens() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    damage_record(dir.path(), 10);
    assert_eq!(records(&after_skip_open(dir.path())).len(), 9);
}

fn damage_record(dir: &Path, lsn: u64) {
    let (path, offset, _, _) = common::locate(dir, lsn);
    common::flip_bit(&path, offset + 8);
}

/// Zeroes every record of segment 1 (its footer still counts them).
fn zero_first_segment_records(dir: &Path) {
    let (path, first, _, _) = common::locate(dir, 1);
    let (_, last, payload, len) = common::locate(dir, 5);
    let end = payload + len.div_ceil(8) * 8;
    assert_eq!(first, SEGMENT_HEADER_SIZE);
    assert!(last < end);
    common::patch(&path, first, &vec![0; end - first]);
}

#[test]
fn skip_repair_of_zeroed_records_before_a_footer_leaves_padding() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    zero_first_segment_records(dir.path());
    let log = after_skip_repair(dir.path());
    assert_eq!(lsns(&log), (6..=10).collect::<Vec<_>>());
}

#[test]
fn skip_open_of_zeroed_records_before_a_footer_leaves_padding() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    zero_first_segment_records(dir.path());
    assert_eq!(records(&after_skip_open(dir.path())).len(), 5);
}

#[test]
fn skip_repair_of_a_segment_zeroed_whole_with_its_footer_leaves_padding() {
    let dir = tempfile::tempdir().unwrap();
    three_segments(dir.path());
    let second = segment_paths(dir.path())[1].clone();
    let len = std::fs::metadata(&second).unwrap().len() as usize;
    common::patch(
        &second,
        SEGMENT_HEADER_SIZE,
        &vec![0; len - SEGMENT_HEADER_SIZE],
    );
    let log = after_skip_repair(dir.path());
    assert_eq!(lsns(&log), (1..=5).collect::<Vec<_>>());
    assert_eq!(log.append(b"next").unwrap().0, 11);
}
