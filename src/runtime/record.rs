//! The runtime's log records: a transaction (plain, or a reducer call's with its header), a
//! schema, an audit entry; encoded when committed, decoded, checked and applied on replay.

use super::codec::{self, Reader};
use super::error::{Error, Result};
use super::migrate::AuditEntry;
use super::reducer::{CallInfo, Caller, ModuleRef, Timestamp};
use super::schema::Schema;
use super::table::Tables;
use super::txn::{Changes, Op};
use super::value::Value;
use crate::Lsn;

/// First byte of every runtime record: what the rest is.
pub(crate) const KIND_TRANSACTION: u8 = 1;
pub(crate) const KIND_SCHEMA: u8 = 2;
pub(crate) const KIND_AUDIT: u8 = 3;
pub(crate) const KIND_CALL: u8 = 4;
pub(crate) const KIND_MODULE_CALL: u8 = 5;

pub(crate) const OP_INSERT: u8 = 1;
pub(crate) const OP_UPDATE: u8 = 2;
pub(crate) const OP_DELETE: u8 = 3;

/// Encodes a transaction into `out` (cleared first): a plain one, or a reducer call's when
/// `call` says which. Its exact length is computed first and reserved at once, so encoding
/// allocates at most once, and not at all when `out` is a reused buffer large enough.
pub(crate) fn encode_transaction(
    out: &mut Vec<u8>,
    tables: &Tables,
    changes: &Changes,
    call: Option<&CallInfo>,
) {
    let names = changes
        .tables
        .iter()
        .map(|&id| tables.get(id).schema().name().as_bytes());
    let len = 1
        + call.map_or(0, call_len)
        + codec::varint_len(changes.tables.len() as u64)
        + names.clone().map(codec::bytes_len).sum::<usize>()
        + codec::varint_len(changes.ops.len() as u64)
        + changes.ops.iter().map(op_len).sum::<usize>();
    out.clear();
    out.reserve(len);
    if let Some(call) = call {
        out.push(if call.module.is_some() {
            KIND_MODULE_CALL
        } else {
            KIND_CALL
        });
        put_call(out, call);
    } else {
        out.push(KIND_TRANSACTION);
    }
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

/// A call's header: reducer name, caller, timestamp, seed (8 bytes), arguments; then, for a
/// module's call (kind 5), the module's name and its 16-byte hash.
fn call_len(call: &CallInfo) -> usize {
    codec::bytes_len(call.reducer.as_bytes())
        + codec::varint_len(call.caller.0)
        + codec::varint_len(call.timestamp.0)
        + 8
        + codec::values_len(&call.args)
        + call
            .module
            .as_ref()
            .map_or(0, |m| codec::bytes_len(m.name.as_bytes()) + 16)
}

fn put_call(out: &mut Vec<u8>, call: &CallInfo) {
    codec::put_bytes(out, call.reducer.as_bytes());
    codec::put_varint(out, call.caller.0);
    codec::put_varint(out, call.timestamp.0);
    out.extend_from_slice(&call.seed.to_le_bytes());
    codec::put_values(out, &call.args);
    if let Some(module) = &call.module {
        codec::put_bytes(out, module.name.as_bytes());
        out.extend_from_slice(&module.hash);
    }
}

fn read_call(reader: &mut Reader<'_>, hosted: bool) -> codec::DecodeResult<CallInfo> {
    Ok(CallInfo {
        reducer: reader.str()?.to_owned().into(),
        caller: Caller(reader.varint()?),
        timestamp: Timestamp(reader.varint()?),
        seed: u64::from_le_bytes(reader.array()?),
        args: reader.values()?,
        module: if hosted {
            Some(ModuleRef {
                name: reader.str()?.to_owned(),
                hash: reader.array()?,
            })
        } else {
            None
        },
    })
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
    /// A transaction; `call` for a reducer's.
    Transaction {
        call: Option<CallInfo>,
        tables: Vec<String>,
        ops: Vec<Op>,
    },
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
        kind @ (KIND_TRANSACTION | KIND_CALL | KIND_MODULE_CALL) => {
            let call = if kind == KIND_TRANSACTION {
                None
            } else {
                Some(read_call(&mut reader, kind == KIND_MODULE_CALL)?)
            };
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
            Decoded::Transaction { call, tables, ops }
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
    // An index into the record's table names, not a count of bytes to follow.
    let index = reader.varint()?;
    let table = usize::try_from(index)
        .ok()
        .filter(|&table| table < tables)
        .ok_or_else(|| format!("table index {index} of {tables}"))?;
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

/// A record read back against the tables it applies to: a transaction's changes resolved to
/// table ids and checked, ready to apply.
pub(crate) enum Replayed {
    Transaction {
        call: Option<CallInfo>,
        changes: Changes,
    },
    Schema(Schema),
    Audit(AuditEntry),
}

/// Decodes the record at `lsn` and, for a transaction, resolves and checks its changes
/// against `tables` (as they are before it).
///
/// # Errors
/// `Error::Decode` naming the LSN.
pub(crate) fn replayed(lsn: Lsn, payload: &[u8], tables: &Tables) -> Result<Replayed> {
    Ok(match decode(lsn, payload)? {
        Decoded::Transaction {
            call,
            tables: names,
            ops,
        } => {
            let changes = resolve(lsn, tables, &names, ops)?;
            check(lsn, tables, &changes)?;
            Replayed::Transaction { call, changes }
        }
        Decoded::Schema(schema) => Replayed::Schema(schema),
        Decoded::Audit(entry) => Replayed::Audit(entry),
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
