//! Schema versions and migrations over logs written by older code: the errors that refuse to
//! open, chains, atomicity, audit trail, and replay across a migration.

use std::path::Path;

use interstice::runtime::{
    ColumnType, Error, Migrations, Row, Runtime, RuntimeConfig, Schema, Value,
};
use interstice::{Lsn, Options};

fn v1() -> Schema {
    Schema::new("items", 1)
        .column("id", ColumnType::U64)
        .column("name", ColumnType::Str)
}

fn v2() -> Schema {
    v1_to(2).nullable_column("note", ColumnType::Str)
}

fn v3() -> Schema {
    Schema::new("items", 3)
        .column("id", ColumnType::U64)
        .column("title", ColumnType::Str)
        .nullable_column("note", ColumnType::Str)
}

fn v1_to(version: u32) -> Schema {
    Schema::new("items", version)
        .column("id", ColumnType::U64)
        .column("name", ColumnType::Str)
}

fn migrations() -> Migrations {
    Migrations::new()
        .rows("items", 1, 2, "add note", |row| {
            Ok(row.with("note", Value::Null))
        })
        .rows("items", 2, 3, "rename name to title", |mut row| {
            row.rename("name", "title");
            Ok(row)
        })
}

fn open(dir: &Path, schema: Schema) -> Result<Runtime, Error> {
    Runtime::open(
        RuntimeConfig::new(dir)
            .log(Options {
                segment_size: 64 * 1024,
                ..Options::default()
            })
            .schema(schema)
            .migrations(migrations()),
    )
}

/// A log written by the version 1 code: `n` items.
fn write_v1(dir: &Path, n: u64) {
    let runtime = open(dir, v1()).unwrap();
    runtime
        .transact(|tx| {
            for id in 0..n {
                tx.insert_row(
                    "items",
                    Row::new().with("id", id).with("name", format!("item {id}")),
                )?;
            }
            Ok(())
        })
        .unwrap();
    runtime.close().unwrap();
}

#[test]
fn a_log_from_an_older_schema_is_migrated_through_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 20);
    let runtime = open(dir.path(), v3()).unwrap();
    let row = runtime.get_row("items", 7u64).unwrap().unwrap();
    assert_eq!(row.get("title"), Some(&Value::from("item 7")));
    assert_eq!(row.get("note"), Some(&Value::Null));
    assert_eq!(runtime.schema("items").unwrap().version(), 3);
    let trail = runtime.audit_trail();
    let names: Vec<&str> = trail.iter().map(|a| a.migration.as_str()).collect();
    assert_eq!(names, ["add note", "rename name to title"]);
    assert!(trail.iter().all(|a| a.rows == 20 && a.unix_time_s > 0));
    assert_eq!(
        (trail[0].from, trail[0].to, trail[1].from, trail[1].to),
        (1, 2, 2, 3)
    );
    assert_eq!(runtime.open_report().migrations, trail);
    // Audit records are in the log, right after the schema and rows of the migration.
    assert_eq!(trail[1].lsn, runtime.log().last_lsn());
    assert_eq!(trail[0].lsn, Lsn(trail[1].lsn.0 - 1));
}

#[test]
fn the_migrated_log_replays_to_the_same_state_and_does_not_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 5);
    let runtime = open(dir.path(), v2()).unwrap();
    runtime
        .transact(|tx| {
            tx.insert_row(
                "items",
                Row::new()
                    .with("id", 99u64)
                    .with("name", "new")
                    .with("note", "n"),
            )
        })
        .unwrap();
    let before = runtime.scan_rows("items").unwrap();
    let trail = runtime.audit_trail();
    drop(runtime);
    let runtime = open(dir.path(), v2()).unwrap();
    assert_eq!(runtime.scan_rows("items").unwrap(), before);
    assert!(runtime.open_report().migrations.is_empty());
    assert_eq!(runtime.audit_trail(), trail);
    // Then on to version 3, and the trail grows.
    drop(runtime);
    let runtime = open(dir.path(), v3()).unwrap();
    assert_eq!(runtime.audit_trail().len(), 2);
    assert_eq!(runtime.len("items").unwrap(), 6);
}

#[test]
fn the_audit_trail_survives_snapshots_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 5);
    let runtime = open(dir.path(), v2()).unwrap();
    let trail = runtime.audit_trail();
    for round in 0..3u64 {
        runtime
            .transact(|tx| {
                for id in 0..300 {
                    let row = Row::new()
                        .with("id", 1000 + round * 1000 + id)
                        .with("name", "x".repeat(40));
                    tx.insert_row("items", row)?;
                }
                Ok(())
            })
            .unwrap();
        runtime.log().rotate_now().unwrap();
        runtime.snapshot_and_compact().unwrap();
    }
    assert!(
        runtime.log().first_lsn() > Some(trail[0].lsn),
        "the audit record was compacted"
    );
    drop(runtime);
    let runtime = open(dir.path(), v2()).unwrap();
    assert_eq!(runtime.audit_trail(), trail);
}

#[test]
fn code_older_than_the_log_is_refused_naming_table_versions_and_column() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 3);
    drop(open(dir.path(), v2()).unwrap());
    let error = open(dir.path(), v1()).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::SchemaTooOld { table, code_version: 1, log_version: 2, column }
                if table == "items" && column == "note"
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("items") && message.contains("note") && message.contains('2'));
}

#[test]
fn a_changed_schema_without_a_new_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 3);
    let changed = v1().column("price", ColumnType::U64);
    let error = open(dir.path(), changed).unwrap_err();
    assert!(
        matches!(&error, Error::SchemaChanged { table, version: 1, column }
            if table == "items" && column == "price"),
        "{error}"
    );
    let retyped = Schema::new("items", 1)
        .column("id", ColumnType::U64)
        .column("name", ColumnType::Bytes);
    assert!(matches!(
        open(dir.path(), retyped),
        Err(Error::SchemaChanged { column, .. }) if column == "name"
    ));
}

#[test]
fn a_new_version_without_a_migration_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 3);
    let last = open(dir.path(), v1()).unwrap().log().last_lsn();
    let v4 = Schema::new("items", 4)
        .column("id", ColumnType::U64)
        .column("label", ColumnType::Str);
    let error = open(dir.path(), v4).unwrap_err();
    assert!(
        matches!(&error, Error::MissingMigration { table, from: 3, to: 4, column }
            if table == "items" && column == "name"),
        "{error}"
    );
    let runtime = open(dir.path(), v1()).unwrap();
    assert_eq!(runtime.log().last_lsn(), last);
    assert!(runtime.audit_trail().is_empty());
}

#[test]
fn a_failing_migration_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 3);
    let last = open(dir.path(), v1()).unwrap().log().last_lsn();
    let failing = Migrations::new().rows("items", 1, 2, "fails on item 2", |row| {
        if row.get("id") == Some(&Value::U64(2)) {
            return Err("item 2 cannot be converted".into());
        }
        Ok(row.with("note", "x"))
    });
    let error = Runtime::open(
        RuntimeConfig::new(dir.path())
            .schema(v2())
            .migrations(failing),
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::MigrationFailed { migration, from: 1, to: 2, .. }
            if migration == "fails on item 2"),
        "{error}"
    );
    // Rows the new schema rejects fail the same way.
    let wrong =
        Migrations::new().rows(
            "items",
            1,
            2,
            "wrong type",
            |row| Ok(row.with("note", 1u64)),
        );
    let error = Runtime::open(
        RuntimeConfig::new(dir.path())
            .schema(v2())
            .migrations(wrong),
    )
    .unwrap_err();
    assert!(matches!(error, Error::MigrationFailed { .. }), "{error}");
    let runtime = open(dir.path(), v1()).unwrap();
    assert_eq!(runtime.log().last_lsn(), last);
    assert_eq!(runtime.len("items").unwrap(), 3);
}

#[test]
fn new_tables_and_new_indexes_need_no_migration() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 4);
    let tags = Schema::new("tags", 1).column("tag", ColumnType::Str);
    let runtime = Runtime::open(
        RuntimeConfig::new(dir.path())
            .schema(v1().index("name"))
            .schema(tags),
    )
    .unwrap();
    assert_eq!(runtime.open_report().tables_created, ["tags"]);
    assert!(runtime.audit_trail().is_empty());
    assert_eq!(
        runtime
            .lookup_rows("items", "name", "item 2")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_large_table_migrates_in_several_records_of_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 8 * 1024 * 1024,
        ..Options::default()
    };
    let config = |schema| {
        RuntimeConfig::new(dir.path())
            .log(options.clone())
            .schema(schema)
            .migrations(migrations())
    };
    let runtime = Runtime::open(config(v1())).unwrap();
    runtime
        .transact(|tx| {
            for id in 0..3000u64 {
                tx.insert_row(
                    "items",
                    Row::new().with("id", id).with("name", "n".repeat(500)),
                )?;
            }
            Ok(())
        })
        .unwrap();
    let before = runtime.log().last_lsn();
    drop(runtime);
    let runtime = Runtime::open(config(v2())).unwrap();
    let written = runtime.log().last_lsn().0 - before.0;
    // A schema record, at least two row records, one audit record.
    assert!(written >= 4, "{written} records");
    drop(runtime);
    let runtime = Runtime::open(config(v2())).unwrap();
    assert_eq!(runtime.len("items").unwrap(), 3000);
}

/// 2,000 items of about 60 bytes, written in small transactions: more than one 64 KiB
/// segment holds, so migrating them in one batch cannot fit.
fn write_large_v1(dir: &Path) {
    let runtime = open(dir, v1()).unwrap();
    for chunk in 0..40u64 {
        runtime
            .transact(|tx| {
                for id in chunk * 50..(chunk + 1) * 50 {
                    let name = format!("item {id} {}", "x".repeat(40));
                    tx.insert_row("items", Row::new().with("id", id).with("name", name))?;
                }
                Ok(())
            })
            .unwrap();
    }
    runtime.close().unwrap();
}

#[test]
fn a_migration_larger_than_a_segment_is_refused_naming_it_and_the_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    write_large_v1(dir.path());
    match open(dir.path(), v2()) {
        Err(error @ Error::MigrationTooLarge { .. }) => {
            let text = error.to_string();
            assert!(text.contains("add note of table \"items\""), "{text}");
            assert!(text.contains("segment_size 65536"), "{text}");
        }
        other => panic!("expected MigrationTooLarge, got {other:?}"),
    }
}

#[test]
fn a_chain_is_found_when_the_longest_first_step_leads_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 3);
    let migrations = Migrations::new()
        .rows("items", 1, 3, "a dead end", Ok)
        .rows("items", 1, 2, "one to two", |row| {
            Ok(row.with("note", Value::Null))
        })
        .rows("items", 2, 4, "two to four", Ok);
    let config = RuntimeConfig::new(dir.path())
        .schema(v1_to(4).nullable_column("note", ColumnType::Str))
        .migrations(migrations);
    let runtime = Runtime::open(config).unwrap();
    let steps: Vec<String> = runtime
        .audit_trail()
        .into_iter()
        .map(|entry| entry.migration)
        .collect();
    assert_eq!(steps, ["one to two", "two to four"]);
    assert_eq!(runtime.len("items").unwrap(), 3);
    runtime.close().unwrap();
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

#[test]
fn refused_opens_leave_the_directory_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 3);
    let runtime = open(dir.path(), v2()).unwrap();
    runtime.snapshot().unwrap();
    runtime.close().unwrap();
    let before = files(dir.path());
    let failing = Migrations::new().rows("items", 2, 3, "fails", |_| Err("no".into()));
    let backwards = Migrations::new().rows("items", 3, 2, "backwards", Ok);
    let refusals: Vec<(&str, RuntimeConfig)> = vec![
        ("too old", RuntimeConfig::new(dir.path()).schema(v1())),
        (
            "changed",
            RuntimeConfig::new(dir.path()).schema(v2().column("price", ColumnType::U64)),
        ),
        ("no migration", RuntimeConfig::new(dir.path()).schema(v3())),
        (
            "failing",
            RuntimeConfig::new(dir.path())
                .schema(v3())
                .migrations(failing),
        ),
        (
            "invalid",
            RuntimeConfig::new(dir.path())
                .schema(v3())
                .migrations(backwards),
        ),
    ];
    for (what, config) in refusals {
        assert!(Runtime::open(config).is_err(), "{what}");
        assert!(
            files(dir.path()) == before,
            "a refused open ({what}) changed a file"
        );
    }
    // The log is still the one it was: the next open migrates it.
    let runtime = open(dir.path(), v3()).unwrap();
    assert_eq!(runtime.len("items").unwrap(), 3);
    assert_eq!(runtime.audit_trail().len(), 2);
}

#[test]
fn a_refused_migration_larger_than_a_segment_leaves_the_directory_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    write_large_v1(dir.path());
    let before = files(dir.path());
    assert!(matches!(
        open(dir.path(), v2()),
        Err(Error::MigrationTooLarge { .. })
    ));
    assert!(files(dir.path()) == before, "a refused open changed a file");
}

#[test]
fn a_version_that_only_adds_columns_with_defaults_migrates_without_registration() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 3);
    let v2 = v1_to(2)
        .column("price", ColumnType::U64)
        .default_value("price", 5u64)
        .nullable_column("note", ColumnType::Str);
    let runtime = Runtime::open(RuntimeConfig::new(dir.path()).schema(v2.clone())).unwrap();
    let row = runtime.get_row("items", 1u64).unwrap().unwrap();
    assert_eq!(row.get("price"), Some(&Value::U64(5)));
    assert_eq!(row.get("note"), Some(&Value::Null));
    let audit = runtime.audit_trail();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].migration, "add columns price, note");
    runtime.close().unwrap();
    // A new column without a default that is not nullable needs a registered migration.
    let v3 = v1_to(3)
        .column("price", ColumnType::U64)
        .nullable_column("note", ColumnType::Str)
        .column("weight", ColumnType::U64);
    assert!(matches!(
        Runtime::open(RuntimeConfig::new(dir.path()).schema(v3)),
        Err(Error::MissingMigration { from: 2, to: 3, .. })
    ));
    // Reopening replays the migration's records, and migrates nothing again.
    let runtime = Runtime::open(RuntimeConfig::new(dir.path()).schema(v2)).unwrap();
    assert!(runtime.open_report().migrations.is_empty());
    assert_eq!(runtime.len("items").unwrap(), 3);
}

#[test]
fn adding_columns_never_skips_a_registered_migration_or_breaks_a_unique_column() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path(), 3);
    // 1 -> 2 is registered (a change of meaning); 3 only adds a column. The chain stops at
    // 2, and adding the column must not jump over the registered step from 1.
    let only_first = Migrations::new().rows("items", 1, 2, "upper-case names", Ok);
    let v3 = v1_to(3).nullable_column("note", ColumnType::Str);
    let refused = Runtime::open(
        RuntimeConfig::new(dir.path())
            .schema(v3)
            .migrations(only_first),
    );
    assert!(
        matches!(refused, Err(Error::MissingMigration { from: 2, to: 3, .. })),
        "{refused:?}"
    );
    // A new unique column whose default every row would share is refused, writing nothing.
    let unique = v1_to(2)
        .column("code", ColumnType::U64)
        .default_value("code", 0u64)
        .unique("code");
    let refused = Runtime::open(RuntimeConfig::new(dir.path()).schema(unique));
    assert!(
        matches!(&refused, Err(Error::MigrationFailed { source, .. })
            if source.to_string().contains("unique column \"code\"")),
        "{refused:?}"
    );
    let runtime = open(dir.path(), v1()).unwrap();
    assert!(runtime.audit_trail().is_empty());
}

#[test]
fn a_unique_column_over_rows_that_share_a_value_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = open(dir.path(), v1()).unwrap();
    runtime
        .transact(|tx| {
            tx.insert_row("items", Row::new().with("id", 1).with("name", "same"))?;
            tx.insert_row("items", Row::new().with("id", 2).with("name", "same"))
        })
        .unwrap();
    runtime.close().unwrap();
    let refused = open(dir.path(), v1().unique("name"));
    assert!(
        matches!(&refused, Err(Error::InvalidSchema { reason, .. })
            if reason.contains("keys 1 and 2 both hold \"same\"")),
        "{refused:?}"
    );
    // A stale registration past the code's version does not stop adding a column.
    let stale = Migrations::new().rows("items", 1, 5, "someday", Ok);
    let v2 = v1_to(2).nullable_column("note", ColumnType::Str);
    let runtime = Runtime::open(RuntimeConfig::new(dir.path()).schema(v2).migrations(stale));
    assert_eq!(
        runtime.unwrap().audit_trail()[0].migration,
        "add columns note"
    );
}
