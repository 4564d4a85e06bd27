//! A transaction as one log record: `Tx` collects changes, then they are encoded, appended,
//! decoded on replay and applied to the tables the same way in both cases.

use std::collections::{BTreeMap, BTreeSet};

use super::error::{Error, Result};
use super::schema::ColumnType;
use super::table::Tables;
use super::typed::{self, Col, Field, Table};
use super::value::{Row, Value};

/// One change. `table` indexes the transaction's table list (its record's dictionary).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Insert { table: usize, values: Vec<Value> },
    Update { table: usize, values: Vec<Value> },
    Delete { table: usize, key: Value },
}

impl Op {
    pub(crate) fn table(&self) -> usize {
        match self {
            Op::Insert { table, .. } | Op::Update { table, .. } | Op::Delete { table, .. } => {
                *table
            }
        }
    }
}

/// The changes of one transaction: the tables they touch (runtime table ids) and the
/// changes in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Changes {
    pub tables: Vec<usize>,
    pub ops: Vec<Op>,
}

/// A transaction being built. Reads see the committed tables with this transaction's own
/// changes on top; nothing reaches the tables or the log until the closure returns `Ok`.
///
/// Typed rows ([`Table`]) go through `insert`, `update`, `delete`, `get`, `scan`, `find` and
/// `filter`; the dynamic API (`*_row`, `scan_rows`, `lookup_rows`) takes table names and
/// [`Row`]s, for tools and migrations.
#[derive(Debug)]
pub struct Tx<'a> {
    committed: &'a Tables,
    changes: Changes,
    /// Latest change per (table id, key): the index of its `Op` (`None` once deleted).
    overlay: BTreeMap<(usize, Value), Option<usize>>,
    /// Next `auto_inc` key of each table this transaction assigned one in.
    auto: Vec<(usize, u64)>,
    /// For unique columns: the keys of this transaction's rows holding each value, by (table
    /// id, column position, value), so a check costs a lookup, not a pass over its changes.
    holders: BTreeMap<(usize, usize, Value), BTreeSet<Value>>,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(committed: &'a Tables) -> Tx<'a> {
        Tx {
            committed,
            changes: Changes::default(),
            overlay: BTreeMap::new(),
            auto: Vec::new(),
            holders: BTreeMap::new(),
        }
    }

    pub(crate) fn into_changes(self) -> Changes {
        self.changes
    }

    /// Inserts a typed row and returns its key. With `auto_inc`, a key of 0 is replaced by
    /// the next one, assigned here.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::DuplicateKey`, `Error::UniqueViolation`;
    /// `Error::Conversion` when the table does not have the type's shape.
    pub fn insert<T: Table>(&mut self, row: T) -> Result<T::Key> {
        let id = self.typed_id::<T>()?;
        let mut values = row.into_values();
        self.check_typed(id, &values)?;
        let t = self.committed.get(id);
        let key_at = t.schema().key_position();
        if t.schema().is_auto_inc() && is_zero(&values[key_at]) {
            values[key_at] = self.assign_key(id)?;
        }
        // Converted before the row is staged: an error leaves the transaction as it was.
        let key = typed::field(T::NAME, t.schema().key_name(), Some(values[key_at].clone()))?;
        self.insert_values(id, values)?;
        Ok(key)
    }

    /// Replaces the typed row with the same key.
    ///
    /// # Errors
    /// `Error::NotFound` when the table holds no row with that key; otherwise as `insert`.
    pub fn update<T: Table>(&mut self, row: T) -> Result<()> {
        let id = self.typed_id::<T>()?;
        let values = row.into_values();
        self.check_typed(id, &values)?;
        self.update_values(id, values)
    }

    /// Deletes the row with key `key` and returns it.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NotFound`, `Error::Conversion`.
    pub fn delete<T: Table>(&mut self, key: &T::Key) -> Result<T> {
        let id = self.typed_id::<T>()?;
        let key = key.to_value();
        // Converted before the delete is staged: an error leaves the transaction as it was.
        let row = self
            .current(id, &key)
            .map(|values| T::from_values(values.to_vec()))
            .transpose()?;
        self.delete_key(id, key)?;
        Ok(row.expect("delete_key found the row"))
    }

    /// The typed row with key `key`, as this transaction sees it.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::Conversion`.
    pub fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T>> {
        let id = self.typed_id::<T>()?;
        self.current(id, &key.to_value())
            .map(|values| T::from_values(values.to_vec()))
            .transpose()
    }

    /// Every typed row, in key order, as this transaction sees them.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::Conversion`.
    pub fn scan<T: Table>(&self) -> Result<Vec<T>> {
        let id = self.typed_id::<T>()?;
        self.visible(id)
            .into_values()
            .map(|values| T::from_values(values.to_vec()))
            .collect()
    }

    /// The row whose column `column` (usually unique) holds `value`; the first in key order
    /// when several do.
    ///
    /// # Errors
    /// As [`Tx::filter`].
    pub fn find<T: Table, V: Field>(&self, column: Col<T, V>, value: &V) -> Result<Option<T>> {
        Ok(self.filter(column, value)?.into_iter().next())
    }

    /// The rows whose column `column` holds `value`, in key order (through the column's index
    /// when it has one).
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NoSuchColumn`, `Error::Conversion`.
    pub fn filter<T: Table, V: Field>(&self, column: Col<T, V>, value: &V) -> Result<Vec<T>> {
        let id = self.typed_id::<T>()?;
        let position = self.position(id, column.name())?;
        self.matching(id, position, &value.to_value())
            .into_iter()
            .map(|values| T::from_values(values.to_vec()))
            .collect()
    }

    /// Inserts a row. Columns left out are `Null` (they must be nullable); an `auto_inc` key
    /// left out is assigned.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::DuplicateKey`, `Error::UniqueViolation`, or a row the
    /// schema rejects (`Error::MissingValue`, `Error::TypeMismatch`, `Error::NoSuchColumn`).
    pub fn insert_row(&mut self, table: &str, mut row: Row) -> Result<()> {
        let id = self.committed.id(table)?;
        let schema = self.committed.get(id).schema();
        if schema.is_auto_inc() && row.get(schema.key_name()).is_none_or(Value::is_null) {
            let key = self.assign_key(id)?;
            row.set(schema.key_name(), key);
        }
        let values = self.committed.get(id).to_values(row)?;
        self.insert_values(id, values)
    }

    /// Replaces the row with the same primary key.
    ///
    /// # Errors
    /// `Error::NotFound` when the table holds no row with that key; otherwise as
    /// `insert_row`.
    pub fn update_row(&mut self, table: &str, row: Row) -> Result<()> {
        let id = self.committed.id(table)?;
        let values = self.committed.get(id).to_values(row)?;
        self.update_values(id, values)
    }

    /// Deletes the row with primary key `key` and returns it.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NotFound`; `Error::TypeMismatch` for a key that cannot
    /// be of the key column's type.
    pub fn delete_row(&mut self, table: &str, key: impl Into<Value>) -> Result<Row> {
        let id = self.committed.id(table)?;
        let key = self.key(id, key.into())?;
        let values = self.delete_key(id, key)?;
        Ok(self.committed.get(id).to_row(&values))
    }

    /// The row with primary key `key`, as this transaction sees it.
    ///
    /// # Errors
    /// `Error::NoSuchTable`; `Error::TypeMismatch` for a key that cannot be of the key
    /// column's type (`get_row("accounts", "1")` on a `U64` key), rather than no row.
    pub fn get_row(&self, table: &str, key: impl Into<Value>) -> Result<Option<Row>> {
        let id = self.committed.id(table)?;
        let key = self.key(id, key.into())?;
        Ok(self
            .current(id, &key)
            .map(|values| self.committed.get(id).to_row(values)))
    }

    /// Every row of the table in key order, as this transaction sees it.
    ///
    /// # Errors
    /// `Error::NoSuchTable`.
    pub fn scan_rows(&self, table: &str) -> Result<Vec<Row>> {
        let id = self.committed.id(table)?;
        let t = self.committed.get(id);
        Ok(self
            .visible(id)
            .into_values()
            .map(|values| t.to_row(values))
            .collect())
    }

    /// The rows whose `column` equals `value`, in key order, as this transaction sees them
    /// (through the column's secondary index when it has one).
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NoSuchColumn`; `Error::TypeMismatch` for a value that
    /// cannot be of the column's type.
    pub fn lookup_rows(
        &self,
        table: &str,
        column: &str,
        value: impl Into<Value>,
    ) -> Result<Vec<Row>> {
        let id = self.committed.id(table)?;
        let t = self.committed.get(id);
        let position = self.position(id, column)?;
        let value =
            super::table::conform(t.schema(), &t.schema().columns()[position], value.into())?;
        Ok(self
            .matching(id, position, &value)
            .into_iter()
            .map(|values| t.to_row(values))
            .collect())
    }

    /// Every row of table `id` by key, as this transaction sees them.
    fn visible(&self, id: usize) -> BTreeMap<&Value, &[Value]> {
        let t = self.committed.get(id);
        let mut rows: BTreeMap<&Value, &[Value]> = t.iter().map(|v| (t.key_of(v), v)).collect();
        for ((table_id, key), op) in self.overlay.range((id, Value::Null)..) {
            if *table_id != id {
                break;
            }
            match op {
                Some(i) => rows.insert(key, self.op_values(*i)),
                None => rows.remove(key),
            };
        }
        rows
    }

    /// The rows of table `id` whose column `position` holds `value`, in key order.
    fn matching(&self, id: usize, position: usize, value: &Value) -> Vec<&[Value]> {
        let mut keys: Vec<&Value> = self.committed.get(id).lookup(position, value);
        keys.extend(
            self.overlay
                .range((id, Value::Null)..)
                .take_while(|((table_id, _), _)| *table_id == id)
                .map(|((_, key), _)| key),
        );
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|key| self.current(id, key))
            .filter(|values| values[position] == *value)
            .collect()
    }

    fn position(&self, id: usize, column: &str) -> Result<usize> {
        let schema = self.committed.get(id).schema();
        schema.position(column).ok_or_else(|| Error::NoSuchColumn {
            table: schema.name().to_owned(),
            column: column.to_owned(),
        })
    }

    /// The id of `T`'s table, whose columns must be `T`'s, by name and in order.
    fn typed_id<T: Table>(&self) -> Result<usize> {
        let id = self.committed.id(T::NAME)?;
        let schema = self.committed.get(id).schema();
        let names = schema.columns().iter().map(|c| c.name.as_str());
        if !names.eq(T::COLUMNS.iter().copied()) {
            let have: Vec<&str> = schema.columns().iter().map(|c| c.name.as_str()).collect();
            return Err(Error::Conversion {
                table: T::NAME.to_owned(),
                column: String::new(),
                reason: format!(
                    "the table's columns are ({}), its type's ({})",
                    have.join(", "),
                    T::COLUMNS.join(", ")
                ),
            });
        }
        Ok(id)
    }

    /// Typed values fit table `id`: as many as its columns, each of its column's type.
    fn check_typed(&self, id: usize, values: &[Value]) -> Result<()> {
        let t = self.committed.get(id);
        t.check_values(values).map_err(|reason| Error::Conversion {
            table: t.schema().name().to_owned(),
            column: String::new(),
            reason: format!("{reason} (the type does not have the table's shape)"),
        })
    }

    /// The next `auto_inc` key of table `id`, as the key column's type.
    ///
    /// # Errors
    /// `Error::Conversion` when the key column has no more keys to give.
    fn assign_key(&mut self, id: usize) -> Result<Value> {
        let t = self.committed.get(id);
        let slot = self.auto_slot(id);
        let next = self.auto[slot].1;
        let key = t.schema().columns()[t.schema().key_position()].ty;
        let value = match key {
            ColumnType::I64 => i64::try_from(next).ok().map(Value::I64),
            _ => (next < u64::MAX).then_some(Value::U64(next)),
        };
        let value = value.ok_or_else(|| Error::Conversion {
            table: t.schema().name().to_owned(),
            column: t.schema().key_name().to_owned(),
            reason: "no auto_inc key is left".into(),
        })?;
        self.auto[slot].1 = next + 1;
        Ok(value)
    }

    /// The index in `auto` of table `id`'s next key, added from the table's.
    fn auto_slot(&mut self, id: usize) -> usize {
        if let Some(slot) = self.auto.iter().position(|(table, _)| *table == id) {
            return slot;
        }
        self.auto.push((id, self.committed.get(id).next_auto()));
        self.auto.len() - 1
    }

    /// Inserts checked values into table `id`.
    fn insert_values(&mut self, id: usize, values: Vec<Value>) -> Result<()> {
        let t = self.committed.get(id);
        let key = t.key_of(&values).clone();
        if self.current(id, &key).is_some() {
            return Err(Error::DuplicateKey {
                table: t.schema().name().to_owned(),
                key: key.to_string(),
            });
        }
        self.check_unique(id, &key, &values)?;
        if t.schema().is_auto_inc() {
            let slot = self.auto_slot(id);
            let held = match key {
                Value::U64(k) => k,
                Value::I64(k) => u64::try_from(k).unwrap_or(0),
                _ => 0,
            };
            self.auto[slot].1 = self.auto[slot].1.max(held.saturating_add(1));
        }
        let local = self.local(id);
        self.push(
            id,
            key,
            Op::Insert {
                table: local,
                values,
            },
        );
        Ok(())
    }

    /// Replaces the row of table `id` that has the key of `values` (checked values).
    fn update_values(&mut self, id: usize, values: Vec<Value>) -> Result<()> {
        let t = self.committed.get(id);
        let key = t.key_of(&values).clone();
        if self.current(id, &key).is_none() {
            return Err(Error::NotFound {
                table: t.schema().name().to_owned(),
                key: key.to_string(),
            });
        }
        self.check_unique(id, &key, &values)?;
        let local = self.local(id);
        self.push(
            id,
            key,
            Op::Update {
                table: local,
                values,
            },
        );
        Ok(())
    }

    /// Deletes the row of table `id` with key `key` (of the key's type); returns its values.
    fn delete_key(&mut self, id: usize, key: Value) -> Result<Vec<Value>> {
        let Some(values) = self.current(id, &key).map(<[Value]>::to_vec) else {
            return Err(Error::NotFound {
                table: self.committed.get(id).schema().name().to_owned(),
                key: key.to_string(),
            });
        };
        let local = self.local(id);
        let op = Op::Delete {
            table: local,
            key: key.clone(),
        };
        self.changes.ops.push(op);
        self.hold(id, &key, Some(&values), None);
        self.overlay.insert((id, key), None);
        Ok(values)
    }

    /// No other row of table `id` than `key`'s holds one of `values`' unique values.
    fn check_unique(&self, id: usize, key: &Value, values: &[Value]) -> Result<()> {
        let t = self.committed.get(id);
        for &position in t.unique_positions() {
            let value = &values[position];
            if value.is_null() {
                continue;
            }
            // Held by a row this transaction wrote, or by a committed row it left alone.
            let pending = self
                .holders
                .get(&(id, position, value.clone()))
                .is_some_and(|keys| keys.iter().any(|k| k != key));
            let committed = t
                .lookup(position, value)
                .into_iter()
                .any(|k| k != key && !self.overlay.contains_key(&(id, k.clone())));
            let taken = pending || committed;
            if taken {
                return Err(Error::UniqueViolation {
                    table: t.schema().name().to_owned(),
                    column: t.schema().columns()[position].name.clone(),
                    value: value.to_string(),
                });
            }
        }
        Ok(())
    }

    /// `key` as table `id`'s key column's type.
    fn key(&self, id: usize, key: Value) -> Result<Value> {
        let schema = self.committed.get(id).schema();
        super::table::conform(schema, &schema.columns()[schema.key_position()], key)
    }

    fn current(&self, id: usize, key: &Value) -> Option<&[Value]> {
        match self.overlay.get(&(id, key.clone())) {
            Some(Some(i)) => Some(self.op_values(*i)),
            Some(None) => None,
            None => self.committed.get(id).get(key),
        }
    }

    fn op_values(&self, i: usize) -> &[Value] {
        match &self.changes.ops[i] {
            Op::Insert { values, .. } | Op::Update { values, .. } => values,
            Op::Delete { .. } => unreachable!("the overlay points deletes to None"),
        }
    }

    fn local(&mut self, id: usize) -> usize {
        if let Some(local) = self.changes.tables.iter().position(|&t| t == id) {
            return local;
        }
        self.changes.tables.push(id);
        self.changes.tables.len() - 1
    }

    fn push(&mut self, id: usize, key: Value, op: Op) {
        if !self.committed.get(id).unique_positions().is_empty() {
            let old = self.current(id, &key).map(<[Value]>::to_vec);
            let new = match &op {
                Op::Insert { values, .. } | Op::Update { values, .. } => Some(values.clone()),
                Op::Delete { .. } => None,
            };
            self.hold(id, &key, old.as_deref(), new.as_deref());
        }
        self.overlay.insert((id, key), Some(self.changes.ops.len()));
        self.changes.ops.push(op);
    }

    /// Moves `key`'s unique values in `holders` from its `old` row to its `new` one.
    fn hold(&mut self, id: usize, key: &Value, old: Option<&[Value]>, new: Option<&[Value]>) {
        for &position in self.committed.get(id).unique_positions() {
            if let Some(old) = old {
                let slot = (id, position, old[position].clone());
                if let Some(keys) = self.holders.get_mut(&slot) {
                    keys.remove(key);
                }
            }
            if let Some(new) = new
                && !new[position].is_null()
            {
                let slot = (id, position, new[position].clone());
                self.holders.entry(slot).or_default().insert(key.clone());
            }
        }
    }
}

/// Access by values in column order, for modules (whose rows come encoded, without names).
#[cfg(feature = "wasm")]
impl Tx<'_> {
    /// Inserts a row given as values in column order (a module's), converted to the
    /// columns' types as rows are.
    pub(crate) fn insert_values_of(&mut self, table: &str, values: Vec<Value>) -> Result<()> {
        let id = self.committed.id(table)?;
        let values = self.conform_values(id, values)?;
        self.insert_values(id, values)
    }

    /// Replaces the row with the key of `values` (in column order).
    pub(crate) fn update_values_of(&mut self, table: &str, values: Vec<Value>) -> Result<()> {
        let id = self.committed.id(table)?;
        let values = self.conform_values(id, values)?;
        self.update_values(id, values)
    }

    /// The row with key `key`, as values in column order.
    pub(crate) fn get_values_of(&self, table: &str, key: Value) -> Result<Option<Vec<Value>>> {
        let id = self.committed.id(table)?;
        let key = self.key(id, key)?;
        Ok(self.current(id, &key).map(<[Value]>::to_vec))
    }

    /// Every row, in key order, as values in column order.
    pub(crate) fn scan_values_of(&self, table: &str) -> Result<Vec<Vec<Value>>> {
        let id = self.committed.id(table)?;
        Ok(self
            .visible(id)
            .into_values()
            .map(<[Value]>::to_vec)
            .collect())
    }

    /// The rows whose `column` holds `value`, in key order, as values in column order.
    pub(crate) fn filter_values_of(
        &self,
        table: &str,
        column: &str,
        value: Value,
    ) -> Result<Vec<Vec<Value>>> {
        let id = self.committed.id(table)?;
        let t = self.committed.get(id);
        let position = self.position(id, column)?;
        let value = super::table::conform(t.schema(), &t.schema().columns()[position], value)?;
        Ok(self
            .matching(id, position, &value)
            .into_iter()
            .map(<[Value]>::to_vec)
            .collect())
    }

    /// The rows a scan of `table` (with `column`, a filter by it) examines: the committed
    /// ones unless an index answers, and this transaction's. What a module is charged first.
    pub(crate) fn rows_examined(&self, table: &str, column: Option<&str>) -> usize {
        let Ok(id) = self.committed.id(table) else {
            return 0;
        };
        let t = self.committed.get(id);
        let indexed = column
            .and_then(|c| t.schema().position(c))
            .is_some_and(|position| t.is_indexed(position));
        let pending = self
            .overlay
            .range((id, Value::Null)..)
            .take_while(|((table_id, _), _)| *table_id == id)
            .count();
        if indexed { pending } else { t.len() + pending }
    }

    /// `values` (in column order) converted to table `id`'s column types and checked.
    fn conform_values(&self, id: usize, values: Vec<Value>) -> Result<Vec<Value>> {
        let schema = self.committed.get(id).schema();
        if values.len() != schema.columns().len() {
            return Err(Error::Conversion {
                table: schema.name().to_owned(),
                column: String::new(),
                reason: format!(
                    "{} values for {} columns",
                    values.len(),
                    schema.columns().len()
                ),
            });
        }
        schema
            .columns()
            .iter()
            .zip(values)
            .map(|(column, value)| {
                if value.is_null() {
                    return if column.nullable {
                        Ok(value)
                    } else {
                        Err(Error::MissingValue {
                            table: schema.name().to_owned(),
                            column: column.name.clone(),
                        })
                    };
                }
                super::table::conform(schema, column, value)
            })
            .collect()
    }
}

/// True for an integer 0: the key an `auto_inc` insert replaces.
fn is_zero(value: &Value) -> bool {
    matches!(value, Value::U64(0) | Value::I64(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lsn;
    use crate::runtime::record::{Decoded, apply, check, decode, encode_transaction, resolve};
    use crate::runtime::schema::Schema;

    fn tables() -> Tables {
        let mut tables = Tables::default();
        tables.define(
            Schema::new("a", 1)
                .column("k", ColumnType::U64)
                .column("v", ColumnType::Str),
        );
        tables.define(Schema::new("b", 1).column("k", ColumnType::Str));
        tables
    }

    fn row(k: u64, v: &str) -> Row {
        Row::new().with("k", k).with("v", v)
    }

    #[test]
    fn tx_sees_its_own_changes() {
        let tables = tables();
        let mut tx = Tx::new(&tables);
        tx.insert_row("a", row(1, "x")).unwrap();
        assert!(matches!(
            tx.insert_row("a", row(1, "y")),
            Err(Error::DuplicateKey { .. })
        ));
        tx.update_row("a", row(1, "z")).unwrap();
        assert_eq!(tx.get_row("a", 1u64).unwrap(), Some(row(1, "z")));
        tx.insert_row("b", Row::new().with("k", "q")).unwrap();
        assert_eq!(tx.scan_rows("a").unwrap(), [row(1, "z")]);
        assert_eq!(tx.lookup_rows("a", "v", "z").unwrap(), [row(1, "z")]);
        assert_eq!(tx.delete_row("a", 1u64).unwrap(), row(1, "z"));
        assert_eq!(tx.get_row("a", 1u64).unwrap(), None);
        assert!(matches!(
            tx.update_row("a", row(1, "w")),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            tx.get_row("c", 1u64),
            Err(Error::NoSuchTable { .. })
        ));
        assert_eq!(tx.into_changes().ops.len(), 4);
    }

    #[test]
    fn encoded_transaction_decodes_and_applies_identically() {
        let mut tables = tables();
        let mut tx = Tx::new(&tables);
        tx.insert_row("a", row(1, "x")).unwrap();
        tx.insert_row("b", Row::new().with("k", "q")).unwrap();
        tx.insert_row("a", row(2, "y")).unwrap();
        tx.delete_row("a", 1u64).unwrap();
        let changes = tx.into_changes();
        let mut out = Vec::new();
        encode_transaction(&mut out, &tables, &changes, None);
        let capacity = out.capacity();
        encode_transaction(&mut out, &tables, &changes, None);
        assert_eq!(out.capacity(), capacity, "a reused buffer does not grow");
        let Decoded::Transaction {
            tables: names, ops, ..
        } = decode(Lsn(1), &out).unwrap()
        else {
            panic!("not a transaction");
        };
        assert_eq!(names, ["a", "b"]);
        assert_eq!(ops, changes.ops);
        let replayed = resolve(Lsn(1), &tables, &names, ops).unwrap();
        check(Lsn(1), &tables, &replayed).unwrap();
        apply(&mut tables, replayed);
        let a = tables.named("a").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a.get(&Value::U64(2)).unwrap()[1], Value::from("y"));
        assert_eq!(tables.named("b").unwrap().len(), 1);
    }

    #[test]
    fn damaged_records_are_decode_errors() {
        let tables = tables();
        let mut tx = Tx::new(&tables);
        tx.insert_row("a", row(1, "x")).unwrap();
        let mut out = Vec::new();
        encode_transaction(&mut out, &tables, &tx.into_changes(), None);
        for cut in 0..out.len() {
            assert!(decode(Lsn(9), &out[..cut]).is_err());
        }
        out.push(0);
        assert!(matches!(
            decode(Lsn(9), &out),
            Err(Error::Decode { lsn: Lsn(9), .. })
        ));
        assert!(decode(Lsn(9), &[77]).is_err());
    }
}
