//! The runtime end to end on real directories: transactions, replay, the replay guard,
//! subscribers and effects, secondary indexes, snapshots and compaction.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ChangeKind::{Delete, Insert, Update};
use interstice::runtime::{
    ChangeKind, ColumnType, Error, Row, Runtime, RuntimeConfig, Schema, Value,
};
use interstice::{Durability, Lsn, Options};
use parking_lot::Mutex;

fn accounts() -> Schema {
    Schema::new("accounts", 1)
        .column("id", ColumnType::U64)
        .column("owner", ColumnType::Str)
        .column("balance", ColumnType::I64)
        .index("owner")
}

fn transfers() -> Schema {
    Schema::new("transfers", 1)
        .column("id", ColumnType::U64)
        .column("from", ColumnType::U64)
        .column("to", ColumnType::U64)
        .column("amount", ColumnType::I64)
}

fn config(dir: &Path) -> RuntimeConfig {
    RuntimeConfig::new(dir)
        .log(Options {
            segment_size: 16 * 1024,
            ..Options::default()
        })
        .schema(accounts())
        .schema(transfers())
}

fn account(id: u64, owner: &str, balance: i64) -> Row {
    Row::new()
        .with("id", id)
        .with("owner", owner)
        .with("balance", balance)
}

fn open(dir: &Path) -> Runtime {
    Runtime::open(config(dir)).unwrap()
}

fn seed(runtime: &Runtime, n: u64) {
    runtime
        .transact(|tx| {
            for id in 0..n {
                tx.insert_row("accounts", account(id, &format!("o{}", id % 3), 100))?;
            }
            Ok(())
        })
        .unwrap();
}

/// Moves `amount` from `from` to `to` and records the transfer, in one transaction.
fn transfer(runtime: &Runtime, id: u64, from: u64, to: u64, amount: i64) -> Result<Lsn, Error> {
    runtime.transact(|tx| {
        let mut a = tx.get_row("accounts", from)?.expect("account");
        let mut b = tx.get_row("accounts", to)?.expect("account");
        let balance = a.get("balance").and_then(Value::as_i64).unwrap();
        if balance < amount {
            return Err(Error::aborted("insufficient funds"));
        }
        a.set("balance", balance - amount);
        let to_balance = b.get("balance").and_then(Value::as_i64).unwrap();
        b.set("balance", to_balance + amount);
        tx.update_row("accounts", a)?;
        tx.update_row("accounts", b)?;
        let row = Row::new()
            .with("id", id)
            .with("from", from)
            .with("to", to)
            .with("amount", amount);
        tx.insert_row("transfers", row)?;
        Ok(())
    })?;
    Ok(runtime.log().last_lsn())
}

fn total(runtime: &Runtime) -> i64 {
    runtime
        .scan_rows("accounts")
        .unwrap()
        .iter()
        .map(|r| r.get("balance").and_then(Value::as_i64).unwrap())
        .sum()
}

fn state(runtime: &Runtime) -> Vec<(String, Vec<Row>)> {
    runtime
        .table_names()
        .into_iter()
        .map(|t| {
            let rows = runtime.scan_rows(&t).unwrap();
            (t, rows)
        })
        .collect()
}

#[test]
fn fresh_directory_starts_empty_with_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    assert_eq!(runtime.table_names(), ["accounts", "transfers"]);
    assert_eq!(runtime.len("accounts").unwrap(), 0);
    let report = runtime.open_report();
    assert_eq!(report.tables_created, ["accounts", "transfers"]);
    assert_eq!(report.snapshot, None);
    assert!(!runtime.is_replaying());
}

#[test]
fn committed_state_is_reproduced_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 10);
    let mut committed = 0;
    for i in 0..200 {
        match transfer(
            &runtime,
            i,
            i % 10,
            (i * 7 + 3) % 10,
            (i % 13).cast_signed() * 9,
        ) {
            Ok(_) => committed += 1,
            Err(error) => assert!(matches!(error, Error::Aborted { .. })),
        }
    }
    assert!(committed > 100);
    runtime
        .transact(|tx| tx.delete_row("accounts", 9u64).map(drop))
        .unwrap();
    let before = state(&runtime);
    assert!(runtime.log().segments().len() > 1, "small segments rotate");
    runtime.close().unwrap();
    let runtime = open(dir.path());
    assert_eq!(state(&runtime), before);
    // Two schema records, the seed, the transfers and the delete.
    assert_eq!(
        runtime.open_report().records_replayed,
        2 + 1 + committed + 1
    );
    assert!(runtime.open_report().tables_created.is_empty());
}

#[test]
fn a_transaction_over_several_tables_is_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 2);
    let before = runtime.log().last_lsn();
    transfer(&runtime, 1, 0, 1, 30).unwrap();
    assert_eq!(runtime.log().last_lsn(), before.next());
    assert_eq!(total(&runtime), 200);
    // A transaction that changes nothing writes nothing.
    runtime.transact(|tx| tx.get_row("accounts", 0u64)).unwrap();
    assert_eq!(runtime.log().last_lsn(), before.next());
}

#[test]
fn an_error_in_the_transaction_leaves_tables_and_log_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 2);
    let (before, lsn) = (state(&runtime), runtime.log().last_lsn());
    let result = runtime.transact(|tx| {
        tx.update_row("accounts", account(0, "o0", 0))?;
        tx.insert_row("accounts", account(1, "dup", 1))
    });
    assert!(
        matches!(result, Err(Error::DuplicateKey { .. })),
        "{result:?}"
    );
    let aborted = transfer(&runtime, 1, 0, 1, 1000);
    assert!(matches!(aborted, Err(Error::Aborted { .. })));
    assert_eq!(state(&runtime), before);
    assert_eq!(runtime.log().last_lsn(), lsn);
}

#[test]
fn a_panic_in_the_transaction_is_resumed_after_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 2);
    let (before, lsn) = (state(&runtime), runtime.log().last_lsn());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.transact(|tx| -> Result<(), Error> {
            tx.update_row("accounts", account(0, "o0", 0))?;
            panic!("boom");
        })
    }));
    assert_eq!(*caught.unwrap_err().downcast::<&str>().unwrap(), "boom");
    assert_eq!(state(&runtime), before);
    assert_eq!(runtime.log().last_lsn(), lsn);
    // The runtime is still usable.
    transfer(&runtime, 1, 0, 1, 5).unwrap();
    assert_eq!(runtime.log().last_lsn(), lsn.next());
}

#[test]
fn a_record_the_log_refuses_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path()).log(Options {
        segment_size: 16 * 1024,
        record_size_max: 512,
        ..Options::default()
    }))
    .unwrap();
    let lsn = runtime.log().last_lsn();
    let result = runtime.transact(|tx| tx.insert_row("accounts", account(1, &"x".repeat(600), 1)));
    assert!(
        matches!(
            result,
            Err(Error::Log(interstice::Error::RecordTooLarge { .. }))
        ),
        "{result:?}"
    );
    assert_eq!(runtime.len("accounts").unwrap(), 0);
    assert_eq!(runtime.log().last_lsn(), lsn);
}

#[test]
fn lookups_use_the_secondary_index_and_follow_changes() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 9);
    let ids = |rows: Vec<Row>| -> Vec<u64> {
        rows.iter()
            .map(|r| r.get("id").and_then(Value::as_u64).unwrap())
            .collect()
    };
    assert_eq!(
        ids(runtime.lookup_rows("accounts", "owner", "o1").unwrap()),
        [1, 4, 7]
    );
    runtime
        .transact(|tx| {
            tx.update_row("accounts", account(4, "o2", 1))?;
            // The transaction sees its own change through the lookup.
            assert_eq!(ids(tx.lookup_rows("accounts", "owner", "o1")?), [1, 7]);
            tx.delete_row("accounts", 7u64).map(drop)
        })
        .unwrap();
    assert_eq!(
        ids(runtime.lookup_rows("accounts", "owner", "o1").unwrap()),
        [1]
    );
    assert_eq!(
        ids(runtime.lookup_rows("accounts", "owner", "o2").unwrap()),
        [2, 4, 5, 8]
    );
    // Lookups by a column without an index scan, and agree.
    assert_eq!(
        ids(runtime.lookup_rows("accounts", "balance", 1i64).unwrap()),
        [4]
    );
    assert!(matches!(
        runtime.lookup_rows("accounts", "nope", 1i64),
        Err(Error::NoSuchColumn { .. })
    ));
    drop(runtime);
    let runtime = open(dir.path());
    assert_eq!(
        ids(runtime.lookup_rows("accounts", "owner", "o2").unwrap()),
        [2, 4, 5, 8]
    );
}

type Seen = Arc<Mutex<Vec<(Lsn, ChangeKind, Value)>>>;

#[test]
fn subscribers_receive_commits_in_lsn_order_and_never_replayed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config_with_subscriber = |seen: &Seen| {
        let seen = Arc::clone(seen);
        config(dir.path()).subscribe("accounts", move |lsn, changes| {
            for change in changes {
                assert_eq!(&*change.table, "accounts");
                seen.lock().push((lsn, change.kind, change.key.clone()));
            }
        })
    };
    let runtime = Runtime::open(config_with_subscriber(&seen)).unwrap();
    seed(&runtime, 4);
    transfer(&runtime, 1, 0, 1, 10).unwrap();
    runtime
        .transact(|tx| tx.delete_row("accounts", 3u64).map(drop))
        .unwrap();
    let kinds: Vec<ChangeKind> = seen.lock().iter().map(|s| s.1).collect();
    assert_eq!(
        kinds,
        [Insert, Insert, Insert, Insert, Update, Update, Delete]
    );
    let committed = seen.lock().len();
    drop(runtime);
    // Reopening replays those transactions without calling the subscriber.
    let runtime = Runtime::open(config_with_subscriber(&seen)).unwrap();
    assert_eq!(seen.lock().len(), committed);
    transfer(&runtime, 2, 0, 1, 10).unwrap();
    assert_eq!(seen.lock().len(), committed + 2);
    let lsns: Vec<Lsn> = seen.lock().iter().map(|s| s.0).collect();
    assert!(lsns.is_sorted());
}

#[test]
fn concurrent_durable_commits_share_flushes_and_arrive_in_lsn_order() {
    let dir = tempfile::tempdir().unwrap();
    let lsns = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&lsns);
    let runtime = Runtime::open(
        config(dir.path())
            .log(Options {
                segment_size: 64 * 1024,
                durability: Durability::EveryAppend,
                ..Options::default()
            })
            .subscribe("transfers", move |lsn, _| l.lock().push(lsn)),
    )
    .unwrap();
    seed(&runtime, 8);
    let runtime = Arc::new(runtime);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let runtime = Arc::clone(&runtime);
            std::thread::spawn(move || {
                for i in 0..25 {
                    transfer(&runtime, t * 100 + i, t, t + 4, 1).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let lsns = lsns.lock().clone();
    assert_eq!(lsns.len(), 100);
    assert!(lsns.is_sorted(), "{lsns:?}");
    assert_eq!(runtime.log().durable_lsn(), runtime.log().last_lsn());
    assert_eq!(total(&runtime), 800);
    let before = state(&runtime);
    drop(Arc::try_unwrap(runtime).unwrap());
    assert_eq!(state(&open(dir.path())), before);
}

#[test]
fn is_replaying_holds_during_replay_and_effects_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    seed(&open(dir.path()), 3);
    let config = config(dir.path());
    let flag = config.replay_flag();
    let replayed = Arc::new(AtomicUsize::new(0));
    let all_replaying = Arc::new(AtomicBool::new(true));
    let runtime_slot: Arc<Mutex<Option<Arc<Runtime>>>> = Arc::new(Mutex::new(None));
    let (r, a, slot) = (
        Arc::clone(&replayed),
        Arc::clone(&all_replaying),
        Arc::clone(&runtime_slot),
    );
    let config = config.on_replay(move |commit| {
        r.fetch_add(commit.changes.len(), Ordering::SeqCst);
        a.fetch_and(flag.is_replaying(), Ordering::SeqCst);
        // An effect enqueued while replaying is dropped.
        if let Some(runtime) = slot.lock().as_ref() {
            assert!(!runtime.enqueue_effect(|| panic!("effect of a replayed commit")));
        }
    });
    let runtime = Arc::new(Runtime::open(config).unwrap());
    assert_eq!(replayed.load(Ordering::SeqCst), 3);
    assert!(all_replaying.load(Ordering::SeqCst));
    assert!(!runtime.is_replaying());
    // Effects queued before a replay are cleared when it starts.
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    assert!(runtime.enqueue_effect(move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    *runtime_slot.lock() = Some(Arc::clone(&runtime));
    runtime.reload().unwrap();
    *runtime_slot.lock() = None;
    assert_eq!(replayed.load(Ordering::SeqCst), 6);
    assert!(all_replaying.load(Ordering::SeqCst));
    assert_eq!(runtime.run_effects(), 0);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(runtime.len("accounts").unwrap(), 3);
    // After replay, effects queue and run.
    assert!(runtime.enqueue_effect(move || {
        ran.fetch_add(1, Ordering::SeqCst);
    }));
    assert_eq!(runtime.run_effects(), 1);
}

#[test]
fn a_subscriber_may_commit_and_queue_effects() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(open(dir.path()));
    seed(&runtime, 2);
    let weak = Arc::downgrade(&runtime);
    runtime
        .subscribe("transfers", move |lsn, changes| {
            let runtime = weak.upgrade().unwrap();
            let id = changes[0].key.as_u64().unwrap();
            runtime.enqueue_effect(move || println!("transfer {id} at {lsn}"));
            if id < 3 {
                transfer(&runtime, id + 1, 1, 0, 1).unwrap();
            }
        })
        .unwrap();
    transfer(&runtime, 0, 0, 1, 1).unwrap();
    assert_eq!(runtime.len("transfers").unwrap(), 4);
    assert_eq!(runtime.drain_effects().len(), 4);
}

#[test]
fn snapshot_then_reopen_replays_only_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 10);
    for i in 0..50 {
        transfer(&runtime, i, i % 10, (i + 1) % 10, 1).unwrap();
    }
    let at = runtime.snapshot().unwrap();
    assert_eq!(at, runtime.log().last_lsn());
    for i in 50..60 {
        transfer(&runtime, i, i % 10, (i + 3) % 10, 2).unwrap();
    }
    let before = state(&runtime);
    drop(runtime);
    let runtime = open(dir.path());
    let report = runtime.open_report();
    assert_eq!(report.snapshot.as_ref().map(|s| s.0), Some(at));
    assert_eq!(report.records_replayed, 10);
    assert!(report.warnings.is_empty());
    assert_eq!(state(&runtime), before);
}

#[test]
fn compaction_drops_covered_segments_and_keeps_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 10);
    let mut i = 0;
    let mut removed = 0;
    for _ in 0..3 {
        for _ in 0..300 {
            transfer(&runtime, i, i % 10, (i + 1) % 10, 1).unwrap();
            i += 1;
        }
        let compaction = runtime.snapshot_and_compact().unwrap();
        removed += compaction.segments_removed;
    }
    assert!(removed > 0, "old segments are removed");
    assert!(runtime.log().segments()[0].base_lsn > Lsn(1));
    let snapshots = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .count();
    assert_eq!(snapshots, 2);
    let before = state(&runtime);
    drop(runtime);
    let runtime = open(dir.path());
    assert_eq!(state(&runtime), before);
    assert_eq!(total(&runtime), 1000);
}

fn newest_snapshot(dir: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.pop().unwrap()
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_snapshot_is_passed_over_for_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 10);
    let mut i = 0;
    for _ in 0..3 {
        for _ in 0..200 {
            transfer(&runtime, i, i % 10, (i + 3) % 10, 1).unwrap();
            i += 1;
        }
        runtime.snapshot_and_compact().unwrap();
    }
    transfer(&runtime, i, 1, 2, 1).unwrap();
    let before = state(&runtime);
    drop(runtime);
    let newest = newest_snapshot(dir.path());
    let len = std::fs::metadata(&newest).unwrap().len() as usize;
    flip_byte(&newest, len / 2);
    let runtime = open(dir.path());
    let report = runtime.open_report();
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].path, newest);
    assert!(report.warnings[0].reason.contains("checksum"), "{report:?}");
    let used = report.snapshot.unwrap();
    assert_ne!(used.1, newest);
    assert_eq!(state(&runtime), before);
}

#[test]
fn a_damaged_only_snapshot_falls_back_to_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 4);
    transfer(&runtime, 1, 0, 1, 7).unwrap();
    runtime.snapshot().unwrap();
    transfer(&runtime, 2, 2, 3, 9).unwrap();
    let before = state(&runtime);
    drop(runtime);
    flip_byte(&newest_snapshot(dir.path()), 10);
    let runtime = open(dir.path());
    let report = runtime.open_report();
    assert_eq!(report.snapshot, None);
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.records_replayed, runtime.log().last_lsn().0);
    assert_eq!(state(&runtime), before);
}

#[test]
fn a_log_without_its_start_and_without_a_snapshot_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 10);
    for i in 0..600 {
        transfer(&runtime, i, i % 10, (i + 1) % 10, 1).unwrap();
    }
    runtime.snapshot().unwrap();
    let last = runtime.log().last_lsn();
    runtime.log().truncate_before(last).unwrap();
    drop(runtime);
    std::fs::remove_file(newest_snapshot(dir.path())).unwrap();
    let error = Runtime::open(config(dir.path())).unwrap_err();
    assert!(matches!(error, Error::SnapshotGap { .. }), "{error}");
}

#[test]
fn a_second_runtime_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _runtime = open(dir.path());
    let error = Runtime::open(config(dir.path())).unwrap_err();
    assert!(
        matches!(error, Error::Log(interstice::Error::Locked { .. })),
        "{error}"
    );
}

#[test]
fn a_snapshot_ahead_of_the_log_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 4);
    let kept = runtime.log().last_lsn();
    let expected = state(&runtime);
    transfer(&runtime, 1, 0, 1, 7).unwrap();
    runtime.snapshot().unwrap();
    // The log loses its last record (as a repair might): the snapshot now claims more.
    runtime.log().truncate_after(kept).unwrap();
    drop(runtime);
    let runtime = open(dir.path());
    let report = runtime.open_report();
    assert_eq!(report.snapshot, None);
    assert_eq!(report.warnings.len(), 1);
    assert!(report.warnings[0].reason.contains("ahead of the log"));
    assert_eq!(state(&runtime), expected);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let stale = |n: &String| Path::new(n).extension().is_some_and(|e| e == "stale");
    assert!(names.iter().all(stale), "{names:?}");
    // New transactions reuse the LSN; the stale snapshot is never loaded again.
    transfer(&runtime, 2, 2, 3, 1).unwrap();
    let expected = state(&runtime);
    drop(runtime);
    assert_eq!(state(&open(dir.path())), expected);
}

#[test]
fn a_record_the_runtime_did_not_write_is_a_decode_error_naming_its_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    seed(&runtime, 2);
    let lsn = runtime.log().append(b"\xffnot a runtime record").unwrap();
    drop(runtime);
    let error = Runtime::open(config(dir.path())).unwrap_err();
    assert!(
        matches!(error, Error::Decode { lsn: at, .. } if at == lsn),
        "{error}"
    );
}

#[test]
fn integers_of_every_width_fill_integer_columns_and_keys_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    runtime
        .transact(|tx| {
            // An unsuffixed literal is an i32: it fills the u64 key column.
            tx.insert_row("accounts", account(1, "ada", 5).with("id", 1))?;
            tx.insert_row(
                "accounts",
                account(2, "bob", 5).with("id", 2u8).with("balance", -3i16),
            )?;
            tx.insert_row(
                "accounts",
                account(3, "cy", 5).with("id", 3usize).with("balance", 7u32),
            )
        })
        .unwrap();
    let row = runtime.get_row("accounts", 2).unwrap().unwrap();
    assert_eq!(row.get("id"), Some(&Value::U64(2)));
    assert_eq!(row.get("balance"), Some(&Value::I64(-3)));
    assert_eq!(
        runtime
            .get_row("accounts", 3u16)
            .unwrap()
            .unwrap()
            .get("balance"),
        Some(&Value::I64(7))
    );
    // A key that cannot be a u64 is an error naming the column, not "no such row".
    for key in [Value::from("1"), Value::from(-1i64), Value::from(1.5f32)] {
        match runtime.get_row("accounts", key) {
            Err(Error::TypeMismatch { column, .. }) => assert_eq!(column, "id"),
            other => panic!("expected a type error, got {other:?}"),
        }
    }
    let negative =
        runtime.transact(|tx| tx.insert_row("accounts", account(4, "dee", 0).with("id", -4)));
    assert!(
        matches!(negative, Err(Error::TypeMismatch { .. })),
        "{negative:?}"
    );
    runtime.close().unwrap();
}

#[test]
fn a_config_is_cloned_to_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path()).migrations(interstice::runtime::Migrations::new());
    let runtime = Runtime::open(config.clone()).unwrap();
    seed(&runtime, 3);
    runtime.close().unwrap();
    let runtime = Runtime::open(config).unwrap();
    assert_eq!(runtime.len("accounts").unwrap(), 3);
    runtime.close().unwrap();
}

/// A change's table index used to be read as a count of the bytes after it: a transaction
/// whose last change was a short one to its fourth table or later could not be replayed.
#[test]
fn a_transaction_over_many_tables_ending_with_a_short_change_replays() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        (0..6).fold(RuntimeConfig::new(dir.path()), |config, i| {
            config.schema(Schema::new(format!("t{i}"), 1).column("k", ColumnType::U64))
        })
    };
    let runtime = Runtime::open(config()).unwrap();
    runtime
        .transact(|tx| {
            for i in 0..6 {
                tx.insert_row(&format!("t{i}"), Row::new().with("k", 5u64))?;
            }
            Ok(())
        })
        .unwrap();
    runtime
        .transact(|tx| {
            for i in 0..6 {
                tx.insert_row(&format!("t{i}"), Row::new().with("k", 6u64))?;
            }
            tx.delete_row("t5", 5u64).map(drop)
        })
        .unwrap();
    runtime.close().unwrap();
    let runtime = Runtime::open(config()).unwrap();
    assert_eq!(runtime.len("t5").unwrap(), 1);
    assert_eq!(runtime.len("t0").unwrap(), 2);
}
