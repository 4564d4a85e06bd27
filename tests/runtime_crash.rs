//! Crash test: a child process (this test binary, re-executed) commits transfers with
//! `Durability::EveryAppend`, printing each one once `transact` has returned, and takes
//! snapshots with compaction as it goes; the parent kills it with SIGKILL at some point,
//! reopens the runtime, and checks that the state is exactly the fold of the acknowledged
//! transfers (plus, at most, the one in flight when the child died).

mod common;

use std::path::Path;

use interstice::runtime::{ColumnType, Row, Runtime, RuntimeConfig, Schema, Value};
use interstice::{Durability, Options};

const DIR_VAR: &str = "INTERSTICE_RUNTIME_CRASH_DIR";
const ACCOUNTS: u64 = 10;
const START_BALANCE: i64 = 1_000_000;

/// The transfer with id `id`: from, to, amount (never more than a balance can hold).
fn transfer_of(id: u64) -> (u64, u64, i64) {
    let from = (id * 7) % ACCOUNTS;
    let mut to = (id * 3 + 1) % ACCOUNTS;
    if to == from {
        to = (to + 1) % ACCOUNTS;
    }
    (from, to, (id % 97).cast_signed() + 1)
}

fn open(dir: &Path) -> Runtime {
    Runtime::open(
        RuntimeConfig::new(dir)
            .log(Options {
                segment_size: 32 * 1024,
                durability: Durability::EveryAppend,
                ..Options::default()
            })
            .schema(
                Schema::new("accounts", 1)
                    .column("id", ColumnType::U64)
                    .column("balance", ColumnType::I64),
            )
            .schema(
                Schema::new("transfers", 1)
                    .column("id", ColumnType::U64)
                    .column("from", ColumnType::U64)
                    .column("to", ColumnType::U64)
                    .column("amount", ColumnType::I64),
            ),
    )
    .unwrap()
}

fn balance(row: &Row) -> i64 {
    row.get("balance").and_then(Value::as_i64).unwrap()
}

fn commit_transfer(runtime: &Runtime, id: u64) {
    let (from, to, amount) = transfer_of(id);
    runtime
        .transact(|tx| {
            let mut a = tx.get_row("accounts", from)?.unwrap();
            let mut b = tx.get_row("accounts", to)?.unwrap();
            a.set("balance", balance(&a) - amount);
            b.set("balance", balance(&b) + amount);
            tx.update_row("accounts", a)?;
            tx.update_row("accounts", b)?;
            let row = Row::new()
                .with("id", id)
                .with("from", from)
                .with("to", to)
                .with("amount", amount);
            tx.insert_row("transfers", row)
        })
        .unwrap();
}

/// The child: commits transfers until killed.
#[test]
fn child_writer() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return; // Run as a plain test: nothing to do.
    };
    let runtime = open(Path::new(&dir));
    if runtime.len("accounts").unwrap() == 0 {
        runtime
            .transact(|tx| {
                for id in 0..ACCOUNTS {
                    tx.insert_row(
                        "accounts",
                        Row::new().with("id", id).with("balance", START_BALANCE),
                    )?;
                }
                Ok(())
            })
            .unwrap();
    }
    let mut id = runtime.len("transfers").unwrap() as u64;
    loop {
        commit_transfer(&runtime, id);
        println!("ack {id}");
        if id % 40 == 39 {
            runtime.snapshot_and_compact().unwrap();
        }
        id += 1;
    }
}

/// Runs the child until it has acknowledged `acks` more transfers, kills it, and returns the
/// highest transfer id it acknowledged.
fn run_child_and_kill(dir: &Path, acks: usize) -> Option<u64> {
    let mut last = None;
    common::kill_child_after("child_writer", DIR_VAR, dir, acks, |line| {
        let id = line.strip_prefix("ack ").map(|id| id.parse().unwrap());
        last = id.or(last);
        id.is_some()
    });
    last
}

/// Checks the reopened state: transfers `0..n`, `n` one past the last acknowledged id or
/// one more (a transfer durable but not yet printed), and balances the fold of them.
fn check_state(dir: &Path, last_acked: u64) -> u64 {
    let runtime = open(dir);
    let n = runtime.len("transfers").unwrap() as u64;
    assert!(
        n == last_acked + 1 || n == last_acked + 2,
        "{n} transfers after acknowledging up to {last_acked}"
    );
    let mut expected = vec![START_BALANCE; ACCOUNTS as usize];
    for (id, row) in runtime.scan_rows("transfers").unwrap().iter().enumerate() {
        let id = id as u64;
        assert_eq!(row.get("id"), Some(&Value::U64(id)));
        let (from, to, amount) = transfer_of(id);
        assert_eq!(row.get("amount"), Some(&Value::I64(amount)));
        expected[from as usize] -= amount;
        expected[to as usize] += amount;
    }
    let balances: Vec<i64> = runtime
        .scan_rows("accounts")
        .unwrap()
        .iter()
        .map(balance)
        .collect();
    assert_eq!(balances, expected);
    n
}

#[test]
fn killed_runtime_reopens_with_every_acknowledged_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut total_acked = 0;
    for round in 0..6 {
        let acks = 25 + 37 * round;
        let last = run_child_and_kill(dir.path(), acks).expect("the child acknowledged");
        total_acked += acks;
        let n = check_state(dir.path(), last);
        assert!(n as usize >= total_acked);
    }
    let snapshots = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .count();
    assert!(snapshots >= 1, "the child took snapshots");
}
