//! The crash simulator. Threads drive one log under a seeded schedule (appenders in the
//! log's durability mode, with batches; a sync loop; rotations; suffix truncations;
//! retention; readers), then the machine "crashes": each segment file is rebuilt from what
//! the flushes made durable (the mappings' shadow, not the page cache) plus a random subset
//! of the 512-byte sectors written since, in any order. The log reopened from that image must
//! hold every acknowledged record byte for byte, no record that a completed truncation
//! removed, and LSNs without a gap. A rename or a removal is durable only once its directory
//! is fsynced (`disk::file::journal`): the crash undoes a random suffix of those that are not.
//! Half the seeds crash in the middle of the schedule instead of at its end: at a yield point
//! (inside a flush or a rewind), while the other threads run on.
//!
//! Acknowledged: an `EveryAppend` append that returned, or a record appended before a `sync`
//! began whose LSN is at or below what that sync returned; unless a truncation to below its
//! LSN ended after the record's append began (it may have removed it). Every payload is
//! unique, so a record that reappears after its removal is seen.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::Log;
use crate::disk::file::journal::{self, Pending};
use crate::disk::mmap::shadow::Simulation;
use crate::ids::Lsn;
use crate::options::{Durability, Options};
use crate::points::{Point, hook};

/// splitmix64: a small seeded generator, one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One append call's records.
#[derive(Clone, Debug)]
struct Appended {
    lsn: u64,
    payload: Vec<u8>,
    start: u64,
    end: u64,
    acked: bool,
}

#[derive(Clone, Copy, Debug)]
struct Cut {
    x: u64,
    start: u64,
    end: u64,
}

#[derive(Clone, Copy, Debug)]
struct Synced {
    durable: u64,
    start: u64,
    end: u64,
}

/// What the threads did, stamped with one global clock.
#[derive(Default)]
struct History {
    clock: AtomicU64,
    appended: Mutex<Vec<Appended>>,
    cuts: Mutex<Vec<Cut>>,
    syncs: Mutex<Vec<Synced>>,
    retained_from: AtomicU64,
}

impl History {
    fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::AcqRel)
    }

    /// True when a truncation to below `lsn`, begun before the crash at `at`, ended after
    /// `start` (it may have removed the record appended then).
    fn maybe_cut(&self, lsn: u64, start: u64, at: u64) -> bool {
        self.cuts
            .lock()
            .iter()
            .any(|c| c.x < lsn && c.end > start && c.start < at)
    }

    /// True when a truncation to below `lsn` began after `end` and ended before the crash at
    /// `at` (it surely removed the record).
    fn surely_cut(&self, lsn: u64, end: u64, at: u64) -> bool {
        self.cuts
            .lock()
            .iter()
            .any(|c| c.x < lsn && c.start > end && c.end < at)
    }

    /// Acknowledged before the crash at `at`.
    fn acknowledged(&self, record: &Appended, at: u64) -> bool {
        let by_sync = || {
            self.syncs
                .lock()
                .iter()
                .any(|s| record.end < s.start && record.lsn <= s.durable && s.end < at)
        };
        ((record.acked && record.end < at) || by_sync())
            && !self.maybe_cut(record.lsn, record.start, at)
    }
}

/// A crash in the middle of the schedule: the thread that reaches the chosen yield point
/// takes the image of the disk there (inside a flush or a rewind), while the
/// other threads run on; only what happened before that instant is checked.
struct MidCrash {
    log: Arc<Log>,
    history: Arc<History>,
    /// Yield points still to be reached before the crash.
    remaining: AtomicU64,
    seed: u64,
    /// The clock at the crash and the image.
    image: Mutex<Option<(u64, tempfile::TempDir)>>,
}

impl MidCrash {
    fn reached(&self, point: Point) {
        // Between removing and creating files and showing the cut, the list and the
        // directory disagree: a listed segment's name may already be a new file, whose flushes
        // a copy made from the list cannot see. The removal and creation are modeled by the
        // directory journal instead.
        if point == Point::SuffixCut {
            return;
        }
        let previous = self
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if previous == Ok(1) {
            let at = self.history.now();
            let dir = tempfile::tempdir().unwrap();
            crash_image(&self.log, dir.path(), &mut Rng(self.seed ^ 0xc4a5), false);
            *self.image.lock() = Some((at, dir));
        }
    }
}

/// Holds this thread at the protocols' yield points for a seeded while (nothing, a yield or
/// a short sleep), so that other threads' steps land inside its windows; and crashes there
/// when `crash` says so.
fn schedule(seed: u64, crash: Option<Arc<MidCrash>>) {
    let mut rng = Rng(seed);
    hook::set(move |point| {
        if let Some(crash) = &crash {
            crash.reached(point);
        }
        match rng.below(8) {
            0..=2 => {}
            3 | 4 => std::thread::yield_now(),
            7 => std::thread::sleep(std::time::Duration::from_micros(500)),
            n => std::thread::sleep(std::time::Duration::from_micros(40 * n)),
        }
    });
}

fn payload(thread: u64, n: u64, rng: &mut Rng) -> Vec<u8> {
    let spread = if rng.below(8) == 0 { 3000 } else { 200 };
    let len = 16 + rng.below(spread) as usize;
    let mut bytes = vec![(thread * 31 + n) as u8; len];
    bytes[..8].copy_from_slice(&thread.to_le_bytes());
    bytes[8..16].copy_from_slice(&n.to_le_bytes());
    bytes
}

fn appender(
    log: &Log,
    history: &History,
    crash: Option<Arc<MidCrash>>,
    thread: u64,
    ops: u64,
    rng: &mut Rng,
) {
    schedule(rng.next(), crash);
    let every = log.options().durability == Durability::EveryAppend;
    for n in 0..ops {
        let count = if rng.below(4) == 0 {
            1 + rng.below(4)
        } else {
            1
        };
        let payloads: Vec<Vec<u8>> = (0..count)
            .map(|i| payload(thread, n * 8 + i, rng))
            .collect();
        let start = history.now();
        let result = if count == 1 {
            log.append(&payloads[0])
        } else {
            log.append_batch(&payloads)
        };
        let end = history.now();
        let last = result.expect("append").0;
        let mut appended = history.appended.lock();
        for (i, payload) in payloads.into_iter().enumerate() {
            appended.push(Appended {
                lsn: last + 1 - count + i as u64,
                payload,
                start,
                end,
                acked: every,
            });
        }
        drop(appended);
        match rng.below(40) {
            0 => log.rotate_now().expect("rotate"),
            1 if thread == 0 => {
                let last = log.last_lsn().0;
                let x = last.saturating_sub(rng.below(6));
                let start = history.now();
                log.truncate_after(Lsn(x)).expect("truncate_after");
                let end = history.now();
                history.cuts.lock().push(Cut { x, start, end });
            }
            2 if thread == 0 => {
                let from = log.last_lsn().0.saturating_sub(60);
                history.retained_from.fetch_max(from, Ordering::AcqRel);
                log.truncate_before(Lsn(from)).expect("truncate_before");
            }
            _ => {}
        }
    }
}

fn syncer(
    log: &Log,
    history: &History,
    crash: Option<Arc<MidCrash>>,
    done: &AtomicBool,
    seed: u64,
) {
    schedule(seed, crash);
    while !done.load(Ordering::Acquire) {
        let start = history.now();
        let durable = log.sync().expect("sync").0;
        let end = history.now();
        history.syncs.lock().push(Synced {
            durable,
            start,
            end,
        });
        std::thread::yield_now();
    }
}

fn reader(log: &Log, done: &AtomicBool, seed: u64) {
    let mut rng = Rng(seed);
    while !done.load(Ordering::Acquire) {
        // Idle at times, so that truncations find the active segment free to rewind in place.
        if rng.below(2) == 0 {
            std::thread::sleep(std::time::Duration::from_micros(100 + rng.below(400)));
            continue;
        }
        let reader = log.reader();
        let mut previous: Option<u64> = None;
        for record in reader.iter_from(Lsn(1)) {
            let lsn = record.expect("a reader reads what was published").lsn.0;
            if let Some(previous) = previous {
                assert_eq!(lsn, previous + 1, "a reader saw a gap");
            }
            previous = Some(lsn);
        }
    }
}

/// Ends the process when `finished` stays false for a minute: a thread that never returns
/// (a sync spinning after a truncation) would otherwise hang the test run.
fn watchdog(seed: u64, finished: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while !finished() {
        if std::time::Instant::now() > deadline {
            eprintln!("seed {seed}: a thread of the schedule never finished (a spinning sync?)");
            std::process::abort();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The disk a crash would leave: every segment file of `log` from its durable bytes plus a
/// random subset of the sectors written since, into `to`. `settled`: after the schedule,
/// with background seals finished; otherwise in the middle of it, by a thread that may hold
/// the writer lock, where a listed segment may not be named yet, or removed already.
fn crash_image(log: &Log, to: &Path, rng: &mut Rng, settled: bool) {
    const SECTOR: usize = 512;
    if settled {
        let mut writer = log.writer.lock();
        if let Some(writer) = writer.as_mut() {
            log.finish_sealing(writer).expect("seal");
        }
    }
    // No rename or removal between the copies of two files: the image is of one instant.
    let _copying = journal::copying();
    let segments = log.segments.read().clone();
    for segment in segments {
        let volatile = match std::fs::read(segment.path()) {
            Ok(bytes) => bytes,
            Err(e) if !settled && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", segment.path().display()),
        };
        let mut image = segment
            .mapping()
            .durable_image_of_small()
            .expect("simulated segments are small");
        let keep = rng.below(4); // 0: none of the unflushed sectors, else a random part
        for (sector, bytes) in image.chunks_mut(SECTOR).enumerate() {
            let at = sector * SECTOR;
            let written = &volatile[at..at + bytes.len()];
            if written != bytes && keep > 0 && rng.below(4) < keep {
                bytes.copy_from_slice(written);
            }
        }
        let name = segment.path().file_name().expect("a file name");
        std::fs::write(to.join(name), image).unwrap();
    }
    undo_some_pending(log.dir(), to, rng);
}

/// Directory changes no fsync made durable: the crash keeps a random prefix of them (a
/// journaling file system applies them in order) and undoes the rest, newest first, in the
/// image `to` of the log directory `dir`.
fn undo_some_pending(dir: &Path, to: &Path, rng: &mut Rng) {
    let pending = journal::pending_in(dir);
    let kept = rng.below(pending.len() as u64 + 1) as usize;
    for change in pending[kept..].iter().rev() {
        match change {
            Pending::Renamed { from, to: name } => {
                let image = to.join(name.file_name().expect("a file name"));
                if image.exists() {
                    std::fs::rename(&image, to.join(from.file_name().expect("a file name")))
                        .unwrap();
                }
            }
            Pending::Removed { path, bytes } => {
                std::fs::write(to.join(path.file_name().expect("a file name")), bytes).unwrap();
            }
        }
    }
}

/// Checks the log recovered from a crash at clock `at` against what happened before it.
fn check_recovered(dir: &Path, options: &Options, history: &History, seed: u64, at: u64) {
    let log = Log::open(dir, options.clone())
        .unwrap_or_else(|e| panic!("seed {seed}: the crashed log does not open: {e}"));
    let mut held = BTreeMap::new();
    let reader = log.reader();
    let mut previous: Option<u64> = None;
    for record in reader.iter_from(Lsn(1)) {
        let record = record.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        if let Some(previous) = previous {
            assert_eq!(record.lsn.0, previous + 1, "seed {seed}: LSN gap");
        }
        previous = Some(record.lsn.0);
        held.insert(record.lsn.0, record.payload.to_vec());
    }
    let retained_from = history.retained_from.load(Ordering::Acquire);
    for record in history.appended.lock().iter() {
        let found = held.get(&record.lsn);
        if history.acknowledged(record, at) && record.lsn >= retained_from {
            assert_eq!(
                found,
                Some(&record.payload),
                "seed {seed}: acknowledged LSN {} lost or changed (durable {:?})",
                record.lsn,
                log.durable_lsn()
            );
        }
        if history.surely_cut(record.lsn, record.end, at) {
            assert_ne!(
                found,
                Some(&record.payload),
                "seed {seed}: LSN {} reappeared after its truncation",
                record.lsn
            );
        }
    }
}

/// Runs one seeded schedule, crashes, recovers and checks.
fn simulate(seed: u64) {
    let mut rng = Rng(seed);
    let durability = match rng.below(3) {
        0 => Durability::EveryAppend,
        1 => Durability::OnSync,
        _ => Durability::None,
    };
    let options = Options {
        segment_size: 64 * 1024,
        durability,
        ..Options::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), options.clone()).unwrap());
    let history = Arc::new(History::default());
    let done = Arc::new(AtomicBool::new(false));
    let ops = 20 + rng.below(60);
    // Half the seeds crash in the middle, at one of the first yield points reached.
    let mid = (rng.below(2) == 0).then(|| {
        Arc::new(MidCrash {
            log: Arc::clone(&log),
            history: Arc::clone(&history),
            remaining: AtomicU64::new(1 + rng.below(30)),
            seed,
            image: Mutex::new(None),
        })
    });
    std::thread::scope(|scope| {
        let background: Vec<_> = (0..2)
            .map(|i| {
                let (log, history, done) = (&log, &history, &done);
                let crash = mid.clone();
                scope.spawn(move || {
                    if i == 0 {
                        syncer(log, history, crash, done, seed.rotate_left(17));
                    } else {
                        reader(log, done, seed.rotate_left(29));
                    }
                })
            })
            .collect();
        let appenders: Vec<_> = (0..2u64)
            .map(|thread| {
                let (log, history) = (&log, &history);
                let crash = mid.clone();
                let mut rng = Rng(seed ^ (thread + 1).wrapping_mul(0x5851_f42d_4c95_7f2d));
                scope.spawn(move || appender(log, history, crash, thread, ops, &mut rng))
            })
            .collect();
        for thread in appenders {
            thread.join().unwrap();
        }
        done.store(true, Ordering::Release);
        watchdog(seed, || {
            background
                .iter()
                .all(std::thread::ScopedJoinHandle::is_finished)
        });
        for thread in background {
            thread.join().unwrap();
        }
    });
    assert!(
        log.durable_lsn() <= log.last_lsn(),
        "seed {seed}: durable {} past last {}",
        log.durable_lsn(),
        log.last_lsn()
    );
    // A schedule that reached fewer yield points than chosen crashes at its end.
    if let Some((at, crashed)) = mid.and_then(|mid| mid.image.lock().take()) {
        drop(log);
        check_recovered(crashed.path(), &options, &history, seed, at);
        return;
    }
    let crashed = tempfile::tempdir().unwrap();
    crash_image(&log, crashed.path(), &mut rng, true);
    drop(log);
    check_recovered(crashed.path(), &options, &history, seed, u64::MAX);
}

/// Seeds run by `cargo test`; `INTERSTICE_SIM_SEEDS` sets another count and
/// `INTERSTICE_SIM_FIRST` the first seed (the long sweep, behind `--ignored`).
fn sweep(default_seeds: u64) {
    let _simulation = Simulation::start();
    let seeds = std::env::var("INTERSTICE_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seeds);
    let first: u64 = std::env::var("INTERSTICE_SIM_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in first..first + seeds {
        simulate(seed);
    }
}

#[test]
fn crashes_keep_every_acknowledged_record() {
    sweep(2_000);
}

#[test]
#[ignore = "the long sweep: INTERSTICE_SIM_SEEDS=100000 cargo test --lib -- --ignored sweep"]
fn sweep_long() {
    sweep(20_000);
}
