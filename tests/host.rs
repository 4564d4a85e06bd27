//! The module host (feature `wasm`) on real files: a bank module's reducers logged and
//! replayed with no WASM run, rollbacks that leave no trace (error, trap, fuel, memory),
//! module upgrades in the log, and a SIGKILL during module calls.
#![cfg(feature = "wasm")]

mod common;

use std::path::Path;

use interstice::host::{self, CallFailure, HostError, Limits, Module};
use interstice::runtime::history::EntryKind;
use interstice::runtime::{Caller, History, Migrations, Rng, Runtime, RuntimeConfig, Value};
use interstice::{Durability, Lsn, Options};
use parking_lot::Mutex;

const BANK: &str = include_str!("modules/bank.wat");

/// Tests count the process's WASM runs: they take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn bank() -> Module {
    Module::from_bytes("bank", BANK.as_bytes()).unwrap()
}

fn open(dir: &Path) -> Runtime {
    Runtime::open(RuntimeConfig::new(dir).log(Options {
        segment_size: 64 * 1024,
        durability: Durability::EveryAppend,
        ..Options::default()
    }))
    .unwrap()
}

fn call(
    module: &Module,
    runtime: &Runtime,
    reducer: &str,
    args: Vec<Value>,
) -> Result<Lsn, HostError> {
    module
        .call(runtime, Caller(9), reducer, args, &Limits::default())
        .map(|outcome| outcome.lsn)
}

fn balance(runtime: &Runtime, id: u64) -> Option<i64> {
    let row = runtime.get_row("accounts", id).unwrap()?;
    row.get("balance").and_then(Value::as_i64)
}

fn open_accounts(module: &Module, runtime: &Runtime, n: u64, balance: i64) {
    for id in 0..n {
        call(
            module,
            runtime,
            "open_account",
            vec![id.into(), balance.into()],
        )
        .unwrap();
    }
}

#[test]
fn reducers_run_as_logged_calls_and_replay_runs_no_wasm() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let module = bank();
    let runtime = open(dir.path());
    open_accounts(&module, &runtime, 4, 100);
    let outcome = module
        .call(
            &runtime,
            Caller(7),
            "transfer",
            vec![1u64.into(), 2u64.into(), 30i64.into()],
            &Limits::default(),
        )
        .unwrap();
    assert_eq!(outcome.logs, ["transfer done"]);
    assert!(outcome.fuel_used > 0);
    assert_eq!(
        (balance(&runtime, 1), balance(&runtime, 2)),
        (Some(70), Some(130))
    );
    runtime.snapshot().unwrap();
    call(
        &module,
        &runtime,
        "transfer",
        vec![2u64.into(), 3u64.into(), 5i64.into()],
    )
    .unwrap();
    let expected = runtime.scan_rows("accounts").unwrap();
    runtime.close().unwrap();

    // The record names the module and its hash beside the call.
    let mut calls = Vec::new();
    History::open(dir.path())
        .unwrap()
        .walk(Lsn::FIRST, |entry| {
            if let EntryKind::Transaction {
                call: Some(call), ..
            } = &entry.kind
            {
                calls.push((entry.to_string(), call.clone()));
            }
            Ok(true)
        })
        .unwrap();
    let (text, transfer) = calls.iter().find(|(_, c)| c.caller == Caller(7)).unwrap();
    let module_ref = transfer.module.as_ref().unwrap();
    assert_eq!(module_ref.name, "bank");
    assert_eq!(module_ref.hash, module.module_ref().hash);
    assert!(
        text.contains("transfer(1, 2, 30) by caller 7 in module bank")
            && text.contains("accounts 1 balance 100 -> 70"),
        "{text}"
    );

    // Reopening replays the calls' changes: no instance, no host call.
    let before = host::metrics();
    let runtime = open(dir.path());
    assert_eq!(runtime.scan_rows("accounts").unwrap(), expected);
    runtime.reload().unwrap();
    runtime.snapshot_and_compact().unwrap();
    runtime.close().unwrap();
    let runtime = open(dir.path());
    assert_eq!(runtime.scan_rows("accounts").unwrap(), expected);
    runtime.close().unwrap();
    // A migration of the module's table, at open: still no WASM.
    let v2 = runtime_schema_v2();
    let migrations = Migrations::new().rows("accounts", 1, 2, "add frozen", |row| {
        Ok(row.with("frozen", false))
    });
    let runtime = Runtime::open(
        RuntimeConfig::new(dir.path())
            .schema(v2)
            .migrations(migrations),
    )
    .unwrap();
    assert_eq!(runtime.len("accounts").unwrap(), 4);
    assert_eq!(host::metrics(), before, "replay ran WASM");
}

fn runtime_schema_v2() -> interstice::runtime::Schema {
    use interstice::runtime::{ColumnType, Schema};
    Schema::new("accounts", 2)
        .column("id", ColumnType::U64)
        .column("balance", ColumnType::I64)
        .column("frozen", ColumnType::Bool)
}

#[test]
fn failed_calls_roll_back_name_the_module_and_leave_the_runtime_usable() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let module = bank();
    let runtime = open(dir.path());
    open_accounts(&module, &runtime, 2, 10);
    let last = runtime.log().last_lsn();
    let tight = Limits {
        fuel: 100_000,
        memory_bytes: 1 << 20,
    };
    let failures = [
        ("transfer", vec![0u64.into(), 1u64.into(), 50i64.into()]),
        ("transfer", vec![0u64.into(), 7u64.into(), 1i64.into()]),
        ("crash", vec![5u64.into(), 1i64.into()]),
        ("spin", vec![]),
        ("hog", vec![]),
        ("open_account", vec![0u64.into(), 1i64.into()]),
        ("transfer", vec![0u64.into()]),
        ("nope", vec![]),
    ];
    let mut seen = Vec::new();
    for (reducer, args) in failures {
        match module.call(&runtime, Caller(1), reducer, args, &tight) {
            Err(HostError::Call {
                module,
                reducer: named,
                failure,
            }) => {
                assert_eq!((module.as_str(), named.as_str()), ("bank", reducer));
                seen.push(failure);
            }
            other => panic!("{reducer}: expected a failed call, got {other:?}"),
        }
    }
    assert_eq!(seen[0], CallFailure::Refused("insufficient funds".into()));
    assert_eq!(seen[1], CallFailure::Refused("no such account".into()));
    assert!(
        matches!(&seen[2], CallFailure::Trap(m) if m.contains("unreachable")),
        "{:?}",
        seen[2]
    );
    assert_eq!(seen[3], CallFailure::OutOfFuel(100_000));
    assert_eq!(seen[4], CallFailure::OutOfMemory(1 << 20));
    assert!(
        matches!(&seen[5], CallFailure::Refused(m) if m.contains("already holds key 0")),
        "{:?}",
        seen[5]
    );
    assert!(matches!(&seen[6], CallFailure::BadArguments(m) if m.contains("from, to, amount")));
    assert!(matches!(&seen[7], CallFailure::NoSuchReducer(m) if m.contains("transfer")));
    assert_eq!(
        runtime.log().last_lsn(),
        last,
        "a failed call wrote something"
    );
    assert_eq!(
        balance(&runtime, 5),
        None,
        "the trapped call's insert is not there"
    );
    // The runtime and the module go on.
    call(
        &module,
        &runtime,
        "transfer",
        vec![0u64.into(), 1u64.into(), 4i64.into()],
    )
    .unwrap();
    assert_eq!(
        (balance(&runtime, 0), balance(&runtime, 1)),
        (Some(6), Some(14))
    );
    let error = module
        .call(&runtime, Caller(1), "spin", vec![], &tight)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "module bank, reducer spin: ran out of fuel (100000 units)"
    );
}

#[test]
fn a_modules_messages_are_bounded() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    let outcome = bank()
        .call(&runtime, Caller(1), "chatter", vec![], &Limits::default())
        .unwrap();
    let kept: usize = outcome.logs[..outcome.logs.len() - 1]
        .iter()
        .map(String::len)
        .sum();
    assert_eq!(kept, 65536);
    assert_eq!(
        outcome.logs.last().unwrap(),
        "(65536 more bytes of messages dropped: a call keeps 65536 bytes)"
    );
}

#[test]
fn a_module_whose_memory_starts_over_the_limit_does_not_run() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    let small = Limits {
        fuel: 1_000_000,
        memory_bytes: 32 << 10,
    };
    // The bank's memory starts at one page (64 KiB).
    let failed = bank().call(&runtime, Caller(1), "spin", vec![], &small);
    assert!(
        matches!(
            failed,
            Err(HostError::Call {
                failure: CallFailure::OutOfMemory(32768),
                ..
            })
        ),
        "{failed:?}"
    );
}

#[test]
fn a_calls_random_number_timestamp_and_caller_come_from_its_record() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let module = bank();
    let runtime = open(dir.path());
    let lsn = module
        .call(
            &runtime,
            Caller(42),
            "draw",
            vec![1u64.into()],
            &Limits::default(),
        )
        .unwrap()
        .lsn;
    let row = runtime.get_row("draws", 1u64).unwrap().unwrap();
    runtime.close().unwrap();
    let mut call = None;
    History::open(dir.path())
        .unwrap()
        .walk(lsn, |entry| {
            if let EntryKind::Transaction { call: c, .. } = &entry.kind {
                call.clone_from(c);
            }
            Ok(false)
        })
        .unwrap();
    let call = call.expect("a call");
    assert_eq!(
        row.get("value"),
        Some(&Value::U64(Rng::new(call.seed).next_u64()))
    );
    assert_eq!(row.get("at"), Some(&Value::U64(call.timestamp.0)));
    assert_eq!(row.get("caller"), Some(&Value::U64(42)));
}

#[test]
fn a_new_build_of_a_module_is_a_logged_event() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path());
    let first = bank();
    assert!(first.install(&runtime).unwrap().is_some());
    assert_eq!(
        first.install(&runtime).unwrap(),
        None,
        "the same build: nothing to record"
    );
    let rebuilt = Module::from_bytes(
        "bank",
        BANK.replace("transfer done", "transfer made").as_bytes(),
    )
    .unwrap();
    assert_ne!(rebuilt.module_ref().hash, first.module_ref().hash);
    let upgrade = rebuilt
        .install(&runtime)
        .unwrap()
        .expect("the new build is recorded");
    let row = runtime
        .get_row(host::MODULES_TABLE, "bank")
        .unwrap()
        .unwrap();
    assert_eq!(
        row.get("hash"),
        Some(&Value::Bytes(rebuilt.module_ref().hash.to_vec()))
    );
    runtime.close().unwrap();
    let mut line = String::new();
    History::open(dir.path())
        .unwrap()
        .walk(upgrade, |entry| {
            line = entry.to_string();
            Ok(false)
        })
        .unwrap();
    assert!(line.contains("interstice.modules \"bank\" hash"), "{line}");
}

#[test]
fn a_module_is_shared_between_threads() {
    fn shared<T: Send + Sync>(_: &T) {}
    let _turn = SERIAL.lock();
    let module = std::sync::Arc::new(bank());
    shared(&*module);
    let dir = tempfile::tempdir().unwrap();
    let runtime = std::sync::Arc::new(open(dir.path()));
    open_accounts(&module, &runtime, 4, 1000);
    std::thread::scope(|scope| {
        for t in 0..2u64 {
            let (module, runtime) = (&module, &runtime);
            scope.spawn(move || {
                for i in 0..50u64 {
                    let (from, to) = ((t + i) % 4, (t + i + 1) % 4);
                    call(
                        module,
                        runtime,
                        "transfer",
                        vec![from.into(), to.into(), 1i64.into()],
                    )
                    .unwrap();
                }
            });
        }
    });
    let total: i64 = (0..4).map(|id| balance(&runtime, id).unwrap()).sum();
    assert_eq!(total, 4000);
}

#[test]
fn bad_modules_are_refused_saying_what_is_wrong() {
    for (module, expected) in [
        ("(module)", "no custom section"),
        (
            "(module (memory (export \"memory\") 1) (@custom \"interstice\" \"{}\"))",
            "alloc",
        ),
        ("not wasm at all", "module bad"),
        (
            "(module (import \"env\" \"f\" (func)) (memory (export \"memory\") 1)
              (func (export \"alloc\") (param i32) (result i32) (i32.const 0))
              (@custom \"interstice\" \"{}\"))",
            "import env.f",
        ),
        (
            "(module (memory (export \"memory\") 1)
              (func (export \"alloc\") (param i32) (result i32) (i32.const 0))
              (@custom \"interstice\" \"{\\\"reducers\\\": [{\\\"name\\\": \\\"r\\\"}]}\"))",
            "not exported as \"reducer.r\"",
        ),
    ] {
        let error = Module::from_bytes("bad", module.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{error}");
    }
    let missing = Module::from_file("/nonexistent/bank.wasm")
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent/bank.wasm"), "{missing}");
}

const DIR_VAR: &str = "INTERSTICE_HOST_CRASH_DIR";

/// The child: calls the module's `transfer` until killed, printing each call's LSN once it
/// has returned (durable: `EveryAppend`).
#[test]
fn child_module_caller() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return; // Run as a plain test: nothing to do.
    };
    let module = bank();
    let runtime = open(Path::new(&dir));
    if runtime.table_names().iter().all(|t| t != "accounts")
        || runtime.len("accounts").unwrap() == 0
    {
        open_accounts(&module, &runtime, 5, 1_000_000);
    }
    for i in 0u64.. {
        let lsn = call(
            &module,
            &runtime,
            "transfer",
            vec![(i % 5).into(), ((i + 2) % 5).into(), 1i64.into()],
        )
        .unwrap();
        println!("ack {lsn}");
        if i % 50 == 49 {
            runtime.snapshot_and_compact().unwrap();
        }
    }
}

#[test]
fn a_killed_module_caller_loses_no_acknowledged_call() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut acked = Lsn::ZERO;
        let acks = 30 + 50 * round;
        common::kill_child_after("child_module_caller", DIR_VAR, dir.path(), acks, |line| {
            common::acked_lsn(line).map(|lsn| acked = lsn).is_some()
        });
        let before = host::metrics();
        let runtime = open(dir.path());
        assert_eq!(host::metrics(), before, "replay ran WASM");
        assert!(
            runtime.log().last_lsn() >= acked,
            "an acknowledged call was lost"
        );
        let total: i64 = (0..5).map(|id| balance(&runtime, id).unwrap()).sum();
        assert_eq!(total, 5_000_000, "a call is there in part");
        runtime.close().unwrap();
    }
}

#[test]
fn a_module_adds_to_the_applications_constraints_and_a_reload_keeps_them() {
    use interstice::runtime::{ColumnType, Error, Schema};
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    // The application declares the bank's table itself, with a unique balance (a stand-in
    // for any rule of its own).
    let accounts = Schema::new("accounts", 1)
        .column("id", ColumnType::U64)
        .column("balance", ColumnType::I64)
        .unique("balance");
    let runtime = Runtime::open(RuntimeConfig::new(dir.path()).schema(accounts)).unwrap();
    let module = bank();
    call(
        &module,
        &runtime,
        "open_account",
        vec![1u64.into(), 100i64.into()],
    )
    .unwrap();
    let twice = call(
        &module,
        &runtime,
        "open_account",
        vec![2u64.into(), 100i64.into()],
    );
    assert!(
        matches!(&twice, Err(HostError::Call { failure: CallFailure::Refused(m), .. })
            if m.contains("unique")),
        "{twice:?}"
    );
    runtime.reload().unwrap();
    let after_reload = runtime.transact(|tx| {
        tx.insert_row(
            "accounts",
            interstice::runtime::Row::new()
                .with("id", 3)
                .with("balance", 100),
        )
    });
    assert!(
        matches!(after_reload, Err(Error::UniqueViolation { .. })),
        "{after_reload:?}"
    );
}
