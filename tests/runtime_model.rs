//! The runtime against a model: random transactions (some failing, some panicking), reopens,
//! reloads, snapshots and compactions; after every step the tables equal a `BTreeMap`.

use std::collections::BTreeMap;
use std::path::Path;

use interstice::Options;
use interstice::runtime::{ColumnType, Error, Row, Runtime, RuntimeConfig, Schema, Value};
use proptest::prelude::*;

type Model = BTreeMap<u64, (String, i64)>;

#[derive(Debug, Clone)]
enum Change {
    Insert(u64, String, i64),
    Update(u64, String, i64),
    Delete(u64),
}

#[derive(Debug, Clone)]
enum Step {
    Commit(Vec<Change>),
    Panic(Vec<Change>),
    Reopen,
    Reload,
    Snapshot,
    Compact,
}

fn change() -> impl Strategy<Value = Change> + Clone {
    let key = 0..24u64;
    let text = prop::sample::select(vec!["a", "b", "c", "dd"]).prop_map(str::to_owned);
    prop_oneof![
        3 => (key.clone(), text.clone(), any::<i64>())
            .prop_map(|(k, s, n)| Change::Insert(k, s, n)),
        2 => (key.clone(), text, any::<i64>()).prop_map(|(k, s, n)| Change::Update(k, s, n)),
        1 => key.prop_map(Change::Delete),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let changes = prop::collection::vec(change(), 1..6);
    prop_oneof![
        12 => changes.clone().prop_map(Step::Commit),
        1 => changes.prop_map(Step::Panic),
        2 => Just(Step::Reopen),
        1 => Just(Step::Reload),
        1 => Just(Step::Snapshot),
        2 => Just(Step::Compact),
    ]
}

fn schema() -> Schema {
    Schema::new("kv", 1)
        .column("k", ColumnType::U64)
        .column("s", ColumnType::Str)
        .column("n", ColumnType::I64)
        .index("s")
}

fn open(dir: &Path) -> Runtime {
    Runtime::open(
        RuntimeConfig::new(dir)
            .log(Options {
                segment_size: 16 * 1024,
                ..Options::default()
            })
            .schema(schema()),
    )
    .unwrap()
}

fn row(k: u64, s: &str, n: i64) -> Row {
    Row::new().with("k", k).with("s", s).with("n", n)
}

/// The model's result of a transaction: the new state, or `None` when it fails.
fn apply_model(model: &Model, changes: &[Change]) -> Option<Model> {
    let mut next = model.clone();
    for change in changes {
        match change {
            Change::Insert(k, s, n) => {
                if next.insert(*k, (s.clone(), *n)).is_some() {
                    return None;
                }
            }
            Change::Update(k, s, n) => {
                next.get_mut(k).map(|slot| *slot = (s.clone(), *n))?;
            }
            Change::Delete(k) => {
                next.remove(k)?;
            }
        }
    }
    Some(next)
}

fn run(runtime: &Runtime, changes: &[Change], panic_at_end: bool) -> Result<(), Error> {
    runtime.transact(|tx| {
        for change in changes {
            match change {
                Change::Insert(k, s, n) => tx.insert_row("kv", row(*k, s, *n))?,
                Change::Update(k, s, n) => tx.update_row("kv", row(*k, s, *n))?,
                Change::Delete(k) => drop(tx.delete_row("kv", *k)?),
            }
        }
        assert!(!panic_at_end, "model panic");
        Ok(())
    })?;
    Ok(())
}

fn check(runtime: &Runtime, model: &Model) {
    let rows = runtime.scan_rows("kv").unwrap();
    let expected: Vec<Row> = model.iter().map(|(k, (s, n))| row(*k, s, *n)).collect();
    assert_eq!(rows, expected);
    for text in ["a", "dd"] {
        let keys: Vec<u64> = runtime
            .lookup_rows("kv", "s", text)
            .unwrap()
            .iter()
            .map(|r| r.get("k").and_then(Value::as_u64).unwrap())
            .collect();
        let expected: Vec<u64> = model
            .iter()
            .filter(|(_, (s, _))| s == text)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(keys, expected);
    }
}

fn quiet_model_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"model panic") {
            default(info);
        }
    }));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn runtime_matches_the_model(steps in prop::collection::vec(step(), 1..40)) {
        quiet_model_panics();
        let dir = tempfile::tempdir().unwrap();
        let mut runtime = open(dir.path());
        let mut model = Model::new();
        for step in steps {
            match step {
                Step::Commit(changes) => {
                    let result = run(&runtime, &changes, false);
                    if let Some(next) = apply_model(&model, &changes) {
                        prop_assert!(result.is_ok(), "{:?}", result);
                        model = next;
                    } else {
                        let refused = matches!(
                            result,
                            Err(Error::DuplicateKey { .. } | Error::NotFound { .. })
                        );
                        prop_assert!(refused, "{:?}", result);
                    }
                }
                Step::Panic(changes) => {
                    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run(&runtime, &changes, true)
                    }));
                    // A panic or an error: either way nothing changes.
                    prop_assert!(caught.is_err() || caught.unwrap().is_err());
                }
                Step::Reopen => {
                    drop(runtime);
                    runtime = open(dir.path());
                }
                Step::Reload => runtime.reload().unwrap(),
                Step::Snapshot => {
                    runtime.snapshot().unwrap();
                }
                Step::Compact => {
                    // Seal the active segment so that compaction has segments to remove.
                    runtime.log().rotate_now().unwrap();
                    runtime.snapshot_and_compact().unwrap();
                }
            }
            check(&runtime, &model);
        }
        drop(runtime);
        check(&open(dir.path()), &model);
    }
}
