//! Logs written by each format version, committed under `tests/fixtures/`, must keep opening
//! and reading the same way. Regenerate a fixture only when adding a new version:
//! `cargo test --test fixtures -- --ignored generate_v1_fixture`.

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

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn options() -> Options {
    Options {
        segment_size: 16 * 1024,
        ..Options::default()
    }
}

#[test]
#[ignore = "writes the committed fixture"]
fn generate_v1_fixture() {
    let dir = fixture_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let log = Log::open(&dir, options()).unwrap();
    let mut lsn = 1;
    while lsn <= RECORDS {
        if lsn.is_multiple_of(50) && lsn + 3 <= RECORDS {
            let batch: Vec<Vec<u8>> = (lsn..lsn + 3).map(payload).collect();
            log.append_batch(&batch).unwrap();
            lsn += 3;
        } else {
            log.append(&payload(lsn)).unwrap();
            lsn += 1;
        }
        if lsn.is_multiple_of(37) {
            log.sync().unwrap();
        }
    }
    log.close().unwrap();
    std::fs::remove_file(dir.join("interstice.lock")).unwrap();
}

fn copy_fixture() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
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

#[test]
fn v1_fixture_reads_back_read_only() {
    let log = Log::open_read_only(fixture_dir(), options()).unwrap();
    assert!(
        log.segments().len() > 3,
        "the fixture spans several segments"
    );
    assert!(log.recovery_report().is_clean());
    check(&log);
}

#[test]
fn v1_fixture_opens_for_writing_and_verifies() {
    let copy = copy_fixture();
    let log = Log::open(
        copy.path(),
        Options {
            verify_sealed_on_open: true,
            ..options()
        },
    )
    .unwrap();
    assert!(
        log.recovery_report().is_clean(),
        "{:?}",
        log.recovery_report()
    );
    check(&log);
    assert_eq!(log.append(b"after").unwrap(), Lsn(RECORDS + 1));
}
