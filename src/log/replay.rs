//! Replay on two cores: a helper thread checks pieces of the log ahead of the one being
//! handed over, which are then walked without computing checksums again.
//!
//! The caller's callback still runs on the calling thread and sees every record in LSN
//! order, exactly as a one-thread replay hands them over. The walk is cut into pieces at
//! entries of the segments' sparse indexes (each starts at a record). A piece is walked
//! trusted only after the helper checked the checksums of every record that starts in it,
//! from its start, and that every batch begun there is whole (`Segment::check_span`); and
//! only when the replay's own walk lands exactly on the piece's start, so both read the same
//! records. Everything else a walk decides (ends, kinds, bounds, LSN order, agreement with a
//! footer) the trusted walk still decides itself. The bytes are frozen (a reader's view), so
//! the second walk reads what the first checked. A piece whose check failed is walked
//! checking again, so that the records handed over before the damage and the error itself are
//! the ones a one-thread replay gives.
//!
//! Work is shared by claiming pieces: the helper starts at the second and claims each one the
//! replay has not reached; the replay claims each piece the helper has not, and waits only
//! for the one the helper is checking. Whichever core is faster takes more pieces.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::reader::View;
use crate::segment::{Record, Trust};

/// Nobody has claimed the piece.
const FREE: u8 = 0;
/// The helper is checking it.
const CHECKING: u8 = 1;
/// The helper checked it: no damage.
const SOUND: u8 = 2;
/// The helper found damage (or stopped): walk it checking.
const DAMAGED: u8 = 3;
/// The replay claimed it first and checks it itself.
const TAKEN: u8 = 4;

/// The smallest piece, in bytes of records (small in tests, so that their segments of
/// 64 KiB are cut into pieces, with batches across the cuts).
const PIECE_MIN: usize = if cfg!(test) { 8 << 10 } else { 1 << 20 };

/// The most pieces a replay is cut into (more bytes make larger pieces): what the claims
/// take in memory does not grow with the log.
const PIECES_MAX: usize = 256;

/// How the pieces of one replay were walked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walks {
    /// Pieces walked trusted, after the helper checked them.
    pub(crate) checked_ahead: usize,
    /// Pieces the replaying thread checked itself (on one thread: the views it walked).
    pub(crate) checked_inline: usize,
}

/// One piece: the records of view `view` that start in `start..end`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    view: usize,
    start: usize,
    end: usize,
}

/// Cuts the walks of `views` from LSN `from` into pieces.
fn pieces(views: &[View], from: u64) -> Vec<Piece> {
    let bytes: usize = views
        .iter()
        .map(|view| {
            let (start, end) = view.bounds(from);
            end - start
        })
        .sum();
    let spacing = PIECE_MIN.max(bytes / PIECES_MAX);
    let mut pieces = Vec::new();
    for (view, v) in views.iter().enumerate() {
        let (mut start, end, cuts) = v.cuts(from, spacing);
        for cut in cuts.into_iter().chain([end]) {
            pieces.push(Piece {
                view,
                start,
                end: cut,
            });
            start = cut;
        }
    }
    pieces
}

/// What the two threads share.
struct Claims {
    pieces: Vec<Piece>,
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

    /// Claims piece `i` for the replaying thread, or waits until the helper is done with
    /// it: true when the helper found it sound.
    fn sound(&self, i: usize) -> bool {
        if self.states[i]
            .compare_exchange(FREE, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return false;
        }
        let mut guard = self.lock.lock();
        loop {
            match self.states[i].load(Ordering::Acquire) {
                CHECKING => self.changed.wait(&mut guard),
                state => return state == SOUND,
            }
        }
    }
}

/// The pieces of one view, as the replay's walk of it asks about them.
struct ViewTrust<'c> {
    claims: &'c Claims,
    /// Index of the view's first piece in `claims.pieces`.
    first: usize,
    /// The view's pieces.
    pieces: &'c [Piece],
    walks: Cell<Walks>,
}

impl Trust for ViewTrust<'_> {
    fn checked_from(&self, at: usize) -> Option<usize> {
        let j = self.pieces.binary_search_by_key(&at, |p| p.start).ok()?;
        let mut walks = self.walks.get();
        let sound = self.claims.sound(self.first + j);
        if sound {
            walks.checked_ahead += 1;
        } else {
            walks.checked_inline += 1;
        }
        self.walks.set(walks);
        sound.then_some(self.pieces[j].end)
    }

    fn next_cut(&self, at: usize) -> usize {
        let j = self.pieces.partition_point(|p| p.start <= at);
        self.pieces.get(j).map_or(usize::MAX, |p| p.start)
    }
}

/// Hands every record with LSN `from` and up of `views` (in LSN order) to `consume`, checking
/// pieces ahead on a helper thread when `ahead` and there are at least two pieces and a
/// thread can be spawned; else on this thread alone. Each view is dropped (its segment
/// released) once walked.
pub(crate) fn replay_views<E, F>(
    views: Vec<View>,
    from: u64,
    ahead: bool,
    consume: &mut F,
) -> Result<(u64, Walks), E>
where
    E: From<Error>,
    F: FnMut(Record<'_>) -> Result<(), E>,
{
    let views: Vec<View> = views.into_iter().filter(|v| v.lsn_end() > from).collect();
    let pieces = if ahead && !views.iter().any(View::skips_damage) {
        pieces(&views, from)
    } else {
        Vec::new()
    };
    if pieces.len() < 2 {
        let walks = Walks {
            checked_inline: views.len(),
            ..Walks::default()
        };
        let mut count = 0;
        for view in views {
            for record in view.cursor(from) {
                consume(record?)?;
                count += 1;
            }
        }
        return Ok((count, walks));
    }
    let claims = Claims {
        states: pieces.iter().map(|_| AtomicU8::new(FREE)).collect(),
        pieces,
        stop: AtomicBool::new(false),
        changed: Condvar::new(),
        lock: Mutex::new(()),
    };
    let helper_views: Vec<Option<View>> = views.iter().cloned().map(Some).collect();
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("interstice-replay".into())
            .spawn_scoped(scope, || check_ahead(helper_views, &claims));
        if helper.is_err() {
            // No thread: the replay claims every piece itself.
            claims.stop.store(true, Ordering::Release);
        }
        // Stops the helper however the replay ends: an error, or a panic of `consume`
        // (the scope waits for the helper before the panic goes on).
        let _stop = Stop(&claims.stop);
        replay_claimed(views, from, &claims, consume)
    })
}

/// Raises the stop flag when dropped.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The replaying thread's side: each view in order, its pieces trusted when the helper found
/// them sound, else checked here.
fn replay_claimed<E, F>(
    views: Vec<View>,
    from: u64,
    claims: &Claims,
    consume: &mut F,
) -> Result<(u64, Walks), E>
where
    E: From<Error>,
    F: FnMut(Record<'_>) -> Result<(), E>,
{
    let mut count = 0;
    let mut walks = Walks::default();
    let mut first = 0;
    for (v, view) in views.into_iter().enumerate() {
        let len = claims.pieces[first..].partition_point(|p| p.view == v);
        let trust = ViewTrust {
            claims,
            first,
            pieces: &claims.pieces[first..first + len],
            walks: Cell::new(Walks::default()),
        };
        first += len;
        for record in view.cursor(from).trusting(&trust) {
            record.map_err(E::from).and_then(&mut *consume)?;
            count += 1;
        }
        walks.checked_ahead += trust.walks.get().checked_ahead;
        walks.checked_inline += trust.walks.get().checked_inline;
    }
    Ok((count, walks))
}

/// The helper's side: claims each piece from the second on that the replay has not reached,
/// checks it, and says what it found. Each view is dropped once its pieces are passed, so
/// the helper keeps no segment mapped behind it.
fn check_ahead(mut views: Vec<Option<View>>, claims: &Claims) {
    for (i, piece) in claims.pieces.iter().enumerate().skip(1) {
        if claims.stop.load(Ordering::Acquire) {
            return;
        }
        // Every view has a piece: the one before this piece's is passed for good.
        if let Some(passed) = piece.view.checked_sub(1) {
            views[passed] = None;
        }
        let Some(view) = &views[piece.view] else {
            continue;
        };
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
        if view.check_span(piece.start, piece.end, &claims.stop) {
            settle.state = SOUND;
        }
    }
}

/// Settles a piece's claim when dropped.
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
            let len = 2 + lsn % 29;
            if lsn % 3 == 0 && lsn + len <= n {
                let batch: Vec<Vec<u8>> = (lsn..lsn + len).map(payload).collect();
                log.append_batch(&batch).unwrap();
                lsn += len;
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
        let views = log.reader().into_views();
        assert!(views.len() > 10, "{} segments", views.len());
        // Segments are cut into pieces, some of them inside batches.
        assert!(super::pieces(&views, 0).len() > 4 * views.len());
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
    /// its header when `at` is negative), or zeroes the whole record when `at` is `ZERO`.
    fn damage(dir: &Path, lsn: u64, at: i64) {
        let log = Log::open_read_only(dir, options()).unwrap();
        let reader = log.reader();
        let record = reader.get(Lsn(lsn)).unwrap().unwrap();
        let info = log
            .segments()
            .into_iter()
            .find(|s| s.id == record.segment)
            .unwrap();
        let framed = crate::format::framed_len(record.payload.len());
        let offset = record.offset + crate::format::RECORD_HEADER_SIZE as u64;
        let offset = offset.checked_add_signed(at).unwrap_or(0);
        let zero_at = record.offset;
        drop(reader);
        drop(log);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&info.path)
            .unwrap();
        if at == ZERO {
            file.seek(SeekFrom::Start(zero_at)).unwrap();
            file.write_all(&vec![0; framed]).unwrap();
            return;
        }
        let mut byte = [0];
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.read_exact(&mut byte).unwrap();
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(&[!byte[0]]).unwrap();
    }

    /// `damage` zeroes the whole record.
    const ZERO: i64 = i64::MIN;

    #[test]
    fn damage_found_ahead_ends_the_replay_where_one_thread_ends_it() {
        // A payload byte, a header byte, in single records and in batches (some across the
        // cuts between pieces).
        let flips = (1_980..2_060).map(|lsn| (lsn, if lsn % 2 == 0 { 3 } else { -2 }));
        // A whole record zeroed: a hole in a single record's place, or a batch left
        // incomplete (which a walk that checks no batch would hand over in part).
        let holes = (2_100..2_140).map(|lsn| (lsn, ZERO));
        for (lsn, at) in flips.chain(holes).chain([(2_500, -20), (2_999, 1)]) {
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Anywhere in the log, a flipped byte or a zeroed record ends a replay that checks
        /// ahead exactly where it ends a one-thread replay.
        #[test]
        fn damage_anywhere_ends_both_replays_alike(
            lsn in 1u64..=3_000,
            at in proptest::prop_oneof![-24i64..0, 0i64..40, proptest::strategy::Just(ZERO)],
        ) {
            let dir = tempfile::tempdir().unwrap();
            build(dir.path(), 3_000);
            damage(dir.path(), lsn, at);
            let log = Log::open_read_only(dir.path(), options()).unwrap();
            let one = replay(&log, 0, false);
            let two = replay(&log, 0, true);
            proptest::prop_assert_eq!(&one.2, &two.2);
            proptest::prop_assert_eq!(&one.0, &two.0);
        }
    }

    /// A consumer's own error.
    #[derive(Debug)]
    #[allow(dead_code)]
    enum Halt {
        Enough,
        Log(Error),
    }

    impl From<Error> for Halt {
        fn from(error: Error) -> Halt {
            Halt::Log(error)
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
                return Err(Halt::Enough);
            }
            Ok(())
        });
        assert!(matches!(result, Err(Halt::Enough)), "{result:?}");
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
