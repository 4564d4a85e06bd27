//! `Runtime`: in-memory tables over the log. Opening loads the newest snapshot and replays
//! the rest (`is_replaying()` meanwhile); each transaction is one record.
//!
//! ```
//! use interstice::runtime::{ColumnType, Row, Runtime, RuntimeConfig, Schema};
//! # let dir = tempfile::tempdir().unwrap();
//! let accounts = Schema::new("accounts", 1)
//!     .column("id", ColumnType::U64)
//!     .column("balance", ColumnType::I64);
//! let config = || RuntimeConfig::new(dir.path()).schema(accounts.clone());
//! let runtime = Runtime::open(config())?;
//! runtime.transact(|tx| {
//!     tx.insert("accounts", Row::new().with("id", 1u64).with("balance", 100i64))?;
//!     tx.insert("accounts", Row::new().with("id", 2u64).with("balance", 50i64))
//! })?;
//! runtime.close()?;
//! let runtime = Runtime::open(config())?; // replays the log
//! assert_eq!(runtime.scan("accounts")?.len(), 2);
//! # Ok::<(), interstice::runtime::Error>(())
//! ```
//!
//! The row model, the record encoding and what replay does are described in docs/RUNTIME.md;
//! schema changes in the [`migration_guide`].

mod codec;
mod error;
mod migrate;
mod reducer;
mod replica;
mod schema;
mod snapshot;
mod subscribe;
mod table;
mod txn;
mod typed;
mod value;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::{Durability, Log, Lsn, Options};
pub use error::{Error, MigrationError, Result};
pub use interstice_derive::{Field, Table, reducer};
pub use migrate::{AuditEntry, Migrations, RowFn, TableFn};
pub use replica::Replica;
pub use schema::{Column, ColumnType, Schema};
pub use subscribe::{Change, ChangeKind, Commit, Effect, ReplayHook, Subscriber};
pub use reducer::{CallError, Caller, Param, Reducer, ReducerContext, Rng, Timestamp};
pub use txn::Tx;
pub use typed::{Args, Col, Field, Table};
pub use value::{Row, Value};

use subscribe::Hub;
use table::Tables;
use txn::Decoded;

/// What the derive macros call; not an API.
#[doc(hidden)]
pub mod __derive {
    pub use super::typed::{check_len, field};
}

#[doc = include_str!("../../docs/MIGRATION_GUIDE.md")]
pub mod migration_guide {}

/// Shared view of whether a runtime is replaying. Take one from
/// [`RuntimeConfig::replay_flag`] to check it from code that runs during open (a replay
/// hook, a migration).
#[derive(Clone, Debug, Default)]
pub struct ReplayFlag(Arc<AtomicBool>);

impl ReplayFlag {
    /// True while the runtime loads its snapshot, replays the log and migrates.
    #[must_use]
    pub fn is_replaying(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, replaying: bool) {
        self.0.store(replaying, Ordering::Release);
    }
}

/// How to open a runtime. Build with [`RuntimeConfig::new`] and the builder methods. It is
/// `Clone`, so reopening needs no closure that builds it again; clones share the
/// subscribers, the replay hook and the replay flag.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Directory of the log; snapshots go in its `snapshots/` subdirectory.
    pub dir: PathBuf,
    /// The log's options (segment size, durability, recovery mode, retention).
    /// With `Durability::EveryAppend` a transaction is durable when `transact` returns, and
    /// concurrent transactions share one flush. Leave `retention` unset: it removes segments
    /// whether or not a snapshot covers them; use [`Runtime::snapshot_and_compact`] instead.
    /// Default: `Options::default()`.
    pub log: Options,
    /// The tables, in their current version.
    pub schemas: Vec<Schema>,
    /// Migrations from older versions found in the log.
    pub migrations: Migrations,
    /// Snapshots kept by [`Runtime::snapshot_and_compact`]; the log keeps what the oldest of
    /// them needs, so a damaged newest snapshot can be replaced by an older one. Default: 2.
    pub snapshots_kept: usize,
    subscribers: Vec<(String, Subscriber)>,
    on_replay: Option<ReplayHook>,
    replay_flag: ReplayFlag,
    reducers: reducer::Registry,
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("dir", &self.dir)
            .field("log", &self.log)
            .field("schemas", &self.schemas)
            .field("migrations", &self.migrations)
            .field("snapshots_kept", &self.snapshots_kept)
            .finish_non_exhaustive()
    }
}

impl RuntimeConfig {
    /// A runtime in `dir` with default log options and no table.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> RuntimeConfig {
        RuntimeConfig {
            dir: dir.into(),
            log: Options::default(),
            schemas: Vec::new(),
            migrations: Migrations::new(),
            snapshots_kept: 2,
            subscribers: Vec::new(),
            on_replay: None,
            replay_flag: ReplayFlag::default(),
            reducers: reducer::Registry::default(),
        }
    }

    /// Declares the table of a [`Table`] type (usually derived): `.schema(T::schema())`.
    #[must_use]
    pub fn table<T: Table>(self) -> RuntimeConfig {
        self.schema(T::schema())
    }

    /// Registers a reducer, so that it can be called by name
    /// ([`Runtime::call_by_name`]). A typed call ([`Runtime::call`]) needs no registration.
    #[must_use]
    pub fn reducer<R: Reducer>(mut self, _reducer: R) -> RuntimeConfig {
        self.reducers.register::<R>();
        self
    }

    /// Sets the log's options.
    #[must_use]
    pub fn log(mut self, options: Options) -> RuntimeConfig {
        self.log = options;
        self
    }

    /// Declares a table.
    #[must_use]
    pub fn schema(mut self, schema: Schema) -> RuntimeConfig {
        self.schemas.push(schema);
        self
    }

    /// Sets the migration registry.
    #[must_use]
    pub fn migrations(mut self, migrations: Migrations) -> RuntimeConfig {
        self.migrations = migrations;
        self
    }

    /// Sets how many snapshots compaction keeps (at least 1).
    #[must_use]
    pub fn snapshots_kept(mut self, n: usize) -> RuntimeConfig {
        self.snapshots_kept = n.max(1);
        self
    }

    /// Subscribes to a table from the start: the subscriber sees every transaction
    /// committed after open, never one replayed.
    #[must_use]
    pub fn subscribe(
        mut self,
        table: impl Into<String>,
        f: impl Fn(Lsn, &[Change]) + Send + Sync + 'static,
    ) -> RuntimeConfig {
        self.subscribers.push((table.into(), Arc::new(f)));
        self
    }

    /// A hook called with every transaction replayed from the log (not those in the
    /// snapshot), to rebuild derived state. Side effects belong in subscribers instead.
    #[must_use]
    pub fn on_replay(mut self, f: impl Fn(&Commit) + Send + Sync + 'static) -> RuntimeConfig {
        self.on_replay = Some(Arc::new(f));
        self
    }

    /// The replay flag of the runtime this configuration will open.
    #[must_use]
    pub fn replay_flag(&self) -> ReplayFlag {
        self.replay_flag.clone()
    }
}

/// A snapshot passed over when opening, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotWarning {
    /// The snapshot file.
    pub path: PathBuf,
    /// Why it was not used.
    pub reason: String,
}

/// What opening (or reloading) the runtime did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The snapshot loaded, if any: its LSN and file.
    pub snapshot: Option<(Lsn, PathBuf)>,
    /// Log records replayed after it.
    pub records_replayed: u64,
    /// Snapshots passed over (damaged, ahead of the log, or no longer followed by the log).
    pub warnings: Vec<SnapshotWarning>,
    /// Tables created because the log did not define them yet.
    pub tables_created: Vec<String>,
    /// Migrations run.
    pub migrations: Vec<AuditEntry>,
    /// How long loading the snapshot and replaying the log took.
    pub replay_time: std::time::Duration,
}

/// A snapshot of a runtime's counters and timings ([`Runtime::metrics`]), with its log's.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeMetrics {
    /// Transactions committed since the runtime opened: one log record each (transactions
    /// without changes write nothing and are not counted).
    pub commits: u64,
    /// Transactions rolled back: their closure returned an error or panicked.
    pub rolled_back: u64,
    /// Log records replayed by the last open (or reload), after its snapshot.
    pub records_replayed: u64,
    /// How long the last open (or reload) took to load its snapshot and replay the log.
    pub replay_time: std::time::Duration,
    /// Snapshots written, and how long each took (encoding and writing the file).
    pub snapshots: crate::Latencies,
    /// The log's own counters ([`Log::metrics`]).
    pub log: crate::LogMetrics,
}

/// What [`Runtime::snapshot_and_compact`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compaction {
    /// The LSN of the new snapshot.
    pub snapshot_lsn: Lsn,
    /// Older snapshot files removed.
    pub snapshots_removed: usize,
    /// Log segments removed.
    pub segments_removed: usize,
}

#[derive(Debug, Default)]
struct State {
    tables: Tables,
    audit: Vec<AuditEntry>,
    /// Reused encoding buffer of transactions.
    buf: Vec<u8>,
    commits: u64,
    rolled_back: u64,
}

/// A reused encoding buffer larger than this is given back after the transaction.
const BUF_KEPT_BYTES: usize = 1 << 20;

/// In-memory tables over a log. `Send + Sync`: share it with `Arc`. Transactions are
/// serialized; with `Durability::EveryAppend` their flushes are shared (group commit).
pub struct Runtime {
    log: Log,
    dir: PathBuf,
    durability: Durability,
    schemas: Vec<Schema>,
    migrations: Migrations,
    snapshots_kept: usize,
    state: RwLock<State>,
    hub: Hub,
    on_replay: Option<ReplayHook>,
    replaying: ReplayFlag,
    report: Mutex<OpenReport>,
    snapshot_times: crate::log::metrics::Histogram,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("dir", &self.dir)
            .field("last_lsn", &self.log.last_lsn())
            .field("hub", &self.hub)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Opens the runtime in `config.dir`: a fresh directory starts empty; otherwise the
    /// newest valid snapshot is loaded and the log after it replayed, reproducing the
    /// acknowledged state. Tables the log does not define yet are created; tables at an
    /// older version are migrated (one atomic batch, audited).
    ///
    /// # Errors
    /// `Error::InvalidSchema`; `Error::Log` from opening the log (locked, corrupt...);
    /// `Error::SchemaTooOld`, `Error::SchemaChanged`, `Error::MissingMigration`,
    /// `Error::MigrationFailed`; `Error::Decode`; `Error::SnapshotGap`.
    pub fn open(config: RuntimeConfig) -> Result<Runtime> {
        validate_schemas(&config.schemas)?;
        let durability = config.log.durability;
        let mut options = config.log.clone();
        if durability == Durability::EveryAppend {
            // The runtime waits for the flush itself, after letting go of the tables, so
            // that concurrent transactions share it.
            options.durability = Durability::OnSync;
        }
        let log = Log::open(&config.dir, options)?;
        let runtime = Runtime::over(log, durability, config);
        runtime.restore()?;
        Ok(runtime)
    }

    /// A runtime over `log`, its tables still empty.
    fn over(log: Log, durability: Durability, config: RuntimeConfig) -> Runtime {
        let hub = Hub::default();
        for (table, subscriber) in config.subscribers {
            hub.subscribe(table, subscriber);
        }
        Runtime {
            log,
            dir: config.dir,
            durability,
            schemas: config.schemas,
            migrations: config.migrations,
            snapshots_kept: config.snapshots_kept.max(1),
            state: RwLock::new(State::default()),
            hub,
            on_replay: config.on_replay,
            replaying: config.replay_flag,
            report: Mutex::new(OpenReport::default()),
            snapshot_times: crate::log::metrics::Histogram::default(),
        }
    }

    /// Rebuilds the tables from the newest snapshot and the log, as opening does; pending
    /// effects and undelivered events are dropped.
    ///
    /// # Errors
    /// As `open`; on error the tables stay as they were.
    pub fn reload(&self) -> Result<()> {
        self.restore()
    }

    fn restore(&self) -> Result<()> {
        let mut state = self.state.write();
        let started = std::time::Instant::now();
        self.replaying.set(true);
        self.hub.clear();
        let rebuilt = self.rebuild();
        self.replaying.set(false);
        let (tables, audit, mut report) = rebuilt?;
        report.replay_time = started.elapsed();
        state.tables = tables;
        state.audit = audit;
        *self.report.lock() = report;
        Ok(())
    }

    fn rebuild(&self) -> Result<(Tables, Vec<AuditEntry>, OpenReport)> {
        let mut report = OpenReport::default();
        let (start, mut tables, mut audit) = self.load_snapshot(&mut report)?;
        report.records_replayed = self.log.replay(start.next(), |record| {
            replay_one(&mut tables, &mut audit, self.on_replay.as_ref(), record)
        })?;
        let upgrade = migrate::plan(&tables, &self.schemas, &self.migrations)?;
        if !upgrade.records.is_empty() {
            let last = self
                .log
                .append_batch(&upgrade.records)
                .map_err(|e| too_large(e, &upgrade, self.log.options().segment_size))?;
            self.log.sync()?;
            let first = last.0 + 1 - upgrade.records.len() as u64;
            for table in upgrade.tables {
                if tables.named(table.schema().name()).is_none() {
                    report.tables_created.push(table.schema().name().to_owned());
                }
                tables.replace(table);
            }
            for (i, mut entry) in upgrade.audits {
                entry.lsn = Lsn(first + i as u64);
                report.migrations.push(entry.clone());
                audit.push(entry);
            }
        }
        for schema in &self.schemas {
            let id = tables.id(schema.name())?;
            tables.get_mut(id).set_extras(schema);
        }
        Ok((tables, audit, report))
    }

    /// The newest usable snapshot (LSN, tables, audit trail), or an empty start.
    fn load_snapshot(&self, report: &mut OpenReport) -> Result<(Lsn, Tables, Vec<AuditEntry>)> {
        let last = self.log.last_lsn();
        let log_start = self
            .log
            .segments()
            .first()
            .map_or(Lsn::FIRST, |s| s.base_lsn);
        let mut warn = |path: &Path, reason: String| {
            report.warnings.push(SnapshotWarning {
                path: path.to_owned(),
                reason,
            });
        };
        for (lsn, path) in snapshot::list(&self.dir)? {
            if lsn > last {
                if self.log.is_read_only() {
                    // A replica changes nothing: the writer may have taken it meanwhile.
                    warn(
                        &path,
                        format!("taken at LSN {lsn}, ahead of the log as opened"),
                    );
                    continue;
                }
                warn(
                    &path,
                    format!("taken at LSN {lsn}, ahead of the log (last LSN {last}); set aside"),
                );
                snapshot::set_aside(&path)?;
                continue;
            }
            if lsn.next() < log_start {
                warn(
                    &path,
                    format!("taken at LSN {lsn}, but the log starts at LSN {log_start}"),
                );
                continue;
            }
            match snapshot::read(&path) {
                Ok(snap) if snap.lsn == lsn => {
                    report.snapshot = Some((lsn, path));
                    return Ok((lsn, snap.tables, snap.audit));
                }
                Ok(snap) => warn(&path, format!("holds LSN {} (name says {lsn})", snap.lsn)),
                Err(reason) => warn(&path, reason),
            }
        }
        if log_start > Lsn::FIRST {
            return Err(Error::SnapshotGap {
                first_lsn: log_start,
                snapshot_lsn: Lsn::ZERO,
            });
        }
        Ok((Lsn::ZERO, Tables::default(), Vec::new()))
    }

    /// Runs `f` as one transaction: its changes reach the log as one record and the tables
    /// together, or not at all. An error returned by `f`, or a panic in it (resumed after),
    /// leaves tables and log untouched. A transaction without changes writes nothing.
    ///
    /// # Errors
    /// The error of `f`; `Error::Log` when appending or flushing fails (after a failed
    /// flush the log is poisoned: reopen the runtime).
    pub fn transact<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let (value, lsn) = {
            let mut guard = self.state.write();
            let state = &mut *guard;
            let mut tx = Tx::new(&state.tables);
            let value = match panic::catch_unwind(AssertUnwindSafe(|| f(&mut tx))) {
                Ok(Ok(value)) => value,
                Ok(Err(error)) => {
                    drop(tx);
                    state.rolled_back += 1;
                    return Err(error);
                }
                Err(panic) => {
                    drop(tx);
                    state.rolled_back += 1;
                    drop(guard);
                    panic::resume_unwind(panic)
                }
            };
            let changes = tx.into_changes();
            if changes.ops.is_empty() {
                return Ok(value);
            }
            txn::encode_transaction(&mut state.buf, &state.tables, &changes);
            let lsn = self.log.append(&state.buf)?;
            state.commits += 1;
            if state.buf.capacity() > BUF_KEPT_BYTES {
                state.buf = Vec::new();
            }
            self.apply_commit(&mut state.tables, lsn, changes);
            (value, lsn)
        };
        if self.durability == Durability::EveryAppend {
            self.log.sync_to(lsn)?;
        }
        self.hub.deliver(|| self.deliverable_lsn());
        Ok(value)
    }

    /// Applies a commit's changes to `tables`, queueing its event for the subscribers.
    fn apply_commit(&self, tables: &mut Tables, lsn: Lsn, changes: txn::Changes) {
        let event = self
            .hub
            .has_subscribers()
            .then(|| Commit::of(lsn, tables, &changes));
        txn::apply(tables, changes);
        if let Some(event) = event {
            self.hub.push(event);
        }
    }

    /// Events up to this LSN may be delivered: with `EveryAppend`, only durable ones.
    fn deliverable_lsn(&self) -> Lsn {
        if self.durability == Durability::EveryAppend {
            self.log.durable_lsn()
        } else {
            Lsn(u64::MAX)
        }
    }

    /// Runs `f` on a consistent read-only view of every table.
    pub fn read<T>(&self, f: impl FnOnce(&Tx<'_>) -> T) -> T {
        let state = self.state.read();
        f(&Tx::new(&state.tables))
    }

    /// The row with primary key `key`.
    ///
    /// # Errors
    /// `Error::NoSuchTable`.
    pub fn get(&self, table: &str, key: impl Into<Value>) -> Result<Option<Row>> {
        self.read(|tx| tx.get(table, key))
    }

    /// Every row of `table`, in key order.
    ///
    /// # Errors
    /// `Error::NoSuchTable`.
    pub fn scan(&self, table: &str) -> Result<Vec<Row>> {
        self.read(|tx| tx.scan(table))
    }

    /// The rows whose `column` equals `value`, through its secondary index if declared.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NoSuchColumn`.
    pub fn lookup(&self, table: &str, column: &str, value: impl Into<Value>) -> Result<Vec<Row>> {
        self.read(|tx| tx.lookup(table, column, value))
    }

    /// Number of rows of `table`.
    ///
    /// # Errors
    /// `Error::NoSuchTable`.
    pub fn len(&self, table: &str) -> Result<usize> {
        let state = self.state.read();
        let id = state.tables.id(table)?;
        Ok(state.tables.get(id).len())
    }

    /// The schema `table` has now.
    ///
    /// # Errors
    /// `Error::NoSuchTable`.
    pub fn schema(&self, table: &str) -> Result<Schema> {
        let state = self.state.read();
        let id = state.tables.id(table)?;
        Ok(Schema::clone(state.tables.get(id).schema()))
    }

    /// The names of all tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let state = self.state.read();
        state
            .tables
            .iter()
            .map(|t| t.schema().name().to_owned())
            .collect()
    }

    /// True while the runtime replays (only during `open` and `reload`).
    pub fn is_replaying(&self) -> bool {
        self.replaying.is_replaying()
    }

    /// The replay flag, to share with code that has no `&Runtime`.
    pub fn replay_flag(&self) -> ReplayFlag {
        self.replaying.clone()
    }

    /// Calls `f` after each commit that changes `table`, in LSN order, with the LSN and the
    /// changes to that table. Never called for replayed transactions. With
    /// `Durability::EveryAppend`, called once the transaction is durable. A subscriber may
    /// read or commit; it must not panic.
    ///
    /// # Errors
    /// `Error::NoSuchTable`.
    pub fn subscribe(
        &self,
        table: &str,
        f: impl Fn(Lsn, &[Change]) + Send + Sync + 'static,
    ) -> Result<()> {
        self.state.read().tables.id(table)?;
        self.hub.subscribe(table.to_owned(), Arc::new(f));
        Ok(())
    }

    /// Queues a side effect to run when the application drains the queue. During replay
    /// effects are dropped (returns false): replayed transactions had their effects already.
    pub fn enqueue_effect(&self, effect: impl FnOnce() + Send + 'static) -> bool {
        if self.is_replaying() {
            return false;
        }
        self.hub.enqueue_effect(Box::new(effect));
        true
    }

    /// Takes the pending effects, oldest first.
    pub fn drain_effects(&self) -> Vec<Effect> {
        self.hub.drain_effects()
    }

    /// Runs the pending effects, oldest first; returns how many ran.
    pub fn run_effects(&self) -> usize {
        let effects = self.drain_effects();
        let n = effects.len();
        for effect in effects {
            effect();
        }
        n
    }

    /// Every migration run on this log, oldest first.
    pub fn audit_trail(&self) -> Vec<AuditEntry> {
        self.state.read().audit.clone()
    }

    /// What the last open (or reload) did: snapshot used, records replayed, snapshots passed
    /// over and why, tables created, migrations run.
    pub fn open_report(&self) -> OpenReport {
        self.report.lock().clone()
    }

    /// Writes a snapshot of every table at the current LSN (after making the log durable up
    /// to it) and returns that LSN.
    ///
    /// # Errors
    /// `Error::Log` from the flush; `Error::Io` from writing the file.
    pub fn snapshot(&self) -> Result<Lsn> {
        let started = std::time::Instant::now();
        let (lsn, bytes) = {
            let state = self.state.read();
            let lsn = self.log.last_lsn();
            self.log.sync_to(lsn)?;
            (lsn, snapshot::encode(lsn, &state.tables, &state.audit))
        };
        snapshot::write(&self.dir, lsn, &bytes)?;
        self.snapshot_times.record(started.elapsed());
        Ok(lsn)
    }

    /// A snapshot of the runtime's counters and timings (commits, rollbacks, the last open's
    /// replay, snapshots written) and of its log's ([`Log::metrics`]).
    ///
    /// ```
    /// use interstice::runtime::{ColumnType, Row, Runtime, RuntimeConfig, Schema};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let schema = Schema::new("t", 1).column("id", ColumnType::U64);
    /// let runtime = Runtime::open(RuntimeConfig::new(dir.path()).schema(schema))?;
    /// runtime.transact(|tx| tx.insert("t", Row::new().with("id", 1u64)))?;
    /// let metrics = runtime.metrics();
    /// assert_eq!(metrics.commits, 1);
    /// println!("replayed {} records in {:?}", metrics.records_replayed, metrics.replay_time);
    /// # Ok::<(), interstice::runtime::Error>(())
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        let (commits, rolled_back) = {
            let state = self.state.read();
            (state.commits, state.rolled_back)
        };
        let report = self.report.lock();
        RuntimeMetrics {
            commits,
            rolled_back,
            records_replayed: report.records_replayed,
            replay_time: report.replay_time,
            snapshots: self.snapshot_times.snapshot(),
            log: self.log.metrics(),
        }
    }

    /// Writes a snapshot, keeps the newest `snapshots_kept` snapshot files, and removes the
    /// log segments that the oldest kept one covers entirely.
    ///
    /// # Errors
    /// As `snapshot`, plus `Error::Log` / `Error::Io` from removing files.
    pub fn snapshot_and_compact(&self) -> Result<Compaction> {
        let lsn = self.snapshot()?;
        let list = snapshot::list(&self.dir)?;
        let mut compaction = Compaction {
            snapshot_lsn: lsn,
            snapshots_removed: 0,
            segments_removed: 0,
        };
        if list.len() < self.snapshots_kept {
            return Ok(compaction);
        }
        for (_, path) in &list[self.snapshots_kept..] {
            snapshot::remove(path)?;
            compaction.snapshots_removed += 1;
        }
        let oldest_kept = list[self.snapshots_kept - 1].0;
        compaction.segments_removed = self.log.truncate_before(oldest_kept.next())?;
        Ok(compaction)
    }

    /// The log underneath, for inspection (segments, recovery report, LSNs). Appending to it
    /// directly would put records the runtime cannot read into its log.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The directory of the runtime.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes everything durable (unless `Durability::None`) and closes the log.
    ///
    /// # Errors
    /// As `Log::close`.
    pub fn close(self) -> Result<()> {
        Ok(self.log.close()?)
    }
}

/// A migration batch that does not fit in one segment, as an error naming the migrations and
/// the option that bounds it.
fn too_large(error: crate::Error, upgrade: &migrate::Upgrade, segment_size: u64) -> Error {
    let (crate::Error::BatchTooLarge { len, max } | crate::Error::RecordTooLarge { len, max }) =
        error
    else {
        return error.into();
    };
    let migrations = upgrade
        .audits
        .iter()
        .map(|(_, entry)| format!("{} of table {:?}", entry.migration, entry.table))
        .collect::<Vec<_>>()
        .join(", ");
    Error::MigrationTooLarge {
        migrations,
        len,
        max,
        segment_size,
    }
}

fn validate_schemas(schemas: &[Schema]) -> Result<()> {
    for (i, schema) in schemas.iter().enumerate() {
        schema.validate()?;
        if schemas[..i].iter().any(|s| s.name() == schema.name()) {
            return Err(Error::InvalidSchema {
                table: schema.name().to_owned(),
                reason: "declared twice".into(),
            });
        }
    }
    Ok(())
}

/// Applies one replayed record to the tables.
fn replay_one(
    tables: &mut Tables,
    audit: &mut Vec<AuditEntry>,
    hook: Option<&ReplayHook>,
    record: crate::Record<'_>,
) -> Result<()> {
    let lsn = record.lsn;
    match txn::decode(lsn, record.payload)? {
        Decoded::Transaction { tables: names, ops } => {
            let changes = txn::resolve(lsn, tables, &names, ops)?;
            txn::check(lsn, tables, &changes)?;
            if let Some(hook) = hook {
                hook(&Commit::of(lsn, tables, &changes));
            }
            txn::apply(tables, changes);
        }
        Decoded::Schema(schema) => {
            tables.define(schema);
        }
        Decoded::Audit(entry) => audit.push(entry),
    }
    Ok(())
}
