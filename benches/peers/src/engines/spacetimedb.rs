//! spacetimedb-commitlog: `Commitlog::open`, `append_maybe_flush`, `flush_and_sync`; replay
//! after reopen with `fold_transactions` and a decoder that reads each record in place.
//!
//! Records are appended as borrowed byte slices (encoded by copying them into the commit
//! buffer) and decoded by length, so no per-record allocation is added by the harness. The log
//! has no group commit: concurrent appenders each call `flush_and_sync`.

use std::cell::Cell;
use std::path::Path;
use std::time::Instant;

use spacetimedb_commitlog::payload::{Decoder, Encode};
use spacetimedb_commitlog::{Commitlog, Options};
use spacetimedb_paths::FromPathUnchecked;
use spacetimedb_paths::server::CommitLogDir;
use spacetimedb_sats::buffer::{BufReader, BufWriter, DecodeError};

use crate::workload::{Appended, Durable, Engine, Pool, Replay, touch};

pub struct SpacetimeDb;

/// One record: a borrowed payload from the pool.
struct Rec<'a>(&'a [u8]);

impl Encode for Rec<'_> {
    fn encode_record<W: BufWriter>(&self, writer: &mut W) {
        writer.put_slice(self.0);
    }
}

/// Reads records of a fixed size in place, counting them and summing their bytes.
struct Touch<'a> {
    size: usize,
    records: &'a Cell<u64>,
    sum: &'a Cell<u64>,
}

#[derive(Debug)]
#[allow(dead_code)] // Read through Debug when a replay fails.
enum ReplayError {
    Decode(DecodeError),
    Traversal(spacetimedb_commitlog::error::Traversal),
}

impl From<DecodeError> for ReplayError {
    fn from(e: DecodeError) -> Self {
        ReplayError::Decode(e)
    }
}

impl From<spacetimedb_commitlog::error::Traversal> for ReplayError {
    fn from(e: spacetimedb_commitlog::error::Traversal) -> Self {
        ReplayError::Traversal(e)
    }
}

impl Decoder for Touch<'_> {
    type Record = ();
    type Error = ReplayError;

    fn decode_record<'a, R: BufReader<'a>>(
        &self,
        _version: u8,
        _tx_offset: u64,
        reader: &mut R,
    ) -> Result<(), ReplayError> {
        let payload = reader.get_slice(self.size)?;
        self.records.set(self.records.get() + 1);
        self.sum.set(self.sum.get() + touch(payload));
        Ok(())
    }

    fn skip_record<'a, R: BufReader<'a>>(
        &self,
        _version: u8,
        _tx_offset: u64,
        reader: &mut R,
    ) -> Result<(), ReplayError> {
        reader.get_slice(self.size)?;
        Ok(())
    }
}

fn open<'a>(dir: &Path) -> Commitlog<Rec<'a>> {
    Commitlog::open(CommitLogDir::from_path_unchecked(dir), Options::default())
        .expect("spacetimedb-commitlog: open")
}

fn append<'a>(log: &Commitlog<Rec<'a>>, payload: &'a [u8]) {
    if log.append_maybe_flush(Rec(payload)).is_err() {
        panic!("spacetimedb-commitlog: append");
    }
}

fn flush_and_sync(log: &Commitlog<Rec<'_>>) {
    log.flush_and_sync()
        .expect("spacetimedb-commitlog: flush_and_sync");
}

impl Engine for SpacetimeDb {
    fn name(&self) -> &'static str {
        "spacetimedb-commitlog"
    }

    fn append_then_sync(&self, dir: &Path, pool: &Pool, n: usize) -> Appended {
        let log = open(dir);
        let start = Instant::now();
        for i in 0..n {
            append(&log, pool.get(i));
        }
        let appends = start.elapsed();
        flush_and_sync(&log);
        let total = start.elapsed();
        drop(log);
        Appended { appends, total }
    }

    fn reopen_and_replay(&self, dir: &Path, pool: &Pool, n: usize) -> Replay {
        let start = Instant::now();
        let log: Commitlog<Rec<'_>> = open(dir);
        let open = start.elapsed();
        let (records, sum) = (Cell::new(0), Cell::new(0));
        let start = Instant::now();
        log.fold_transactions(Touch {
            size: pool.size(),
            records: &records,
            sum: &sum,
        })
        .expect("spacetimedb-commitlog: fold_transactions");
        let replay = start.elapsed();
        assert_eq!(
            records.get(),
            n as u64,
            "spacetimedb-commitlog: replayed count"
        );
        assert_eq!(
            sum.get(),
            pool.expected_sum(n),
            "spacetimedb-commitlog: replayed bytes"
        );
        Replay {
            open: Some(open),
            replay,
        }
    }

    fn durable_each(&self, dir: &Path, pool: &Pool, n: usize) -> Durable {
        // A batch of one: the same calls, each record durable before the next.
        self.batches(dir, pool, n, 1)
    }

    fn batches(&self, dir: &Path, pool: &Pool, n: usize, batch: usize) -> Durable {
        let log = open(dir);
        let mut latencies = Vec::with_capacity(n.div_ceil(batch));
        let start = Instant::now();
        for first in (0..n).step_by(batch) {
            let t = Instant::now();
            for i in first..(first + batch).min(n) {
                append(&log, pool.get(i));
            }
            flush_and_sync(&log);
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
        let log = open(dir);
        let log = &log;
        let start = Instant::now();
        let latencies = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        let mut latencies = Vec::with_capacity(per_thread);
                        for i in 0..per_thread {
                            let payload = pool.get(t * per_thread + i);
                            let at = Instant::now();
                            append(log, payload);
                            flush_and_sync(log);
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
