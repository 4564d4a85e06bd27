//! Side-by-side performance comparison of Interstice against other Rust write-ahead logs
//! (okaywal, raft-engine, spacetimedb-commitlog) and against the floor: the simplest code doing
//! the same work with no engine.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- \
//!     --runs 7 --write docs/PERFORMANCE.md
//! ```
//! Flags: `--runs N` (default 7; medians are reported), `--scale F` (multiplies every record
//! count; 0.1 for a smoke run), `--write PATH` (regenerate a markdown report, keeping what is
//! below its hand-written marker), `--dir PATH` (where the temporary logs go; default the
//! system temporary directory unless it is a tmpfs, then the current directory), `--engines
//! a,b` and `--workloads w1,w2,w3,w4,w6` (subsets, for profiling one engine on one workload;
//! W5 runs with W1 and W2), `--no-w7` (skip the 4 GiB open/replay-heap measurement),
//! `--checksums` (only time one call of each candidate record check, best of `--runs`).

mod alloc;
mod checksums;
mod engines;
mod report;
mod workload;

use std::path::{Path, PathBuf};
use std::time::Instant;

use engines::interstice::replay_all;
use interstice::{Durability, Log, Options};
use report::{Metric, Results, W7};
use workload::{Engine, Pool, Sizes};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Parsed command line.
pub struct Args {
    pub runs: usize,
    pub scale: f64,
    pub write: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    pub engines: Option<Vec<String>>,
    pub w7: bool,
    /// Only time the record checks.
    pub checksums: bool,
    /// Workload groups to run (`w1`, `w2` (each with its W5 reopen), `w3`, `w4`, `w6`).
    pub workloads: Option<Vec<String>>,
    /// The arguments as given, for the report.
    pub raw: Vec<String>,
}

fn parse_args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut args = Args {
        runs: 7,
        scale: 1.0,
        write: None,
        dir: None,
        engines: None,
        w7: true,
        checksums: false,
        workloads: None,
        raw: raw.clone(),
    };
    let mut it = raw.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--runs" => args.runs = value().parse().unwrap_or_else(|_| usage("--runs N")),
            "--scale" => args.scale = value().parse().unwrap_or_else(|_| usage("--scale F")),
            "--write" => args.write = Some(PathBuf::from(value())),
            "--dir" => args.dir = Some(PathBuf::from(value())),
            "--engines" => {
                args.engines = Some(value().split(',').map(str::to_owned).collect());
            }
            "--no-w7" => args.w7 = false,
            "--checksums" => args.checksums = true,
            "--workloads" => {
                args.workloads = Some(value().split(',').map(str::to_owned).collect());
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.runs == 0 || args.scale <= 0.0 {
        usage("--runs and --scale must be positive");
    }
    args
}

fn usage(message: &str) -> ! {
    eprintln!(
        "{message}\nusage: interstice-peers [--runs N] [--scale F] [--write PATH] [--dir PATH] \
         [--engines floor,interstice,okaywal,raft-engine,spacetimedb-commitlog] \
         [--workloads w1,w2,w3,w4,w6] [--no-w7] [--checksums]"
    );
    std::process::exit(2)
}

/// The filesystem type and source holding `path` (from /proc/mounts, longest mount point).
pub fn filesystem_of(path: &Path) -> (String, String) {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() >= 3 && path.starts_with(fields[1]))
                .then(|| (fields[1].len(), fields[2].to_owned(), fields[0].to_owned()))
        })
        .max_by_key(|(len, _, _)| *len)
        .map_or_else(
            || ("unknown".to_owned(), "unknown".to_owned()),
            |(_, fs, source)| (fs, source),
        )
}

fn base_dir(args: &Args) -> PathBuf {
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).expect("--dir");
        return dir.clone();
    }
    let tmp = std::env::temp_dir();
    if filesystem_of(&tmp).0 == "tmpfs" {
        std::env::current_dir().expect("current directory")
    } else {
        tmp
    }
}

/// Lets the machine settle before a measured run: writes back every dirty page (the previous
/// run's, whatever engine wrote it, and what removing its directory left to do) and waits a
/// moment, so no engine is measured while another's write-out is still in flight.
fn settle() {
    // SAFETY: `sync` takes no arguments and only asks the kernel to write back dirty data.
    unsafe { libc::sync() };
    std::thread::sleep(std::time::Duration::from_millis(100));
}

/// A fresh directory for one measured run, after `settle`.
fn fresh(base: &Path) -> tempfile::TempDir {
    settle();
    tempfile::Builder::new()
        .prefix("peers-")
        .tempdir_in(base)
        .expect("temporary directory")
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() {
    let args = parse_args();
    if args.checksums {
        checksums::run(args.runs);
        return;
    }
    let sizes = Sizes::scaled(args.scale);
    let base = base_dir(&args);
    let all: Vec<Box<dyn Engine>> = vec![
        Box::new(engines::floor::Floor),
        Box::new(engines::interstice::Interstice),
        Box::new(engines::okaywal::OkayWal),
        Box::new(engines::raft_engine::Raft),
        Box::new(engines::spacetimedb::SpacetimeDb),
    ];
    let engines: Vec<Box<dyn Engine>> = all
        .into_iter()
        .filter(|e| {
            args.engines
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n == e.name()))
        })
        .collect();
    let small = Pool::new(128, 1);
    let large = Pool::new(4096, 2);
    let mut results = Results::new(engines.iter().map(|e| e.name()).collect());
    let load_start = loadavg();
    let started = Instant::now();
    eprintln!(
        "logs under {}; load average {load_start}; {sizes:?}",
        base.display()
    );

    let wants = |w: &str| {
        args.workloads
            .as_ref()
            .is_none_or(|ws| ws.iter().any(|x| x == w))
    };
    for run in 0..args.runs {
        // Engines take turns, starting one further along each run.
        let order: Vec<&dyn Engine> = (0..engines.len())
            .map(|k| engines[(k + run) % engines.len()].as_ref())
            .collect();
        for (pool, n, appended, open, replay_rps, replay_gbs) in [
            (
                &small,
                sizes.w1_records,
                Metric::W1,
                Metric::W5SmallOpen,
                Metric::W5SmallRps,
                Metric::W5SmallGbs,
            ),
            (
                &large,
                sizes.w2_records,
                Metric::W2,
                Metric::W5LargeOpen,
                Metric::W5LargeRps,
                Metric::W5LargeGbs,
            ),
        ] {
            if !wants(if appended == Metric::W1 { "w1" } else { "w2" }) {
                continue;
            }
            for engine in &order {
                let dir = fresh(&base);
                let appended_at = engine.append_then_sync(dir.path(), pool, n);
                let elapsed = appended_at.total;
                if appended == Metric::W1 {
                    let appends = appended_at.appends.as_secs_f64();
                    results.push(Metric::W1Appends, engine.name(), n as f64 / appends);
                }
                let bytes = (n * pool.size()) as f64;
                let value = match appended {
                    Metric::W1 => n as f64 / elapsed.as_secs_f64(),
                    _ => bytes / elapsed.as_secs_f64() / 1e6,
                };
                results.push(appended, engine.name(), value);
                settle();
                let r = engine.reopen_and_replay(dir.path(), pool, n);
                if let Some(open_time) = r.open {
                    results.push(open, engine.name(), open_time.as_secs_f64() * 1e3);
                }
                results.push(replay_rps, engine.name(), n as f64 / r.replay.as_secs_f64());
                results.push(
                    replay_gbs,
                    engine.name(),
                    bytes / r.replay.as_secs_f64() / 1e9,
                );
                eprintln!(
                    "run {} {:>22} {appended:?}: {elapsed:?}, reopen {:?} + replay {:?}",
                    run + 1,
                    engine.name(),
                    r.open,
                    r.replay
                );
            }
        }
        for engine in order.iter().filter(|_| wants("w3")) {
            let dir = fresh(&base);
            let d = engine.durable_each(dir.path(), &small, sizes.w3_records);
            results.push(Metric::W3P50, engine.name(), d.quantile_us(0.5));
            results.push(Metric::W3P99, engine.name(), d.quantile_us(0.99));
            eprintln!("run {} {:>22} W3: {:?}", run + 1, engine.name(), d.wall);
            let dir = fresh(&base);
            let d = engine.append_then_sync_each(dir.path(), &small, sizes.w3_records);
            results.push(Metric::W3sP50, engine.name(), d.quantile_us(0.5));
            results.push(Metric::W3sP99, engine.name(), d.quantile_us(0.99));
            eprintln!("run {} {:>22} W3s: {:?}", run + 1, engine.name(), d.wall);
        }
        for engine in order.iter().filter(|_| wants("w4")) {
            let dir = fresh(&base);
            let d = engine.batches(dir.path(), &small, sizes.w4_records, sizes.w4_batch);
            let records = sizes.w4_records as f64;
            results.push(Metric::W4, engine.name(), records / d.wall.as_secs_f64());
            results.push(Metric::W4P99, engine.name(), d.quantile_us(0.99));
            settle();
            let r = engine.reopen_and_replay(dir.path(), &small, sizes.w4_records);
            results.push(
                Metric::W5BatchRps,
                engine.name(),
                records / r.replay.as_secs_f64(),
            );
            eprintln!(
                "run {} {:>22} W4: {:?}, replay {:?}",
                run + 1,
                engine.name(),
                d.wall,
                r.replay
            );
        }
        for engine in order.iter().filter(|_| wants("w6")) {
            let many = {
                let dir = fresh(&base);
                engine.concurrent(dir.path(), &small, sizes.w6_threads, sizes.w6_per_thread)
            };
            let one = {
                let dir = fresh(&base);
                engine.concurrent(dir.path(), &small, 1, sizes.w6_single)
            };
            if let (Some(many), Some(one)) = (many, one) {
                results.push(Metric::W6Many, engine.name(), many.records_per_sec());
                results.push(Metric::W6ManyP99, engine.name(), many.quantile_us(0.99));
                results.push(Metric::W6One, engine.name(), one.records_per_sec());
                results.push(Metric::W6OneP99, engine.name(), one.quantile_us(0.99));
                results.push(
                    Metric::W6Ratio,
                    engine.name(),
                    many.records_per_sec() / one.records_per_sec(),
                );
                eprintln!(
                    "run {} {:>22} W6: {:?} ({} threads), {:?} (1 thread)",
                    run + 1,
                    engine.name(),
                    many.wall,
                    sizes.w6_threads,
                    one.wall
                );
            }
        }
    }
    let measured = started.elapsed();
    let load_end = loadavg();

    let w7 = (args.w7 && engines.iter().any(|e| e.name() == "interstice"))
        .then(|| w7(&base, sizes.w7_bytes));
    let text = report::render(&report::Context {
        args: &args,
        sizes,
        base: &base,
        load_start,
        load_end,
        measured,
        results: &results,
        w7,
    });
    println!("{}", report::table(&results, &sizes));
    if let Some(path) = &args.write {
        let kept = std::fs::read_to_string(path)
            .ok()
            .and_then(|old| old.find(report::MARKER).map(|at| old[at..].to_owned()))
            .unwrap_or_else(|| report::HAND_WRITTEN_DEFAULT.to_owned());
        std::fs::write(path, format!("{text}{kept}")).expect("--write");
        eprintln!("wrote {}", path.display());
    }
}

/// W7 (Interstice only, once): a log of `bytes` of 4 KiB records in sealed 64 MiB segments;
/// time from `Log::open` to the first append returning, then the peak heap of a full replay.
fn w7(base: &Path, bytes: u64) -> W7 {
    let dir = fresh(base);
    let pool = Pool::new(4096, 3);
    let n = (bytes / 4096) as usize;
    let options = Options {
        durability: Durability::OnSync,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).expect("w7: open");
    for i in 0..n {
        log.append(pool.get(i)).expect("w7: append");
    }
    log.rotate_now().expect("w7: rotate");
    log.close().expect("w7: close");

    let start = Instant::now();
    let log = Log::open(dir.path(), options).expect("w7: reopen");
    log.append(pool.get(n)).expect("w7: first append");
    let open_to_append = start.elapsed();
    let segments = log.segments().len();
    alloc::start();
    let start = Instant::now();
    let (count, sum) = replay_all(&log);
    let replay = start.elapsed();
    let peak_heap = alloc::stop();
    assert_eq!(count, n as u64 + 1, "w7: replayed count");
    assert_eq!(sum, pool.expected_sum(n + 1), "w7: replayed bytes");
    eprintln!(
        "W7: {segments} segments, open to first append {open_to_append:?}, replay {replay:?}, peak heap {peak_heap} B"
    );
    W7 {
        bytes: n as u64 * 4096,
        segments,
        open_to_append,
        replay,
        peak_heap,
    }
}
