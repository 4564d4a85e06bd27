//! The durable LSN and its truncation epochs: a flush raises the durable LSN only to an LSN it
//! read in the epoch that is still current, so no flush begun before a suffix truncation can
//! name records appended after it.

use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use parking_lot::Mutex;

use crate::disk::beacon::Beacon;

/// A truncation epoch, read under the writer lock with the LSN a flush will cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch(u64);

/// The highest LSN a completed flush covered in the current epoch.
#[derive(Debug)]
pub struct DurableLsn {
    value: AtomicU64,
    /// The current epoch; its lock makes "check the epoch, then raise" one step against a
    /// truncation's "new epoch, then lower".
    epoch: Mutex<u64>,
    /// Where followers read it, kept equal to `value` under the epoch lock.
    mirror: Option<Arc<Beacon>>,
}

impl DurableLsn {
    /// Durable up to `lsn`, in the first epoch.
    pub fn new(lsn: u64, mirror: Option<Arc<Beacon>>) -> DurableLsn {
        DurableLsn {
            value: AtomicU64::new(lsn),
            epoch: Mutex::new(0),
            mirror,
        }
    }

    fn mirror(&self) {
        if let Some(beacon) = &self.mirror {
            beacon.set_durable(self.value.load(Ordering::Acquire));
        }
    }

    /// The durable LSN.
    #[inline]
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// The current epoch. Read it under the writer lock, with the LSN a flush will cover:
    /// only a truncation, which holds that lock, starts a new one.
    pub fn epoch(&self) -> Epoch {
        Epoch(*self.epoch.lock())
    }

    /// Raises the durable LSN to `lsn`, which a completed flush covered, unless a truncation
    /// started a new epoch since `epoch` was read (the LSN may then name other records).
    /// Returns whether the epoch was still current.
    pub fn raise(&self, epoch: Epoch, lsn: u64) -> bool {
        let current = self.epoch.lock();
        if *current != epoch.0 {
            return false;
        }
        if self.value.fetch_max(lsn, Ordering::AcqRel) < lsn {
            self.mirror();
        }
        true
    }

    /// A suffix truncation to `lsn`: a new epoch, and the durable LSN lowered to `lsn`. Call
    /// it under the writer lock, before the last LSN is lowered, so that the durable LSN never
    /// exceeds the last one.
    pub fn truncate(&self, lsn: u64) {
        let mut epoch = self.epoch.lock();
        *epoch += 1;
        self.value.fetch_min(lsn, Ordering::AcqRel);
        self.mirror();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_read_before_a_truncation_raises_nothing() {
        let durable = DurableLsn::new(10, None);
        let before = durable.epoch();
        durable.truncate(5);
        assert!(!durable.raise(before, 12));
        assert_eq!(durable.get(), 5);
        assert!(durable.raise(durable.epoch(), 7));
        assert_eq!(durable.get(), 7);
    }
}
