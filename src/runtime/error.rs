//! The runtime's `Error` (wrapping the log's) and `Result`.

use std::path::PathBuf;

use crate::Lsn;

/// What a migration function returns when it cannot convert a row.
pub type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// `Result` with the runtime's `Error`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error of the runtime. Decide by variant, never by message text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log failed (I/O, corruption, a poisoned log, a record too large...).
    #[error(transparent)]
    Log(#[from] crate::Error),
    /// A snapshot file could not be written or read.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the runtime was doing.
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A schema definition is not valid.
    #[error("schema of table {table:?} is invalid: {reason}")]
    InvalidSchema {
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// No table of that name.
    #[error("no table {table:?}; declare its schema in RuntimeConfig")]
    NoSuchTable {
        /// The table asked for.
        table: String,
    },
    /// No column of that name in the table.
    #[error("table {table:?} has no column {column:?}")]
    NoSuchColumn {
        /// The table.
        table: String,
        /// The column asked for.
        column: String,
    },
    /// A value of the wrong type for its column.
    #[error("table {table:?}, column {column:?}: expected {expected}, got {found}")]
    TypeMismatch {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The column's type.
        expected: super::ColumnType,
        /// The kind of the value given.
        found: &'static str,
    },
    /// A row without a value for a column that is not nullable.
    #[error("table {table:?}: column {column:?} needs a value (it is not nullable)")]
    MissingValue {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// An insert of a key the table already holds.
    #[error("table {table:?} already holds key {key}")]
    DuplicateKey {
        /// The table.
        table: String,
        /// The key, displayed.
        key: String,
    },
    /// A typed row could not be made from a table's values: the table holds another shape
    /// than the type, or a value the field's type cannot take.
    #[error("table {table:?}, column {column:?}: {reason}")]
    Conversion {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// An insert or update that would put a value twice in a unique column.
    #[error("table {table:?}: column {column:?} already holds {value} (it is unique)")]
    UniqueViolation {
        /// The table.
        table: String,
        /// The unique column.
        column: String,
        /// The value, displayed.
        value: String,
    },
    /// A call by name of a reducer the runtime does not know.
    #[error("no reducer {reducer:?}; register it with RuntimeConfig::reducer")]
    NoSuchReducer {
        /// The name asked for.
        reducer: String,
    },
    /// A call by name whose arguments do not fit the reducer's parameters.
    #[error("reducer {reducer:?}: {reason}")]
    BadArguments {
        /// The reducer.
        reducer: String,
        /// What is wrong (count, or an argument's type).
        reason: String,
    },
    /// A reducer called by name returned an error or panicked; nothing was written.
    #[error("reducer {reducer:?} failed: {message}")]
    ReducerFailed {
        /// The reducer.
        reducer: String,
        /// Its error, or the panic's message.
        message: String,
    },
    /// An update or delete of a key the table does not hold.
    #[error("table {table:?} holds no key {key}")]
    NotFound {
        /// The table.
        table: String,
        /// The key, displayed.
        key: String,
    },
    /// The transaction's closure gave up; nothing was written.
    #[error("transaction aborted: {reason}")]
    Aborted {
        /// Why.
        reason: String,
        /// The application's error, when [`Error::abort`] made it.
        #[source]
        source: Option<MigrationError>,
    },
    /// The code declares an older schema version than the log holds.
    #[error(
        "table {table:?}: the code declares schema version {code_version} but the log holds \
         version {log_version} (column {column}); run a build that knows version {log_version}"
    )]
    SchemaTooOld {
        /// The table.
        table: String,
        /// The version in the code.
        code_version: u32,
        /// The version in the log.
        log_version: u32,
        /// The first column that differs (or "none").
        column: String,
    },
    /// The schema changed without a change of version.
    #[error(
        "table {table:?}: schema version {version} in the code differs from the log's \
         (column {column}); bump the version and register a migration"
    )]
    SchemaChanged {
        /// The table.
        table: String,
        /// The version both claim.
        version: u32,
        /// The first column that differs.
        column: String,
    },
    /// No chain of registered migrations leads from the log's version to the code's.
    #[error(
        "table {table:?}: no migration from schema version {from} to {to} (column {column}); \
         register one in Migrations"
    )]
    MissingMigration {
        /// The table.
        table: String,
        /// The version in the log (or where the chain stopped).
        from: u32,
        /// The version in the code.
        to: u32,
        /// The first column that differs (or "none").
        column: String,
    },
    /// The records of a migration do not fit in one segment (a migration is one atomic batch).
    #[error(
        "migration {migrations} writes {len} bytes, more than one segment holds ({max} bytes \
         of data with segment_size {segment_size}): raise Options::segment_size"
    )]
    MigrationTooLarge {
        /// The migrations of the batch, each with its table.
        migrations: String,
        /// The batch's framed length.
        len: u64,
        /// The data capacity of one segment.
        max: u64,
        /// The log's `Options::segment_size`.
        segment_size: u64,
    },
    /// A migration registered from a version to the same or an older one.
    #[error(
        "migration {migration:?} of table {table:?} goes from version {from} to {to}: a \
         migration must go to a newer version"
    )]
    InvalidMigration {
        /// The table.
        table: String,
        /// The migration's name.
        migration: String,
        /// The version it was registered from.
        from: u32,
        /// The version it was registered to.
        to: u32,
    },
    /// A migration function failed, or produced rows the new schema rejects.
    #[error("migration {migration:?} of table {table:?} ({from} -> {to}) failed: {source}")]
    MigrationFailed {
        /// The table.
        table: String,
        /// The migration's name.
        migration: String,
        /// Its source version.
        from: u32,
        /// Its target version.
        to: u32,
        /// What went wrong.
        #[source]
        source: MigrationError,
    },
    /// A log record or snapshot the runtime cannot decode.
    #[error("cannot decode runtime record at LSN {lsn}: {reason}")]
    Decode {
        /// The record's LSN (for a snapshot, the LSN it was taken at).
        lsn: Lsn,
        /// What is wrong.
        reason: String,
    },
    /// The log no longer holds the records that follow every valid snapshot.
    #[error(
        "the log starts at LSN {first_lsn} but no valid snapshot covers the records before it \
         (newest usable snapshot: {snapshot_lsn}); restore a snapshot from a backup"
    )]
    SnapshotGap {
        /// The first LSN the log holds.
        first_lsn: Lsn,
        /// The LSN of the newest valid snapshot (0 when none).
        snapshot_lsn: Lsn,
    },
}

impl Error {
    /// An `Error::Aborted` with `reason`, for a transaction that decides not to commit.
    pub fn aborted(reason: impl Into<String>) -> Error {
        Error::Aborted {
            reason: reason.into(),
            source: None,
        }
    }

    /// An `Error::Aborted` carrying the application's own error, which
    /// [`Error::aborted_with`] gives back:
    ///
    /// ```
    /// use interstice::runtime::Error;
    ///
    /// #[derive(Debug, thiserror::Error, PartialEq)]
    /// #[error("insufficient funds: {0} short")]
    /// struct Insufficient(i64);
    ///
    /// let error = Error::abort(Insufficient(5));
    /// assert_eq!(error.aborted_with::<Insufficient>(), Some(&Insufficient(5)));
    /// assert_eq!(error.to_string(), "transaction aborted: insufficient funds: 5 short");
    /// ```
    pub fn abort(error: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Aborted {
            reason: error.to_string(),
            source: Some(Box::new(error)),
        }
    }

    /// The application's error of an `Error::Aborted` made by [`Error::abort`], if it is
    /// an `E`.
    #[must_use]
    pub fn aborted_with<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Error::Aborted {
                source: Some(source),
                ..
            } => source.downcast_ref::<E>(),
            _ => None,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
