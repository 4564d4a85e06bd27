//! openraft's own storage test suite (`openraft::testing::Suite`) run against `LogStore`
//! with the in-memory key-value state machine.
#![cfg(feature = "openraft")]

use interstice::Options;
use interstice::raft::LogStore;
use interstice::raft::kv::{KvConfig, KvStateMachine};
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

/// Builds each store in a fresh directory, with small segments so that the suite crosses
/// segment boundaries on truncation.
struct Builder;

impl StoreBuilder<KvConfig, LogStore<KvConfig>, KvStateMachine, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<KvConfig>, KvStateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let options = Options {
            segment_size: 64 * 1024,
            ..Options::default()
        };
        let store = LogStore::open(dir.path(), options).expect("open the log store");
        Ok((dir, store, KvStateMachine::default()))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    if let Err(error) = Suite::test_all(Builder) {
        panic!("openraft's storage suite failed: {error}");
    }
}
