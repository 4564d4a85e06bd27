//! Append-to-visible latency across two processes: a writer (this process) publishes events at a
//! fixed rate, a reader (a child process running this same binary) follows them, and the table
//! gives the percentiles of the time from "the writer stamped the event" to "the reader holds
//! it", both read from `CLOCK_MONOTONIC`, which is one clock for the whole system. The writer
//! keeps its send stamps, the reader stamps each event as it gets it, and the writer pairs them
//! up at the end, so an event the reader reaches late (even after the writer has reused its
//! slot) counts with its true latency.
//!
//! Each row is a [`Follower`]: one writer function and one reader function. The first rows are
//! the machine's floor, the raw primitives with no log in between:
//!
//! - `floor spin`: the reader busy-polls the published sequence word;
//! - `floor futex`: the reader sleeps on a futex when it has seen everything, and the writer
//!   wakes it after a publish if it announced itself (see [`Page::wake_readers`]: the order
//!   of the steps matters; it is the crate's, in `src/disk/beacon.rs`).
//!
//! The others are the crate's followers, in a process that opened the log read-only, of a
//! writer appending 64-byte records: appended mode spinning and blocking, and durable mode
//! (blocking) with a second writer thread syncing continuously.
//!
//! The writer paces itself with a busy-wait on the clock (open loop: a late writer catches up
//! rather than shifting the schedule), so it keeps one core busy; the reader has the other.
//! Nothing is pinned.
//!
//! `cargo bench --bench follow_latency` runs every row; `-- --quick` (or `-- --test`, or
//! `FOLLOW_LATENCY_QUICK=1`) runs a tenth of the events; any other argument keeps only the rows
//! whose name contains it (`-- futex`).

#![allow(unsafe_code)]

use std::error::Error;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use interstice::{FollowMode, Log, Lsn, Options, Waiting};
use memmap2::MmapRaw;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Rates of the table (events per second) and the events measured at each (full run).
const RUNS: [(u64, usize); 2] = [(10_000, 40_000), (100_000, 200_000)];
/// A quick run measures this fraction of the events.
const QUICK_DIVISOR: usize = 10;
/// Events published before the measured ones and not counted (page faults, cold caches, the
/// reader's first wake-ups).
const WARMUP: usize = 1_000;

/// Marks the child process and its role; its arguments are the follower's name, the run's
/// directory and the number of events (warm-up included).
const ROLE_VAR: &str = "FOLLOW_LATENCY_ROLE";
const ROLE_READER: &str = "reader";
const QUICK_VAR: &str = "FOLLOW_LATENCY_QUICK";
/// The file both processes map, in the run's directory.
const PAGE_FILE: &str = "page";
/// The reader's visibility stamps, written when it is done, in the run's directory.
const VISIBLE_FILE: &str = "visible";
/// How long the writer waits for the reader to start following, and to finish after the
/// last event.
const READER_TIMEOUT: Duration = Duration::from_secs(10);

/// One row of the table. `writer` runs in this process and publishes every event `pacer`
/// hands it; `reader` runs in the child, calls [`Ctx::ready`] once it is set up, then follows
/// the events and passes each event's sequence number to [`Recorder::record`] until
/// [`Recorder::done`]. Both panic on failure: a dead writer takes the reader down with it
/// (`PR_SET_PDEATHSIG`), and the writer reports a reader's non-zero exit.
struct Follower {
    name: &'static str,
    writer: fn(&Ctx, &mut Pacer),
    reader: fn(&Ctx, &mut Recorder),
}

const FOLLOWERS: &[Follower] = &[
    Follower {
        name: "floor spin",
        writer: floor_spin_writer,
        reader: floor_spin_reader,
    },
    Follower {
        name: "floor futex",
        writer: floor_futex_writer,
        reader: floor_futex_reader,
    },
    Follower {
        name: "interstice appended, spinning",
        writer: log_writer,
        reader: appended_spinning_reader,
    },
    Follower {
        name: "interstice appended, blocking",
        writer: log_writer,
        reader: appended_blocking_reader,
    },
    Follower {
        name: "interstice durable, blocking",
        writer: log_writer_syncing,
        reader: durable_blocking_reader,
    },
];

// ---------------------------------------------------------------------------------------------
// The log: a writer appending 64-byte records (the event's sequence number first), and a
// follower in the child process that opened the log read-only.

/// The log's directory in the run's directory.
const LOG_DIR: &str = "log";
const RECORD: usize = 64;

fn log_writer(ctx: &Ctx, pacer: &mut Pacer) {
    let log = Log::open(ctx.dir().join(LOG_DIR), Options::default()).expect("open the log");
    ctx.wait_following();
    append_events(&log, pacer);
    log.close().expect("close");
}

/// As `log_writer`, with a second thread syncing all the time: each record is durable after
/// the flush that follows it (group commit), which durable followers wait for.
fn log_writer_syncing(ctx: &Ctx, pacer: &mut Pacer) {
    let log = Log::open(ctx.dir().join(LOG_DIR), Options::default()).expect("open the log");
    ctx.wait_following();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if log.sync().expect("sync") == log.last_lsn() {
                    std::hint::spin_loop();
                }
            }
        });
        append_events(&log, pacer);
        while log.durable_lsn() < log.last_lsn() {
            std::thread::yield_now();
        }
        done.store(true, Ordering::Relaxed);
    });
    log.close().expect("close");
}

fn append_events(log: &Log, pacer: &mut Pacer) {
    let mut record = [0u8; RECORD];
    while let Some(event) = pacer.next_event() {
        record[..8].copy_from_slice(&event.seq.to_le_bytes());
        log.append(&record).expect("append");
    }
}

fn appended_spinning_reader(ctx: &Ctx, recorder: &mut Recorder) {
    follow_log(ctx, recorder, FollowMode::Appended, Waiting::Spin);
}

fn appended_blocking_reader(ctx: &Ctx, recorder: &mut Recorder) {
    follow_log(ctx, recorder, FollowMode::Appended, Waiting::Block);
}

fn durable_blocking_reader(ctx: &Ctx, recorder: &mut Recorder) {
    follow_log(ctx, recorder, FollowMode::Durable, Waiting::Block);
}

/// Follows the writer's log from its first record. Ready at once: the writer creates the log
/// when it starts, then waits until this reader has opened it and follows (the open walks
/// the active segment, tens of milliseconds that no event should wait for).
fn follow_log(ctx: &Ctx, recorder: &mut Recorder, mode: FollowMode, waiting: Waiting) {
    ctx.ready();
    let dir = ctx.dir().join(LOG_DIR);
    let log = loop {
        match Log::open_read_only(&dir, Options::default()) {
            Ok(log) => break log,
            Err(interstice::Error::NotALog { .. }) => {
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(e) => panic!("open the log read-only: {e}"),
        }
    };
    let mut follower = log.follow(Lsn::ZERO, mode).waiting(waiting);
    assert!(
        follower.try_next().expect("follow").is_none(),
        "no event before the start"
    );
    ctx.following();
    while !recorder.done() {
        if let Some(record) = follower.next(Duration::from_millis(100)).expect("follow") {
            let seq = u64::from_le_bytes(record.payload[..8].try_into().expect("8 bytes"));
            recorder.record(seq);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The floor: a ring of records in the shared page.

fn floor_spin_writer(ctx: &Ctx, pacer: &mut Pacer) {
    let page = ctx.page();
    while let Some(event) = pacer.next_event() {
        page.publish(event);
    }
}

fn floor_spin_reader(ctx: &Ctx, recorder: &mut Recorder) {
    let page = ctx.page();
    ctx.ready();
    let mut seen = 0;
    while !recorder.done() {
        let published = page.published.load(Ordering::Acquire);
        if published == seen {
            std::hint::spin_loop();
        } else {
            page.read(seen, published, recorder);
            seen = published;
        }
    }
}

fn floor_futex_writer(ctx: &Ctx, pacer: &mut Pacer) {
    let page = ctx.page();
    while let Some(event) = pacer.next_event() {
        page.publish(event);
        page.wake_readers();
    }
}

fn floor_futex_reader(ctx: &Ctx, recorder: &mut Recorder) {
    let page = ctx.page();
    ctx.ready();
    let mut seen = 0;
    while !recorder.done() {
        let published = page.published.load(Ordering::Acquire);
        if published == seen {
            page.wait(seen);
        } else {
            page.read(seen, published, recorder);
            seen = published;
        }
    }
}

/// Size of the shared file and of [`Page`].
const PAGE_SIZE: usize = 4096;
const LINE: usize = 64;
/// Records in the ring: the page after its four header lines.
const RING: usize = (PAGE_SIZE - 4 * LINE) / LINE;

/// The shared page. Every field is an atomic, so both processes touch it only through atomic
/// operations, and an all-zero page (a new file) is its initial state.
#[repr(C)]
struct Page {
    /// Sequence number of the last published event (events count from 1).
    published: Line<AtomicU64>,
    /// Futex word: bumped by every wake-up.
    wake: Line<AtomicU32>,
    /// Non-zero when a reader may be asleep on `wake` (or about to be).
    waiters: Line<AtomicU32>,
    /// Set by the reader once it follows (handshake, not part of any measurement): 1 when
    /// ready, 2 when a log reader opened the log its writer created and follows it.
    ready: Line<AtomicU32>,
    /// Event `n` lives in slot `n % RING`.
    ring: [Record; RING],
}

const _: () = assert!(size_of::<Page>() == PAGE_SIZE);

/// One cache line holding one word, so the words do not share lines.
#[repr(C, align(64))]
struct Line<T>(T);

impl<T> Deref for Line<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A 64-byte record: an event as the writer appends it, with its sequence number and send
/// stamp. (The measure uses the writer's own copy of the stamps, so that an event whose slot
/// was reused before the reader got to it still counts, with its true late time.)
#[repr(C, align(64))]
struct Record {
    seq: AtomicU64,
    sent: AtomicU64,
}

const _: () = assert!(size_of::<Record>() == LINE);

impl Page {
    /// Writes `event` into its slot and publishes it.
    fn publish(&self, event: Event) {
        let record = &self.ring[event.seq as usize % RING];
        record.sent.store(event.sent, Ordering::Relaxed);
        record.seq.store(event.seq, Ordering::Release);
        self.published.store(event.seq, Ordering::Release);
    }

    /// Reads the records after `seen` up to `published` and records each as visible. A slot
    /// holds its event, or a later one when the reader fell `RING` events behind; never an
    /// earlier one, which would mean the publication order is broken.
    fn read(&self, seen: u64, published: u64, recorder: &mut Recorder) {
        for seq in seen + 1..=published {
            let slot = self.ring[seq as usize % RING].seq.load(Ordering::Acquire);
            assert!(
                slot >= seq,
                "event {seq} published before its record ({slot})"
            );
            recorder.record(seq);
        }
    }

    /// Writer side of the futex protocol, after a publish: wakes the readers that announced
    /// themselves.
    ///
    /// Against [`Page::wait`] it is a store-then-load handshake on each side (publish, then
    /// read `waiters`; announce in `waiters`, then read `published`), so at least one side sees
    /// the other: the reader finds the event, or the writer finds the reader. And the writer
    /// bumps `wake` only after taking the announcement, so a reader that read `wake` before
    /// announcing and has not reached `FUTEX_WAIT` yet is refused the sleep by the kernel.
    ///
    /// Bumping `wake` on every publish instead, before checking `waiters`, loses wake-ups: the
    /// publish of event `n` bumps `wake`; the reader, already past `n`, reads `wake`, announces
    /// itself and re-checks (nothing new); the writer, still on `n`, takes the announcement and
    /// wakes nobody; the reader sleeps on the value it read, which nothing changes any more,
    /// and the next publish finds no announcement. (This bench hung so once: its reader asleep
    /// on `wake` value 13480, the writer done with all 201000 events.)
    fn wake_readers(&self) {
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) != 0 && self.waiters.swap(0, Ordering::SeqCst) != 0 {
            self.wake.fetch_add(1, Ordering::SeqCst);
            futex_wake(&self.wake);
        }
    }

    /// Reader side of the futex protocol: sleeps unless an event after `seen` is (or becomes)
    /// published. May return early; the caller re-checks.
    fn wait(&self, seen: u64) {
        // Read before announcing: a writer that takes the announcement bumps `wake` after, so
        // `FUTEX_WAIT` then refuses to sleep (or the wake-up finds the reader asleep).
        let wake = self.wake.load(Ordering::SeqCst);
        self.waiters.store(1, Ordering::SeqCst);
        if self.published.load(Ordering::SeqCst) == seen {
            futex_wait(&self.wake, wake);
        }
    }
}

fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic in a shared mapping; FUTEX_WAIT only
    // reads it. No FUTEX_PRIVATE_FLAG: the waker is another process. EAGAIN (the word changed)
    // and EINTR are both "re-check", so the result is ignored.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic in a shared mapping; FUTEX_WAKE reads no
    // memory of ours. Shared (not private) futex, as in `futex_wait`.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

// ---------------------------------------------------------------------------------------------
// Shared machinery: the mapping, pacing, recording, percentiles, the two processes, the table.

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process of the machine.
fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec`; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec.cast_unsigned() * 1_000_000_000 + ts.tv_nsec.cast_unsigned()
}

/// What every follower function gets: the run's directory (for followers with files of their
/// own) and the shared page.
struct Ctx {
    dir: PathBuf,
    map: MmapRaw,
}

impl Ctx {
    fn open(dir: &Path) -> Result<Ctx> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(PAGE_FILE))?;
        let map = MmapRaw::map_raw(&file)?;
        if map.len() != PAGE_SIZE {
            return Err(format!("shared page is {} bytes, not {PAGE_SIZE}", map.len()).into());
        }
        Ok(Ctx {
            dir: dir.to_path_buf(),
            map,
        })
    }

    /// The run's directory.
    fn dir(&self) -> &Path {
        &self.dir
    }

    #[expect(clippy::cast_ptr_alignment, reason = "a mapping is page-aligned")]
    fn page(&self) -> &Page {
        // SAFETY: the mapping is `PAGE_SIZE` bytes (checked in `open`), page-aligned (so
        // aligned for `Page`), shared, and lives as long as `self`. `Page` is all atomics, for
        // which any bytes (zero, or what the other process wrote) are valid, and both
        // processes access it only through them; nothing truncates the file while mapped.
        unsafe { &*self.map.as_ptr().cast::<Page>() }
    }

    /// Tells the writer that the reader is following: the writer starts publishing.
    fn ready(&self) {
        self.page().ready.store(1, Ordering::Release);
    }

    /// Tells a log writer that the reader opened its log and follows it.
    fn following(&self) {
        self.page().ready.store(2, Ordering::Release);
    }

    /// A log writer waits for its reader to follow (`following`).
    fn wait_following(&self) {
        let start = Instant::now();
        while self.page().ready.load(Ordering::Acquire) != 2 {
            assert!(
                start.elapsed() < READER_TIMEOUT,
                "the reader never followed"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// One event as the writer publishes it: its sequence number (from 1) and when it was sent.
#[derive(Clone, Copy)]
struct Event {
    seq: u64,
    sent: u64,
}

/// Hands the writer its events on schedule (event `n` is due `n - 1` periods after the first;
/// [`Pacer::next_event`] busy-waits until then) and keeps each event's send stamp.
struct Pacer {
    period: u64,
    events: usize,
    start: Option<u64>,
    /// Send stamps by sequence number - 1.
    sent: Vec<u64>,
}

impl Pacer {
    fn new(rate: u64, events: usize) -> Pacer {
        Pacer {
            period: 1_000_000_000 / rate,
            events,
            start: None,
            sent: prefaulted(events),
        }
    }

    /// The next event, stamped when it is due (or at once when the writer is late: the
    /// schedule does not shift); `None` after the last. The schedule starts at the first call.
    fn next_event(&mut self) -> Option<Event> {
        if self.sent.len() == self.events {
            return None;
        }
        let start = *self.start.get_or_insert_with(now);
        let due = start + self.sent.len() as u64 * self.period;
        let sent = loop {
            let t = now();
            if t >= due {
                break t;
            }
            std::hint::spin_loop();
        };
        self.sent.push(sent);
        Some(Event {
            seq: self.sent.len() as u64,
            sent,
        })
    }
}

/// Collects the reader's side: when each event became visible to it.
struct Recorder {
    /// Visibility stamps by sequence number - 1; `u64::MAX` until recorded.
    visible: Vec<u64>,
    recorded: usize,
}

impl Recorder {
    fn new(events: usize) -> Recorder {
        let mut visible = prefaulted(events);
        visible.resize(events, u64::MAX);
        Recorder {
            visible,
            recorded: 0,
        }
    }

    /// The reader holds event `seq` (numbered from 1) now.
    fn record(&mut self, seq: u64) {
        let at = now();
        let slot = &mut self.visible[seq as usize - 1];
        assert_eq!(*slot, u64::MAX, "event {seq} recorded twice");
        *slot = at;
        self.recorded += 1;
    }

    /// Every event has been recorded.
    fn done(&self) -> bool {
        self.recorded == self.visible.len()
    }
}

/// An empty vector with room for `len` words whose pages are already faulted in, so that
/// filling it during a run costs no page fault. (A non-zero fill writes every page; a zero
/// fill could get untouched zero pages from the allocator.)
fn prefaulted(len: usize) -> Vec<u64> {
    let mut v = vec![u64::MAX; len];
    v.clear();
    v
}

/// Latency percentiles of one run, in nanoseconds.
struct Summary {
    events: usize,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

impl Summary {
    fn new(mut latencies: Vec<u64>) -> Summary {
        latencies.sort_unstable();
        Summary {
            events: latencies.len(),
            p50: percentile(&latencies, 500),
            p99: percentile(&latencies, 990),
            p999: percentile(&latencies, 999),
            max: latencies.last().copied().unwrap_or(0),
        }
    }
}

/// Nearest-rank percentile of `sorted`, in thousandths (`990` for p99); 0 when empty.
fn percentile(sorted: &[u64], per_mille: usize) -> u64 {
    let rank = (sorted.len() * per_mille).div_ceil(1000).max(1);
    sorted.get(rank - 1).copied().unwrap_or(0)
}

/// The child process: follows the events with the named follower's reader, then writes the
/// visibility stamps to [`VISIBLE_FILE`] (little-endian words).
fn reader_main(args: &[String]) -> Result<()> {
    let [name, dir, events] = args else {
        return Err(format!("reader expects NAME DIR EVENTS, got {args:?}").into());
    };
    // Die with the writer rather than follow on forever if it fails.
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    let follower = find(name)?;
    let ctx = Ctx::open(Path::new(dir))?;
    let mut recorder = Recorder::new(events.parse()?);
    (follower.reader)(&ctx, &mut recorder);
    let bytes: Vec<u8> = recorder
        .visible
        .iter()
        .flat_map(|t| t.to_le_bytes())
        .collect();
    std::fs::write(ctx.dir().join(VISIBLE_FILE), bytes)?;
    Ok(())
}

fn find(name: &str) -> Result<&'static Follower> {
    FOLLOWERS
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| format!("no follower named {name:?}").into())
}

/// One row: a fresh directory and page, the reader started and ready, then the writer; the
/// latencies of the events after the warm-up.
fn run(follower: &Follower, rate: u64, events: usize) -> Result<Summary> {
    let total = WARMUP + events;
    let dir = tempfile::tempdir()?;
    std::fs::File::create(dir.path().join(PAGE_FILE))?.set_len(PAGE_SIZE as u64)?;
    let ctx = Ctx::open(dir.path())?;
    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE_VAR, ROLE_READER)
        .arg(follower.name)
        .arg(dir.path())
        .arg(total.to_string())
        .spawn()?;
    if let Err(e) = wait_ready(&ctx, &mut child) {
        // Best effort: the reader may have exited already.
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let mut pacer = Pacer::new(rate, total);
    (follower.writer)(&ctx, &mut pacer);
    let status = wait_exit(&mut child)?;
    if !status.success() {
        return Err(format!("{}: reader failed ({status})", follower.name).into());
    }
    let sent = pacer.sent;
    if sent.len() != total {
        return Err(format!(
            "{}: writer sent {} of {total} events",
            follower.name,
            sent.len()
        )
        .into());
    }
    let bytes = std::fs::read(dir.path().join(VISIBLE_FILE))?;
    let visible: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|word| u64::from_le_bytes(word.try_into().expect("8-byte chunk")))
        .collect();
    if visible.len() != total || visible.contains(&u64::MAX) {
        return Err(format!("{}: reader did not see every event", follower.name).into());
    }
    let latencies = sent[WARMUP..]
        .iter()
        .zip(&visible[WARMUP..])
        .map(|(&sent, &visible)| visible.saturating_sub(sent))
        .collect();
    Ok(Summary::new(latencies))
}

fn wait_ready(ctx: &Ctx, child: &mut Child) -> Result<()> {
    let start = Instant::now();
    while ctx.page().ready.load(Ordering::Acquire) == 0 {
        if let Some(status) = child.try_wait()? {
            return Err(format!("reader exited before following ({status})").into());
        }
        if start.elapsed() > READER_TIMEOUT {
            return Err("reader did not start following in time".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Waits for the reader to finish; kills it if it is still following well after the last
/// event (a lost wake-up would leave it asleep for good).
fn wait_exit(child: &mut Child) -> Result<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > READER_TIMEOUT {
            // Best effort: it may exit on its own meanwhile.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "reader still following {READER_TIMEOUT:?} after the last event (lost wake-up?)"
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn micros(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1_000.0)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os(ROLE_VAR).is_some_and(|role| role == ROLE_READER) {
        return reader_main(&args[1..]);
    }
    let mut quick = std::env::var_os(QUICK_VAR).is_some_and(|v| !v.is_empty() && v != "0");
    let mut filters = Vec::new();
    for arg in &args[1..] {
        match arg.as_str() {
            "--quick" | "--test" => quick = true,
            "--bench" => {}
            filter => filters.push(filter),
        }
    }
    let loadavg = std::fs::read_to_string("/proc/loadavg")?;
    println!("command: `{}`", args.join(" "));
    println!("load average at start: {}", loadavg.trim());
    println!();
    println!("| follower | rate/s | events | p50 us | p99 us | p99.9 us | max us |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let selected = FOLLOWERS
        .iter()
        .filter(|f| filters.is_empty() || filters.iter().any(|s| f.name.contains(s)));
    for follower in selected {
        for (rate, events) in RUNS {
            let events = if quick {
                events / QUICK_DIVISOR
            } else {
                events
            };
            let s = run(follower, rate, events)?;
            println!(
                "| {} | {rate} | {} | {} | {} | {} | {} |",
                follower.name,
                s.events,
                micros(s.p50),
                micros(s.p99),
                micros(s.p999),
                micros(s.max),
            );
        }
    }
    Ok(())
}
