//! Followers: how fast a follower catches up on a log already written (against a replay of
//! the same log, read-only, as another process would: one thread and the default two), and
//! what followers cost the writer (W1's appends with 0, 1 and 8 followers draining in the
//! same process). The append-to-visible latency across processes is
//! `benches/follow_latency.rs`. Set `INTERSTICE_BENCH_LOG_BYTES` for a smaller catch-up log
//! (default 256 MiB).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use interstice::{Durability, Error, FollowMode, Log, Lsn, Options, ReplayThreads};

const SIZE: usize = 128;

fn log_bytes() -> u64 {
    std::env::var("INTERSTICE_BENCH_LOG_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 << 20)
}

fn no_sync() -> Options {
    Options {
        durability: Durability::None,
        ..Options::default()
    }
}

fn catch_up(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = log_bytes() / SIZE as u64;
    {
        // Closed with a sync: a durable follower hands out every record.
        let log = Log::open(dir.path(), Options::default()).expect("open");
        let data = vec![7u8; SIZE];
        for _ in 0..records {
            log.append(&data).expect("append");
        }
        log.close().expect("close");
    }
    let one = Options {
        replay: ReplayThreads::One,
        ..Options::default()
    };
    let log = Log::open_read_only(dir.path(), one).expect("open read-only");
    let two = Log::open_read_only(dir.path(), Options::default()).expect("open read-only");
    let mut group = c.benchmark_group("follow");
    group.throughput(Throughput::Elements(records));
    group.sample_size(10);
    group.bench_function("catch_up_128B", |b| {
        b.iter(|| {
            let mut follower = log.follow(Lsn::ZERO, FollowMode::Durable);
            let mut bytes = 0usize;
            while let Some(record) = follower.try_next().expect("follow") {
                bytes += record.payload.len();
            }
            assert_eq!(bytes as u64, records * SIZE as u64);
            black_box(bytes)
        });
    });
    group.bench_function("catch_up_drain_128B", |b| {
        b.iter(|| {
            let mut follower = log.follow(Lsn::ZERO, FollowMode::Durable);
            let mut bytes = 0usize;
            while follower
                .drain(4096, |record| bytes += record.payload.len())
                .expect("follow")
                > 0
            {}
            assert_eq!(bytes as u64, records * SIZE as u64);
            black_box(bytes)
        });
    });
    for (name, log) in [("replay_one_thread_128B", &log), ("replay_128B", &two)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut bytes = 0usize;
                log.replay(Lsn::ZERO, |record| {
                    bytes += record.payload.len();
                    Ok::<(), Error>(())
                })
                .expect("replay");
                black_box(bytes)
            });
        });
    }
    group.finish();
}

fn writer_cost(c: &mut Criterion) {
    const APPENDS: u64 = 200_000;
    let mut group = c.benchmark_group("follow/writer_cost");
    group.throughput(Throughput::Elements(APPENDS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for followers in [0usize, 1, 8] {
        group.bench_with_input(
            BenchmarkId::new("appends_128B", followers),
            &followers,
            |b, &followers| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += appends_with_followers(APPENDS, followers);
                    }
                    total
                });
            },
        );
    }
    group.finish();
}

/// The time `appends` appends of 128 B take while `followers` threads follow them (appended
/// mode, sleeping on the beacon when they catch up).
fn appends_with_followers(appends: u64, followers: usize) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), no_sync()).expect("open");
    let data = vec![7u8; SIZE];
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..followers {
            let (log, done) = (&log, &done);
            scope.spawn(move || {
                let mut follower = log.follow(Lsn::ZERO, FollowMode::Appended);
                let mut seen = 0;
                while seen < appends && !done.load(Ordering::Relaxed) {
                    if follower
                        .next(Duration::from_millis(10))
                        .expect("follow")
                        .is_some()
                    {
                        seen += 1;
                    }
                }
            });
        }
        let started = std::time::Instant::now();
        for _ in 0..appends {
            log.append(&data).expect("append");
        }
        let elapsed = started.elapsed();
        done.store(true, Ordering::Relaxed);
        elapsed
    })
}

criterion_group!(benches, catch_up, writer_cost);
criterion_main!(benches);
