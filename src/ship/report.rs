//! What a pass of `ship` did (`ShipReport`, one `ShippedSegment` per segment) and, for a
//! `Shipper`, how far the replica trails the source (`Lag`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::ids::Lsn;

/// What a pass did to one segment of the replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The replica did not hold the segment: it was copied.
    Copied,
    /// The replica held an older copy (a prefix of a segment still being written then): it
    /// was replaced.
    Replaced,
    /// The replica's copy was already current.
    Unchanged,
}

/// One segment of a pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShippedSegment {
    /// The segment's file name (the same in the source and the replica).
    pub file: String,
    /// What was done.
    pub action: Action,
    /// True when the replica's copy is sealed (a whole copy of a sealed source segment);
    /// false for the replica's last segment when it holds a prefix of one still written.
    pub sealed: bool,
    /// Records in the replica's copy.
    pub records: u64,
    /// Last LSN in the replica's copy.
    #[serde(serialize_with = "lsn_or_null")]
    pub last_lsn: Option<Lsn>,
    /// Bytes written to the replica for it (0 when unchanged).
    pub bytes: u64,
}

/// What one pass of `ship` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShipReport {
    /// The source log's directory.
    pub src: PathBuf,
    /// The replica's directory.
    pub dst: PathBuf,
    /// Segments copied.
    pub copied: usize,
    /// Segments replaced.
    pub replaced: usize,
    /// Segments already current.
    pub unchanged: usize,
    /// Bytes written to the replica.
    pub bytes_copied: u64,
    /// The last LSN the replica holds (`None` when it holds no record).
    #[serde(serialize_with = "lsn_or_null")]
    pub shipped_lsn: Option<Lsn>,
    /// Every segment of the source, in order.
    pub segments: Vec<ShippedSegment>,
}

impl ShipReport {
    /// The report of a pass over `segments`.
    pub(super) fn new(src: PathBuf, dst: PathBuf, segments: Vec<ShippedSegment>) -> ShipReport {
        let count = |action| segments.iter().filter(|s| s.action == action).count();
        ShipReport {
            copied: count(Action::Copied),
            replaced: count(Action::Replaced),
            unchanged: count(Action::Unchanged),
            bytes_copied: segments.iter().map(|s| s.bytes).sum(),
            shipped_lsn: segments.iter().rev().find_map(|s| s.last_lsn),
            src,
            dst,
            segments,
        }
    }

    /// True when the pass wrote anything to the replica.
    #[must_use]
    pub fn changed(&self) -> bool {
        self.copied + self.replaced > 0
    }
}

/// How far the replica trails the source after a pass of a `Shipper`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Lag {
    /// The source's durable LSN as its writer published it at the end of the pass (without
    /// a writer, what the source holds up to its last commit marker); never below
    /// `replica_last`.
    #[serde(serialize_with = "lsn")]
    pub source_durable: Lsn,
    /// The last LSN the replica holds (`Lsn::ZERO`: none).
    #[serde(serialize_with = "lsn")]
    pub replica_last: Lsn,
    /// Durable records of the source the replica does not hold yet.
    pub behind: u64,
    /// How long the pass took.
    #[serde(rename = "pass_ms", serialize_with = "millis")]
    pub pass_time: Duration,
}

impl Lag {
    pub(super) fn new(
        source_durable: Option<Lsn>,
        report: &ShipReport,
        pass_time: Duration,
    ) -> Lag {
        let replica_last = report.shipped_lsn.unwrap_or(Lsn::ZERO);
        let source_durable = source_durable.map_or(replica_last, |d| d.max(replica_last));
        Lag {
            source_durable,
            replica_last,
            behind: source_durable.0 - replica_last.0,
            pass_time,
        }
    }
}

/// One pass of a `Shipper`: what it did and the lag after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pass {
    /// What the pass did.
    pub report: ShipReport,
    /// How far the replica trails the source after it.
    pub lag: Lag,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's serialize_with signature"
)]
fn lsn<S: Serializer>(lsn: &Lsn, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(lsn.0)
}

#[allow(clippy::ref_option, reason = "serde's serialize_with signature")]
fn lsn_or_null<S: Serializer>(lsn: &Option<Lsn>, serializer: S) -> Result<S::Ok, S::Error> {
    match lsn {
        Some(lsn) => serializer.serialize_u64(lsn.0),
        None => serializer.serialize_none(),
    }
}

fn millis<S: Serializer>(time: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(time.as_secs_f64() * 1000.0)
}
