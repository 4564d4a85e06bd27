//! `Value` and `Row`: the dynamic values tables hold and rows addressed by column name.

use std::cmp::Ordering;
use std::fmt;

/// One value of a column. Values of different kinds order by kind first (in the order of the
/// variants), then by value; `F64` orders by `f64::total_cmp`, so every value can be a key.
#[derive(Clone, Debug)]
pub enum Value {
    /// No value (only in nullable columns).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl Value {
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::I64(_) => 2,
            Value::U64(_) => 3,
            Value::F64(_) => 4,
            Value::Str(_) => 5,
            Value::Bytes(_) => 6,
        }
    }

    /// The name of the value's kind, for error messages.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::I64(_) => "i64",
            Value::U64(_) => "u64",
            Value::F64(_) => "f64",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
        }
    }

    /// True for `Value::Null`.
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The boolean, if it is one.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The signed integer, if it is one.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// The unsigned integer, if it is one.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(v) => Some(*v),
            _ => None,
        }
    }

    /// The float, if it is one.
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    /// The string, if it is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if they are.
    #[must_use]
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

impl Ord for Value {
    // Inlined into the searches of the tables' maps: a call per comparison was a sixth of a
    // replay's time (docs/PERFORMANCE.md, "Runtime").
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::I64(a), Value::I64(b)) => a.cmp(b),
            (Value::U64(a), Value::U64(b)) => a.cmp(b),
            (Value::F64(a), Value::F64(b)) => a.total_cmp(b),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Value {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equality agrees with `Ord`: `F64` values are equal when their bits are (so `NaN == NaN`).
impl PartialEq for Value {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Str(v) => write!(f, "{v:?}"),
            Value::Bytes(v) => write!(f, "{} bytes", v.len()),
        }
    }
}

/// Every integer width converts: signed ones to `I64`, unsigned ones to `U64`, and a column
/// of the other signedness takes the value when it fits (`ColumnType::conform`).
macro_rules! from_integer {
    ($variant:ident: $($ty:ty),+) => {
        $(impl From<$ty> for Value {
            fn from(v: $ty) -> Value {
                Value::$variant(v.into())
            }
        })+
    };
}

from_integer!(I64: i8, i16, i32);
from_integer!(U64: u8, u16, u32);

impl From<isize> for Value {
    fn from(v: isize) -> Value {
        Value::I64(v as i64)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::U64(v as u64)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::F64(v.into())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::I64(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::U64(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::F64(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A row: values by column name, in the table's column order when read from a table.
///
/// ```
/// use interstice::runtime::{Row, Value};
/// let mut row = Row::new().with("id", 7u64).with("name", "ann");
/// row.rename("name", "owner");
/// assert_eq!(row.get("owner"), Some(&Value::from("ann")));
/// assert_eq!(row.take("id"), Some(Value::U64(7)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    columns: Vec<(String, Value)>,
}

impl Row {
    /// An empty row.
    #[must_use]
    pub fn new() -> Row {
        Row::default()
    }

    /// An empty row with room for `n` columns.
    #[must_use]
    pub fn with_capacity(n: usize) -> Row {
        Row {
            columns: Vec::with_capacity(n),
        }
    }

    /// The row with `name` set to `value`.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Row {
        self.set(name, value);
        self
    }

    /// Sets `name` to `value`, returning the previous value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let name = name.into();
        let value = value.into();
        if let Some((_, slot)) = self.columns.iter_mut().find(|(n, _)| *n == name) {
            return Some(std::mem::replace(slot, value));
        }
        self.columns.push((name, value));
        None
    }

    /// The value of `name`, if the row has that column.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Removes `name` and returns its value.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        let position = self.columns.iter().position(|(n, _)| n == name)?;
        Some(self.columns.remove(position).1)
    }

    /// Renames column `from` to `to`; false when the row has no `from`.
    pub fn rename(&mut self, from: &str, to: impl Into<String>) -> bool {
        match self.columns.iter_mut().find(|(n, _)| n == from) {
            Some((name, _)) => {
                *name = to.into();
                true
            }
            None => false,
        }
    }

    /// The columns, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.columns.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of columns.
    #[must_use]
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when the row has no column.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    pub(crate) fn push(&mut self, name: String, value: Value) {
        self.columns.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_order_by_kind_then_value() {
        let mut values = [
            Value::from("b"),
            Value::U64(2),
            Value::Null,
            Value::F64(f64::NAN),
            Value::I64(-1),
            Value::U64(1),
            Value::F64(-0.5),
        ];
        values.sort();
        assert_eq!(values[0], Value::Null);
        assert_eq!(values[1], Value::I64(-1));
        assert_eq!(values[2], Value::U64(1));
        assert_eq!(values[3], Value::U64(2));
        assert_eq!(values[4], Value::F64(-0.5));
        assert!(values[5].as_f64().unwrap().is_nan());
        assert_eq!(values[6], Value::from("b"));
        assert_eq!(Value::F64(f64::NAN), Value::F64(f64::NAN));
    }

    #[test]
    fn row_set_replaces_and_take_removes() {
        let mut row = Row::new().with("a", 1u64);
        assert_eq!(row.set("a", 2u64), Some(Value::U64(1)));
        assert_eq!(row.len(), 1);
        assert!(row.rename("a", "b"));
        assert!(!row.rename("a", "c"));
        assert_eq!(row.take("b"), Some(Value::U64(2)));
        assert!(row.is_empty());
        assert_eq!(Value::from(None::<u64>), Value::Null);
    }
}
