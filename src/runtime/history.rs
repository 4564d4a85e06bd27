//! What a runtime's log says happened, record by record: each transaction's changes with the
//! rows before and after, the reducer call that made it, schemas and migrations. Read-only;
//! needs no code of the application (the log defines its tables).
//!
//! ```
//! use interstice::runtime::{ColumnType, History, Row, Runtime, RuntimeConfig, Schema};
//! # let dir = tempfile::tempdir().unwrap();
//! let schema = Schema::new("accounts", 1)
//!     .column("id", ColumnType::U64)
//!     .column("balance", ColumnType::I64);
//! let runtime = Runtime::open(RuntimeConfig::new(dir.path()).schema(schema))?;
//! let account = |balance: i64| Row::new().with("id", 1).with("balance", balance);
//! runtime.transact(|tx| tx.insert_row("accounts", account(100)))?;
//! runtime.transact(|tx| tx.update_row("accounts", account(90)))?;
//! runtime.close()?;
//!
//! let mut lines = Vec::new();
//! History::open(dir.path())?.walk(interstice::Lsn::FIRST, |entry| {
//!     lines.push(entry.to_string());
//!     Ok(true)
//! })?;
//! assert_eq!(lines[2], "LSN 3 transaction: accounts 1 balance 100 -> 90");
//! # Ok::<(), interstice::runtime::Error>(())
//! ```

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value as Json, json};

use super::error::{Error, Result};
use super::migrate::AuditEntry;
use super::record::{self, Replayed};
use super::reducer::CallInfo;
use super::schema::Schema;
use super::snapshot;
use super::subscribe::ChangeKind;
use super::table::Tables;
use super::txn::Op;
use super::value::{Row, Value};
use crate::{Log, Lsn, Options};

/// A runtime's log opened to be read as history.
#[derive(Debug)]
pub struct History {
    log: Log,
    tables: Tables,
    /// The snapshot the tables start from (`None`: the log starts at its first record).
    base: Option<Lsn>,
}

/// One record, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The record's LSN.
    pub lsn: Lsn,
    /// What it holds.
    pub kind: EntryKind,
}

/// What a record holds.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryKind {
    /// A transaction: a reducer's call (`call`), or a plain one.
    Transaction {
        /// The reducer call, if a reducer made it.
        call: Option<CallInfo>,
        /// Its changes, in order.
        changes: Vec<RowChange>,
    },
    /// A table defined (anew, empty; a migration's rows follow).
    Schema(Schema),
    /// A migration that ran.
    Audit(AuditEntry),
}

/// One change to one row, with the row before and after.
#[derive(Clone, Debug, PartialEq)]
pub struct RowChange {
    /// The table.
    pub table: String,
    /// Insert, update or delete.
    pub kind: ChangeKind,
    /// The row's key.
    pub key: Value,
    /// The row before (`None` for an insert).
    pub before: Option<Row>,
    /// The row after (`None` for a delete).
    pub after: Option<Row>,
}

impl History {
    /// Opens the runtime's log in `dir` read-only. The tables start empty when the log
    /// holds its first record, else from the oldest snapshot that the log continues.
    ///
    /// # Errors
    /// `Error::Log` (not a log, damaged...); `Error::SnapshotGap` when no snapshot covers
    /// the records the log no longer holds.
    pub fn open(dir: &Path) -> Result<History> {
        let log = Log::open_read_only(dir, Options::default())?;
        let start = log.first_lsn().unwrap_or(Lsn::FIRST);
        if start <= Lsn::FIRST {
            return Ok(History {
                log,
                tables: Tables::default(),
                base: None,
            });
        }
        let last = log.last_lsn();
        let mut usable = snapshot::list(dir)?;
        usable.retain(|(lsn, _)| lsn.next() >= start && *lsn <= last);
        // Oldest first: the most records described.
        for (lsn, path) in usable.into_iter().rev() {
            if let Ok(snap) = snapshot::read(&path)
                && snap.lsn == lsn
            {
                return Ok(History {
                    log,
                    tables: snap.tables,
                    base: Some(lsn),
                });
            }
        }
        Err(Error::SnapshotGap {
            first_lsn: start,
            snapshot_lsn: Lsn::ZERO,
        })
    }

    /// The LSN of the snapshot the history starts from, if any: records up to it are not
    /// described.
    pub fn base(&self) -> Option<Lsn> {
        self.base
    }

    /// The log's last LSN.
    pub fn last_lsn(&self) -> Lsn {
        self.log.last_lsn()
    }

    /// Calls `f` with each record from `from` on (records before it only update the tables),
    /// while it returns `Ok(true)`. Returns how many it was called with. A walk consumes the
    /// history: its tables have moved past the start.
    ///
    /// # Errors
    /// `Error::Log` for a damaged record; `Error::Decode` for a record the runtime cannot
    /// read; the error of `f`.
    pub fn walk(mut self, from: Lsn, mut f: impl FnMut(&Entry) -> Result<bool>) -> Result<u64> {
        let start = self.base.map_or(Lsn::FIRST, Lsn::next);
        let reader = self.log.reader();
        let mut described = 0;
        for record in reader.iter_from(start) {
            let record = record?;
            let lsn = record.lsn;
            let kind = match record::replayed(lsn, record.payload, &self.tables)? {
                Replayed::Transaction { call, changes } => {
                    let ids = changes.tables;
                    let changes = changes
                        .ops
                        .into_iter()
                        .map(|op| apply(&mut self.tables, &ids, op))
                        .collect();
                    EntryKind::Transaction { call, changes }
                }
                Replayed::Schema(schema) => {
                    self.tables.define(schema.clone());
                    EntryKind::Schema(schema)
                }
                Replayed::Audit(entry) => EntryKind::Audit(entry),
            };
            if lsn < from {
                continue;
            }
            described += 1;
            if !f(&Entry { lsn, kind })? {
                break;
            }
        }
        Ok(described)
    }
}

/// Applies one change and says what it did.
fn apply(tables: &mut Tables, ids: &[usize], op: Op) -> RowChange {
    let (local, kind) = match &op {
        Op::Insert { table, .. } => (*table, ChangeKind::Insert),
        Op::Update { table, .. } => (*table, ChangeKind::Update),
        Op::Delete { table, .. } => (*table, ChangeKind::Delete),
    };
    let table = tables.get_mut(ids[local]);
    let (key, before, after) = match op {
        Op::Insert { values, .. } | Op::Update { values, .. } => {
            let key = table.key_of(&values).clone();
            let after = table.to_row(&values);
            let before = table.put(values);
            (key, before, Some(after))
        }
        Op::Delete { key, .. } => {
            let before = table.delete(&key);
            (key, before, None)
        }
    };
    RowChange {
        table: table.schema().name().to_owned(),
        kind,
        key,
        before: before.map(|values| table.to_row(&values)),
        after,
    }
}

impl fmt::Display for Entry {
    /// `LSN 42 transfer(1, 2, 10) by caller 7: accounts 1 balance 100 -> 90, ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LSN {} ", self.lsn)?;
        match &self.kind {
            EntryKind::Transaction { call, changes } => {
                match call {
                    Some(call) => write!(f, "{call}:")?,
                    None => f.write_str("transaction:")?,
                }
                if changes.is_empty() {
                    f.write_str(" no change")?;
                }
                for (i, change) in changes.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    write!(f, "{change}")?;
                }
                Ok(())
            }
            EntryKind::Schema(schema) => {
                write!(f, "schema {} version {}:", schema.name(), schema.version())?;
                for (i, column) in schema.columns().iter().enumerate() {
                    let key = if i == schema.key_position() {
                        " (key)"
                    } else {
                        ""
                    };
                    let null = if column.nullable { "?" } else { "" };
                    let sep = if i == 0 { " " } else { ", " };
                    write!(f, "{sep}{} {}{null}{key}", column.name, column.ty)?;
                }
                Ok(())
            }
            EntryKind::Audit(a) => write!(
                f,
                "migration {:?} of table {}: version {} -> {}, {} rows",
                a.migration, a.table, a.from, a.to, a.rows
            ),
        }
    }
}

impl fmt::Display for RowChange {
    /// `accounts 1 balance 100 -> 90`, `insert accounts 3 (id 3, owner "x", balance 5)`,
    /// `delete accounts 3`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = |row: &Row| {
            row.iter()
                .map(|(n, v)| format!("{n} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (&self.before, &self.after) {
            (Some(before), Some(after)) => {
                write!(f, "{} {}", self.table, self.key)?;
                let mut changed = 0;
                for (name, new) in after.iter() {
                    let old = before.get(name).unwrap_or(&Value::Null);
                    if old != new {
                        write!(f, " {name} {old} -> {new}")?;
                        changed += 1;
                    }
                }
                if changed == 0 {
                    f.write_str(" unchanged")?;
                }
                Ok(())
            }
            (None, Some(after)) => {
                write!(f, "insert {} {} ({})", self.table, self.key, columns(after))
            }
            _ => write!(f, "delete {} {}", self.table, self.key),
        }
    }
}

impl Entry {
    /// The entry as a JSON object: `lsn`, `type` (`call`, `transaction`, `schema`,
    /// `migration`), and its fields. Bytes are hex strings.
    pub fn to_json(&self) -> Json {
        let lsn = self.lsn.0;
        match &self.kind {
            EntryKind::Transaction { call, changes } => {
                let changes: Vec<Json> = changes.iter().map(RowChange::to_json).collect();
                match call {
                    Some(call) => json!({
                        "lsn": lsn,
                        "type": "call",
                        "reducer": call.reducer,
                        "args": call.args.iter().map(value_json).collect::<Vec<_>>(),
                        "caller": call.caller.0,
                        "timestamp_us": call.timestamp.0,
                        "seed": call.seed,
                        "module": call.module.as_ref().map(|m| json!({
                            "name": m.name,
                            "hash": m.hash_hex(),
                        })),
                        "changes": changes,
                    }),
                    None => json!({"lsn": lsn, "type": "transaction", "changes": changes}),
                }
            }
            EntryKind::Schema(schema) => json!({
                "lsn": lsn,
                "type": "schema",
                "table": schema.name(),
                "version": schema.version(),
                "key": schema.key_name(),
                "columns": schema.columns().iter().map(|c| json!({
                    "name": c.name,
                    "type": c.ty.to_string(),
                    "nullable": c.nullable,
                })).collect::<Vec<_>>(),
            }),
            EntryKind::Audit(a) => json!({
                "lsn": lsn,
                "type": "migration",
                "table": a.table,
                "migration": a.migration,
                "from": a.from,
                "to": a.to,
                "rows": a.rows,
                "unix_time_s": a.unix_time_s,
            }),
        }
    }
}

impl RowChange {
    /// The change as JSON: `table`, `op`, `key`, `before`, `after`.
    pub fn to_json(&self) -> Json {
        let op = match self.kind {
            ChangeKind::Insert => "insert",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        };
        json!({
            "table": self.table,
            "op": op,
            "key": value_json(&self.key),
            "before": self.before.as_ref().map_or(Json::Null, row_json),
            "after": self.after.as_ref().map_or(Json::Null, row_json),
        })
    }
}

fn row_json(row: &Row) -> Json {
    let map: Map<String, Json> = row
        .iter()
        .map(|(name, value)| (name.to_owned(), value_json(value)))
        .collect();
    Json::Object(map)
}

/// A value as JSON: numbers, strings, booleans, null; bytes as a hex string; a float that
/// JSON cannot hold (NaN, infinities) as a string.
pub fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::I64(v) => json!(v),
        Value::U64(v) => json!(v),
        Value::F64(v) => {
            serde_json::Number::from_f64(*v).map_or(json!(v.to_string()), Json::Number)
        }
        Value::Str(s) => json!(s),
        Value::Bytes(b) => json!(super::codec::hex(b)),
    }
}
