//! `interstice soak`: runs the engine hard against a real log for a while and checks its
//! promises all along. Each cycle: a live phase (writer threads appending and syncing,
//! reader threads iterating, looking up and replaying, retention and suffix truncation), a
//! crash cycle (a child writer killed with SIGKILL, then recovery), and a repair cycle (a
//! torn tail or a flipped byte, then `repair` and `verify`). The first violation stops it,
//! with exit code 1 and what failed.

mod crash;
mod damage;
mod live;
mod record;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use interstice::recovery::repair::Strategy;
use interstice::{Durability, Log, Options};
use serde_json::json;

use super::{Code, Failure, Outcome, parse_size, print_json, progress};
pub use crash::{ChildArgs, run_child};
use damage::Damage;
use record::{Known, Rng, engine};

/// Arguments of `soak`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log directory: created if missing; an empty directory or a log the soak wrote.
    pub dir: PathBuf,
    /// How long to run, in minutes.
    #[arg(long, default_value_t = 1)]
    pub minutes: u64,
    /// How long to run, in seconds (for short runs; replaces --minutes).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Seed of every random choice (sizes, batches, kill moments, damage).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Writer threads.
    #[arg(long, default_value_t = 3)]
    pub writers: usize,
    /// Reader threads.
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
    /// Size of each segment file (small, so that rotation happens all the time).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "64k")]
    pub segment_size: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the soak did; every counter is printed at the end.
#[derive(Debug, Default)]
pub struct Counters {
    appends: AtomicU64,
    batches: AtomicU64,
    syncs: AtomicU64,
    bytes: AtomicU64,
    records_verified: AtomicU64,
    rotations: AtomicU64,
    retention_removals: AtomicU64,
    truncations: AtomicU64,
    crash_cycles: AtomicU64,
    sigkills: AtomicU64,
    recoveries: AtomicU64,
    repairs: AtomicU64,
    verifies: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn rows(&self, violations: u64) -> Vec<(&'static str, u64)> {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        vec![
            ("appends", get(&self.appends)),
            ("batches", get(&self.batches)),
            ("syncs", get(&self.syncs)),
            ("bytes", get(&self.bytes)),
            ("records_verified", get(&self.records_verified)),
            ("rotations", get(&self.rotations)),
            ("retention_removals", get(&self.retention_removals)),
            ("truncations", get(&self.truncations)),
            ("crash_cycles", get(&self.crash_cycles)),
            ("sigkills", get(&self.sigkills)),
            ("recoveries", get(&self.recoveries)),
            ("repairs", get(&self.repairs)),
            ("verifies", get(&self.verifies)),
            ("violations", violations),
        ]
    }
}

/// Runs `soak`.
pub fn run(args: &Args) -> Outcome {
    check_dir(&args.dir)?;
    let total = Duration::from_secs(args.seconds.unwrap_or(args.minutes.saturating_mul(60)));
    let segment_size = Options::round_segment_size(args.segment_size);
    let counters = Counters::default();
    let started = Instant::now();
    let bar = progress(total.as_secs(), "soak");
    let outcome = soak(args, total, segment_size, &counters, started, &bar);
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let violations = u64::from(outcome.is_err());
    if args.json {
        let mut summary = serde_json::Map::new();
        summary.insert("dir".into(), args.dir.display().to_string().into());
        summary.insert("seed".into(), args.seed.into());
        summary.insert("seconds".into(), elapsed.as_secs().into());
        summary.insert("ok".into(), outcome.is_ok().into());
        for (name, value) in counters.rows(violations) {
            summary.insert(name.into(), value.into());
        }
        print_json(&json!(summary))?;
    } else {
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "soak {}: {} s, seed {}, {} byte segments",
            args.dir.display(),
            elapsed.as_secs(),
            args.seed,
            segment_size
        )?;
        for (name, value) in counters.rows(violations) {
            writeln!(out, "{name:<20} {value}")?;
        }
    }
    outcome.map(|()| Code::Ok)
}

/// Refuses a path that is a file, or a non-empty directory holding no log.
fn check_dir(dir: &Path) -> Result<(), Failure> {
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Failure::usage(format!("{}: {e}", dir.display()))),
    };
    if !meta.is_dir() {
        return Err(Failure::usage(format!(
            "{} is not a directory; give soak a new or empty directory",
            dir.display()
        )));
    }
    let entries: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !entries.is_empty() && !entries.iter().any(|name| is_segment_name(name)) {
        return Err(Failure::usage(format!(
            "{} is not empty and holds no log; give soak a new or empty directory, or a log \
             it wrote before",
            dir.display()
        )));
    }
    Ok(())
}

/// A segment file name: 20 digits and `.seg`.
fn is_segment_name(name: &str) -> bool {
    name.strip_suffix(".seg")
        .is_some_and(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn soak(
    args: &Args,
    total: Duration,
    segment_size: u64,
    counters: &Counters,
    started: Instant,
    bar: &indicatif::ProgressBar,
) -> Result<(), Failure> {
    let dir = args.dir.as_path();
    let mut known = adopt(dir, segment_size)?;
    let mut rng = Rng::new(args.seed, 0);
    let phase_duration = (total / 12).clamp(Duration::from_millis(500), Duration::from_secs(5));
    let deadline = started + total;
    let mut cycle: u64 = 0;
    loop {
        let options = Options {
            segment_size,
            durability: if cycle.is_multiple_of(2) {
                Durability::EveryAppend
            } else {
                Durability::OnSync
            },
            verify_sealed_on_open: rng.one_in(2),
            ..Options::default()
        };
        let phase = live::Phase {
            dir,
            options: options.clone(),
            writers: args.writers,
            readers: args.readers,
            duration: phase_duration,
            number: cycle,
            seed: rng.next_u64(),
        };
        live::run(&phase, &mut known, counters, bar, started)?;
        damage::verify_intact(dir, counters, "after a live phase")?;
        crash::cycle(dir, segment_size, &mut known, &mut rng, cycle, counters)?;
        damage::verify_intact(dir, counters, "after a crash cycle")?;
        let damage = match cycle % 3 {
            0 => Damage::Flip(Strategy::Skip),
            1 => Damage::TornTail,
            _ => Damage::Flip(Strategy::Truncate),
        };
        damage::cycle(dir, &options, damage, &mut known, &mut rng, counters)?;
        bar.set_position(started.elapsed().as_secs());
        cycle += 1;
        if Instant::now() >= deadline {
            return Ok(());
        }
    }
}

/// Learns what the log in `dir` holds, reading it read-only (a log that is refused is left
/// as it was): every record must be a soak record; all of them are durable once a writer
/// opens the log.
fn adopt(dir: &Path, segment_size: u64) -> Result<Known, Failure> {
    let has_segments = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| is_segment_name(&e.file_name().to_string_lossy()))
    });
    if !has_segments {
        return Ok(Known::default());
    }
    let options = Options {
        segment_size,
        ..Options::default()
    };
    let log = Log::open_read_only(dir, options).map_err(|e| engine(dir, "opening the log", e))?;
    let mut known = Known::default();
    let mut prev: Option<(u64, record::Identity)> = None;
    for item in &log.reader() {
        let record = item.map_err(|e| engine(dir, "reading the log", e))?;
        let id = record::Identity::parse(record.payload).map_err(|why| {
            Failure::usage(format!(
                "{}: LSN {} is not a soak record ({why}); give soak a new or empty directory",
                dir.display(),
                record.lsn
            ))
        })?;
        let lsn = record.lsn.0;
        if let Some((prev_lsn, prev_id)) = prev {
            if lsn > prev_lsn + 1 {
                known.holes.insert(prev_lsn + 1, lsn - 1);
            } else if !prev_id.ends_batch() && id.part == 0 {
                known.batch_ends.insert(prev_lsn);
            }
        }
        known.durable.insert(lsn, id);
        prev = Some((lsn, id));
    }
    if let Some((lsn, _)) = prev.filter(|(_, id)| !id.ends_batch()) {
        known.batch_ends.insert(lsn);
    }
    known.last_lsn = log.last_lsn().0;
    Ok(known)
}
