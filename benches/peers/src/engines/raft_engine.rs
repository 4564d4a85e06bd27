//! raft-engine: `Engine::open(Config { dir, .. })`, `LogBatch::add_entries` and
//! `engine.write(&mut batch, sync)`; replay after reopen with `fetch_entries_to`.
//!
//! raft-engine stores protobuf messages that carry their own index (raft's `Entry { index,
//! data }`); the protobuf crate's `UninterpretedOption` has the same shape (a `uint64` and a
//! `bytes` field) and stands in for it. Compression is off (the payloads are random).
//! `Engine::sync()` in 0.4 returns at once (it writes an empty batch, which is skipped), so the
//! last write of a run asks for the sync instead: `write(&mut batch, true)`.

use std::path::Path;
use std::time::Instant;

use protobuf::descriptor::UninterpretedOption as PbEntry;
use raft_engine::{Config, Engine as RaftEngine, LogBatch, MessageExt, ReadableSize};

use crate::workload::{Appended, Durable, Engine, Pool, Replay, touch};

pub struct Raft;

struct Entries;

impl MessageExt for Entries {
    type Entry = PbEntry;

    fn index(e: &PbEntry) -> u64 {
        e.get_positive_int_value()
    }
}

/// The single raft group every single-threaded workload writes to.
const REGION: u64 = 1;

fn open(dir: &Path) -> RaftEngine {
    RaftEngine::open(Config {
        dir: dir.to_str().expect("UTF-8 path").to_owned(),
        batch_compression_threshold: ReadableSize(0),
        ..Config::default()
    })
    .expect("raft-engine: open")
}

fn entry(index: u64, payload: &[u8]) -> PbEntry {
    let mut e = PbEntry::new();
    e.set_positive_int_value(index);
    e.set_string_value(payload.to_vec());
    e
}

/// Writes record `i` (index `i + 1`) of `region` as one batch.
fn write_one(
    engine: &RaftEngine,
    batch: &mut LogBatch,
    region: u64,
    i: u64,
    payload: &[u8],
    sync: bool,
) {
    batch
        .add_entries::<Entries>(region, &[entry(i + 1, payload)])
        .expect("raft-engine: add_entries");
    engine.write(batch, sync).expect("raft-engine: write");
}

impl Engine for Raft {
    fn name(&self) -> &'static str {
        "raft-engine"
    }

    fn append_then_sync(&self, dir: &Path, pool: &Pool, n: usize) -> Appended {
        let engine = open(dir);
        let mut batch = LogBatch::default();
        let start = Instant::now();
        for i in 0..n - 1 {
            write_one(&engine, &mut batch, REGION, i as u64, pool.get(i), false);
        }
        // The sync rides on the last write (`Engine::sync` does nothing in 0.4).
        let appends = start.elapsed();
        write_one(
            &engine,
            &mut batch,
            REGION,
            n as u64 - 1,
            pool.get(n - 1),
            true,
        );
        let total = start.elapsed();
        drop(engine);
        Appended { appends, total }
    }

    fn reopen_and_replay(&self, dir: &Path, pool: &Pool, n: usize) -> Replay {
        let start = Instant::now();
        let engine = open(dir);
        let open = start.elapsed();
        let start = Instant::now();
        let (mut count, mut sum) = (0, 0);
        let first = engine
            .first_index(REGION)
            .expect("raft-engine: first index");
        let last = engine.last_index(REGION).expect("raft-engine: last index");
        let mut entries = Vec::with_capacity(4096);
        let mut from = first;
        while from <= last {
            let to = (from + 4096).min(last + 1);
            entries.clear();
            engine
                .fetch_entries_to::<Entries>(REGION, from, to, None, &mut entries)
                .expect("raft-engine: fetch_entries_to");
            for e in &entries {
                sum += touch(e.get_string_value());
            }
            count += entries.len();
            from = to;
        }
        let replay = start.elapsed();
        assert_eq!(count, n, "raft-engine: replayed count");
        assert_eq!(sum, pool.expected_sum(n), "raft-engine: replayed bytes");
        Replay {
            open: Some(open),
            replay,
        }
    }

    fn durable_each(&self, dir: &Path, pool: &Pool, n: usize) -> Durable {
        // A batch of one: the same calls, each record durable before the next.
        self.batches(dir, pool, n, 1)
    }

    fn batches(&self, dir: &Path, pool: &Pool, n: usize, batch_len: usize) -> Durable {
        let engine = open(dir);
        let mut batch = LogBatch::default();
        let mut latencies = Vec::with_capacity(n.div_ceil(batch_len));
        let start = Instant::now();
        for first in (0..n).step_by(batch_len) {
            let t = Instant::now();
            // Its batch API: one `LogBatch` of every entry, one synced write.
            let entries: Vec<PbEntry> = (first..(first + batch_len).min(n))
                .map(|i| entry(i as u64 + 1, pool.get(i)))
                .collect();
            batch
                .add_entries::<Entries>(REGION, &entries)
                .expect("raft-engine: add_entries");
            engine.write(&mut batch, true).expect("raft-engine: write");
            latencies.push(t.elapsed().as_nanos() as u64);
        }
        Durable {
            wall: start.elapsed(),
            latencies,
        }
    }

    fn concurrent(
        &self,
        dir: &Path,
        pool: &Pool,
        threads: usize,
        per_thread: usize,
    ) -> Option<Durable> {
        let engine = open(dir);
        let engine = &engine;
        let start = Instant::now();
        let latencies = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        // One raft group per thread: each keeps its own contiguous indexes.
                        let region = REGION + t as u64;
                        let mut batch = LogBatch::default();
                        let mut latencies = Vec::with_capacity(per_thread);
                        for i in 0..per_thread {
                            let payload = pool.get(t * per_thread + i);
                            let at = Instant::now();
                            write_one(engine, &mut batch, region, i as u64, payload, true);
                            latencies.push(at.elapsed().as_nanos() as u64);
                        }
                        latencies
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("thread"))
                .collect()
        });
        Some(Durable {
            wall: start.elapsed(),
            latencies,
        })
    }
}
