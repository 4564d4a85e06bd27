//! okaywal: `WriteAheadLog::recover(dir, manager)`, `begin_entry`, `write_chunk`, `commit`.
//!
//! An entry is okaywal's unit of durability (its commit fsyncs, shared by concurrent
//! committers), a chunk its record: W1/W2 write one entry of `n` chunks, W4 one entry per
//! batch, W3/W6 one entry per record. Replay happens inside `recover`, through the manager.
//! Checkpointing is pushed out of reach (it would hand records away before the replay).

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use okaywal::{
    Configuration, Entry, EntryId, LogManager, ReadChunkResult, SegmentReader, WriteAheadLog,
};

use crate::workload::{Appended, Durable, Engine, Pool, Replay, touch};

pub struct OkayWal;

/// Counts and sums what recovery hands over; never checkpoints.
#[derive(Debug, Default, Clone)]
struct Manager {
    records: Arc<AtomicU64>,
    sum: Arc<AtomicU64>,
}

impl LogManager for Manager {
    fn recover(&mut self, entry: &mut Entry<'_>) -> io::Result<()> {
        let mut buffer = Vec::new();
        let (mut records, mut sum) = (0, 0);
        loop {
            match entry.read_chunk()? {
                ReadChunkResult::Chunk(mut chunk) => {
                    buffer.clear();
                    chunk.read_to_end(&mut buffer)?;
                    assert!(chunk.check_crc()?, "okaywal: chunk crc");
                    records += 1;
                    sum += touch(&buffer);
                }
                ReadChunkResult::EndOfEntry => break,
                ReadChunkResult::AbortedEntry => return Ok(()),
            }
        }
        self.records.fetch_add(records, Ordering::Relaxed);
        self.sum.fetch_add(sum, Ordering::Relaxed);
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: EntryId,
        _checkpointed_entries: &mut SegmentReader,
        _wal: &WriteAheadLog,
    ) -> io::Result<()> {
        Ok(())
    }
}

fn open(dir: &Path, manager: Manager) -> WriteAheadLog {
    Configuration::default_for(dir)
        // Segments preallocated like Interstice's (64 MiB); never checkpoint.
        .preallocate_bytes(64 << 20)
        .checkpoint_after_bytes(u64::MAX)
        .open(manager)
        .expect("okaywal: open")
}

impl Engine for OkayWal {
    fn name(&self) -> &'static str {
        "okaywal"
    }

    fn append_then_sync(&self, dir: &Path, pool: &Pool, n: usize) -> Appended {
        let log = open(dir, Manager::default());
        let start = Instant::now();
        let mut entry = log.begin_entry().expect("okaywal: begin_entry");
        for i in 0..n {
            entry
                .write_chunk(pool.get(i))
                .expect("okaywal: write_chunk");
        }
        let appends = start.elapsed();
        entry.commit().expect("okaywal: commit");
        let total = start.elapsed();
        log.shutdown().expect("okaywal: shutdown");
        Appended { appends, total }
    }

    fn reopen_and_replay(&self, dir: &Path, pool: &Pool, n: usize) -> Replay {
        let manager = Manager::default();
        let start = Instant::now();
        let log = open(dir, manager.clone());
        let replay = start.elapsed();
        assert_eq!(
            manager.records.load(Ordering::Relaxed),
            n as u64,
            "okaywal: replayed count"
        );
        assert_eq!(
            manager.sum.load(Ordering::Relaxed),
            pool.expected_sum(n),
            "okaywal: replayed bytes"
        );
        log.shutdown().expect("okaywal: shutdown");
        Replay { open: None, replay }
    }

    fn durable_each(&self, dir: &Path, pool: &Pool, n: usize) -> Durable {
        // A batch of one: the same calls, each record durable before the next.
        self.batches(dir, pool, n, 1)
    }

    fn batches(&self, dir: &Path, pool: &Pool, n: usize, batch: usize) -> Durable {
        let log = open(dir, Manager::default());
        let mut latencies = Vec::with_capacity(n.div_ceil(batch));
        let start = Instant::now();
        for first in (0..n).step_by(batch) {
            let t = Instant::now();
            let mut entry = log.begin_entry().expect("okaywal: begin_entry");
            for i in first..(first + batch).min(n) {
                entry
                    .write_chunk(pool.get(i))
                    .expect("okaywal: write_chunk");
            }
            entry.commit().expect("okaywal: commit");
            latencies.push(t.elapsed().as_nanos() as u64);
        }
        let wall = start.elapsed();
        log.shutdown().expect("okaywal: shutdown");
        Durable { wall, latencies }
    }

    fn concurrent(
        &self,
        dir: &Path,
        pool: &Pool,
        threads: usize,
        per_thread: usize,
    ) -> Option<Durable> {
        let log = open(dir, Manager::default());
        let start = Instant::now();
        let latencies = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let log = log.clone();
                    s.spawn(move || {
                        let mut latencies = Vec::with_capacity(per_thread);
                        for i in 0..per_thread {
                            let payload = pool.get(t * per_thread + i);
                            let at = Instant::now();
                            let mut entry = log.begin_entry().expect("okaywal: begin_entry");
                            entry.write_chunk(payload).expect("okaywal: write_chunk");
                            entry.commit().expect("okaywal: commit");
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
        let wall = start.elapsed();
        log.shutdown().expect("okaywal: shutdown");
        Some(Durable { wall, latencies })
    }
}
