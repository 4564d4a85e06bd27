//! `Table`: one in-memory table: rows by primary key, applying one change, secondary indexes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::error::{Error, Result};
use super::schema::Schema;
use super::value::{Row, Value};

/// A secondary index: column value to the primary keys of the rows holding it.
#[derive(Debug, Clone)]
struct Index {
    column: usize,
    keys: BTreeMap<Value, BTreeSet<Value>>,
}

/// One table in memory. Rows are stored by primary key in a `BTreeMap`, as their values in
/// column order, so scans are in key order and deterministic.
#[derive(Debug, Clone)]
pub struct Table {
    schema: Arc<Schema>,
    key: usize,
    rows: BTreeMap<Value, Vec<Value>>,
    indexes: Vec<Index>,
    /// Positions of the unique columns.
    unique: Vec<usize>,
    /// One above the largest non-negative integer key this table has held since it was
    /// created or loaded: the next `auto_inc` key.
    next_auto: u64,
}

impl Table {
    /// An empty table; `schema` must be valid.
    pub fn new(schema: Schema) -> Table {
        debug_assert!(schema.validate().is_ok());
        let key = schema.key_position();
        let indexes = index_columns(&schema)
            .map(|column| Index {
                column,
                keys: BTreeMap::new(),
            })
            .collect();
        Table {
            unique: unique_columns(&schema),
            schema: Arc::new(schema),
            key,
            rows: BTreeMap::new(),
            indexes,
            next_auto: 1,
        }
    }

    /// Positions of the unique columns.
    pub fn unique_positions(&self) -> &[usize] {
        &self.unique
    }

    /// The next `auto_inc` key (at least 1).
    pub fn next_auto(&self) -> u64 {
        self.next_auto
    }

    fn saw_key(&mut self, key: &Value) {
        let held = match *key {
            Value::U64(k) => k,
            Value::I64(k) if k >= 0 => k.cast_unsigned(),
            _ => return,
        };
        self.next_auto = self.next_auto.max(held.saturating_add(1));
    }

    /// The table's schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The values of the row with primary key `key`.
    pub fn get(&self, key: &Value) -> Option<&[Value]> {
        self.rows.get(key).map(Vec::as_slice)
    }

    /// Every row's values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &[Value]> {
        self.rows.values().map(Vec::as_slice)
    }

    /// The primary key in `values`.
    pub fn key_of<'v>(&self, values: &'v [Value]) -> &'v Value {
        &values[self.key]
    }

    /// Inserts or replaces a row (values in column order), keeping indexes current; returns
    /// the values it replaced.
    pub fn put(&mut self, values: Vec<Value>) -> Option<Vec<Value>> {
        debug_assert_eq!(values.len(), self.schema.columns().len());
        let key = values[self.key].clone();
        self.saw_key(&key);
        for index in &mut self.indexes {
            index
                .keys
                .entry(values[index.column].clone())
                .or_default()
                .insert(key.clone());
        }
        let old = self.rows.insert(key.clone(), values);
        if let Some(old) = &old {
            let new = &self.rows[&key];
            for index in &mut self.indexes {
                if old[index.column] != new[index.column] {
                    unindex(index, &old[index.column], &key);
                }
            }
        }
        old
    }

    /// Fills an empty table with `rows` (values in column order) given in strictly
    /// increasing key order, as a snapshot holds them: the map is built in one pass, with no
    /// search per row. Each row is checked (`check_values`).
    ///
    /// # Errors
    /// The first row that does not fit the schema, or whose key is not above the one before
    /// it (a duplicate or a disordered snapshot); the table is left empty then.
    pub fn load_sorted(&mut self, rows: Vec<Vec<Value>>) -> std::result::Result<(), String> {
        debug_assert!(self.rows.is_empty());
        let key = self.key;
        let mut previous: Option<&Value> = None;
        for values in &rows {
            self.check_values(values)?;
            if previous.is_some_and(|p| *p >= values[key]) {
                return Err(format!(
                    "table {:?}: key {} is not above the one before it",
                    self.schema.name(),
                    values[key]
                ));
            }
            previous = Some(&values[key]);
        }
        // Sorted and distinct: `from_iter` builds the tree without searching it.
        self.rows = rows
            .into_iter()
            .map(|values| (values[key].clone(), values))
            .collect();
        if let Some(last) = self.rows.keys().next_back().cloned() {
            self.saw_key(&last);
        }
        for index in &mut self.indexes {
            for (key, values) in &self.rows {
                index
                    .keys
                    .entry(values[index.column].clone())
                    .or_default()
                    .insert(key.clone());
            }
        }
        Ok(())
    }

    /// Removes the row with primary key `key`; returns its values.
    pub fn delete(&mut self, key: &Value) -> Option<Vec<Value>> {
        let old = self.rows.remove(key)?;
        for index in &mut self.indexes {
            unindex(index, &old[index.column], key);
        }
        Some(old)
    }

    /// The primary keys of the rows whose `column` equals `value`, through the index on that
    /// column when there is one, else by a scan. Keys come in key order.
    pub fn lookup(&self, column: usize, value: &Value) -> Vec<&Value> {
        if let Some(index) = self.indexes.iter().find(|i| i.column == column) {
            return index
                .keys
                .get(value)
                .map(|keys| keys.iter().collect())
                .unwrap_or_default();
        }
        self.rows
            .iter()
            .filter(|(_, values)| values[column] == *value)
            .map(|(key, _)| key)
            .collect()
    }

    /// True when lookups by `column` go through an index.
    #[cfg(any(test, feature = "wasm"))]
    pub fn is_indexed(&self, column: usize) -> bool {
        self.indexes.iter().any(|i| i.column == column)
    }

    /// Takes `declared`'s in-memory parts (indexes, unique columns, `auto_inc`, defaults;
    /// same shape) and rebuilds the indexes.
    ///
    /// # Errors
    /// `Error::InvalidSchema` when rows already break a column declared unique; the table is
    /// left as it was.
    pub fn set_extras(&mut self, declared: &Schema) -> Result<()> {
        if self.schema.has_extras_of(declared) {
            return Ok(());
        }
        let schema = Schema::clone(&self.schema).with_extras_of(declared);
        let indexes: Vec<Index> = index_columns(&schema)
            .map(|column| {
                let mut keys: BTreeMap<Value, BTreeSet<Value>> = BTreeMap::new();
                for (key, values) in &self.rows {
                    keys.entry(values[column].clone())
                        .or_default()
                        .insert(key.clone());
                }
                Index { column, keys }
            })
            .collect();
        let unique = unique_columns(&schema);
        for &column in &unique {
            let index = indexes.iter().find(|i| i.column == column);
            let shared = index.and_then(|index| {
                index
                    .keys
                    .iter()
                    .find(|(value, keys)| !value.is_null() && keys.len() > 1)
            });
            if let Some((value, keys)) = shared {
                let keys: Vec<String> = keys.iter().take(2).map(ToString::to_string).collect();
                return Err(Error::InvalidSchema {
                    table: schema.name().to_owned(),
                    reason: format!(
                        "column {:?} is declared unique, but keys {} and {} both hold {value}",
                        schema.columns()[column].name,
                        keys[0],
                        keys[1]
                    ),
                });
            }
        }
        self.indexes = indexes;
        self.unique = unique;
        self.schema = Arc::new(schema);
        Ok(())
    }

    /// The row with names from the schema.
    pub fn to_row(&self, values: &[Value]) -> Row {
        let mut row = Row::with_capacity(values.len());
        for (column, value) in self.schema.columns().iter().zip(values) {
            row.push(column.name.clone(), value.clone());
        }
        row
    }

    /// The row's values in column order, checked against the schema: every column typed,
    /// non-nullable columns present, no unknown column.
    ///
    /// # Errors
    /// `Error::NoSuchColumn`, `Error::TypeMismatch` or `Error::MissingValue`.
    pub fn to_values(&self, row: Row) -> Result<Vec<Value>> {
        to_values(&self.schema, row)
    }

    /// Checks values read back from a log record or a snapshot.
    pub fn check_values(&self, values: &[Value]) -> std::result::Result<(), String> {
        if values.len() != self.schema.columns().len() {
            return Err(format!(
                "table {:?}: {} values for {} columns",
                self.schema.name(),
                values.len(),
                self.schema.columns().len()
            ));
        }
        for (column, value) in self.schema.columns().iter().zip(values) {
            let ok = column.ty.admits(value) || (column.nullable && value.is_null());
            if !ok {
                return Err(format!(
                    "table {:?}, column {:?}: {} where {} was expected",
                    self.schema.name(),
                    column.name,
                    value.kind_name(),
                    column.ty
                ));
            }
        }
        Ok(())
    }
}

/// `value` as `column`'s type (`ColumnType::conform`), or the error naming the column.
///
/// # Errors
/// `Error::TypeMismatch`.
pub fn conform(schema: &Schema, column: &super::Column, value: Value) -> Result<Value> {
    column
        .ty
        .conform(value)
        .map_err(|value| Error::TypeMismatch {
            table: schema.name().to_owned(),
            column: column.name.clone(),
            expected: column.ty,
            found: value.kind_name(),
        })
}

/// `row` in `schema`'s column order, checked.
///
/// # Errors
/// As [`Table::to_values`].
pub fn to_values(schema: &Schema, mut row: Row) -> Result<Vec<Value>> {
    let mut values = Vec::with_capacity(schema.columns().len());
    for column in schema.columns() {
        let value = row.take(&column.name).unwrap_or(Value::Null);
        if value.is_null() {
            if !column.nullable {
                return Err(Error::MissingValue {
                    table: schema.name().to_owned(),
                    column: column.name.clone(),
                });
            }
            values.push(value);
        } else {
            values.push(conform(schema, column, value)?);
        }
    }
    if let Some((extra, _)) = row.iter().next() {
        return Err(Error::NoSuchColumn {
            table: schema.name().to_owned(),
            column: extra.to_owned(),
        });
    }
    Ok(values)
}

/// The tables of a runtime: by id (position, stable while the runtime runs) and by name.
#[derive(Debug, Default, Clone)]
pub struct Tables {
    list: Vec<Table>,
    by_name: BTreeMap<String, usize>,
}

impl Tables {
    /// The id of table `name`.
    ///
    /// # Errors
    /// `Error::NoSuchTable`.
    pub fn id(&self, name: &str) -> Result<usize> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| Error::NoSuchTable {
                table: name.to_owned(),
            })
    }

    /// The table `name`, if defined.
    pub fn named(&self, name: &str) -> Option<&Table> {
        self.by_name.get(name).map(|&id| &self.list[id])
    }

    /// The table with id `id`.
    pub fn get(&self, id: usize) -> &Table {
        &self.list[id]
    }

    /// The table with id `id`, to change it.
    pub fn get_mut(&mut self, id: usize) -> &mut Table {
        &mut self.list[id]
    }

    /// Defines a table anew (empty), replacing one of the same name; returns its id.
    pub fn define(&mut self, schema: Schema) -> usize {
        self.replace(Table::new(schema))
    }

    /// Puts `table` in place of the one with its name (or adds it); returns its id.
    pub fn replace(&mut self, table: Table) -> usize {
        if let Some(&id) = self.by_name.get(table.schema().name()) {
            self.list[id] = table;
            id
        } else {
            let id = self.list.len();
            self.by_name.insert(table.schema().name().to_owned(), id);
            self.list.push(table);
            id
        }
    }

    /// The tables in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Table> {
        self.by_name.values().map(|&id| &self.list[id])
    }

    /// Total rows over all tables.
    pub fn rows(&self) -> usize {
        self.list.iter().map(Table::len).sum()
    }
}

fn unique_columns(schema: &Schema) -> Vec<usize> {
    schema
        .unique_columns()
        .iter()
        .filter_map(|name| schema.position(name))
        .collect()
}

fn index_columns(schema: &Schema) -> impl Iterator<Item = usize> + '_ {
    schema
        .indexes()
        .iter()
        .filter_map(|name| schema.position(name))
}

fn unindex(index: &mut Index, value: &Value, key: &Value) {
    if let Some(keys) = index.keys.get_mut(value) {
        keys.remove(key);
        if keys.is_empty() {
            index.keys.remove(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ColumnType;

    fn people() -> Table {
        Table::new(
            Schema::new("people", 1)
                .column("id", ColumnType::U64)
                .column("city", ColumnType::Str)
                .nullable_column("age", ColumnType::U64)
                .index("city"),
        )
    }

    fn person(id: u64, city: &str) -> Vec<Value> {
        vec![Value::U64(id), Value::from(city), Value::Null]
    }

    #[test]
    fn index_follows_puts_updates_and_deletes() {
        let mut table = people();
        let city = 1;
        assert!(table.is_indexed(city));
        table.put(person(1, "oslo"));
        table.put(person(2, "oslo"));
        table.put(person(3, "rome"));
        assert_eq!(
            table.lookup(city, &"oslo".into()),
            [&Value::U64(1), &Value::U64(2)]
        );
        table.put(person(2, "rome"));
        assert_eq!(table.lookup(city, &"oslo".into()), [&Value::U64(1)]);
        assert_eq!(
            table.lookup(city, &"rome".into()),
            [&Value::U64(2), &Value::U64(3)]
        );
        table.delete(&Value::U64(1));
        assert!(table.lookup(city, &"oslo".into()).is_empty());
        assert_eq!(table.len(), 2);
        // The scan fallback agrees with the index.
        assert!(!table.is_indexed(0));
        assert_eq!(table.lookup(0, &Value::U64(3)), [&Value::U64(3)]);
    }

    #[test]
    fn sorted_rows_load_with_their_index_and_disorder_is_refused() {
        let mut table = people();
        let rows = vec![person(1, "oslo"), person(2, "rome"), person(5, "oslo")];
        table.load_sorted(rows).unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(table.get(&Value::U64(2)), Some(&person(2, "rome")[..]));
        assert_eq!(
            table.lookup(1, &"oslo".into()),
            [&Value::U64(1), &Value::U64(5)]
        );
        for rows in [
            vec![person(2, "oslo"), person(1, "rome")],
            vec![person(1, "oslo"), person(1, "rome")],
            vec![person(1, "oslo"), vec![Value::U64(2)]],
        ] {
            let mut table = people();
            assert!(table.load_sorted(rows).is_err());
            assert_eq!(table.len(), 0);
        }
    }

    #[test]
    fn set_indexes_rebuilds() {
        let mut table = people();
        table.put(person(1, "oslo"));
        let declared = Schema::clone(table.schema()).with_extras_of(
            &Schema::new("people", 1)
                .column("id", ColumnType::U64)
                .index("age"),
        );
        table.set_extras(&declared).unwrap();
        assert!(!table.is_indexed(1));
        assert!(table.is_indexed(2));
        assert_eq!(table.lookup(2, &Value::Null), [&Value::U64(1)]);
    }

    #[test]
    fn rows_are_checked_against_the_schema() {
        let table = people();
        let ok = Row::new().with("id", 1u64).with("city", "oslo");
        assert_eq!(table.to_values(ok).unwrap(), person(1, "oslo"));
        let missing = Row::new().with("id", 1u64);
        assert!(matches!(
            table.to_values(missing),
            Err(Error::MissingValue { column, .. }) if column == "city"
        ));
        let wrong = Row::new().with("id", 1u64).with("city", 5u64);
        assert!(matches!(
            table.to_values(wrong),
            Err(Error::TypeMismatch { column, .. }) if column == "city"
        ));
        let extra = Row::new()
            .with("id", 1u64)
            .with("city", "x")
            .with("zip", 1u64);
        assert!(matches!(
            table.to_values(extra),
            Err(Error::NoSuchColumn { column, .. }) if column == "zip"
        ));
        assert!(table.check_values(&person(1, "x")).is_ok());
        assert!(table.check_values(&[Value::U64(1)]).is_err());
    }
}
