//! The open-time walk: classify where each segment's records stop (clean end, torn tail or
//! corruption), repair what the recovery mode allows, and hand the segments to the log.

pub mod repair;
pub mod report;
pub mod verify;

pub use repair::{RepairReport, Strategy, repair};
/// The examples of docs/RECOVERY_MODE.md, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/RECOVERY_MODE.md")]
pub struct RecoveryModeGuide;
pub use verify::{VerifyReport, verify};

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use crate::disk::dir;
use crate::disk::mmap::Mapping;
use crate::error::{Damage, Error, Result};
use crate::format::footer::{self, FooterInfo};
use crate::format::header::{HeaderError, HeaderInfo};
use crate::format::{FORMAT_VERSION, SEGMENT_HEADER_SIZE, data_capacity, payload_capacity};
use crate::ids::{Lsn, SegmentId};
use crate::options::{Options, RecoveryMode};
use crate::segment::scan::{self, Scan, ScanConfig, Stop};
use crate::segment::{Counts, Segment};
use report::{Outcome, RecoveryReport, SegmentRecovery, SkippedRange};

/// The segments of an opened log.
#[derive(Debug, Default)]
pub struct Opened {
    /// The log's identity, from its first segment (`None` for an empty directory).
    pub log_id: Option<u64>,
    /// Segments in LSN order; only the last may be unsealed.
    pub segments: Vec<Arc<Segment>>,
    /// The walk of the last segment when it is unsealed, to resume writing from.
    pub tail: Option<Scan>,
    /// What was found and done.
    pub report: RecoveryReport,
    /// The last segment's close summary was zeroed in the mapping but not flushed: the
    /// writer's first flush must reach the end of that file.
    pub summary_cleared: bool,
}

struct Context<'a> {
    dir: &'a Path,
    options: &'a Options,
    writable: bool,
    log_id: Option<u64>,
    last_good_lsn: u64,
    summary_cleared: bool,
}

impl Context<'_> {
    fn skip(&self) -> bool {
        self.options.recovery == RecoveryMode::SkipCorrupt
    }

    fn corrupt(&self, path: &Path, offset: usize, damage: Damage) -> Error {
        Error::Corrupt {
            path: path.to_owned(),
            offset: offset as u64,
            last_good_lsn: Lsn(self.last_good_lsn),
            damage,
        }
    }
}

/// Opens every segment of the log in `dir`. A writable open removes half-prepared files and
/// repairs what `options.recovery` allows; a read-only one changes nothing.
///
/// # Errors
/// `Error::NotALog`, `Error::Corrupt`, `Error::TornTail` (strict mode),
/// `Error::UnsupportedVersion` or `Error::Io`, each naming the file.
pub fn recover(dir: &Path, options: &Options, writable: bool) -> Result<Opened> {
    let listing = dir::list(dir)?;
    let mut opened = Opened::default();
    if writable {
        for path in listing.preparing {
            match fs::remove_file(&path) {
                Ok(()) => opened.report.removed.push(path),
                // Gone already: nothing to clean.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &path, e)),
            }
        }
    }
    let mut context = Context {
        dir,
        options,
        writable,
        log_id: None,
        last_good_lsn: 0,
        summary_cleared: false,
    };
    let count = listing.segments.len();
    let mut expected_id: Option<SegmentId> = None;
    for (i, (id, path)) in listing.segments.iter().enumerate() {
        if let Some(expected) = expected_id
            && *id != expected
        {
            return Err(context.corrupt(
                &dir.join(dir::segment_file_name(expected)),
                0,
                Damage::SegmentHeader(format!("segment {expected} is missing (found {id} next)")),
            ));
        }
        expected_id = Some(id.next());
        let last = i + 1 == count;
        let Some((segment, tail, recovery)) = load(&mut context, *id, path, last)? else {
            if writable {
                crate::disk::file::remove_durably(path)?;
            }
            opened.report.removed.push(path.clone());
            continue;
        };
        let first = opened.segments.len() == 1;
        if let Some(previous) = opened.segments.last_mut() {
            let continuity = Continuity::of(previous, first);
            if let Some(problem) =
                continuity.problem(segment.base_lsn(), || ends_in_padding(previous))
            {
                if !context.skip() {
                    return Err(context.corrupt(path, 0, Damage::SegmentHeader(problem)));
                }
                // Skipping keeps the records on both sides; a writable open pads the end of
                // the segment before a gap, so that later opens accept it.
                if context.writable && segment.base_lsn() > continuity.end {
                    pad_before_gap(previous)?;
                }
            }
            Segment::set_lsn_end(previous, segment.base_lsn());
        }
        if segment.records() > 0 {
            context.last_good_lsn = segment.last_lsn();
        }
        opened.tail = tail;
        opened.report.segments.push(recovery);
        opened.segments.push(segment);
    }
    opened.log_id = context.log_id;
    opened.summary_cleared = context.summary_cleared;
    Ok(opened)
}

/// What a segment allows of the base LSN of the one after it (docs/FORMAT.md, section 3). A
/// suffix truncation starts the next segment inside the previous one's records or right after
/// them, superseding those at or above its base, and never below the previous one's base
/// (unless that is the first segment, superseded whole). The next one may start later only
/// when the previous one ends in padding: repair replaced damage that may have held records.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Continuity {
    /// The segment.
    pub id: SegmentId,
    /// Its base LSN.
    pub base: u64,
    /// The LSN after its last data record, superseded ones included (`base` when it has none).
    pub end: u64,
    /// It is the first segment of the log.
    pub first: bool,
}

impl Continuity {
    fn of(segment: &Segment, first: bool) -> Continuity {
        Continuity {
            id: segment.id(),
            base: segment.base_lsn(),
            end: if segment.records() == 0 {
                segment.base_lsn()
            } else {
                segment.last_lsn() + 1
            },
            first,
        }
    }

    /// What is wrong with a next segment starting at `next_base`, if anything;
    /// `ends_in_padding` is asked only about a gap.
    pub(crate) fn problem(
        &self,
        next_base: u64,
        ends_in_padding: impl FnOnce() -> bool,
    ) -> Option<String> {
        if next_base < self.base && !self.first {
            Some(format!(
                "base LSN {next_base} is below base LSN {} of segment {}",
                self.base, self.id
            ))
        } else if next_base > self.end && !ends_in_padding() {
            Some(format!(
                "base LSN {next_base} leaves a gap: segment {} ends before LSN {}, so LSNs \
                 {}..={} are missing",
                self.id,
                self.end,
                self.end,
                next_base - 1
            ))
        } else {
            None
        }
    }
}

/// True when padding follows the last data record of the sealed `segment` (a header walk,
/// asked only when the next segment leaves a gap).
fn ends_in_padding(segment: &Segment) -> bool {
    let config = segment.scan_config(false);
    let capacity = data_capacity(segment.header().segment_size);
    scan::scan_headers(segment.mapping().frozen(), capacity, &config).gap_allowed
}

/// Appends a padding record after the data of the sealed `segment` and reseals it: the next
/// segment starts after a gap that nothing in this one shows (FORMAT.md 3). Without room for
/// a padding record it stays as it is (`verify` then reports the gap).
fn pad_before_gap(segment: &mut Arc<Segment>) -> Result<()> {
    let path = segment.path().to_owned();
    let config = segment.scan_config(false);
    let end = segment.data_end();
    let capacity = segment.capacity();
    let Some(map) = segment.mapping_mut() else {
        return Ok(());
    };
    if end + crate::format::RECORD_HEADER_SIZE > capacity {
        return Ok(());
    }
    repair::back_tail(map, &path)?;
    let bytes = map.exclusive();
    crate::format::record::frame_into(
        &mut bytes[end..],
        config.binding,
        0,
        crate::format::record::KIND_PAD,
        0,
        &[],
    );
    repair::reseal(&path, bytes, &config)?;
    let len = map.len();
    map.flush(0..len).map_err(|e| Error::io("msync", &path, e))
}

type Loaded = (Arc<Segment>, Option<Scan>, SegmentRecovery);

fn load(
    context: &mut Context<'_>,
    id: SegmentId,
    path: &Path,
    last: bool,
) -> Result<Option<Loaded>> {
    let rw = context.writable && (last || context.skip());
    let file = OpenOptions::new()
        .read(true)
        .write(rw)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if len < SEGMENT_HEADER_SIZE as u64 && last && context.options.recovery != RecoveryMode::Strict
    {
        // A creation cut short where the name reached the disk before the size: nothing in
        // it was acknowledged. Set aside (its bytes saved first, if any) like an unfinished
        // segment.
        let mut bytes = Vec::new();
        file.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", path, e))?;
        if context.writable && bytes.iter().any(|&b| b != 0) {
            repair::quarantine(context.dir, id, 0, &bytes)?;
        }
        return Ok(None);
    }
    if len < SEGMENT_HEADER_SIZE as u64 {
        return Err(context.corrupt(
            path,
            0,
            Damage::SegmentHeader(format!(
                "file is {len} bytes, shorter than a segment header"
            )),
        ));
    }
    let mut map = Mapping::map(&file, rw).map_err(|e| Error::io("map", path, e))?;
    let header = match HeaderInfo::decode(map.whole()) {
        Ok(header) => header,
        Err(HeaderError::Zeroed) if last && map.whole().iter().all(|&b| b == 0) => return Ok(None),
        Err(HeaderError::Foreign) => {
            return Err(Error::NotALog {
                path: path.to_owned(),
                reason: "no Interstice segment magic at the start of a .seg file".into(),
            });
        }
        Err(HeaderError::Version(found)) => {
            return Err(Error::UnsupportedVersion {
                path: path.to_owned(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        Err(other) => {
            return Err(context.corrupt(path, 0, Damage::SegmentHeader(other.to_string())));
        }
    };
    check_header(context, &header, id, len, path)?;
    let capacity = data_capacity(header.segment_size);
    let config = ScanConfig {
        binding: header.binding(),
        base_lsn: header.base_lsn,
        payload_max: payload_capacity(header.segment_size),
        skip_damage: context.skip(),
    };
    let footer = footer::decode(map.whole(), header.seed(), capacity);
    let loaded = match footer {
        Ok(Some(info)) if info.segment_id == id.0 => {
            load_sealed(context, path, header, map, &config, info)?
        }
        // The last segment may be in the middle of being sealed (by a writer in another
        // process, or when a crash cut the seal short): its records are walked as if it were
        // active, and the footer area is outside the data area the walk reads.
        Ok(None) | Err(_) if last && !context.skip() => {
            load_active(context, path, header, map, &config)?
        }
        Ok(None) if last => load_active(context, path, header, map, &config)?,
        Ok(Some(info)) if context.skip() => {
            load_unsealable(context, path, header, map, &config, Some(info.data_end))?
        }
        Ok(None) | Err(_) if context.skip() => {
            load_unsealable(context, path, header, map, &config, None)?
        }
        Ok(None) => {
            return Err(context.corrupt(
                path,
                usize::try_from(len).unwrap_or(usize::MAX) - crate::format::FOOTER_SIZE,
                Damage::Footer("missing on a segment that is not the last".into()),
            ));
        }
        Ok(Some(info)) => {
            return Err(context.corrupt(
                path,
                usize::try_from(len).unwrap_or(usize::MAX) - crate::format::FOOTER_SIZE,
                Damage::Footer(format!("names segment {}", info.segment_id)),
            ));
        }
        Err(why) => {
            return Err(context.corrupt(
                path,
                usize::try_from(len).unwrap_or(usize::MAX) - crate::format::FOOTER_SIZE,
                Damage::Footer(why),
            ));
        }
    };
    Ok(Some(loaded))
}

fn check_header(
    context: &mut Context<'_>,
    header: &HeaderInfo,
    id: SegmentId,
    len: u64,
    path: &Path,
) -> Result<()> {
    if let Some(problem) = header_problem(header, id, len, context.log_id) {
        return Err(context.corrupt(path, 0, Damage::SegmentHeader(problem)));
    }
    context.log_id = Some(header.log_id);
    Ok(())
}

/// What is wrong with a valid header in its place: another segment's id than the file name,
/// another length than the file's, or another log's id than the first segment's.
pub(crate) fn header_problem(
    header: &HeaderInfo,
    id: SegmentId,
    file_len: u64,
    log_id: Option<u64>,
) -> Option<String> {
    if header.segment_id != id.0 {
        Some(format!(
            "header names segment {} but the file name says {id}",
            header.segment_id
        ))
    } else if header.segment_size != file_len {
        Some(format!(
            "file is {file_len} bytes but its header says {}",
            header.segment_size
        ))
    } else if log_id.is_some_and(|log_id| log_id != header.log_id) {
        Some("segment belongs to another log (log id differs)".into())
    } else {
        None
    }
}

fn recovery(id: SegmentId, path: &Path, walk: Option<&Scan>, outcome: Outcome) -> SegmentRecovery {
    SegmentRecovery {
        id,
        path: path.to_owned(),
        bytes_scanned: walk.map_or(0, |w| w.end as u64),
        records: walk.map_or(0, |w| w.records),
        last_lsn: walk.filter(|w| w.records > 0).map(|w| Lsn(w.last_lsn)),
        outcome,
        quarantined: Vec::new(),
        modified: false,
    }
}

fn load_sealed(
    context: &mut Context<'_>,
    path: &Path,
    header: HeaderInfo,
    mut map: Mapping,
    config: &ScanConfig,
    info: FooterInfo,
) -> Result<Loaded> {
    let id = SegmentId(header.segment_id);
    let mut outcome = Outcome::Sealed;
    let mut report = None;
    if context.options.verify_sealed_on_open || context.skip() {
        // The records end where the footer says (FORMAT.md 4): nothing past there is read.
        let capacity = data_capacity(header.segment_size);
        let walked = usize::try_from(info.data_end).map_or(capacity, |end| end.min(capacity));
        let walk = scan::scan(map.whole(), walked, config);
        // The same check as `verify`'s: records, chain and index agree with the footer.
        let disagreement = verify::sealed_damage(map.whole(), &walk, &info).or_else(|| {
            walk.skipped
                .first()
                .map(|s| (s.range.start, s.damage.clone()))
        });
        if let Some((offset, damage)) = disagreement.clone()
            && !context.skip()
        {
            context.last_good_lsn = walk.last_lsn;
            return Err(context.corrupt(path, offset, damage));
        }
        if disagreement.is_some() {
            return load_unsealable(context, path, header, map, config, Some(info.data_end));
        }
        outcome = Outcome::SealedVerified;
        report = Some(walk);
    }
    let counts = Segment::counts_from_footer(&info);
    map.set_frozen(map.len());
    let mut recovery = recovery(id, path, report.as_ref(), outcome);
    recovery.records = info.records;
    recovery.last_lsn = (info.records > 0).then_some(Lsn(info.last_lsn));
    let segment = Segment::new(
        path.to_owned(),
        header,
        config.payload_max,
        Arc::new(map),
        counts,
        Some(info.index_entries),
        Vec::new(),
    );
    Ok((Arc::new(segment), None, recovery))
}

/// The last, unsealed segment: find where its records end and classify the stop.
fn load_active(
    context: &mut Context<'_>,
    path: &Path,
    header: HeaderInfo,
    mut map: Mapping,
    config: &ScanConfig,
) -> Result<Loaded> {
    let id = SegmentId(header.segment_id);
    let capacity = data_capacity(header.segment_size);
    // After a clean close every record is complete: walking the headers finds the end, and
    // payloads are checked when read, as in sealed segments. Otherwise check everything.
    // Nothing was written past a clean-close marker that is still the last item: a writer
    // that resumes the segment first makes a plain marker after it durable
    // (`ActiveSegment::write_resume_marker`), so the unused space is not read at all (it
    // costs a page fault per 4 KiB). Without a clean close, stray bytes past the end (a later
    // page of an unsynced run that reached the disk before an earlier one) are a torn tail.
    let summary = take_close_summary(context, path, &mut map, &header, config)?;
    let summarized = summary.is_some();
    let (walk, clean) = walk_active(map.whole(), capacity, config, summary, context);
    let mut walk = walk;
    let mut bad = first_bad(map.whole(), capacity, &walk, clean);
    let mut vouched = !context.skip()
        && bad.as_ref().is_some_and(|(at, _)| {
            scan::vouched_by_later_marker(&map.whole()[..capacity], *at, config)
        });
    if vouched && !context.writable {
        // A writer in another process may have been writing the record where the walk
        // stopped, and the marker after it, while this open looked. Walked again, damage
        // stays where it was; a record in flight does not: the segment is being written,
        // and this open sees the prefix before its moving end.
        let again = scan::scan(map.whole(), capacity, config);
        let moved = first_bad(map.whole(), capacity, &again, false);
        let stayed = moved.as_ref().map(|(at, _)| *at) == bad.as_ref().map(|(at, _)| *at);
        if !stayed {
            (walk, bad, vouched) = (again, moved, false);
        }
    }
    let mut outcome = Outcome::CleanEnd;
    let mut recovery_quarantined = Vec::new();
    let mut modified = false;
    if let Some((offset, damage)) = bad {
        context.last_good_lsn = walk.last_lsn;
        let data = &map.whole()[..capacity];
        if vouched {
            return Err(context.corrupt(path, offset, damage));
        }
        if context.options.recovery == RecoveryMode::Strict {
            return Err(Error::TornTail {
                path: path.to_owned(),
                offset: offset as u64,
                last_good_lsn: Lsn(walk.last_lsn),
                damage,
            });
        }
        let tail_end = scan::nonzero_end(data, offset).max(offset);
        if context.writable && tail_end > offset {
            recovery_quarantined.push(repair::quarantine(
                context.dir,
                id,
                offset,
                &data[offset..tail_end],
            )?);
            map.exclusive()[offset..tail_end].fill(0);
            map.flush(offset..tail_end)
                .map_err(|e| Error::io("msync", path, e))?;
            modified = true;
        }
        outcome = Outcome::TornTail {
            offset: offset as u64,
            damage,
            bytes: (tail_end - offset) as u64,
        };
    }
    if !walk.skipped.is_empty() {
        let skipped = skipped_ranges(&walk);
        if context.writable {
            let ranges = ranges_to_pad(&walk);
            let files = repair::pad_ranges(
                context.dir,
                path,
                id,
                map.exclusive(),
                config.binding,
                &ranges,
            )?;
            recovery_quarantined.extend(files);
            map.flush(0..capacity)
                .map_err(|e| Error::io("msync", path, e))?;
            walk = scan::scan(map.whole(), capacity, config);
            modified = true;
        }
        outcome = Outcome::Skipped(skipped);
    }
    let counts = Counts {
        data_end: walk.end,
        first_lsn: walk.first_lsn,
        last_lsn: if walk.records == 0 { 0 } else { walk.last_lsn },
        records: walk.records,
    };
    let mut recovery = recovery(id, path, Some(&walk), outcome);
    recovery.quarantined = recovery_quarantined;
    recovery.modified = modified;
    if summarized {
        recovery.bytes_scanned = 0;
    }
    let segment = Segment::new(
        path.to_owned(),
        header,
        config.payload_max,
        Arc::new(map),
        counts,
        None,
        walk.index.clone(),
    );
    if !context.writable && context.skip() {
        segment.set_skipped(walk.skipped.iter().map(|s| s.range.clone()).collect());
    }
    Ok((Arc::new(segment), Some(walk), recovery))
}

/// Where the walk of the last segment found bytes that are not a record (damage, or stray
/// bytes past its end), unless it ended at a clean close.
fn first_bad(bytes: &[u8], capacity: usize, walk: &Scan, clean: bool) -> Option<(usize, Damage)> {
    match &walk.stop {
        Stop::End if clean => None,
        Stop::End => {
            let tail = scan::nonzero_end(&bytes[..capacity], walk.end);
            (tail > walk.end).then_some((walk.end, Damage::Garbage))
        }
        Stop::Damage { offset, damage } => Some((*offset, damage.clone())),
    }
}

/// The walk of the last, unsealed segment (from its close summary when one was taken), and
/// whether it ended at a clean close. Verifying at open checks every payload, here too.
fn walk_active(
    bytes: &[u8],
    capacity: usize,
    config: &ScanConfig,
    summary: Option<Scan>,
    context: &Context<'_>,
) -> (Scan, bool) {
    let full = context.options.verify_sealed_on_open;
    let walk = summary.unwrap_or_else(|| {
        if full {
            scan::scan(bytes, capacity, config)
        } else {
            scan::scan_headers(bytes, capacity, config)
        }
    });
    let clean = walk.ended_clean && walk.stop == Stop::End && walk.skipped.is_empty();
    if !clean && !full {
        return (scan::scan(bytes, capacity, config), false);
    }
    (walk, clean)
}

/// After a clean close that wrote a close summary, not even the headers are walked: the
/// summary gives what the walk would (`scan::close_summary` says what is checked), and
/// payloads are checked when read. A skipping or verifying open walks anyway. A writable open
/// zeroes the summary, since the writer is about to change the records it describes: when it
/// is trusted, in the mapping only (the open's first flush reaches it); otherwise durably
/// now, as recovery may repair the tail right away.
fn take_close_summary(
    context: &mut Context<'_>,
    path: &Path,
    map: &mut Mapping,
    header: &HeaderInfo,
    config: &ScanConfig,
) -> Result<Option<Scan>> {
    let capacity = data_capacity(header.segment_size);
    let summary = if context.skip() || context.options.verify_sealed_on_open {
        None
    } else {
        scan::close_summary(map.whole(), capacity, config, header.segment_id)
    };
    if context.writable {
        let cleared = repair::clear_close_summary(path, map, summary.is_none())?;
        context.summary_cleared = cleared && summary.is_some();
    }
    Ok(summary)
}

/// A segment whose footer is damaged or disagrees with its records, in skip mode: keep the
/// intact records; a writable open pads the damage and reseals it.
fn load_unsealable(
    context: &mut Context<'_>,
    path: &Path,
    header: HeaderInfo,
    mut map: Mapping,
    config: &ScanConfig,
    footer_end: Option<u64>,
) -> Result<Loaded> {
    let id = SegmentId(header.segment_id);
    let capacity = data_capacity(header.segment_size);
    let walk = scan::scan(map.whole(), capacity, config);
    let mut skipped = skipped_ranges(&walk);
    let mut ranges = ranges_to_pad(&walk);
    if let Some(lost) = repair::zeroed_before(&map.whole()[..capacity], &walk, footer_end) {
        skipped.push(SkippedRange {
            range: lost.start as u64..lost.end as u64,
            damage: Damage::ZeroedRecord,
        });
        ranges.push(lost);
    }
    if let Stop::Damage { offset, damage } = &walk.stop {
        let lost = repair::lost_tail(&map.whole()[..capacity], *offset);
        skipped.push(SkippedRange {
            range: lost.start as u64..lost.end as u64,
            damage: damage.clone(),
        });
        ranges.push(lost);
    }
    let mut recovery = recovery(id, path, Some(&walk), Outcome::Skipped(skipped));
    let read_only_skipped = ranges.clone();
    let info = if context.writable {
        repair::back_tail(&map, path)?;
        let bytes = map.exclusive();
        let mut files = Vec::new();
        let mut to_zero = Vec::new();
        for range in ranges {
            if range.len() >= crate::format::RECORD_HEADER_SIZE {
                files.extend(repair::pad_ranges(
                    context.dir,
                    path,
                    id,
                    bytes,
                    config.binding,
                    &[range],
                )?);
            } else if !range.is_empty() {
                to_zero.push(range);
            }
        }
        for range in to_zero {
            files.push(repair::quarantine(
                context.dir,
                id,
                range.start,
                &bytes[range.clone()],
            )?);
            bytes[range].fill(0);
        }
        let info = repair::reseal(path, bytes, config)?;
        map.flush(0..map.len())
            .map_err(|e| Error::io("msync", path, e))?;
        recovery.quarantined = files;
        recovery.modified = true;
        info
    } else {
        FooterInfo {
            segment_id: id.0,
            first_lsn: walk.first_lsn,
            last_lsn: if walk.records == 0 { 0 } else { walk.last_lsn },
            records: walk.records,
            data_end: walk.end as u64,
            chain: walk.chain_value().unwrap_or_default(),
            index_entries: 0,
        }
    };
    recovery.records = info.records;
    recovery.last_lsn = (info.records > 0).then_some(Lsn(info.last_lsn));
    map.set_frozen(map.len());
    let mut counts = Segment::counts_from_footer(&info);
    if !context.writable {
        counts.data_end = walk.end.max(counts.data_end);
    }
    // A read-only view keeps the damage in place; its readers skip it (skip mode) and it
    // searches no index.
    let sealed_entries = context.writable.then_some(info.index_entries);
    let segment = Segment::new(
        path.to_owned(),
        header,
        config.payload_max,
        Arc::new(map),
        counts,
        sealed_entries.or(Some(0)),
        Vec::new(),
    );
    if !context.writable {
        segment.set_skipped(read_only_skipped);
    }
    Ok((Arc::new(segment), None, recovery))
}

fn skipped_ranges(walk: &Scan) -> Vec<SkippedRange> {
    walk.skipped
        .iter()
        .map(|s| SkippedRange {
            range: s.range.start as u64..s.range.end as u64,
            damage: s.damage.clone(),
        })
        .collect()
}

fn ranges_to_pad(walk: &Scan) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = walk
        .skipped
        .iter()
        .map(|s| s.range.clone())
        .chain(walk.stale_markers.iter().cloned())
        .collect();
    ranges.sort_by_key(|r| r.start);
    ranges
}
