//! `LogReader`: a snapshot of the log's segments; borrowed record slices in LSN order.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::error::Result;
use crate::ids::Lsn;
use crate::segment::{Cursor, Record, SealedCounts, Segment};

/// One segment as a reader sees it: up to the data end published when the reader was taken.
#[derive(Debug, Clone)]
pub struct View {
    segment: Arc<Segment>,
    end: usize,
    lsn_end: u64,
    /// The segment's last LSN when the view was taken (read after `end`, so it covers every
    /// record below `end`). A walk that resynchronizes past damage can meet records the
    /// open-time scan rejected; none may lie beyond what the log says it holds.
    last_lsn: u64,
    /// The counts of a segment sealed when the view was taken.
    sealed: Option<SealedCounts>,
    skip_damage: bool,
}

impl View {
    pub(crate) fn of(segment: &Arc<Segment>) -> View {
        let sealed = segment.sealed_counts();
        let end = segment.data_end();
        View {
            end,
            sealed,
            lsn_end: segment.lsn_end(),
            last_lsn: segment.last_lsn(),
            segment: Arc::clone(segment),
            skip_damage: false,
        }
    }

    /// Exclusive upper bound of the LSNs this view yields.
    #[must_use]
    pub fn lsn_end(&self) -> u64 {
        self.lsn_end
    }

    /// Where a walk of the records with LSN `from_lsn` and up starts, where it ends, and the
    /// offsets of index entries between, at least `spacing` bytes apart: the places where it
    /// can be cut into pieces.
    pub(crate) fn cuts(&self, from_lsn: u64, spacing: usize) -> (usize, usize, Vec<usize>) {
        let (start, end) = self.bounds(from_lsn);
        (start, end, self.segment.cuts(start, end, spacing))
    }

    /// Where a walk of the records with LSN `from_lsn` and up starts and ends.
    pub(crate) fn bounds(&self, from_lsn: u64) -> (usize, usize) {
        let start = self.segment.offset_for(from_lsn);
        (start, self.end.max(start))
    }

    /// Checks the records that start in `start..end` of the view, and the batches begun
    /// among them, to their ends (`Segment::check_span`): what a walk trusting that piece
    /// (`Cursor::trusting`) leaves unchecked.
    pub(crate) fn check_span(&self, start: usize, end: usize, stop: &AtomicBool) -> bool {
        self.segment.check_span(self.end, start, end, stop)
    }

    /// Whether its walks pass over damage (a `SkipCorrupt` log's).
    #[must_use]
    pub(crate) fn skips_damage(&self) -> bool {
        self.skip_damage
    }

    /// Walks the records with LSN `from_lsn` and up.
    #[must_use]
    pub fn cursor(&self, from_lsn: u64) -> Cursor<'_> {
        let offset = self.segment.offset_for(from_lsn);
        let lsn_end = self.lsn_end.min(self.last_lsn.saturating_add(1));
        self.segment
            .cursor(offset, self.end, lsn_end, from_lsn, self.skip_damage)
            .agreeing_with(self.sealed)
    }
}

/// A consistent snapshot of the log for reading. Records borrow from it: they stay valid
/// (mapped) as long as the reader lives, whatever the writer does meanwhile.
#[derive(Debug, Clone)]
pub struct LogReader {
    views: Vec<View>,
}

impl LogReader {
    pub(crate) fn new(mut views: Vec<View>, skip_damage: bool) -> LogReader {
        for view in &mut views {
            view.skip_damage = skip_damage;
        }
        LogReader { views }
    }

    pub(crate) fn into_views(self) -> Vec<View> {
        self.views
    }

    /// Every record, in LSN order.
    #[must_use]
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(Lsn::ZERO)
    }

    /// Every record with LSN `from` or greater, in LSN order. Finding the start costs
    /// O(log n): a binary search over segments, then over the segment's sparse index.
    #[must_use]
    pub fn iter_from(&self, from: Lsn) -> Iter<'_> {
        let position = self
            .views
            .partition_point(|view| view.segment.base_lsn() <= from.0)
            .saturating_sub(1);
        Iter {
            views: &self.views[position..],
            cursor: None,
            from: from.0,
        }
    }

    /// The record with LSN `lsn`, if the log holds it.
    ///
    /// # Errors
    /// `Error::Corrupt` when damage lies between the index entry and the record.
    pub fn get(&self, lsn: Lsn) -> Result<Option<Record<'_>>> {
        match self.iter_from(lsn).next() {
            Some(Ok(record)) if record.lsn == lsn => Ok(Some(record)),
            Some(Err(error)) => Err(error),
            _ => Ok(None),
        }
    }

    /// Number of segments in the snapshot.
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.views.len()
    }
}

/// Iterator over a reader's records; each item borrows the mapping.
#[derive(Debug)]
pub struct Iter<'a> {
    views: &'a [View],
    cursor: Option<Cursor<'a>>,
    from: u64,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cursor) = &mut self.cursor {
                if let Some(item) = cursor.next() {
                    if item.is_err() {
                        self.views = &[];
                    }
                    return Some(item);
                }
                self.cursor = None;
            }
            let (view, rest) = self.views.split_first()?;
            self.views = rest;
            if view.lsn_end > self.from {
                self.cursor = Some(view.cursor(self.from));
            }
        }
    }
}

impl<'a> IntoIterator for &'a LogReader {
    type Item = Result<Record<'a>>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}
