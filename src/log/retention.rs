//! Retention and suffix removal: `truncate_before`, `truncate_after`, and the limits by bytes
//! and by segment count applied after each rotation.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Log;
use super::writer::Writer;
use crate::disk::file;
use crate::error::{Error, Result};
use crate::ids::Lsn;
use crate::points::{self, Point};
use crate::segment::Segment;
use crate::segment::active::Cut;

impl Log {
    /// Removes every sealed segment all of whose records are below `lsn` (retention). The
    /// records at and after `lsn` stay; so may a few below it, in the segment holding `lsn`.
    /// Readers holding removed segments keep reading them. Returns the number removed.
    ///
    /// # Errors
    /// `Error::ReadOnly`, `Error::Poisoned`, or `Error::Io` from removing a file.
    pub fn truncate_before(&self, lsn: Lsn) -> Result<usize> {
        let mut guard = self.lock_writer()?;
        let writer = guard.as_mut().expect("checked by lock_writer");
        self.finish_sealing(writer)?;
        self.remove_oldest_while(|segments| segments.len() > 1 && segments[1].base_lsn() <= lsn.0)
    }

    /// Removes every record after `lsn` (suffix removal, for consensus logs and repair). The
    /// next append gets `lsn + 1`: removed LSNs are given again to the records that replace
    /// them. Readers taken before keep seeing the old records. A cut inside the active segment
    /// rewinds it in place (its removed records are zeroed on disk, no file is created);
    /// otherwise the active segment is sealed and a new one continues the log
    /// (docs/FORMAT.md, section 3). When it returns, every record kept is durable; a crash
    /// before that leaves a prefix of the log before it, holding at least the records up to
    /// `lsn` that were durable.
    ///
    /// # Errors
    /// `Error::ReadOnly`; `Error::Poisoned`; `Error::Io` from sealing, removing a file or
    /// creating the segment that continues the log (the log is then poisoned: reopen it).
    /// An `lsn` before every record held empties the log; the next append gets `lsn + 1`. An
    /// `lsn` at or after the last record removes nothing and returns `Ok(())`: the log
    /// already ends at or before it, and the next append still gets the last LSN + 1 (this is
    /// what a consensus log asks when it removes a conflicting suffix that is not there).
    pub fn truncate_after(&self, lsn: Lsn) -> Result<()> {
        let mut guard = self.lock_writer()?;
        let writer = guard.as_mut().expect("checked by lock_writer");
        let x = lsn.0;
        if x + 1 >= writer.next_lsn {
            return Ok(());
        }
        self.finish_sealing(writer)?;
        if let Some(cut) = writer.unfreeze_for_cut(x, &self.segments) {
            return self.rewind_active(writer, x, &cut);
        }
        self.seal_active(writer)?;
        // From here a failure leaves the writer without an active segment: poison the log so
        // that it is reopened, which recovers whichever state reached the disk.
        self.cut_suffix(writer, x).map_err(|e| self.poison(e))
    }

    /// The cut falls inside the active segment, which no one else holds: remove the records
    /// after it in place (`docs/DESIGN_DECISIONS.md`, "Suffix truncation"). Readers already see
    /// the cut (`unfreeze_for_cut`).
    fn rewind_active(&self, writer: &mut Writer, x: u64, cut: &Cut) -> Result<()> {
        // Followers first: before any byte of the removed records changes.
        self.announce_cut(x);
        self.durable_lsn.truncate(x);
        self.last_lsn.store(x, Ordering::Release);
        writer.next_lsn = x + 1;
        points::reach(Point::Rewinding);
        let path = writer.active.segment().path().to_owned();
        writer
            .active
            .rewind(cut)
            .map_err(|e| self.poison(Error::io("msync", path, e)))?;
        // The rewind flushed every record kept, with a marker for them.
        self.durable_lsn.raise(self.durable_lsn.epoch(), x);
        self.publish(writer);
        self.cut_done();
        writer.schedule_background();
        Ok(())
    }

    fn cut_suffix(&self, writer: &mut Writer, x: u64) -> Result<()> {
        self.announce_cut(x);
        let segments = self.segments.read().clone();
        // The segment that keeps the records up to `x`: the last one starting at or before
        // `x + 1`; when `x` precedes the log, the first one, superseded whole (it stays, so
        // that segment ids remain contiguous, until retention removes it).
        let keep = segments
            .iter()
            .rposition(|s| s.base_lsn() <= x + 1)
            .unwrap_or(0);
        // Newest first, so a crash leaves a contiguous run of segments.
        for removed in segments[keep + 1..].iter().rev() {
            file::remove_durably(removed.path())?;
        }
        let id = segments[keep].id().next();
        let active = writer.activate(id, x + 1)?;
        points::reach(Point::SuffixCut);
        {
            // One step for readers (they take their views under the list's lock): the kept
            // segment's bound and the list without the removed segments, never one alone,
            // which would show an LSN gap.
            let mut list = self.segments.write();
            Segment::set_lsn_end(&segments[keep], x + 1);
            list.truncate(keep + 1);
            list.push(Arc::clone(active.segment()));
        }
        writer.active = active;
        writer.next_lsn = x + 1;
        writer.schedule_background();
        // The durable LSN first, so that it never exceeds the last LSN.
        self.durable_lsn.truncate(x);
        self.last_lsn.store(x, Ordering::Release);
        self.publish(writer);
        self.cut_done();
        Ok(())
    }

    /// Tells followers that only the records up to `x` stay; they hold until `cut_done`
    /// (after a failure, until the log is opened again).
    fn announce_cut(&self, x: u64) {
        if let Some(beacon) = self.beacon() {
            beacon.cut(x);
        }
    }

    /// The truncation is done and published: followers go on.
    fn cut_done(&self) {
        if let Some(beacon) = self.beacon() {
            beacon.cut_done();
        }
    }

    /// Applies `options.retention` (called after each rotation, under the writer lock).
    pub(super) fn apply_retention(&self, writer: &mut Writer) -> Result<()> {
        let retention = self.options.retention;
        if retention.segments_max.is_none() && retention.bytes_max.is_none() {
            return Ok(());
        }
        // Never remove segments while the newest is not yet named: a crash then would leave
        // no segment at all.
        self.finish_sealing(writer)?;
        self.remove_oldest_while(|segments| {
            let bytes: u64 = segments.iter().map(|s| s.header().segment_size).sum();
            segments.len() > 1
                && (retention
                    .segments_max
                    .is_some_and(|max| segments.len() > max)
                    || retention.bytes_max.is_some_and(|max| bytes > max))
        })
        .map(|_| ())
    }

    /// Removes the oldest segment while `over` holds (never the active one), each removal
    /// durable before the next, so the remaining segments stay contiguous.
    fn remove_oldest_while(&self, over: impl Fn(&[Arc<Segment>]) -> bool) -> Result<usize> {
        let mut removed = 0;
        loop {
            let oldest = {
                let segments = self.segments.read();
                if !over(&segments) || segments.len() < 2 {
                    return Ok(removed);
                }
                Arc::clone(&segments[0])
            };
            file::remove_durably(oldest.path())?;
            self.segments.write().remove(0);
            removed += 1;
        }
    }
}
