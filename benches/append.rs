//! Append throughput: 128 B and 4 KiB records, without sync, with one sync per batch of 1,000
//! appends, and with every append durable; and 128 B durable appends from 1 and 8 threads
//! sharing one log (group commit, W6 of docs/PERFORMANCE.md).

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use interstice::{Durability, Log, Options};

const SIZES: [usize; 2] = [128, 4096];

fn payload(size: usize) -> Vec<u8> {
    // Deterministic, incompressible-looking bytes.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Times `iters` appends into a fresh log, calling `sync` every `sync_every` appends (0: never,
/// only once at the end, outside the timing).
fn run(size: usize, iters: u64, sync_every: u64, durability: Durability) -> Duration {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = Log::open(
        dir.path(),
        Options {
            durability,
            ..Options::default()
        },
    )
    .expect("open");
    let data = payload(size);
    let start = Instant::now();
    for i in 1..=iters {
        black_box(log.append(&data).expect("append"));
        if sync_every != 0 && i % sync_every == 0 {
            log.sync().expect("sync");
        }
    }
    if sync_every != 0 {
        log.sync().expect("sync");
    }
    let elapsed = start.elapsed();
    drop(log);
    elapsed
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("no_sync", size), &size, |b, &size| {
            b.iter_custom(|iters| run(size, iters, 0, Durability::None));
        });
        group.bench_with_input(
            BenchmarkId::new("sync_per_1000", size),
            &size,
            |b, &size| {
                b.iter_custom(|iters| run(size, iters, 1000, Durability::OnSync));
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("append_durable");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("every_append", size), &size, |b, &size| {
            b.iter_custom(|iters| run(size, iters, 0, Durability::EveryAppend));
        });
    }
    group.finish();
}

/// Times `iters` durable appends of 128 B shared out among `threads` threads appending to one
/// log at once (`Durability::EveryAppend`: the appenders' flushes are merged by group commit).
fn run_threads(threads: u64, iters: u64) -> Duration {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = Arc::new(
        Log::open(
            dir.path(),
            Options {
                durability: Durability::EveryAppend,
                ..Options::default()
            },
        )
        .expect("open"),
    );
    let data = Arc::new(payload(128));
    let start_line = Arc::new(Barrier::new(
        usize::try_from(threads).expect("few threads") + 1,
    ));
    let appenders: Vec<_> = (0..threads)
        .map(|i| {
            let count = iters / threads + u64::from(i < iters % threads);
            let (log, data, start_line) =
                (Arc::clone(&log), Arc::clone(&data), Arc::clone(&start_line));
            std::thread::spawn(move || {
                start_line.wait();
                for _ in 0..count {
                    black_box(log.append(&data).expect("append"));
                }
            })
        })
        .collect();
    start_line.wait();
    let start = Instant::now();
    for appender in appenders {
        appender.join().expect("appender thread");
    }
    start.elapsed()
}

fn group_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("group_commit");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    for threads in [1u64, 8] {
        group.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| run_threads(threads, iters));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, append, group_commit);
criterion_main!(benches);
