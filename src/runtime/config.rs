//! `RuntimeConfig`: how to open a runtime (directory, log options, tables, migrations,
//! reducers, subscribers, replay hook) and the replay flag it shares.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::migrate::Migrations;
use super::reducer::{self, Reducer};
use super::schema::Schema;
use super::subscribe::{self, Change, Commit, Listener, ReplayHook, TypedChange};
use super::typed::Table;
use crate::{Lsn, Options};

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

    pub(super) fn set(&self, replaying: bool) {
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
    ///
    /// [`Runtime::snapshot_and_compact`]: super::Runtime::snapshot_and_compact
    pub log: Options,
    /// The tables, in their current version.
    pub schemas: Vec<Schema>,
    /// Migrations from older versions found in the log.
    pub migrations: Migrations,
    /// Snapshots kept by [`Runtime::snapshot_and_compact`]; the log keeps what the oldest of
    /// them needs, so a damaged newest snapshot can be replaced by an older one. Default: 2.
    ///
    /// [`Runtime::snapshot_and_compact`]: super::Runtime::snapshot_and_compact
    pub snapshots_kept: usize,
    pub(super) subscribers: Vec<(String, Listener)>,
    /// The tables typed subscribers expect, checked against the declared ones at open.
    pub(super) typed: Vec<Schema>,
    pub(super) on_replay: Option<ReplayHook>,
    pub(super) replay_flag: ReplayFlag,
    pub(super) reducers: reducer::Registry,
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
            typed: Vec::new(),
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

    /// Registers a reducer, so that it can be called by name ([`Runtime::call_by_name`]). A
    /// typed call ([`Runtime::call`]) needs no registration.
    ///
    /// [`Runtime::call_by_name`]: super::Runtime::call_by_name
    /// [`Runtime::call`]: super::Runtime::call
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
        let f: subscribe::Subscriber = Arc::new(f);
        self.subscribers
            .push((table.into(), subscribe::listener(f)));
        self
    }

    /// Subscribes to the table of `T` from the start, typed: `f` gets the runtime (to read or
    /// commit), the LSN, and each change's old and new rows as `T`. Never called for
    /// replayed transactions. `T`'s table must be declared (`.table::<T>()`).
    #[must_use]
    pub fn on<T: Table + 'static>(
        mut self,
        f: impl Fn(&super::Runtime, Lsn, &[TypedChange<T>]) + Send + Sync + 'static,
    ) -> RuntimeConfig {
        self.typed.push(T::schema());
        self.subscribers
            .push((T::NAME.to_owned(), subscribe::typed_listener(f)));
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
