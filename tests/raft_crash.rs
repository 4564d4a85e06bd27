//! Crash test: a child process (this test binary, re-executed) appends raft entries through
//! `LogStore`, printing each batch once its flush callback fired, and purges a prefix now and
//! then; the parent kills it with SIGKILL, reopens the store, and checks that every
//! acknowledged entry is there, contiguous after the purge point, and that the child can
//! continue after the restart.
#![cfg(feature = "openraft")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

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

fn entry(index: u64) -> Entry<KvConfig> {
    Entry {
        log_id: log_id(1, 1, index),
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

/// The child: appends batches of 1 to 4 entries until killed.
#[test]
fn child_appender() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return; // Run as a plain test: nothing to do.
    };
    let mut store = open(Path::new(&dir));
    block_on(async {
        let state = store.get_log_state().await.unwrap();
        let mut next = state.last_log_id.map_or(0, |id| id.index + 1);
        loop {
            let batch: Vec<_> = (next..next + 1 + next % 4).map(entry).collect();
            next += batch.len() as u64;
            store.blocking_append(batch).await.unwrap();
            println!("ack {}", next - 1);
            if next % 64 < 4 && next > 100 {
                store.purge(log_id(1, 1, next - 100)).await.unwrap();
            }
        }
    });
}

/// Runs the child until it has acknowledged `acks` batches, kills it, and returns the last
/// index it acknowledged.
fn run_child_and_kill(dir: &Path, acks: usize) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_appender",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut last = None;
    let mut seen = 0;
    let mut killed = false;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(index) = line.strip_prefix("ack ") {
            last = Some(index.parse().unwrap());
            seen += 1;
        }
        if seen == acks && !killed {
            child.kill().unwrap();
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        killed && !status.success(),
        "the child ran to completion: {status}"
    );
    last.expect("the child acknowledged entries")
}

/// Checks the reopened store: the acknowledged entries are all there, contiguous from the
/// purge point, each holding what was appended. Returns the first index raft sees.
fn check(dir: &Path, last_acked: u64) -> u64 {
    let mut store = open(dir);
    let state = block_on(store.get_log_state()).unwrap();
    let last = state.last_log_id.expect("entries survived").index;
    assert!(
        last >= last_acked,
        "last index {last} < acknowledged {last_acked}"
    );
    let first = state.last_purged_log_id.map_or(0, |id| id.index + 1);
    assert!(first <= last_acked, "purged past what was acknowledged");
    let entries = block_on(store.try_get_log_entries(..)).unwrap();
    assert_eq!(entries.len() as u64, last + 1 - first);
    for (entry, index) in entries.iter().zip(first..) {
        assert_eq!(*entry, self::entry(index));
    }
    first
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = 0;
    for round in 1..=3 {
        let last_acked = run_child_and_kill(dir.path(), 60 * round);
        first = check(dir.path(), last_acked);
    }
    assert!(first > 0, "the child purged a prefix");
}
