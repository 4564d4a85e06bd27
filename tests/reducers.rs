//! Reducers on real files: typed and by-name calls, the record of a call, rollback on error
//! and panic, replay that never runs a reducer (across snapshots and migrations), the seeded
//! generator reproduced from the record, and a SIGKILL during calls.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use interstice::runtime::history::EntryKind;
use interstice::runtime::{
    CallError, Caller, Error, History, ReducerContext, Rng, Runtime, RuntimeConfig, Table, Value,
    reducer,
};
use interstice::{Durability, Lsn, Options};

/// Reducer runs, in this process.
static RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Table, Clone, Debug, PartialEq)]
#[table(name = "accounts")]
struct Account {
    #[primary_key]
    id: u64,
    balance: i64,
}

#[derive(Table, Clone, Debug, PartialEq)]
#[table(name = "draws")]
struct Draw {
    #[primary_key]
    #[auto_inc]
    id: u64,
    value: u64,
    caller: u64,
    at: u64,
}

#[reducer]
fn open_account(ctx: &mut ReducerContext, id: u64, balance: i64) -> Result<(), Error> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    ctx.insert(Account { id, balance })?;
    Ok(())
}

/// Moves `amount` from one account to another; refuses to overdraw.
#[reducer]
fn transfer(ctx: &mut ReducerContext, from: u64, to: u64, amount: i64) -> Result<(), String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    let mut a = ctx.get::<Account>(&from).map_err(|e| e.to_string())?;
    let mut b = ctx.get::<Account>(&to).map_err(|e| e.to_string())?;
    let (Some(a), Some(b)) = (a.as_mut(), b.as_mut()) else {
        return Err(format!("no account {from} or {to}"));
    };
    if a.balance < amount {
        return Err(format!(
            "account {from} holds {}, less than {amount}",
            a.balance
        ));
    }
    a.balance -= amount;
    b.balance += amount;
    ctx.update(a.clone()).map_err(|e| e.to_string())?;
    ctx.update(b.clone()).map_err(|e| e.to_string())?;
    Ok(())
}

#[reducer]
fn explode(ctx: &mut ReducerContext, id: u64) -> Result<(), String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    ctx.insert(Account { id, balance: 1 }).unwrap();
    panic!("reducer exploded after inserting {id}");
}

/// Draws three random numbers into `draws`.
#[reducer]
fn draw(ctx: &mut ReducerContext) -> Result<(), String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    for _ in 0..3 {
        let row = Draw {
            id: 0,
            value: ctx.rng.next_u64(),
            caller: ctx.caller.0,
            at: ctx.timestamp.0,
        };
        ctx.insert(row).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[reducer]
fn noop(_ctx: &mut ReducerContext) -> Result<(), String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn config(dir: &Path) -> RuntimeConfig {
    RuntimeConfig::new(dir)
        .log(Options {
            segment_size: 64 * 1024,
            ..Options::default()
        })
        .table::<Account>()
        .table::<Draw>()
        .reducer(open_account)
        .reducer(transfer)
        .reducer(explode)
        .reducer(draw)
        .reducer(noop)
}

/// Every test in this file counts `RUNS`: they take turns.
static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

#[test]
fn a_call_is_one_record_holding_the_reducer_its_arguments_caller_and_time() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    runtime.call(open_account, (1, 100)).unwrap();
    runtime.call(open_account, (2, 50)).unwrap();
    let lsn = runtime.call_as(Caller(7), transfer, (1, 2, 10)).unwrap();
    assert_eq!(lsn, runtime.log().last_lsn());
    assert_eq!(runtime.get::<Account>(&1).unwrap().unwrap().balance, 90);
    runtime.close().unwrap();

    let mut entries = Vec::new();
    History::open(dir.path())
        .unwrap()
        .walk(Lsn::FIRST, |entry| {
            entries.push(entry.clone());
            Ok(true)
        })
        .unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.lsn, lsn);
    assert_eq!(
        last.to_string(),
        format!(
            "LSN {lsn} transfer(1, 2, 10) by caller 7: accounts 1 balance 100 -> 90, \
             accounts 2 balance 50 -> 60"
        )
    );
    let EntryKind::Transaction {
        call: Some(call), ..
    } = &last.kind
    else {
        panic!("not a call: {last:?}");
    };
    assert_eq!(call.reducer, "transfer");
    assert_eq!(call.args, [Value::U64(1), Value::U64(2), Value::I64(10)]);
    let now = interstice::runtime::Timestamp::now().0;
    assert!(call.timestamp.0 <= now && call.timestamp.0 > now - 600_000_000);
    let json = last.to_json();
    assert_eq!(json["type"], "call");
    assert_eq!(json["caller"], 7);
    assert_eq!(json["changes"][0]["before"]["balance"], 100);
    assert_eq!(json["changes"][0]["after"]["balance"], 90);
}

#[test]
fn an_error_or_a_panic_rolls_back_and_logs_nothing() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    runtime.call(open_account, (1, 5)).unwrap();
    runtime.call(open_account, (2, 5)).unwrap();
    let last = runtime.log().last_lsn();
    match runtime.call(transfer, (1, 2, 10)) {
        Err(CallError::Failed { reducer, error }) => {
            assert_eq!(reducer, "transfer");
            assert!(error.contains("less than 10"), "{error}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    match runtime.call(explode, (9,)) {
        Err(CallError::Panicked { reducer, message }) => {
            assert_eq!(reducer, "explode");
            assert!(message.contains("exploded after inserting 9"), "{message}");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert!(matches!(
        runtime.call(open_account, (1, 0)),
        Err(CallError::Failed {
            error: Error::DuplicateKey { .. },
            ..
        })
    ));
    assert_eq!(runtime.log().last_lsn(), last, "nothing was logged");
    assert_eq!(runtime.get::<Account>(&9).unwrap(), None);
    assert_eq!(runtime.metrics().rolled_back, 3);
    // The runtime goes on.
    runtime.call(transfer, (1, 2, 5)).unwrap();
    // A call that changes nothing is logged all the same.
    let noop_lsn = runtime.call(noop, ()).unwrap();
    assert_eq!(noop_lsn, last.next().next());
}

#[test]
fn calls_by_name_convert_their_arguments_and_refuse_bad_ones() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    let by_name = |name: &str, args: Vec<Value>| runtime.call_by_name(Caller(3), name, args);
    by_name("open_account", vec![Value::I64(1), Value::I64(10)]).unwrap();
    by_name("open_account", vec![2u64.into(), 10i64.into()]).unwrap();
    by_name("transfer", vec![1u64.into(), 2u64.into(), 4i64.into()]).unwrap();
    assert_eq!(runtime.get::<Account>(&2).unwrap().unwrap().balance, 14);
    let last = runtime.log().last_lsn();
    assert!(matches!(
        by_name("nope", vec![]),
        Err(Error::NoSuchReducer { reducer }) if reducer == "nope"
    ));
    assert!(matches!(
        by_name("transfer", vec![1u64.into()]),
        Err(Error::BadArguments { reason, .. }) if reason.contains("from, to, amount")
    ));
    assert!(matches!(
        by_name("transfer", vec!["1".into(), 2u64.into(), 1i64.into()]),
        Err(Error::BadArguments { reason, .. }) if reason.contains("from")
    ));
    assert!(matches!(
        by_name("transfer", vec![1u64.into(), 2u64.into(), 400i64.into()]),
        Err(Error::ReducerFailed { message, .. }) if message.contains("less than 400")
    ));
    assert!(matches!(
        by_name("explode", vec![5u64.into()]),
        Err(Error::ReducerFailed { message, .. }) if message.contains("exploded")
    ));
    assert_eq!(runtime.log().last_lsn(), last);
    let names: Vec<&str> = runtime.reducers().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["draw", "explode", "noop", "open_account", "transfer"]
    );
}

#[test]
fn replay_applies_calls_without_running_a_reducer_through_snapshots_and_migrations() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    for id in 0..10 {
        runtime.call(open_account, (id, 100)).unwrap();
    }
    for i in 0..30u64 {
        runtime.call(transfer, (i % 10, (i + 3) % 10, 7)).unwrap();
    }
    runtime.snapshot().unwrap();
    for i in 0..20u64 {
        runtime
            .call(transfer, ((i * 3) % 10, (i + 1) % 10, 2))
            .unwrap();
    }
    runtime.call(draw, ()).unwrap();
    let expected = runtime.scan::<Account>().unwrap();
    let draws = runtime.scan::<Draw>().unwrap();
    runtime.close().unwrap();

    let runs = RUNS.load(Ordering::SeqCst);
    let runtime = Runtime::open(config(dir.path())).unwrap();
    assert_eq!(runtime.open_report().records_replayed, 21);
    assert_eq!(RUNS.load(Ordering::SeqCst), runs, "replay ran a reducer");
    assert_eq!(runtime.scan::<Account>().unwrap(), expected);
    assert_eq!(runtime.scan::<Draw>().unwrap(), draws);
    runtime.close().unwrap();

    // A new version of `accounts` that adds a column with a default: migrated at open.
    let v2 = Account::schema()
        .at_version(2)
        .column("frozen", interstice::runtime::ColumnType::Bool)
        .default_value("frozen", false);
    let runtime = Runtime::open(
        RuntimeConfig::new(dir.path())
            .log(Options {
                segment_size: 64 * 1024,
                ..Options::default()
            })
            .schema(v2)
            .table::<Draw>(),
    )
    .unwrap();
    assert_eq!(runtime.open_report().migrations.len(), 1);
    assert_eq!(RUNS.load(Ordering::SeqCst), runs, "replay ran a reducer");
    let total: i64 = runtime
        .scan_rows("accounts")
        .unwrap()
        .iter()
        .map(|row| row.get("balance").and_then(Value::as_i64).unwrap())
        .sum();
    assert_eq!(total, 1000);
}

#[test]
fn a_calls_random_numbers_are_reproduced_from_its_record() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    let first = runtime.call_as(Caller(42), draw, ()).unwrap();
    runtime.call_as(Caller(42), draw, ()).unwrap();
    let draws = runtime.scan::<Draw>().unwrap();
    assert_eq!(draws.len(), 6);
    assert_ne!(draws[0].value, draws[3].value, "each call has its own seed");
    runtime.close().unwrap();
    let history = History::open(dir.path()).unwrap();
    let mut seeds = Vec::new();
    history
        .walk(first, |entry| {
            if let EntryKind::Transaction {
                call: Some(call), ..
            } = &entry.kind
            {
                assert_eq!(call.caller, Caller(42));
                seeds.push((call.seed, call.timestamp.0));
            }
            Ok(true)
        })
        .unwrap();
    assert_eq!(seeds.len(), 2);
    for (call, (seed, at)) in seeds.into_iter().enumerate() {
        let mut rng = Rng::new(seed);
        for i in 0..3 {
            let row = &draws[call * 3 + i];
            assert_eq!(row.value, rng.next_u64());
            assert_eq!(row.at, at);
            assert_eq!(row.caller, 42);
        }
    }
}

const DIR_VAR: &str = "INTERSTICE_REDUCER_CRASH_DIR";

fn crash_config(dir: &Path) -> RuntimeConfig {
    config(dir).log(Options {
        segment_size: 32 * 1024,
        durability: Durability::EveryAppend,
        ..Options::default()
    })
}

/// The child: calls `transfer` until killed, printing each call once it has returned.
#[test]
fn child_caller() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return; // Run as a plain test: nothing to do.
    };
    let runtime = Runtime::open(crash_config(Path::new(&dir))).unwrap();
    if runtime.len("accounts").unwrap() == 0 {
        for id in 0..5 {
            runtime.call(open_account, (id, 1_000_000)).unwrap();
        }
    }
    for i in 0u64.. {
        let lsn = runtime.call(transfer, (i % 5, (i + 2) % 5, 1)).unwrap();
        println!("ack {lsn}");
        if i % 50 == 49 {
            runtime.snapshot_and_compact().unwrap();
        }
    }
}

#[test]
fn a_killed_caller_loses_no_acknowledged_call_and_leaves_none_half_done() {
    let _turn = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..4 {
        let mut acked = Lsn::ZERO;
        let acks = 40 + 60 * round;
        common::kill_child_after("child_caller", DIR_VAR, dir.path(), acks, |line| {
            common::acked_lsn(line).map(|lsn| acked = lsn).is_some()
        });
        let runs = RUNS.load(Ordering::SeqCst);
        let runtime = Runtime::open(crash_config(dir.path())).unwrap();
        assert_eq!(RUNS.load(Ordering::SeqCst), runs, "replay ran a reducer");
        assert!(
            runtime.log().last_lsn() >= acked,
            "an acknowledged call was lost"
        );
        // Every call moved one unit: the total holds, so none is there in half.
        let accounts = runtime.scan::<Account>().unwrap();
        assert_eq!(accounts.len(), 5);
        assert_eq!(accounts.iter().map(|a| a.balance).sum::<i64>(), 5_000_000);
        runtime.close().unwrap();
    }
}
