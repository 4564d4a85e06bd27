//! Replay throughput of a 1 GiB log (128 B and 4 KiB records), through the mapped walk that
//! checks every checksum and hands out borrowed payloads; the open of the 128 B log with and
//! without a clean close; and the time from opening a 4 GiB log of sealed segments to its
//! first append returning (W7 of docs/PERFORMANCE.md). Set `INTERSTICE_BENCH_LOG_BYTES` to
//! use smaller logs (the large one is four times that), for a smoke run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use interstice::{Durability, Error, Log, Lsn, Options};

fn log_bytes() -> u64 {
    std::env::var("INTERSTICE_BENCH_LOG_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30)
}

fn build(dir: &std::path::Path, size: usize) -> u64 {
    let log = Log::open(
        dir,
        Options {
            durability: Durability::None,
            ..Options::default()
        },
    )
    .expect("open");
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let records = log_bytes() / size as u64;
    for _ in 0..records {
        log.append(&data).expect("append");
    }
    log.sync().expect("sync");
    records
}

fn replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    for size in [128usize, 4096] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let records = build(dir.path(), size);
        let log = Log::open_read_only(dir.path(), Options::default()).expect("open");
        group.throughput(Throughput::Elements(records));
        group.bench_with_input(BenchmarkId::new("records", size), &size, |b, _| {
            b.iter(|| {
                let mut sum = 0u64;
                let count = log
                    .replay(Lsn::ZERO, |record| {
                        // Touch every payload byte, as a state machine would.
                        sum = sum.wrapping_add(
                            record.payload.iter().map(|&b| u64::from(b)).sum::<u64>(),
                        );
                        Ok::<(), Error>(())
                    })
                    .expect("replay");
                assert_eq!(count, records);
                black_box(sum)
            });
        });
        group.throughput(Throughput::Bytes(records * size as u64));
        group.bench_with_input(BenchmarkId::new("bytes", size), &size, |b, _| {
            b.iter(|| {
                let mut sum = 0u64;
                log.replay(Lsn::ZERO, |record| {
                    sum =
                        sum.wrapping_add(record.payload.iter().map(|&b| u64::from(b)).sum::<u64>());
                    Ok::<(), Error>(())
                })
                .expect("replay");
                black_box(sum)
            });
        });
    }
    group.finish();
}

fn open(c: &mut Criterion) {
    let mut group = c.benchmark_group("open");
    group.sample_size(10);
    let dir = tempfile::tempdir().expect("temporary directory");
    let records = build(dir.path(), 128);
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
