//! A small in-memory key-value state machine for openraft: the type config `KvConfig`, its
//! requests and responses, and `KvStateMachine` with in-memory snapshots.
//!
//! It is what the storage tests and the replication example run on, and a template for an
//! application's own state machine. Its state is not persisted: after a restart, raft
//! applies the log again from the start, so a node using it must keep its whole log (no
//! snapshot policy that purges) or persist its snapshots itself.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// Type config of the key-value example: `u64` node ids, [`BasicNode`] addresses,
    /// [`KvRequest`] entries, snapshots in a `Cursor<Vec<u8>>`.
    pub KvConfig:
        D = KvRequest,
        R = KvResponse,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A write to the key-value state machine: one raft entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvRequest {
    /// Sets `key` to `value`.
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: String,
    },
}

/// The answer to a [`KvRequest`] once applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvResponse {
    /// The value the key had before.
    pub previous: Option<String>,
}

/// Everything a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KvState {
    last_applied: Option<LogId<u64>>,
    last_membership: StoredMembership<u64, BasicNode>,
    data: BTreeMap<String, String>,
}

#[derive(Debug)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    state: RwLock<KvState>,
    snapshot: Mutex<Option<StoredSnapshot>>,
    snapshots_built: AtomicU64,
}

/// An in-memory key-value state machine. Clones share the same state, so one clone can be
/// handed to openraft and another kept to read the data.
#[derive(Debug, Clone, Default)]
pub struct KvStateMachine {
    inner: Arc<Inner>,
}

impl KvStateMachine {
    /// A copy of every key and value, in key order.
    pub fn data(&self) -> BTreeMap<String, String> {
        self.inner.state.read().data.clone()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.inner.state.read().data.get(key).cloned()
    }

    /// The log id of the last entry applied.
    pub fn last_applied(&self) -> Option<LogId<u64>> {
        self.inner.state.read().last_applied
    }
}

fn apply_request(data: &mut BTreeMap<String, String>, request: KvRequest) -> KvResponse {
    let previous = match request {
        KvRequest::Set { key, value } => data.insert(key, value),
        KvRequest::Delete { key } => data.remove(&key),
    };
    KvResponse { previous }
}

impl RaftSnapshotBuilder<KvConfig> for KvStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<KvConfig>, StorageError<u64>> {
        let (bytes, last_applied, last_membership) = {
            let state = self.inner.state.read();
            let bytes = serde_json::to_vec(&*state)
                .map_err(|e| StorageIOError::read_state_machine(AnyError::new(&e)))?;
            (bytes, state.last_applied, state.last_membership.clone())
        };
        let count = self.inner.snapshots_built.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot_id = match last_applied {
            Some(id) => format!("{}-{}-{count}", id.leader_id, id.index),
            None => format!("--{count}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership,
            snapshot_id,
        };
        *self.inner.snapshot.lock() = Some(StoredSnapshot {
            meta: meta.clone(),
            bytes: bytes.clone(),
        });
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<KvConfig> for KvStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let state = self.inner.state.read();
        Ok((state.last_applied, state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<KvResponse>, StorageError<u64>>
    where
        I: IntoIterator<Item = openraft::Entry<KvConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut state = self.inner.state.write();
        let mut responses = Vec::new();
        for entry in entries {
            state.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => KvResponse { previous: None },
                EntryPayload::Normal(request) => apply_request(&mut state.data, request),
                EntryPayload::Membership(membership) => {
                    state.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    KvResponse { previous: None }
                }
            };
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let bytes = snapshot.into_inner();
        let mut state: KvState = serde_json::from_slice(&bytes).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        state.last_applied = meta.last_log_id;
        state.last_membership = meta.last_membership.clone();
        *self.inner.state.write() = state;
        *self.inner.snapshot.lock() = Some(StoredSnapshot {
            meta: meta.clone(),
            bytes,
        });
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<KvConfig>>, StorageError<u64>> {
        Ok(self.inner.snapshot.lock().as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.bytes.clone())),
        }))
    }
}
