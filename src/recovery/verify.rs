//! Read-only verification of a whole log: every record of every segment is walked (sealed
//! segments against their footers), and damage is reported instead of failing.
//!
//! Verification uses the same walk as opening (`segment::scan`) and the same rules: damage
//! after the last commit marker of the last segment is a torn tail (never acknowledged, and
//! discarded by the next writable open); damage anywhere else is corruption.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use zerocopy::IntoBytes;

use crate::disk::dir::{self, QUARANTINE_PREFIX};
use crate::disk::mmap::Mapping;
use crate::error::{Damage, Error, Result};
use crate::format::footer::{self, FooterInfo};
use crate::format::header::{HeaderError, HeaderInfo};
use crate::format::record::{self, KIND_DATA, Step};
use crate::format::{
    FOOTER_SIZE, FORMAT_VERSION, SEGMENT_HEADER_SIZE, data_capacity, payload_capacity,
};
use crate::ids::{Lsn, SegmentId};
use crate::segment::scan::{self, Scan, ScanConfig, Stop};

/// What verification found in one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Every record validates (and, when sealed, agrees with the footer).
    Intact,
    /// Bytes after the last commit marker of the last segment that do not validate: never
    /// acknowledged; the next writable open saves them to a quarantine file and zeroes them.
    TornTail {
        /// Where the valid prefix ends.
        offset: u64,
        /// What stopped the walk.
        damage: Damage,
        /// Bytes from `offset` to the last non-zero byte of the data area.
        bytes: u64,
    },
    /// A last segment whose header never reached the disk (all zeroes, or a file shorter than
    /// a segment header): nothing in it was acknowledged. Opening removes it; a file shorter
    /// than a header is refused by a strict open, and its bytes, if any are not zero, are
    /// saved to a quarantine file first.
    Unfinished,
    /// Damage that needs `repair`.
    Corrupt {
        /// Byte offset of the first damaged byte in the file.
        offset: u64,
        /// What did not validate.
        damage: Damage,
        /// The last LSN before the damage that validated (in this segment or an earlier one).
        last_good_lsn: Lsn,
    },
}

/// The verification of one segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentCheck {
    /// The segment's id (from its file name).
    pub id: SegmentId,
    /// Its file.
    pub path: PathBuf,
    /// Length of the file.
    pub file_len: u64,
    /// The validated header, if it validates.
    pub header: Option<HeaderInfo>,
    /// The validated footer, if the segment is sealed and the footer validates.
    pub footer: Option<FooterInfo>,
    /// Data records of the valid prefix.
    pub records: u64,
    /// First LSN of the valid prefix, if it holds a record.
    pub first_lsn: Option<Lsn>,
    /// Last LSN of the valid prefix, if it holds a record.
    pub last_lsn: Option<Lsn>,
    /// End of the valid prefix (the end of the data when the segment is intact).
    pub valid_end: u64,
    /// End of the last commit marker of the valid prefix (what the last sync made durable).
    pub last_marker_end: u64,
    /// Offset of the first record superseded by a suffix truncation (its LSN is at or above
    /// the next segment's base LSN), if the valid prefix holds one. Superseded records are not
    /// part of the log: `records`, `first_lsn` and `last_lsn` count only those before it.
    pub superseded_at: Option<u64>,
    /// The LSN after the last data record of the valid prefix, superseded records included
    /// (the base LSN when it holds none; 0 without a valid header).
    pub walked_end: u64,
    /// Padding follows the last data record of the valid prefix: repair replaced damage that
    /// may have held records, so the next segment may start after `walked_end`.
    pub ends_in_padding: bool,
    /// What was found.
    pub status: Status,
}

impl SegmentCheck {
    /// True when the segment has a valid footer.
    #[must_use]
    pub fn is_sealed(&self) -> bool {
        self.footer.is_some()
    }

    /// True when the segment needs `repair`.
    #[must_use]
    pub fn is_corrupt(&self) -> bool {
        matches!(self.status, Status::Corrupt { .. })
    }
}

/// What verification found in a log directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The log directory.
    pub dir: PathBuf,
    /// Every segment, in LSN order.
    pub segments: Vec<SegmentCheck>,
    /// Segments being prepared (`*.seg.tmp`): not part of the log; a writable open removes
    /// them.
    pub preparing: Vec<PathBuf>,
    /// Quarantine files (bytes removed earlier by recovery or repair).
    pub quarantine: Vec<PathBuf>,
}

impl VerifyReport {
    /// True when nothing needs `repair` (a torn tail or an unfinished last segment does not:
    /// opening handles them).
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.first_corruption().is_none()
    }

    /// The first corrupt segment, in LSN order.
    #[must_use]
    pub fn first_corruption(&self) -> Option<&SegmentCheck> {
        self.segments.iter().find(|s| s.is_corrupt())
    }

    /// The torn tail of the last segment, if any.
    #[must_use]
    pub fn torn_tail(&self) -> Option<&SegmentCheck> {
        self.segments
            .iter()
            .find(|s| matches!(s.status, Status::TornTail { .. }))
    }

    /// Records in the valid prefixes of all segments.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }

    /// The first LSN held.
    #[must_use]
    pub fn first_lsn(&self) -> Option<Lsn> {
        self.segments.iter().find_map(|s| s.first_lsn)
    }

    /// The last LSN held.
    #[must_use]
    pub fn last_lsn(&self) -> Option<Lsn> {
        self.segments.iter().rev().find_map(|s| s.last_lsn)
    }
}

/// Verifies the log in `dir`, reading every record of every segment; changes nothing and
/// takes no lock (a writer may be appending: its unfinished record reads as a torn tail).
///
/// # Errors
/// `Error::NotALog` for a missing directory or one without segment files;
/// `Error::UnsupportedVersion`; `Error::Io` when a file cannot be read. Damage is not an
/// error: it is in the report.
pub fn verify(dir: &Path) -> Result<VerifyReport> {
    verify_with(dir, |_, _| {})
}

/// As `verify`, calling `progress(done, total)` after each segment.
///
/// # Errors
/// As `verify`.
pub fn verify_with(dir: &Path, progress: impl FnMut(usize, usize)) -> Result<VerifyReport> {
    let listing = dir::list(dir)?;
    if listing.segments.is_empty() {
        return Err(Error::NotALog {
            path: dir.to_owned(),
            reason: "no segment files".into(),
        });
    }
    check_listing(dir, listing, progress)
}

/// As `verify`, except that a directory without segment files (a repair that removed every
/// segment leaves one) is an intact, empty log.
///
/// # Errors
/// As `verify`.
pub(crate) fn verify_after_repair(dir: &Path) -> Result<VerifyReport> {
    check_listing(dir, dir::list(dir)?, |_, _| {})
}

fn check_listing(
    dir: &Path,
    listing: dir::Listing,
    mut progress: impl FnMut(usize, usize),
) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        dir: dir.to_owned(),
        segments: Vec::new(),
        preparing: listing.preparing,
        quarantine: quarantine_files(dir)?,
    };
    let mut context = Context::default();
    let count = listing.segments.len();
    let bases: Vec<Option<u64>> = listing
        .segments
        .iter()
        .map(|(_, path)| base_lsn_of(path))
        .collect();
    for (i, (id, path)) in listing.segments.iter().enumerate() {
        context.lsn_end = bases.get(i + 1).copied().flatten();
        let mut check = check_segment(path, *id, i + 1 == count, &context)?;
        if let Some(expected) = context.expected_id
            && *id != expected
            && !check.is_corrupt()
        {
            check.status = Status::Corrupt {
                offset: 0,
                damage: Damage::SegmentHeader(format!(
                    "segment {expected} is missing (found {id} next)"
                )),
                last_good_lsn: Lsn(context.last_good_lsn),
            };
        }
        context.expected_id = Some(id.next());
        check_continuity(&mut check, report.segments.last(), i == 1, &context);
        if let Some(header) = &check.header {
            context.log_id.get_or_insert(header.log_id);
        }
        if let Some(last) = check.last_lsn {
            context.last_good_lsn = last.0;
        }
        report.segments.push(check);
        progress(i + 1, count);
    }
    Ok(report)
}

/// Flags `check` as corrupt when its base LSN does not continue the intact segment before it
/// (`first`: that one is the log's first).
fn check_continuity(
    check: &mut SegmentCheck,
    previous: Option<&SegmentCheck>,
    first: bool,
    context: &Context,
) {
    let (Some(previous), Some(header)) = (previous, &check.header) else {
        return;
    };
    let Some(previous_header) = previous.header.filter(|_| !previous.is_corrupt()) else {
        return;
    };
    if check.is_corrupt() {
        return;
    }
    let continuity = super::Continuity {
        id: previous.id,
        base: previous_header.base_lsn,
        end: previous.walked_end,
        first,
    };
    if let Some(problem) = continuity.problem(header.base_lsn, || previous.ends_in_padding) {
        check.status = Status::Corrupt {
            offset: 0,
            damage: Damage::SegmentHeader(problem),
            last_good_lsn: Lsn(context.last_good_lsn),
        };
    }
}

/// What the walk of earlier segments tells about the next one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    /// The log's identity, from the first segment whose header validates.
    pub log_id: Option<u64>,
    /// The id the next segment must have.
    pub expected_id: Option<SegmentId>,
    /// The last LSN of the segments before.
    pub last_good_lsn: u64,
    /// The base LSN of the next segment, when its header validates: records at or above it
    /// are superseded (a suffix truncation started the next segment there).
    pub lsn_end: Option<u64>,
}

/// The base LSN in a segment file's header, if the header validates.
fn base_lsn_of(path: &Path) -> Option<u64> {
    let mut bytes = [0; SEGMENT_HEADER_SIZE];
    File::open(path).ok()?.read_exact(&mut bytes).ok()?;
    HeaderInfo::decode(&bytes).ok().map(|h| h.base_lsn)
}

/// The data records of a valid prefix `SEGMENT_HEADER_SIZE..end` below `lsn_end`: their
/// count, first and last LSN, and the offset of the first record at or above `lsn_end`.
fn records_below(
    data: &[u8],
    end: usize,
    config: &ScanConfig,
    lsn_end: u64,
) -> (u64, Option<Lsn>, Option<Lsn>, Option<u64>) {
    let check = config.binding.seeded();
    let (mut records, mut first, mut last) = (0, None, None);
    let mut offset = SEGMENT_HEADER_SIZE;
    while offset < end {
        let Step::Record(parsed) =
            record::parse_with(data, offset, &check, config.payload_max, false)
        else {
            break;
        };
        if parsed.kind == KIND_DATA {
            if parsed.lsn >= lsn_end {
                return (records, first, last, Some(offset as u64));
            }
            records += 1;
            first.get_or_insert(Lsn(parsed.lsn));
            last = Some(Lsn(parsed.lsn));
        }
        offset += parsed.framed_len;
    }
    (records, first, last, None)
}

/// True for a last segment file too short to be a segment and shorter than a header or all
/// zeroes: a creation cut short, which opening sets aside (a strict open refuses one shorter
/// than a header).
fn is_stub(path: &Path, file_len: u64) -> Result<bool> {
    if file_len >= (SEGMENT_HEADER_SIZE + FOOTER_SIZE) as u64 {
        return Ok(false);
    }
    let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    Ok(bytes.len() < SEGMENT_HEADER_SIZE || bytes.iter().all(|&b| b == 0))
}

/// Verifies one segment file, which holds segment `id`; `last` when it is the log's last
/// segment (the only one that may be unsealed).
///
/// # Errors
/// `Error::UnsupportedVersion`; `Error::Io` when the file cannot be read.
pub fn check_segment(
    path: &Path,
    id: SegmentId,
    last: bool,
    context: &Context,
) -> Result<SegmentCheck> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    let mut check = SegmentCheck {
        id,
        path: path.to_owned(),
        file_len,
        header: None,
        footer: None,
        records: 0,
        first_lsn: None,
        last_lsn: None,
        valid_end: 0,
        last_marker_end: 0,
        superseded_at: None,
        walked_end: 0,
        ends_in_padding: false,
        status: Status::Intact,
    };
    let corrupt = |offset: u64, damage: Damage| Status::Corrupt {
        offset,
        damage,
        last_good_lsn: Lsn(context.last_good_lsn),
    };
    if last && is_stub(path, file_len)? {
        check.status = Status::Unfinished;
        return Ok(check);
    }
    if file_len < (SEGMENT_HEADER_SIZE + FOOTER_SIZE) as u64 {
        check.status = corrupt(
            0,
            Damage::SegmentHeader(format!("file is only {file_len} bytes")),
        );
        return Ok(check);
    }
    let mut map = Mapping::map(&file, false).map_err(|e| Error::io("map", path, e))?;
    let bytes = map.whole();
    let header = match HeaderInfo::decode(bytes) {
        Ok(header) => header,
        Err(HeaderError::Zeroed) if last && bytes.iter().all(|&b| b == 0) => {
            check.status = Status::Unfinished;
            return Ok(check);
        }
        Err(HeaderError::Version(found)) => {
            return Err(Error::UnsupportedVersion {
                path: path.to_owned(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        Err(other) => {
            check.status = corrupt(0, Damage::SegmentHeader(other.to_string()));
            return Ok(check);
        }
    };
    if let Some(problem) = super::header_problem(&header, id, file_len, context.log_id) {
        check.status = corrupt(0, Damage::SegmentHeader(problem));
        return Ok(check);
    }
    check.header = Some(header);
    let config = scan_config(&header);
    let capacity = data_capacity(header.segment_size);
    // A sealed segment's records end where its footer says: what lies between there and the
    // index is not read by an open or a reader, so it is not walked here either.
    let walked = match footer::decode(bytes, config.binding.seed, capacity) {
        Ok(Some(info)) if info.segment_id == id.0 => {
            usize::try_from(info.data_end).map_or(capacity, |end| end.min(capacity))
        }
        _ => capacity,
    };
    let walk = scan::scan(bytes, walked, &config);
    check.records = walk.records;
    check.first_lsn = (walk.records > 0).then_some(Lsn(walk.first_lsn));
    check.last_lsn = (walk.records > 0).then_some(Lsn(walk.last_lsn));
    check.valid_end = walk.end as u64;
    check.last_marker_end = walk.last_marker_end as u64;
    check.walked_end = walk.last_lsn + 1;
    check.ends_in_padding = walk.gap_allowed;
    if let Some(lsn_end) = context.lsn_end
        && walk.records > 0
        && walk.last_lsn >= lsn_end
    {
        let (records, first, last, at) =
            records_below(&bytes[..capacity], walk.end, &config, lsn_end);
        check.records = records;
        check.first_lsn = first;
        check.last_lsn = last;
        check.superseded_at = at;
    }
    let last_good_lsn = if walk.records > 0 {
        walk.last_lsn
    } else {
        context.last_good_lsn
    };
    let (footer, status) = classify(bytes, id, last, &walk, &config, last_good_lsn);
    check.footer = footer;
    check.status = status;
    Ok(check)
}

/// Classifies a walked segment: sealed and agreeing with its footer, a torn tail, or
/// corruption.
fn classify(
    bytes: &[u8],
    id: SegmentId,
    last: bool,
    walk: &Scan,
    config: &ScanConfig,
    last_good_lsn: u64,
) -> (Option<FooterInfo>, Status) {
    let capacity = data_capacity(bytes.len() as u64);
    let corrupt = |offset: u64, damage: Damage| Status::Corrupt {
        offset,
        damage,
        last_good_lsn: Lsn(last_good_lsn),
    };
    let footer_at = (bytes.len() - FOOTER_SIZE) as u64;
    match footer::decode(bytes, config.binding.seed, capacity) {
        Ok(Some(info)) if info.segment_id == id.0 => {
            let status = match sealed_damage(bytes, walk, &info) {
                Some((offset, damage)) => corrupt(offset as u64, damage),
                None => Status::Intact,
            };
            (Some(info), status)
        }
        // The last segment may be in the middle of being sealed, and its footer area is
        // outside the data area an open walks: an open treats it as active, whatever that
        // area holds (FORMAT.md 2.6).
        Ok(None) | Err(_) if last => {
            let status = match active_damage(&bytes[..capacity], walk) {
                None => match summary_damage(bytes, id, walk, config) {
                    Some(damage) => corrupt(footer_at, damage),
                    None => Status::Intact,
                },
                Some((offset, damage, torn_bytes)) => {
                    if scan::vouched_by_later_marker(&bytes[..capacity], offset, config) {
                        corrupt(offset as u64, damage)
                    } else {
                        Status::TornTail {
                            offset: offset as u64,
                            damage,
                            bytes: torn_bytes as u64,
                        }
                    }
                }
            };
            (None, status)
        }
        Ok(None) => (
            None,
            corrupt(
                footer_at,
                Damage::Footer("missing on a segment that is not the last".into()),
            ),
        ),
        Ok(Some(info)) => (
            None,
            corrupt(
                footer_at,
                Damage::Footer(format!("names segment {}", info.segment_id)),
            ),
        ),
        Err(why) => (None, corrupt(footer_at, Damage::Footer(why))),
    }
}

/// What is wrong with the close summary of an unsealed segment whose walk ended cleanly: one
/// that an open would trust (`scan::close_summary`) must say what the walk found. A summary
/// an open would not trust (damaged, or followed by a writer's marker) is not read.
fn summary_damage(bytes: &[u8], id: SegmentId, walk: &Scan, config: &ScanConfig) -> Option<Damage> {
    let summary = scan::close_summary(bytes, data_capacity(bytes.len() as u64), config, id.0)?;
    let agrees = summary.end == walk.end
        && summary.records == walk.records
        && summary.last_lsn == walk.last_lsn
        && (walk.records == 0 || summary.first_lsn == walk.first_lsn)
        && summary.index == walk.index;
    (!agrees).then(|| Damage::Footer("close summary disagrees with the records".into()))
}

/// The walk configuration of a segment with this header.
#[must_use]
pub fn scan_config(header: &HeaderInfo) -> ScanConfig {
    ScanConfig {
        binding: header.binding(),
        base_lsn: header.base_lsn,
        payload_max: payload_capacity(header.segment_size),
        skip_damage: false,
    }
}

/// Where a sealed segment's records disagree with its footer, if they do.
pub(crate) fn sealed_damage(
    bytes: &[u8],
    walk: &Scan,
    info: &FooterInfo,
) -> Option<(usize, Damage)> {
    if let Stop::Damage { offset, damage } = &walk.stop {
        return Some((*offset, damage.clone()));
    }
    let data_end = usize::try_from(info.data_end).unwrap_or(usize::MAX);
    if walk.end < data_end {
        // Zeroes where the footer says records are.
        return Some((walk.end, Damage::ZeroedRecord));
    }
    let index = footer::index_bytes(bytes, info.index_entries);
    let agrees = walk.end == data_end
        && walk.records == info.records
        && walk.chain_value() == Some(info.chain)
        && (walk.records == 0
            || (walk.first_lsn, walk.last_lsn) == (info.first_lsn, info.last_lsn))
        && index == walk.index.as_bytes();
    let at = bytes.len() - FOOTER_SIZE;
    (!agrees).then(|| {
        (
            at,
            Damage::Footer("footer disagrees with the records".into()),
        )
    })
}

/// Where the records of the last, unsealed segment stop validating, with the number of bytes
/// from there to the last non-zero byte.
fn active_damage(data: &[u8], walk: &Scan) -> Option<(usize, Damage, usize)> {
    let (offset, damage) = match &walk.stop {
        // Nothing is written past a clean-close marker that is the last item (a writer that
        // resumes first makes a marker after it durable): an open does not read the rest of
        // the data area, and neither does verification (FORMAT.md 2.5).
        Stop::End if walk.ended_clean => return None,
        Stop::End => {
            let tail = scan::nonzero_end(data, walk.end);
            if tail <= walk.end {
                return None;
            }
            (walk.end, Damage::Garbage)
        }
        Stop::Damage { offset, damage } => (*offset, damage.clone()),
    };
    let end = scan::nonzero_end(data, offset).max(offset);
    Some((offset, damage, end - offset))
}

fn quarantine_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(QUARANTINE_PREFIX))
        {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}
