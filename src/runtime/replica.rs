//! `Replica`: a read-only runtime that follows the log another process's runtime writes,
//! keeping its tables current as commits become durable (a hot standby or a read replica).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::txn::{self, Decoded};
use super::{Error, Result, Runtime, RuntimeConfig, replay_one, validate_schemas};
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
/// let lsn = writer.transact(|tx| tx.insert("kv", Row::new().with("k", 1u64).with("v", 7i64)))
///     .map(|()| writer.log().last_lsn())?;
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
        let applied = runtime.catch_up()?;
        let applied = Arc::new(AtomicU64::new(applied.0));
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let config_dir = runtime.dir.clone();
        let thread = {
            let (runtime, applied) = (Arc::clone(&runtime), Arc::clone(&applied));
            let (stop, failure) = (Arc::clone(&stop), Arc::clone(&failure));
            std::thread::Builder::new()
                .name("interstice-replica".into())
                .spawn(move || {
                    if let Err(error) = runtime.follow_commits(&applied, &stop) {
                        *failure.lock() = Some(error);
                    }
                })
                .map_err(|e| crate::Error::io("spawn replica thread", &config_dir, e))?
        };
        Ok(Replica {
            runtime,
            applied,
            stop,
            failure,
            thread: Some(thread),
        })
    }

    /// The replica's catch-up: the newest snapshot, then every durable record after it, with
    /// `is_replaying()` true. Returns the last LSN applied.
    fn catch_up(&self) -> Result<Lsn> {
        let mut state = self.state.write();
        let started = Instant::now();
        self.replaying.set(true);
        let caught_up = self.catch_up_tables();
        self.replaying.set(false);
        let (tables, audit, mut report, last) = caught_up?;
        for schema in &self.schemas {
            let id = tables.id(schema.name())?;
            if **tables.get(id).schema() != *schema {
                return Err(Error::SchemaChanged {
                    table: schema.name().to_owned(),
                    version: schema.version(),
                    column: "(the replica's schema differs from the log's)".into(),
                });
            }
        }
        report.replay_time = started.elapsed();
        state.tables = tables;
        state.audit = audit;
        *self.report.lock() = report;
        Ok(last)
    }

    #[allow(clippy::type_complexity)]
    fn catch_up_tables(
        &self,
    ) -> Result<(
        super::Tables,
        Vec<super::AuditEntry>,
        super::OpenReport,
        Lsn,
    )> {
        let mut report = super::OpenReport::default();
        let (start, mut tables, mut audit) = self.load_snapshot(&mut report)?;
        let mut follower = self.log.follow(start.next(), FollowMode::Durable);
        let mut last = start;
        while let Some(record) = follower.try_next()? {
            last = record.lsn;
            replay_one(&mut tables, &mut audit, self.on_replay.as_ref(), record)?;
            report.records_replayed += 1;
        }
        Ok((tables, audit, report, last))
    }

    /// The replica's thread: applies each durable commit after `applied` until `stop`.
    fn follow_commits(&self, applied: &AtomicU64, stop: &AtomicBool) -> Result<()> {
        let mut follower = self.log.follow(
            Lsn(applied.load(Ordering::Acquire)).next(),
            FollowMode::Durable,
        );
        while !stop.load(Ordering::Relaxed) {
            if let Some(record) = follower.next(LOOK)? {
                self.apply_followed(record)?;
                applied.store(record.lsn.0, Ordering::Release);
            }
        }
        Ok(())
    }

    /// Applies one record that became durable after the catch-up, and delivers its commit to
    /// the subscribers.
    fn apply_followed(&self, record: Record<'_>) -> Result<()> {
        let lsn = record.lsn;
        {
            let mut state = self.state.write();
            let state = &mut *state;
            match txn::decode(lsn, record.payload)? {
                Decoded::Transaction { tables: names, ops } => {
                    let changes = txn::resolve(lsn, &state.tables, &names, ops)?;
                    txn::check(lsn, &state.tables, &changes)?;
                    self.apply_commit(&mut state.tables, lsn, changes);
                }
                Decoded::Schema(schema) => {
                    state.tables.define(schema);
                }
                Decoded::Audit(entry) => state.audit.push(entry),
            }
        }
        self.hub.deliver(|| Lsn(u64::MAX));
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
