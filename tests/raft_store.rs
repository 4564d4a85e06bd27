//! `LogStore` across restarts: what raft saved (entries, vote, purge and truncation points)
//! reads back the same from a reopened directory; holes are refused; flush callbacks fire
//! once the entries are durable.
#![cfg(feature = "openraft")]

use std::path::Path;
use std::sync::mpsc;

use interstice::raft::LogStore;
use interstice::raft::kv::{KvConfig, KvRequest};
use interstice::{Error, Lsn, Options, Retention};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload, LogId, RaftLogReader, Vote};

type Store = LogStore<KvConfig>;

fn small() -> Options {
    Options {
        segment_size: 16 * 1024,
        ..Options::default()
    }
}

fn open(dir: &Path) -> Store {
    LogStore::open(dir, small()).unwrap()
}

fn entry(term: u64, index: u64) -> Entry<KvConfig> {
    Entry {
        log_id: log_id(term, 1, index),
        payload: EntryPayload::Normal(KvRequest::Set {
            key: format!("key-{index}"),
            value: "v".repeat(100),
        }),
    }
}

fn entries(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry<KvConfig>> {
    indexes.map(|i| entry(term, i)).collect()
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn indexes(store: &mut Store) -> Vec<(u64, u64)> {
    block_on(store.try_get_log_entries(..))
        .unwrap()
        .iter()
        .map(|e| (e.log_id.leader_id.term, e.log_id.index))
        .collect()
}

fn state(store: &mut Store) -> (Option<LogId<u64>>, Option<LogId<u64>>) {
    let state = block_on(store.get_log_state()).unwrap();
    (state.last_purged_log_id, state.last_log_id)
}

#[test]
fn index_i_is_lsn_i_plus_one_on_a_fresh_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    block_on(store.blocking_append(entries(1, 0..=10))).unwrap();
    assert_eq!(store.log().last_lsn(), Lsn(11));
    assert!(store.log().durable_lsn() >= Lsn(11));
    assert_eq!(state(&mut store), (None, Some(log_id(1, 1, 10))));
}

#[test]
fn entries_and_vote_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        for i in 0..=300 {
            block_on(store.blocking_append([entry(1 + i / 100, i)])).unwrap();
        }
        block_on(store.save_vote(&Vote::new_committed(4, 1))).unwrap();
        assert!(store.log().segments().len() > 1, "the test spans segments");
    }
    let mut store = open(dir.path());
    assert_eq!(state(&mut store), (None, Some(log_id(4, 1, 300))));
    assert_eq!(
        block_on(store.read_vote()).unwrap(),
        Some(Vote::new_committed(4, 1))
    );
    let want: Vec<(u64, u64)> = (0..=300).map(|i| (1 + i / 100, i)).collect();
    assert_eq!(indexes(&mut store), want);
    let middle = block_on(store.try_get_log_entries(150..=152)).unwrap();
    assert_eq!(middle, entries(2, 150..=152));
}

#[test]
fn purged_entries_stay_hidden_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        block_on(store.blocking_append(entries(1, 0..=300))).unwrap();
        block_on(store.purge(log_id(1, 1, 150))).unwrap();
        let first = store.log().first_lsn().unwrap();
        assert!(first > Lsn(1), "whole segments were removed");
        assert!(
            first <= Lsn(151),
            "entries purged but still present are hidden"
        );
    }
    let mut store = open(dir.path());
    assert_eq!(
        state(&mut store),
        (Some(log_id(1, 1, 150)), Some(log_id(1, 1, 300)))
    );
    let seen = indexes(&mut store);
    assert_eq!(seen.first(), Some(&(1, 151)));
    assert_eq!(seen.len(), 150);
    assert!(
        block_on(store.try_get_log_entries(100..=151))
            .unwrap()
            .len()
            == 1
    );
}

#[test]
fn purge_past_the_end_then_append_continues_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        block_on(store.blocking_append(entries(1, 0..=10))).unwrap();
        block_on(store.purge(log_id(2, 1, 20))).unwrap();
        assert_eq!(
            state(&mut store),
            (Some(log_id(2, 1, 20)), Some(log_id(2, 1, 20)))
        );
        assert!(indexes(&mut store).is_empty());
    }
    {
        let mut store = open(dir.path());
        assert_eq!(
            state(&mut store),
            (Some(log_id(2, 1, 20)), Some(log_id(2, 1, 20)))
        );
        assert!(indexes(&mut store).is_empty());
        block_on(store.blocking_append(entries(3, 21..=25))).unwrap();
    }
    let mut store = open(dir.path());
    assert_eq!(
        state(&mut store),
        (Some(log_id(2, 1, 20)), Some(log_id(3, 1, 25)))
    );
    let want: Vec<(u64, u64)> = (21..=25).map(|i| (3, i)).collect();
    assert_eq!(indexes(&mut store), want);
}

#[test]
fn truncated_suffix_stays_gone_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        block_on(store.blocking_append(entries(1, 0..=200))).unwrap();
        block_on(store.truncate(log_id(1, 1, 120))).unwrap();
        assert_eq!(state(&mut store), (None, Some(log_id(1, 1, 119))));
        block_on(store.blocking_append(entries(2, 120..=130))).unwrap();
    }
    let mut store = open(dir.path());
    assert_eq!(state(&mut store), (None, Some(log_id(2, 1, 130))));
    let want: Vec<(u64, u64)> = (0..=130)
        .map(|i| (if i < 120 { 1 } else { 2 }, i))
        .collect();
    assert_eq!(indexes(&mut store), want);
}

#[test]
fn truncating_everything_leaves_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        block_on(store.blocking_append(entries(1, 0..=5))).unwrap();
        block_on(store.truncate(log_id(1, 1, 0))).unwrap();
        assert_eq!(state(&mut store), (None, None));
    }
    let mut store = open(dir.path());
    assert_eq!(state(&mut store), (None, None));
    block_on(store.blocking_append(entries(2, 0..=1))).unwrap();
    assert_eq!(indexes(&mut store), vec![(2, 0), (2, 1)]);
}

#[test]
fn an_append_that_leaves_a_hole_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    block_on(store.blocking_append(entries(1, 0..=3))).unwrap();
    assert!(block_on(store.blocking_append([entry(1, 5)])).is_err());
    assert!(block_on(store.blocking_append([entry(1, 3)])).is_err());
    assert_eq!(state(&mut store), (None, Some(log_id(1, 1, 3))));
    assert_eq!(store.log().last_lsn(), Lsn(4), "nothing was written");
}

#[test]
fn flush_callbacks_fire_in_order_once_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let (sender, receiver) = mpsc::channel();
    for i in 0..100 {
        let sender = sender.clone();
        store
            .append_then([entry(1, i)], move |result| {
                sender.send((i, result.is_ok())).unwrap();
            })
            .unwrap();
    }
    drop(sender);
    let fired: Vec<(u64, bool)> = receiver.iter().collect();
    assert_eq!(fired, (0..100).map(|i| (i, true)).collect::<Vec<_>>());
    assert!(store.log().durable_lsn() >= Lsn(100));
}

#[test]
fn retention_limits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        retention: Retention {
            segments_max: Some(2),
            bytes_max: None,
        },
        ..small()
    };
    let result = Store::open(dir.path(), options);
    assert!(matches!(
        result,
        Err(Error::InvalidOptions {
            name: "retention",
            ..
        })
    ));
}

#[test]
fn a_dropped_store_releases_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    block_on(store.blocking_append(entries(1, 0..=3))).unwrap();
    drop(store);
    let mut store = open(dir.path());
    assert_eq!(state(&mut store), (None, Some(log_id(1, 1, 3))));
}

#[test]
fn an_entry_larger_than_a_record_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    block_on(store.blocking_append(entries(1, 0..=1))).unwrap();
    let mut batch = entries(1, 2..=4);
    batch.push(Entry {
        log_id: log_id(1, 1, 5),
        payload: EntryPayload::Normal(KvRequest::Set {
            key: "big".to_owned(),
            value: "x".repeat(32 * 1024),
        }),
    });
    assert!(block_on(store.blocking_append(batch)).is_err());
    assert_eq!(store.log().last_lsn(), Lsn(2));
    block_on(store.blocking_append(entries(1, 2..=4))).unwrap();
    assert_eq!(state(&mut store), (None, Some(log_id(1, 1, 4))));
}

#[test]
fn committed_log_id_reads_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        assert_eq!(block_on(store.read_committed()).unwrap(), None);
        block_on(store.blocking_append(entries(1, 0..=20))).unwrap();
        block_on(store.save_committed(Some(log_id(1, 1, 17)))).unwrap();
        block_on(store.save_vote(&Vote::new_committed(2, 1))).unwrap();
    }
    let mut store = open(dir.path());
    assert_eq!(
        block_on(store.read_committed()).unwrap(),
        Some(log_id(1, 1, 17))
    );
    assert_eq!(
        block_on(store.read_vote()).unwrap(),
        Some(Vote::new_committed(2, 1))
    );
    block_on(store.save_committed(None)).unwrap();
    drop(store);
    let mut store = open(dir.path());
    assert_eq!(block_on(store.read_committed()).unwrap(), None);
}
