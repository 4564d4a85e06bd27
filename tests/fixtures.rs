//! Logs written by each format version, committed under `tests/fixtures/`, must keep opening
//! and reading the same way. Write a fixture only when adding a new version:
//! `cargo test --test fixtures -- --ignored generate_v2_fixture` (version 1 was written by the
//! build that wrote version 1, with the same function).

mod common;

use std::path::{Path, PathBuf};

use interstice::{Log, Lsn, Options};

const RECORDS: u64 = 1200;

fn payload(lsn: u64) -> Vec<u8> {
    if lsn.is_multiple_of(7) {
        Vec::new()
    } else {
        format!("fixture record {lsn} {}", "z".repeat((lsn % 40) as usize)).into_bytes()
    }
}

fn fixture_dir(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"))
}

/// The format version in each segment header of `dir`, in file-name order.
fn segment_versions(dir: &Path) -> Vec<u32> {
    common::segment_paths(dir)
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).unwrap();
            u32::from_le_bytes(bytes[8..12].try_into().unwrap())
        })
        .collect()
}

fn options() -> Options {
    Options {
        segment_size: 16 * 1024,
        ..Options::default()
    }
}

#[test]
#[ignore = "writes the committed fixture"]
fn generate_v2_fixture() {
    let dir = fixture_dir(2);
    let _ = std::fs::remove_dir_all(&dir);
    let log = Log::open(&dir, options()).unwrap();
    common::append_mixed(&log, 1..=RECORDS, 50, 37, payload);
    log.close().unwrap();
    std::fs::remove_file(dir.join("interstice.lock")).unwrap();
}

fn copy_fixture(version: u32) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir(version)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    copy
}

fn check(log: &Log) {
    let reader = log.reader();
    let mut expected = 1;
    for record in &reader {
        let record = record.unwrap();
        assert_eq!(record.lsn, Lsn(expected));
        assert_eq!(record.payload, payload(expected));
        expected += 1;
    }
    assert_eq!(expected, RECORDS + 1);
    assert_eq!(log.read(Lsn(321)).unwrap(), Some(payload(321)));
}

/// Opens for writing, checking every record of sealed segments too; asserts a clean recovery.
fn open_verified(dir: &Path) -> Log {
    let log = Log::open(
        dir,
        Options {
            verify_sealed_on_open: true,
            ..options()
        },
    )
    .unwrap();
    let report = log.recovery_report();
    assert!(report.is_clean(), "{}: {report:?}", dir.display());
    log
}

#[test]
fn fixtures_are_written_in_their_version() {
    assert!(segment_versions(&fixture_dir(1)).iter().all(|&v| v == 1));
    assert!(segment_versions(&fixture_dir(2)).iter().all(|&v| v == 2));
}

#[test]
fn fixtures_read_back_read_only() {
    for version in [1, 2] {
        let log = Log::open_read_only(fixture_dir(version), options()).unwrap();
        assert!(
            log.segments().len() > 3,
            "the v{version} fixture spans several segments"
        );
        assert!(log.recovery_report().is_clean(), "v{version}");
        check(&log);
    }
}

#[test]
fn fixtures_open_for_writing_and_verify() {
    for version in [1, 2] {
        let copy = copy_fixture(version);
        let log = open_verified(copy.path());
        check(&log);
        assert_eq!(log.append(b"after").unwrap(), Lsn(RECORDS + 1));
    }
}

/// A version 1 log keeps its version 1 segments (the active one too, whose records must all be
/// checked one way); the segments a newer writer adds are version 2; the whole log verifies,
/// reads back after a reopen and after a crash-free close.
#[test]
fn a_v1_log_grows_with_v2_segments() {
    let copy = copy_fixture(1);
    let before = segment_versions(copy.path()).len();
    let extra = 400;
    {
        let log = Log::open(copy.path(), options()).unwrap();
        for i in 0..extra {
            log.append(format!("grown {i} {}", "y".repeat(i % 50)).as_bytes())
                .unwrap();
        }
        log.close().unwrap();
    }
    let versions = segment_versions(copy.path());
    assert!(versions.len() > before + 1, "{versions:?}");
    assert!(versions[..before].iter().all(|&v| v == 1), "{versions:?}");
    assert!(versions[before..].iter().all(|&v| v == 2), "{versions:?}");
    let log = open_verified(copy.path());
    let reader = log.reader();
    let mut lsn = 0;
    for record in &reader {
        let record = record.unwrap();
        lsn += 1;
        assert_eq!(record.lsn, Lsn(lsn));
        if lsn <= RECORDS {
            assert_eq!(record.payload, payload(lsn));
        } else {
            let i = (lsn - RECORDS - 1) as usize;
            assert_eq!(
                record.payload,
                format!("grown {i} {}", "y".repeat(i % 50)).as_bytes()
            );
        }
    }
    assert_eq!(lsn, RECORDS + extra as u64);
}
