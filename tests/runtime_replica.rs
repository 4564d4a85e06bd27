//! A runtime opened as a replica of another process's runtime: its tables track the writer's
//! durable commits, its subscribers fire once per commit after the catch-up, and
//! `is_replaying()` is true during the catch-up only.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use interstice::runtime::{ColumnType, Row, Runtime, RuntimeConfig, Schema, Value};
use interstice::{Durability, Lsn, Options};

const DIR_VAR: &str = "INTERSTICE_REPLICA_DIR";
const ACCOUNTS: u64 = 20;

fn schema() -> Schema {
    Schema::new("accounts", 1)
        .column("id", ColumnType::U64)
        .column("balance", ColumnType::I64)
}

fn writer_config(dir: &std::path::Path) -> RuntimeConfig {
    RuntimeConfig::new(dir).schema(schema()).log(Options {
        segment_size: 64 << 10,
        durability: Durability::EveryAppend,
        ..Options::default()
    })
}

/// Opens accounts (once), then moves money between them; prints `LSN <lsn>` after each.
fn transfers(runtime: &Runtime, count: u64, out: &mut impl Write) {
    if runtime.len("accounts").unwrap() == 0 {
        runtime
            .transact(|tx| {
                for id in 0..ACCOUNTS {
                    tx.insert_row(
                        "accounts",
                        Row::new().with("id", id).with("balance", 1_000i64),
                    )?;
                }
                Ok(())
            })
            .unwrap();
    }
    for i in 0..count {
        let (from, to) = (i * 7 % ACCOUNTS, (i * 13 + 1) % ACCOUNTS);
        runtime
            .transact(|tx| {
                for (id, delta) in [(from, -3i64), (to, 3)] {
                    let row = tx.get_row("accounts", id)?.unwrap();
                    let balance = row.get("balance").and_then(Value::as_i64).unwrap();
                    tx.update_row("accounts", row.with("balance", balance + delta))?;
                }
                Ok(())
            })
            .unwrap();
        writeln!(out, "LSN {}", runtime.log().last_lsn().0).unwrap();
        out.flush().unwrap();
    }
}

fn balances(runtime: &Runtime) -> Vec<i64> {
    (0..ACCOUNTS)
        .map(|id| {
            let row = runtime.get_row("accounts", id).unwrap().unwrap();
            row.get("balance").and_then(Value::as_i64).unwrap()
        })
        .collect()
}

#[test]
#[ignore = "run by the replica test as a child process"]
fn replica_writer_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let runtime = Runtime::open(writer_config(dir.as_ref())).unwrap();
    transfers(&runtime, 3_000, &mut std::io::stdout().lock());
    runtime.close().unwrap();
}

#[test]
fn a_replica_follows_a_runtime_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    // Some history before the replica opens: its catch-up.
    {
        let runtime = Runtime::open(writer_config(dir.path())).unwrap();
        transfers(&runtime, 200, &mut std::io::sink());
        runtime.close().unwrap();
    }
    let replayed = Arc::new(AtomicU64::new(0));
    let fired = Arc::new(AtomicU64::new(0));
    let config = {
        let config = RuntimeConfig::new(dir.path());
        let flag = config.replay_flag();
        let (replayed, fired) = (Arc::clone(&replayed), Arc::clone(&fired));
        let during = flag.clone();
        config
            .on_replay(move |_| {
                assert!(during.is_replaying(), "the catch-up replays");
                replayed.fetch_add(1, Ordering::Relaxed);
            })
            .subscribe("accounts", move |_, changes| {
                assert!(!flag.is_replaying(), "subscribers fire after the catch-up");
                assert_eq!(changes.len(), 2, "one event per transfer, both rows");
                fired.fetch_add(1, Ordering::Relaxed);
            })
    };
    let replica = Runtime::open_replica(config).unwrap();
    let caught_up = replica.applied_lsn();
    assert_eq!(
        replayed.load(Ordering::Relaxed),
        caught_up.0 - 1,
        "every commit but the schema"
    );
    assert!(!replica.is_replaying());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "replica_writer_child",
            "--nocapture",
            "--ignored",
        ])
        .env(DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last = Lsn::ZERO;
    let mut checks = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Some(lsn) = line.unwrap().strip_prefix("LSN ").map(str::to_owned) else {
            continue;
        };
        last = Lsn(lsn.parse().unwrap());
        // Each acknowledged commit reaches the replica; money is never created or lost.
        if last.0.is_multiple_of(500) {
            assert!(replica.wait_for(last, Duration::from_secs(30)));
            let total: i64 = replica.read(|tx| {
                tx.scan_rows("accounts")
                    .unwrap()
                    .iter()
                    .map(|row| row.get("balance").and_then(Value::as_i64).unwrap())
                    .sum()
            });
            assert_eq!(total, ACCOUNTS.cast_signed() * 1_000);
            checks += 1;
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(checks >= 4);
    assert!(replica.wait_for(last, Duration::from_secs(30)));
    assert_eq!(fired.load(Ordering::Relaxed), last.0 - caught_up.0);
    assert!(
        replica.transact(|_| Ok(())).is_ok(),
        "an empty transaction writes nothing"
    );
    let followed = balances(&replica);
    replica.close().unwrap();
    let reopened = Runtime::open(writer_config(dir.path())).unwrap();
    assert_eq!(followed, balances(&reopened));
    reopened.close().unwrap();
}

#[test]
fn a_replica_refuses_writes_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Runtime::open(writer_config(dir.path())).unwrap();
    transfers(&writer, 10, &mut std::io::sink());
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = segment_bytes(dir.path());
    let replica = Runtime::open_replica(RuntimeConfig::new(dir.path())).unwrap();
    let refused = replica.transact(|tx| {
        tx.insert_row(
            "accounts",
            Row::new().with("id", 99u64).with("balance", 1i64),
        )
    });
    assert!(refused.is_err());
    assert_eq!(balances(&replica), balances(&writer));
    replica.close().unwrap();
    assert_eq!(
        before,
        segment_bytes(dir.path()),
        "a replica writes nothing"
    );
    writer.close().unwrap();
}

fn segment_bytes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg" || e == "snap"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_truncation_below_what_a_replica_applied_stops_it_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Runtime::open(writer_config(dir.path())).unwrap();
    transfers(&writer, 20, &mut std::io::sink());
    let replica = Runtime::open_replica(RuntimeConfig::new(dir.path())).unwrap();
    let applied = replica.applied_lsn();
    assert_eq!(
        applied,
        writer.log().last_lsn(),
        "the catch-up applied every commit"
    );
    // The log loses commits the replica applied (as a consensus log may): the replica
    // cannot keep tables that hold them, and says so rather than go on.
    writer.log().truncate_after(Lsn(applied.0 - 5)).unwrap();
    writer.log().append(b"not a transaction either").unwrap();
    writer.log().sync().unwrap();
    // Returns as soon as the following stopped on its error (never: no such LSN comes).
    assert!(!replica.wait_for(Lsn(u64::MAX), Duration::from_secs(10)));
    match replica.close() {
        Err(interstice::runtime::Error::Log(interstice::Error::FollowerTruncated {
            kept,
            position,
            ..
        })) => {
            assert_eq!((kept, position), (Lsn(applied.0 - 5), applied));
        }
        other => panic!("expected the truncation, got {other:?}"),
    }
    writer.close().unwrap();
}
