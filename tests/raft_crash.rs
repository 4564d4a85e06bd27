//! Crash test: a child process (this test binary, re-executed) appends raft entries through
//! `LogStore`, printing each batch once its flush callback fired, purges a prefix now and
//! then, and now and then truncates a suffix (a conflict) and appends those indexes again in
//! a new term, while the store's flusher thread syncs. The parent kills it with SIGKILL,
//! reopens the store, and checks that every acknowledged entry is there with the term it was
//! last acknowledged in, contiguous after the purge point, and that the child can continue
//! after the restart.
#![cfg(feature = "openraft")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use interstice::Options;
use interstice::raft::LogStore;
use interstice::raft::kv::{KvConfig, KvRequest};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload, RaftLogReader};

const DIR_VAR: &str = "INTERSTICE_RAFT_CRASH_DIR";

fn open(dir: &Path) -> LogStore<KvConfig> {
    let options = Options {
        segment_size: 32 * 1024,
        ..Options::default()
    };
    LogStore::open(dir, options).unwrap()
}

fn entry(term: u64, index: u64) -> Entry<KvConfig> {
    Entry {
        log_id: log_id(term, 1, index),
        payload: EntryPayload::Normal(KvRequest::Set {
            key: format!("key-{index}"),
            value: "v".repeat((index % 200) as usize),
        }),
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// The child: appends batches of 1 to 4 entries until killed, truncating a suffix now and
/// then. Prints `ack FIRST LAST TERM` once a batch is durable and `cut FROM` once a
/// truncation returned.
#[test]
fn child_appender() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return; // Run as a plain test: nothing to do.
    };
    let mut store = open(Path::new(&dir));
    block_on(async {
        let state = store.get_log_state().await.unwrap();
        let mut next = state.last_log_id.as_ref().map_or(0, |id| id.index + 1);
        let mut term = state.last_log_id.map_or(1, |id| id.leader_id.term);
        let mut batches = 0u64;
        loop {
            let batch: Vec<_> = (next..next + 1 + next % 4)
                .map(|i| entry(term, i))
                .collect();
            let first = next;
            next += batch.len() as u64;
            store.blocking_append(batch).await.unwrap();
            println!("ack {first} {} {term}", next - 1);
            batches += 1;
            if next % 64 < 4 && next > 100 {
                store.purge(log_id(term, 1, next - 100)).await.unwrap();
            }
            if batches.is_multiple_of(7) && next > 110 {
                let from = next - 3;
                store.truncate(log_id(term, 1, from)).await.unwrap();
                println!("cut {from}");
                next = from;
                term += 1;
            }
        }
    });
}

/// What the child acknowledged: the term of every index, as its acks and cuts left it.
#[derive(Default)]
struct Acked {
    terms: BTreeMap<u64, u64>,
    cuts: usize,
}

impl Acked {
    fn apply(&mut self, line: &str) -> bool {
        if !line.starts_with("ack ") && !line.starts_with("cut ") {
            return false;
        }
        let words: Vec<u64> = line
            .split(' ')
            .skip(1)
            .map(|w| w.parse().unwrap())
            .collect();
        if line.starts_with("ack ") {
            for index in words[0]..=words[1] {
                self.terms.insert(index, words[2]);
            }
            return true;
        }
        if line.starts_with("cut ") {
            self.terms.split_off(&words[0]);
            self.cuts += 1;
        }
        false
    }
}

/// Runs the child until it has acknowledged `acks` batches and kills it.
fn run_child_and_kill(dir: &Path, acks: usize, acked: &mut Acked) {
    common::kill_child_after("child_appender", DIR_VAR, dir, acks, |line| {
        acked.apply(line)
    });
}

/// Checks the reopened store: the acknowledged entries are all there, contiguous from the
/// purge point, each holding what was appended in the term last acknowledged. Returns the
/// first index raft sees.
fn check(dir: &Path, acked: &Acked) -> u64 {
    let mut store = open(dir);
    let state = block_on(store.get_log_state()).unwrap();
    let last = state.last_log_id.expect("entries survived").index;
    let (&last_acked, _) = acked.terms.last_key_value().expect("acknowledged entries");
    assert!(
        last >= last_acked,
        "last index {last} < acknowledged {last_acked}"
    );
    let first = state.last_purged_log_id.map_or(0, |id| id.index + 1);
    assert!(first <= last_acked, "purged past what was acknowledged");
    let entries = block_on(store.try_get_log_entries(..)).unwrap();
    assert_eq!(entries.len() as u64, last + 1 - first);
    for (entry, index) in entries.iter().zip(first..) {
        if let Some(&term) = acked.terms.get(&index) {
            assert_eq!(*entry, self::entry(term, index));
        }
    }
    first
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = Acked::default();
    let mut first = 0;
    for _ in 1..=3 {
        run_child_and_kill(dir.path(), 60, &mut acked);
        first = check(dir.path(), &acked);
    }
    assert!(first > 0, "the child purged a prefix");
    assert!(acked.cuts > 3, "the child truncated suffixes");
}
