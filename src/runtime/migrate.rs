//! The migration registry, the check of the code's schemas against the log's, running a
//! chain of migrations, and the audit record each migration leaves in the log.

use std::fmt;
use std::sync::Arc;

use super::codec::{self, Reader};
use super::error::{Error, MigrationError, Result};
use super::record;
use super::schema::Schema;
use super::table::{self, Table, Tables};
use super::value::{Row, Value};
use crate::Lsn;

/// A function converting one row from a schema version to the next.
pub type RowFn = dyn Fn(Row) -> Result<Row, MigrationError> + Send + Sync;
/// A function rewriting a whole table (every row, in key order) from one version to another.
pub type TableFn = dyn Fn(Vec<Row>) -> Result<Vec<Row>, MigrationError> + Send + Sync;

#[derive(Clone)]
enum Transform {
    Rows(Arc<RowFn>),
    Table(Arc<TableFn>),
}

/// One registered migration of a table from version `from` to version `to`.
#[derive(Clone)]
pub struct Migration {
    table: String,
    from: u32,
    to: u32,
    name: String,
    transform: Transform,
}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migration")
            .field("table", &self.table)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Migration {
    fn run(&self, rows: Vec<Row>) -> Result<Vec<Row>> {
        let failed = |source| Error::MigrationFailed {
            table: self.table.clone(),
            migration: self.name.clone(),
            from: self.from,
            to: self.to,
            source,
        };
        match &self.transform {
            Transform::Rows(f) => rows.into_iter().map(|row| f(row).map_err(failed)).collect(),
            Transform::Table(f) => f(rows).map_err(failed),
        }
    }
}

/// The migration registry: functions from (table, version) to a later version. Opening a
/// runtime whose code declares a newer schema than the log holds runs the chain from the
/// log's version to the code's, in one atomic batch with the new schema and an audit record
/// per step.
///
/// ```
/// use interstice::runtime::{Migrations, Value};
/// let migrations = Migrations::new()
///     .rows("accounts", 1, 2, "add email", |mut row| {
///         row.set("email", Value::Null);
///         Ok(row)
///     })
///     .table("accounts", 2, 3, "drop empty accounts", |rows| {
///         Ok(rows.into_iter().filter(|r| r.get("balance") != Some(&Value::I64(0))).collect())
///     });
/// assert_eq!(migrations.len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Migrations {
    list: Vec<Migration>,
    /// Registrations that do not go to a newer version: reported when a runtime opens.
    invalid: Vec<(String, String, u32, u32)>,
}

impl Migrations {
    /// No migration.
    #[must_use]
    pub fn new() -> Migrations {
        Migrations::default()
    }

    /// Registers a migration that converts each row of `table` from `from` to `to`.
    #[must_use]
    pub fn rows(
        mut self,
        table: impl Into<String>,
        from: u32,
        to: u32,
        name: impl Into<String>,
        f: impl Fn(Row) -> Result<Row, MigrationError> + Send + Sync + 'static,
    ) -> Migrations {
        self.push(
            table.into(),
            from,
            to,
            name.into(),
            Transform::Rows(Arc::new(f)),
        );
        self
    }

    /// Registers a migration that rewrites the whole of `table` from `from` to `to`: it gets
    /// every row in key order and returns the new rows (it may drop, add or merge rows).
    #[must_use]
    pub fn table(
        mut self,
        table: impl Into<String>,
        from: u32,
        to: u32,
        name: impl Into<String>,
        f: impl Fn(Vec<Row>) -> Result<Vec<Row>, MigrationError> + Send + Sync + 'static,
    ) -> Migrations {
        self.push(
            table.into(),
            from,
            to,
            name.into(),
            Transform::Table(Arc::new(f)),
        );
        self
    }

    fn push(&mut self, table: String, from: u32, to: u32, name: String, transform: Transform) {
        if from >= to {
            self.invalid.push((table, name, from, to));
            return;
        }
        self.list.push(Migration {
            table,
            from,
            to,
            name,
            transform,
        });
    }

    /// Number of migrations registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when none is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The steps from `from` to `to` for `table`, when registered migrations chain there:
    /// a depth-first search that tries the longest step first at each version and backtracks
    /// from dead ends. `Err` holds the furthest version reached.
    fn chain(&self, table: &str, from: u32, to: u32) -> Result<Vec<&Migration>, u32> {
        let mut steps = Vec::new();
        let mut furthest = from;
        if self.search(table, from, to, &mut steps, &mut furthest) {
            Ok(steps)
        } else {
            Err(furthest)
        }
    }

    fn search<'m>(
        &'m self,
        table: &str,
        at: u32,
        to: u32,
        steps: &mut Vec<&'m Migration>,
        furthest: &mut u32,
    ) -> bool {
        *furthest = (*furthest).max(at);
        if at == to {
            return true;
        }
        let mut next: Vec<&Migration> = self
            .list
            .iter()
            .filter(|m| m.table == table && m.from == at && m.to <= to)
            .collect();
        next.sort_by_key(|m| std::cmp::Reverse(m.to));
        for step in next {
            steps.push(step);
            if self.search(table, step.to, to, steps, furthest) {
                return true;
            }
            steps.pop();
        }
        false
    }

    /// True when a migration of `table` is registered from a version in `from..to`.
    fn any_between(&self, table: &str, from: u32, to: u32) -> bool {
        self.list
            .iter()
            .any(|m| m.table == table && (from..to).contains(&m.from) && m.to <= to)
    }

    /// The first registration that does not go to a newer version, as an error.
    fn check_registrations(&self) -> Result<()> {
        match self.invalid.first() {
            Some((table, name, from, to)) => Err(Error::InvalidMigration {
                table: table.clone(),
                migration: name.clone(),
                from: *from,
                to: *to,
            }),
            None => Ok(()),
        }
    }
}

/// A migration that ran: read back with `Runtime::audit_trail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The table migrated.
    pub table: String,
    /// The migration's name.
    pub migration: String,
    /// The version it migrated from.
    pub from: u32,
    /// The version it migrated to.
    pub to: u32,
    /// When it ran, in seconds since the Unix epoch.
    pub unix_time_s: u64,
    /// Rows it produced.
    pub rows: u64,
    /// The LSN of its audit record.
    pub lsn: Lsn,
}

impl AuditEntry {
    /// The audit record: kind byte, then the fields (the LSN is the record's own).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![record::KIND_AUDIT];
        self.put_fields(&mut out);
        out
    }

    pub(crate) fn put_fields(&self, out: &mut Vec<u8>) {
        codec::put_bytes(out, self.table.as_bytes());
        codec::put_bytes(out, self.migration.as_bytes());
        codec::put_varint(out, u64::from(self.from));
        codec::put_varint(out, u64::from(self.to));
        codec::put_varint(out, self.unix_time_s);
        codec::put_varint(out, self.rows);
    }

    pub(crate) fn decode(reader: &mut Reader<'_>, lsn: Lsn) -> codec::DecodeResult<AuditEntry> {
        Ok(AuditEntry {
            table: reader.str()?.to_owned(),
            migration: reader.str()?.to_owned(),
            from: reader.u32()?,
            to: reader.u32()?,
            unix_time_s: reader.varint()?,
            rows: reader.varint()?,
            lsn,
        })
    }
}

/// What bringing the log's tables to the code's schemas takes: the records to append (in
/// one batch), the tables to install once they are durable, and the audit entries (whose
/// LSNs are filled in from the batch's).
#[derive(Debug, Default)]
pub(crate) struct Upgrade {
    pub records: Vec<Vec<u8>>,
    pub tables: Vec<Table>,
    /// Audit entries with the index of their record in `records`.
    pub audits: Vec<(usize, AuditEntry)>,
}

/// Largest transaction record a migration writes; bigger tables take several records of
/// the same batch.
const MIGRATION_RECORD_BYTES: usize = 1 << 20;

/// Compares the code's schemas with the tables replayed from the log and plans the upgrade.
/// Checks every table before converting any, so an error leaves everything untouched.
///
/// # Errors
/// `Error::SchemaTooOld`, `Error::SchemaChanged`, `Error::MissingMigration`, or
/// `Error::MigrationFailed` from a migration function or rows the new schema rejects.
pub(crate) fn plan(
    tables: &Tables,
    schemas: &[Schema],
    migrations: &Migrations,
) -> Result<Upgrade> {
    migrations.check_registrations()?;
    let mut chains = Vec::new();
    let mut upgrade = Upgrade::default();
    for schema in schemas {
        let Some(logged) = tables.named(schema.name()).map(Table::schema) else {
            upgrade.records.push(record::encode_schema(schema));
            upgrade.tables.push(Table::new(schema.clone()));
            continue;
        };
        let column = || {
            logged
                .shape_difference(schema)
                .unwrap_or_else(|| "none".into())
        };
        let (from, to) = (logged.version(), schema.version());
        if to < from {
            return Err(Error::SchemaTooOld {
                table: schema.name().to_owned(),
                code_version: to,
                log_version: from,
                column: column(),
            });
        }
        if to == from {
            if let Some(column) = logged.shape_difference(schema) {
                return Err(Error::SchemaChanged {
                    table: schema.name().to_owned(),
                    version: to,
                    column,
                });
            }
            continue;
        }
        let missing = |stopped| Error::MissingMigration {
            table: schema.name().to_owned(),
            from: stopped,
            to,
            column: column(),
        };
        let chain = match migrations.chain(schema.name(), from, to) {
            Ok(chain) => chain.into_iter().cloned().collect(),
            // A registered step the chain cannot complete is not skipped by adding columns.
            Err(stopped) if migrations.any_between(schema.name(), from, to) => {
                return Err(missing(stopped));
            }
            Err(stopped) => vec![adding_columns(logged, schema).ok_or_else(|| missing(stopped))?],
        };
        chains.push((schema, chain));
    }
    for (schema, chain) in chains {
        let table = tables.named(schema.name()).expect("checked above");
        migrate_table(table, schema, &chain, &mut upgrade)?;
    }
    Ok(upgrade)
}

/// The migration that needs no registration: `schema` adds columns to `logged`, each nullable
/// or with a default, and keeps the others as they were, in order. (A new version of the same
/// shape is a change of meaning: only a registered migration makes it.)
fn adding_columns(logged: &Schema, schema: &Schema) -> Option<Migration> {
    let kept: Vec<_> = schema
        .columns()
        .iter()
        .filter(|c| logged.position(&c.name).is_some())
        .collect();
    if kept.len() != logged.columns().len()
        || kept.iter().zip(logged.columns()).any(|(a, b)| *a != b)
        || logged.key_name() != schema.key_name()
    {
        return None;
    }
    let mut fills = Vec::new();
    for column in schema.columns() {
        if logged.position(&column.name).is_some() {
            continue;
        }
        match schema.default_of(&column.name) {
            Some(value) => fills.push((column.name.clone(), value.clone())),
            None if column.nullable => fills.push((column.name.clone(), Value::Null)),
            None => return None,
        }
    }
    if fills.is_empty() {
        return None;
    }
    let names: Vec<&str> = fills.iter().map(|(name, _)| name.as_str()).collect();
    Some(Migration {
        table: schema.name().to_owned(),
        from: logged.version(),
        to: schema.version(),
        name: format!("add columns {}", names.join(", ")),
        transform: Transform::Rows(Arc::new(move |mut row| {
            for (name, value) in &fills {
                row.set(name.clone(), value.clone());
            }
            Ok(row)
        })),
    })
}

fn migrate_table(
    table: &Table,
    schema: &Schema,
    chain: &[Migration],
    upgrade: &mut Upgrade,
) -> Result<()> {
    let mut rows: Vec<Row> = table.iter().map(|values| table.to_row(values)).collect();
    let unix_time_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut audits = Vec::with_capacity(chain.len());
    for step in chain {
        rows = step.run(rows)?;
        audits.push(AuditEntry {
            table: step.table.clone(),
            migration: step.name.clone(),
            from: step.from,
            to: step.to,
            unix_time_s,
            rows: rows.len() as u64,
            lsn: Lsn::ZERO,
        });
    }
    let last = chain.last().expect("a chain has at least one step");
    let rejected = |source: MigrationError| Error::MigrationFailed {
        table: last.table.clone(),
        migration: last.name.clone(),
        from: last.from,
        to: last.to,
        source,
    };
    let mut migrated = Table::new(schema.clone());
    let mut held: Vec<std::collections::BTreeSet<Value>> =
        vec![std::collections::BTreeSet::new(); migrated.unique_positions().len()];
    for row in rows {
        let values = table::to_values(schema, row).map_err(|e| rejected(Box::new(e)))?;
        for (seen, &position) in held.iter_mut().zip(migrated.unique_positions()) {
            let value = &values[position];
            if !value.is_null() && !seen.insert(value.clone()) {
                let column = &schema.columns()[position].name;
                return Err(rejected(
                    format!("two rows hold {value} in unique column {column:?}").into(),
                ));
            }
        }
        if let Some(old) = migrated.put(values) {
            let key = migrated.key_of(&old).to_string();
            return Err(rejected(format!("two rows with key {key}").into()));
        }
    }
    upgrade.records.push(record::encode_schema(schema));
    let rows: Vec<&[Value]> = migrated.iter().collect();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len() && (end == start || bytes < MIGRATION_RECORD_BYTES) {
            bytes += codec::values_len(rows[end]);
            end += 1;
        }
        upgrade
            .records
            .push(record::encode_inserts(schema.name(), &rows[start..end]));
        start = end;
    }
    for audit in audits {
        upgrade.audits.push((upgrade.records.len(), audit.clone()));
        upgrade.records.push(audit.encode());
    }
    upgrade.tables.push(migrated);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ColumnType;

    fn v(version: u32) -> Schema {
        let schema = Schema::new("t", version).column("k", ColumnType::U64);
        if version >= 2 {
            schema.nullable_column("note", ColumnType::Str)
        } else {
            schema
        }
    }

    #[allow(clippy::unnecessary_wraps)] // the signature of a row migration
    fn noop(row: Row) -> Result<Row, MigrationError> {
        Ok(row)
    }

    #[test]
    fn chain_takes_the_longest_steps() {
        let m = Migrations::new()
            .rows("t", 1, 2, "a", noop)
            .rows("t", 2, 3, "b", noop)
            .rows("t", 1, 3, "c", noop)
            .rows("t", 3, 5, "d", noop);
        let names =
            |chain: Vec<&Migration>| chain.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(m.chain("t", 1, 3).unwrap()), ["c"]);
        assert_eq!(names(m.chain("t", 2, 5).unwrap()), ["b", "d"]);
        assert_eq!(m.chain("t", 1, 4).unwrap_err(), 3);
        assert_eq!(m.chain("u", 1, 2).unwrap_err(), 1);
    }

    #[test]
    fn chain_backtracks_from_a_longest_step_that_leads_nowhere() {
        let m = Migrations::new()
            .rows("t", 1, 3, "long", noop)
            .rows("t", 1, 2, "a", noop)
            .rows("t", 2, 4, "b", noop);
        let names =
            |chain: Vec<&Migration>| chain.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(m.chain("t", 1, 4).unwrap()), ["a", "b"]);
        assert_eq!(
            m.chain("t", 1, 5).unwrap_err(),
            4,
            "the furthest version reached"
        );
    }

    #[test]
    fn a_migration_to_an_older_version_is_an_error_at_open_not_a_panic() {
        let m = Migrations::new().rows("t", 3, 3, "same", noop);
        let error = m.check_registrations().unwrap_err();
        let named = matches!(&error, Error::InvalidMigration { migration, from: 3, to: 3, .. }
            if migration == "same");
        assert!(named, "{error}");
        assert!(
            Migrations::new()
                .table("t", 4, 2, "back", Ok)
                .check_registrations()
                .is_err()
        );
    }

    #[test]
    fn plan_checks_versions_before_converting() {
        let mut tables = Tables::default();
        let id = tables.define(v(2));
        tables.get_mut(id).put(vec![Value::U64(1), Value::Null]);
        let none = Migrations::new();
        assert!(matches!(
            plan(&tables, &[v(1)], &none),
            Err(Error::SchemaTooOld { code_version: 1, log_version: 2, column, .. })
                if column == "note"
        ));
        // The same shape at a new version: a change of meaning, which only a registered
        // migration can make.
        assert!(matches!(
            plan(&tables, &[v(3)], &none),
            Err(Error::MissingMigration { from: 2, to: 3, .. })
        ));
        let added = v(2)
            .at_version(3)
            .column("n", ColumnType::U64)
            .default_value("n", 0u64);
        assert_eq!(plan(&tables, &[added], &none).unwrap().audits.len(), 1);
        let renamed = Schema::new("t", 3)
            .column("k", ColumnType::U64)
            .nullable_column("memo", ColumnType::Str);
        assert!(matches!(
            plan(&tables, &[renamed], &none),
            Err(Error::MissingMigration { from: 2, to: 3, .. })
        ));
        let changed = v(2).column("extra", ColumnType::U64);
        assert!(matches!(
            plan(&tables, &[changed], &none),
            Err(Error::SchemaChanged { version: 2, column, .. }) if column == "extra"
        ));
        assert!(plan(&tables, &[v(2)], &none).unwrap().records.is_empty());
    }

    #[test]
    fn plan_writes_schema_rows_and_audit() {
        let mut tables = Tables::default();
        let id = tables.define(v(1));
        for k in 0..3u64 {
            tables.get_mut(id).put(vec![Value::U64(k)]);
        }
        let m = Migrations::new().rows("t", 1, 2, "add note", |row| Ok(row.with("note", "n")));
        let upgrade = plan(&tables, &[v(2)], &m).unwrap();
        assert_eq!(upgrade.records.len(), 3);
        assert_eq!(upgrade.records[0][0], record::KIND_SCHEMA);
        assert_eq!(upgrade.records[1][0], record::KIND_TRANSACTION);
        assert_eq!(upgrade.audits.len(), 1);
        assert_eq!(upgrade.audits[0].0, 2);
        assert_eq!(upgrade.audits[0].1.rows, 3);
        let migrated = &upgrade.tables[0];
        assert_eq!(migrated.get(&Value::U64(2)).unwrap()[1], Value::from("n"));
        let bad = Migrations::new().rows("t", 1, 2, "bad", |row| Ok(row.with("note", 5u64)));
        assert!(matches!(
            plan(&tables, &[v(2)], &bad),
            Err(Error::MigrationFailed { migration, .. }) if migration == "bad"
        ));
    }
}
