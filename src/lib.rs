//! Interstice: a durable, memory-mapped, segmented transaction log.
//!
//! A log is a directory of preallocated segment files mapped with memmap2. Records are framed
//! behind zero-copy, checksummed headers; appends are atomic (single records and batches);
//! `sync` makes them durable, and concurrent appenders share one flush. Opening recovers: a
//! torn tail left by a crash is discarded (its bytes saved to a quarantine file), corruption
//! before it is reported with its file, byte offset and last good LSN. Replay walks the
//! mapped pages and hands out borrowed slices.
//!
//! Start with [`Log::open`] and [`Options`]; the on-disk format is specified in
//! `docs/FORMAT.md`. In-memory tables over the log, with transactions, snapshots and
//! schema migrations, are in [`runtime`] (start with [`Runtime::open`]).
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod disk;
pub mod error;
pub mod format;
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

pub use error::{Damage, Error, Result};
pub use ids::{Lsn, SegmentId};
pub use log::Log;
pub use log::metrics::{Latencies, LogMetrics};
pub use options::{Durability, Options, RecoveryMode, Retention};
pub use reader::{Iter, LogReader};
pub use recovery::report::{Outcome, RecoveryReport, SegmentRecovery, SkippedRange};
pub use runtime::{ColumnType, Migrations, Row, Runtime, RuntimeConfig, Schema, Tx, Value};
pub use segment::{Record, SegmentInfo};
