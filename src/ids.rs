//! `Lsn` and `SegmentId`: the two identities of the log, as newtypes.

use std::fmt;

/// A log sequence number: the identity of one record.
///
/// LSNs grow by one per record. `Lsn::ZERO` means "no record" (the durable LSN of a log that
/// has made nothing durable yet); the first record of a new log is `Lsn(1)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// "No record": sorts before every real LSN.
    pub const ZERO: Lsn = Lsn(0);
    /// The LSN of the first record of a new log.
    pub const FIRST: Lsn = Lsn(1);

    /// The LSN after this one.
    #[must_use]
    pub fn next(self) -> Lsn {
        Lsn(self.0 + 1)
    }

    /// The raw value.
    #[must_use]
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The identity of one segment file; it grows by one per segment and orders segments by LSN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub u64);

impl SegmentId {
    /// The id of the first segment of a new log.
    pub const FIRST: SegmentId = SegmentId(1);

    /// The id after this one.
    #[must_use]
    pub fn next(self) -> SegmentId {
        SegmentId(self.0 + 1)
    }

    /// The raw value.
    #[must_use]
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_orders_and_steps() {
        assert!(Lsn::ZERO < Lsn::FIRST);
        assert_eq!(Lsn(41).next(), Lsn(42));
        assert_eq!(Lsn(7).to_string(), "7");
        assert_eq!(SegmentId(3).next(), SegmentId(4));
    }
}
