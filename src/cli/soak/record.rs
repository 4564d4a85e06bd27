//! Self-checking soak records, what the soak knows about its log (the oracle), and the walk
//! that checks a run of records against both.
//!
//! A soak payload names itself: a 24-byte header (writer, sequence number, part and parts of
//! its batch, content length, checksum) and content derived from the writer and sequence
//! number. Any payload can be checked alone, and any identity regenerates its exact bytes,
//! so the oracle stores identities, not payloads.

use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::fmt;
use std::iter::Peekable;
use std::path::Path;

use interstice::{Record, SegmentId};

use crate::cli::Failure;

/// Size of the soak header at the start of every payload.
pub const HEADER_LEN: usize = 24;
/// Largest content of one record, in bytes.
pub const CONTENT_MAX: u64 = 4096;

/// splitmix64's finalizer: a fixed, well-spread function.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The soak's reproducible choices (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for stream `stream` of seed `seed`.
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng(mix(seed ^ mix(stream)))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// A content length: mostly small, often up to 1 KiB, now and then up to 4 KiB.
    pub fn content_len(&mut self) -> u32 {
        let len = match self.below(10) {
            0..=4 => self.below(64),
            5..=8 => 64 + self.below(960),
            _ => 1024 + self.below(CONTENT_MAX - 1024 + 1),
        };
        len as u32
    }
}

/// What a payload says it is; it regenerates the payload's exact bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The writer that appended it (a thread of one phase, or a crash child).
    pub writer: u32,
    /// Its number in that writer's sequence, from 0.
    pub seq: u64,
    /// Its place in its batch, from 0.
    pub part: u16,
    /// The size of its batch (1 for a single append).
    pub parts: u16,
    /// Bytes of content after the header.
    pub len: u32,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "writer {} seq {} (part {}/{}, {} content bytes)",
            self.writer,
            self.seq,
            self.part + 1,
            self.parts,
            self.len
        )
    }
}

fn checksum(head: &[u8], content: &[u8]) -> u32 {
    // FNV-1a over the header fields and the content, folded to 32 bits.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in head.iter().chain(content) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash ^ (hash >> 32)) as u32
}

impl Identity {
    /// Is this record the last of its batch?
    pub fn ends_batch(&self) -> bool {
        self.part + 1 == self.parts
    }

    /// The exact payload of this record.
    pub fn payload(&self) -> Vec<u8> {
        let len = self.len as usize;
        let mut out = Vec::with_capacity(HEADER_LEN + len);
        out.extend_from_slice(&self.writer.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.part.to_le_bytes());
        out.extend_from_slice(&self.parts.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let mut state = mix(u64::from(self.writer) << 40 ^ self.seq);
        while out.len() < HEADER_LEN + len {
            state = mix(state);
            let room = HEADER_LEN + len - out.len();
            out.extend_from_slice(&state.to_le_bytes()[..room.min(8)]);
        }
        let sum = checksum(&out[..20], &out[HEADER_LEN..]);
        out[20..HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads a payload's identity and checks every byte of it: the header's length and
    /// checksum, then the content against the regenerated one.
    ///
    /// # Errors
    /// What does not match, as text.
    pub fn parse(payload: &[u8]) -> Result<Identity, String> {
        if payload.len() < HEADER_LEN {
            return Err(format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte soak header",
                payload.len()
            ));
        }
        let u16_at = |at: usize| u16::from_le_bytes([payload[at], payload[at + 1]]);
        let u32_at =
            |at: usize| u32::from_le_bytes(payload[at..at + 4].try_into().expect("4 bytes"));
        let id = Identity {
            writer: u32_at(0),
            seq: u64::from_le_bytes(payload[4..12].try_into().expect("8 bytes")),
            part: u16_at(12),
            parts: u16_at(14),
            len: u32_at(16),
        };
        let held = payload.len() - HEADER_LEN;
        if id.len as usize != held {
            return Err(format!(
                "header says {} content bytes, the payload holds {held}",
                id.len
            ));
        }
        if id.part >= id.parts {
            return Err(format!("part {} of a {}-record batch", id.part, id.parts));
        }
        let stored = u32_at(20);
        let computed = checksum(&payload[..20], &payload[HEADER_LEN..]);
        if stored != computed {
            return Err(format!(
                "checksum is {stored:#010x}, the content's is {computed:#010x}"
            ));
        }
        let expected = id.payload();
        if let Some(at) = expected.iter().zip(payload).position(|(a, b)| a != b) {
            return Err(format!(
                "{id}: byte {at} is {:#04x}, expected {:#04x}",
                payload[at], expected[at]
            ));
        }
        Ok(id)
    }
}

/// LSNs a repair removed: gaps in the log are allowed exactly there.
#[derive(Clone, Debug, Default)]
pub struct Holes(BTreeMap<u64, u64>);

impl Holes {
    /// Adds `start..=end`, merging with neighbours.
    pub fn insert(&mut self, start: u64, end: u64) {
        let (mut start, mut end) = (start, end);
        let touching: Vec<u64> = self
            .0
            .range(..=end.saturating_add(1))
            .filter(|&(_, &e)| e.saturating_add(1) >= start)
            .map(|(&s, _)| s)
            .collect();
        for s in touching {
            let e = self.0.remove(&s).expect("listed");
            start = start.min(s);
            end = end.max(e);
        }
        self.0.insert(start, end);
    }

    /// True when every LSN of `start..=end` was removed by a repair.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        self.0
            .range(..=start)
            .next_back()
            .is_some_and(|(_, &e)| e >= end)
    }

    /// True when `lsn` was removed by a repair.
    pub fn contains(&self, lsn: u64) -> bool {
        self.covers(lsn, lsn)
    }

    /// Forgets holes at and after `end` (those LSNs are given again).
    pub fn cut_from(&mut self, end: u64) {
        self.0.split_off(&end);
        if let Some((_, e)) = self.0.iter_mut().next_back() {
            *e = (*e).min(end.saturating_sub(1));
        }
    }

    /// Forgets holes below `first` (retention removed them).
    pub fn cut_below(&mut self, first: u64) {
        let kept = self.0.split_off(&first);
        let straddling = self.0.iter().next_back().filter(|&(_, &e)| e >= first);
        let straddling = straddling.map(|(_, &e)| e);
        self.0 = kept;
        if let Some(end) = straddling {
            self.0.insert(first, end);
        }
    }
}

/// What the soak knows about its log.
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// Acknowledged records (durable when the engine said so): they stay, byte for byte,
    /// until retention, a suffix truncation or a repair removes them.
    pub durable: BTreeMap<u64, Identity>,
    /// Records appended and not yet acknowledged durable.
    pub unacked: BTreeMap<u64, Identity>,
    /// LSNs removed by repairs.
    pub holes: Holes,
    /// LSNs at which a batch may end unfinished (a repair cut it).
    pub batch_ends: BTreeSet<u64>,
    /// The log's last LSN when it was last closed.
    pub last_lsn: u64,
}

impl Known {
    /// Records that `lsn` was appended as `id`.
    ///
    /// # Errors
    /// When the LSN was already given out and not removed since.
    pub fn register(&mut self, lsn: u64, id: Identity) -> Result<(), String> {
        if let Some(before) = self.durable.get(&lsn).or_else(|| self.unacked.get(&lsn)) {
            return Err(format!(
                "LSN {lsn} given to {id}, and already to {before}, never removed"
            ));
        }
        self.unacked.insert(lsn, id);
        Ok(())
    }

    /// Every appended record up to `lsn` is durable.
    pub fn promote(&mut self, lsn: u64) {
        let later = self.unacked.split_off(&(lsn + 1));
        let now = std::mem::replace(&mut self.unacked, later);
        self.durable.extend(now);
    }

    /// Records after `lsn` were removed (`truncate_after`, a truncating repair).
    pub fn cut_after(&mut self, lsn: u64) {
        self.durable.split_off(&(lsn + 1));
        self.unacked.split_off(&(lsn + 1));
        self.holes.cut_from(lsn + 1);
        self.batch_ends.split_off(&(lsn + 1));
    }

    /// Records below `first` were removed by retention.
    pub fn cut_below(&mut self, first: u64) {
        self.durable = self.durable.split_off(&first);
        self.unacked = self.unacked.split_off(&first);
        self.holes.cut_below(first);
        self.batch_ends = self.batch_ends.split_off(&first);
    }
}

/// A violation: what failed, where, expected against found.
pub fn violation(what: impl fmt::Display) -> Failure {
    Failure::failed(format!("violation: {what}"))
}

/// An engine call that failed during the soak.
pub fn engine(dir: &Path, doing: &str, error: impl fmt::Display) -> Failure {
    Failure::failed(format!("{}: {doing} failed: {error}", dir.display()))
}

/// One record a walk checked.
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    /// Its LSN.
    pub lsn: u64,
    /// What it is.
    pub id: Identity,
    /// The segment holding it.
    pub segment: SegmentId,
    /// Offset of its record header in the segment file.
    pub offset: u64,
}

/// Checks a run of records in LSN order: each payload's self-check; LSNs strictly
/// increasing, without gaps except where a repair removed records; batches whole; every
/// record the soak registered has its identity; every acknowledged record at or after the
/// start is there.
#[derive(Debug)]
pub struct Walk<'a> {
    dir: &'a Path,
    known: &'a Known,
    durable: Peekable<btree_map::Range<'a, u64, Identity>>,
    expect_first: Option<u64>,
    prev: Option<(u64, Identity)>,
    /// Records checked.
    pub records: u64,
}

impl<'a> Walk<'a> {
    /// A walk of the records from `from`; `expect_first` is the first LSN it must meet.
    pub fn new(dir: &'a Path, known: &'a Known, from: u64, expect_first: Option<u64>) -> Self {
        Walk {
            dir,
            known,
            durable: known.durable.range(from..).peekable(),
            expect_first,
            prev: None,
            records: 0,
        }
    }

    fn at(&self, record: &Record<'_>) -> String {
        format!(
            "{}: LSN {} (segment {}, offset {})",
            self.dir.display(),
            record.lsn,
            record.segment.0,
            record.offset
        )
    }

    /// Checks the next record.
    ///
    /// # Errors
    /// The first violation.
    pub fn see(&mut self, record: &Record<'_>) -> Result<Seen, Failure> {
        let lsn = record.lsn.0;
        let id = Identity::parse(record.payload).map_err(|why| {
            violation(format!(
                "{}: payload fails its self-check: {why}",
                self.at(record)
            ))
        })?;
        if let Some(first) = self.expect_first.take().filter(|&f| f != lsn) {
            return Err(violation(format!(
                "{}: expected the first record to be LSN {first}",
                self.at(record)
            )));
        }
        if let Some((prev_lsn, prev)) = self.prev {
            self.check_order(record, prev_lsn, prev, id)?;
        }
        if self.known.holes.contains(lsn) {
            return Err(violation(format!(
                "{}: removed by a repair, yet present as {id}",
                self.at(record)
            )));
        }
        if let Some((&durable, expected)) = self.durable.next_if(|&(&d, _)| d <= lsn) {
            if durable < lsn {
                return Err(violation(format!(
                    "{}: acknowledged durable LSN {durable} ({expected}) is missing; found \
                     LSN {lsn} after it",
                    self.dir.display()
                )));
            }
            if *expected != id {
                return Err(violation(format!(
                    "{}: expected acknowledged {expected}, found {id}",
                    self.at(record)
                )));
            }
        }
        if let Some(expected) = self.known.unacked.get(&lsn).filter(|&&e| e != id) {
            return Err(violation(format!(
                "{}: expected appended {expected}, found {id}",
                self.at(record)
            )));
        }
        self.prev = Some((lsn, id));
        self.records += 1;
        Ok(Seen {
            lsn,
            id,
            segment: record.segment,
            offset: record.offset,
        })
    }

    fn check_order(
        &self,
        record: &Record<'_>,
        prev_lsn: u64,
        prev: Identity,
        id: Identity,
    ) -> Result<(), Failure> {
        let lsn = record.lsn.0;
        if lsn <= prev_lsn {
            return Err(violation(format!(
                "{}: LSNs must increase; the record before was LSN {prev_lsn}",
                self.at(record)
            )));
        }
        if lsn > prev_lsn + 1 {
            if !self.known.holes.covers(prev_lsn + 1, lsn - 1) {
                return Err(violation(format!(
                    "{}: gap: LSNs {}..={} are missing after LSN {prev_lsn}, and no repair \
                     removed them",
                    self.at(record),
                    prev_lsn + 1,
                    lsn - 1
                )));
            }
            // A repair may have cut a batch: no batch rule across a hole.
            return Ok(());
        }
        if id.part > 0 {
            let continues = prev.writer == id.writer
                && prev.seq + 1 == id.seq
                && prev.part + 1 == id.part
                && prev.parts == id.parts;
            if !continues {
                return Err(violation(format!(
                    "{}: batch broken: found {id} after LSN {prev_lsn} {prev}",
                    self.at(record)
                )));
            }
        } else if !prev.ends_batch() && !self.known.batch_ends.contains(&prev_lsn) {
            return Err(violation(format!(
                "{}: batch broken: LSN {prev_lsn} is {prev}, but a new batch starts here \
                 with {id}",
                self.at(record)
            )));
        }
        Ok(())
    }

    /// Ends the walk: every acknowledged record must have been met, and the last record
    /// must end its batch (readers never see part of a batch, and a crash keeps all of a
    /// batch or none).
    ///
    /// # Errors
    /// The violation.
    pub fn finish(mut self) -> Result<Option<u64>, Failure> {
        let last = self.prev.map(|(lsn, _)| lsn);
        if let Some((&lsn, expected)) = self.durable.next() {
            return Err(violation(format!(
                "{}: acknowledged durable LSN {lsn} ({expected}) is missing; the records \
                 end at {}",
                self.dir.display(),
                last.map_or_else(|| "the start".to_owned(), |l| format!("LSN {l}"))
            )));
        }
        if let Some(first) = self.expect_first {
            return Err(violation(format!(
                "{}: expected a first record at LSN {first}, found none",
                self.dir.display()
            )));
        }
        if let Some((lsn, id)) = self.prev
            && !id.ends_batch()
            && !self.known.batch_ends.contains(&lsn)
        {
            return Err(violation(format!(
                "{}: the records end at LSN {lsn} inside a batch: {id}",
                self.dir.display()
            )));
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_check_themselves() {
        let id = Identity {
            writer: 7,
            seq: 42,
            part: 1,
            parts: 3,
            len: 100,
        };
        let mut payload = id.payload();
        assert_eq!(payload.len(), HEADER_LEN + 100);
        assert_eq!(Identity::parse(&payload), Ok(id));
        payload[HEADER_LEN + 50] ^= 1;
        assert!(Identity::parse(&payload).is_err());
        let empty = Identity { len: 0, ..id };
        assert_eq!(Identity::parse(&empty.payload()), Ok(empty));
        assert!(Identity::parse(&[]).is_err());
    }

    #[test]
    fn holes_merge_and_cut() {
        let mut holes = Holes::default();
        holes.insert(5, 5);
        holes.insert(6, 8);
        holes.insert(20, 20);
        assert!(holes.covers(5, 8));
        assert!(!holes.covers(5, 9));
        holes.cut_from(7);
        assert!(holes.covers(5, 6) && !holes.contains(7) && !holes.contains(20));
        holes.cut_below(6);
        assert!(!holes.contains(5) && holes.contains(6));
    }
}
