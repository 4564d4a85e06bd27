//! The typed layer: Rust types as columns ([`Field`]), structs as tables ([`Table`], usually
//! derived), and column handles ([`Col`]) for typed lookups. Typed rows become values in
//! column order directly, with no column names in between.

use std::marker::PhantomData;

use super::error::{Error, Result};
use super::schema::{ColumnType, Schema};
use super::value::Value;

/// A Rust type that a column holds. Implemented for every integer width (signed ones in an
/// `I64` column, unsigned ones in a `U64` column), `bool`, `f32`, `f64`, `String`, `Vec<u8>`
/// and `Option<T>` (a nullable column). Implement it for your own types, or derive it for a
/// fieldless enum (`#[derive(Field)]` stores the variant's name as a string).
///
/// ```
/// use interstice::runtime::{ColumnType, Field, Value};
///
/// #[derive(Debug, PartialEq)]
/// struct Cents(i64);
///
/// impl Field for Cents {
///     const TYPE: ColumnType = ColumnType::I64;
///     fn to_value(&self) -> Value {
///         Value::I64(self.0)
///     }
///     fn from_value(value: Value) -> Result<Cents, String> {
///         i64::from_value(value).map(Cents)
///     }
/// }
/// assert_eq!(Cents::from_value(Cents(5).to_value()), Ok(Cents(5)));
/// ```
pub trait Field: Sized {
    /// The column type holding it.
    const TYPE: ColumnType;
    /// Whether the column admits `Null` (true only for `Option<T>`).
    const NULLABLE: bool = false;

    /// The value stored.
    fn to_value(&self) -> Value;

    /// The value stored, consuming `self` (saves a copy of strings and bytes).
    fn into_value(self) -> Value {
        self.to_value()
    }

    /// Back from a stored value.
    ///
    /// # Errors
    /// What is wrong with `value` ("expected u64, got str", "300 does not fit in u8").
    fn from_value(value: Value) -> std::result::Result<Self, String>;
}

fn expected(ty: &str, value: &Value) -> String {
    format!("expected {ty}, got {}", value.kind_name())
}

macro_rules! integer_field {
    ($column:ident, $variant:ident, $wide:ty: $($ty:ty),+) => {
        $(impl Field for $ty {
            const TYPE: ColumnType = ColumnType::$column;

            fn to_value(&self) -> Value {
                Value::$variant(*self as $wide)
            }

            fn from_value(value: Value) -> std::result::Result<$ty, String> {
                let Value::$variant(v) = value else {
                    return Err(expected(stringify!($ty), &value));
                };
                <$ty>::try_from(v)
                    .map_err(|_| format!("{v} does not fit in {}", stringify!($ty)))
            }
        })+
    };
}

integer_field!(U64, U64, u64: u8, u16, u32, u64, usize);
integer_field!(I64, I64, i64: i8, i16, i32, i64, isize);

impl Field for bool {
    const TYPE: ColumnType = ColumnType::Bool;

    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }

    fn from_value(value: Value) -> std::result::Result<bool, String> {
        value.as_bool().ok_or_else(|| expected("bool", &value))
    }
}

impl Field for f64 {
    const TYPE: ColumnType = ColumnType::F64;

    fn to_value(&self) -> Value {
        Value::F64(*self)
    }

    fn from_value(value: Value) -> std::result::Result<f64, String> {
        value.as_f64().ok_or_else(|| expected("f64", &value))
    }
}

/// Stored as an `F64`; a stored value that an `f32` cannot hold exactly is an error (only
/// values written from an `f32` read back without one).
impl Field for f32 {
    const TYPE: ColumnType = ColumnType::F64;

    fn to_value(&self) -> Value {
        Value::F64(f64::from(*self))
    }

    fn from_value(value: Value) -> std::result::Result<f32, String> {
        let v = value.as_f64().ok_or_else(|| expected("f32", &value))?;
        let narrow = v as f32;
        if f64::from(narrow).to_bits() == v.to_bits() || v.is_nan() {
            Ok(narrow)
        } else {
            Err(format!("{v} is not an f32"))
        }
    }
}

impl Field for String {
    const TYPE: ColumnType = ColumnType::Str;

    fn to_value(&self) -> Value {
        Value::Str(self.clone())
    }

    fn into_value(self) -> Value {
        Value::Str(self)
    }

    fn from_value(value: Value) -> std::result::Result<String, String> {
        match value {
            Value::Str(s) => Ok(s),
            other => Err(expected("str", &other)),
        }
    }
}

impl Field for Vec<u8> {
    const TYPE: ColumnType = ColumnType::Bytes;

    fn to_value(&self) -> Value {
        Value::Bytes(self.clone())
    }

    fn into_value(self) -> Value {
        Value::Bytes(self)
    }

    fn from_value(value: Value) -> std::result::Result<Vec<u8>, String> {
        match value {
            Value::Bytes(b) => Ok(b),
            other => Err(expected("bytes", &other)),
        }
    }
}

/// A nullable column: `None` is `Null`.
impl<T: Field> Field for Option<T> {
    const TYPE: ColumnType = T::TYPE;
    const NULLABLE: bool = true;

    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }

    fn into_value(self) -> Value {
        self.map_or(Value::Null, T::into_value)
    }

    fn from_value(value: Value) -> std::result::Result<Option<T>, String> {
        if value.is_null() {
            return Ok(None);
        }
        T::from_value(value).map(Some)
    }
}

/// A struct stored as a table: its fields are the columns, in order. Derive it:
///
/// ```
/// use interstice::runtime::{Runtime, RuntimeConfig, Table};
///
/// #[derive(Table, Clone, Debug, PartialEq)]
/// #[table(name = "accounts", version = 1)]
/// struct Account {
///     #[primary_key]
///     #[auto_inc]
///     id: u64,
///     #[unique]
///     owner: String,
///     #[index]
///     team: u32,
///     balance: i64,
///     email: Option<String>,
/// }
///
/// # let dir = tempfile::tempdir().unwrap();
/// let runtime = Runtime::open(RuntimeConfig::new(dir.path()).table::<Account>())?;
/// let account = Account { id: 0, owner: "ann".into(), team: 3, balance: 100, email: None };
/// let id = runtime.transact(|tx| tx.insert(account.clone()))?.value;
/// assert_eq!(id, 1); // assigned, as the key was 0
/// let ann = runtime.find(Account::OWNER, &"ann".to_string())?.expect("inserted");
/// assert_eq!(ann.balance, 100);
/// assert_eq!(runtime.filter(Account::TEAM, &3)?.len(), 1);
/// # Ok::<(), interstice::runtime::Error>(())
/// ```
///
/// Attributes: `#[table(name = "..", version = N)]` on the struct (name defaults to the
/// struct's name in snake case, version to 1); on fields `#[primary_key]` (default: the first
/// field), `#[auto_inc]` (on an integer primary key), `#[unique]`, `#[index]`, and
/// `#[default(expr)]` (the value a migration gives the column when it is added). The derive
/// also makes a [`Col`] constant per field, named after it in upper case.
pub trait Table: Sized {
    /// The table's name.
    const NAME: &'static str;
    /// Its schema version.
    const VERSION: u32;
    /// Its columns' names, in order: typed access checks them against the table's, so a
    /// type never reads another table's columns by position.
    const COLUMNS: &'static [&'static str];
    /// The primary key's type.
    type Key: Field;

    /// The table's schema, as the derive builds it from the struct.
    fn schema() -> Schema;

    /// The row's values, in column order.
    fn into_values(self) -> Vec<Value>;

    /// The row back from its values (in column order).
    ///
    /// # Errors
    /// `Error::Conversion` naming the table and column.
    fn from_values(values: Vec<Value>) -> Result<Self>;

    /// The row's primary key.
    fn key(&self) -> Self::Key;
}

/// `schema` (a table's) has `T`'s shape: the same columns, types and key.
///
/// # Errors
/// `Error::Conversion` naming the first difference.
pub fn check_shape<T: Table>(schema: &Schema) -> Result<()> {
    match schema.shape_difference(&T::schema()) {
        None => Ok(()),
        Some(column) => Err(Error::Conversion {
            table: T::NAME.to_owned(),
            column,
            reason: format!(
                "the table (version {}) does not have the shape of its type (version {})",
                schema.version(),
                T::VERSION
            ),
        }),
    }
}

/// `values` has `columns` values, or the error naming the table; used by the derive.
///
/// # Errors
/// `Error::Conversion`.
pub fn check_len(table: &str, values: &[Value], columns: usize) -> Result<()> {
    if values.len() == columns {
        return Ok(());
    }
    Err(Error::Conversion {
        table: table.to_owned(),
        column: String::new(),
        reason: format!("{} values for {columns} columns", values.len()),
    })
}

/// Turns `Field::from_value`'s complaint into an error naming the table and column; used by
/// the derive.
///
/// # Errors
/// `Error::Conversion`.
pub fn field<T: Field>(table: &str, column: &str, value: Option<Value>) -> Result<T> {
    T::from_value(value.unwrap_or(Value::Null)).map_err(|reason| Error::Conversion {
        table: table.to_owned(),
        column: column.to_owned(),
        reason,
    })
}

/// A column of table `T` holding `V`: the argument of typed lookups
/// ([`Tx::find`](super::Tx::find), [`Tx::filter`](super::Tx::filter)). The derive makes one
/// per field (`Account::OWNER`).
pub struct Col<T, V> {
    name: &'static str,
    _types: PhantomData<fn() -> (T, V)>,
}

impl<T, V> Col<T, V> {
    /// The column named `name`.
    #[must_use]
    pub const fn new(name: &'static str) -> Col<T, V> {
        Col {
            name,
            _types: PhantomData,
        }
    }

    /// The column's name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T, V> Clone for Col<T, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, V> Copy for Col<T, V> {}

impl<T, V> std::fmt::Debug for Col<T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Col({})", self.name)
    }
}

/// The arguments of a reducer: a tuple of [`Field`]s (up to twelve), encoded as the
/// runtime encodes a row's values.
pub trait Args: Sized {
    /// The type of each argument, and whether it is nullable.
    fn types() -> Vec<(ColumnType, bool)>;

    /// The arguments as values.
    fn to_values(&self) -> Vec<Value>;

    /// The arguments back from values.
    ///
    /// # Errors
    /// What is wrong: the count, or an argument's type.
    fn from_values(values: Vec<Value>) -> std::result::Result<Self, String>;
}

macro_rules! tuple_args {
    ($n:literal; $($name:ident),*) => {
        impl<$($name: Field),*> Args for ($($name,)*) {
            fn types() -> Vec<(ColumnType, bool)> {
                vec![$(($name::TYPE, $name::NULLABLE)),*]
            }

            #[allow(non_snake_case)]
            fn to_values(&self) -> Vec<Value> {
                let ($($name,)*) = self;
                vec![$($name.to_value()),*]
            }

            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn from_values(values: Vec<Value>) -> std::result::Result<Self, String> {
                if values.len() != $n {
                    return Err(format!("{} arguments for {}", values.len(), $n));
                }
                let mut values = values.into_iter().enumerate();
                Ok(($({
                    let (i, value) = values.next().expect("counted");
                    $name::from_value(value).map_err(|e| format!("argument {}: {e}", i + 1))?
                },)*))
            }
        }
    };
}

tuple_args!(0;);
tuple_args!(1; A);
tuple_args!(2; A, B);
tuple_args!(3; A, B, C);
tuple_args!(4; A, B, C, D);
tuple_args!(5; A, B, C, D, E);
tuple_args!(6; A, B, C, D, E, F);
tuple_args!(7; A, B, C, D, E, F, G);
tuple_args!(8; A, B, C, D, E, F, G, H);
tuple_args!(9; A, B, C, D, E, F, G, H, I);
tuple_args!(10; A, B, C, D, E, F, G, H, I, J);
tuple_args!(11; A, B, C, D, E, F, G, H, I, J, K);
tuple_args!(12; A, B, C, D, E, F, G, H, I, J, K, L);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_check_their_range() {
        assert_eq!(u8::from_value(Value::U64(255)), Ok(255));
        assert_eq!(
            u8::from_value(Value::U64(256)),
            Err("256 does not fit in u8".into())
        );
        assert_eq!(i8::from_value(Value::I64(-128)), Ok(-128));
        assert!(i8::from_value(Value::U64(1)).is_err());
        assert_eq!(u32::MAX.to_value(), Value::U64(u64::from(u32::MAX)));
        assert_eq!((-5i16).to_value(), Value::I64(-5));
    }

    #[test]
    fn options_floats_and_strings_round_trip() {
        assert_eq!(Option::<u64>::from_value(Value::Null), Ok(None));
        assert_eq!(Some(3u64).to_value(), Value::U64(3));
        assert_eq!(f32::from_value(1.5f32.to_value()), Ok(1.5));
        assert!(f32::from_value(Value::F64(0.1)).is_err());
        assert_eq!(
            String::from_value("x".to_string().into_value()),
            Ok("x".into())
        );
        assert!(Vec::<u8>::from_value(Value::Str("x".into())).is_err());
    }

    #[test]
    fn tuples_are_arguments() {
        let values = (1u64, -2i64, "x".to_string()).to_values();
        assert_eq!(values.len(), 3);
        let back = <(u64, i64, String)>::from_values(values).unwrap();
        assert_eq!(back, (1, -2, "x".to_string()));
        assert!(<(u64,)>::from_values(vec![]).is_err());
        let wrong = <(u64,)>::from_values(vec![Value::Str("x".into())]).unwrap_err();
        assert!(wrong.contains("argument 1"), "{wrong}");
        assert_eq!(<()>::types(), []);
    }
}
