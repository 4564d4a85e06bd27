//! `Replica`: a read-only runtime that follows the log another process's runtime writes,
//! keeping its tables current as commits become durable (a hot standby or a read replica).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::open::{Replaying, replay_one, validate_schemas};
use super::record::{self, Replayed};
use super::{Error, Result, Runtime, RuntimeConfig};
use crate::{Durability, FollowMode, Log, Lsn, Record};

/// How long the follower thread waits before it looks at its stop flag again.
const LOOK: Duration = Duration::from_millis(50);

/// A runtime opened as a follower of another process's runtime: its tables track the log as
/// commits become durable there, and its subscribers fire for each one. Reads go through
/// `Deref` to [`Runtime`]; transactions fail (the log is open read-only).
///
/// ```
/// use std::time::Duration;
/// use interstice::runtime::{ColumnType, Row, Runtime, RuntimeConfig, Schema};
/// # let dir = tempfile::tempdir()?;
/// let schema = Schema::new("kv", 1).column("k", ColumnType::U64).column("v", ColumnType::I64);
/// let writer = Runtime::open(RuntimeConfig::new(dir.path()).schema(schema))?;
/// // In another process (here, the same one): a replica of the writer's tables.
/// let replica = Runtime::open_replica(RuntimeConfig::new(dir.path()))?;
/// let row = Row::new().with("k", 1u64).with("v", 7i64);
/// let lsn = writer.transact(|tx| tx.insert_row("kv", row))?.lsn.expect("a change");
/// writer.log().sync()?; // durable: the replica applies it
/// assert!(replica.wait_for(lsn, Duration::from_secs(10)));
/// assert_eq!(replica.len("kv")?, 1);
/// replica.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Replica {
    runtime: Arc<Runtime>,
    applied: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<Error>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("runtime", &self.runtime)
            .field("applied", &self.applied_lsn())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Opens the runtime in `config.dir` as a replica of the process writing it: the log is
    /// opened read-only (no lock, nothing written, no migration run), the newest snapshot
    /// loaded, and the durable records after it applied with `is_replaying()` true (the
    /// catch-up); from then on a thread follows the log and applies each commit as it
    /// becomes durable, firing subscribers. Schemas in `config`, if any, must match the log's.
    ///
    /// # Errors
    /// As `open`, and `Error::Log(NotALog)` when no log is there yet.
    pub fn open_replica(config: RuntimeConfig) -> Result<Replica> {
        validate_schemas(&config.schemas)?;
        let log = Log::open_read_only(&config.dir, config.log.clone())?;
        let runtime = Arc::new(Runtime::over(log, Durability::None, config));
        let applied = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let config_dir = runtime.dir.clone();
        // One follower for the catch-up and what follows it, on the thread: a truncation
        // between the two is one the follower sees (below what was applied: an error).
        let (caught_up, ready) = std::sync::mpsc::channel();
        let thread = {
            let (runtime, applied) = (Arc::clone(&runtime), Arc::clone(&applied));
            let (stop, failure) = (Arc::clone(&stop), Arc::clone(&failure));
            std::thread::Builder::new()
                .name("interstice-replica".into())
                .spawn(move || {
                    if let Err(error) = runtime.replicate(&applied, &stop, &caught_up) {
                        *failure.lock() = Some(error);
                    }
                })
                .map_err(|e| crate::Error::io("spawn replica thread", &config_dir, e))?
        };
        let mut replica = Replica {
            runtime,
            applied,
            stop,
            failure,
            thread: Some(thread),
        };
        match ready.recv() {
            Ok(Ok(())) => Ok(replica),
            Ok(Err(error)) => {
                replica.stop_thread();
                Err(error)
            }
            Err(_) => {
                replica.stop_thread();
                Err(replica
                    .failure
                    .lock()
                    .take()
                    .unwrap_or(Error::Log(crate::Error::Io {
                        op: "catch up",
                        path: config_dir,
                        source: std::io::Error::other("the replica's thread ended"),
                    })))
            }
        }
    }

    /// The replica's thread: the catch-up (answered on `caught_up`), then each durable
    /// commit after it, until `stop`.
    fn replicate(
        &self,
        applied: &AtomicU64,
        stop: &AtomicBool,
        caught_up: &std::sync::mpsc::Sender<Result<()>>,
    ) -> Result<()> {
        let mut report = super::OpenReport::default();
        let start = match self.load_snapshot(&mut report, None) {
            Ok(loaded) => loaded,
            Err(error) => {
                let _ = caught_up.send(Err(error));
                return Ok(());
            }
        };
        let mut follower = self.log.follow(start.0.next(), FollowMode::Durable);
        match self.catch_up(&mut follower, start, report) {
            Ok(last) => {
                applied.store(last.0, Ordering::Release);
                let _ = caught_up.send(Ok(()));
            }
            Err(error) => {
                let _ = caught_up.send(Err(error));
                return Ok(());
            }
        }
        while !stop.load(Ordering::Relaxed) {
            if let Some(record) = follower.next(LOOK)? {
                self.apply_followed(record)?;
                applied.store(record.lsn.0, Ordering::Release);
            }
        }
        Ok(())
    }

    /// The replica's catch-up: from the snapshot loaded (`start`), every durable record
    /// there now, with `is_replaying()` true. Returns the last LSN applied.
    fn catch_up(
        &self,
        follower: &mut crate::Follower<'_>,
        start: (Lsn, super::Tables, Vec<super::AuditEntry>),
        mut report: super::OpenReport,
    ) -> Result<Lsn> {
        let (mut last, mut tables, mut audit) = start;
        let mut state = self.state.write();
        let started = Instant::now();
        let replaying = Replaying::start(&self.replaying);
        let walked = (|| {
            while let Some(record) = follower.try_next()? {
                last = record.lsn;
                replay_one(&mut tables, &mut audit, self.on_replay.as_ref(), record)?;
                report.records_replayed += 1;
            }
            Ok::<(), Error>(())
        })();
        drop(replaying);
        walked?;
        for schema in &self.schemas {
            let id = tables.id(schema.name())?;
            tables.get(id).schema().check_same(schema)?;
            tables.get_mut(id).set_extras(schema)?;
        }
        report.replay_time = started.elapsed();
        state.tables = tables;
        state.audit = audit;
        *self.report.lock() = report;
        Ok(last)
    }

    /// Applies one record that became durable after the catch-up, and delivers its commit to
    /// the subscribers.
    fn apply_followed(&self, record: Record<'_>) -> Result<()> {
        let lsn = record.lsn;
        {
            let mut state = self.state.write();
            let state = &mut *state;
            match record::replayed(lsn, record.payload, &state.tables)? {
                Replayed::Transaction { call, changes } => {
                    self.apply_commit(&mut state.tables, lsn, changes, call);
                }
                Replayed::Schema(schema) => {
                    state.tables.define(schema);
                }
                Replayed::Audit(entry) => state.audit.push(entry),
            }
        }
        self.hub.deliver(self, || Lsn(u64::MAX));
        Ok(())
    }
}

impl std::ops::Deref for Replica {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        &self.runtime
    }
}

impl Replica {
    /// The last LSN applied to the tables.
    #[must_use]
    pub fn applied_lsn(&self) -> Lsn {
        Lsn(self.applied.load(Ordering::Acquire))
    }

    /// Waits until the commit at `lsn` is applied (true), or `timeout` passed or the
    /// following stopped on an error (false; `close` returns it).
    #[must_use]
    pub fn wait_for(&self, lsn: Lsn, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.applied_lsn() >= lsn {
                return true;
            }
            if Instant::now() >= deadline || self.failure.lock().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops following.
    ///
    /// # Errors
    /// The error that stopped the following early, if one did (a truncation of the log below
    /// what was applied, retention ahead of it, damage, a record that does not decode).
    pub fn close(mut self) -> Result<()> {
        self.stop_thread();
        match self.failure.lock().take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop_thread();
    }
}
