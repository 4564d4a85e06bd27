//! Interstice: a durable, memory-mapped, segmented transaction log, for programs that keep
//! their state in memory and must never lose it.
//!
//! A log is a directory of preallocated segment files mapped with memmap2. Records are framed
//! behind zero-copy, checksummed headers; appends are atomic (single records and batches);
//! `sync` makes them durable, and concurrent appenders share one flush. Opening recovers: a
//! torn tail left by a crash is discarded (its bytes saved to a quarantine file), corruption
//! before it is reported with its file, byte offset and last good LSN. Replay walks the
//! mapped pages and hands out borrowed slices.
//!
//! Interstice supports Linux only: it relies on `sync_file_range`, `fallocate`,
//! `MADV_POPULATE_WRITE` and Linux mmap semantics, and refuses to compile for other systems.
//!
//! # Quick start
//!
//! Open (or create) a log, append records one by one or as an atomic batch, make them durable,
//! read them back, and close:
//!
//! ```
//! use interstice::{Durability, Log, Options};
//!
//! # let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), Options {
//!     durability: Durability::OnSync, // durable at `sync` and `close` (the default)
//!     ..Options::default()
//! })?;
//! let first = log.append(b"deposit 100")?;
//! let last = log.append_batch(&[b"withdraw 30".as_slice(), b"fee 1"])?; // all or nothing
//! let durable = log.sync()?; // one flush; returns the durable LSN
//! assert!(durable >= last && last > first);
//!
//! // Zero-copy reads: each payload borrows the mapping while the reader lives.
//! let reader = log.reader();
//! for record in reader.iter() {
//!     let record = record?; // a damaged record is an error, never skipped silently
//!     println!("{} {}", record.lsn, String::from_utf8_lossy(record.payload));
//! }
//! drop(reader);
//! log.close()?; // a clean close makes the next open read no record at all
//!
//! // Reopening recovers: every durable record is there.
//! let log = Log::open(dir.path(), Options::default())?;
//! assert_eq!(log.read(first)?.as_deref(), Some(&b"deposit 100"[..]));
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Start with [`Log::open`] and [`Options`] ([`Durability`], [`RecoveryMode`], [`Retention`]);
//! [`Log::recovery_report`] says what opening found and did.
//!
//! # Tables over the log: the runtime
//!
//! [`runtime`] keeps typed tables in memory; every transaction is one log record, and opening
//! replays the log from the newest snapshot. Schemas are versioned, with migrations
//! ([`Migrations`]). Start with [`Runtime::open`]:
//!
//! ```
//! use interstice::runtime::{ColumnType, Row, Runtime, RuntimeConfig, Schema, Value};
//!
//! # let dir = tempfile::tempdir()?;
//! let config = || {
//!     let accounts = Schema::new("accounts", 1)
//!         .column("id", ColumnType::U64)
//!         .column("balance", ColumnType::I64);
//!     RuntimeConfig::new(dir.path()).schema(accounts)
//! };
//! let runtime = Runtime::open(config())?;
//! runtime.transact(|tx| {
//!     tx.insert_row("accounts", Row::new().with("id", 1u64).with("balance", 100i64))?;
//!     tx.insert_row("accounts", Row::new().with("id", 2u64).with("balance", 50i64))
//! })?; // both rows in one record, or neither
//! runtime.close()?;
//!
//! // Reopening replays the log into the tables.
//! let runtime = Runtime::open(config())?;
//! let account = runtime.get_row("accounts", 1u64)?.expect("replayed");
//! assert_eq!(account.get("balance").and_then(Value::as_i64), Some(100));
//! assert_eq!(runtime.len("accounts")?, 2);
//! runtime.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The `interstice` binary (`cargo install --locked --path .` in a checkout) operates a log
//! directory: append, dump, verify, repair, inspect, ship, digest, stats, demo and soak.
//!
//! # Guides
//!
//! - [FORMAT](https://docs.rs/crate/interstice/latest/source/docs/FORMAT.md): the on-disk
//!   format, byte by byte.
//! - [OPERATOR](https://docs.rs/crate/interstice/latest/source/docs/OPERATOR.md): every
//!   command of the `interstice` tool.
//! - [RECOVERY_MODE](https://docs.rs/crate/interstice/latest/source/docs/RECOVERY_MODE.md):
//!   recovery, repair and failure scenarios.
//! - [FOLLOWERS](https://docs.rs/crate/interstice/latest/source/docs/FOLLOWERS.md): readers
//!   that wait for new records, in this process and in others ([`Log::follow`]).
//! - [RUNTIME](https://docs.rs/crate/interstice/latest/source/docs/RUNTIME.md): the runtime's
//!   row model, semantics and formats.
//! - [MIGRATION_GUIDE](https://docs.rs/crate/interstice/latest/source/docs/MIGRATION_GUIDE.md):
//!   schema changes, as tested examples.
//! - [REPLICATION](https://docs.rs/crate/interstice/latest/source/docs/REPLICATION.md):
//!   replication with openraft (feature `openraft`), and how it differs from `ship`.
//! - [DESIGN_DECISIONS](https://docs.rs/crate/interstice/latest/source/docs/DESIGN_DECISIONS.md):
//!   choices made and why, supported platforms and Rust version.
//! - [PERFORMANCE](https://docs.rs/crate/interstice/latest/source/docs/PERFORMANCE.md):
//!   measured figures and how to reproduce them.
//! - [RELIABILITY](https://docs.rs/crate/interstice/latest/source/docs/RELIABILITY.md): the
//!   crash simulator, power-loss simulation, fuzzing, sanitizers and the soak.
//! - [FUZZING](https://docs.rs/crate/interstice/latest/source/docs/FUZZING.md): the fuzz
//!   targets and how to run a campaign.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "interstice supports Linux only: it relies on sync_file_range, fallocate, \
     MADV_POPULATE_WRITE and Linux mmap semantics"
);

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

// The derive macros name `::interstice`; this lets the crate use them on itself.
extern crate self as interstice;

mod disk;
pub mod error;
pub mod follow;
pub mod format;
#[cfg(feature = "wasm")]
pub mod host;
mod ids;
mod log;
mod options;
mod points;
#[cfg(feature = "openraft")]
pub mod raft;
mod reader;
pub mod recovery;
pub mod runtime;
pub mod segment;
pub mod ship;

pub use error::{Damage, Error, Result};
pub use follow::{FollowMode, Follower, Waiting};
pub use ids::{Lsn, SegmentId};
pub use log::Log;
pub use log::metrics::{Latencies, LogMetrics};
pub use options::{Durability, Options, RecoveryMode, ReplayThreads, Retention};
pub use reader::{Iter, LogReader};
pub use recovery::report::{Outcome, RecoveryReport, SegmentRecovery, SkippedRange};
pub use runtime::{ColumnType, Migrations, Row, Runtime, RuntimeConfig, Schema, Tx, Value};
pub use segment::{Record, SegmentInfo};
