//! Forced interleavings of the flush, seal and truncation protocols: a thread is held at a
//! yield point (`crate::points`) while another runs a whole step, and each test checks what
//! the held thread does afterwards against what the flushes made durable (the mappings'
//! shadow of flushed bytes, not the page cache).

use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use super::Log;
use crate::format::footer;
use crate::ids::Lsn;
use crate::options::{Durability, Options};
use crate::points::{Point, hook};
use crate::segment::Segment;
use crate::segment::scan;

fn small_log(dir: &std::path::Path) -> Arc<Log> {
    let options = Options {
        segment_size: 64 * 1024,
        durability: Durability::OnSync,
        ..Options::default()
    };
    Arc::new(Log::open(dir, options).unwrap())
}

fn append_n(log: &Log, n: u64) {
    for _ in 0..n {
        log.append(&[7; 100]).unwrap();
    }
}

/// Holds the thread that runs `work` at the first `point` it reaches until `between` has run
/// on this thread; returns what `work` returned (a test fails rather than hang forever).
fn hold_at<T: Send + 'static>(
    point: Point,
    work: impl FnOnce() -> T + Send + 'static,
    between: impl FnOnce(),
) -> T {
    let reached = Arc::new(Barrier::new(2));
    let resume = Arc::new(Barrier::new(2));
    let (sender, receiver) = mpsc::channel();
    let (held, go) = (Arc::clone(&reached), Arc::clone(&resume));
    let thread = std::thread::spawn(move || {
        let mut once = Some((held, go));
        hook::set(move |at| {
            if at == point
                && let Some((held, go)) = once.take()
            {
                held.wait();
                go.wait();
            }
        });
        let _ = sender.send(work());
    });
    reached.wait();
    between();
    resume.wait();
    let result = receiver
        .recv_timeout(Duration::from_mins(2))
        .expect("the held thread never finished (a sync that spins?)");
    thread.join().unwrap();
    result
}

/// The records of `segment` that the flushes so far made durable (a new segment's file held
/// zeroes before its writer wrote it).
fn durable_records(segment: &Segment) -> (u64, Option<footer::FooterInfo>) {
    let map = segment.mapping();
    let image = map.durable_image(vec![0; map.len()]);
    let config = segment.scan_config(false);
    let walked = scan::scan(&image, segment.capacity(), &config);
    let sealed = footer::decode(&image, segment.header().seed(), segment.capacity())
        .ok()
        .flatten();
    (walked.records, sealed)
}

#[test]
fn a_flush_read_before_a_truncation_does_not_vouch_for_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path());
    append_n(&log, 8);
    let syncing = Arc::clone(&log);
    hold_at(
        Point::FlushDone,
        move || syncing.sync().unwrap(),
        || {
            log.truncate_after(Lsn(4)).unwrap();
            append_n(&log, 3);
        },
    );
    // The held flush covered LSNs up to 8 of the records before the truncation, not the new
    // records 5..=7: only a flush after the truncation may call them durable (the held sync
    // goes on to lead one), and whatever is called durable is in the durable bytes.
    let durable = log.durable_lsn();
    assert!(
        durable <= log.last_lsn(),
        "durable {durable} past the last LSN"
    );
    let active = Arc::clone(log.segments.read().last().unwrap());
    assert_eq!(active.base_lsn(), 5);
    assert!(durable_records(&active).0 >= durable.0 - 4);
    assert_eq!(log.sync().unwrap(), Lsn(7));
    assert_eq!(durable_records(&active).0, 3);
}

#[test]
fn a_sync_begun_before_a_truncation_below_its_target_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path());
    append_n(&log, 8);
    let syncing = Arc::clone(&log);
    let synced = hold_at(
        Point::FlushTaken,
        move || syncing.sync(),
        || log.truncate_after(Lsn(4)).unwrap(),
    );
    assert_eq!(synced.unwrap(), Lsn(4));
    assert_eq!(log.durable_lsn(), Lsn(4));
}

#[test]
fn a_seal_flushes_what_a_flush_in_flight_took_before_its_footer() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path());
    append_n(&log, 20);
    let syncing = Arc::clone(&log);
    hold_at(
        Point::FlushTaken,
        move || syncing.sync().unwrap(),
        || {
            // The flush leader holds the range of records 1..=20 and has not flushed it; the
            // rotation's seal must not put a footer on disk that vouches for them first.
            log.rotate_now().unwrap();
            log.truncate_before(Lsn(1)).unwrap(); // waits for the seal
            let sealed = Arc::clone(&log.segments.read()[0]);
            let (records, footer) = durable_records(&sealed);
            let footer = footer.expect("the seal's footer is durable");
            assert_eq!(footer.records, 20);
            assert_eq!(
                records, 20,
                "the footer reached the disk before its records"
            );
        },
    );
    assert_eq!(log.durable_lsn(), Lsn(20));
}

#[test]
fn a_failed_flush_poisons_and_no_seal_vouches_for_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path());
    append_n(&log, 5);
    log.sync().unwrap();
    append_n(&log, 5);
    let active = Arc::clone(log.segments.read().last().unwrap());
    active.mapping().fail_next_flush();
    assert!(log.sync().is_err());
    assert!(log.append(b"x").is_err(), "the log is poisoned");
    assert!(log.metrics().poisoned, "metrics report the poisoning");
    assert_eq!(log.durable_lsn(), Lsn(5));
    // The kernel reports a write-back error once: a later flush of the same file (the seal's)
    // must not succeed where this one failed.
    assert!(active.mapping().flush(0..4096).is_err());
}

#[test]
fn a_reader_taken_during_a_suffix_truncation_sees_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path());
    append_n(&log, 3);
    log.rotate_now().unwrap();
    append_n(&log, 3);
    log.rotate_now().unwrap();
    append_n(&log, 3);
    let truncating = Arc::clone(&log);
    hold_at(
        Point::SuffixCut,
        move || truncating.truncate_after(Lsn(2)).unwrap(),
        || {
            let reader = log.reader();
            let lsns: Vec<u64> = reader.iter_from(Lsn(1)).map(|r| r.unwrap().lsn.0).collect();
            let contiguous: Vec<u64> = (1..=lsns.len() as u64).collect();
            assert_eq!(lsns, contiguous, "a reader saw a gap");
        },
    );
    let lsns: Vec<u64> = log
        .reader()
        .iter_from(Lsn(1))
        .map(|r| r.unwrap().lsn.0)
        .collect();
    assert_eq!(lsns, [1, 2]);
}
