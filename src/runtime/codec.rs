//! The runtime's byte encoding: LEB128 varints, length-prefixed strings, tagged values and
//! schemas. Shared by log records (`txn.rs`) and snapshots (`snapshot.rs`); spec in
//! docs/RUNTIME.md.

use super::schema::{Column, ColumnType, Schema};
use super::value::Value;

const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_I64: u8 = 3;
const TAG_U64: u8 = 4;
const TAG_F64: u8 = 5;
const TAG_STR: u8 = 6;
const TAG_BYTES: u8 = 7;

/// `bytes` in lower-case hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Bytes of `v` as a varint.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1).cast_signed() ^ -((v & 1).cast_signed())
}

pub fn bytes_len(bytes: &[u8]) -> usize {
    varint_len(bytes.len() as u64) + bytes.len()
}

pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub fn value_len(value: &Value) -> usize {
    1 + match value {
        Value::Null | Value::Bool(_) => 0,
        Value::I64(v) => varint_len(zigzag(*v)),
        Value::U64(v) => varint_len(*v),
        Value::F64(_) => 8,
        Value::Str(s) => bytes_len(s.as_bytes()),
        Value::Bytes(b) => bytes_len(b),
    }
}

pub fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::I64(v) => {
            out.push(TAG_I64);
            put_varint(out, zigzag(*v));
        }
        Value::U64(v) => {
            out.push(TAG_U64);
            put_varint(out, *v);
        }
        Value::F64(v) => {
            out.push(TAG_F64);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(TAG_STR);
            put_bytes(out, s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(TAG_BYTES);
            put_bytes(out, b);
        }
    }
}

/// A row's values: a count, then each value.
pub fn values_len(values: &[Value]) -> usize {
    varint_len(values.len() as u64) + values.iter().map(value_len).sum::<usize>()
}

pub fn put_values(out: &mut Vec<u8>, values: &[Value]) {
    put_varint(out, values.len() as u64);
    for value in values {
        put_value(out, value);
    }
}

/// A schema: name, version, columns (name, type, nullable), primary key, indexes.
pub fn put_schema(out: &mut Vec<u8>, schema: &Schema) {
    put_bytes(out, schema.name().as_bytes());
    put_varint(out, u64::from(schema.version()));
    put_varint(out, schema.columns().len() as u64);
    for column in schema.columns() {
        put_bytes(out, column.name.as_bytes());
        out.push(column.ty.to_byte());
        out.push(u8::from(column.nullable));
    }
    put_bytes(out, schema.key_name().as_bytes());
    put_varint(out, schema.indexes().len() as u64);
    for index in schema.indexes() {
        put_bytes(out, index.as_bytes());
    }
}

/// `bytes`, all of them, as one encoded value (a key).
///
/// # Errors
/// What is wrong with the bytes.
#[cfg(feature = "wasm")]
pub fn value_of(bytes: &[u8]) -> DecodeResult<Value> {
    let mut reader = Reader::new(bytes);
    let value = reader.value()?;
    if !reader.is_empty() {
        return Err("bytes left after the value".into());
    }
    Ok(value)
}

/// `bytes`, all of them, as encoded values (a row, or arguments).
///
/// # Errors
/// What is wrong with the bytes.
#[cfg(feature = "wasm")]
pub fn values_of(bytes: &[u8]) -> DecodeResult<Vec<Value>> {
    let mut reader = Reader::new(bytes);
    let values = reader.values()?;
    if !reader.is_empty() {
        return Err("bytes left after the values".into());
    }
    Ok(values)
}

/// `values` encoded (a row, or arguments).
#[cfg(feature = "wasm")]
pub fn encode_values(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values_len(values));
    put_values(&mut out, values);
    out
}

/// Rows encoded as a list: a count, then each row.
#[cfg(feature = "wasm")]
pub fn encode_rows(rows: &[Vec<Value>]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, rows.len() as u64);
    for row in rows {
        put_values(&mut out, row);
    }
    out
}

/// Reads what the `put_` functions wrote; every read is bounds-checked and a failure says
/// what was being read.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

pub type DecodeResult<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn u8(&mut self) -> DecodeResult<u8> {
        let (&first, rest) = self.bytes.split_first().ok_or("truncated")?;
        self.bytes = rest;
        Ok(first)
    }

    pub fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if n > self.bytes.len() {
            return Err(format!("length {n} past the end"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    pub fn varint(&mut self) -> DecodeResult<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    pub fn u32(&mut self) -> DecodeResult<u32> {
        u32::try_from(self.varint()?).map_err(|_| "value exceeds u32".to_owned())
    }

    /// A count of items that each take at least one byte: bounded by the bytes left, so a
    /// damaged count cannot make the decoder reserve unbounded memory.
    pub fn count(&mut self) -> DecodeResult<usize> {
        let n = self.varint()?;
        if n > self.bytes.len() as u64 {
            return Err(format!(
                "count {n} exceeds the {} bytes left",
                self.bytes.len()
            ));
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self) -> DecodeResult<&'a [u8]> {
        let n = self.count()?;
        self.take(n)
    }

    pub fn str(&mut self) -> DecodeResult<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|e| e.to_string())
    }

    pub fn value(&mut self) -> DecodeResult<Value> {
        Ok(match self.u8()? {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_I64 => Value::I64(unzigzag(self.varint()?)),
            TAG_U64 => Value::U64(self.varint()?),
            TAG_F64 => {
                let raw: [u8; 8] = self.take(8)?.try_into().expect("took 8 bytes");
                Value::F64(f64::from_le_bytes(raw))
            }
            TAG_STR => Value::Str(self.str()?.to_owned()),
            TAG_BYTES => Value::Bytes(self.bytes()?.to_vec()),
            tag => return Err(format!("unknown value tag {tag}")),
        })
    }

    pub fn values(&mut self) -> DecodeResult<Vec<Value>> {
        let n = self.count()?;
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(self.value()?);
        }
        Ok(values)
    }

    pub fn schema(&mut self) -> DecodeResult<Schema> {
        let name = self.str()?.to_owned();
        let version = self.u32()?;
        let n = self.count()?;
        let mut columns = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str()?.to_owned();
            let byte = self.u8()?;
            let ty = ColumnType::from_byte(byte).ok_or(format!("unknown column type {byte}"))?;
            let nullable = self.u8()? != 0;
            columns.push(Column { name, ty, nullable });
        }
        let key = self.str()?.to_owned();
        let n = self.count()?;
        let mut indexes = Vec::with_capacity(n);
        for _ in 0..n {
            indexes.push(self.str()?.to_owned());
        }
        let schema = Schema::from_parts(name, version, columns, key, indexes);
        schema.validate().map_err(|e| e.to_string())?;
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_exact_lengths() {
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::I64(-300),
            Value::I64(i64::MIN),
            Value::U64(u64::MAX),
            Value::F64(1.5),
            Value::from("h\u{e9}llo"),
            Value::Bytes(vec![0, 1, 2]),
        ];
        let mut out = Vec::new();
        put_values(&mut out, &values);
        assert_eq!(out.len(), values_len(&values));
        let mut reader = Reader::new(&out);
        assert_eq!(reader.values().unwrap(), values);
        assert!(reader.is_empty());
    }

    #[test]
    fn damaged_input_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        put_values(&mut out, &[Value::from("abc"), Value::U64(1 << 40)]);
        for cut in 0..out.len() {
            assert!(Reader::new(&out[..cut]).values().is_err(), "cut at {cut}");
        }
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(Reader::new(&[1, 99]).values().is_err());
    }

    #[test]
    fn schema_round_trips() {
        let schema = Schema::new("t", 3)
            .column("a", ColumnType::Str)
            .nullable_column("b", ColumnType::F64)
            .column("k", ColumnType::U64)
            .primary_key("k")
            .index("a");
        let mut out = Vec::new();
        put_schema(&mut out, &schema);
        assert_eq!(Reader::new(&out).schema().unwrap(), schema);
    }
}
