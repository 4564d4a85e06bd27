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
//!     tx.insert_row("accounts", Row::new().with("id", 1u64).with("balance", 100i64))?;
//!     tx.insert_row("accounts", Row::new().with("id", 2u64).with("balance", 50i64))
//! })?;
//! runtime.close()?;
//! let runtime = Runtime::open(config())?; // replays the log
//! assert_eq!(runtime.scan_rows("accounts")?.len(), 2);
//! # Ok::<(), interstice::runtime::Error>(())
//! ```
//!
//! The row model, the record encoding and what replay does are described in docs/RUNTIME.md;
//! schema changes in the [`migration_guide`].

mod call;
pub(crate) mod codec;
mod config;
mod error;
pub mod history;
mod migrate;
mod open;
mod record;
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
use std::sync::atomic::AtomicU64;

use parking_lot::{Mutex, RwLock};

use crate::{Durability, Log, Lsn};
pub use config::{ReplayFlag, RuntimeConfig};
pub use error::{Error, MigrationError, Result};
pub use history::History;
pub use interstice_derive::{Field, Table, reducer};
pub use migrate::{AuditEntry, Migrations, RowFn, TableFn};
pub use open::{OpenReport, SnapshotWarning};
pub use reducer::{
    CallError, CallInfo, Caller, ModuleRef, Param, Reducer, ReducerContext, Rng, Timestamp,
};
pub use replica::Replica;
pub use schema::{Column, ColumnType, Schema};
pub use subscribe::{Change, ChangeKind, Commit, Effect, ReplayHook, Subscriber, TypedChange};
pub use txn::Tx;
pub use typed::{Args, Col, Field, Table};
pub use value::{Row, Value};

#[cfg(feature = "wasm")]
pub(crate) use reducer::{conform_params, panic_message};
use subscribe::Hub;
use table::Tables;

/// What the derive macros call; not an API.
#[doc(hidden)]
pub mod __derive {
    pub use super::typed::{check_len, field};
}

/// The examples of docs/RUNTIME.md, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/RUNTIME.md")]
pub struct RuntimeGuide;

#[doc = include_str!("../../docs/MIGRATION_GUIDE.md")]
pub mod migration_guide {}

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

/// What [`Runtime::transact`] returns: the closure's value and the LSN of the
/// transaction's record (`None` when it changed nothing and wrote nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed<T> {
    /// What the closure returned.
    pub value: T,
    /// The record's LSN.
    pub lsn: Option<Lsn>,
}

/// What a transaction's builder makes: the value, the changes and a reducer call's header;
/// or its error; or its panic.
type Built<T, X> = std::thread::Result<std::result::Result<(T, txn::Changes, Option<CallInfo>), X>>;

/// Why a commit did not happen.
pub(crate) enum Failure<X> {
    /// The transaction's own error.
    Rejected(X),
    /// The transaction panicked.
    Panicked(Box<dyn std::any::Any + Send>),
    /// Appending or flushing failed.
    Runtime(Error),
}

type Committing<T, X> = std::result::Result<(T, Option<Lsn>), Failure<X>>;

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
    reducers: reducer::Registry,
    /// Where the seeds of reducer calls come from.
    seeds: AtomicU64,
    /// The timestamp of the last reducer call (written under the tables' lock).
    last_call: AtomicU64,
    /// Tables declared after open (by a module host), with their in-memory parts.
    declared: Mutex<Vec<Schema>>,
    /// Tells this runtime from every other of the process (for hosts' caches).
    #[cfg_attr(not(feature = "wasm"), allow(dead_code))]
    instance: u64,
}

/// The next `Runtime::instance`.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

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
            reducers: config.reducers,
            seeds: AtomicU64::new(Timestamp::now().0 ^ u64::from(std::process::id()) << 40),
            instance: INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            last_call: AtomicU64::new(0),
            declared: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` as one transaction: its changes reach the log as one record and the tables
    /// together, or not at all, and returns what `f` returned with the record's LSN. An error
    /// returned by `f`, or a panic in it (resumed after), leaves tables and log untouched. A
    /// transaction without changes writes nothing (its `lsn` is `None`).
    ///
    /// An application's own error travels through [`Error::abort`] and comes back with
    /// [`Error::aborted_with`].
    ///
    /// # Errors
    /// The error of `f`; `Error::Log` when appending or flushing fails (after a failed
    /// flush the log is poisoned: reopen the runtime).
    pub fn transact<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<Committed<T>> {
        let done = self.commit(|tables| {
            panic::catch_unwind(AssertUnwindSafe(|| {
                let mut tx = Tx::new(tables);
                let value = f(&mut tx)?;
                Ok((value, tx.into_changes(), None))
            }))
        });
        match done {
            Ok((value, lsn)) => Ok(Committed { value, lsn }),
            Err(Failure::Rejected(error) | Failure::Runtime(error)) => Err(error),
            Err(Failure::Panicked(panic)) => panic::resume_unwind(panic),
        }
    }

    /// Commits what `make` makes of the tables: a transaction's changes (and, for a
    /// reducer call, its header), as one record, then applies them and waits for the flush
    /// `Durability::EveryAppend` asks for. A transaction without changes and without a
    /// header writes nothing.
    fn commit<T, X>(&self, make: impl FnOnce(&Tables) -> Built<T, X>) -> Committing<T, X> {
        let lsn = {
            let mut guard = self.state.write();
            let state = &mut *guard;
            let (value, changes, call) = match make(&state.tables) {
                Ok(Ok(built)) => built,
                Ok(Err(error)) => {
                    state.rolled_back += 1;
                    return Err(Failure::Rejected(error));
                }
                Err(panic) => {
                    state.rolled_back += 1;
                    return Err(Failure::Panicked(panic));
                }
            };
            if changes.ops.is_empty() && call.is_none() {
                return Ok((value, None));
            }
            record::encode_transaction(&mut state.buf, &state.tables, &changes, call.as_ref());
            let lsn = self
                .log
                .append(&state.buf)
                .map_err(|e| Failure::Runtime(e.into()))?;
            state.commits += 1;
            if state.buf.capacity() > BUF_KEPT_BYTES {
                state.buf = Vec::new();
            }
            self.apply_commit(&mut state.tables, lsn, changes, call);
            (value, lsn)
        };
        let (value, lsn) = lsn;
        if self.durability == Durability::EveryAppend {
            self.log
                .sync_to(lsn)
                .map_err(|e| Failure::Runtime(e.into()))?;
        }
        self.hub.deliver(self, || self.deliverable_lsn());
        Ok((value, Some(lsn)))
    }

    /// Applies a commit's changes to `tables`, queueing its event for the subscribers.
    fn apply_commit(
        &self,
        tables: &mut Tables,
        lsn: Lsn,
        changes: txn::Changes,
        call: Option<CallInfo>,
    ) {
        let event = self
            .hub
            .has_subscribers()
            .then(|| Commit::of(lsn, tables, &changes, call));
        record::apply(tables, changes);
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

    /// The typed row with key `key`.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::Conversion`.
    pub fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T>> {
        self.read(|tx| tx.get::<T>(key))
    }

    /// Every typed row, in key order.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::Conversion`.
    pub fn scan<T: Table>(&self) -> Result<Vec<T>> {
        #[allow(clippy::redundant_closure_for_method_calls)] // `Tx`'s lifetime is higher-ranked
        self.read(|tx| tx.scan::<T>())
    }

    /// The row whose `column` holds `value` ([`Tx::find`]).
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NoSuchColumn`, `Error::Conversion`.
    pub fn find<T: Table, V: Field>(&self, column: Col<T, V>, value: &V) -> Result<Option<T>> {
        self.read(|tx| tx.find(column, value))
    }

    /// The rows whose `column` holds `value`, in key order ([`Tx::filter`]).
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NoSuchColumn`, `Error::Conversion`.
    pub fn filter<T: Table, V: Field>(&self, column: Col<T, V>, value: &V) -> Result<Vec<T>> {
        self.read(|tx| tx.filter(column, value))
    }

    /// The row of `table` with primary key `key`.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::TypeMismatch`.
    pub fn get_row(&self, table: &str, key: impl Into<Value>) -> Result<Option<Row>> {
        self.read(|tx| tx.get_row(table, key))
    }

    /// Every row of `table`, in key order.
    ///
    /// # Errors
    /// `Error::NoSuchTable`.
    pub fn scan_rows(&self, table: &str) -> Result<Vec<Row>> {
        self.read(|tx| tx.scan_rows(table))
    }

    /// The rows whose `column` equals `value`, through its secondary index if declared.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NoSuchColumn`, `Error::TypeMismatch`.
    pub fn lookup_rows(
        &self,
        table: &str,
        column: &str,
        value: impl Into<Value>,
    ) -> Result<Vec<Row>> {
        self.read(|tx| tx.lookup_rows(table, column, value))
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

    /// A number no other runtime of this process has.
    #[cfg(feature = "wasm")]
    pub(crate) fn instance(&self) -> u64 {
        self.instance
    }

    #[cfg(feature = "wasm")]
    /// Defines table `schema` if the runtime has no table of that name (one schema record,
    /// durable when it returns under `Durability::EveryAppend`); returns its LSN. A table of
    /// that name must have the same version and shape.
    ///
    /// # Errors
    /// `Error::InvalidSchema`; `Error::SchemaChanged` naming the first difference;
    /// `Error::Log`.
    pub(crate) fn ensure_table(&self, schema: &Schema) -> Result<Option<Lsn>> {
        schema.validate()?;
        let lsn = {
            let mut state = self.state.write();
            // Indexes and unique columns live in memory: the table gets this declaration's
            // added to what it has (the application's), and reloads keep them.
            if let Some(table) = state.tables.named(schema.name()) {
                table.schema().check_same(schema)?;
                let joint = Schema::clone(table.schema()).with_extras_added(schema);
                let id = state.tables.id(schema.name())?;
                state.tables.get_mut(id).set_extras(&joint)?;
                self.declare(joint);
                return Ok(None);
            }
            let lsn = self.log.append(&record::encode_schema(schema))?;
            let id = state.tables.define(schema.clone());
            state.tables.get_mut(id).set_extras(schema)?;
            self.declare(schema.clone());
            lsn
        };
        if self.durability == Durability::EveryAppend {
            self.log.sync_to(lsn)?;
        }
        Ok(Some(lsn))
    }

    /// Keeps `schema` (a table and its in-memory parts) among those declared after open, so
    /// that a reload gives them back.
    #[cfg(feature = "wasm")]
    fn declare(&self, schema: Schema) {
        let mut declared = self.declared.lock();
        declared.retain(|s| s.name() != schema.name());
        declared.push(schema);
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
        let f: Subscriber = Arc::new(f);
        self.hub.subscribe(table.to_owned(), subscribe::listener(f));
        Ok(())
    }

    /// Calls `f` after each commit that changes the table of `T`, with the runtime (to read
    /// or commit), the LSN, and each change's old and new rows as `T`; as
    /// [`Runtime::subscribe`] otherwise. A change whose rows `T` cannot hold (a value written
    /// through the dynamic API that is out of a field's range) is left out.
    ///
    /// # Errors
    /// `Error::NoSuchTable`; `Error::Conversion` when the table does not have `T`'s shape.
    pub fn on<T: Table + 'static>(
        &self,
        f: impl Fn(&Runtime, Lsn, &[TypedChange<T>]) + Send + Sync + 'static,
    ) -> Result<()> {
        let schema = self.schema(T::NAME)?;
        typed::check_shape::<T>(&schema)?;
        self.hub
            .subscribe(T::NAME.to_owned(), subscribe::typed_listener(f));
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
    /// runtime.transact(|tx| tx.insert_row("t", Row::new().with("id", 1u64)))?;
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
