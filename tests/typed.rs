//! The typed SDK end to end on real files: every supported field type through the log and a
//! snapshot, `auto_inc` keys, unique columns, typed lookups, typed subscriptions, and the
//! typed layer against the dynamic one on the same table.

use std::path::Path;
use std::sync::Arc;

use interstice::runtime::{
    ChangeKind, Error, Field, Row, Runtime, RuntimeConfig, Table, TypedChange, Value,
};
use interstice::{Lsn, Options};
use parking_lot::Mutex;

#[derive(Field, Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    Free,
    Pro,
}

/// Every field type the derive supports.
#[derive(Table, Clone, Debug, PartialEq)]
#[table(name = "every", version = 1)]
struct Every {
    #[primary_key]
    id: u64,
    a: u8,
    b: u16,
    c: u32,
    d: usize,
    e: i8,
    f: i16,
    g: i32,
    h: i64,
    i: isize,
    j: bool,
    k: f32,
    l: f64,
    m: String,
    n: Vec<u8>,
    o: Option<u64>,
    p: Option<String>,
    q: Tier,
    r: Option<Tier>,
}

fn every(id: u64) -> Every {
    let small = (id % 100) as u8;
    Every {
        id,
        a: u8::MAX - small,
        b: u16::MAX,
        c: u32::MAX,
        d: usize::MAX,
        e: i8::MIN,
        f: i16::MIN,
        g: i32::MIN,
        h: i64::MIN,
        i: isize::MIN,
        j: id.is_multiple_of(2),
        k: 1.5 + f32::from(small),
        l: -0.1 * id as f64,
        m: format!("row {id} \u{e9}"),
        n: vec![0, 255, small],
        o: id.is_multiple_of(3).then_some(id),
        p: (id % 2 == 1).then(|| "odd".to_string()),
        q: if id.is_multiple_of(2) {
            Tier::Free
        } else {
            Tier::Pro
        },
        r: id.is_multiple_of(4).then_some(Tier::Pro),
    }
}

#[derive(Table, Clone, Debug, PartialEq)]
#[table(name = "accounts")]
struct Account {
    #[primary_key]
    #[auto_inc]
    id: u64,
    #[unique]
    owner: String,
    #[index]
    team: u32,
    balance: i64,
}

fn account(owner: &str, team: u32, balance: i64) -> Account {
    Account {
        id: 0,
        owner: owner.into(),
        team,
        balance,
    }
}

fn config(dir: &Path) -> RuntimeConfig {
    RuntimeConfig::new(dir)
        .log(Options {
            segment_size: 64 * 1024,
            ..Options::default()
        })
        .table::<Every>()
        .table::<Account>()
}

#[test]
fn every_field_type_round_trips_through_the_log_and_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Every> = (0..40).map(every).collect();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    for chunk in rows.chunks(7) {
        runtime
            .transact(|tx| {
                for row in chunk {
                    tx.insert(row.clone())?;
                }
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(runtime.scan::<Every>().unwrap(), rows);
    runtime.close().unwrap();
    // Through the log.
    let runtime = Runtime::open(config(dir.path())).unwrap();
    assert_eq!(runtime.open_report().records_replayed, 6 + 2);
    assert_eq!(runtime.scan::<Every>().unwrap(), rows);
    assert_eq!(runtime.get::<Every>(&7).unwrap(), Some(every(7)));
    runtime.snapshot_and_compact().unwrap();
    runtime.close().unwrap();
    // Through the snapshot.
    let runtime = Runtime::open(config(dir.path())).unwrap();
    assert!(runtime.open_report().snapshot.is_some());
    assert_eq!(runtime.open_report().records_replayed, 0);
    assert_eq!(runtime.scan::<Every>().unwrap(), rows);
    // The dynamic view of the same rows.
    let row = runtime.get_row("every", 3u64).unwrap().unwrap();
    assert_eq!(row.get("q"), Some(&Value::from("Pro")));
    assert_eq!(row.get("r"), Some(&Value::Null));
    assert_eq!(row.get("e"), Some(&Value::I64(-128)));
}

#[test]
fn auto_inc_keys_are_assigned_in_the_transaction_and_never_reused_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    let ids = runtime
        .transact(|tx| {
            let a = tx.insert(account("ann", 1, 10))?;
            let b = tx.insert(account("bob", 1, 20))?;
            // Seen by the transaction at once.
            assert_eq!(tx.get::<Account>(&b)?.unwrap().owner, "bob");
            Ok((a, b))
        })
        .unwrap();
    assert_eq!(ids.value, (1, 2));
    assert!(ids.lsn.is_some());
    // An explicit key moves the counter past it.
    let explicit = Account {
        id: 10,
        ..account("cy", 2, 0)
    };
    runtime.transact(|tx| tx.insert(explicit)).unwrap();
    let next = runtime
        .transact(|tx| tx.insert(account("di", 2, 0)))
        .unwrap();
    assert_eq!(next.value, 11);
    runtime.transact(|tx| tx.delete::<Account>(&11)).unwrap();
    let after_delete = runtime
        .transact(|tx| tx.insert(account("ed", 2, 0)))
        .unwrap();
    assert_eq!(after_delete.value, 12, "a deleted key is not given again");
    // The dynamic API assigns one when the key is left out.
    runtime
        .transact(|tx| {
            let row = Row::new()
                .with("owner", "fay")
                .with("team", 3u32)
                .with("balance", 0);
            tx.insert_row("accounts", row)
        })
        .unwrap();
    assert!(
        runtime
            .find(Account::OWNER, &"fay".to_string())
            .unwrap()
            .is_some_and(|a| a.id == 13)
    );
    runtime.close().unwrap();
    // After a replay the counter starts past the largest key the log inserted.
    let runtime = Runtime::open(config(dir.path())).unwrap();
    let reopened = runtime
        .transact(|tx| tx.insert(account("gus", 1, 0)))
        .unwrap();
    assert_eq!(reopened.value, 14);
}

#[test]
fn unique_columns_refuse_a_second_holder_and_the_transaction_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    runtime
        .transact(|tx| tx.insert(account("ann", 1, 10)))
        .unwrap();
    let last = runtime.log().last_lsn();
    let refused = runtime.transact(|tx| {
        tx.insert(account("bob", 1, 1))?;
        tx.insert(account("ann", 2, 5))
    });
    assert!(
        matches!(&refused, Err(Error::UniqueViolation { table, column, .. })
            if table == "accounts" && column == "owner"),
        "{refused:?}"
    );
    assert_eq!(runtime.log().last_lsn(), last);
    assert_eq!(runtime.len("accounts").unwrap(), 1);
    // An update that takes another row's value is refused; keeping its own is not.
    runtime
        .transact(|tx| tx.insert(account("bob", 1, 1)))
        .unwrap();
    let mut bob = runtime
        .find(Account::OWNER, &"bob".to_string())
        .unwrap()
        .unwrap();
    bob.balance = 7;
    runtime.transact(|tx| tx.update(bob.clone())).unwrap();
    bob.owner = "ann".into();
    assert!(matches!(
        runtime.transact(|tx| tx.update(bob.clone())),
        Err(Error::UniqueViolation { .. })
    ));
    // A value freed in the same transaction may be taken.
    runtime
        .transact(|tx| {
            tx.delete::<Account>(&1)?;
            tx.update(bob.clone())
        })
        .unwrap();
    assert_eq!(
        runtime
            .find(Account::OWNER, &"ann".to_string())
            .unwrap()
            .unwrap()
            .id,
        2
    );
}

#[test]
fn typed_lookups_see_the_transactions_own_changes() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    runtime
        .transact(|tx| {
            for (i, owner) in ["a", "b", "c", "d"].iter().enumerate() {
                tx.insert(account(owner, (i % 2) as u32, 100))?;
            }
            Ok(())
        })
        .unwrap();
    runtime
        .transact(|tx| {
            assert_eq!(tx.filter(Account::TEAM, &0)?.len(), 2);
            tx.insert(account("e", 0, 1))?;
            let mut b = tx.find(Account::OWNER, &"b".to_string())?.unwrap();
            b.team = 0;
            tx.update(b)?;
            tx.delete::<Account>(&1)?;
            let team0: Vec<String> = tx
                .filter(Account::TEAM, &0)?
                .into_iter()
                .map(|a| a.owner)
                .collect();
            assert_eq!(team0, ["b", "c", "e"]);
            assert_eq!(tx.scan::<Account>()?.len(), 4);
            Ok(())
        })
        .unwrap();
    assert_eq!(runtime.filter(Account::TEAM, &0).unwrap().len(), 3);
    assert_eq!(runtime.filter(Account::BALANCE, &100).unwrap().len(), 3);
    // Misuse is an error, not a wrong answer.
    assert!(matches!(
        runtime.get_row("accounts", "1"),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        runtime.transact(|tx| tx.delete::<Account>(&99)),
        Err(Error::NotFound { .. })
    ));
}

/// What a typed subscriber saw: each change with its commit's LSN.
type Seen = Vec<(Lsn, TypedChange<Account>)>;

#[test]
fn typed_subscribers_get_old_and_new_rows_and_may_commit() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s = Arc::clone(&seen);
    let config = config(dir.path()).on::<Account>(move |runtime, lsn, changes| {
        for change in changes {
            s.lock().push((lsn, change.clone()));
            // A subscriber commits through the runtime it is handed.
            if change.kind == ChangeKind::Insert
                && change.new.as_ref().is_some_and(|a| a.balance < 0)
            {
                let mut fixed = change.new.clone().unwrap();
                fixed.balance = 0;
                runtime.transact(|tx| tx.update(fixed)).unwrap();
            }
        }
    });
    let runtime = Runtime::open(config).unwrap();
    runtime
        .transact(|tx| tx.insert(account("ann", 1, 10)))
        .unwrap();
    runtime
        .transact(|tx| {
            let mut ann = tx.get::<Account>(&1)?.unwrap();
            ann.balance = 20;
            tx.update(ann.clone())?;
            ann.balance = 30;
            tx.update(ann)
        })
        .unwrap();
    runtime
        .transact(|tx| tx.insert(account("neg", 1, -5)))
        .unwrap();
    runtime.transact(|tx| tx.delete::<Account>(&1)).unwrap();
    let seen = seen.lock().clone();
    let summary: Vec<(ChangeKind, Option<i64>, Option<i64>)> = seen
        .iter()
        .map(|(_, c)| {
            (
                c.kind,
                c.old.as_ref().map(|a| a.balance),
                c.new.as_ref().map(|a| a.balance),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (ChangeKind::Insert, None, Some(10)),
            (ChangeKind::Update, Some(10), Some(20)),
            (ChangeKind::Update, Some(20), Some(30)),
            (ChangeKind::Insert, None, Some(-5)),
            (ChangeKind::Update, Some(-5), Some(0)),
            (ChangeKind::Delete, Some(30), None),
        ]
    );
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "in LSN order");
    assert_eq!(runtime.get::<Account>(&2).unwrap().unwrap().balance, 0);
    // Replay delivers nothing.
    runtime.close().unwrap();
    let count = Arc::new(Mutex::new(0));
    let c = Arc::clone(&count);
    let runtime = Runtime::open(
        self::config(dir.path()).on::<Account>(move |_, _, changes| *c.lock() += changes.len()),
    )
    .unwrap();
    assert_eq!(*count.lock(), 0);
    assert_eq!(runtime.len("accounts").unwrap(), 1);
}

#[test]
fn a_typed_subscriber_of_a_table_declared_otherwise_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = interstice::runtime::Schema::new("accounts", 1)
        .column("id", interstice::runtime::ColumnType::U64);
    let config = RuntimeConfig::new(dir.path())
        .schema(other)
        .on::<Account>(|_, _, _| {});
    assert!(matches!(
        Runtime::open(config),
        Err(Error::InvalidSchema { .. })
    ));
    let runtime = Runtime::open(RuntimeConfig::new(dir.path())).unwrap();
    assert!(matches!(
        runtime.on::<Account>(|_, _, _| {}),
        Err(Error::NoSuchTable { .. })
    ));
}

#[test]
fn typed_access_to_a_table_of_another_shape_is_a_conversion_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = interstice::runtime::Schema::new("accounts", 1)
        .column("id", interstice::runtime::ColumnType::U64)
        .column("owner", interstice::runtime::ColumnType::Str);
    let runtime = Runtime::open(RuntimeConfig::new(dir.path()).schema(other)).unwrap();
    runtime
        .transact(|tx| tx.insert_row("accounts", Row::new().with("id", 1).with("owner", "x")))
        .unwrap();
    assert!(matches!(
        runtime.transact(|tx| tx.insert(account("ann", 1, 1))),
        Err(Error::Conversion { .. })
    ));
    assert!(matches!(
        runtime.get::<Account>(&1),
        Err(Error::Conversion { table, .. }) if table == "accounts"
    ));
    assert_eq!(
        Account::schema().columns().len(),
        4,
        "the derive's schema has every field"
    );
}

#[derive(Table, Clone, Debug, PartialEq)]
#[table(name = "tiny")]
struct Tiny {
    #[primary_key]
    #[auto_inc]
    id: u8,
    v: u8,
}

/// The same column types as `Tiny`, other names: typed access refuses it.
#[derive(Table, Clone, Debug, PartialEq)]
#[table(name = "tiny")]
struct Swapped {
    #[primary_key]
    id: u8,
    w: u8,
}

#[test]
fn a_failed_typed_change_stages_nothing_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(RuntimeConfig::new(dir.path()).table::<Tiny>()).unwrap();
    runtime
        .transact(|tx| tx.insert(Tiny { id: 255, v: 1 }))
        .unwrap();
    runtime
        .transact(|tx| {
            // Key 256 does not fit a u8: the insert fails, and stages nothing.
            let failed = tx.insert(Tiny { id: 0, v: 2 });
            assert!(
                matches!(failed, Err(Error::Conversion { .. })),
                "{failed:?}"
            );
            Ok(())
        })
        .unwrap();
    assert_eq!(runtime.scan::<Tiny>().unwrap(), [Tiny { id: 255, v: 1 }]);
    // A row the type cannot hold: deleting it through the type fails and deletes nothing.
    runtime
        .transact(|tx| tx.insert_row("tiny", Row::new().with("id", 7).with("v", 300)))
        .unwrap();
    runtime
        .transact(|tx| {
            assert!(tx.delete::<Tiny>(&7).is_err());
            Ok(())
        })
        .unwrap();
    assert_eq!(runtime.len("tiny").unwrap(), 2);
    assert!(matches!(
        runtime.get::<Swapped>(&255),
        Err(Error::Conversion { reason, .. }) if reason.contains("(id, v)")
    ));
}

#[test]
fn unique_values_move_between_rows_within_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(config(dir.path())).unwrap();
    runtime
        .transact(|tx| {
            for owner in ["a", "b", "c"] {
                tx.insert(account(owner, 1, 0))?;
            }
            Ok(())
        })
        .unwrap();
    let owners = |runtime: &Runtime| -> Vec<String> {
        runtime
            .scan::<Account>()
            .unwrap()
            .into_iter()
            .map(|a| a.owner)
            .collect()
    };
    runtime
        .transact(|tx| {
            // Each value freed by one row is taken by the next, in one transaction.
            for (id, owner) in [(1, "x"), (2, "a"), (3, "b")] {
                let mut row = tx.get::<Account>(&id)?.unwrap();
                row.owner = owner.into();
                tx.update(row)?;
            }
            tx.insert(account("c", 1, 0))?;
            let again = tx.insert(account("x", 1, 0));
            assert!(
                matches!(again, Err(Error::UniqueViolation { .. })),
                "{again:?}"
            );
            tx.delete::<Account>(&4)?;
            tx.insert(account("c", 2, 0)).map(drop)
        })
        .unwrap();
    assert_eq!(owners(&runtime), ["x", "a", "b", "c"]);
    // Many rows in one transaction: each check is a lookup (a check that walked the
    // transaction's earlier rows made this 200 million steps).
    let big = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(RuntimeConfig::new(big.path()).table::<Account>()).unwrap();
    runtime
        .transact(|tx| {
            for i in 0..20_000 {
                tx.insert(account(&format!("bulk {i}"), 3, 0))?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(runtime.len("accounts").unwrap(), 20_000);
}
