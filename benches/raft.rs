//! Raft entries appended through the openraft storage path (`LogStore`), each durable before
//! it counts: one appender waiting for each flush callback (through openraft's
//! `blocking_append`), several appenders sharing the store and its group-committed flushes,
//! and one appender that keeps appending while flushes run (as openraft's core does).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use interstice::Options;
use interstice::raft::LogStore;
use interstice::raft::kv::{KvConfig, KvRequest};
use openraft::storage::RaftLogStorageExt;
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload};

type Store = LogStore<KvConfig>;

const VALUE_LEN: usize = 128;
const APPENDERS: [u64; 3] = [1, 4, 16];

fn entry(index: u64) -> Entry<KvConfig> {
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(KvRequest::Set {
            key: format!("key-{index}"),
            value: "v".repeat(VALUE_LEN),
        }),
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = LogStore::open(dir.path(), Options::default()).expect("open the log store");
    (dir, store)
}

/// `iters` entries, one `blocking_append` each: every append waits for its flush.
fn blocking(iters: u64) -> Duration {
    let (_dir, mut store) = open();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let start = Instant::now();
    runtime.block_on(async {
        for index in 0..iters {
            store.blocking_append([entry(index)]).await.expect("append");
        }
    });
    start.elapsed()
}

/// `iters` entries from `appenders` threads sharing one store; each thread waits for the
/// flush of its entry before appending the next.
fn concurrent(iters: u64, appenders: u64) -> Duration {
    let (_dir, store) = open();
    let shared = Arc::new(Mutex::new((store, 0_u64)));
    let start = Instant::now();
    let threads: Vec<_> = (0..appenders)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let count = iters / appenders + u64::from(t < iters % appenders);
            thread::spawn(move || {
                for _ in 0..count {
                    let (sender, receiver) = mpsc::channel();
                    {
                        let mut guard = shared.lock().expect("lock");
                        let (store, next) = &mut *guard;
                        store
                            .append_then([entry(*next)], move |result| {
                                let _ = sender.send(result);
                            })
                            .expect("append");
                        *next += 1;
                    }
                    receiver.recv().expect("callback").expect("durable");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("appender");
    }
    start.elapsed()
}

/// `iters` entries from one appender that does not wait between appends; timed until the
/// last callback has fired.
fn pipelined(iters: u64) -> Duration {
    let (_dir, mut store) = open();
    let (sender, receiver) = mpsc::channel();
    let start = Instant::now();
    for index in 0..iters {
        let sender = sender.clone();
        store
            .append_then([entry(index)], move |result| {
                let _ = sender.send(result);
            })
            .expect("append");
    }
    for _ in 0..iters {
        receiver.recv().expect("callback").expect("durable");
    }
    start.elapsed()
}

fn raft_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("raft_append");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function(BenchmarkId::new("blocking_append", 1), |b| {
        b.iter_custom(blocking);
    });
    for appenders in APPENDERS {
        group.bench_with_input(
            BenchmarkId::new("concurrent", appenders),
            &appenders,
            |b, &appenders| b.iter_custom(|iters| concurrent(iters, appenders)),
        );
    }
    group.bench_function(BenchmarkId::new("pipelined", 1), |b| {
        b.iter_custom(pipelined);
    });
    group.finish();
}

criterion_group!(benches, raft_append);
criterion_main!(benches);
