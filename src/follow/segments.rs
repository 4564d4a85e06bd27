//! The segments a follower walks: the log's own in the writer's process, files opened as it
//! reaches them in another.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::disk::dir;
use crate::disk::mmap::Mapping;
use crate::error::{Damage, Error, Result};
use crate::format::footer;
use crate::format::header::{HeaderError, HeaderInfo};
use crate::format::{FOOTER_SIZE, SEGMENT_HEADER_SIZE, payload_capacity};
use crate::ids::{Lsn, SegmentId};
use crate::log::Log;
use crate::recovery::header_problem;
use crate::segment::{Counts, Segment};

/// The log's id, from its first segment.
pub(super) fn log_id(log: &Log) -> Option<u64> {
    log.segment_list()
        .first()
        .map(|first| first.header().log_id)
}

/// The segment from which a walk finds LSN `want` (the last starting at or before it, else
/// the first), with the first segment's base LSN; `None` when the log has no segment yet.
pub(super) fn holding(log: &Log, want: u64) -> Result<Option<(Arc<Segment>, u64)>> {
    if !log.is_read_only() {
        let list = log.segment_list();
        let Some(first) = list.first() else {
            return Ok(None);
        };
        let at = list
            .partition_point(|s| s.base_lsn() <= want)
            .saturating_sub(1);
        return Ok(Some((Arc::clone(&list[at]), first.base_lsn())));
    }
    let Ok(listing) = dir::list(log.dir()) else {
        return Ok(None);
    };
    let mut oldest = None;
    for &(id, _) in &listing.segments {
        if let Some(segment) = open(log, id)? {
            oldest = Some(segment);
            break;
        }
    }
    let Some(oldest) = oldest else {
        return Ok(None);
    };
    let first = oldest.base_lsn();
    for &(id, _) in listing.segments.iter().rev() {
        if id <= oldest.id() {
            break;
        }
        if let Some(segment) = open(log, id)?
            && segment.base_lsn() <= want
        {
            return Ok(Some((segment, first)));
        }
    }
    Ok(Some((oldest, first)))
}

/// The segment after `id`: `Ok(None)` while it is not named yet (a rotation in progress),
/// `Error::FollowerBehind` when retention removed it.
pub(super) fn after(log: &Log, id: SegmentId, want: u64) -> Result<Option<Arc<Segment>>> {
    let next = id.next();
    if !log.is_read_only() {
        let list = log.segment_list();
        if let Some(segment) = list.iter().find(|s| s.id() == next) {
            return Ok(Some(Arc::clone(segment)));
        }
        return Err(behind(log, want, list.first().map(|s| s.first_lsn())));
    }
    if let Some(segment) = open(log, next)? {
        return Ok(Some(segment));
    }
    let listing = dir::list(log.dir())?;
    match listing.segments.first() {
        Some(&(oldest, _)) if oldest > next => {
            let first = open(log, oldest)?.map(|s| s.base_lsn());
            Err(behind(log, want, first))
        }
        _ => Ok(None),
    }
}

fn behind(log: &Log, want: u64, first: Option<u64>) -> Error {
    Error::FollowerBehind {
        path: log.dir().to_owned(),
        needed: Lsn(want),
        first: first.filter(|&f| f > 0).map(Lsn),
    }
}

/// Where the data of a segment the writer moved past ends: final in the writer's process;
/// in another, its footer's (`None` until the seal wrote it).
pub(super) fn finished_end(log: &Log, segment: &Segment) -> Option<usize> {
    if !log.is_read_only() || segment.is_sealed() {
        return Some(segment.data_end());
    }
    let bytes = segment.mapping().frozen();
    match footer::decode(bytes, segment.header().seed(), segment.capacity()) {
        Ok(Some(info)) if info.segment_id == segment.id().0 => usize::try_from(info.data_end).ok(),
        _ => None,
    }
}

/// The log's own mapping of segment `id`, when it was sealed at the log's open and `file`
/// still holds the same segment: the same header and the same footer, which checksums the
/// records (a suffix truncation may give the id to a new segment). No second mapping, no
/// page faults again.
fn sealed_at_open(log: &Log, id: SegmentId, file: &File) -> Option<Arc<Segment>> {
    let known = log
        .segment_list()
        .into_iter()
        .find(|s| s.id() == id && s.is_sealed())?;
    let mut header = [0u8; SEGMENT_HEADER_SIZE];
    file.read_exact_at(&mut header, 0).ok()?;
    if HeaderInfo::decode(&header).ok()? != *known.header() {
        return None;
    }
    let mapped = known.mapping().frozen();
    let at = mapped.len().checked_sub(FOOTER_SIZE)?;
    let mut footer = [0u8; FOOTER_SIZE];
    file.read_exact_at(&mut footer, at as u64).ok()?;
    (footer[..] == mapped[at..]).then_some(known)
}

/// Maps segment `id` of the log's directory read-only, its header checked; `None` when no
/// such file is there.
fn open(log: &Log, id: SegmentId) -> Result<Option<Arc<Segment>>> {
    let log_id = log_id(log);
    let path = log.dir().join(dir::segment_file_name(id));
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    if let Some(known) = sealed_at_open(log, id, &file) {
        return Ok(Some(known));
    }
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", &path, e))?
        .len();
    let corrupt = |why: String| Error::Corrupt {
        path: path.clone(),
        offset: 0,
        last_good_lsn: Lsn::ZERO,
        damage: Damage::SegmentHeader(why),
    };
    if len < SEGMENT_HEADER_SIZE as u64 {
        return Err(corrupt(format!(
            "file is {len} bytes, shorter than a segment header"
        )));
    }
    let mut map = Mapping::map(&file, false).map_err(|e| Error::io("map", &path, e))?;
    let header = match HeaderInfo::decode(map.whole()) {
        Ok(header) => header,
        Err(HeaderError::Foreign) => {
            return Err(Error::NotALog {
                path,
                reason: "no Interstice segment magic at the start of a .seg file".into(),
            });
        }
        Err(other) => return Err(corrupt(other.to_string())),
    };
    if let Some(problem) = header_problem(&header, id, len, log_id) {
        return Err(corrupt(problem));
    }
    let capacity = crate::format::data_capacity(header.segment_size);
    let sealed = footer::decode(map.whole(), header.seed(), capacity)
        .ok()
        .flatten()
        .filter(|info| info.segment_id == id.0);
    let counts = sealed.as_ref().map_or(
        Counts {
            data_end: SEGMENT_HEADER_SIZE,
            first_lsn: 0,
            last_lsn: 0,
            records: 0,
        },
        Segment::counts_from_footer,
    );
    let payload_max = payload_capacity(header.segment_size);
    let segment = Segment::new(
        path,
        header,
        payload_max,
        Arc::new(map),
        counts,
        sealed.map(|info| info.index_entries),
        Vec::new(),
    );
    Ok(Some(Arc::new(segment)))
}
