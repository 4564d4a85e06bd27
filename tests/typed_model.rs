//! A property test of typed transactions against a model: random inserts, updates and
//! deletes on a table with a unique column, in several transactions, each change accepted or
//! refused exactly as the model says (key taken, key missing, value held by another row),
//! then the committed state checked, and checked again after a reopen replays it.

use std::collections::BTreeMap;

use interstice::runtime::{Error, Runtime, RuntimeConfig, Table};
use proptest::prelude::*;

#[derive(Table, Clone, Debug, PartialEq)]
#[table(name = "people")]
struct Person {
    #[primary_key]
    id: u64,
    #[unique]
    email: Option<String>,
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u64, Option<u8>),
    Update(u64, Option<u8>),
    Delete(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u64..6;
    let email = prop::option::weighted(0.8, 0u8..4);
    prop_oneof![
        (id.clone(), email.clone()).prop_map(|(i, e)| Op::Insert(i, e)),
        (id.clone(), email).prop_map(|(i, e)| Op::Update(i, e)),
        id.prop_map(Op::Delete),
    ]
}

fn email(e: Option<u8>) -> Option<String> {
    e.map(|e| format!("{e}@x"))
}

/// What the model says of `op` on `rows`: applied (and how), or which refusal.
fn model(rows: &mut BTreeMap<u64, Option<String>>, op: &Op) -> Result<(), &'static str> {
    let taken = |rows: &BTreeMap<u64, Option<String>>, id: u64, e: &Option<String>| {
        e.is_some() && rows.iter().any(|(other, held)| *other != id && held == e)
    };
    match op {
        Op::Insert(id, e) => {
            let e = email(*e);
            if rows.contains_key(id) {
                return Err("duplicate");
            }
            if taken(rows, *id, &e) {
                return Err("unique");
            }
            rows.insert(*id, e);
        }
        Op::Update(id, e) => {
            let e = email(*e);
            if !rows.contains_key(id) {
                return Err("missing");
            }
            if taken(rows, *id, &e) {
                return Err("unique");
            }
            rows.insert(*id, e);
        }
        Op::Delete(id) => {
            if rows.remove(id).is_none() {
                return Err("missing");
            }
        }
    }
    Ok(())
}

fn kind(error: &Error) -> &'static str {
    match error {
        Error::DuplicateKey { .. } => "duplicate",
        Error::NotFound { .. } => "missing",
        Error::UniqueViolation { .. } => "unique",
        other => panic!("unexpected error {other}"),
    }
}

fn state(runtime: &Runtime) -> BTreeMap<u64, Option<String>> {
    runtime
        .scan::<Person>()
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.email))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn typed_changes_follow_the_model(
        transactions in prop::collection::vec(prop::collection::vec(op(), 1..24), 1..6)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = || RuntimeConfig::new(dir.path()).table::<Person>();
        let runtime = Runtime::open(config()).unwrap();
        let mut committed = BTreeMap::new();
        for ops in &transactions {
            let mut rows = committed.clone();
            runtime
                .transact(|tx| {
                    for op in ops {
                        let expected = model(&mut rows, op);
                        let got = match op {
                            Op::Insert(id, e) => {
                                tx.insert(Person { id: *id, email: email(*e) }).map(drop)
                            }
                            Op::Update(id, e) => tx.update(Person { id: *id, email: email(*e) }),
                            Op::Delete(id) => tx.delete::<Person>(id).map(drop),
                        };
                        let got = got.as_ref().map_err(kind);
                        assert_eq!(got, expected.as_ref().map_err(|e| *e), "{op:?}");
                    }
                    let seen: BTreeMap<u64, Option<String>> = tx
                        .scan::<Person>()?
                        .into_iter()
                        .map(|p| (p.id, p.email))
                        .collect();
                    assert_eq!(seen, rows, "the transaction's own view");
                    Ok(())
                })
                .unwrap();
            committed = rows;
            prop_assert_eq!(state(&runtime), committed.clone());
        }
        runtime.close().unwrap();
        let runtime = Runtime::open(config()).unwrap();
        prop_assert_eq!(state(&runtime), committed);
    }
}
