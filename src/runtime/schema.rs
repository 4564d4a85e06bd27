//! `Schema`: a table's name, typed columns, primary key, secondary indexes and version.

use std::fmt;

use super::error::{Error, Result};
use super::value::Value;

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ColumnType {
    /// `Value::Bool`.
    Bool,
    /// `Value::I64`.
    I64,
    /// `Value::U64`.
    U64,
    /// `Value::F64`.
    F64,
    /// `Value::Str`.
    Str,
    /// `Value::Bytes`.
    Bytes,
}

impl ColumnType {
    /// True when `value` has this type (`Null` has none).
    #[must_use]
    pub fn admits(self, value: &Value) -> bool {
        matches!(
            (self, value),
            (ColumnType::Bool, Value::Bool(_))
                | (ColumnType::I64, Value::I64(_))
                | (ColumnType::U64, Value::U64(_))
                | (ColumnType::F64, Value::F64(_))
                | (ColumnType::Str, Value::Str(_))
                | (ColumnType::Bytes, Value::Bytes(_))
        )
    }

    /// `value` as this type: as it is when the type admits it; an integer of the other
    /// signedness converted when it fits (so `.with("id", 1)` fills a `U64` column); else
    /// `Err(value)`.
    ///
    /// # Errors
    /// The value back when it cannot be this type.
    pub fn conform(self, value: Value) -> std::result::Result<Value, Value> {
        match (self, value) {
            (ColumnType::U64, Value::I64(v)) => {
                u64::try_from(v).map(Value::U64).map_err(|_| Value::I64(v))
            }
            (ColumnType::I64, Value::U64(v)) => {
                i64::try_from(v).map(Value::I64).map_err(|_| Value::U64(v))
            }
            (ty, value) if ty.admits(&value) => Ok(value),
            (_, value) => Err(value),
        }
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            ColumnType::Bool => 1,
            ColumnType::I64 => 2,
            ColumnType::U64 => 3,
            ColumnType::F64 => 4,
            ColumnType::Str => 5,
            ColumnType::Bytes => 6,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<ColumnType> {
        Some(match byte {
            1 => ColumnType::Bool,
            2 => ColumnType::I64,
            3 => ColumnType::U64,
            4 => ColumnType::F64,
            5 => ColumnType::Str,
            6 => ColumnType::Bytes,
            _ => return None,
        })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ColumnType::Bool => "bool",
            ColumnType::I64 => "i64",
            ColumnType::U64 => "u64",
            ColumnType::F64 => "f64",
            ColumnType::Str => "str",
            ColumnType::Bytes => "bytes",
        };
        f.write_str(name)
    }
}

/// One column: a name, a type, and whether it admits `Null`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column's name, unique in its table.
    pub name: String,
    /// The type of its values.
    pub ty: ColumnType,
    /// Whether it admits `Value::Null` (and may be left out of an inserted row).
    pub nullable: bool,
}

/// A table's definition. Its shape (columns and primary key) is recorded in the log with its
/// version; changing the shape calls for a new version and a registered migration.
/// Secondary indexes live in memory only and may change freely.
///
/// ```
/// use interstice::runtime::{ColumnType, Schema};
/// let accounts = Schema::new("accounts", 1)
///     .column("id", ColumnType::U64)
///     .column("owner", ColumnType::Str)
///     .nullable_column("email", ColumnType::Str)
///     .primary_key("id")
///     .index("owner");
/// assert_eq!(accounts.columns().len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    name: String,
    version: u32,
    columns: Vec<Column>,
    primary_key: String,
    indexes: Vec<String>,
    unique: Vec<String>,
    auto_inc: bool,
    defaults: Vec<(String, Value)>,
}

impl Schema {
    /// A table named `name` at `version`, with no columns yet. The primary key defaults to
    /// the first column added with [`Schema::column`] (not one added before it with
    /// [`Schema::nullable_column`]); [`Schema::primary_key`] names another.
    #[must_use]
    pub fn new(name: impl Into<String>, version: u32) -> Schema {
        Schema {
            name: name.into(),
            version,
            columns: Vec::new(),
            primary_key: String::new(),
            indexes: Vec::new(),
            unique: Vec::new(),
            auto_inc: false,
            defaults: Vec::new(),
        }
    }

    /// The same table at another version: the start of its next definition.
    ///
    /// ```
    /// use interstice::runtime::{ColumnType, Schema};
    /// let v1 = Schema::new("items", 1).column("id", ColumnType::U64);
    /// let v2 = v1.clone().at_version(2).nullable_column("note", ColumnType::Str);
    /// assert_eq!((v2.version(), v2.columns().len()), (2, 2));
    /// ```
    #[must_use]
    pub fn at_version(mut self, version: u32) -> Schema {
        self.version = version;
        self
    }

    /// Adds a column that must hold a value.
    #[must_use]
    pub fn column(mut self, name: impl Into<String>, ty: ColumnType) -> Schema {
        let name = name.into();
        if self.primary_key.is_empty() {
            self.primary_key.clone_from(&name);
        }
        self.columns.push(Column {
            name,
            ty,
            nullable: false,
        });
        self
    }

    /// Adds a column that admits `Null`.
    #[must_use]
    pub fn nullable_column(mut self, name: impl Into<String>, ty: ColumnType) -> Schema {
        self.columns.push(Column {
            name: name.into(),
            ty,
            nullable: true,
        });
        self
    }

    /// Sets the primary key column.
    #[must_use]
    pub fn primary_key(mut self, name: impl Into<String>) -> Schema {
        self.primary_key = name.into();
        self
    }

    /// Declares a secondary index on a column; lookups by that column then use it.
    #[must_use]
    pub fn index(mut self, name: impl Into<String>) -> Schema {
        self.indexes.push(name.into());
        self
    }

    /// Declares a column unique: no two rows hold the same value there (`Null` excepted). It
    /// is indexed too. Checked when a transaction inserts or updates a row
    /// (`Error::UniqueViolation`); like indexes, it lives in memory and may change freely.
    #[must_use]
    pub fn unique(mut self, name: impl Into<String>) -> Schema {
        let name = name.into();
        if !self.indexes.contains(&name) {
            self.indexes.push(name.clone());
        }
        self.unique.push(name);
        self
    }

    /// Makes the primary key (an integer column) assigned by the runtime: an insert whose key
    /// is 0 (typed) or left out (dynamic) gets one more than the largest key the table has
    /// held since it was opened or loaded. Keys are never reused while the runtime runs; a
    /// key removed before a snapshot may be given again after reopening from it.
    #[must_use]
    pub fn auto_inc(mut self) -> Schema {
        self.auto_inc = true;
        self
    }

    /// The value column `name` takes in rows that predate it: when a new version of the
    /// table only adds columns, each nullable or with a default, opening migrates the rows
    /// without a registered migration (audited as `add columns ...`).
    #[must_use]
    pub fn default_value(mut self, name: impl Into<String>, value: impl Into<Value>) -> Schema {
        self.defaults.push((name.into(), value.into()));
        self
    }

    /// The unique columns' names.
    #[must_use]
    pub fn unique_columns(&self) -> &[String] {
        &self.unique
    }

    /// Whether the primary key is assigned by the runtime.
    #[must_use]
    pub fn is_auto_inc(&self) -> bool {
        self.auto_inc
    }

    /// The default of column `name`, if it has one.
    #[must_use]
    pub fn default_of(&self, name: &str) -> Option<&Value> {
        self.defaults
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The table's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The columns, in order.
    #[must_use]
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The position of the primary key column.
    #[must_use]
    pub fn key_position(&self) -> usize {
        if self.primary_key.is_empty() {
            return 0;
        }
        self.position(&self.primary_key).unwrap_or(0)
    }

    /// The name of the primary key column.
    #[must_use]
    pub fn key_name(&self) -> &str {
        self.columns
            .get(self.key_position())
            .map_or("", |c| c.name.as_str())
    }

    /// The indexed columns' names.
    #[must_use]
    pub fn indexes(&self) -> &[String] {
        &self.indexes
    }

    /// The position of column `name`.
    #[must_use]
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Checks the definition: at least one column, unique column names, a primary key that
    /// names a non-nullable column, indexes on existing columns.
    ///
    /// # Errors
    /// `Error::InvalidSchema` saying what is wrong.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Error::InvalidSchema {
            table: self.name.clone(),
            reason,
        };
        if self.name.is_empty() {
            return Err(invalid("the table name is empty".into()));
        }
        if self.columns.is_empty() {
            return Err(invalid("a table needs at least one column".into()));
        }
        for (i, column) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|c| c.name == column.name) {
                return Err(invalid(format!(
                    "column {:?} is declared twice",
                    column.name
                )));
            }
        }
        if !self.primary_key.is_empty() && self.position(&self.primary_key).is_none() {
            return Err(invalid(format!(
                "primary key {:?} is not a column",
                self.primary_key
            )));
        }
        if self.columns[self.key_position()].nullable {
            return Err(invalid(format!(
                "primary key {:?} must not be nullable",
                self.key_name()
            )));
        }
        if let Some(missing) = self.indexes.iter().find(|i| self.position(i).is_none()) {
            return Err(invalid(format!(
                "index on {missing:?}, which is not a column"
            )));
        }
        let key = &self.columns[self.key_position()];
        if self.auto_inc && !matches!(key.ty, ColumnType::U64 | ColumnType::I64) {
            return Err(invalid(format!(
                "auto_inc key {:?} is {}, not an integer",
                key.name, key.ty
            )));
        }
        for (name, value) in &self.defaults {
            let Some(column) = self.position(name).map(|i| &self.columns[i]) else {
                return Err(invalid(format!(
                    "default of {name:?}, which is not a column"
                )));
            };
            if !(column.ty.admits(value) || column.nullable && value.is_null()) {
                return Err(invalid(format!(
                    "default of {name:?} is {}, not {}",
                    value.kind_name(),
                    column.ty
                )));
            }
        }
        Ok(())
    }

    /// The first column whose definition differs between `self` and `other` (present in one
    /// only, or with another type or nullability), or the primary key when only it differs;
    /// `None` when both have the same shape. Versions and indexes are not compared.
    #[must_use]
    pub fn shape_difference(&self, other: &Schema) -> Option<String> {
        for column in &self.columns {
            if other.columns.iter().all(|c| c != column) {
                return Some(column.name.clone());
            }
        }
        for column in &other.columns {
            if self.columns.iter().all(|c| c != column) {
                return Some(column.name.clone());
            }
        }
        if self
            .columns
            .iter()
            .map(|c| &c.name)
            .ne(other.columns.iter().map(|c| &c.name))
        {
            return Some(format!("column order ({})", self.columns[0].name));
        }
        if self.key_name() != other.key_name() {
            return Some(format!("primary key {}", other.key_name()));
        }
        None
    }

    /// `declared` is this table (as a log holds it) at the same version and shape.
    ///
    /// # Errors
    /// `Error::SchemaChanged` naming the first difference (or the versions).
    pub(crate) fn check_same(&self, declared: &Schema) -> Result<()> {
        let column = self.shape_difference(declared);
        if self.version == declared.version && column.is_none() {
            return Ok(());
        }
        Err(Error::SchemaChanged {
            table: declared.name.clone(),
            version: declared.version,
            column: column
                .unwrap_or_else(|| format!("none; the log holds version {}", self.version)),
        })
    }

    pub(crate) fn from_parts(
        name: String,
        version: u32,
        columns: Vec<Column>,
        primary_key: String,
        indexes: Vec<String>,
    ) -> Schema {
        Schema {
            name,
            version,
            columns,
            primary_key,
            indexes,
            unique: Vec::new(),
            auto_inc: false,
            defaults: Vec::new(),
        }
    }

    /// This schema with `declared`'s in-memory parts: indexes, unique columns, `auto_inc`
    /// and defaults (the log records only the shape).
    pub(crate) fn with_extras_of(mut self, declared: &Schema) -> Schema {
        self.indexes.clone_from(&declared.indexes);
        self.unique.clone_from(&declared.unique);
        self.auto_inc = declared.auto_inc;
        self.defaults.clone_from(&declared.defaults);
        self
    }

    /// This schema's in-memory parts with `other`'s added: indexes and unique columns of
    /// either, `auto_inc` if either has it, defaults of either (this one's first). What two
    /// declarations of one table (the application's and a module's) make together.
    pub(crate) fn with_extras_added(mut self, other: &Schema) -> Schema {
        for index in &other.indexes {
            if !self.indexes.contains(index) {
                self.indexes.push(index.clone());
            }
        }
        for unique in &other.unique {
            if !self.unique.contains(unique) {
                self.unique.push(unique.clone());
            }
        }
        self.auto_inc |= other.auto_inc;
        for (name, value) in &other.defaults {
            if self.default_of(name).is_none() {
                self.defaults.push((name.clone(), value.clone()));
            }
        }
        self
    }

    /// True when `declared`'s in-memory parts are this schema's.
    pub(crate) fn has_extras_of(&self, declared: &Schema) -> bool {
        self.indexes == declared.indexes
            && self.unique == declared.unique
            && self.auto_inc == declared.auto_inc
            && self.defaults == declared.defaults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(version: u32) -> Schema {
        Schema::new("accounts", version)
            .column("id", ColumnType::U64)
            .column("balance", ColumnType::I64)
            .primary_key("id")
    }

    #[test]
    fn invalid_definitions_are_rejected() {
        assert!(accounts(1).validate().is_ok());
        let twice = accounts(1).column("id", ColumnType::Str);
        assert!(matches!(twice.validate(), Err(Error::InvalidSchema { .. })));
        let bad_key = accounts(1).primary_key("nope");
        assert!(matches!(
            bad_key.validate(),
            Err(Error::InvalidSchema { .. })
        ));
        let bad_index = accounts(1).index("nope");
        assert!(matches!(
            bad_index.validate(),
            Err(Error::InvalidSchema { .. })
        ));
        let nullable_key = Schema::new("t", 1).nullable_column("k", ColumnType::U64);
        assert!(matches!(
            nullable_key.validate(),
            Err(Error::InvalidSchema { .. })
        ));
    }

    #[test]
    fn shape_difference_names_the_column() {
        assert_eq!(accounts(1).shape_difference(&accounts(2)), None);
        assert_eq!(
            accounts(1).shape_difference(&accounts(1).index("balance")),
            None
        );
        let added = accounts(1).nullable_column("email", ColumnType::Str);
        assert_eq!(accounts(1).shape_difference(&added), Some("email".into()));
        let retyped = Schema::new("accounts", 2)
            .column("id", ColumnType::U64)
            .column("balance", ColumnType::F64);
        assert_eq!(
            accounts(1).shape_difference(&retyped),
            Some("balance".into())
        );
    }

    #[test]
    fn admits_checks_the_kind() {
        assert!(ColumnType::U64.admits(&Value::U64(1)));
        assert!(!ColumnType::U64.admits(&Value::I64(1)));
        assert!(matches!(
            ColumnType::U64.conform(Value::I64(1)),
            Ok(Value::U64(1))
        ));
        assert!(ColumnType::U64.conform(Value::I64(-1)).is_err());
        assert!(matches!(
            ColumnType::I64.conform(Value::U64(7)),
            Ok(Value::I64(7))
        ));
        assert!(ColumnType::I64.conform(Value::U64(u64::MAX)).is_err());
        assert!(ColumnType::U64.conform(Value::Str("1".into())).is_err());
        assert!(!ColumnType::Str.admits(&Value::Null));
        for byte in 1..=6 {
            let ty = ColumnType::from_byte(byte).unwrap();
            assert_eq!(ty.to_byte(), byte);
        }
        assert_eq!(ColumnType::from_byte(0), None);
    }
}
