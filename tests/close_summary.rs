//! The close summary: a clean close writes the active segment's index and counts into its
//! footer area (`CLOSE_MAGIC`), and the next open takes the segment from it without walking
//! its records. These tests check that it is used, that a damaged or stale summary is walked
//! past without losing a record, that a writable open clears it before the records change, and
//! that `verify` catches a summary that lies.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_replays, run_text, s};
use interstice::format::footer::{self, CLOSE_MAGIC};
use interstice::format::header::HeaderInfo;
use interstice::format::{FOOTER_SIZE, data_capacity, index_start};
use interstice::{Durability, Log, Lsn, Options};

const SEGMENT_SIZE: u64 = 1024 * 1024;

fn options() -> Options {
    Options {
        segment_size: SEGMENT_SIZE,
        ..Options::default()
    }
}

fn payload(lsn: u64) -> Vec<u8> {
    format!("record {lsn} {}", "p".repeat((lsn % 97) as usize)).into_bytes()
}

/// Appends records `from..=to` (every tenth LSN starts a batch of three), syncing now and then.
fn append(log: &Log, from: u64, to: u64) {
    common::append_mixed(log, from..=to, 10, 333, payload);
}

/// A log of records `1..=count`, closed cleanly, and its last (active) segment file.
fn closed_log(count: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    append(&log, 1, count);
    log.close().unwrap();
    let path = last_segment(dir.path());
    (dir, path)
}

fn last_segment(dir: &Path) -> PathBuf {
    common::segment_paths(dir).pop().unwrap()
}

fn footer_area(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    bytes[bytes.len() - FOOTER_SIZE..].to_vec()
}

fn last_bytes_scanned(log: &Log) -> u64 {
    log.recovery_report().segments.last().unwrap().bytes_scanned
}

/// Every record, read one by one through the index and replayed in order.
fn check_all(log: &Log, count: u64) {
    assert_eq!(log.last_lsn(), Lsn(count));
    assert_replays(log, count, payload);
    for lsn in (1..=count).step_by(37) {
        assert_eq!(log.read(Lsn(lsn)).unwrap(), Some(payload(lsn)), "lsn {lsn}");
    }
}

#[test]
fn a_clean_close_lets_the_next_open_skip_the_walk() {
    let (dir, path) = closed_log(4000);
    assert_eq!(footer_area(&path)[..8], CLOSE_MAGIC);

    // Read-only: taken from the summary, nothing written.
    let reader = Log::open_read_only(dir.path(), options()).unwrap();
    assert!(reader.recovery_report().is_clean());
    assert_eq!(last_bytes_scanned(&reader), 0);
    check_all(&reader, 4000);
    drop(reader);
    assert_eq!(footer_area(&path)[..8], CLOSE_MAGIC);

    // Writable: taken from the summary too, which the open clears before any change.
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(last_bytes_scanned(&log), 0);
    assert!(footer_area(&path).iter().all(|&b| b == 0));
    check_all(&log, 4000);
    append(&log, 4001, 6000);
    log.close().unwrap();

    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(last_bytes_scanned(&log), 0);
    check_all(&log, 6000);
}

#[test]
fn an_empty_segment_and_durability_none() {
    let dir = tempfile::tempdir().unwrap();
    Log::open(dir.path(), options()).unwrap().close().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(last_bytes_scanned(&log), 0);
    assert_eq!(log.last_lsn(), Lsn(0));
    log.append(b"first").unwrap();
    log.close().unwrap();

    // Without durability, nothing vouches for the records: no summary is written.
    let dir = tempfile::tempdir().unwrap();
    let none = Options {
        durability: Durability::None,
        ..options()
    };
    let log = Log::open(dir.path(), none.clone()).unwrap();
    append(&log, 1, 500);
    log.close().unwrap();
    assert!(
        footer_area(&last_segment(dir.path()))
            .iter()
            .all(|&b| b == 0)
    );
    let log = Log::open(dir.path(), none).unwrap();
    assert!(last_bytes_scanned(&log) > 0);
    check_all(&log, 500);
}

#[test]
fn a_damaged_summary_or_index_is_walked_past() {
    for (what, offset_from_end) in [
        ("footer", FOOTER_SIZE - 20),
        ("footer checksum", 2),
        ("index", 0),
    ] {
        let (dir, path) = closed_log(3000);
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        // The index is the region just below the footer; its used part starts at index_start.
        let offset = if what == "index" {
            index_start(len as u64) + 3
        } else {
            len - offset_from_end
        };
        common::flip_bit(&path, offset);
        let log = Log::open(dir.path(), options()).unwrap();
        assert!(log.recovery_report().is_clean(), "{what}");
        assert!(
            last_bytes_scanned(&log) > 0,
            "{what}: the summary was trusted"
        );
        check_all(&log, 3000);
        drop(log);
        // The writable open cleared it durably.
        assert!(footer_area(&path).iter().all(|&b| b == 0), "{what}");
    }
}

/// The summary of an earlier close, still on disk after the writer resumed the segment (were
/// its clearing lost): the marker the writer wrote after the clean-close one tells the open
/// not to trust it, and every record synced since is found.
#[test]
fn a_stale_summary_is_not_trusted() {
    let (dir, path) = closed_log(2000);
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    let tail_at = index_start(len as u64);
    let stale = std::fs::read(&path).unwrap()[tail_at..].to_vec();

    let log = Log::open(dir.path(), options()).unwrap();
    append(&log, 2001, 2600);
    log.sync().unwrap();
    // No clean close: dropped as a crash would leave it (the synced records are on disk).
    drop(log);
    assert_eq!(last_segment(dir.path()), path, "still one active segment");
    common::patch(&path, tail_at, &stale);

    let log = Log::open(dir.path(), options()).unwrap();
    assert!(
        last_bytes_scanned(&log) > 0,
        "the stale summary was trusted"
    );
    check_all(&log, 2600);
}

/// A summary whose checksums hold but whose index does not match the records: an open would
/// trust it, and `verify` must report it.
#[test]
fn verify_reports_a_summary_that_disagrees_with_the_records() {
    let (dir, path) = closed_log(3000);
    let (code, out, err) = run_text(&["verify", s(dir.path())]);
    assert_eq!(code, 0, "{out}{err}");

    let mut bytes = std::fs::read(&path).unwrap();
    let header = HeaderInfo::decode(&bytes).unwrap();
    let capacity = data_capacity(bytes.len() as u64);
    let info = footer::decode_close(&bytes, header.seed(), capacity).unwrap();
    assert!(info.index_entries >= 3, "{info:?}");
    // Move the second index entry to the third's LSN and offset minus one record: still
    // ordered, but not where the writer put it.
    let at = index_start(bytes.len() as u64);
    let entry = |b: &[u8], i: usize, f: usize| {
        u64::from_le_bytes(b[at + i * 16 + f..at + i * 16 + f + 8].try_into().unwrap())
    };
    let (lsn1, lsn2) = (entry(&bytes, 1, 0), entry(&bytes, 2, 0));
    assert!(lsn2 > lsn1 + 1);
    let moved = lsn1 + 1;
    let offset1 = entry(&bytes, 1, 8);
    let framed = interstice::format::framed_len(payload(lsn1).len()) as u64;
    bytes[at + 16..at + 24].copy_from_slice(&moved.to_le_bytes());
    bytes[at + 24..at + 32].copy_from_slice(&(offset1 + framed).to_le_bytes());
    let index: Vec<footer::IndexEntry> = (0..info.index_entries as usize)
        .map(|i| footer::IndexEntry::new(entry(&bytes, i, 0), entry(&bytes, i, 8)))
        .collect();
    footer::close_into(&mut bytes, header.seed(), &info, &index);
    std::fs::write(&path, &bytes).unwrap();

    let (code, out, err) = run_text(&["verify", s(dir.path())]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("close summary disagrees with the records"),
        "{out}{err}"
    );
}
