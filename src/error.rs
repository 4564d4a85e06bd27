//! `Error` and `Result`: every failure of the engine, each naming what went wrong and where.

use std::io;
use std::path::PathBuf;

use crate::ids::Lsn;

/// The result type of every fallible engine call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a record, a segment header or a seal footer did not validate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// The bytes end before the structure does.
    Truncated,
    /// The record header's checksum does not match.
    HeaderChecksum,
    /// The payload's checksum does not match its header.
    PayloadChecksum,
    /// An unknown record kind.
    UnknownKind(u8),
    /// A length that points past the segment's data area or over the record size limit.
    LengthOutOfBounds(u64),
    /// A record whose LSN does not follow the previous one.
    LsnOutOfOrder {
        /// The LSN the sequence called for.
        expected: Lsn,
        /// The LSN found.
        found: Lsn,
    },
    /// A commit marker that does not describe the records before it.
    MarkerMismatch,
    /// A batch whose last record is missing.
    IncompleteBatch,
    /// Bytes that are neither a record nor the zeroed end of the data area.
    Garbage,
    /// A zeroed record inside data that a later commit marker vouches for.
    ZeroedRecord,
    /// The seal footer does not validate or disagrees with the records.
    Footer(String),
    /// The segment header does not validate.
    SegmentHeader(String),
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Truncated => write!(f, "truncated record"),
            Damage::HeaderChecksum => write!(f, "record header checksum mismatch"),
            Damage::PayloadChecksum => write!(f, "record payload checksum mismatch"),
            Damage::UnknownKind(kind) => write!(f, "unknown record kind {kind}"),
            Damage::LengthOutOfBounds(len) => write!(f, "record length {len} out of bounds"),
            Damage::LsnOutOfOrder { expected, found } => {
                write!(f, "LSN {found} where {expected} was expected")
            }
            Damage::MarkerMismatch => write!(f, "commit marker does not match its records"),
            Damage::IncompleteBatch => write!(f, "batch without its last record"),
            Damage::Garbage => write!(f, "non-zero bytes that are not a record"),
            Damage::ZeroedRecord => write!(f, "zeroed bytes inside committed data"),
            Damage::Footer(why) => write!(f, "seal footer: {why}"),
            Damage::SegmentHeader(why) => write!(f, "segment header: {why}"),
        }
    }
}

/// Every error the engine returns.
///
/// Variants carry the facts an operator needs (file, byte offset, last good LSN); decide by
/// variant, never by message text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the engine was doing (`"open"`, `"preallocate"`, `"fsync"`...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another process (or another `Log` in this one) holds the log's write lock.
    #[error(
        "log {path} is locked by another writer; close it or open read-only (lock file {lock})"
    )]
    Locked {
        /// The log directory.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The directory or file is not an Interstice log (or not one we can use).
    #[error("{path} is not an Interstice log: {reason}")]
    NotALog {
        /// The path concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file was written by a format version this build does not read.
    #[error("{path}: format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion {
        /// The segment file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// Damaged bytes before the log's last durable point, or anywhere in a sealed segment.
    #[error(
        "corruption in {path} at byte {offset}: {damage}; last good LSN {last_good_lsn}; \
         run `interstice verify` then `interstice repair`"
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// The byte offset of the first damaged byte.
        offset: u64,
        /// The last LSN before the damage that validated.
        last_good_lsn: Lsn,
        /// What did not validate.
        damage: Damage,
    },
    /// A torn tail, reported as an error only in `RecoveryMode::Strict`.
    #[error(
        "torn tail in {path} at byte {offset}: {damage}; last good LSN {last_good_lsn}; \
         open with RecoveryMode::TolerateTornTail to discard it"
    )]
    TornTail {
        /// The segment file.
        path: PathBuf,
        /// Where the valid prefix ends.
        offset: u64,
        /// The last LSN of the valid prefix.
        last_good_lsn: Lsn,
        /// What stopped the scan.
        damage: Damage,
    },
    /// A record larger than the segment or the configured limit.
    #[error("record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// The record's length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A batch that does not fit in one segment.
    #[error("batch of {len} bytes does not fit in one segment ({max} bytes of data)")]
    BatchTooLarge {
        /// The batch's framed length.
        len: u64,
        /// The data capacity of one segment.
        max: u64,
    },
    /// A flush failed earlier; the page cache may have dropped data. Reopen the log.
    #[error("log {path} is poisoned by an earlier failed flush ({cause}); reopen it")]
    Poisoned {
        /// The log directory.
        path: PathBuf,
        /// The first failure.
        cause: String,
    },
    /// A write was attempted on a log opened read-only.
    #[error("log {path} is open read-only")]
    ReadOnly {
        /// The log directory.
        path: PathBuf,
    },
    /// An option is out of range.
    #[error("invalid option {name}: {reason}")]
    InvalidOptions {
        /// The option.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An LSN outside the log's range was passed where one inside it is required.
    #[error("LSN {lsn} is outside the log's range {first}..={last}")]
    LsnOutOfRange {
        /// The LSN asked for.
        lsn: Lsn,
        /// The first LSN held.
        first: Lsn,
        /// The last LSN held.
        last: Lsn,
    },
    /// A follower's log was truncated (a suffix removed, by `truncate_after`, a repair, or a
    /// writer's recovery of a crash) below a record the follower had already handed out.
    #[error(
        "log {path} was truncated after LSN {kept}, below LSN {position} this follower had \
         already read: the records it read after {kept} are gone; follow again from {kept}"
    )]
    FollowerTruncated {
        /// The log directory.
        path: PathBuf,
        /// The last LSN the truncation kept.
        kept: Lsn,
        /// The last LSN the follower had handed out.
        position: Lsn,
    },
    /// Retention removed records before a follower read them.
    #[error(
        "log {path} no longer holds LSN {needed}, the next record this follower needed: \
         retention removed it{}",
        first.map_or(String::new(), |f| format!(" (the log starts at LSN {f})"))
    )]
    FollowerBehind {
        /// The log directory.
        path: PathBuf,
        /// The LSN the follower needed next.
        needed: Lsn,
        /// The first LSN the log still holds, if known.
        first: Option<Lsn>,
    },
    /// A replica that `ship` cannot bring up to date without breaking it: it holds segments
    /// the source does not (or of another log), its end is older than the source's start, or
    /// its bytes differ from the source's.
    #[error("{path} is not a replica of the source log: {reason}")]
    ReplicaDiverged {
        /// The replica's directory or segment file concerned.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the error is the OS reporting a full disk or a file size limit.
    #[must_use]
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull
                    | io::ErrorKind::FileTooLarge
                    | io::ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }

    /// True when the error reports damaged bytes (corruption or, in strict mode, a torn tail).
    #[must_use]
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::TornTail { .. })
    }
}
