//! Removing bytes safely: save them to a quarantine file first, then zero them (torn tail) or
//! replace them with padding records (skipped damage), and reseal what was sealed.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::verify::{SegmentCheck, Status, VerifyReport, verify};
use crate::disk::beacon::{BEACON_FILE, Beacon};
use crate::disk::dir::QUARANTINE_PREFIX;
use crate::disk::file;
use crate::disk::mmap::Mapping;
use crate::error::{Damage, Error, Result};
use crate::format::checksum::Binding;
use crate::format::footer::{self, FooterInfo};
use crate::format::header::HeaderInfo;
use crate::format::record::{self, KIND_PAD};
use crate::format::{RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, data_capacity};
use crate::ids::{Lsn, SegmentId};
use crate::segment::scan::{self, ScanConfig, Stop};

/// Saves `bytes` (taken from `offset` of segment `id`) to a new quarantine file in `dir`,
/// durably, and returns its path. The name says where the bytes came from.
///
/// # Errors
/// `Error::Io` naming the quarantine file.
pub fn quarantine(dir: &Path, id: SegmentId, offset: usize, bytes: &[u8]) -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{QUARANTINE_PREFIX}{:020}-at-{offset}-{nanos}.bin", id.0);
    let path = dir.join(name);
    file::write_new_durably(&path, bytes)?;
    Ok(path)
}

/// Replaces each range of `segment` with one padding record (quarantine first).
///
/// # Errors
/// `Error::Corrupt` when a range is too short to hold a padding header (only a forged record
/// can cause that), `Error::Io` from the quarantine.
pub fn pad_ranges(
    dir: &Path,
    path: &Path,
    id: SegmentId,
    segment: &mut [u8],
    binding: Binding,
    ranges: &[Range<usize>],
) -> Result<Vec<PathBuf>> {
    let mut quarantined = Vec::new();
    for range in ranges {
        if range.len() < RECORD_HEADER_SIZE {
            return Err(Error::Corrupt {
                path: path.to_owned(),
                offset: range.start as u64,
                last_good_lsn: Lsn::ZERO,
                damage: Damage::Garbage,
            });
        }
        quarantined.push(quarantine(dir, id, range.start, &segment[range.clone()])?);
        let zeroes = vec![0; range.len() - RECORD_HEADER_SIZE];
        record::frame_into(
            &mut segment[range.clone()],
            binding,
            0,
            KIND_PAD,
            0,
            &zeroes,
        );
    }
    Ok(quarantined)
}

/// Zeroes `bytes[from..]`, writing only the pages that hold a non-zero byte: a page that
/// reads as zero may be a hole of a sparse segment, and writing it would need a block.
fn zero_written(bytes: &mut [u8], from: usize) {
    let page = crate::format::PAGE_SIZE as usize;
    let mut at = from;
    while at < bytes.len() {
        let end = ((at / page + 1) * page).min(bytes.len());
        if bytes[at..end].iter().any(|&b| b != 0) {
            bytes[at..end].fill(0);
        }
        at = end;
    }
}

/// Backs the index area and footer of a segment with blocks before a reseal writes them
/// (`Mapping::allocate`): a full disk is then an error naming the file, not a fault.
///
/// # Errors
/// `Error::Io` naming `path`.
pub fn back_tail(map: &Mapping, path: &Path) -> Result<()> {
    let len = map.len();
    map.allocate(crate::format::index_start(len as u64)..len)
        .map_err(|e| Error::io("allocate", path, e))
}

/// Rewrites the sparse index and the footer of `segment` from a fresh walk of its records
/// (the caller backed them, `back_tail`).
///
/// # Errors
/// `Error::Corrupt` when the walk does not end cleanly.
pub fn reseal(path: &Path, segment: &mut [u8], config: &ScanConfig) -> Result<FooterInfo> {
    let capacity = data_capacity(segment.len() as u64);
    let walk = scan::scan(
        segment,
        capacity,
        &ScanConfig {
            skip_damage: false,
            ..*config
        },
    );
    if let Stop::Damage { offset, damage } = walk.stop.clone() {
        return Err(Error::Corrupt {
            path: path.to_owned(),
            offset: offset as u64,
            last_good_lsn: walk.last_good_lsn(),
            damage,
        });
    }
    let info = FooterInfo {
        segment_id: segment_id_of(segment),
        first_lsn: walk.first_lsn,
        last_lsn: if walk.records == 0 { 0 } else { walk.last_lsn },
        records: walk.records,
        data_end: walk.end as u64,
        chain: walk.chain_value().unwrap_or_default(),
        index_entries: u32::try_from(walk.index.len()).unwrap_or(u32::MAX),
    };
    // Clear the old footer region first so a shorter index leaves no stale entries behind.
    let index_at = crate::format::index_start(segment.len() as u64);
    zero_written(segment, index_at);
    footer::seal_into(segment, config.binding.seed, &info, &walk.index);
    Ok(info)
}

fn segment_id_of(segment: &[u8]) -> u64 {
    crate::format::header::HeaderInfo::decode(segment).map_or(0, |h| h.segment_id)
}

/// How `repair` treats corruption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Keep every record before the first corrupt one. Everything after it (the rest of that
    /// segment and every later segment) is saved to quarantine files, then removed; the
    /// damaged segment becomes the log's active last segment. The next append continues
    /// after the last record kept, as after `Log::truncate_after`.
    Truncate,
    /// Keep every intact record: each damaged range is saved to a quarantine file and
    /// replaced by a padding record, and damaged sealed segments are resealed. The LSNs of
    /// the records lost leave a gap.
    Skip,
}

/// One step of a repair, in the order it is carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Rename a whole segment file to a quarantine file: it leaves the log, bytes intact.
    RemoveSegment {
        /// The segment file.
        path: PathBuf,
        /// Its id.
        id: SegmentId,
        /// Records of its valid prefix.
        records: u64,
    },
    /// Save a byte range to a quarantine file, then zero it.
    Zero {
        /// The segment file.
        path: PathBuf,
        /// Its id.
        id: SegmentId,
        /// The range, in file offsets.
        range: Range<u64>,
    },
    /// Save a damaged byte range to a quarantine file, then replace it by one padding record.
    Pad {
        /// The segment file.
        path: PathBuf,
        /// Its id.
        id: SegmentId,
        /// The range, in file offsets.
        range: Range<u64>,
        /// What was wrong at its start.
        damage: Damage,
    },
    /// Zero the sparse index and the footer (or close summary) of a segment that becomes the
    /// unsealed last one. They are derived from the records, so nothing is saved (the next
    /// open walks the records instead), as when a strategy reseals a segment.
    ClearFooter {
        /// The segment file.
        path: PathBuf,
        /// Its id.
        id: SegmentId,
    },
    /// Rewrite the sparse index and the footer from a walk of the records.
    Reseal {
        /// The segment file.
        path: PathBuf,
        /// Its id.
        id: SegmentId,
    },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |path: &Path| {
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            )
        };
        match self {
            Action::RemoveSegment { path, records, .. } => write!(
                f,
                "move {} ({records} intact records before any damage) to a quarantine file",
                name(path)
            ),
            Action::Zero { path, range, .. } => write!(
                f,
                "save bytes {}..{} of {} ({} bytes) to a quarantine file, then zero them",
                range.start,
                range.end,
                name(path),
                range.end - range.start
            ),
            Action::Pad {
                path,
                range,
                damage,
                ..
            } => write!(
                f,
                "save bytes {}..{} of {} ({damage}) to a quarantine file, then replace them \
                 with padding",
                range.start,
                range.end,
                name(path)
            ),
            Action::ClearFooter { path, .. } => write!(
                f,
                "zero the index and footer of {} (derived from its records: not saved)",
                name(path)
            ),
            Action::Reseal { path, .. } => {
                write!(f, "reseal {} (rewrite its index and footer)", name(path))
            }
        }
    }
}

/// What `repair` planned and did.
#[derive(Clone, Debug)]
pub struct RepairReport {
    /// The strategy.
    pub strategy: Strategy,
    /// True when nothing was changed (a dry run, or a refused plan).
    pub dry_run: bool,
    /// The verification before repair.
    pub before: VerifyReport,
    /// The plan, in order.
    pub actions: Vec<Action>,
    /// Damage this strategy cannot repair; when not empty, nothing was changed.
    pub refused: Vec<String>,
    /// Records the log holds after the plan is carried out.
    pub records_kept: u64,
    /// Quarantine files written.
    pub quarantined: Vec<PathBuf>,
    /// The verification after repair (not for a dry run or a refused plan).
    pub after: Option<VerifyReport>,
}

/// Repairs the log in `dir` with `strategy`: verifies it, plans, and (unless `dry_run`)
/// carries the plan out under the log's write lock, saving every byte it removes to a
/// quarantine file in `dir` first. A log that needs no repair is left as it is (a torn tail
/// is discarded by the next writable open).
///
/// # Errors
/// `Error::NotALog`; `Error::Locked` when a writer holds the log; `Error::Io`.
pub fn repair(dir: &Path, strategy: Strategy, dry_run: bool) -> Result<RepairReport> {
    crate::disk::dir::list(dir)?;
    let _lock = if dry_run {
        None
    } else {
        Some(crate::disk::dir::lock(dir)?)
    };
    let before = verify(dir)?;
    let mut report = RepairReport {
        strategy,
        dry_run,
        actions: Vec::new(),
        refused: Vec::new(),
        records_kept: before.records(),
        quarantined: Vec::new(),
        after: None,
        before,
    };
    if report.before.is_intact() {
        return Ok(report);
    }
    match strategy {
        Strategy::Truncate => plan_truncate(&mut report)?,
        Strategy::Skip => plan_skip(&mut report)?,
    }
    if dry_run || !report.refused.is_empty() {
        report.dry_run = true;
        return Ok(report);
    }
    // Followers (docs/FOLLOWERS.md) hold back while records change, and learn what stayed.
    let beacon = Beacon::create(dir).map_err(|e| Error::io("map", dir.join(BEACON_FILE), e))?;
    beacon.opening();
    let kept = first_damage(&report.before).map_or(u64::MAX, |lsn| lsn.0);
    let executed = execute_all(dir, &mut report);
    beacon.repaired(kept);
    executed?;
    file::sync_dir(dir)?;
    report.after = Some(super::verify::verify_after_repair(dir)?);
    Ok(report)
}

fn execute_all(dir: &Path, report: &mut RepairReport) -> Result<()> {
    for action in &report.actions {
        report.quarantined.extend(execute(dir, action)?);
    }
    Ok(())
}

/// The last good LSN before the first damage found: no record after it is sure to stay.
fn first_damage(before: &VerifyReport) -> Option<Lsn> {
    before.segments.iter().find_map(|s| match s.status {
        Status::Corrupt { last_good_lsn, .. } => Some(last_good_lsn),
        _ => None,
    })
}

fn plan_truncate(report: &mut RepairReport) -> Result<()> {
    let segments = &report.before.segments;
    let Some(k) = segments.iter().position(SegmentCheck::is_corrupt) else {
        return Ok(());
    };
    for later in segments[k + 1..].iter().rev() {
        report.actions.push(Action::RemoveSegment {
            path: later.path.clone(),
            id: later.id,
            records: later.records,
        });
    }
    let damaged = &segments[k];
    let whole = damaged.header.is_none()
        || matches!(damaged.status, Status::Corrupt { offset: 0, .. })
        || damaged.valid_end <= SEGMENT_HEADER_SIZE as u64 && damaged.records == 0 && k > 0;
    report.records_kept = segments[..k].iter().map(|s| s.records).sum();
    if whole {
        report.actions.push(Action::RemoveSegment {
            path: damaged.path.clone(),
            id: damaged.id,
            records: damaged.records,
        });
        // The segment before becomes the last: records it holds that the removed one
        // superseded (a suffix truncation) must not come back.
        if let Some(before) = k.checked_sub(1).map(|j| segments[j].clone())
            && let Some(at) = before.superseded_at
        {
            plan_cut(report, &before, at)?;
        }
        return Ok(());
    }
    report.records_kept += damaged.records;
    let cut = damaged
        .superseded_at
        .map_or(damaged.valid_end, |at| at.min(damaged.valid_end));
    let damaged = damaged.clone();
    plan_cut(report, &damaged, cut)
}

/// Plans making `check` the last, unsealed segment ending at offset `cut`: zero its bytes from
/// `cut` on, and its index and footer.
fn plan_cut(report: &mut RepairReport, check: &SegmentCheck, cut: u64) -> Result<()> {
    let mut map = map_file(&check.path, false)?;
    let bytes = map.whole();
    let capacity = data_capacity(bytes.len() as u64);
    let cut = usize::try_from(cut).unwrap_or(capacity).min(capacity);
    let data_end = scan::nonzero_end(&bytes[..capacity], cut);
    // The index and footer first: a close summary there describes the records as they were.
    let index_at = crate::format::index_start(bytes.len() as u64);
    if bytes[index_at..].iter().any(|&b| b != 0) {
        report.actions.push(Action::ClearFooter {
            path: check.path.clone(),
            id: check.id,
        });
    }
    if data_end > cut {
        report.actions.push(Action::Zero {
            path: check.path.clone(),
            id: check.id,
            range: cut as u64..data_end as u64,
        });
    }
    Ok(())
}

fn plan_skip(report: &mut RepairReport) -> Result<()> {
    let mut kept = 0;
    let segments = report.before.segments.clone();
    for (i, check) in segments.iter().enumerate() {
        let Status::Corrupt { offset, damage, .. } = &check.status else {
            kept += check.records;
            continue;
        };
        let Some(header) = check.header.filter(|_| *offset > 0) else {
            report.refused.push(format!(
                "{} at byte {offset}: {damage}: the segment's records cannot be told apart \
                 without it; use --strategy truncate",
                check.path.display()
            ));
            continue;
        };
        let next_base = segments
            .get(i + 1)
            .and_then(|next| next.header)
            .map(|h| h.base_lsn);
        kept += plan_skip_segment(report, check, header, next_base)?;
    }
    report.records_kept = kept;
    Ok(())
}

/// Plans the skip repair of one segment; returns the records it keeps.
fn plan_skip_segment(
    report: &mut RepairReport,
    check: &SegmentCheck,
    header: HeaderInfo,
    next_base: Option<u64>,
) -> Result<u64> {
    let last = next_base.is_none();
    let mut map = map_file(&check.path, false)?;
    let bytes = map.whole();
    let capacity = data_capacity(bytes.len() as u64);
    let data = &bytes[..capacity];
    let config = ScanConfig {
        skip_damage: true,
        ..super::verify::scan_config(&header)
    };
    let mut walk = skip_walk(data, &config);
    if let Some(lost) = zeroed_before(data, &walk, check.footer.map(|f| f.data_end)) {
        walk.skipped.push(scan::Skipped {
            range: lost,
            damage: Damage::ZeroedRecord,
        });
        walk.gap_allowed = true;
    }
    // Records lost at the end with nothing left to show it (zeroed, without a footer to count
    // them), before a segment that starts after them: padding says that LSNs are missing.
    if let Some(next_base) = next_base
        && next_base > walk.last_lsn + 1
        && !walk.gap_allowed
        && walk.stop == Stop::End
        && scan::nonzero_end(data, walk.end) <= walk.end
        && walk.end + RECORD_HEADER_SIZE <= data.len()
    {
        walk.skipped.push(scan::Skipped {
            range: walk.end..walk.end + RECORD_HEADER_SIZE,
            damage: Damage::ZeroedRecord,
        });
        walk.gap_allowed = true;
    }
    let (path, id) = (check.path.clone(), check.id);
    let mut ranges: Vec<(Range<usize>, Damage)> = walk
        .skipped
        .iter()
        .map(|s| (s.range.clone(), s.damage.clone()))
        .chain(
            walk.stale_markers
                .iter()
                .map(|r| (r.clone(), Damage::MarkerMismatch)),
        )
        .collect();
    ranges.sort_by_key(|(range, _)| range.start);
    for (range, damage) in ranges {
        if range.len() < RECORD_HEADER_SIZE {
            report.refused.push(format!(
                "{}: damaged range {}..{} is too short for padding; use --strategy truncate",
                path.display(),
                range.start,
                range.end
            ));
            continue;
        }
        report.actions.push(Action::Pad {
            path: path.clone(),
            id,
            range: range.start as u64..range.end as u64,
            damage,
        });
    }
    if let Stop::Damage { offset, damage } = walk.stop {
        let range = lost_tail(data, offset);
        let range = range.start as u64..range.end as u64;
        // Before another segment, padding says that records may have been lost there, so that
        // the next segment may start after a gap; the last segment's tail is simply zeroed.
        if last || range.end - range.start < RECORD_HEADER_SIZE as u64 {
            report.actions.push(Action::Zero {
                path: path.clone(),
                id,
                range,
            });
        } else {
            report.actions.push(Action::Pad {
                path: path.clone(),
                id,
                range,
                damage,
            });
        }
    }
    let index_at = crate::format::index_start(bytes.len() as u64);
    if !last || bytes[index_at..].iter().any(|&b| b != 0) {
        report.actions.push(Action::Reseal { path, id });
    }
    Ok(walk.records)
}

/// The range that replaces the damage where the walk of `data` stopped, at `offset`: up to the
/// last non-zero byte, and at least a record header long where the data area allows, so that
/// it can become padding (docs/FORMAT.md, section 3: padding before the next segment lets it
/// start after a gap). A shorter range cannot have held a record.
pub(crate) fn lost_tail(data: &[u8], offset: usize) -> Range<usize> {
    let end = scan::nonzero_end(data, offset).max(offset);
    let header_end = (offset + RECORD_HEADER_SIZE).min(data.len());
    offset..end.max(header_end)
}

/// Records a footer vouches for (up to its `data_end`) where a walk ended at zeroes with nothing
/// after them: they were zeroed. Padding over that range (at least a record header long)
/// marks the lost LSNs, as `lost_tail` does for damage.
pub(crate) fn zeroed_before(
    data: &[u8],
    walk: &scan::Scan,
    footer_end: Option<u64>,
) -> Option<Range<usize>> {
    let footer_end = usize::try_from(footer_end?).ok()?.min(data.len());
    let all_zero = scan::nonzero_end(data, walk.end) <= walk.end;
    (walk.stop == Stop::End && footer_end > walk.end && all_zero).then(|| {
        let header_end = (walk.end + RECORD_HEADER_SIZE).min(data.len());
        walk.end..footer_end.max(header_end)
    })
}

/// A skipping walk that also resynchronizes past zeroed records inside the data (which a
/// plain walk takes for the end): every record that validates is kept, in LSN order.
fn skip_walk(data: &[u8], config: &ScanConfig) -> scan::Scan {
    let mut walk = scan::scan(data, data.len(), config);
    while walk.stop == Stop::End && scan::nonzero_end(data, walk.end) > walk.end {
        let Some(next) = scan::resync(data, walk.end, config, walk.last_lsn) else {
            walk.stop = Stop::Damage {
                offset: walk.end,
                damage: Damage::Garbage,
            };
            break;
        };
        walk.skipped.push(scan::Skipped {
            range: walk.end..next,
            damage: Damage::ZeroedRecord,
        });
        walk.gap_allowed = true;
        walk.end = next;
        scan::scan_from(data, data.len(), config, &mut walk);
    }
    walk
}

fn map_file(path: &Path, writable: bool) -> Result<Mapping> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    Mapping::map(&file, writable).map_err(|e| Error::io("map", path, e))
}

/// Carries out one action; returns the quarantine files it wrote.
fn execute(dir: &Path, action: &Action) -> Result<Vec<PathBuf>> {
    match action {
        Action::RemoveSegment { path, id, .. } => {
            let target = quarantine_path(dir, *id, 0, "seg");
            std::fs::rename(path, &target).map_err(|e| Error::io("rename", path, e))?;
            file::sync_dir(dir)?;
            Ok(vec![target])
        }
        Action::Zero { path, id, range } => {
            let mut map = map_file(path, true)?;
            let range = to_usize(range);
            if range.end < map.len() {
                // (A range that reaches the end zeroes the summary itself, saved first.)
                clear_close_summary(path, &mut map, true)?;
            }
            let bytes = map.exclusive();
            let saved = quarantine(dir, *id, range.start, &bytes[range.clone()])?;
            bytes[range.clone()].fill(0);
            map.flush(range).map_err(|e| Error::io("msync", path, e))?;
            Ok(vec![saved])
        }
        Action::Pad {
            path, id, range, ..
        } => {
            let mut map = map_file(path, true)?;
            clear_close_summary(path, &mut map, true)?;
            let range = to_usize(range);
            let binding = header_of(path, map.whole())?.binding();
            let saved = pad_ranges(
                dir,
                path,
                *id,
                map.exclusive(),
                binding,
                std::slice::from_ref(&range),
            )?;
            map.flush(range).map_err(|e| Error::io("msync", path, e))?;
            Ok(saved)
        }
        Action::ClearFooter { path, .. } => {
            let mut map = map_file(path, true)?;
            let index_at = crate::format::index_start(map.len() as u64);
            let len = map.len();
            zero_written(map.exclusive(), index_at);
            map.flush(index_at..len)
                .map_err(|e| Error::io("msync", path, e))?;
            Ok(Vec::new())
        }
        Action::Reseal { path, .. } => {
            let mut map = map_file(path, true)?;
            let config = super::verify::scan_config(&header_of(path, map.whole())?);
            back_tail(&map, path)?;
            reseal(path, map.exclusive(), &config)?;
            let index_at = crate::format::index_start(map.len() as u64);
            map.flush(index_at..map.len())
                .map_err(|e| Error::io("msync", path, e))?;
            Ok(Vec::new())
        }
    }
}

/// Zeroes the close summary of a segment about to change (flushed at once with `durably`,
/// else by the caller's next flush, which must come before the change): it describes the
/// records as they were. It is derived from them (the next open walks instead), so nothing
/// is lost and nothing is quarantined. Returns whether there was one.
pub(crate) fn clear_close_summary(path: &Path, map: &mut Mapping, durably: bool) -> Result<bool> {
    if !footer::has_close_summary(map.whole()) {
        return Ok(false);
    }
    let at = map.len() - crate::format::FOOTER_SIZE;
    map.exclusive()[at..].fill(0);
    if durably {
        map.flush(at..map.len())
            .map_err(|e| Error::io("msync", path, e))?;
    }
    Ok(true)
}

fn to_usize(range: &Range<u64>) -> Range<usize> {
    usize::try_from(range.start).unwrap_or(usize::MAX)..usize::try_from(range.end).unwrap_or(0)
}

fn header_of(path: &Path, bytes: &[u8]) -> Result<HeaderInfo> {
    HeaderInfo::decode(bytes).map_err(|why| Error::Corrupt {
        path: path.to_owned(),
        offset: 0,
        last_good_lsn: Lsn::ZERO,
        damage: Damage::SegmentHeader(why.to_string()),
    })
}

/// A new quarantine file name for bytes of segment `id` from `offset`.
fn quarantine_path(dir: &Path, id: SegmentId, offset: usize, kind: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dir.join(format!(
        "{QUARANTINE_PREFIX}{:020}-at-{offset}-{nanos}.{kind}.bin",
        id.0
    ))
}
