//! openraft log storage over [`Log`](crate::Log) (feature `openraft`): replication by
//! consensus, with openraft 0.9 as the Raft engine.
//!
//! - [`LogStore`] implements openraft's storage API v2 (`RaftLogStorage` and
//!   `RaftLogReader`) for any type config whose entries serialize with serde. One raft
//!   entry is one record; appends are group-committed by a flusher thread; the vote and the
//!   last purged log id are kept in `raft-meta.json` beside the segments.
//! - [`kv`] is a small in-memory key-value state machine (`RaftStateMachine`) with its type
//!   config, for tests, examples and as a template.
//!
//! `docs/REPLICATION.md` explains the mapping of raft indexes to LSNs and what each
//! guarantee rests on; `examples/raft_cluster.rs` runs a three-node cluster in one process.
//!
//! ```no_run
//! use interstice::Options;
//! use interstice::raft::LogStore;
//! use interstice::raft::kv::{KvConfig, KvStateMachine};
//!
//! # fn main() -> interstice::Result<()> {
//! let log_store = LogStore::<KvConfig>::open("node-1", Options::default())?;
//! let state_machine = KvStateMachine::default();
//! // openraft::Raft::new(1, config, network, log_store, state_machine).await
//! # let _ = (log_store, state_machine);
//! # Ok(())
//! # }
//! ```

pub mod kv;
mod log_store;
pub mod meta;

pub use log_store::{LogStore, LogStoreReader};
