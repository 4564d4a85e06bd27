//! `Follower`: a reader that waits for each new record as it is appended or made durable, in
//! the writer's process or in another one that opened the log read-only.

mod segments;

/// The examples of docs/FOLLOWERS.md, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/FOLLOWERS.md")]
pub struct FollowersGuide;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::disk::beacon::{Beacon, Channel, Ends};
use crate::error::{Error, Result};
use crate::format::SEGMENT_HEADER_SIZE;
use crate::ids::{Lsn, SegmentId};
use crate::log::Log;
use crate::segment::{Record, Segment};

/// Which records a follower hands out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FollowMode {
    /// Only records at or below the durable LSN: never one that a crash may discard.
    #[default]
    Durable,
    /// Every record as soon as the writer publishes it, durable or not: the lowest latency.
    /// A crash of the writer may discard records already handed out; the follower then
    /// reports `Error::FollowerTruncated` rather than go on past them.
    Appended,
}

/// How a follower waits for the next record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Waiting {
    /// Sleeps on a futex the writer wakes (polls every millisecond where it cannot).
    #[default]
    Block,
    /// Spins on the published ends: the lowest latency, at the cost of a core.
    Spin,
}

/// A reader that follows the log: each record once, in LSN order, across rotations, seals and
/// retention, waiting for records not yet there. Made by `Log::follow`.
///
/// Every record's checksums are checked, as a reader's are: what the writer publishes says
/// only where to look. A record borrows the follower until the next call.
#[derive(Debug)]
pub struct Follower<'a> {
    log: &'a Log,
    mode: FollowMode,
    waiting: Waiting,
    beacon: Option<Arc<Beacon>>,
    /// The beacon's epoch the position is valid in.
    epoch: u64,
    /// The writer's ends and durable LSN, as last read.
    ends: Ends,
    durable: u64,
    /// The segment being walked, and where in it.
    segment: Option<Arc<Segment>>,
    offset: usize,
    batch_end: usize,
    /// The LSN of the last record the walk passed in this segment (0 before any).
    walked: u64,
    /// Whether it follows from the first record held (`Lsn::ZERO`).
    from_start: bool,
    /// The first LSN asked for.
    from: u64,
    /// The end of the segment's data once it is no longer the active one.
    finished_end: Option<usize>,
    /// The segment after it, once needed.
    next: Option<Arc<Segment>>,
    /// The last LSN handed out (the LSN before the first wanted, before any).
    last: u64,
    /// Records handed out.
    yielded: u64,
    /// Records found ahead.
    ready: Box<Ready>,
    log_id: Option<u64>,
}

/// Where the next record is, found by `Follower::find`.
#[derive(Clone, Copy, Debug, Default)]
struct Found {
    lsn: u64,
    offset: usize,
    payload: usize,
    len: usize,
}

impl Found {
    /// The record, borrowing `bytes`, the mapping of segment `id` it was found in.
    fn record(self, bytes: &[u8], id: SegmentId) -> Record<'_> {
        Record {
            lsn: Lsn(self.lsn),
            payload: &bytes[self.payload..self.payload + self.len],
            segment: id,
            offset: self.offset as u64,
        }
    }
}

/// Where a walk of a segment stands.
#[derive(Clone, Copy, Debug)]
struct Walk {
    offset: usize,
    batch_end: usize,
    /// The LSN of the last record passed (0 before any).
    walked: u64,
}

impl Walk {
    /// Walks on in `segment`'s bytes up to `end`, for LSNs from `from` below `bound`,
    /// queueing up to `READY` records in `ready`: how many, and where the walk then stands. An
    /// error after some records is left for the next walk to meet.
    fn fill(
        self,
        segment: &Segment,
        end: usize,
        bound: u64,
        from: u64,
        ready: &mut [Found; READY],
    ) -> Result<(usize, Walk)> {
        let cursor = segment.cursor(self.offset, end, bound, from, false);
        let mut cursor = if self.walked > 0 {
            cursor.resuming(self.walked, self.batch_end)
        } else {
            cursor
        };
        let base = segment.mapping().frozen().as_ptr() as usize;
        let mut count = 0;
        while count < READY {
            match cursor.next() {
                Some(Ok(record)) => {
                    ready[count] = Found {
                        lsn: record.lsn.0,
                        offset: usize::try_from(record.offset).unwrap_or(usize::MAX),
                        payload: record.payload.as_ptr() as usize - base,
                        len: record.payload.len(),
                    };
                    count += 1;
                }
                Some(Err(error)) if count == 0 => return Err(error),
                Some(Err(_)) => {
                    // The walk stands after the last record found; the batch it may be in is
                    // checked again from there.
                    let last = ready[count - 1];
                    let walk = Walk {
                        offset: last.offset + crate::format::framed_len(last.len),
                        batch_end: 0,
                        walked: last.lsn,
                    };
                    return Ok((count, walk));
                }
                None => break,
            }
        }
        let (offset, batch_end, walked) = cursor.position();
        let walk = if walked > 0 {
            Walk {
                offset,
                batch_end,
                walked,
            }
        } else {
            self
        };
        Ok((count, walk))
    }
}

/// How many records a walk queues at a time: one cursor, one look at the epoch and one
/// prefetch run for all of them.
const READY: usize = 256;

/// Records found and checked, not yet handed out (8 KiB, boxed).
#[derive(Debug)]
struct Ready {
    items: [Found; READY],
    len: usize,
    at: usize,
}

impl Default for Ready {
    fn default() -> Ready {
        Ready {
            items: [Found::default(); READY],
            len: 0,
            at: 0,
        }
    }
}

/// What `Follower::take_ready` found.
enum Taken {
    Found(Found),
    /// Nothing ahead (or what was ahead was dropped: the epoch moved).
    None,
    /// A writer is opening the log: nothing may be handed out now.
    Opening,
}

/// Why no record is there now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// Until the writer publishes more.
    Change,
    /// Until something the writer does not announce (a segment named, a seal's footer, a
    /// beacon created): look again shortly.
    Poll,
}

/// How long a blocking follower spins for the next record before it sleeps.
const SPIN_BEFORE_SLEEP: Duration = Duration::from_micros(50);

/// How long a follower waits between looks when it cannot sleep on the beacon.
const POLL: Duration = Duration::from_millis(1);

impl Log {
    /// A follower of this log, from LSN `from` (`Lsn::ZERO`: from the first record held).
    /// On a log opened read-only, it follows the writer of another process through the
    /// log's beacon (docs/FOLLOWERS.md), and may start before that writer has written
    /// anything.
    ///
    /// ```
    /// use std::time::Duration;
    /// use interstice::{FollowMode, Log, Lsn, Options};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = Log::open(dir.path(), Options::default())?;
    /// let mut follower = log.follow(Lsn::ZERO, FollowMode::Durable);
    /// log.append(b"not yet durable")?;
    /// assert!(follower.try_next()?.is_none());
    /// log.sync()?;
    /// let record = follower.next(Duration::from_secs(1))?.expect("durable now");
    /// assert_eq!(record.payload, b"not yet durable");
    /// # Ok::<(), interstice::Error>(())
    /// ```
    #[must_use]
    pub fn follow(&self, from: Lsn, mode: FollowMode) -> Follower<'_> {
        let beacon = self.beacon().cloned();
        let (ends, durable, epoch) = match &beacon {
            // The epoch first: ends read after it are at least as new.
            Some(beacon) => {
                let epoch = beacon.epoch().0;
                (beacon.ends(), beacon.durable(), epoch)
            }
            None => self.ends_at_open(),
        };
        let mut follower = Follower {
            log: self,
            mode,
            waiting: Waiting::Block,
            beacon,
            epoch,
            ends,
            durable,
            segment: None,
            offset: SEGMENT_HEADER_SIZE,
            batch_end: 0,
            walked: 0,
            from_start: from == Lsn::ZERO,
            from: from.0,
            finished_end: None,
            next: None,
            last: from.0.saturating_sub(1),
            yielded: 0,
            ready: Box::default(),
            log_id: None,
        };
        // A read-only log follows its writer's beacon from the start, when there is one:
        // what the open saw may not all be durable. (Errors are met again at the first look.)
        if follower.beacon.is_none()
            && let Ok(Some((beacon, epoch))) = follower.find_beacon()
            && let Some(ends) = beacon.try_ends()
        {
            follower.ends = ends;
            follower.durable = beacon.durable();
            (follower.beacon, follower.epoch) = (Some(beacon), epoch);
        }
        follower
    }

    /// The ends of a read-only log as it was opened, for a follower until a beacon appears.
    fn ends_at_open(&self) -> (Ends, u64, u64) {
        let list = self.segment_list();
        let ends = list.last().map_or_else(Ends::default, |active| Ends {
            segment: active.id().0,
            end: active.data_end() as u64,
            last: self.last_lsn().0,
        });
        (ends, self.last_lsn().0, 0)
    }
}

impl<'a> Follower<'a> {
    /// Sets how it waits (`Waiting::Block` by default).
    #[must_use]
    pub fn waiting(mut self, waiting: Waiting) -> Follower<'a> {
        self.waiting = waiting;
        self
    }

    /// The last LSN handed out (before the first record, the one before `from`).
    #[must_use]
    pub fn position(&self) -> Lsn {
        Lsn(self.last)
    }

    /// The writer's last LSN and durable LSN, as this follower last read them: how far behind
    /// it is.
    #[must_use]
    pub fn writer_ends(&self) -> (Lsn, Lsn) {
        (Lsn(self.ends.last), Lsn(self.durable))
    }

    /// The next record if one is there now; never waits.
    ///
    /// # Errors
    /// `Error::Corrupt` naming the file and offset of a damaged record;
    /// `Error::FollowerTruncated` when the log was truncated below a record already handed
    /// out; `Error::FollowerBehind` when retention removed the next record before it was
    /// read; `Error::Io` or `Error::NotALog` for a segment that cannot be opened.
    pub fn try_next(&mut self) -> Result<Option<Record<'_>>> {
        loop {
            if let Ok(found) = self.find()? {
                return Ok(Some(self.record(found)));
            }
            if !self.refresh()? {
                return Ok(None);
            }
        }
    }

    /// The next record, waiting up to `timeout` for it; `None` when none came.
    ///
    /// # Errors
    /// As `try_next`.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Record<'_>>> {
        // The clock is read only when no record is there (not per record while catching up).
        let mut deadline = None;
        loop {
            let pending = match self.find()? {
                Ok(found) => return Ok(Some(self.record(found))),
                Err(pending) => pending,
            };
            if self.refresh()? {
                continue;
            }
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + timeout);
            if now >= deadline {
                return Ok(None);
            }
            self.wait(pending, deadline - now);
            // What woke it is taken before the next look.
            self.refresh()?;
        }
    }

    /// Hands the records there now, up to `max`, to `f`, in LSN order; never waits. Returns
    /// how many. The fastest way to catch up: the records found ahead are handed out in one
    /// loop, each after a look at the writer's epoch as `try_next` does.
    ///
    /// ```
    /// use interstice::{FollowMode, Log, Lsn, Options};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = Log::open(dir.path(), Options::default())?;
    /// for i in 0..1000u32 {
    ///     log.append(&i.to_le_bytes())?;
    /// }
    /// log.sync()?;
    /// let mut follower = log.follow(Lsn::ZERO, FollowMode::Durable);
    /// let mut sum = 0u64;
    /// while follower.drain(256, |record| sum += u64::from(record.payload[0]))? > 0 {}
    /// assert_eq!(follower.position(), Lsn(1000));
    /// # Ok::<(), interstice::Error>(())
    /// ```
    ///
    /// # Errors
    /// As `try_next`; records handed to `f` before the error stay handed out.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(Record<'_>)) -> Result<usize> {
        let mut handed = 0;
        while handed < max {
            if self.ready.at == self.ready.len {
                match self.find()? {
                    Ok(found) => {
                        f(self.record(found));
                        handed += 1;
                    }
                    Err(_) if self.refresh()? => {}
                    Err(_) => break,
                }
                continue;
            }
            let (passed, moved) = self.hand_out_ready(max - handed, &mut f);
            handed += passed;
            if moved && !self.resync()? {
                break;
            }
        }
        Ok(handed)
    }

    /// Hands up to `max` of the records found ahead to `f`; stops early when the writer's
    /// epoch moved (true): the rest are looked for again.
    fn hand_out_ready(&mut self, max: usize, f: &mut impl FnMut(Record<'_>)) -> (usize, bool) {
        let segment = self
            .segment
            .as_ref()
            .expect("records are found in a segment");
        let (bytes, id) = (segment.mapping().frozen(), segment.id());
        let (start, end) = (self.ready.at, self.ready.len.min(self.ready.at + max));
        let mut moved = false;
        let mut at = start;
        while at < end {
            if let Some(beacon) = &self.beacon {
                Beacon::after_read();
                if beacon.epoch() != (self.epoch, false) {
                    moved = true;
                    break;
                }
            }
            let found = self.ready.items[at];
            f(found.record(bytes, id));
            at += 1;
        }
        if at > start {
            self.last = self.ready.items[at - 1].lsn;
            self.yielded += (at - start) as u64;
            self.ready.at = at;
        }
        (at - start, moved)
    }

    fn record(&self, found: Found) -> Record<'_> {
        let segment = self.segment.as_ref().expect("a record was found in it");
        found.record(segment.mapping().frozen(), segment.id())
    }

    /// The next record within what was last read of the writer's ends, or why there is none.
    fn find(&mut self) -> Result<std::result::Result<Found, Pending>> {
        loop {
            match self.take_ready()? {
                Taken::Found(found) => return Ok(Ok(found)),
                Taken::Opening => return Ok(Err(Pending::Poll)),
                Taken::None => {}
            }
            let Some(id) = self.segment.as_ref().map(|s| s.id().0) else {
                if !self.locate()? {
                    return Ok(Err(Pending::Poll));
                }
                continue;
            };
            if id > self.ends.segment {
                return Ok(Err(Pending::Change));
            }
            let finished = id < self.ends.segment;
            let (end, lsn_end) = if finished {
                match self.finished_bounds()? {
                    Some(bounds) => bounds,
                    None => return Ok(Err(Pending::Poll)),
                }
            } else {
                (
                    usize::try_from(self.ends.end).unwrap_or(usize::MAX),
                    u64::MAX,
                )
            };
            let visible = match self.mode {
                FollowMode::Durable => self.durable.min(self.ends.last),
                FollowMode::Appended => self.ends.last,
            };
            let bound = lsn_end.min(visible.saturating_add(1));
            let walks_to_end = finished && bound == lsn_end;
            if self.last.saturating_add(1) >= bound && !walks_to_end {
                return Ok(Err(Pending::Change));
            }
            let segment = self.segment.as_ref().expect("checked above");
            let walk = Walk {
                offset: self.offset,
                batch_end: self.batch_end,
                walked: self.walked,
            };
            let filled = walk.fill(segment, end, bound, self.last + 1, &mut self.ready.items);
            // Bytes read while the writer removed them (a truncation, a recovery) prove
            // nothing: look again from where the position still holds.
            if self.epoch_moved() {
                if !self.resync()? {
                    return Ok(Err(Pending::Poll));
                }
                continue;
            }
            let (count, walk) = filled?;
            if walk.walked > 0 {
                (self.offset, self.batch_end, self.walked) =
                    (walk.offset, walk.batch_end, walk.walked);
            }
            if count > 0 {
                (self.ready.len, self.ready.at) = (count, 0);
            } else if walks_to_end {
                self.enter_next();
            } else {
                return Ok(Err(Pending::Change));
            }
        }
    }

    /// Hands out the next record found ahead, if its bytes still stand.
    fn take_ready(&mut self) -> Result<Taken> {
        if self.ready.at == self.ready.len {
            return Ok(Taken::None);
        }
        if self.epoch_moved() {
            return Ok(if self.resync()? {
                Taken::None
            } else {
                Taken::Opening
            });
        }
        let found = self.ready.items[self.ready.at];
        self.ready.at += 1;
        self.last = found.lsn;
        self.yielded += 1;
        Ok(Taken::Found(found))
    }

    /// Drops the records found ahead: the walk goes back to the first of them.
    fn forget_ready(&mut self) {
        if self.ready.at < self.ready.len {
            self.offset = self.ready.items[self.ready.at].offset;
            self.walked = self.last;
            self.batch_end = 0;
        }
        (self.ready.len, self.ready.at) = (0, 0);
    }

    /// The data end and the successor's base LSN of the segment the writer moved past;
    /// `None` while its footer or its successor's name is not there yet.
    fn finished_bounds(&mut self) -> Result<Option<(usize, u64)>> {
        let segment = Arc::clone(self.segment.as_ref().expect("called in a segment"));
        let Some(end) = self.finished_end(&segment) else {
            return Ok(None);
        };
        let Some(next) = self.successor(&segment)? else {
            return Ok(None);
        };
        Ok(Some((end, next.base_lsn())))
    }

    /// Moves to the segment after the finished one.
    fn enter_next(&mut self) {
        self.segment = self.next.take();
        self.offset = SEGMENT_HEADER_SIZE;
        self.batch_end = 0;
        self.walked = 0;
        self.finished_end = None;
    }

    /// True when the writer started a truncation or an open since the position was taken.
    fn epoch_moved(&self) -> bool {
        let Some(beacon) = &self.beacon else {
            return false;
        };
        Beacon::after_read();
        let (epoch, opening) = beacon.epoch();
        epoch != self.epoch || opening
    }

    /// After the epoch moved: fails if what the truncations kept is below a record handed
    /// out, else takes the new epoch (the position stays: the records up to it are unchanged).
    fn resync(&mut self) -> Result<bool> {
        let Some(beacon) = self.beacon.clone() else {
            return Ok(false);
        };
        let (epoch, opening) = beacon.epoch();
        if opening {
            return Ok(false);
        }
        if epoch == self.epoch {
            return Ok(true);
        }
        let Some(ends) = beacon.try_ends() else {
            return Ok(false);
        };
        self.forget_ready();
        let kept = beacon.kept_since(self.epoch, epoch).unwrap_or(0);
        if self.yielded > 0 && kept < self.last {
            return Err(Error::FollowerTruncated {
                path: self.log.dir().to_owned(),
                kept: Lsn(kept),
                position: Lsn(self.last),
            });
        }
        if self.yielded == 0 {
            // Nothing handed out yet: the LSNs asked for, whichever records now hold them.
            self.last = self.from.saturating_sub(1);
        }
        // The records up to the position are unchanged, but the segments after it may be
        // others (a truncation reuses segment ids, a repair removes files): find the one
        // holding the next LSN again.
        self.epoch = epoch;
        self.segment = None;
        self.next = None;
        self.finished_end = None;
        // Ends read before the truncation may name records it removed.
        self.ends = ends;
        self.durable = beacon.durable();
        Ok(true)
    }

    /// Reads the writer's ends again; true when something changed.
    fn refresh(&mut self) -> Result<bool> {
        if self.beacon.is_none() {
            let Some((beacon, epoch)) = self.find_beacon()? else {
                return Ok(false);
            };
            (self.beacon, self.epoch) = (Some(beacon), epoch);
        }
        let beacon = Arc::clone(self.beacon.as_ref().expect("set above"));
        let (epoch, opening) = beacon.epoch();
        if opening {
            return Ok(false);
        }
        if epoch != self.epoch {
            return self.resync();
        }
        let Some(ends) = beacon.try_ends() else {
            return Ok(false);
        };
        let durable = beacon.durable();
        let changed = ends != self.ends || durable != self.durable;
        self.ends = ends;
        self.durable = durable;
        Ok(changed)
    }

    /// The beacon of a read-only log's directory, once a writer created it for this log,
    /// with the epoch its position is valid in: the one before an open in progress, whose
    /// cut is then still to be checked.
    fn find_beacon(&mut self) -> Result<Option<(Arc<Beacon>, u64)>> {
        let dir = self.log.dir();
        let Some(beacon) =
            Beacon::open(dir).map_err(|e| Error::io("map", dir.join(BEACON_NAME), e))?
        else {
            return Ok(None);
        };
        let (epoch, opening) = beacon.epoch();
        let ours = match (beacon.log_id(), self.log_id()) {
            (0, _) => opening,
            (theirs, Some(log_id)) => theirs == log_id,
            (_, None) => true,
        };
        if !ours {
            return Ok(None);
        }
        let baseline = if opening {
            epoch.saturating_sub(1)
        } else {
            epoch
        };
        Ok(Some((Arc::new(beacon), baseline)))
    }

    fn log_id(&mut self) -> Option<u64> {
        if self.log_id.is_none() {
            self.log_id = segments::log_id(self.log);
        }
        self.log_id
    }

    /// Finds the segment holding the first LSN wanted; false when the log has none yet.
    fn locate(&mut self) -> Result<bool> {
        let want = self.last + 1;
        let Some((segment, first)) = segments::holding(self.log, want)? else {
            return Ok(false);
        };
        if !self.from_start && want < first {
            return Err(Error::FollowerBehind {
                path: self.log.dir().to_owned(),
                needed: Lsn(want),
                first: Some(Lsn(first)),
            });
        }
        if self.from_start {
            self.last = self.last.max(first.saturating_sub(1));
        }
        self.offset = segment.offset_for(self.last + 1);
        self.batch_end = 0;
        self.walked = 0;
        self.finished_end = None;
        self.next = None;
        self.segment = Some(segment);
        Ok(true)
    }

    /// The end of a segment's data once the writer moved past it.
    fn finished_end(&mut self, segment: &Segment) -> Option<usize> {
        if self.finished_end.is_none() {
            self.finished_end = segments::finished_end(self.log, segment);
        }
        self.finished_end
    }

    /// The segment after `segment`; `None` while it is not named yet.
    fn successor(&mut self, segment: &Segment) -> Result<Option<Arc<Segment>>> {
        if self.next.is_none() {
            self.next = segments::after(self.log, segment.id(), self.last + 1)?;
        }
        Ok(self.next.clone())
    }

    /// Waits for the writer to publish something, at most `timeout`.
    fn wait(&mut self, pending: Pending, timeout: Duration) {
        let (Some(beacon), Pending::Change) = (&self.beacon, pending) else {
            std::thread::sleep(timeout.min(POLL));
            return;
        };
        let beacon = Arc::clone(beacon);
        let channel = match self.mode {
            FollowMode::Durable => Channel::Durable,
            FollowMode::Appended => Channel::Appended,
        };
        let now = Instant::now();
        let deadline = now + timeout;
        let spin_until = match self.waiting {
            Waiting::Spin => deadline,
            // Writers append in bursts: a record often follows within microseconds, and
            // sleeping for it would cost the writer a wake-up call per record.
            Waiting::Block => deadline.min(now + SPIN_BEFORE_SLEEP),
        };
        if self.spin(&beacon, spin_until) || self.waiting == Waiting::Spin {
            return;
        }
        let seen = beacon.wake_count(channel);
        if !beacon.prepare_sleep(channel) {
            std::thread::sleep(timeout.min(POLL));
            return;
        }
        if self.changed(&beacon) {
            return;
        }
        beacon.sleep(channel, seen, timeout);
    }

    /// Spins until the writer publishes something or `until`; true when it did. It looks at
    /// every turn (one `pause` between looks, as the floor's reader does: a reader that
    /// paused 64 times between looks added half a microsecond to the median), and at the
    /// clock every 256 turns.
    fn spin(&self, beacon: &Beacon, until: Instant) -> bool {
        let mut turns = 0u32;
        loop {
            if self.changed(beacon) {
                return true;
            }
            turns = turns.wrapping_add(1);
            if turns.is_multiple_of(256) && Instant::now() >= until {
                return false;
            }
            std::hint::spin_loop();
        }
    }

    /// Whether the writer published anything this follower waits for since it last looked.
    fn changed(&self, beacon: &Beacon) -> bool {
        let (epoch, held) = beacon.epoch();
        if held {
            // Until the writer says what changed (its open, a truncation, a repair).
            return false;
        }
        if epoch != self.epoch {
            return true;
        }
        match self.mode {
            FollowMode::Durable => beacon.durable() != self.durable,
            FollowMode::Appended => beacon.try_ends().is_some_and(|ends| ends != self.ends),
        }
    }

    /// The segment the follower is in (`None` before it found one).
    #[must_use]
    pub fn segment(&self) -> Option<SegmentId> {
        self.segment.as_ref().map(|s| s.id())
    }
}

use crate::disk::beacon::BEACON_FILE as BEACON_NAME;
