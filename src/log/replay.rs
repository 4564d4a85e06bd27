//! Replay on two cores: a helper thread checks segments ahead of the one being handed over,
//! which is then walked without computing checksums again.
//!
//! The caller's callback still runs on the calling thread and sees every record in LSN
//! order, exactly as a one-thread replay hands them over. A segment is walked trusted only
//! after a checking walk with the same bounds (`View::cursor`) reached its end without an
//! error; its bytes are frozen (a reader's view), so the second walk reads what the first
//! checked. A segment whose check failed is walked checking again, so that the records
//! before the damage and the error itself are the ones a one-thread replay gives.
//!
//! Work is shared by claiming segments: the helper starts at the second and claims each one
//! the replay has not reached; the replay claims each segment the helper has not, and waits
//! only for the one the helper is checking. Whichever core is faster takes more segments.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::reader::View;
use crate::segment::Record;

/// Nobody has claimed the segment.
const FREE: u8 = 0;
/// The helper is checking it.
const CHECKING: u8 = 1;
/// The helper checked it to its end: no damage.
const SOUND: u8 = 2;
/// The helper found damage (or stopped): walk it checking.
const DAMAGED: u8 = 3;
/// The replay claimed it first and checks it itself.
const TAKEN: u8 = 4;

/// How the segments of one replay were walked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walks {
    /// Segments walked trusted, after the helper checked them.
    pub(crate) checked_ahead: usize,
    /// Segments the replaying thread checked itself.
    pub(crate) checked_inline: usize,
}

/// What the two threads share.
struct Claims {
    states: Vec<AtomicU8>,
    /// Raised when the replay ends early (an error, the callback's or the log's).
    stop: AtomicBool,
    changed: Condvar,
    lock: Mutex<()>,
}

impl Claims {
    fn settle(&self, i: usize, state: u8) {
        let _guard = self.lock.lock();
        self.states[i].store(state, Ordering::Release);
        self.changed.notify_all();
    }

    /// Waits until the helper is done with segment `i`; returns what it found.
    fn wait_for(&self, i: usize) -> u8 {
        let mut guard = self.lock.lock();
        loop {
            let state = self.states[i].load(Ordering::Acquire);
            if state != CHECKING {
                return state;
            }
            self.changed.wait(&mut guard);
        }
    }
}

/// Hands every record with LSN `from` and up of `views` (in LSN order) to `consume`, checking
/// segments ahead on a helper thread when there are at least two to walk and one can be
/// spawned; else on this thread alone. Each view is dropped (its segment released) once
/// walked.
pub(crate) fn replay_views<E: From<Error>, F: FnMut(Record<'_>) -> Result<(), E>>(
    views: Vec<View>,
    from: u64,
    ahead: bool,
    consume: &mut F,
) -> Result<(u64, Walks), E> {
    let views: Vec<View> = views.into_iter().filter(|v| v.lsn_end() > from).collect();
    if !ahead || views.len() < 2 || views.iter().any(View::skips_damage) {
        let walks = Walks {
            checked_inline: views.len(),
            ..Walks::default()
        };
        let mut count = 0;
        for view in views {
            count += walk(&view, from, false, consume)?;
        }
        return Ok((count, walks));
    }
    let claims = Claims {
        states: views.iter().map(|_| AtomicU8::new(FREE)).collect(),
        stop: AtomicBool::new(false),
        changed: Condvar::new(),
        lock: Mutex::new(()),
    };
    let ahead_views: Vec<View> = views[1..].to_vec();
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("interstice-replay".into())
            .spawn_scoped(scope, || check_ahead(ahead_views, from, &claims));
        if helper.is_err() {
            // No thread: the replay claims every segment itself.
            claims.stop.store(true, Ordering::Release);
        }
        let replayed = replay_claimed(views, from, &claims, consume);
        claims.stop.store(true, Ordering::Release);
        replayed
    })
}

/// The replaying thread's side: each segment in order, trusted when the helper found it
/// sound, else checked here.
fn replay_claimed<E: From<Error>, F: FnMut(Record<'_>) -> Result<(), E>>(
    views: Vec<View>,
    from: u64,
    claims: &Claims,
    consume: &mut F,
) -> Result<(u64, Walks), E> {
    let mut count = 0;
    let mut walks = Walks::default();
    for (i, view) in views.into_iter().enumerate() {
        let state = match claims.states[i].compare_exchange(
            FREE,
            TAKEN,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => TAKEN,
            Err(_) => claims.wait_for(i),
        };
        let trusted = state == SOUND;
        if trusted {
            walks.checked_ahead += 1;
        } else {
            walks.checked_inline += 1;
        }
        match walk(&view, from, trusted, consume) {
            Ok(n) => count += n,
            Err(error) => {
                claims.stop.store(true, Ordering::Release);
                return Err(error);
            }
        }
    }
    Ok((count, walks))
}

/// The helper's side: claims each segment from the second on that the replay has not
/// reached, checks it to its end, and says what it found. Each view is dropped once checked
/// (or passed over), so the helper keeps no segment mapped behind it.
fn check_ahead(views: Vec<View>, from: u64, claims: &Claims) {
    for (i, view) in views.into_iter().enumerate().map(|(i, v)| (i + 1, v)) {
        if claims.stop.load(Ordering::Acquire) {
            return;
        }
        if claims.states[i]
            .compare_exchange(FREE, CHECKING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue;
        }
        // Settled even if the check panics, so that the replay never waits forever.
        let mut settle = Settle {
            claims,
            i,
            state: DAMAGED,
        };
        if check(&view, from, &claims.stop) {
            settle.state = SOUND;
        }
    }
}

/// Settles a segment's claim when dropped.
struct Settle<'a> {
    claims: &'a Claims,
    i: usize,
    state: u8,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        self.claims.settle(self.i, self.state);
    }
}

/// How many records the helper checks between looks at the stop flag.
const STOP_EVERY: u32 = 4096;

/// Walks a segment as the replay would, checking every checksum; true when it reached the
/// end without an error (false too when told to stop).
fn check(view: &View, from: u64, stop: &AtomicBool) -> bool {
    let mut since_look = 0;
    for record in view.cursor(from) {
        if record.is_err() {
            return false;
        }
        since_look += 1;
        if since_look == STOP_EVERY {
            since_look = 0;
            if stop.load(Ordering::Relaxed) {
                return false;
            }
        }
    }
    true
}

/// Hands the records of one segment over; `trusted` walks compute no checksum.
fn walk<E: From<Error>, F: FnMut(Record<'_>) -> Result<(), E>>(
    view: &View,
    from: u64,
    trusted: bool,
    consume: &mut F,
) -> Result<u64, E> {
    let cursor = view.cursor(from);
    let cursor = if trusted { cursor.trusting() } else { cursor };
    let mut count = 0;
    for record in cursor {
        consume(record?)?;
        count += 1;
    }
    Ok(count)
}

// Real files and threads: not under Miri (the mapping's own tests cover its unsafe code).
#[cfg(all(test, not(miri)))]
mod tests {
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::path::Path;
    use std::sync::Arc;

    use super::{Walks, replay_views};
    use crate::{Error, Log, Lsn, Options, ReplayThreads};

    fn options() -> Options {
        Options {
            segment_size: 64 * 1024,
            ..Options::default()
        }
    }

    fn payload(lsn: u64) -> Vec<u8> {
        let len = 40 + (lsn * 37 % 300) as usize;
        (0..len).map(|i| (lsn as usize * 7 + i) as u8).collect()
    }

    /// A log of `n` records over many 64 KiB segments, single records and batches mixed.
    fn build(dir: &Path, n: u64) {
        let log = Log::open(dir, options()).unwrap();
        let mut lsn = 1;
        while lsn <= n {
            if lsn % 5 == 0 && lsn + 20 <= n {
                let batch: Vec<Vec<u8>> = (lsn..lsn + 20).map(payload).collect();
                log.append_batch(&batch).unwrap();
                lsn += 20;
            } else {
                log.append(&payload(lsn)).unwrap();
                lsn += 1;
            }
        }
        log.close().unwrap();
    }

    /// What a replay handed over (LSN and payload), how it walked, and its error.
    type Replayed = (Vec<(u64, Vec<u8>)>, Walks, Option<String>);

    /// Replays from `from`, slowly enough that the helper gets ahead: what was handed over,
    /// how the segments were walked, and the error that ended it.
    fn replay(log: &Log, from: u64, ahead: bool) -> Replayed {
        let mut seen = Vec::new();
        let result = replay_views(log.reader().into_views(), from, ahead, &mut |record| {
            if record.lsn.0 % 97 == 0 {
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
            seen.push((record.lsn.0, record.payload.to_vec()));
            Ok::<(), Error>(())
        });
        match result {
            Ok((count, walks)) => {
                assert_eq!(count, seen.len() as u64);
                (seen, walks, None)
            }
            Err(error) => (seen, Walks::default(), Some(error.to_string())),
        }
    }

    #[test]
    fn checking_ahead_hands_over_what_one_thread_does() {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), 3_000);
        let log = Log::open_read_only(dir.path(), options()).unwrap();
        assert!(
            log.segments().len() > 10,
            "{} segments",
            log.segments().len()
        );
        for from in [0, 1, 777, 1_500, 2_999, 3_000, 3_001] {
            let (one, walks_one, error) = replay(&log, from, false);
            assert!(error.is_none(), "{error:?}");
            assert_eq!(walks_one.checked_ahead, 0);
            let (two, walks, error) = replay(&log, from, true);
            assert!(error.is_none(), "{error:?}");
            assert_eq!(one, two, "from {from}");
            let expected: Vec<u64> = (from.max(1)..=3_000).collect();
            assert_eq!(one.iter().map(|r| r.0).collect::<Vec<_>>(), expected);
            assert!(one.iter().all(|(lsn, bytes)| *bytes == payload(*lsn)));
            if from < 1_500 {
                assert!(walks.checked_ahead > 0, "from {from}: {walks:?}");
            }
        }
    }

    /// Damages one byte of the record with LSN `lsn` (`at` bytes into its payload, or into
    /// its header when `at` is negative).
    fn damage(dir: &Path, lsn: u64, at: i64) {
        let log = Log::open_read_only(dir, options()).unwrap();
        let reader = log.reader();
        let record = reader.get(Lsn(lsn)).unwrap().unwrap();
        let info = log
            .segments()
            .into_iter()
            .find(|s| s.id == record.segment)
            .unwrap();
        let offset = record.offset + crate::format::RECORD_HEADER_SIZE as u64;
        let offset = offset.checked_add_signed(at).unwrap();
        drop(reader);
        drop(log);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&info.path)
            .unwrap();
        let mut byte = [0];
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.read_exact(&mut byte).unwrap();
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(&[!byte[0]]).unwrap();
    }

    #[test]
    fn damage_found_ahead_ends_the_replay_where_one_thread_ends_it() {
        // A payload byte, a header byte, in a single record and inside a batch.
        for (lsn, at) in [(2_000, 3), (2_101, -2), (2_106, 10), (2_500, -20)] {
            let dir = tempfile::tempdir().unwrap();
            build(dir.path(), 3_000);
            damage(dir.path(), lsn, at);
            let log = Log::open_read_only(dir.path(), options()).unwrap();
            let (one, _, error_one) = replay(&log, 0, false);
            let (two, _, error_two) = replay(&log, 0, true);
            assert!(error_one.is_some(), "damage at {lsn} went unseen");
            assert_eq!(error_one, error_two, "damage at {lsn}");
            assert_eq!(one, two, "damage at {lsn}");
            assert!(one.last().is_some_and(|r| r.0 < lsn));
            assert!(one.iter().all(|(lsn, bytes)| *bytes == payload(*lsn)));
        }
    }

    /// A consumer's own error.
    #[derive(Debug)]
    #[allow(dead_code)]
    enum Stop {
        Enough,
        Log(Error),
    }

    impl From<Error> for Stop {
        fn from(error: Error) -> Stop {
            Stop::Log(error)
        }
    }

    #[test]
    fn an_error_of_the_consumer_ends_the_replay_and_the_helper() {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path(), 3_000);
        let log = Log::open_read_only(dir.path(), options()).unwrap();
        let mut calls = 0;
        let result = replay_views(log.reader().into_views(), 0, true, &mut |record| {
            calls += 1;
            if record.lsn.0 == 100 {
                return Err(Stop::Enough);
            }
            Ok(())
        });
        assert!(matches!(result, Err(Stop::Enough)), "{result:?}");
        assert_eq!(calls, 100);
    }

    #[test]
    fn a_replay_during_appends_and_rotations_hands_over_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Log::open(dir.path(), options()).unwrap());
        for lsn in 1..=500 {
            log.append(&payload(lsn)).unwrap();
        }
        let writer = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for lsn in 501..=4_000 {
                    assert_eq!(log.append(&payload(lsn)).unwrap(), Lsn(lsn));
                }
            })
        };
        let mut replays = 0;
        while !writer.is_finished() || replays < 3 {
            let (seen, _, error) = replay(&log, 0, true);
            assert!(error.is_none(), "{error:?}");
            assert!(seen.len() >= 500);
            for (i, (lsn, bytes)) in seen.iter().enumerate() {
                assert_eq!(*lsn, i as u64 + 1);
                assert_eq!(*bytes, payload(*lsn));
            }
            replays += 1;
        }
        writer.join().unwrap();
        let count = log.replay(Lsn::ZERO, |_| Ok::<(), Error>(())).unwrap();
        assert_eq!(count, 4_000);
        let options = Options {
            replay: ReplayThreads::One,
            ..options()
        };
        drop(log);
        let log = Log::open_read_only(dir.path(), options).unwrap();
        assert_eq!(
            log.replay(Lsn::ZERO, |_| Ok::<(), Error>(())).unwrap(),
            4_000
        );
    }
}
