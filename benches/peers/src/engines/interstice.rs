//! Interstice: `Log::open`, `append`, `sync`, `close`, `replay`; `Durability::EveryAppend`
//! (group commit) for per-append durability, one `Arc<Log>` shared by the threads.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use interstice::{Durability, Error, Log, Lsn, Options};

use crate::workload::{Appended, Durable, Engine, Pool, Replay, touch};

pub struct Interstice;

fn open(dir: &Path, durability: Durability) -> Log {
    Log::open(
        dir,
        Options {
            durability,
            ..Options::default()
        },
    )
    .expect("interstice: open")
}

/// Replays the whole log in `dir`: (records, byte sum).
pub fn replay_all(log: &Log) -> (u64, u64) {
    let mut sum = 0;
    let count = log
        .replay(Lsn(1), |record| {
            sum += touch(record.payload);
            Ok::<(), Error>(())
        })
        .expect("interstice: replay");
    (count, sum)
}

impl Engine for Interstice {
    fn name(&self) -> &'static str {
        "interstice"
    }

    fn append_then_sync(&self, dir: &Path, pool: &Pool, n: usize) -> Appended {
        let log = open(dir, Durability::OnSync);
        let start = Instant::now();
        for i in 0..n {
            log.append(pool.get(i)).expect("interstice: append");
        }
        let appends = start.elapsed();
        log.sync().expect("interstice: sync");
        let total = start.elapsed();
        log.close().expect("interstice: close");
        Appended { appends, total }
    }

    fn reopen_and_replay(&self, dir: &Path, pool: &Pool, n: usize) -> Replay {
        let start = Instant::now();
        let log = open(dir, Durability::OnSync);
        let open = start.elapsed();
        let start = Instant::now();
        let (count, sum) = replay_all(&log);
        let replay = start.elapsed();
        assert_eq!(count, n as u64, "interstice: replayed count");
        assert_eq!(sum, pool.expected_sum(n), "interstice: replayed bytes");
        drop(log);
        Replay {
            open: Some(open),
            replay,
        }
    }

    fn durable_each(&self, dir: &Path, pool: &Pool, n: usize) -> Durable {
        let log = open(dir, Durability::EveryAppend);
        let mut latencies = Vec::with_capacity(n);
        let start = Instant::now();
        for i in 0..n {
            let t = Instant::now();
            log.append(pool.get(i)).expect("interstice: append");
            latencies.push(t.elapsed().as_nanos() as u64);
        }
        let wall = start.elapsed();
        assert_eq!(log.durable_lsn(), Lsn(n as u64));
        Durable { wall, latencies }
    }

    fn append_then_sync_each(&self, dir: &Path, pool: &Pool, n: usize) -> Durable {
        let log = open(dir, Durability::OnSync);
        let mut latencies = Vec::with_capacity(n);
        let start = Instant::now();
        for i in 0..n {
            let t = Instant::now();
            log.append(pool.get(i)).expect("interstice: append");
            log.sync().expect("interstice: sync");
            latencies.push(t.elapsed().as_nanos() as u64);
        }
        let wall = start.elapsed();
        assert_eq!(log.durable_lsn(), Lsn(n as u64));
        Durable { wall, latencies }
    }

    fn batches(&self, dir: &Path, pool: &Pool, n: usize, batch: usize) -> Durable {
        let log = open(dir, Durability::OnSync);
        let mut latencies = Vec::with_capacity(n.div_ceil(batch));
        let mut records: Vec<&[u8]> = Vec::with_capacity(batch);
        let start = Instant::now();
        for first in (0..n).step_by(batch) {
            let t = Instant::now();
            records.clear();
            records.extend((first..(first + batch).min(n)).map(|i| pool.get(i)));
            log.append_batch(&records)
                .expect("interstice: append_batch");
            log.sync().expect("interstice: sync");
            latencies.push(t.elapsed().as_nanos() as u64);
        }
        let wall = start.elapsed();
        log.close().expect("interstice: close");
        Durable { wall, latencies }
    }

    fn concurrent(
        &self,
        dir: &Path,
        pool: &Pool,
        threads: usize,
        per_thread: usize,
    ) -> Option<Durable> {
        let log = Arc::new(open(dir, Durability::EveryAppend));
        let start = Instant::now();
        let latencies = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let log = Arc::clone(&log);
                    s.spawn(move || {
                        let mut latencies = Vec::with_capacity(per_thread);
                        for i in 0..per_thread {
                            let payload = pool.get(t * per_thread + i);
                            let at = Instant::now();
                            log.append(payload).expect("interstice: append");
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
        assert_eq!(log.durable_lsn(), Lsn((threads * per_thread) as u64));
        Some(Durable { wall, latencies })
    }
}
