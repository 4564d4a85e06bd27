//! Readers iterate while a writer appends, rotates and removes old segments under them:
//! every reader sees a contiguous run of records with the right bytes, never part of a
//! batch, and at least what was published before it was taken.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use interstice::{Error, Log, LogReader, Lsn, Options};

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Log>();
    send_sync::<LogReader>();
};

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn payload(lsn: u64) -> Vec<u8> {
    let h = mix(lsn);
    let len = if h.is_multiple_of(50) { 2000 } else { h % 300 };
    (0..len).map(|i| (h as u8) ^ (i as u8)).collect()
}

/// True when `lsn` ends a batch (batches have 1 to 6 records).
fn ends_batch(lsn: u64) -> bool {
    lsn.is_multiple_of(6) || mix(lsn ^ 0x77).is_multiple_of(2)
}

const RECORDS: u64 = 3000;

fn writer(log: &Log, done: &AtomicBool, retained_from: &AtomicU64) {
    let mut next = 1;
    while next <= RECORDS {
        let mut last = next;
        while !ends_batch(last) {
            last += 1;
        }
        let payloads: Vec<Vec<u8>> = (next..=last).map(payload).collect();
        let appended = if payloads.len() == 1 {
            log.append(&payloads[0]).unwrap()
        } else {
            log.append_batch(&payloads).unwrap()
        };
        assert_eq!(appended, Lsn(last));
        next = last + 1;
        match mix(last) % 40 {
            0 => log.rotate_now().unwrap(),
            1 => {
                log.sync().unwrap();
            }
            2 | 3 => {
                // Retention: keep roughly the last 400 records.
                let keep_from = last.saturating_sub(400);
                log.truncate_before(Lsn(keep_from)).unwrap();
                retained_from.fetch_max(keep_from, Ordering::AcqRel);
            }
            _ => {}
        }
    }
    done.store(true, Ordering::Release);
}

/// Checks one snapshot's records from `from`: contiguous, right bytes, ending on a batch
/// boundary at or after `published`.
fn check_snapshot(reader: &LogReader, from: Lsn, published: Lsn) -> u64 {
    let mut expected: Option<u64> = None;
    let mut count = 0;
    for record in reader.iter_from(from) {
        let record = record.unwrap();
        let lsn = record.lsn.0;
        assert!(lsn >= from.0, "iter_from({from}) yielded {lsn}");
        if let Some(expected) = expected {
            assert_eq!(lsn, expected, "a hole in a reader's view");
        }
        assert_eq!(record.payload, payload(lsn), "wrong bytes at {lsn}");
        expected = Some(lsn + 1);
        count += 1;
    }
    let last = expected.map_or(0, |next| next - 1);
    if count > 0 {
        assert!(
            ends_batch(last),
            "a reader saw part of a batch ending at {last}"
        );
    }
    assert!(
        last >= published.0 || (count == 0 && from > published),
        "a reader taken after {published} was published saw only up to {last}"
    );
    count
}

fn reader_loop(log: &Log, done: &AtomicBool, retained_from: &AtomicU64, seed: u64) -> u64 {
    let mut round = seed;
    let mut records_seen = 0;
    while !done.load(Ordering::Acquire) {
        round = mix(round);
        let published = log.last_lsn();
        let reader = log.reader();
        let from = match round % 3 {
            0 => Lsn::ZERO,
            _ => Lsn(retained_from.load(Ordering::Acquire) + round % 300),
        };
        records_seen += check_snapshot(&reader, from.min(published), published);
        // Point lookups through the sparse index, on the same snapshot.
        let lsn = Lsn(published.0.saturating_sub(round % 500).max(1));
        if let Some(record) = reader.get(lsn).unwrap() {
            assert_eq!(record.payload, payload(lsn.0));
        }
        // Replay walks and releases segments as it goes; files may vanish meanwhile.
        let mut previous = None;
        let replayed = log.replay(from, |record| {
            assert_eq!(record.payload, payload(record.lsn.0));
            if let Some(previous) = previous {
                assert_eq!(record.lsn.0, previous + 1);
            }
            previous = Some(record.lsn.0);
            Ok::<(), Error>(())
        });
        replayed.unwrap();
    }
    records_seen
}

#[test]
fn readers_see_a_prefix_while_the_writer_rotates_and_retention_removes_segments() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 16 * 1024,
        ..Options::default()
    };
    let log = Arc::new(Log::open(dir.path(), options.clone()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let retained_from = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..3)
        .map(|seed| {
            let (log, done, retained) = (log.clone(), done.clone(), retained_from.clone());
            thread::spawn(move || reader_loop(&log, &done, &retained, seed))
        })
        .collect();
    writer(&log, &done, &retained_from);
    for reader in readers {
        assert!(reader.join().unwrap() > 0, "a reader saw nothing");
    }
    assert!(
        log.first_lsn().unwrap() > Lsn(1),
        "retention removed nothing"
    );
    // A snapshot taken before retention keeps reading removed files.
    let old = log.reader();
    let first = log.first_lsn().unwrap();
    log.truncate_before(Lsn(RECORDS)).unwrap();
    assert!(
        log.first_lsn().unwrap() > first,
        "truncate_before removed nothing"
    );
    assert_eq!(
        check_snapshot(&old, first, Lsn(RECORDS)),
        RECORDS - first.0 + 1
    );
    let log = Arc::into_inner(log).unwrap();
    log.close().unwrap();
    let reopened = Log::open(dir.path(), options).unwrap();
    assert_eq!(reopened.last_lsn(), Lsn(RECORDS));
    check_snapshot(&reopened.reader(), Lsn::ZERO, Lsn(RECORDS));
}

/// The ids of the segment files named in `dir` (temporary files of segments being prepared
/// or not yet named are not part of the log).
fn named_segments(dir: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn rotations_faster_than_seals_name_segments_in_order() {
    // Each rotation seals the previous segment in the background; rotating again before that
    // seal ends chains the seals, and the segment files must still appear without a gap.
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 64 * 1024,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    let done = AtomicBool::new(false);
    let rotations = 300;
    let gaps = thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut gaps = Vec::new();
            let mut looks = 0u64;
            while !done.load(Ordering::Acquire) || looks == 0 {
                let ids = named_segments(dir.path());
                if ids.windows(2).any(|w| w[1] != w[0] + 1) {
                    gaps.push(ids);
                }
                looks += 1;
            }
            gaps
        });
        for i in 0..rotations {
            for j in 0..20u64 {
                log.append(&payload(i * 20 + j + 1)).unwrap();
            }
            log.rotate_now().unwrap();
        }
        done.store(true, Ordering::Release);
        watcher.join().unwrap()
    });
    assert!(gaps.is_empty(), "segment files with a gap: {:?}", gaps[0]);
    let last = log.sync().unwrap();
    assert_eq!(last, Lsn(rotations * 20));
    let segments = log.segments();
    assert_eq!(segments.len() as u64, rotations + 1);
    assert!(segments[..segments.len() - 1].iter().all(|s| s.sealed));
    log.close().unwrap();

    let log = Log::open(dir.path(), options).unwrap();
    common::assert_replays(&log, rotations * 20, payload);
    assert_eq!(named_segments(dir.path()).len() as u64, rotations + 1);
}
