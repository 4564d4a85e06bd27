//! The live phase of a soak cycle: writer threads append and sync, reader threads walk the
//! log the three ways it can be read, and the phase's own thread applies retention and cuts
//! suffixes, all on one open log.
//!
//! A gate orders the soak's bookkeeping, not the engine: writers and readers hold it shared
//! while they append-and-register or take a snapshot with the oracle, and retention and
//! suffix truncation hold it alone, so the oracle always describes the log a snapshot saw.
//! Readers walk their snapshots after leaving the gate, while segments are removed under them.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use interstice::{Durability, Log, Lsn, Options};
use parking_lot::{Mutex, RwLock};

use super::Counters;
use super::record::{Identity, Known, Rng, Walk, engine, violation};
use crate::cli::Failure;

/// What one live phase runs.
#[derive(Debug)]
pub struct Phase<'a> {
    /// The log directory.
    pub dir: &'a Path,
    /// Options to open the log with.
    pub options: Options,
    /// Writer threads.
    pub writers: usize,
    /// Reader threads.
    pub readers: usize,
    /// How long it runs.
    pub duration: Duration,
    /// Its number (writer identities are unique per phase).
    pub number: u64,
    /// Seed of its choices.
    pub seed: u64,
}

/// Segments kept by retention: it removes the oldest when there are more.
const SEGMENTS_KEPT: usize = 16;

struct Shared<'a> {
    phase: &'a Phase<'a>,
    log: Log,
    gate: RwLock<()>,
    known: Mutex<Known>,
    stop: AtomicBool,
    failure: Mutex<Option<Failure>>,
    counters: &'a Counters,
}

impl Shared<'_> {
    /// Keeps the first failure and stops every thread.
    fn guard(&self, outcome: Result<(), Failure>) {
        if let Err(failure) = outcome {
            self.failure.lock().get_or_insert(failure);
            self.stop.store(true, Ordering::Release);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn engine(&self, doing: &str, error: interstice::Error) -> Failure {
        engine(self.phase.dir, doing, error)
    }
}

/// Runs one live phase on `known`'s log and closes the log cleanly.
///
/// # Errors
/// The first violation or engine failure.
pub fn run(
    phase: &Phase<'_>,
    known: &mut Known,
    counters: &Counters,
    bar: &ProgressBar,
    started: Instant,
) -> Result<(), Failure> {
    let log = Log::open(phase.dir, phase.options.clone())
        .map_err(|e| engine(phase.dir, "opening the log", e))?;
    let shared = Shared {
        phase,
        log,
        gate: RwLock::new(()),
        known: Mutex::new(std::mem::take(known)),
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
        counters,
    };
    let maintained = std::thread::scope(|scope| {
        for w in 0..phase.writers {
            let shared = &shared;
            scope.spawn(move || shared.guard(write(shared, w as u64)));
        }
        for r in 0..phase.readers {
            let shared = &shared;
            scope.spawn(move || shared.guard(read(shared, r as u64)));
        }
        let outcome = maintain(&shared, bar, started);
        shared.stop.store(true, Ordering::Release);
        outcome
    });
    if let Some(failure) = shared.failure.into_inner() {
        return Err(failure);
    }
    maintained?;
    let log = shared.log;
    let mut held = shared.known.into_inner();
    let last = log.last_lsn().0;
    log.close()
        .map_err(|e| engine(phase.dir, "closing the log", e))?;
    held.promote(last);
    held.last_lsn = last;
    *known = held;
    Ok(())
}

/// A writer thread: batches of 1 to 8 records of random sizes, syncs now and then, and
/// registers every record, then acknowledges the durable ones.
fn write(shared: &Shared<'_>, w: u64) -> Result<(), Failure> {
    let phase = shared.phase;
    let mut rng = Rng::new(phase.seed, 0x100 + w);
    let writer = (phase.number * 64 + w) as u32;
    let batch_bytes_max = phase.options.segment_size / 4;
    let mut seq = 0;
    while !shared.stopped() {
        let parts = if rng.one_in(3) { 2 + rng.below(7) } else { 1 };
        let mut lens = Vec::new();
        let mut bytes = 0;
        for _ in 0..parts {
            let len = rng.content_len();
            bytes += u64::from(len) + 64;
            if !lens.is_empty() && bytes > batch_bytes_max {
                break;
            }
            lens.push(len);
        }
        let ids: Vec<Identity> = (0..lens.len())
            .map(|part| Identity {
                writer,
                seq: seq + part as u64,
                part: part as u16,
                parts: lens.len() as u16,
                len: lens[part],
            })
            .collect();
        seq += ids.len() as u64;
        let payloads: Vec<Vec<u8>> = ids.iter().map(Identity::payload).collect();
        let sync = rng.one_in(4);
        append_one_batch(shared, &ids, &payloads, sync)?;
        if rng.one_in(500) {
            shared
                .log
                .rotate_now()
                .map_err(|e| shared.engine("rotate_now", e))?;
        }
    }
    Ok(())
}

fn append_one_batch(
    shared: &Shared<'_>,
    ids: &[Identity],
    payloads: &[Vec<u8>],
    sync: bool,
) -> Result<(), Failure> {
    let counters = shared.counters;
    let _gate = shared.gate.read();
    let log = &shared.log;
    let last = if payloads.len() == 1 {
        log.append(&payloads[0])
            .map_err(|e| shared.engine("append", e))?
    } else {
        Counters::add(&counters.batches, 1);
        log.append_batch(payloads)
            .map_err(|e| shared.engine("append_batch", e))?
    };
    Counters::add(&counters.appends, payloads.len() as u64);
    Counters::add(
        &counters.bytes,
        payloads.iter().map(|p| p.len() as u64).sum(),
    );
    let first = last.0 + 1 - payloads.len() as u64;
    {
        let mut known = shared.known.lock();
        for (i, id) in ids.iter().enumerate() {
            known
                .register(first + i as u64, *id)
                .map_err(|why| violation(format!("{}: {why}", shared.phase.dir.display())))?;
        }
    }
    let durable = if shared.phase.options.durability == Durability::EveryAppend {
        log.durable_lsn()
    } else if sync {
        Counters::add(&counters.syncs, 1);
        log.sync().map_err(|e| shared.engine("sync", e))?
    } else {
        return Ok(());
    };
    if durable < last {
        return Err(violation(format!(
            "{}: LSN {last} was appended before the sync, but the durable LSN is {durable}",
            shared.phase.dir.display()
        )));
    }
    shared.known.lock().promote(durable.0);
    Ok(())
}

/// A reader thread: in turn, an iterator from a random LSN, lookups by LSN, and a replay.
fn read(shared: &Shared<'_>, r: u64) -> Result<(), Failure> {
    let mut rng = Rng::new(shared.phase.seed, 0x200 + r);
    let mut round: u64 = r;
    while !shared.stopped() {
        let verified = match round % 3 {
            0 => read_iter(shared, &mut rng)?,
            1 => read_lookups(shared, &mut rng)?,
            _ => read_replay(shared, &mut rng)?,
        };
        Counters::add(&shared.counters.records_verified, verified);
        round += 1;
    }
    Ok(())
}

/// A start LSN for a walk: the beginning (LSN 0) or a random LSN held.
fn start(rng: &mut Rng, first: Option<Lsn>, last: Lsn) -> (u64, Option<u64>) {
    let Some(first) = first else {
        return (0, None);
    };
    if rng.one_in(3) || last.0 < first.0 {
        return (0, Some(first.0));
    }
    let from = first.0 + rng.below(last.0 - first.0 + 1);
    (from, (from == first.0).then_some(from))
}

fn read_iter(shared: &Shared<'_>, rng: &mut Rng) -> Result<u64, Failure> {
    let (known, reader, from, expect_first) = {
        let _gate = shared.gate.read();
        let known = shared.known.lock().clone();
        let (from, expect_first) = start(rng, shared.log.first_lsn(), shared.log.last_lsn());
        (known, shared.log.reader(), from, expect_first)
    };
    // Retention may remove the snapshot's files now: its mappings stay readable.
    let mut walk = Walk::new(shared.phase.dir, &known, from, expect_first);
    for record in reader.iter_from(Lsn(from)) {
        let record = record.map_err(|e| shared.engine("iterating a reader", e))?;
        walk.see(&record)?;
    }
    let records = walk.records;
    walk.finish()?;
    Ok(records)
}

fn read_lookups(shared: &Shared<'_>, rng: &mut Rng) -> Result<u64, Failure> {
    let _gate = shared.gate.read();
    let known = shared.known.lock().clone();
    let log = &shared.log;
    let dir = shared.phase.dir.display();
    let (Some(&first), Some(&last)) = (
        known.durable.keys().next(),
        known.durable.keys().next_back(),
    ) else {
        return Ok(0);
    };
    let mut checked = 0;
    for _ in 0..16 {
        let probe = first + rng.below(last - first + 1);
        let Some((&lsn, id)) = known.durable.range(probe..).next() else {
            continue;
        };
        match log.read(Lsn(lsn)).map_err(|e| shared.engine("read", e))? {
            Some(payload) if payload == id.payload() => checked += 1,
            Some(payload) => {
                let found = Identity::parse(&payload)
                    .map_or_else(|why| format!("a bad payload ({why})"), |f| f.to_string());
                return Err(violation(format!(
                    "{dir}: read(LSN {lsn}): expected {id}, found {found}"
                )));
            }
            None => {
                return Err(violation(format!(
                    "{dir}: read(LSN {lsn}): expected acknowledged {id}, found nothing"
                )));
            }
        }
    }
    let beyond = Lsn(u64::MAX / 2);
    if let Some(payload) = log.read(beyond).map_err(|e| shared.engine("read", e))? {
        return Err(violation(format!(
            "{dir}: read({beyond}): expected nothing, found {} bytes",
            payload.len()
        )));
    }
    Ok(checked)
}

fn read_replay(shared: &Shared<'_>, rng: &mut Rng) -> Result<u64, Failure> {
    let _gate = shared.gate.read();
    let known = shared.known.lock().clone();
    let (from, expect_first) = start(rng, shared.log.first_lsn(), shared.log.last_lsn());
    let mut walk = Walk::new(shared.phase.dir, &known, from, expect_first);
    let count = shared
        .log
        .replay(Lsn(from), |record| -> Result<(), Failure> {
            walk.see(&record)?;
            Ok(())
        })?;
    if count != walk.records {
        return Err(violation(format!(
            "{}: replay from LSN {from} says it handed over {count} records; {} arrived",
            shared.phase.dir.display(),
            walk.records
        )));
    }
    walk.finish()?;
    Ok(count)
}

/// The phase's own thread: retention and suffix truncation until the phase ends, and the
/// count of rotations (new active segments seen between its rounds).
fn maintain(shared: &Shared<'_>, bar: &ProgressBar, started: Instant) -> Result<(), Failure> {
    let phase = shared.phase;
    let mut rng = Rng::new(phase.seed, 0x300);
    let ends = Instant::now() + phase.duration;
    let active = |log: &Log| log.segments().last().map_or(0, |s| s.id.0);
    let mut seen = active(&shared.log);
    while Instant::now() < ends && !shared.stopped() {
        std::thread::sleep(Duration::from_millis(10 + rng.below(30)));
        bar.set_position(started.elapsed().as_secs());
        let now = active(&shared.log);
        Counters::add(&shared.counters.rotations, now.saturating_sub(seen));
        seen = now;
        if shared.log.segments().len() > SEGMENTS_KEPT {
            retain(shared)?;
        }
        if rng.one_in(12) && truncate_suffix(shared, &mut rng)? {
            // The segment that continues the log after the cut is not a rotation.
            seen = active(&shared.log);
        }
    }
    Ok(())
}

fn retain(shared: &Shared<'_>) -> Result<(), Failure> {
    let dir = shared.phase.dir.display();
    let _gate = shared.gate.write();
    let segments = shared.log.segments();
    let target = segments[segments.len() - SEGMENTS_KEPT / 2].base_lsn;
    let removed = shared
        .log
        .truncate_before(target)
        .map_err(|e| shared.engine("truncate_before", e))?;
    if removed == 0 {
        return Err(violation(format!(
            "{dir}: truncate_before({target}) with {} segments removed none",
            segments.len()
        )));
    }
    let first = shared.log.first_lsn().map_or(0, |l| l.0);
    if first > target.0 {
        return Err(violation(format!(
            "{dir}: truncate_before({target}) removed records at or after it: the first \
             LSN is now {first}"
        )));
    }
    if let Some(gone) = segments[..removed].iter().find(|s| s.path.exists()) {
        return Err(violation(format!(
            "{}: retention reported segment {} removed, the file is still there",
            gone.path.display(),
            gone.id.0
        )));
    }
    Counters::add(&shared.counters.retention_removals, removed as u64);
    shared.known.lock().cut_below(first);
    Ok(())
}

/// Cuts a suffix of the last records (synced or not), at a batch boundary; returns whether
/// it did.
fn truncate_suffix(shared: &Shared<'_>, rng: &mut Rng) -> Result<bool, Failure> {
    let _gate = shared.gate.write();
    let log = &shared.log;
    let last = log.last_lsn().0;
    let floor = log.durable_lsn().0.min(last).saturating_sub(32);
    let floor = floor.max(log.first_lsn().map_or(u64::MAX, |f| f.0));
    let mut known = shared.known.lock();
    let candidates: Vec<u64> = known
        .durable
        .range(floor..last)
        .chain(known.unacked.range(floor..last))
        .filter(|(_, id)| id.ends_batch())
        .map(|(&lsn, _)| lsn)
        .collect();
    if candidates.is_empty() {
        return Ok(false);
    }
    let x = candidates[rng.below(candidates.len() as u64) as usize];
    log.truncate_after(Lsn(x))
        .map_err(|e| shared.engine("truncate_after", e))?;
    if log.last_lsn() != Lsn(x) || log.durable_lsn() > Lsn(x) {
        return Err(violation(format!(
            "{}: after truncate_after({x}): expected last and durable LSN at most {x}, found \
             last {} and durable {}",
            shared.phase.dir.display(),
            log.last_lsn(),
            log.durable_lsn()
        )));
    }
    known.cut_after(x);
    Counters::add(&shared.counters.truncations, 1);
    Ok(true)
}
