//! `Log::metrics` and `Runtime::metrics` count what happened, from several threads too.

use std::sync::Arc;
use std::time::Duration;

use interstice::runtime::{ColumnType, Error as RuntimeError, Row, Runtime, RuntimeConfig, Schema};
use interstice::{Durability, Log, Options};

#[test]
fn log_metrics_count_appends_batches_flushes_and_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 64 * 1024,
        durability: Durability::OnSync,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    let fresh = log.metrics();
    assert_eq!(fresh.records_appended, 0);
    assert_eq!(fresh.flushes.count, 0);
    assert!(fresh.open_time > Duration::ZERO);
    assert!(!fresh.poisoned);

    log.append(b"12345").unwrap();
    log.append_batch(&[b"ab".as_slice(), b"cde"]).unwrap();
    log.append_batch::<&[u8]>(&[]).unwrap();
    log.sync().unwrap();
    log.sync().unwrap(); // nothing new: no flush
    // A rotation right after open finds no segment prepared: it waits for one.
    log.rotate_now().unwrap();
    log.append(b"after").unwrap();
    log.sync().unwrap();
    let metrics = log.metrics();
    assert_eq!(metrics.records_appended, 4);
    assert_eq!(metrics.bytes_appended, 15);
    assert_eq!(metrics.batches, 1);
    assert_eq!(metrics.rotations, 1);
    assert_eq!(metrics.segment_waits, 1);
    assert!(metrics.segment_wait_time > Duration::ZERO);
    assert_eq!(metrics.seals.count, 1, "the sync waited for the seal");
    assert!(metrics.flushes.count >= 2, "{:?}", metrics.flushes);
    let flushes = metrics.flushes;
    assert!(flushes.p50 <= flushes.p99 && flushes.p99 <= flushes.max);
    assert!(flushes.max <= flushes.total);
    log.close().unwrap();

    // Counters start again at the next open; a read-only log counts only its open.
    let log = Log::open_read_only(dir.path(), options).unwrap();
    let metrics = log.metrics();
    assert_eq!((metrics.records_appended, metrics.flushes.count), (0, 0));
    assert!(metrics.open_time > Duration::ZERO);
}

#[test]
fn concurrent_appenders_are_all_counted_and_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::open(
            dir.path(),
            Options {
                durability: Durability::EveryAppend,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for _ in 0..200 {
                    log.append(b"0123456789").unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let metrics = log.metrics();
    assert_eq!(metrics.records_appended, 800);
    assert_eq!(metrics.bytes_appended, 8000);
    // Every append was durable when it returned: one flush each at most (group commit
    // shares them).
    assert!(metrics.flushes.count >= 1 && metrics.flushes.count <= 800);
    assert!(metrics.flushes.max > Duration::ZERO);
}

#[test]
fn runtime_metrics_count_commits_rollbacks_replay_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        || RuntimeConfig::new(dir.path()).schema(Schema::new("t", 1).column("id", ColumnType::U64));
    let runtime = Runtime::open(config()).unwrap();
    for id in 0..10u64 {
        runtime
            .transact(|tx| tx.insert_row("t", Row::new().with("id", id)))
            .unwrap();
    }
    let refused = runtime.transact(|tx| {
        tx.insert_row("t", Row::new().with("id", 99u64))?;
        Err::<(), _>(RuntimeError::aborted("no"))
    });
    assert!(refused.is_err());
    runtime.transact(|_| Ok(())).unwrap(); // no change: no commit
    runtime.snapshot().unwrap();
    let metrics = runtime.metrics();
    assert_eq!(metrics.commits, 10);
    assert_eq!(metrics.rolled_back, 1);
    assert_eq!(metrics.snapshots.count, 1);
    assert!(metrics.snapshots.max > Duration::ZERO);
    // The table's creation at open is one record too.
    assert_eq!(metrics.log.records_appended, 11);
    runtime
        .transact(|tx| tx.insert_row("t", Row::new().with("id", 10u64)))
        .unwrap();
    runtime.close().unwrap();

    let runtime = Runtime::open(config()).unwrap();
    let metrics = runtime.metrics();
    assert_eq!(metrics.records_replayed, 1, "the record after the snapshot");
    assert!(metrics.replay_time > Duration::ZERO);
    assert_eq!(metrics.commits, 0);
    assert_eq!(runtime.len("t").unwrap(), 11);
}
