//! Runtime throughput: commits per second of small transactions (no flush; one flush per
//! commit shared by concurrent committers), and replay speed in rows per second when a
//! runtime with `REPLAY_ROWS` rows reopens (from the log alone, and from a snapshot). The
//! typed layer against the dynamic one on the same table (commits, reads), and a reducer
//! call against a plain transaction doing the same.
//!
//! `INTERSTICE_BENCH_ROWS=10000 cargo bench --bench runtime` makes a quick smoke run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use interstice::runtime::{
    ColumnType, Error, ReducerContext, Row, Runtime, RuntimeConfig, Schema, Table, reducer,
};
use interstice::{Durability, Options};

/// Rows of the replay benchmark.
const REPLAY_ROWS: u64 = 1_000_000;
/// Rows per transaction when filling the replay benchmark's runtime.
const ROWS_PER_TRANSACTION: u64 = 1_000;
/// Rows read back by the typed and dynamic scans.
const READ_ROWS: u64 = 10_000;
/// Commits per measured iteration of the concurrent benchmark.
const COMMITS_PER_ITERATION: u64 = 64;

fn replay_rows() -> u64 {
    std::env::var("INTERSTICE_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(REPLAY_ROWS)
}

fn config(dir: &Path, durability: Durability) -> RuntimeConfig {
    RuntimeConfig::new(dir)
        .log(Options {
            durability,
            ..Options::default()
        })
        .schema(
            Schema::new("kv", 1)
                .column("k", ColumnType::U64)
                .column("v", ColumnType::Str)
                .column("n", ColumnType::I64),
        )
}

/// The typed twin of the `kv` table.
#[derive(Table, Clone, Debug)]
#[table(name = "kv")]
struct Kv {
    k: u64,
    v: String,
    n: i64,
}

fn kv(k: u64) -> Kv {
    Kv {
        k,
        v: "a small value".to_owned(),
        n: k.cast_signed(),
    }
}

/// Adds `n` to row `k`'s counter: the reducer measured against the same transaction.
#[reducer]
fn add(ctx: &mut ReducerContext, k: u64, n: i64) -> Result<(), Error> {
    let mut row = ctx.get::<Kv>(&k)?.expect("row exists");
    row.n += n;
    ctx.update(row)
}

fn row(k: u64) -> Row {
    Row::new()
        .with("k", k)
        .with("v", "a small value")
        .with("n", k.cast_signed())
}

fn commit(runtime: &Runtime, k: u64) {
    runtime.transact(|tx| tx.insert_row("kv", row(k))).unwrap();
}

fn commits(c: &mut Criterion) {
    let mut group = c.benchmark_group("runtime_commit");
    group.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path(), Durability::None)).unwrap();
    let mut k = 0;
    group.bench_function(BenchmarkId::new("durability_none", 1), |b| {
        b.iter(|| {
            commit(&runtime, k);
            k += 1;
        });
    });
    drop(runtime);

    group.throughput(Throughput::Elements(COMMITS_PER_ITERATION));
    for threads in [1u64, 4] {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Arc::new(Runtime::open(config(dir.path(), Durability::EveryAppend)).unwrap());
        let next = Arc::new(AtomicU64::new(0));
        let id = BenchmarkId::new("every_append_threads", threads);
        group.bench_function(id, |b| {
            b.iter_custom(|iterations| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iterations {
                    elapsed += concurrent_commits(&runtime, &next, threads);
                }
                elapsed
            });
        });
    }
    group.finish();
}

/// `COMMITS_PER_ITERATION` commits spread over `threads` threads; their flushes are shared.
fn concurrent_commits(runtime: &Arc<Runtime>, next: &Arc<AtomicU64>, threads: u64) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..COMMITS_PER_ITERATION / threads {
                    commit(runtime, next.fetch_add(1, Ordering::Relaxed));
                }
            });
        }
    });
    started.elapsed()
}

fn replay(c: &mut Criterion) {
    let rows = replay_rows();
    let dir = tempfile::tempdir().unwrap();
    {
        let runtime = Runtime::open(config(dir.path(), Durability::None)).unwrap();
        for start in (0..rows).step_by(ROWS_PER_TRANSACTION as usize) {
            let end = (start + ROWS_PER_TRANSACTION).min(rows);
            runtime
                .transact(|tx| (start..end).try_for_each(|k| tx.insert_row("kv", row(k))))
                .unwrap();
        }
        runtime.log().sync().unwrap();
    }
    let mut group = c.benchmark_group("runtime_replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows));
    group.bench_function(BenchmarkId::new("from_log", rows), |b| {
        // Closing the log (and its prepared next segment) is not replay: drop unmeasured.
        b.iter_with_large_drop(|| {
            let runtime = Runtime::open(config(dir.path(), Durability::None)).unwrap();
            assert_eq!(runtime.len("kv").unwrap() as u64, rows);
            runtime
        });
    });
    // The usual restart: after a clean close, which lets the opens trust the close summary
    // instead of walking the log.
    group.bench_function(BenchmarkId::new("from_log_closed", rows), |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                let runtime = Runtime::open(config(dir.path(), Durability::None)).unwrap();
                elapsed += started.elapsed();
                assert_eq!(runtime.len("kv").unwrap() as u64, rows);
                runtime.close().unwrap();
            }
            elapsed
        });
    });
    Runtime::open(config(dir.path(), Durability::None))
        .unwrap()
        .snapshot()
        .unwrap();
    group.bench_function(BenchmarkId::new("from_snapshot", rows), |b| {
        // Closing the log (and its prepared next segment) is not replay: drop unmeasured.
        b.iter_with_large_drop(|| {
            let runtime = Runtime::open(config(dir.path(), Durability::None)).unwrap();
            assert_eq!(runtime.len("kv").unwrap() as u64, rows);
            runtime
        });
    });
    group.finish();
}

/// Typed against dynamic: one insert per commit (no flush), and reading every row back.
fn typed(c: &mut Criterion) {
    let mut group = c.benchmark_group("runtime_typed");
    group.throughput(Throughput::Elements(1));
    for typed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::open(config(dir.path(), Durability::None)).unwrap();
        let mut k = 0;
        let name = if typed { "typed" } else { "dynamic" };
        group.bench_function(BenchmarkId::new("commit", name), |b| {
            b.iter(|| {
                if typed {
                    runtime.transact(|tx| tx.insert(kv(k))).unwrap();
                } else {
                    commit(&runtime, k);
                }
                k += 1;
            });
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path(), Durability::None)).unwrap();
    runtime
        .transact(|tx| (0..READ_ROWS).try_for_each(|k| tx.insert_row("kv", row(k))))
        .unwrap();
    group.throughput(Throughput::Elements(READ_ROWS));
    group.bench_function(BenchmarkId::new("scan", "typed"), |b| {
        b.iter(|| runtime.scan::<Kv>().unwrap());
    });
    group.bench_function(BenchmarkId::new("scan", "dynamic"), |b| {
        b.iter(|| runtime.scan_rows("kv").unwrap());
    });
    group.finish();
}

/// A reducer call against a plain transaction with the same effect (no flush).
fn calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("runtime_call");
    group.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path(), Durability::None)).unwrap();
    runtime
        .transact(|tx| (0..1000).try_for_each(|k| tx.insert(kv(k)).map(drop)))
        .unwrap();
    let mut k = 0;
    group.bench_function("reducer", |b| {
        b.iter(|| {
            runtime.call(add, (k % 1000, 1)).unwrap();
            k += 1;
        });
    });
    group.bench_function("transact", |b| {
        b.iter(|| {
            runtime
                .transact(|tx| {
                    let mut row = tx.get::<Kv>(&(k % 1000))?.expect("row exists");
                    row.n += 1;
                    tx.update(row)
                })
                .unwrap();
            k += 1;
        });
    });
    group.finish();
}

criterion_group!(benches, commits, replay, typed, calls);
criterion_main!(benches);
