//! `Beacon`: the page through which a log's writer tells followers, in its own process and in
//! others, where its records end and when that changes.
//!
//! A follower in another process maps the log's segments read-only and could check every
//! record it finds, but it cannot tell a record the writer is still writing from a damaged one,
//! nor know when to look again. The writer therefore publishes its ends in a small file of the
//! log directory, `interstice.ends`, which every party maps shared: followers read it, and
//! sleep on a futex word in it that the writer wakes. Nothing in it is durable or needed for
//! recovery (it is never synced; a log without it is whole), and followers trust none of it
//! blindly: every record is still checked.
//!
//! This is the crate's second module with `unsafe` code, because neither std nor memmap2
//! offers atomics over memory shared between processes, nor futexes, nor `membarrier`: the
//! words of the page are used as `AtomicU64`/`AtomicU32` through pointers into the mapping,
//! and three system calls are made directly.
//!
//! # Layout (little-endian words of 8 bytes)
//!
//! | word | what |
//! |---|---|
//! | 0 | magic `ISTCENDS` |
//! | 1 | version (1) |
//! | 2 | the log's id (as in its segment headers) |
//! | 3 | sequence of the ends (odd while the writer changes them: a seqlock) |
//! | 4, 5, 6 | the ends: active segment id, end of its published data, last appended LSN |
//! | 7 | the durable LSN |
//! | 8 | epoch: raised by each suffix truncation and each writer's open |
//! | 9 | 1 while a writer opens (recovers), truncates or repairs the log: followers hold |
//! | 10 | 1 when the writer pays a full barrier per publication (no `membarrier`) |
//! | 11 | appended channel: wake counter (low half), sleepers flag (high half) |
//! | 12 | durable channel: the same |
//! | 16..80 | the LSN each epoch kept (truncated to), by epoch modulo 64 |
//!
//! # Waking without a barrier per append
//!
//! A follower about to sleep raises its channel's sleepers flag, then looks at the ends again,
//! then sleeps on the wake counter; the writer, after publishing, wakes the channel if the
//! flag is up. For no wake-up to be lost, each side needs a full barrier between its store and
//! its load (Dekker's pattern). The writer's side runs per append, so it pays only a compiler
//! barrier, and the follower's side issues `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, which
//! runs a full barrier on every running thread of every process that registered for it, as the
//! writer does when it creates the beacon. Where the kernel lacks it, the writer says so in
//! word 10 and pays a full fence per publication instead.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, compiler_fence, fence};
use std::time::Duration;

/// File name of the beacon in a log directory.
pub const BEACON_FILE: &str = "interstice.ends";

const SIZE: usize = 4096;
const MAGIC: u64 = u64::from_le_bytes(*b"ISTCENDS");
const VERSION: u64 = 1;

const W_MAGIC: usize = 0;
const W_VERSION: usize = 1;
const W_LOG_ID: usize = 2;
const W_SEQ: usize = 3;
const W_SEGMENT: usize = 4;
const W_END: usize = 5;
const W_LAST: usize = 6;
const W_DURABLE: usize = 7;
const W_EPOCH: usize = 8;
const W_OPENING: usize = 9;
const W_FENCED: usize = 10;
const W_APPENDED: usize = 11;
const W_DURABLE_CHANNEL: usize = 12;
const W_KEPT: usize = 16;
/// How many times `try_ends` looks at a sequence that stays odd before it gives up.
const SEQ_LOOKS: u32 = 1 << 16;
/// How many epochs back the LSN each kept is remembered.
pub const EPOCHS_KEPT: u64 = 64;

const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

/// Where the writer's records end, as one consistent reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    /// The active segment's id.
    pub segment: u64,
    /// The end of the data published in it (a byte offset in its file).
    pub end: u64,
    /// The last LSN appended.
    pub last: u64,
}

/// What a follower waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// New ends (appends, rotations).
    Appended,
    /// A new durable LSN.
    Durable,
}

/// The mapped beacon of one log directory.
#[derive(Debug)]
pub struct Beacon {
    page: Page,
    role: Role,
}

/// Who mapped a beacon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The log's writer: it publishes.
    Writer,
    /// A follower; `can_sleep` when its mapping is writable (it may raise a sleepers flag).
    Follower { can_sleep: bool },
}

impl Beacon {
    /// Opens (or creates) the beacon of `dir` for the log's writer, keeping the
    /// file, and so the futex words followers sleep on, when it is already a beacon.
    ///
    /// # Errors
    /// The OS error of creating, sizing or mapping the file.
    pub fn create(dir: &Path) -> io::Result<Beacon> {
        let path = dir.join(BEACON_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if file.metadata()?.len() != SIZE as u64 {
            // Written, not just sized: a page of a hole would take its block at the first
            // store through the mapping, which on a full disk is a SIGBUS, not an error.
            use std::os::unix::fs::FileExt;
            file.set_len(0)?;
            file.write_all_at(&[0u8; SIZE], 0)?;
        }
        let page = Page::map(&file, true)?;
        let beacon = Beacon {
            page,
            role: Role::Writer,
        };
        let known = beacon.word(W_MAGIC).load(Ordering::Acquire) == MAGIC
            && beacon.word(W_VERSION).load(Ordering::Acquire) == VERSION;
        if !known {
            for word in W_VERSION..SIZE / 8 {
                beacon.word(word).store(0, Ordering::Relaxed);
            }
            beacon.word(W_VERSION).store(VERSION, Ordering::Relaxed);
            beacon.word(W_MAGIC).store(MAGIC, Ordering::Release);
        }
        // A writer killed between the two stores of a publication left the sequence odd:
        // this one holds the log's lock (or repairs it), so no publication is under way.
        let seq = beacon.word(W_SEQ);
        seq.store((seq.load(Ordering::Relaxed) + 1) & !1, Ordering::Release);
        let registered = membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED);
        beacon
            .word(W_FENCED)
            .store(u64::from(!registered), Ordering::Release);
        Ok(beacon)
    }

    /// Maps the beacon of `dir` for a follower: `None` when there is none, or when it is not
    /// (or not yet) a whole beacon of this version. The follower maps it writable when it may,
    /// to raise a sleepers flag before it sleeps (it writes nothing else, and nothing of the
    /// log); without write permission it maps it read-only and polls instead of sleeping.
    ///
    /// # Errors
    /// The OS error of opening or mapping an existing file.
    pub fn open(dir: &Path) -> io::Result<Option<Beacon>> {
        let path = dir.join(BEACON_FILE);
        let opened = OpenOptions::new().read(true).write(true).open(&path);
        let (file, can_sleep) = match opened {
            Ok(file) => (file, true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => match File::open(&path) {
                Ok(file) => (file, false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        if file.metadata()?.len() != SIZE as u64 {
            return Ok(None);
        }
        let page = Page::map(&file, can_sleep)?;
        let beacon = Beacon {
            page,
            role: Role::Follower { can_sleep },
        };
        let whole = beacon.word(W_MAGIC).load(Ordering::Acquire) == MAGIC
            && beacon.word(W_VERSION).load(Ordering::Acquire) == VERSION;
        Ok(whole.then_some(beacon))
    }

    // The mapping is page-aligned and offsets are multiples of the word size.
    #[allow(clippy::cast_ptr_alignment)]
    fn word(&self, index: usize) -> &AtomicU64 {
        assert!(index < SIZE / 8);
        // SAFETY: the mapping is `SIZE` bytes, page-aligned, and lives as long as `self`, so
        // word `index` is in bounds and 8-byte aligned. It is only ever accessed atomically,
        // by this process and by others (memory shared through the page cache). Atomic loads
        // of a read-only mapping are allowed (std's "atomic accesses to read-only memory":
        // lock-free loads of at most 8 bytes); stores go through writable mappings only.
        unsafe { &*self.page.base().add(index * 8).cast::<AtomicU64>() }
    }

    #[allow(clippy::cast_ptr_alignment)]
    fn half(&self, index: usize, high: bool) -> &AtomicU32 {
        assert!(index < SIZE / 8);
        let offset = index * 8 + if high { 4 } else { 0 };
        // SAFETY: as for `word`: in bounds, 4-byte aligned, accessed atomically only.
        unsafe { &*self.page.base().add(offset).cast::<AtomicU32>() }
    }

    fn channel_words(&self, channel: Channel) -> (&AtomicU32, &AtomicU32) {
        let index = match channel {
            Channel::Appended => W_APPENDED,
            Channel::Durable => W_DURABLE_CHANNEL,
        };
        (self.half(index, false), self.half(index, true))
    }

    /// The log id the writer wrote.
    #[must_use]
    pub fn log_id(&self) -> u64 {
        self.word(W_LOG_ID).load(Ordering::Acquire)
    }

    // ---- The writer's side: every call below is made under the writer's lock, except
    // `set_durable`, which its caller serializes.

    /// Publishes new ends (an append, a rotation).
    #[inline]
    pub fn publish(&self, ends: Ends) {
        debug_assert_eq!(self.role, Role::Writer);
        let seq = self.word(W_SEQ);
        let at = seq.load(Ordering::Relaxed);
        seq.store(at | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.word(W_SEGMENT).store(ends.segment, Ordering::Relaxed);
        self.word(W_END).store(ends.end, Ordering::Relaxed);
        self.word(W_LAST).store(ends.last, Ordering::Relaxed);
        seq.store((at | 1) + 1, Ordering::Release);
        self.wake_if_asleep(Channel::Appended);
    }

    /// Publishes a new durable LSN.
    pub fn set_durable(&self, lsn: u64) {
        debug_assert_eq!(self.role, Role::Writer);
        self.word(W_DURABLE).store(lsn, Ordering::Release);
        self.wake_if_asleep(Channel::Durable);
    }

    /// A writer starts opening the log: until `opened`, recovery may remove records past the
    /// durable LSN, which followers must not yield meanwhile.
    pub fn opening(&self) {
        debug_assert_eq!(self.role, Role::Writer);
        let epoch = self.word(W_EPOCH).load(Ordering::Relaxed).wrapping_add(1);
        // Until `opened` says what was kept, what a recovery cut short keeps at least: every
        // durable record.
        let durable = self.word(W_DURABLE).load(Ordering::Relaxed);
        self.kept_slot(epoch).store(durable, Ordering::Relaxed);
        self.word(W_OPENING).store(1, Ordering::Relaxed);
        self.word(W_EPOCH).store(epoch, Ordering::Release);
        // Before recovery changes any byte a follower may be reading.
        fence(Ordering::SeqCst);
    }

    /// The writer's open failed: recovery changed nothing followers read beyond the durable
    /// LSN that `opening` recorded as kept.
    pub fn open_failed(&self) {
        self.word(W_OPENING).store(0, Ordering::Release);
        self.wake_all();
    }

    /// A repair (under the log's lock, between `opening` and this) removed every record after
    /// `kept`: followers past it learn they read removed records.
    pub fn repaired(&self, kept: u64) {
        let epoch = self.word(W_EPOCH).load(Ordering::Relaxed);
        let slot = self.kept_slot(epoch);
        slot.store(slot.load(Ordering::Relaxed).min(kept), Ordering::Release);
        let ends = self.ends();
        self.publish(Ends {
            last: ends.last.min(kept),
            ..ends
        });
        self.word(W_OPENING).store(0, Ordering::Release);
        self.wake_all();
    }

    /// Records the log's id (known once recovery has read the segments).
    pub fn set_log_id(&self, log_id: u64) {
        self.word(W_LOG_ID).store(log_id, Ordering::Release);
    }

    /// The writer opened the log, keeping every record up to `kept`.
    pub fn opened(&self, kept: u64, ends: Ends, durable: u64) {
        let epoch = self.word(W_EPOCH).load(Ordering::Relaxed);
        self.kept_slot(epoch).store(kept, Ordering::Release);
        self.publish(ends);
        self.set_durable(durable);
        self.word(W_OPENING).store(0, Ordering::Release);
        self.wake_all();
    }

    /// A suffix truncation keeps the records up to `kept` only: call it before any byte of
    /// the removed records changes.
    pub fn cut(&self, kept: u64) {
        debug_assert_eq!(self.role, Role::Writer);
        // Followers hold until `cut_done`: segments are removed, created and listed meanwhile.
        self.word(W_OPENING).store(1, Ordering::Relaxed);
        // Followers that see the new epoch and read the ends again must not take the old
        // last LSN for one still there: until the truncation publishes its own ends, none
        // past `kept` is.
        let ends = self.ends();
        self.publish(Ends {
            last: ends.last.min(kept),
            ..ends
        });
        let epoch = self.word(W_EPOCH).load(Ordering::Relaxed).wrapping_add(1);
        self.kept_slot(epoch).store(kept, Ordering::Relaxed);
        self.word(W_EPOCH).store(epoch, Ordering::Release);
        fence(Ordering::SeqCst);
        self.wake_all();
    }

    /// The truncation announced by `cut` is done and its ends published: followers go on.
    pub fn cut_done(&self) {
        debug_assert_eq!(self.role, Role::Writer);
        self.word(W_OPENING).store(0, Ordering::Release);
        self.wake_all();
    }

    fn kept_slot(&self, epoch: u64) -> &AtomicU64 {
        self.word(W_KEPT + (epoch % EPOCHS_KEPT) as usize)
    }

    #[inline]
    fn wake_if_asleep(&self, channel: Channel) {
        if self.word(W_FENCED).load(Ordering::Relaxed) != 0 {
            fence(Ordering::SeqCst);
        } else {
            // The followers' `membarrier` stands for the fence here (module docs).
            compiler_fence(Ordering::SeqCst);
        }
        let (_, asleep) = self.channel_words(channel);
        if asleep.load(Ordering::Relaxed) != 0 {
            self.wake(channel);
        }
    }

    #[cold]
    fn wake(&self, channel: Channel) {
        let (counter, asleep) = self.channel_words(channel);
        asleep.store(0, Ordering::Relaxed);
        counter.fetch_add(1, Ordering::SeqCst);
        futex_wake(counter);
    }

    fn wake_all(&self) {
        self.wake(Channel::Appended);
        self.wake(Channel::Durable);
    }

    // ---- The followers' side.

    /// The ends, read consistently. For the writer (whose own publications are never under
    /// way when it reads) and for tests; followers use `try_ends`.
    #[must_use]
    pub fn ends(&self) -> Ends {
        loop {
            if let Some(ends) = self.try_ends() {
                return ends;
            }
        }
    }

    /// The ends, read consistently; `None` when a publication stays under way for
    /// thousands of looks (a writer killed between its two stores, or a foreign page):
    /// nothing new to read, then.
    #[must_use]
    pub fn try_ends(&self) -> Option<Ends> {
        let seq = self.word(W_SEQ);
        for _ in 0..SEQ_LOOKS {
            let before = seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let ends = Ends {
                segment: self.word(W_SEGMENT).load(Ordering::Relaxed),
                end: self.word(W_END).load(Ordering::Relaxed),
                last: self.word(W_LAST).load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == before {
                return Some(ends);
            }
        }
        None
    }

    /// The durable LSN.
    #[must_use]
    pub fn durable(&self) -> u64 {
        self.word(W_DURABLE).load(Ordering::Acquire)
    }

    /// The epoch and whether followers hold (a writer opening, truncating or repairing the
    /// log). Read after reading a record's bytes (with `after_read`): unchanged since before
    /// them, the bytes were not being removed.
    #[must_use]
    pub fn epoch(&self) -> (u64, bool) {
        let epoch = self.word(W_EPOCH).load(Ordering::Acquire);
        let opening = self.word(W_OPENING).load(Ordering::Acquire) != 0;
        (epoch, opening)
    }

    /// Orders the reads of a record's bytes before the next `epoch` (a seqlock's reader).
    #[inline]
    pub fn after_read() {
        fence(Ordering::Acquire);
    }

    /// The lowest LSN kept by the epochs after `since` up to `now`; `None` when more than
    /// `EPOCHS_KEPT` passed (their cuts are forgotten).
    #[must_use]
    pub fn kept_since(&self, since: u64, now: u64) -> Option<u64> {
        if now.wrapping_sub(since) > EPOCHS_KEPT {
            return None;
        }
        let kept = (1..=now.wrapping_sub(since))
            .map(|step| {
                self.kept_slot(since.wrapping_add(step))
                    .load(Ordering::Acquire)
            })
            .min();
        // The slots read are still those epochs' only if the writer did not lap them.
        let (after, _) = self.epoch();
        if after.wrapping_sub(since) > EPOCHS_KEPT {
            return None;
        }
        Some(kept.unwrap_or(u64::MAX))
    }

    /// The wake counter of `channel`, to pass to `sleep` after looking at the ends again.
    #[must_use]
    pub fn wake_count(&self, channel: Channel) -> u32 {
        self.channel_words(channel).0.load(Ordering::Acquire)
    }

    /// Announces a sleeper on `channel`; false when this follower cannot sleep (a read-only
    /// mapping: it polls). After it, look at the ends (or the durable LSN) again, then `sleep`
    /// if nothing changed.
    #[must_use]
    pub fn prepare_sleep(&self, channel: Channel) -> bool {
        if self.role == (Role::Follower { can_sleep: false }) {
            return false;
        }
        let (_, asleep) = self.channel_words(channel);
        asleep.store(1, Ordering::Relaxed);
        self.heavy_barrier()
    }

    /// The sleeper's half of the barrier pair: false when it could not be had (the writer
    /// fences nothing and `membarrier` failed here): the caller then polls, not sleeps.
    fn heavy_barrier(&self) -> bool {
        fence(Ordering::SeqCst);
        self.word(W_FENCED).load(Ordering::Relaxed) != 0
            || membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)
    }

    /// Sleeps until `channel` is woken after `seen` was read, or `timeout` passes (spurious
    /// wake-ups are possible: look again after it).
    pub fn sleep(&self, channel: Channel, seen: u32, timeout: Duration) {
        let (counter, _) = self.channel_words(channel);
        futex_wait(counter, seen, timeout);
    }
}

/// `membarrier(command)`: whether it succeeded.
#[cfg(not(miri))]
fn membarrier(command: libc::c_int) -> bool {
    // SAFETY: a plain system call with integer arguments; its failure is reported.
    unsafe { libc::syscall(libc::SYS_membarrier, command, 0, 0) == 0 }
}

/// Under Miri: never available (the writer then fences every publication).
#[cfg(miri)]
fn membarrier(_command: libc::c_int) -> bool {
    false
}

/// The beacon's page: the file mapped shared.
#[cfg(not(miri))]
#[derive(Debug)]
struct Page(memmap2::MmapRaw);

/// Under Miri, which cannot map files, the page is memory of this process only (Miri runs
/// no follower of another process), 8-byte aligned as a mapping is.
#[cfg(miri)]
#[derive(Debug)]
struct Page(Box<[AtomicU64; SIZE / 8]>);

impl Page {
    #[cfg(not(miri))]
    fn map(file: &File, writable: bool) -> io::Result<Page> {
        let mut options = memmap2::MmapOptions::new();
        options.len(SIZE);
        let map = if writable {
            options.map_raw(file)?
        } else {
            options.map_raw_read_only(file)?
        };
        Ok(Page(map))
    }

    #[cfg(miri)]
    #[allow(clippy::unnecessary_wraps)]
    fn map(_file: &File, _writable: bool) -> io::Result<Page> {
        Ok(Page(Box::new(std::array::from_fn(|_| AtomicU64::new(0)))))
    }

    fn base(&self) -> *const u8 {
        #[cfg(not(miri))]
        return self.0.as_ptr();
        #[cfg(miri)]
        return self.0.as_ptr().cast();
    }
}

/// Sleeps on `word` while it holds `expected`, at most `timeout`.
#[cfg(miri)]
fn futex_wait(_word: &AtomicU32, _expected: u32, timeout: Duration) {
    std::thread::sleep(timeout.min(Duration::from_millis(1)));
}

/// Wakes every sleeper on `word`.
#[cfg(miri)]
fn futex_wake(_word: &AtomicU32) {}

/// Sleeps on `word` while it holds `expected`, at most `timeout`.
#[cfg(not(miri))]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let spec = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: `word` is a valid, aligned 32-bit word that outlives the call (the kernel only
    // reads it), and `spec` a valid timespec. The futex is shared (no FUTEX_PRIVATE_FLAG):
    // the word lives in a file mapped by other processes. Every outcome (woken, timed out,
    // interrupted, value changed) is handled by the caller looking again.
    let _ = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &raw const spec,
            std::ptr::null::<u32>(),
            0,
        )
    };
}

/// Wakes every sleeper on `word`.
#[cfg(not(miri))]
fn futex_wake(word: &AtomicU32) {
    // SAFETY: as for `futex_wait`; FUTEX_WAKE only uses the word's address.
    let _ = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    fn writer() -> (tempfile::TempDir, Beacon) {
        let dir = tempfile::tempdir().unwrap();
        let beacon = Beacon::create(dir.path()).unwrap();
        (dir, beacon)
    }

    #[test]
    fn a_reader_never_sees_torn_ends() {
        let (_dir, beacon) = writer();
        let beacon = Arc::new(beacon);
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (beacon, done) = (Arc::clone(&beacon), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut last = 0;
                while !done.load(Ordering::Relaxed) {
                    let ends = beacon.ends();
                    assert!(
                        ends.segment == ends.end && ends.end == ends.last,
                        "{ends:?}"
                    );
                    assert!(ends.last >= last, "ends go back");
                    last = ends.last;
                }
            })
        };
        let rounds = if cfg!(miri) { 200 } else { 200_000 };
        for i in 1..=rounds {
            beacon.publish(Ends {
                segment: i,
                end: i,
                last: i,
            });
        }
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap();
    }

    #[test]
    fn cuts_lower_the_ends_and_are_remembered_per_epoch() {
        let (_dir, beacon) = writer();
        beacon.publish(Ends {
            segment: 1,
            end: 4096,
            last: 50,
        });
        let (before, opening) = beacon.epoch();
        assert!(!opening);
        beacon.cut(40);
        assert_eq!(
            beacon.ends().last,
            40,
            "no LSN past the cut until it publishes"
        );
        beacon.cut(45);
        let (now, _) = beacon.epoch();
        assert_eq!(now, before + 2);
        assert_eq!(beacon.kept_since(before, now), Some(40));
        assert_eq!(beacon.kept_since(before + 1, now), Some(45));
        assert_eq!(beacon.kept_since(now, now), Some(u64::MAX));
        for _ in 0..EPOCHS_KEPT {
            beacon.cut(45);
        }
        let (later, _) = beacon.epoch();
        assert_eq!(beacon.kept_since(before, later), None, "forgotten epochs");
    }

    #[test]
    fn an_open_holds_followers_back_until_it_says_what_it_kept() {
        let (_dir, beacon) = writer();
        beacon.set_durable(30);
        beacon.opening();
        let (epoch, opening) = beacon.epoch();
        assert!(opening);
        assert_eq!(
            beacon.kept_since(epoch - 1, epoch),
            Some(30),
            "at least the durable"
        );
        beacon.opened(
            35,
            Ends {
                segment: 2,
                end: 4096,
                last: 35,
            },
            35,
        );
        assert_eq!(beacon.epoch(), (epoch, false));
        assert_eq!(beacon.kept_since(epoch - 1, epoch), Some(35));
        assert_eq!(beacon.durable(), 35);
    }

    #[test]
    fn a_sleeper_is_woken_by_the_next_publication() {
        let (_dir, beacon) = writer();
        let beacon = Arc::new(beacon);
        let rounds = if cfg!(miri) { 5 } else { 500 };
        let sleeper = {
            let beacon = Arc::clone(&beacon);
            std::thread::spawn(move || {
                let mut seen = 0;
                while seen < rounds {
                    let count = beacon.wake_count(Channel::Appended);
                    assert!(beacon.prepare_sleep(Channel::Appended));
                    if beacon.ends().last == seen {
                        // A lost wake-up would stall here for the whole timeout, every time.
                        beacon.sleep(Channel::Appended, count, Duration::from_secs(10));
                    }
                    seen = beacon.ends().last.max(seen);
                }
            })
        };
        let started = std::time::Instant::now();
        for last in 1..=rounds {
            std::thread::sleep(Duration::from_micros(200));
            beacon.publish(Ends {
                segment: 1,
                end: 0,
                last,
            });
        }
        sleeper.join().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "a wake-up was lost"
        );
    }

    #[test]
    fn a_follower_finds_the_writers_page_and_not_a_foreign_file() {
        let (dir, beacon) = writer();
        beacon.set_log_id(7);
        beacon.publish(Ends {
            segment: 3,
            end: 100,
            last: 9,
        });
        if !cfg!(miri) {
            let follower = Beacon::open(dir.path()).unwrap().unwrap();
            assert_eq!(follower.log_id(), 7);
            assert_eq!(follower.ends().last, 9);
        }
        let other = tempfile::tempdir().unwrap();
        assert!(Beacon::open(other.path()).unwrap().is_none());
        std::fs::write(other.path().join(BEACON_FILE), vec![1u8; SIZE]).unwrap();
        assert!(
            Beacon::open(other.path()).unwrap().is_none(),
            "foreign bytes"
        );
    }
}
