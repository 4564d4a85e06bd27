//! `Cursor`: one segment's records in order, every checksum checked, or trusted where
//! another walk checked them.

use crate::error::{Damage, Error};
use crate::format::SEGMENT_HEADER_SIZE;
use crate::format::record::{self, FLAG_BATCH_CONTINUES, KIND_DATA, Step};
use crate::ids::Lsn;

use super::{Record, Segment, scan};

impl Segment {
    /// Walks the records in `offset..end` with LSN in `from_lsn..lsn_end`, checking each.
    #[must_use]
    pub fn cursor(
        &self,
        offset: usize,
        end: usize,
        lsn_end: u64,
        from_lsn: u64,
        skip_damage: bool,
    ) -> Cursor<'_> {
        let frozen = self.map.frozen();
        Cursor {
            segment: self,
            data: &frozen[..end.min(frozen.len())],
            offset,
            lsn_end,
            from_lsn,
            last_lsn: 0,
            skip_damage,
            done: false,
            batch_end: 0,
            from_index: offset > SEGMENT_HEADER_SIZE,
            seen: 0,
            sealed: None,
            trust: None,
            trusted_until: 0,
            next_cut: usize::MAX,
            prefetch: Prefetch::default(),
        }
    }
}

/// Walks one segment's records in order, validating every checksum, except in the pieces
/// another walk checked (`Cursor::trusting`).
#[derive(Debug)]
pub struct Cursor<'a> {
    segment: &'a Segment,
    data: &'a [u8],
    offset: usize,
    lsn_end: u64,
    from_lsn: u64,
    last_lsn: u64,
    skip_damage: bool,
    done: bool,
    /// End of the batch whose every record was checked ahead of yielding its first: records
    /// before it are decoded without checking them again (`record::decode_checked`).
    batch_end: usize,
    /// The walk started at an index entry, which the first data record must not pass.
    from_index: bool,
    /// Data records walked (yielded or passed over below `from_lsn`).
    seen: u64,
    /// What a sealed segment's footer says, for the walk to agree with.
    sealed: Option<SealedCounts>,
    /// Which pieces of the walk another walk checked (`Cursor::trusting`).
    trust: Option<&'a dyn Trust>,
    /// Records that start below this offset are walked without computing checksums.
    trusted_until: usize,
    /// The next piece start at which to ask `trust`.
    next_cut: usize,
    /// Keeps the bytes ahead of the walk prefetched.
    prefetch: Prefetch,
}

/// How far ahead of a walk its bytes are prefetched: the loads of a walk that does little
/// work per byte (small records, or a trusted piece) would otherwise each wait for memory in
/// turn (measured in docs/PERFORMANCE.md, "Replay on two cores").
const PREFETCH_AHEAD: usize = 2048;

/// Keeps the bytes `PREFETCH_AHEAD` ahead of a walk prefetched.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Prefetch {
    to: usize,
}

impl Prefetch {
    /// Prefetches what is not yet prefetched of the `PREFETCH_AHEAD` bytes from `offset`.
    #[inline]
    pub(super) fn ahead_of(&mut self, data: &[u8], offset: usize) {
        if self.to < offset + PREFETCH_AHEAD {
            let from = self.to.max(offset);
            self.to = offset + PREFETCH_AHEAD;
            crate::disk::mmap::prefetch(data, from..self.to);
        }
    }
}

/// Says which pieces of a cursor's walk another walk already checked. A piece runs from one
/// cut (a record's start, from the sparse index) to the next.
pub trait Trust {
    /// The walk reached `at`, a piece start that `next_cut` named: the piece's end when
    /// another walk checked, from `at`, the checksums of every record that starts before
    /// there and that each batch begun among them is whole, and found no damage
    /// (`Segment::check_span`).
    fn checked_from(&self, at: usize) -> Option<usize>;

    /// The first piece start after `at` (`usize::MAX` when none).
    fn next_cut(&self, at: usize) -> usize;
}

impl std::fmt::Debug for dyn Trust + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trust")
    }
}

/// A sealed segment's counts, as a reader's view saw them.
#[derive(Clone, Copy, Debug)]
pub struct SealedCounts {
    /// Its last LSN (0 when it holds none).
    pub last_lsn: u64,
    /// Its data records.
    pub records: u64,
    /// The bound a suffix truncation set (`u64::MAX` when none).
    pub lsn_end: u64,
}

impl<'a> Cursor<'a> {
    /// Checks the walk against a sealed segment's counts (`Segment::sealed_counts`).
    #[must_use]
    pub fn agreeing_with(mut self, sealed: Option<SealedCounts>) -> Cursor<'a> {
        self.sealed = sealed.filter(|_| !self.skip_damage);
        self
    }

    /// Continues a walk that an earlier cursor over the same bytes left after the record of
    /// LSN `last_lsn`, inside a batch it checked up to `batch_end` (`offset`, `batch_end`):
    /// the next record must follow `last_lsn`, and the batch is not checked again.
    #[must_use]
    pub(crate) fn resuming(mut self, last_lsn: u64, batch_end: usize) -> Cursor<'a> {
        self.last_lsn = last_lsn;
        self.batch_end = batch_end;
        self.from_index = false;
        self
    }

    /// Where the walk stands: the offset of the next record, the end of the batch checked
    /// ahead, and the LSN of the last record walked (0 when none), for `resuming`.
    #[must_use]
    pub(crate) fn position(&self) -> (usize, usize, u64) {
        (self.offset, self.batch_end, self.last_lsn)
    }

    /// Walks the pieces that `trust` vouches for without computing checksums: bytes another
    /// walk checked a moment ago (`Trust::checked_from`), which cannot change while this
    /// cursor lives (frozen bytes of a mapping). A piece is trusted only when this walk lands
    /// exactly on its start, so both walks read the same records. Everything else (ends,
    /// kinds, bounds, LSN order, agreement with a footer) is decided as in a checking walk,
    /// so both yield the same records.
    #[must_use]
    pub fn trusting(mut self, trust: &'a dyn Trust) -> Cursor<'a> {
        self.trust = Some(trust);
        self.next_cut = self.offset;
        self
    }

    /// Before each step: asks `trust` about a piece starting here, and prefetches ahead.
    /// Returns whether the record here is trusted.
    #[inline]
    fn before_step(&mut self) -> bool {
        if self.offset >= self.next_cut {
            self.reach_cut();
        }
        self.prefetch.ahead_of(self.data, self.offset);
        self.offset < self.trusted_until
    }

    /// At or past the next cut: trusts the piece that starts exactly here, if `trust` says
    /// it was checked.
    #[cold]
    fn reach_cut(&mut self) {
        let Some(trust) = self.trust else {
            self.next_cut = usize::MAX;
            return;
        };
        if self.offset == self.next_cut
            && let Some(end) = trust.checked_from(self.offset)
        {
            self.trusted_until = end;
        }
        self.next_cut = trust.next_cut(self.offset);
    }

    /// The record at the cursor: decoded only, in a trusted piece or inside a batch checked
    /// ahead (`check_batch`), else parsed and checked whole.
    fn step(&self, trusted: bool, checked: bool) -> Step<'a> {
        if trusted {
            record::parse_trusted(self.data, self.offset, self.segment.payload_max)
        } else if checked {
            record::decode_checked(self.data, self.offset)
                .map_or(Step::Bad(Damage::HeaderChecksum), Step::Record)
        } else {
            record::parse_seeded(
                self.data,
                self.offset,
                &self.segment.check,
                self.segment.payload_max,
            )
        }
    }
}

impl Cursor<'_> {
    /// Checks every record of the batch whose first record ends at `after`, before any of
    /// them is yielded: a batch is all or nothing for readers as for recovery. Returns the
    /// batch's end, or the offset and damage that make it incomplete.
    fn check_batch(&self, mut after: usize, mut lsn: u64) -> Result<usize, (usize, Damage)> {
        let check = &self.segment.check;
        let mut prefetch = self.prefetch;
        loop {
            prefetch.ahead_of(self.data, after);
            match record::parse_seeded(self.data, after, check, self.segment.payload_max) {
                Step::Record(parsed) if parsed.kind == KIND_DATA => {
                    if parsed.lsn != lsn + 1 {
                        return Err((
                            after,
                            Damage::LsnOutOfOrder {
                                expected: Lsn(lsn + 1),
                                found: Lsn(parsed.lsn),
                            },
                        ));
                    }
                    lsn = parsed.lsn;
                    after += parsed.framed_len;
                    if parsed.flags & FLAG_BATCH_CONTINUES == 0 {
                        return Ok(after);
                    }
                }
                Step::Bad(damage) => return Err((after, damage)),
                Step::Record(_) | Step::End => return Err((after, Damage::IncompleteBatch)),
            }
        }
    }

    /// At the end of a sealed segment walked from its start: the records must be the ones
    /// its footer counts.
    fn footer_disagrees(&self) -> bool {
        self.sealed.is_some_and(|sealed| {
            self.last_lsn != sealed.last_lsn || (!self.from_index && self.seen != sealed.records)
        })
    }

    fn corrupt(&mut self, damage: Damage) -> Error {
        self.done = true;
        if self.segment.map.shrunk() {
            return self.segment.shrunk_error();
        }
        Error::Corrupt {
            path: self.segment.path.clone(),
            offset: self.offset as u64,
            last_good_lsn: Lsn(self.last_lsn.max(self.segment.base_lsn() - 1)),
            damage,
        }
    }
}

impl<'a> Iterator for Cursor<'a> {
    type Item = Result<Record<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let skipped = self.segment.skipped.get().map_or(&[][..], Vec::as_slice);
        while !self.done {
            if self.skip_damage
                && let Some(range) = skipped.iter().find(|r| r.contains(&self.offset))
            {
                self.offset = range.end;
                continue;
            }
            let trusted = self.before_step();
            let checked = trusted || self.offset < self.batch_end;
            let step = self.step(trusted, checked);
            let damage = match step {
                Step::End if self.offset >= self.data.len() => {
                    self.done = true;
                    if self.segment.map.shrunk() {
                        return Some(Err(self.segment.shrunk_error()));
                    }
                    if self.footer_disagrees() {
                        return Some(Err(self.corrupt(Damage::Footer(
                            "footer disagrees with the records".into(),
                        ))));
                    }
                    return None;
                }
                Step::End => Damage::ZeroedRecord,
                Step::Bad(damage) => damage,
                Step::Record(parsed) if parsed.kind != KIND_DATA => {
                    self.offset += parsed.framed_len;
                    continue;
                }
                Step::Record(parsed) if parsed.lsn <= self.last_lsn => Damage::LsnOutOfOrder {
                    expected: Lsn(self.last_lsn + 1),
                    found: Lsn(parsed.lsn),
                },
                Step::Record(parsed)
                    if self.from_index && self.last_lsn == 0 && parsed.lsn > self.from_lsn =>
                {
                    Damage::Footer(format!(
                        "index points past LSN {} (to LSN {})",
                        self.from_lsn, parsed.lsn
                    ))
                }
                Step::Record(parsed) => {
                    if parsed.lsn >= self.lsn_end {
                        if self.sealed.is_some_and(|sealed| {
                            parsed.lsn > sealed.last_lsn && parsed.lsn < sealed.lsn_end
                        }) {
                            // A record the footer does not count.
                            return Some(Err(self.corrupt(Damage::Footer(
                                "footer disagrees with the records".into(),
                            ))));
                        }
                        self.done = true;
                        return None;
                    }
                    if !checked && parsed.flags & FLAG_BATCH_CONTINUES != 0 {
                        match self.check_batch(self.offset + parsed.framed_len, parsed.lsn) {
                            Ok(end) => self.batch_end = end,
                            Err((at, damage)) => {
                                self.offset = at;
                                let config = self.segment.scan_config(self.skip_damage);
                                if self.skip_damage
                                    && let Some(next) =
                                        scan::resync(self.data, at, &config, self.last_lsn)
                                {
                                    self.offset = next;
                                    continue;
                                }
                                return Some(Err(self.corrupt(damage)));
                            }
                        }
                    }
                    let offset = self.offset;
                    self.offset += parsed.framed_len;
                    self.last_lsn = parsed.lsn;
                    self.seen += 1;
                    if parsed.lsn < self.from_lsn {
                        continue;
                    }
                    return Some(Ok(Record {
                        lsn: Lsn(parsed.lsn),
                        payload: parsed.payload,
                        segment: self.segment.id,
                        offset: offset as u64,
                    }));
                }
            };
            let config = self.segment.scan_config(self.skip_damage);
            if self.skip_damage
                && let Some(next) = scan::resync(self.data, self.offset, &config, self.last_lsn)
            {
                self.offset = next;
                continue;
            }
            return Some(Err(self.corrupt(damage)));
        }
        None
    }
}
