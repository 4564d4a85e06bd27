//! Where an append burst spends its time: opens a fresh log, appends `N` records of `SIZE`
//! bytes and prints the time of every tenth of them, then the final `sync`; optionally syncs
//! every `SYNC_EVERY` appends and reopens the closed log `REOPENS` times (each open timed).
//!
//! ```text
//! cargo run --release --example append_steps                            # W1: 1M x 128 B
//! SIZE=4096 N=50000 cargo run --release --example append_steps          # W2
//! SYNC_EVERY=1000 N=200000 cargo run --release --example append_steps   # W4
//! REOPENS=5 cargo run --release --example append_steps                  # W5 open
//! REPLAYS=3 cargo run --release --example append_steps                  # W5 replay
//! ```
//!
//! `DIR` chooses where the temporary log goes (default: the system's temporary directory).
//! The step times show stalls (a rotation waiting, pages faulted by the appender) that a
//! single throughput figure hides; docs/PERFORMANCE.md quotes them.

use std::time::{Duration, Instant};

use interstice::{Log, Options};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), interstice::Error> {
    let n = setting("N", 1_000_000).max(10);
    let size = setting("SIZE", 128);
    let sync_every = setting("SYNC_EVERY", 0);
    let reopens = setting("REOPENS", 0);
    let replays = setting("REPLAYS", 0);
    let dir = match std::env::var_os("DIR") {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let payloads: Vec<Vec<u8>> = (0..4096usize)
        .map(|i| (0..size).map(|j| (i * 31 + j) as u8).collect())
        .collect();

    let at = Instant::now();
    let log = Log::open(dir.path(), Options::default())?;
    println!("open of a new log: {:.2} ms", ms(at.elapsed()));
    let start = Instant::now();
    let mut step = Instant::now();
    let mut steps = Vec::with_capacity(10);
    for i in 0..n {
        log.append(&payloads[i % payloads.len()])?;
        if sync_every > 0 && (i + 1) % sync_every == 0 {
            log.sync()?;
        }
        if (i + 1) % (n / 10) == 0 {
            steps.push(format!("{:.1}", ms(step.elapsed())));
            step = Instant::now();
        }
    }
    let appended = start.elapsed();
    let at = Instant::now();
    log.sync()?;
    let synced = at.elapsed();
    let total = start.elapsed();
    println!("each tenth of the appends, ms: {}", steps.join(" "));
    println!(
        "appends {:.1} ms, final sync {:.1} ms, total {:.1} ms: {:.2}M records/s, {:.0} MB/s",
        ms(appended),
        ms(synced),
        ms(total),
        n as f64 / total.as_secs_f64() / 1e6,
        (n * size) as f64 / total.as_secs_f64() / 1e6,
    );
    log.close()?;

    let mut opens = Vec::with_capacity(reopens);
    for _ in 0..reopens {
        let at = Instant::now();
        let log = Log::open(dir.path(), Options::default())?;
        opens.push(format!("{:.2}", ms(at.elapsed())));
        log.close()?;
    }
    if reopens > 0 {
        println!("reopens after a clean close, ms: {}", opens.join(" "));
    }

    for _ in 0..replays {
        let log = Log::open(dir.path(), Options::default())?;
        let at = Instant::now();
        let mut sum = 0u64;
        let count = log.replay(interstice::Lsn(1), |record| {
            sum += record.payload.iter().map(|&b| u64::from(b)).sum::<u64>();
            Ok::<(), interstice::Error>(())
        })?;
        let took = at.elapsed();
        println!(
            "replay of {count} records (byte sum {sum}): {:.1} ms, {:.2}M records/s, {:.2} GB/s",
            ms(took),
            count as f64 / took.as_secs_f64() / 1e6,
            (count as usize * size) as f64 / took.as_secs_f64() / 1e9,
        );
        log.close()?;
    }
    Ok(())
}
