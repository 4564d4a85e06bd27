//! `interstice dump --runtime` and `inspect --runtime` on a runtime's log: reducer calls,
//! changes with the rows before and after, schemas and migrations, as text and JSON; and the
//! errors for a log that is not a runtime's, or a damaged record.

mod common;

use std::path::Path;

use common::{json, run_text, s};
use interstice::runtime::{Caller, Error, ReducerContext, Runtime, RuntimeConfig, Table, reducer};

#[derive(Table, Clone, Debug)]
#[table(name = "accounts")]
struct Account {
    #[primary_key]
    id: u64,
    owner: String,
    balance: i64,
    tag: Option<Vec<u8>>,
}

#[reducer]
fn transfer(ctx: &mut ReducerContext, from: u64, to: u64, amount: i64) -> Result<(), Error> {
    let mut a = ctx.get::<Account>(&from)?.expect("source");
    let mut b = ctx.get::<Account>(&to)?.expect("target");
    a.balance -= amount;
    b.balance += amount;
    ctx.update(a)?;
    ctx.update(b)
}

/// A runtime with two accounts, a transfer by caller 7, and a deletion: LSNs 1 to 4.
fn ledger(dir: &Path) {
    let runtime = Runtime::open(RuntimeConfig::new(dir).table::<Account>()).unwrap();
    runtime
        .transact(|tx| {
            let tag = Some(vec![0xab, 0x01]);
            tx.insert(Account {
                id: 1,
                owner: "ann".into(),
                balance: 100,
                tag,
            })?;
            tx.insert(Account {
                id: 2,
                owner: "bob".into(),
                balance: 50,
                tag: None,
            })
        })
        .unwrap();
    runtime.call_as(Caller(7), transfer, (1, 2, 10)).unwrap();
    runtime.transact(|tx| tx.delete::<Account>(&2)).unwrap();
    runtime.close().unwrap();
}

#[test]
fn dump_runtime_prints_each_record_decoded() {
    let dir = tempfile::tempdir().unwrap();
    ledger(dir.path());
    let (code, out, err) = run_text(&["dump", s(dir.path()), "--runtime"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "LSN 1 schema accounts version 1: id u64 (key), owner str, balance i64, tag bytes?",
            "LSN 2 transaction: insert accounts 1 (id 1, owner \"ann\", balance 100, tag 2 bytes), \
             insert accounts 2 (id 2, owner \"bob\", balance 50, tag null)",
            "LSN 3 transfer(1, 2, 10) by caller 7: accounts 1 balance 100 -> 90, \
             accounts 2 balance 50 -> 60",
            "LSN 4 transaction: delete accounts 2",
        ]
    );
    let (code, out, _) = run_text(&["dump", s(dir.path()), "--runtime", "--from", "3"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2);
    assert!(out.starts_with("LSN 3 transfer"), "{out}");
}

#[test]
fn dump_runtime_json_has_calls_and_rows_before_and_after() {
    let dir = tempfile::tempdir().unwrap();
    ledger(dir.path());
    let (code, out, err) = run_text(&["dump", s(dir.path()), "--runtime", "--json"]);
    assert_eq!(code, 0, "{err}");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    assert_eq!(records[0]["type"], "schema");
    assert_eq!(records[0]["columns"][3]["nullable"], true);
    assert_eq!(records[1]["changes"][0]["after"]["tag"], "ab01");
    let call = &records[2];
    assert_eq!(call["type"], "call");
    assert_eq!(call["reducer"], "transfer");
    assert_eq!(call["args"], serde_json::json!([1, 2, 10]));
    assert_eq!(call["caller"], 7);
    assert_eq!(call["changes"][1]["before"]["balance"], 50);
    assert_eq!(call["changes"][1]["after"]["balance"], 60);
    assert_eq!(records[3]["changes"][0]["op"], "delete");
    assert_eq!(records[3]["changes"][0]["before"]["owner"], "bob");
    assert!(records[3]["changes"][0]["after"].is_null());
}

#[test]
fn inspect_runtime_decodes_one_record() {
    let dir = tempfile::tempdir().unwrap();
    ledger(dir.path());
    let (code, out, err) = run_text(&["inspect", s(dir.path()), "--lsn", "3", "--runtime"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("runtime         LSN 3 transfer(1, 2, 10) by caller 7: accounts 1"),
        "{out}"
    );
    let (code, record) = json(&[
        "inspect",
        s(dir.path()),
        "--lsn",
        "3",
        "--runtime",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(record["runtime"]["reducer"], "transfer");
    let (_, plain) = json(&["inspect", s(dir.path()), "--lsn", "3", "--json"]);
    assert!(plain["runtime"].is_null());
}

#[test]
fn a_log_that_is_not_a_runtimes_is_refused_naming_the_lsn() {
    let dir = tempfile::tempdir().unwrap();
    common::append(dir.path(), &["hello".to_string()], "64k");
    let (code, out, err) = run_text(&["dump", s(dir.path()), "--runtime"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("LSN 1"), "{err}");
    let (code, _, err) = run_text(&["dump", s(dir.path().join("missing").as_path()), "--runtime"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn a_damaged_record_stops_the_output_after_what_decoded() {
    let dir = tempfile::tempdir().unwrap();
    ledger(dir.path());
    // Damage record 3's payload on disk: its checksum no longer matches.
    let (file, _, payload, _) = common::locate(dir.path(), 3);
    common::flip_bit(&file, payload + 2);
    let (code, out, err) = run_text(&["dump", s(dir.path()), "--runtime"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.lines().count(),
        2,
        "records before the damage are printed: {out}"
    );
    assert!(err.contains(&file.display().to_string()), "{err}");
}
