//! Replay throughput of a 1 GiB log (128 B and 4 KiB records, and 128 B records in batches
//! of 1,000), through the mapped walk that
//! checks every checksum and hands out borrowed payloads, on one thread and with a second
//! checking segments ahead; the open of the 128 B log with and
//! without a clean close; and the time from opening a 4 GiB log of sealed segments to its
//! first append returning (W7 of docs/PERFORMANCE.md). Set `INTERSTICE_BENCH_LOG_BYTES` to
//! use smaller logs (the large one is four times that), for a smoke run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use interstice::{Durability, Error, Log, Lsn, Options, ReplayThreads};

fn log_bytes() -> u64 {
    std::env::var("INTERSTICE_BENCH_LOG_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30)
}

/// Appends `log_bytes()` of `size`-byte records to a new log in `dir`, `batch` records per
/// `append_batch` (one by one with `append` when 1); returns how many.
fn build(dir: &std::path::Path, size: usize, batch: usize) -> u64 {
    let log = Log::open(
        dir,
        Options {
            durability: Durability::None,
            ..Options::default()
        },
    )
    .expect("open");
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let records = log_bytes() / size as u64 / batch as u64 * batch as u64;
    if batch == 1 {
        for _ in 0..records {
            log.append(&data).expect("append");
        }
    } else {
        let batch: Vec<&[u8]> = (0..batch).map(|_| data.as_slice()).collect();
        for _ in 0..records / batch.len() as u64 {
            log.append_batch(&batch).expect("append_batch");
        }
    }
    log.sync().expect("sync");
    records
}

/// Replays the whole log, touching every payload byte as a state machine would: (records,
/// byte sum).
fn replay_all(log: &Log) -> (u64, u64) {
    let mut sum = 0u64;
    let count = log
        .replay(Lsn::ZERO, |record| {
            sum = sum.wrapping_add(record.payload.iter().map(|&b| u64::from(b)).sum::<u64>());
            Ok::<(), Error>(())
        })
        .expect("replay");
    (count, sum)
}

fn replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    // Single records of both sizes, and 128 B records in batches of 1,000 (each batch is
    // checked whole before its first record is handed over).
    // Each with one thread, and with a second one checking segments ahead (the default).
    for (size, batch) in [(128usize, 1usize), (4096, 1), (128, 1000)] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let records = build(dir.path(), size, batch);
        for (threads, replay) in [
            ("one_thread", ReplayThreads::One),
            ("check_ahead", ReplayThreads::CheckAhead),
        ] {
            let options = Options {
                replay,
                ..Options::default()
            };
            let log = Log::open_read_only(dir.path(), options).expect("open");
            let name = if batch == 1 {
                format!("records/{threads}")
            } else {
                format!("records_in_batches_of_{batch}/{threads}")
            };
            group.throughput(Throughput::Elements(records));
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter(|| {
                    let (count, sum) = replay_all(&log);
                    assert_eq!(count, records);
                    black_box(sum)
                });
            });
            if batch > 1 {
                continue;
            }
            group.throughput(Throughput::Bytes(records * size as u64));
            let name = format!("bytes/{threads}");
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter(|| black_box(replay_all(&log).1));
            });
        }
    }
    group.finish();
}

fn open(c: &mut Criterion) {
    let mut group = c.benchmark_group("open");
    group.sample_size(10);
    let dir = tempfile::tempdir().expect("temporary directory");
    let records = build(dir.path(), 128, 1);
    // Dropped, not closed: every open walks the active segment.
    group.bench_function(BenchmarkId::new("writable", records), |b| {
        b.iter(|| black_box(Log::open(dir.path(), Options::default()).expect("open")));
    });
    // Closed cleanly (outside the timing): every open takes the active segment from its close
    // summary.
    group.bench_function(BenchmarkId::new("after_clean_close", records), |b| {
        b.iter_custom(|iters| {
            let mut opening = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let log = Log::open(dir.path(), Options::default()).expect("open");
                opening += start.elapsed();
                log.close().expect("close");
            }
            opening
        });
    });
    group.finish();
}

/// W7: a log of 4 x `log_bytes()` of 4 KiB records in 64 MiB segments, all sealed, closed
/// cleanly; each sample opens it and appends one record (timed), then closes it.
fn large_log(c: &mut Criterion) {
    let mut group = c.benchmark_group("large_log");
    group.sample_size(10);
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = Options {
        durability: Durability::None,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options).expect("open");
    let data = vec![7u8; 4096];
    let bytes = 4 * log_bytes();
    for _ in 0..bytes / 4096 {
        log.append(&data).expect("append");
    }
    log.rotate_now().expect("rotate");
    log.close().expect("close");
    group.bench_function(
        BenchmarkId::new("open_to_first_append", format!("{}MiB", bytes >> 20)),
        |b| {
            b.iter_custom(|iters| {
                let mut opening = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let log = Log::open(dir.path(), Options::default()).expect("open");
                    black_box(log.append(&data).expect("append"));
                    opening += start.elapsed();
                    log.close().expect("close");
                }
                opening
            });
        },
    );
    group.finish();
}

criterion_group!(benches, replay, open, large_log);
criterion_main!(benches);
