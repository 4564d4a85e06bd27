//! Followers in the writer's process: every record once and in order across rotations,
//! batches, retention and truncation; durable mode never past the durable LSN.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use interstice::{Error, FollowMode, Log, Lsn, Options, Retention, Waiting};

const SEGMENT: u64 = 64 << 10;

fn options() -> Options {
    Options {
        segment_size: SEGMENT,
        ..Options::default()
    }
}

/// `options()` with retention keeping `segments` segments.
fn keeping(segments: usize) -> Options {
    Options {
        retention: Retention {
            segments_max: Some(segments),
            ..Retention::default()
        },
        ..options()
    }
}

fn payload(lsn: u64) -> Vec<u8> {
    let len = 10 + (lsn * 7919 % 300) as usize;
    let mut bytes = format!("record {lsn} ").into_bytes();
    bytes.resize(len, (lsn % 251) as u8);
    bytes
}

/// Appends `count` records from `first` in single records and batches, syncing now and then.
fn write(log: &Log, first: u64, count: u64) {
    let mut lsn = first;
    let end = first + count;
    while lsn < end {
        let batch = (lsn % 5 + 1).min(end - lsn);
        if batch == 1 {
            assert_eq!(log.append(&payload(lsn)).unwrap(), Lsn(lsn));
        } else {
            let records: Vec<Vec<u8>> = (lsn..lsn + batch).map(payload).collect();
            assert_eq!(log.append_batch(&records).unwrap(), Lsn(lsn + batch - 1));
        }
        lsn += batch;
        if lsn.is_multiple_of(7) {
            log.sync().unwrap();
        }
    }
    log.sync().unwrap();
}

/// Follows until `last` is handed out, checking each record against the payload rule.
fn follow_to(log: &Log, from: Lsn, mode: FollowMode, waiting: Waiting, last: u64) -> u64 {
    let mut follower = log.follow(from, mode).waiting(waiting);
    let mut expected = from.0.max(1);
    let deadline = Instant::now() + Duration::from_mins(1);
    while expected <= last {
        assert!(Instant::now() < deadline, "stuck at LSN {expected}");
        let Some(record) = follower.next(Duration::from_millis(100)).unwrap() else {
            continue;
        };
        assert_eq!(record.lsn, Lsn(expected), "each record once, in order");
        assert_eq!(record.payload, payload(expected).as_slice());
        if mode == FollowMode::Durable {
            assert!(
                log.durable_lsn() >= record.lsn,
                "durable mode past the durable LSN"
            );
        }
        expected += 1;
    }
    expected - 1
}

#[test]
fn followers_see_every_record_once_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), options()).unwrap());
    let total = 6_000;
    thread::scope(|scope| {
        let mut followers = Vec::new();
        for (mode, waiting) in [
            (FollowMode::Durable, Waiting::Block),
            (FollowMode::Appended, Waiting::Block),
            (FollowMode::Appended, Waiting::Spin),
            (FollowMode::Durable, Waiting::Spin),
        ] {
            let log = &log;
            followers.push(scope.spawn(move || follow_to(log, Lsn::ZERO, mode, waiting, total)));
        }
        write(&log, 1, total);
        for follower in followers {
            assert_eq!(follower.join().unwrap(), total);
        }
    });
    assert!(log.segments().len() > 5, "the test crosses rotations");
}

#[test]
fn a_follower_starts_anywhere_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    write(&log, 1, 3_000);
    for from in [1, 2, 999, 1_500, 2_999, 3_000] {
        assert_eq!(
            follow_to(&log, Lsn(from), FollowMode::Durable, Waiting::Block, 3_000),
            3_000
        );
    }
    let mut follower = log.follow(Lsn(3_001), FollowMode::Durable);
    assert!(follower.try_next().unwrap().is_none());
    log.append(&payload(3_001)).unwrap();
    assert!(follower.try_next().unwrap().is_none(), "not durable yet");
    let mut appended = log.follow(Lsn(3_001), FollowMode::Appended);
    assert_eq!(appended.try_next().unwrap().unwrap().lsn, Lsn(3_001));
    log.sync().unwrap();
    assert_eq!(follower.try_next().unwrap().unwrap().lsn, Lsn(3_001));
}

#[test]
fn durable_mode_waits_for_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    let mut follower = log.follow(Lsn::ZERO, FollowMode::Durable);
    log.append(b"one").unwrap();
    assert!(follower.next(Duration::from_millis(50)).unwrap().is_none());
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            log.sync().unwrap();
        });
        let record = follower.next(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(record.payload, b"one");
    });
}

#[test]
fn a_truncation_below_what_was_read_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    write(&log, 1, 20);
    let mut follower = log.follow(Lsn::ZERO, FollowMode::Durable);
    for lsn in 1..=10 {
        assert_eq!(follower.try_next().unwrap().unwrap().lsn, Lsn(lsn));
    }
    let mut behind = log.follow(Lsn::ZERO, FollowMode::Durable);
    for lsn in 1..=3 {
        assert_eq!(behind.try_next().unwrap().unwrap().lsn, Lsn(lsn));
    }
    log.truncate_after(Lsn(5)).unwrap();
    log.append(b"new six").unwrap();
    log.sync().unwrap();
    match follower.try_next() {
        Err(Error::FollowerTruncated { kept, position, .. }) => {
            assert_eq!((kept, position), (Lsn(5), Lsn(10)));
        }
        other => panic!("expected a truncation error, got {other:?}"),
    }
    for lsn in 4..=5 {
        assert_eq!(behind.try_next().unwrap().unwrap().lsn, Lsn(lsn));
    }
    let six = behind.try_next().unwrap().unwrap();
    assert_eq!((six.lsn, six.payload), (Lsn(6), &b"new six"[..]));
    assert!(behind.try_next().unwrap().is_none());
}

#[test]
fn a_follower_behind_retention_gets_an_error_naming_the_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let options = keeping(2);
    let log = Log::open(dir.path(), options).unwrap();
    write(&log, 1, 10);
    let mut follower = log.follow(Lsn::ZERO, FollowMode::Durable);
    assert_eq!(follower.try_next().unwrap().unwrap().lsn, Lsn(1));
    write(&log, 11, 4_000);
    let mut seen = 1;
    let error = loop {
        match follower.try_next() {
            Ok(Some(record)) => {
                seen += 1;
                assert_eq!(record.lsn, Lsn(seen));
            }
            Ok(None) => panic!("no error though retention removed segments"),
            Err(error) => break error,
        }
    };
    match error {
        Error::FollowerBehind { needed, .. } => assert_eq!(needed, Lsn(seen + 1)),
        other => panic!("expected FollowerBehind, got {other}"),
    }
    assert!(error_text_names_dir(&log, seen + 1));
}

fn error_text_names_dir(log: &Log, needed: u64) -> bool {
    let mut follower = log.follow(Lsn(needed), FollowMode::Durable);
    match follower.try_next() {
        Err(error) => error.to_string().contains(log.dir().to_str().unwrap()),
        Ok(_) => true,
    }
}

#[test]
fn many_followers_at_once_under_concurrent_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    let per_thread = 1_500u64;
    let appenders = 4u64;
    let total = per_thread * appenders;
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let mut followers = Vec::new();
        for i in 0..8u32 {
            let log = &log;
            let mode = if i.is_multiple_of(2) {
                FollowMode::Durable
            } else {
                FollowMode::Appended
            };
            followers.push(scope.spawn(move || {
                let mut follower = log.follow(Lsn::ZERO, mode);
                let mut next = 1;
                while next <= total {
                    if let Some(record) = follower.next(Duration::from_secs(30)).unwrap() {
                        assert_eq!(record.lsn, Lsn(next));
                        next += 1;
                    } else {
                        panic!("stuck at {next}");
                    }
                }
            }));
        }
        for t in 0..appenders {
            let log = &log;
            scope.spawn(move || {
                for i in 0..per_thread {
                    log.append(format!("{t} {i}").as_bytes()).unwrap();
                    if i.is_multiple_of(50) {
                        log.sync().unwrap();
                    }
                }
                log.sync().unwrap();
            });
        }
        for follower in followers {
            follower.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    assert!(done.load(Ordering::Relaxed));
}

#[test]
fn read_only_opens_during_appends_never_report_damage() {
    /// Stops the writer however the test ends.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let _stop = Stop(&done);
        scope.spawn(|| {
            let mut lsn = 1;
            while !done.load(Ordering::Relaxed) && lsn < 1_000_000 {
                write(&log, lsn, 50);
                lsn += 50;
            }
        });
        for _ in 0..300 {
            let reader = Log::open_read_only(dir.path(), options())
                .unwrap_or_else(|e| panic!("a read-only open during appends: {e}"));
            let held = reader.last_lsn().0;
            let mut follower =
                reader.follow(Lsn(held.saturating_sub(20).max(1)), FollowMode::Appended);
            while let Some(record) = follower.try_next().unwrap() {
                assert_eq!(record.payload, payload(record.lsn.0).as_slice());
            }
        }
    });
}

#[test]
fn drain_hands_out_what_next_would_in_the_same_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    write(&log, 1, 2_500);
    let mut follower = log.follow(Lsn(7), FollowMode::Durable);
    let mut seen = Vec::new();
    // Small and odd limits cross the batches found ahead.
    while follower
        .drain(37, |record| {
            seen.push((record.lsn.0, record.payload.to_vec()));
        })
        .unwrap()
        > 0
    {}
    let expected: Vec<_> = (7..=2_500).map(|lsn| (lsn, payload(lsn))).collect();
    assert_eq!(seen, expected);
    assert_eq!(follower.position(), Lsn(2_500));
    // A truncation below what was drained is reported, as by `next`.
    log.truncate_after(Lsn(2_000)).unwrap();
    let error = follower
        .drain(10, |_| panic!("nothing to hand out"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::FollowerTruncated {
                kept: Lsn(2_000),
                ..
            }
        ),
        "{error}"
    );
}

/// Mappings of files in `dir` by this process.
fn mappings_of(dir: &std::path::Path) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let dir = dir.to_str().unwrap();
    maps.lines().filter(|line| line.contains(dir)).count()
}

#[test]
fn a_follower_holds_no_more_than_the_segment_it_is_in() {
    let dir = tempfile::tempdir().unwrap();
    let options = keeping(4);
    let log = Log::open(dir.path(), options.clone()).unwrap();
    write(&log, 1, 100);
    let reader = Log::open_read_only(dir.path(), options).unwrap();
    let mut follower = reader.follow(Lsn::ZERO, FollowMode::Durable);
    let mut next = 1;
    let mut most = 0;
    // About 60 segments, each followed as it is written; the writer keeps four.
    for round in 0..60 {
        let first = 101 + round * 300;
        write(&log, first, 300);
        while follower
            .drain(1_000, |record| {
                assert_eq!(record.lsn, Lsn(next));
                next += 1;
            })
            .unwrap()
            > 0
        {}
        most = most.max(mappings_of(dir.path()));
    }
    assert_eq!(next, 101 + 60 * 300);
    assert!(log.segments().len() <= 5);
    // The writer's segments and beacon, the read-only log's own, the follower's one or two.
    assert!(
        most <= 12,
        "{most} mappings: the follower keeps segments it left"
    );
}

#[test]
fn after_a_cut_far_behind_the_writer_a_follower_reads_the_new_records_not_the_removed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    write(&log, 1, 2_000);
    assert!(log.segments().len() >= 4, "the writer is segments ahead");
    let first_end = log.segments()[0].last_lsn.unwrap().0;
    let mut follower = log.follow(Lsn::ZERO, FollowMode::Durable);
    // Into the first segment, then to its end: the follower has looked at its successor.
    let x = first_end - 10;
    for lsn in 1..=first_end {
        assert_eq!(follower.try_next().unwrap().unwrap().lsn, Lsn(lsn));
        if lsn == x {
            break;
        }
    }
    log.truncate_after(Lsn(x)).unwrap();
    for lsn in x + 1..=x + 40 {
        log.append(format!("new {lsn}").as_bytes()).unwrap();
    }
    log.sync().unwrap();
    for lsn in x + 1..=x + 40 {
        let record = follower.next(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(record.lsn, Lsn(lsn));
        assert_eq!(
            record.payload,
            format!("new {lsn}").as_bytes(),
            "a removed record"
        );
    }
    assert!(follower.try_next().unwrap().is_none());
}
