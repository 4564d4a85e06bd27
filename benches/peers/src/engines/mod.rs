//! The engines under test, each behind `workload::Engine`.

pub mod floor;
pub mod interstice;
pub mod okaywal;
pub mod raft_engine;
pub mod spacetimedb;
