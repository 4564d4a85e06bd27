//! Medians over the runs, the markdown table, the targets and the PERFORMANCE.md text.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::workload::Sizes;
use crate::{Args, filesystem_of};

/// Everything below this line of PERFORMANCE.md is kept when the file is regenerated.
pub const MARKER: &str =
    "<!-- Everything below this line is written by hand; --write keeps it. -->";

pub const HAND_WRITTEN_DEFAULT: &str =
    "<!-- Everything below this line is written by hand; --write keeps it. -->

## What limits each figure

(To be filled in from profiles.)

## What was tried that did not help

(To be filled in.)
";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    W1,
    W1Appends,
    W2,
    W3P50,
    W3P99,
    W3sP50,
    W3sP99,
    W4,
    W4P99,
    W5BatchRps,
    W5SmallOpen,
    W5SmallRps,
    W5SmallGbs,
    W5LargeOpen,
    W5LargeRps,
    W5LargeGbs,
    W6Many,
    W6ManyP99,
    W6One,
    W6OneP99,
    W6Ratio,
}

const ALL: [Metric; 21] = [
    Metric::W1,
    Metric::W1Appends,
    Metric::W2,
    Metric::W3P50,
    Metric::W3P99,
    Metric::W3sP50,
    Metric::W3sP99,
    Metric::W4,
    Metric::W4P99,
    Metric::W5BatchRps,
    Metric::W5SmallOpen,
    Metric::W5SmallRps,
    Metric::W5SmallGbs,
    Metric::W5LargeOpen,
    Metric::W5LargeRps,
    Metric::W5LargeGbs,
    Metric::W6Many,
    Metric::W6ManyP99,
    Metric::W6One,
    Metric::W6OneP99,
    Metric::W6Ratio,
];

fn count(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

impl Metric {
    /// (row label, unit, higher is better).
    fn describe(self, s: &Sizes) -> (String, &'static str, bool) {
        match self {
            Metric::W1 => (
                format!("W1 append {} x 128 B, one sync", count(s.w1_records)),
                "records/s",
                true,
            ),
            Metric::W1Appends => (
                "W1 ... the appends alone, before the sync".to_owned(),
                "records/s",
                true,
            ),
            Metric::W2 => (
                format!("W2 append {} x 4 KiB, one sync", count(s.w2_records)),
                "MB/s",
                true,
            ),
            Metric::W3P50 => (
                format!("W3 {} x 128 B, each durable: p50", count(s.w3_records)),
                "us",
                false,
            ),
            Metric::W3P99 => ("W3 ... p99".to_owned(), "us", false),
            Metric::W3sP50 => (
                format!(
                    "W3s {} x 128 B, append then sync call: p50",
                    count(s.w3_records)
                ),
                "us",
                false,
            ),
            Metric::W3sP99 => ("W3s ... p99".to_owned(), "us", false),
            Metric::W4 => (
                format!(
                    "W4 {} x (batch of {} x 128 B, then sync)",
                    count(s.w4_records / s.w4_batch),
                    count(s.w4_batch)
                ),
                "records/s",
                true,
            ),
            Metric::W4P99 => ("W4 ... batch commit p99".to_owned(), "us", false),
            Metric::W5BatchRps => (
                "W5c replay of the W4 log (batched records)".to_owned(),
                "records/s",
                true,
            ),
            Metric::W5SmallOpen => (
                format!("W5 reopen after W1 ({} records): open", count(s.w1_records)),
                "ms",
                false,
            ),
            Metric::W5SmallRps => ("W5 ... replay 128 B".to_owned(), "records/s", true),
            Metric::W5SmallGbs => ("W5 ... replay 128 B".to_owned(), "GB/s", true),
            Metric::W5LargeOpen => (
                format!("W5 reopen after W2 ({} records): open", count(s.w2_records)),
                "ms",
                false,
            ),
            Metric::W5LargeRps => ("W5 ... replay 4 KiB".to_owned(), "records/s", true),
            Metric::W5LargeGbs => ("W5 ... replay 4 KiB".to_owned(), "GB/s", true),
            Metric::W6Many => (
                format!(
                    "W6 {} threads x {}, each durable",
                    s.w6_threads,
                    count(s.w6_per_thread)
                ),
                "records/s",
                true,
            ),
            Metric::W6ManyP99 => (format!("W6 ... {} threads p99", s.w6_threads), "us", false),
            Metric::W6One => (
                format!("W6 1 thread x {}, each durable", count(s.w6_single)),
                "records/s",
                true,
            ),
            Metric::W6OneP99 => ("W6 ... 1 thread p99".to_owned(), "us", false),
            Metric::W6Ratio => (format!("W6 {} threads / 1 thread", s.w6_threads), "x", true),
        }
    }
}

/// Every figure of every run, by metric and engine.
pub struct Results {
    engines: Vec<&'static str>,
    values: HashMap<(Metric, &'static str), Vec<f64>>,
}

impl Results {
    pub fn new(engines: Vec<&'static str>) -> Results {
        Results {
            engines,
            values: HashMap::new(),
        }
    }

    pub fn push(&mut self, metric: Metric, engine: &'static str, value: f64) {
        self.values.entry((metric, engine)).or_default().push(value);
    }

    pub fn median(&self, metric: Metric, engine: &str) -> Option<f64> {
        let mut values = self
            .values
            .iter()
            .find(|((m, e), _)| *m == metric && *e == engine)?
            .1
            .clone();
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        Some(if values.len() % 2 == 1 {
            values[mid]
        } else {
            f64::midpoint(values[mid - 1], values[mid])
        })
    }

    /// The best peer (not floor, not interstice) for `metric`: (name, median).
    fn best_peer(&self, metric: Metric, higher_better: bool) -> Option<(&'static str, f64)> {
        self.engines
            .iter()
            .filter(|e| !matches!(**e, "floor" | "interstice"))
            .filter_map(|e| Some((*e, self.median(metric, e)?)))
            .reduce(|a, b| {
                let b_better = if higher_better { b.1 > a.1 } else { b.1 < a.1 };
                if b_better { b } else { a }
            })
    }
}

fn fmt(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if magnitude >= 10_000.0 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.1 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    }
}

/// The comparison table (medians).
pub fn table(results: &Results, sizes: &Sizes) -> String {
    let mut out = String::new();
    let _ = write!(out, "| workload | unit | better |");
    for engine in &results.engines {
        let _ = write!(out, " {engine} |");
    }
    let _ = writeln!(out, " interstice / floor | interstice / best peer |");
    let _ = write!(out, "|---|---|---|");
    for _ in &results.engines {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "---:|---:|");
    for metric in ALL {
        let (label, unit, higher) = metric.describe(sizes);
        if results
            .engines
            .iter()
            .all(|e| results.median(metric, e).is_none())
        {
            continue;
        }
        let _ = write!(
            out,
            "| {label} | {unit} | {} |",
            if higher { "higher" } else { "lower" }
        );
        for engine in &results.engines {
            let cell = results
                .median(metric, engine)
                .map_or_else(|| "-".to_owned(), fmt);
            let _ = write!(out, " {cell} |");
        }
        let interstice = results.median(metric, "interstice");
        let best = results.best_peer(metric, higher);
        let _ = writeln!(
            out,
            " {} | {} |",
            ratio(interstice, results.median(metric, "floor")),
            match best {
                Some((name, value)) => format!("{} ({name})", ratio(interstice, Some(value))),
                None => "-".to_owned(),
            }
        );
    }
    out
}

/// The targets and whether the medians meet them.
fn targets(results: &Results) -> String {
    let i = |m| results.median(m, "interstice");
    let f = |m| results.median(m, "floor");
    let at_least = |m, factor: f64| match (i(m), f(m)) {
        (Some(a), Some(b)) => (format!("{:.2}x floor", a / b), a >= factor * b),
        _ => ("-".to_owned(), false),
    };
    let not_above_best = |m| match (i(m), results.best_peer(m, false)) {
        (Some(a), Some((name, b))) => (format!("{} us vs {} us ({name})", fmt(a), fmt(b)), a <= b),
        _ => ("-".to_owned(), false),
    };
    let above_best = |m, factor: f64| match (i(m), results.best_peer(m, true)) {
        (Some(a), Some((name, b))) => (format!("{:.2}x {name}", a / b), a >= factor * b),
        _ => ("-".to_owned(), false),
    };
    let batched_vs_single = match (i(Metric::W5BatchRps), i(Metric::W5SmallRps)) {
        (Some(c), Some(a)) => (format!("{:.2}x", c / a), c >= 0.9 * a),
        _ => ("-".to_owned(), false),
    };
    let rows: Vec<(&str, (String, bool))> = vec![
        ("W1 records/s >= 0.85x floor", at_least(Metric::W1, 0.85)),
        ("W2 MB/s >= 0.8x floor", at_least(Metric::W2, 0.8)),
        ("W3 p50 <= best peer", not_above_best(Metric::W3P50)),
        ("W3 p99 <= best peer", not_above_best(Metric::W3P99)),
        ("W3s p50 <= best peer", not_above_best(Metric::W3sP50)),
        ("W3s p99 <= best peer", not_above_best(Metric::W3sP99)),
        ("W4 records/s >= 0.8x floor", at_least(Metric::W4, 0.8)),
        (
            "W4 records/s >= 1.25x best peer",
            above_best(Metric::W4, 1.25),
        ),
        ("W4 batch p99 <= best peer", not_above_best(Metric::W4P99)),
        ("W5c records/s >= 0.9x W5 128 B", batched_vs_single),
        (
            "W5 128 B replay records/s >= 0.8x floor",
            at_least(Metric::W5SmallRps, 0.8),
        ),
        (
            "W5 4 KiB replay GB/s >= 0.8x floor",
            at_least(Metric::W5LargeGbs, 0.8),
        ),
        (
            "W5 open after W1 < 5 ms",
            match i(Metric::W5SmallOpen) {
                Some(ms) => (format!("{} ms", fmt(ms)), ms < 5.0),
                None => ("-".to_owned(), false),
            },
        ),
        (
            "W6 8 threads >= 5x 1 thread",
            match i(Metric::W6Ratio) {
                Some(x) => (format!("{x:.2}x"), x >= 5.0),
                None => ("-".to_owned(), false),
            },
        ),
    ];
    let mut out = String::from("| target | interstice | met |\n|---|---|---|\n");
    for (target, (measured, met)) in rows {
        let _ = writeln!(
            out,
            "| {target} | {measured} | {} |",
            if met { "yes" } else { "**no**" }
        );
    }
    out
}

/// W7 figures (Interstice only, one run).
pub struct W7 {
    pub bytes: u64,
    pub segments: usize,
    pub open_to_append: Duration,
    pub replay: Duration,
    pub peak_heap: usize,
}

pub struct Context<'a> {
    pub args: &'a Args,
    pub sizes: Sizes,
    pub base: &'a Path,
    pub load_start: String,
    pub load_end: String,
    pub measured: Duration,
    pub results: &'a Results,
    pub w7: Option<W7>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn machine(base: &Path) -> String {
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")
                .map(str::trim)
                .map(str::to_owned)
        })
        .and_then(|kb| kb.trim_end_matches(" kB").parse::<u64>().ok())
        .map_or_else(
            || "unknown".to_owned(),
            |kb| format!("{:.1} GiB", kb as f64 / 1048576.0),
        );
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let (fs, source) = filesystem_of(base);
    format!(
        "- CPU: {cpu}, nproc {nproc}\n- memory: {memory}\n- kernel: Linux {kernel}\n\
         - filesystem of the logs: {fs} on {source} ({})\n",
        base.display()
    )
}

/// Versions of the compared crates, from this crate's Cargo.lock.
fn versions() -> String {
    let lock = include_str!("../Cargo.lock");
    let mut out = Vec::new();
    for name in ["okaywal", "raft-engine", "spacetimedb-commitlog"] {
        let needle = format!("name = \"{name}\"\nversion = \"");
        if let Some(at) = lock.find(&needle) {
            let rest = &lock[at + needle.len()..];
            out.push(format!("{name} {}", &rest[..rest.find('"').unwrap_or(0)]));
        }
    }
    out.join(", ")
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The generated part of PERFORMANCE.md (everything above the hand-written marker).
pub fn render(c: &Context<'_>) -> String {
    let smoke = c.args.scale != 1.0 || c.args.runs < 3;
    let quiet = |load: &str| {
        load.split_whitespace()
            .next()
            .and_then(|l| l.parse::<f64>().ok())
            .is_some_and(|l| l <= 0.8)
    };
    let mut out = String::from("# Performance\n\n");
    out.push_str(
        "Interstice against other Rust write-ahead logs and against the floor (the simplest code \
         doing the same work with no engine). This file is generated by `benches/peers` (a \
         separate cargo project, not part of the crate's build, tests or CI); the sections after \
         the tables are written by hand and kept when it is regenerated.\n\n",
    );
    if smoke {
        out.push_str(
            "> **Smoke figures**: a reduced run (`--scale` below 1 or fewer than 3 runs). They \
             show that every engine works and roughly where each stands, not settled numbers.\n\n",
        );
    }
    if !quiet(&c.load_start) {
        out.push_str(
            "> **The machine was busy** when this run started (1-minute load average above 0.8; \
             see below): other work shared the cores and the disk.\n\n",
        );
    }
    let _ = writeln!(out, "## How it was measured\n");
    let _ = writeln!(
        out,
        "```text\ncargo run --release --manifest-path benches/peers/Cargo.toml -- {}\n```\n",
        c.args.raw.join(" ")
    );
    let _ = writeln!(
        out,
        "- date: {}; {} run(s) per engine, engines interleaved (run 1 of every engine, then \
         run 2, ...; the starting engine rotates), medians reported; measured part took {:.0} s",
        date(),
        c.args.runs,
        c.measured.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "- load average (1, 5, 15 min) at the start: {}; at the end of the runs (before W7): {} \
         (this one includes the benchmark itself: Linux counts its threads waiting on the disk)",
        c.load_start, c.load_end
    );
    out.push_str(&machine(c.base));
    let _ = writeln!(
        out,
        "- peers: {}; Interstice from this repository\n",
        versions()
    );
    out.push_str(
        "Every engine runs in a fresh directory on the same filesystem; before each measured run (and before each reopen) the harness calls `sync()` and waits 100 ms, so that no run is measured while an earlier one's write-out (or the removal of its files) is still in flight. Payloads come from a \
         fixed-seed generator (a pool of 4,096 distinct payloads per size, cycled). A replay \
         hands every record over and the harness reads every payload byte (a byte sum), checked \
         against the expected sum. The page cache is warm for replays (each log was just \
         written). MB and GB are 10^6 and 10^9 bytes of payload.\n\n\
         How each engine is driven:\n\n\
         - **floor**: records framed as `len, crc32, payload`, padded to 8 bytes, in a \
         fallocated file. W1/W2: memcpy + crc32fast into a mapping whose pages were write-faulted \
         before the clock starts, then one `msync`. W3/W4: `pwrite` + `fdatasync` (W4: one \
         `pwrite` per batch; W3s is W3). W5: open + mmap (open), then a crc walk. No W6 floor.\n\
         - **interstice**: `Log::open` with default options (64 MiB segments); `append` then \
         `sync` (`Durability::OnSync`); W4 is `append_batch` of each batch then `sync`; W3s is \
         `append` then `sync` per record (`OnSync`); W3 and W6 use `Durability::EveryAppend` \
         (group commit) with one `Arc<Log>` shared by the threads; W5 is `Log::open` then \
         `Log::replay`.\n\
         - **okaywal**: `Configuration::default_for(dir)` with 64 MiB preallocation and \
         checkpointing pushed out of reach (so every record is still there to replay). An entry \
         is its unit of durability (`commit` fsyncs), a chunk its record: W1/W2 write one entry \
         of all the chunks, W4 one entry per batch, W3/W3s/W6 one entry per record. okaywal replays \
         inside `recover` (through the `LogManager`), so it has no separate open time: its \
         replay figure includes opening.\n\
         - **raft-engine**: `Engine::open(Config { dir, batch_compression_threshold: 0, .. })`; \
         one `LogBatch::add_entries` + `engine.write` per record (a protobuf message with a \
         `uint64` index and a `bytes` payload, the shape of raft's `Entry`); W4 puts each \
         batch's entries in one `LogBatch` and one synced write. `Engine::sync()` in \
         0.4 does nothing (it writes an empty batch, which returns early), so the last write of \
         each batch passes `sync = true`. W6: one raft group per thread (its group commit \
         merges the writers). Replay: `fetch_entries_to` in steps of 4,096 after `Engine::open` \
         (which rebuilds the in-memory index from every file).\n\
         - **spacetimedb-commitlog**: `Commitlog::open` with default options; \
         `append_maybe_flush` per record, `flush_and_sync` as the sync (W4: once per batch); \
         W3/W3s/W6 call `flush_and_sync` after every append (it has no group commit); replay is \
         `fold_transactions` with a decoder that reads each record in place.\n\n",
    );
    let _ = writeln!(out, "## Results (medians)\n");
    out.push_str(&table(c.results, &c.sizes));
    out.push_str("\n`-`: not applicable (okaywal has no open separate from its replay; there is no floor for W6).\n\n");
    let _ = writeln!(out, "## Targets\n");
    out.push_str(&targets(c.results));
    out.push('\n');
    if let Some(w7) = &c.w7 {
        let _ = writeln!(out, "## W7: a large log (Interstice only, one run)\n");
        let _ = writeln!(
            out,
            "A log of {:.2} GiB of 4 KiB records in {} segments (64 MiB, all sealed before the \
             close), reopened:\n\n\
             | figure | value |\n|---|---:|\n\
             | open to the first append returning | {:.2} ms |\n\
             | full replay | {:.2} s ({:.2} GB/s) |\n\
             | peak heap during the full replay | {} KiB |\n",
            w7.bytes as f64 / f64::from(1u32 << 30),
            w7.segments,
            w7.open_to_append.as_secs_f64() * 1e3,
            w7.replay.as_secs_f64(),
            w7.bytes as f64 / w7.replay.as_secs_f64() / 1e9,
            w7.peak_heap.div_ceil(1024),
        );
        out.push_str(
            "The peak heap is counted by a global allocator in the benchmark binary, from the \
             start of the replay; the mappings of the segments are not heap and are not counted.\n\n",
        );
    }
    out.push_str(
        "## Criterion benchmarks of the crate\n\n\
         The crate has its own micro-benchmarks (criterion), for tracking Interstice alone \
         between changes (W3s and W5c are measured here only):\n\n\
         ```text\n\
         cargo bench --bench append   # W1-W4: 128 B and 4 KiB appends, no sync, sync per 1,000, every append durable; W6: group_commit, 1 and 8 threads\n\
         cargo bench --bench replay   # W5: replay of a 1 GiB log (128 B and 4 KiB records), open; W7: open to first append of 4 GiB; INTERSTICE_BENCH_LOG_BYTES=N for smaller logs\n\
         ```\n\n",
    );
    out
}
