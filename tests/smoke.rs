//! End-to-end behaviour of the log on real directories: rotation, reopen, lookups,
//! truncation, torn tails and corruption.

mod common;

use common::records as all;
use interstice::{Durability, Error, Log, Lsn, Options, Outcome, RecoveryMode};

fn small() -> Options {
    Options {
        segment_size: 16 * 1024,
        ..Options::default()
    }
}

fn payload(i: u64) -> Vec<u8> {
    format!("record-{i}-{}", "x".repeat((i % 50) as usize)).into_bytes()
}

#[test]
fn records_survive_rotation_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 1..=2000 {
        assert_eq!(log.append(&payload(i)).unwrap(), Lsn(i));
    }
    assert!(log.segments().len() > 5, "small segments must rotate");
    log.close().unwrap();
    // Verifying every sealed segment against its footer checks what the writer sealed.
    let verify = Options {
        verify_sealed_on_open: true,
        ..small()
    };
    let log = Log::open(dir.path(), verify).unwrap();
    assert!(
        log.recovery_report().is_clean(),
        "{:?}",
        log.recovery_report()
    );
    let records = all(&log);
    assert_eq!(records.len(), 2000);
    for (i, (lsn, bytes)) in records.iter().enumerate() {
        assert_eq!(*lsn, i as u64 + 1);
        assert_eq!(bytes, &payload(*lsn));
    }
    for lsn in [1, 2, 777, 1999, 2000] {
        assert_eq!(log.read(Lsn(lsn)).unwrap(), Some(payload(lsn)));
    }
    assert_eq!(log.read(Lsn(2001)).unwrap(), None);
    assert_eq!(log.append(b"next").unwrap(), Lsn(2001));
}

#[test]
fn truncate_after_then_append_reuses_lsns() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 1..=1000 {
        log.append(&payload(i)).unwrap();
    }
    log.truncate_after(Lsn(300)).unwrap();
    assert_eq!(log.last_lsn(), Lsn(300));
    assert_eq!(log.append(b"new").unwrap(), Lsn(301));
    let records = all(&log);
    assert_eq!(records.len(), 301);
    assert_eq!(records[300].1, b"new");
    log.close().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    let records = all(&log);
    assert_eq!(records.len(), 301);
    assert_eq!(records[299].1, payload(300));
    assert_eq!(records[300].1, b"new");
}

#[test]
fn truncate_before_removes_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 1..=1000 {
        log.append(&payload(i)).unwrap();
    }
    let before = log.segments().len();
    let removed = log.truncate_before(Lsn(500)).unwrap();
    assert!(removed > 0);
    assert_eq!(log.segments().len(), before - removed);
    let first = log.first_lsn().unwrap();
    assert!(first <= Lsn(500));
    let records = all(&log);
    assert_eq!(records.last().unwrap().0, 1000);
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    assert_eq!(log.first_lsn(), Some(first));
}

#[test]
fn torn_tail_is_truncated_and_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 1..=10 {
        log.append(&payload(i)).unwrap();
    }
    log.sync().unwrap();
    for i in 11..=12 {
        log.append(&payload(i)).unwrap();
    }
    let last = log.segments().last().unwrap().clone();
    drop(log);
    // Damage the last record (after the last commit marker).
    let mut bytes = std::fs::read(&last.path).unwrap();
    let end = last.bytes_used as usize;
    bytes[end - 5] ^= 0xff;
    std::fs::write(&last.path, &bytes).unwrap();
    let strict = Log::open(
        dir.path(),
        Options {
            recovery: RecoveryMode::Strict,
            ..small()
        },
    );
    assert!(matches!(strict, Err(Error::TornTail { .. })), "{strict:?}");
    let log = Log::open(dir.path(), small()).unwrap();
    let report = log.recovery_report();
    assert!(matches!(
        report.segments.last().unwrap().outcome,
        Outcome::TornTail { .. }
    ));
    assert_eq!(report.quarantine_files().count(), 1);
    assert_eq!(all(&log).len(), 11);
}

#[test]
fn damage_before_a_commit_marker_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 1..=10 {
        log.append(&payload(i)).unwrap();
    }
    log.sync().unwrap();
    log.append(&payload(11)).unwrap();
    log.sync().unwrap();
    let last = log.segments().last().unwrap().clone();
    drop(log);
    let mut bytes = std::fs::read(&last.path).unwrap();
    bytes[64 + 30] ^= 0xff; // payload of record 1
    std::fs::write(&last.path, &bytes).unwrap();
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                offset: 64,
                last_good_lsn: Lsn(0),
                ..
            }
        ),
        "{err}"
    );
    let ro = Log::open_read_only(dir.path(), small());
    assert!(ro.is_err());
    let log = Log::open(
        dir.path(),
        Options {
            recovery: RecoveryMode::SkipCorrupt,
            ..small()
        },
    )
    .unwrap();
    let records = all(&log);
    assert_eq!(records.len(), 10);
    assert_eq!(records[0].0, 2);
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    assert_eq!(all(&log).len(), 10);
}

#[test]
fn damage_in_a_sealed_segment_is_found_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 1..=1000 {
        log.append(&payload(i)).unwrap();
    }
    let first = log.segments()[0].clone();
    drop(log);
    let mut bytes = std::fs::read(&first.path).unwrap();
    bytes[200] ^= 1;
    std::fs::write(&first.path, &bytes).unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    let reader = log.reader();
    let result: Result<Vec<_>, _> = reader.iter().collect();
    assert!(matches!(result, Err(Error::Corrupt { .. })));
    drop(log);
    let verify = Log::open(
        dir.path(),
        Options {
            verify_sealed_on_open: true,
            ..small()
        },
    );
    assert!(matches!(verify, Err(Error::Corrupt { .. })));
    let log = Log::open(
        dir.path(),
        Options {
            recovery: RecoveryMode::SkipCorrupt,
            ..small()
        },
    )
    .unwrap();
    let n = all(&log).len();
    assert!((990..1000).contains(&n), "{n}");
    drop(log);
    let log = Log::open(
        dir.path(),
        Options {
            verify_sealed_on_open: true,
            ..small()
        },
    )
    .unwrap();
    assert_eq!(all(&log).len(), n);
}

#[test]
fn second_writer_is_refused_and_readers_see_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    log.append(b"a").unwrap();
    assert!(matches!(
        Log::open(dir.path(), small()),
        Err(Error::Locked { .. })
    ));
    let ro = Log::open_read_only(dir.path(), small()).unwrap();
    assert_eq!(all(&ro).len(), 1);
    assert!(matches!(ro.append(b"x"), Err(Error::ReadOnly { .. })));
}

#[test]
fn concurrent_appenders_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(
        Log::open(
            dir.path(),
            Options {
                durability: Durability::EveryAppend,
                ..small()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let lsn = log.append(format!("{t}-{i}").as_bytes()).unwrap();
                    assert!(log.durable_lsn() >= lsn);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(all(&log).len(), 400);
}

#[test]
fn batches_are_atomic_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    let batch: Vec<Vec<u8>> = (0..50).map(payload).collect();
    for _ in 0..20 {
        log.append_batch(&batch).unwrap();
    }
    assert_eq!(all(&log).len(), 1000);
    let huge = vec![vec![0u8; 8000]; 3];
    assert!(matches!(
        log.append_batch(&huge),
        Err(Error::BatchTooLarge { .. })
    ));
    assert!(matches!(
        log.append(&vec![0; 20_000]),
        Err(Error::RecordTooLarge { .. })
    ));
}

#[test]
fn retention_limits_segments_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        retention: interstice::Retention {
            segments_max: Some(3),
            bytes_max: None,
        },
        ..small()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    for i in 1..=3000 {
        log.append(&payload(i)).unwrap();
    }
    assert_eq!(log.segments().len(), 3);
    let records = all(&log);
    assert_eq!(records.last().unwrap().0, 3000);
    assert!(
        records.first().unwrap().0 > 1,
        "old records must have been removed"
    );
    drop(log);

    let options = Options {
        retention: interstice::Retention {
            segments_max: None,
            bytes_max: Some(40 * 1024),
        },
        ..small()
    };
    let log = Log::open(dir.path(), options).unwrap();
    log.append(b"more").unwrap();
    log.rotate_now().unwrap();
    let bytes: u64 = log.segments().iter().map(|s| s.file_len).sum();
    assert!(bytes <= 40 * 1024, "{bytes}");
    assert_eq!(all(&log).last().unwrap().1, b"more");
}

#[test]
fn clean_close_reopens_clean_and_crash_garbage_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    log.append(b"a").unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    assert!(log.recovery_report().is_clean());
    log.append(b"b").unwrap();
    log.sync().unwrap();
    let last = log.segments().last().unwrap().clone();
    drop(log); // no clean close: the next open checks the unused space
    let mut bytes = std::fs::read(&last.path).unwrap();
    bytes[last.bytes_used as usize + 200] = 0x5a; // a stray page landed after the end
    std::fs::write(&last.path, &bytes).unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    assert!(matches!(
        log.recovery_report().segments.last().unwrap().outcome,
        Outcome::TornTail { .. }
    ));
    assert_eq!(all(&log).len(), 2);
}

#[test]
fn payload_damage_after_a_clean_close_is_found_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 1..=5 {
        log.append(&payload(i)).unwrap();
    }
    log.close().unwrap();
    let last = Log::open_read_only(dir.path(), small())
        .unwrap()
        .segments()
        .last()
        .unwrap()
        .clone();
    let mut bytes = std::fs::read(&last.path).unwrap();
    bytes[64 + 24 + 2] ^= 1; // the payload of record 1
    std::fs::write(&last.path, &bytes).unwrap();
    // Opening walks headers only after a clean close; reading checks the payload.
    let log = Log::open(dir.path(), small()).unwrap();
    let reader = log.reader();
    let first = reader.iter().next().unwrap();
    assert!(
        matches!(first, Err(Error::Corrupt { offset: 64, .. })),
        "{first:?}"
    );
}

/// A clean close of a segment that holds no record yet (just rotated, or just created by a
/// suffix truncation) wrote a marker naming LSN 0 instead of the LSN before the segment's
/// base, and the next open took it for a torn tail.
#[test]
fn clean_close_of_an_empty_segment_reopens_clean() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    log.append(b"a").unwrap();
    log.append(b"b").unwrap();
    log.rotate_now().unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    assert!(
        log.recovery_report().is_clean(),
        "{:?}",
        log.recovery_report()
    );
    log.truncate_after(Lsn(1)).unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    assert!(
        log.recovery_report().is_clean(),
        "{:?}",
        log.recovery_report()
    );
    assert_eq!(log.append(b"c").unwrap(), Lsn(2));
}
