//! A transaction as one log record: `Tx` collects changes, then they are encoded, appended,
//! decoded on replay and applied to the tables the same way in both cases.

use std::collections::BTreeMap;

use super::codec::{self, Reader};
use super::error::{Error, Result};
use super::migrate::AuditEntry;
use super::schema::Schema;
use super::table::Tables;
use super::value::{Row, Value};
use crate::Lsn;

/// First byte of every runtime record: what the rest is.
pub(crate) const KIND_TRANSACTION: u8 = 1;
pub(crate) const KIND_SCHEMA: u8 = 2;
pub(crate) const KIND_AUDIT: u8 = 3;

const OP_INSERT: u8 = 1;
const OP_UPDATE: u8 = 2;
const OP_DELETE: u8 = 3;

/// One change. `table` indexes the transaction's table list (its record's dictionary).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Insert { table: usize, values: Vec<Value> },
    Update { table: usize, values: Vec<Value> },
    Delete { table: usize, key: Value },
}

impl Op {
    fn table(&self) -> usize {
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
#[derive(Debug)]
pub struct Tx<'a> {
    committed: &'a Tables,
    changes: Changes,
    /// Latest change per (table id, key): the index of its `Op` (`None` once deleted).
    overlay: BTreeMap<(usize, Value), Option<usize>>,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(committed: &'a Tables) -> Tx<'a> {
        Tx {
            committed,
            changes: Changes::default(),
            overlay: BTreeMap::new(),
        }
    }

    pub(crate) fn into_changes(self) -> Changes {
        self.changes
    }

    /// Inserts a row. Columns left out are `Null` (they must be nullable).
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::DuplicateKey`, or a row the schema rejects
    /// (`Error::MissingValue`, `Error::TypeMismatch`, `Error::NoSuchColumn`).
    pub fn insert(&mut self, table: &str, row: Row) -> Result<()> {
        let id = self.committed.id(table)?;
        let values = self.committed.get(id).to_values(row)?;
        let key = self.committed.get(id).key_of(&values).clone();
        if self.current(id, &key).is_some() {
            return Err(Error::DuplicateKey {
                table: table.to_owned(),
                key: key.to_string(),
            });
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

    /// Replaces the row with the same primary key.
    ///
    /// # Errors
    /// `Error::NotFound` when the table holds no row with that key; otherwise as `insert`.
    pub fn update(&mut self, table: &str, row: Row) -> Result<()> {
        let id = self.committed.id(table)?;
        let values = self.committed.get(id).to_values(row)?;
        let key = self.committed.get(id).key_of(&values).clone();
        if self.current(id, &key).is_none() {
            return Err(Error::NotFound {
                table: table.to_owned(),
                key: key.to_string(),
            });
        }
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

    /// Deletes the row with primary key `key` and returns it.
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NotFound`; `Error::TypeMismatch` for a key that cannot
    /// be of the key column's type.
    pub fn delete(&mut self, table: &str, key: impl Into<Value>) -> Result<Row> {
        let id = self.committed.id(table)?;
        let key = self.key(id, key.into())?;
        let Some(values) = self.current(id, &key) else {
            return Err(Error::NotFound {
                table: table.to_owned(),
                key: key.to_string(),
            });
        };
        let row = self.committed.get(id).to_row(values);
        let local = self.local(id);
        let op = Op::Delete {
            table: local,
            key: key.clone(),
        };
        self.changes.ops.push(op);
        self.overlay.insert((id, key), None);
        Ok(row)
    }

    /// The row with primary key `key`, as this transaction sees it.
    ///
    /// # Errors
    /// `Error::NoSuchTable`; `Error::TypeMismatch` for a key that cannot be of the key
    /// column's type (`get("accounts", "1")` on a `U64` key), rather than no row.
    pub fn get(&self, table: &str, key: impl Into<Value>) -> Result<Option<Row>> {
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
    pub fn scan(&self, table: &str) -> Result<Vec<Row>> {
        let id = self.committed.id(table)?;
        let t = self.committed.get(id);
        let mut rows: BTreeMap<&Value, &[Value]> = t.iter().map(|v| (t.key_of(v), v)).collect();
        for ((table_id, key), op) in &self.overlay {
            if *table_id != id {
                continue;
            }
            match op {
                Some(i) => rows.insert(key, self.op_values(*i)),
                None => rows.remove(key),
            };
        }
        Ok(rows.values().map(|values| t.to_row(values)).collect())
    }

    /// The rows whose `column` equals `value`, in key order, as this transaction sees them
    /// (through the column's secondary index when it has one).
    ///
    /// # Errors
    /// `Error::NoSuchTable`, `Error::NoSuchColumn`; `Error::TypeMismatch` for a value that
    /// cannot be of the column's type.
    pub fn lookup(&self, table: &str, column: &str, value: impl Into<Value>) -> Result<Vec<Row>> {
        let id = self.committed.id(table)?;
        let t = self.committed.get(id);
        let position = t
            .schema()
            .position(column)
            .ok_or_else(|| Error::NoSuchColumn {
                table: table.to_owned(),
                column: column.to_owned(),
            })?;
        let value =
            super::table::conform(t.schema(), &t.schema().columns()[position], value.into())?;
        let mut keys: Vec<&Value> = t.lookup(position, &value);
        keys.extend(
            self.overlay
                .keys()
                .filter(|(table_id, _)| *table_id == id)
                .map(|(_, key)| key),
        );
        keys.sort();
        keys.dedup();
        Ok(keys
            .into_iter()
            .filter_map(|key| self.current(id, key))
            .filter(|values| values[position] == value)
            .map(|values| t.to_row(values))
            .collect())
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
        self.overlay.insert((id, key), Some(self.changes.ops.len()));
        self.changes.ops.push(op);
    }
}

/// Encodes a transaction into `out` (cleared first). Its exact length is computed first and
/// reserved at once, so encoding allocates at most once, and not at all when `out` is a
/// reused buffer large enough.
pub(crate) fn encode_transaction(out: &mut Vec<u8>, tables: &Tables, changes: &Changes) {
    let names = changes
        .tables
        .iter()
        .map(|&id| tables.get(id).schema().name().as_bytes());
    let len = 1
        + codec::varint_len(changes.tables.len() as u64)
        + names.clone().map(codec::bytes_len).sum::<usize>()
        + codec::varint_len(changes.ops.len() as u64)
        + changes.ops.iter().map(op_len).sum::<usize>();
    out.clear();
    out.reserve(len);
    out.push(KIND_TRANSACTION);
    codec::put_varint(out, changes.tables.len() as u64);
    for name in names {
        codec::put_bytes(out, name);
    }
    codec::put_varint(out, changes.ops.len() as u64);
    for op in &changes.ops {
        put_op(out, op);
    }
    debug_assert_eq!(out.len(), len);
}

/// A transaction record inserting `rows` (values in column order) into table `name`, as a
/// migration writes them.
pub(crate) fn encode_inserts(name: &str, rows: &[&[Value]]) -> Vec<u8> {
    let len = 1
        + codec::varint_len(1)
        + codec::bytes_len(name.as_bytes())
        + codec::varint_len(rows.len() as u64)
        + rows.iter().map(|v| 2 + codec::values_len(v)).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(KIND_TRANSACTION);
    codec::put_varint(&mut out, 1);
    codec::put_bytes(&mut out, name.as_bytes());
    codec::put_varint(&mut out, rows.len() as u64);
    for values in rows {
        out.push(OP_INSERT);
        codec::put_varint(&mut out, 0);
        codec::put_values(&mut out, values);
    }
    debug_assert_eq!(out.len(), len);
    out
}

fn op_len(op: &Op) -> usize {
    1 + codec::varint_len(op.table() as u64)
        + match op {
            Op::Insert { values, .. } | Op::Update { values, .. } => codec::values_len(values),
            Op::Delete { key, .. } => codec::value_len(key),
        }
}

fn put_op(out: &mut Vec<u8>, op: &Op) {
    let tag = match op {
        Op::Insert { .. } => OP_INSERT,
        Op::Update { .. } => OP_UPDATE,
        Op::Delete { .. } => OP_DELETE,
    };
    out.push(tag);
    codec::put_varint(out, op.table() as u64);
    match op {
        Op::Insert { values, .. } | Op::Update { values, .. } => codec::put_values(out, values),
        Op::Delete { key, .. } => codec::put_value(out, key),
    }
}

/// A schema record: the table is defined anew, empty; a migration's rows follow it in the
/// same batch.
pub(crate) fn encode_schema(schema: &Schema) -> Vec<u8> {
    let mut out = vec![KIND_SCHEMA];
    codec::put_schema(&mut out, schema);
    out
}

/// A decoded runtime record.
#[derive(Debug)]
pub(crate) enum Decoded {
    Transaction { tables: Vec<String>, ops: Vec<Op> },
    Schema(Schema),
    Audit(AuditEntry),
}

/// Decodes one runtime record read back from the log.
///
/// # Errors
/// `Error::Decode` naming the LSN.
pub(crate) fn decode(lsn: Lsn, payload: &[u8]) -> Result<Decoded> {
    decode_inner(lsn, payload).map_err(|reason| Error::Decode { lsn, reason })
}

fn decode_inner(lsn: Lsn, payload: &[u8]) -> codec::DecodeResult<Decoded> {
    let mut reader = Reader::new(payload);
    let decoded = match reader.u8()? {
        KIND_TRANSACTION => {
            let n = reader.count()?;
            let mut tables = Vec::with_capacity(n);
            for _ in 0..n {
                tables.push(reader.str()?.to_owned());
            }
            let n = reader.count()?;
            let mut ops = Vec::with_capacity(n);
            for _ in 0..n {
                ops.push(read_op(&mut reader, tables.len())?);
            }
            Decoded::Transaction { tables, ops }
        }
        KIND_SCHEMA => Decoded::Schema(reader.schema()?),
        KIND_AUDIT => Decoded::Audit(AuditEntry::decode(&mut reader, lsn)?),
        kind => return Err(format!("unknown record kind {kind}")),
    };
    if !reader.is_empty() {
        return Err("bytes left after the record".into());
    }
    Ok(decoded)
}

fn read_op(reader: &mut Reader<'_>, tables: usize) -> codec::DecodeResult<Op> {
    let tag = reader.u8()?;
    let table = reader.count()?;
    if table >= tables {
        return Err(format!("table index {table} of {tables}"));
    }
    Ok(match tag {
        OP_INSERT => Op::Insert {
            table,
            values: reader.values()?,
        },
        OP_UPDATE => Op::Update {
            table,
            values: reader.values()?,
        },
        OP_DELETE => Op::Delete {
            table,
            key: reader.value()?,
        },
        _ => return Err(format!("unknown change tag {tag}")),
    })
}

/// Maps a decoded transaction's table names to table ids.
///
/// # Errors
/// `Error::Decode` for a table no schema record defined.
pub(crate) fn resolve(
    lsn: Lsn,
    tables: &Tables,
    names: &[String],
    ops: Vec<Op>,
) -> Result<Changes> {
    let ids = names
        .iter()
        .map(|name| {
            tables.id(name).map_err(|_| Error::Decode {
                lsn,
                reason: format!("change to table {name:?}, which no schema record defines"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Changes { tables: ids, ops })
}

/// Checks replayed changes against the tables before applying them: value counts and types.
///
/// # Errors
/// `Error::Decode` naming the LSN.
pub(crate) fn check(lsn: Lsn, tables: &Tables, changes: &Changes) -> Result<()> {
    for op in &changes.ops {
        let table = tables.get(changes.tables[op.table()]);
        let checked = match op {
            Op::Insert { values, .. } | Op::Update { values, .. } => table.check_values(values),
            Op::Delete { .. } => Ok(()),
        };
        checked.map_err(|reason| Error::Decode { lsn, reason })?;
    }
    Ok(())
}

/// Applies committed changes to the tables, in order. They were checked when the
/// transaction was built (or by `check` on replay), so this cannot fail.
pub(crate) fn apply(tables: &mut Tables, changes: Changes) {
    for op in changes.ops {
        match op {
            Op::Insert { table, values } | Op::Update { table, values } => {
                tables.get_mut(changes.tables[table]).put(values);
            }
            Op::Delete { table, key } => {
                tables.get_mut(changes.tables[table]).delete(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ColumnType;

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
        tx.insert("a", row(1, "x")).unwrap();
        assert!(matches!(
            tx.insert("a", row(1, "y")),
            Err(Error::DuplicateKey { .. })
        ));
        tx.update("a", row(1, "z")).unwrap();
        assert_eq!(tx.get("a", 1u64).unwrap(), Some(row(1, "z")));
        tx.insert("b", Row::new().with("k", "q")).unwrap();
        assert_eq!(tx.scan("a").unwrap(), [row(1, "z")]);
        assert_eq!(tx.lookup("a", "v", "z").unwrap(), [row(1, "z")]);
        assert_eq!(tx.delete("a", 1u64).unwrap(), row(1, "z"));
        assert_eq!(tx.get("a", 1u64).unwrap(), None);
        assert!(matches!(
            tx.update("a", row(1, "w")),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(tx.get("c", 1u64), Err(Error::NoSuchTable { .. })));
        assert_eq!(tx.into_changes().ops.len(), 4);
    }

    #[test]
    fn encoded_transaction_decodes_and_applies_identically() {
        let mut tables = tables();
        let mut tx = Tx::new(&tables);
        tx.insert("a", row(1, "x")).unwrap();
        tx.insert("b", Row::new().with("k", "q")).unwrap();
        tx.insert("a", row(2, "y")).unwrap();
        tx.delete("a", 1u64).unwrap();
        let changes = tx.into_changes();
        let mut out = Vec::new();
        encode_transaction(&mut out, &tables, &changes);
        let capacity = out.capacity();
        encode_transaction(&mut out, &tables, &changes);
        assert_eq!(out.capacity(), capacity, "a reused buffer does not grow");
        let Decoded::Transaction { tables: names, ops } = decode(Lsn(1), &out).unwrap() else {
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
        tx.insert("a", row(1, "x")).unwrap();
        let mut out = Vec::new();
        encode_transaction(&mut out, &tables, &tx.into_changes());
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
