//! A raft append too large for one batch falls back to one record per entry. When a rotation
//! in the middle of it failed (a full disk), the records already written used to stay past
//! the store's last entry: raft appended those indexes again, the index-to-LSN offset shifted
//! and reads of earlier entries returned the wrong entries or failed, also after a reopen.
//! The failed append now leaves no record of its own behind (or, if removing them fails too,
//! a poisoned log whose reopen is consistent), so every entry reads back right.
//!
//! This file holds one test: it lowers the process's file size limit.
#![cfg(feature = "openraft")]

mod common;

use std::path::Path;

use common::set_file_size_limit;

use interstice::Options;
use interstice::raft::LogStore;
use interstice::raft::kv::{KvConfig, KvRequest};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload, RaftLogReader};

fn entry(index: u64) -> Entry<KvConfig> {
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(KvRequest::Set {
            key: format!("key-{index}"),
            value: "v".repeat(2000),
        }),
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn open(dir: &Path) -> LogStore<KvConfig> {
    let options = Options {
        segment_size: 32 * 1024,
        ..Options::default()
    };
    LogStore::open(dir, options).unwrap()
}

fn assert_entries(store: &mut LogStore<KvConfig>, last: u64) {
    let read = block_on(store.try_get_log_entries(..)).unwrap();
    let indexes: Vec<u64> = read.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, (0..=last).collect::<Vec<_>>());
    for (index, entry) in (0..).zip(&read) {
        assert_eq!(entry.payload, self::entry(index).payload, "entry {index}");
    }
}

#[test]
fn an_append_that_fails_part_way_leaves_every_entry_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    block_on(store.blocking_append((0..=3).map(entry))).unwrap();
    // 30 entries of 2 KiB need two more segments, which cannot be created from here on.
    set_file_size_limit(16 * 1024);
    let failed = block_on(store.blocking_append((4..34).map(entry)));
    assert!(failed.is_err());
    set_file_size_limit(libc::RLIM_INFINITY);
    // Raft appends the same indexes again; a poisoned log refuses, and raft reopens it.
    if block_on(store.blocking_append((4..34).map(entry))).is_err() {
        drop(store);
        store = open(dir.path());
        let state = block_on(store.get_log_state()).unwrap();
        let next = state.last_log_id.map_or(0, |id| id.index + 1);
        block_on(store.blocking_append((next..34).map(entry))).unwrap();
    }
    assert_entries(&mut store, 33);
    drop(store);
    let mut store = open(dir.path());
    assert_entries(&mut store, 33);
}
