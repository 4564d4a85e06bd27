//! `Source`: the log a pass copies from, as a read-only snapshot, with the durable LSN its
//! writer published, and what of each segment may be shipped.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use crate::disk::beacon::Beacon;
use crate::error::{Error, Result};
use crate::format::header::HeaderInfo;
use crate::format::{SEGMENT_HEADER_SIZE, data_capacity};
use crate::ids::Lsn;
use crate::log::Log;
use crate::options::Options;
use crate::recovery::verify::scan_config;
use crate::segment::SegmentInfo;
use crate::segment::scan;

/// The source log of one pass.
pub(super) struct Source {
    /// A snapshot of the segments present when it was opened (a writer may be appending).
    pub log: Log,
    pub segments: Vec<SegmentInfo>,
    /// The log's identity, from its first segment's header.
    pub log_id: u64,
    /// The writer's beacon, when one was created for this log.
    beacon: Option<Beacon>,
    /// The durable LSN the writer had published once the snapshot was taken.
    durable: Option<u64>,
}

/// What a pass may ship of one source segment.
pub(super) struct Shipment {
    /// What the source holds: the whole file of a segment shipped sealed, else its data up to
    /// the end of its records.
    pub bytes: Vec<u8>,
    /// How many of them to ship: all of a sealed segment, else up to the last commit marker
    /// that covers only durable records.
    pub len: usize,
    /// Shipped whole, as a sealed segment.
    pub sealed: bool,
}

impl Source {
    /// Opens the log in `dir` read-only and reads its writer's durable LSN.
    ///
    /// # Errors
    /// As `Log::open_read_only`; `Error::NotALog` when it holds no segment.
    pub fn open(dir: &Path) -> Result<Source> {
        let log = open_settled(dir)?;
        let segments = log.segments();
        let Some(first) = segments.first() else {
            return Err(Error::NotALog {
                path: dir.to_owned(),
                reason: "the source log holds no segment".into(),
            });
        };
        let log_id = read_header(&first.path)?.log_id;
        // No beacon (or one that cannot be mapped): no writer to ask, so no bound but the
        // commit markers, as for a closed log.
        let beacon = Beacon::open(dir)
            .ok()
            .flatten()
            .filter(|b| b.log_id() == log_id);
        let durable = beacon.as_ref().map(Beacon::durable);
        Ok(Source {
            log,
            segments,
            log_id,
            beacon,
            durable,
        })
    }

    /// True when a writer of this log publishes its durable LSN.
    pub fn has_writer(&self) -> bool {
        self.beacon.is_some()
    }

    /// The durable LSN the writer publishes now, if there is a writer.
    pub fn durable_now(&self) -> Option<Lsn> {
        self.beacon.as_ref().map(|b| Lsn(b.durable()))
    }

    /// What to ship of `segment` (`last`: the snapshot's last segment).
    ///
    /// Only the last segment can hold records that are not durable yet: a writer names a new
    /// segment only once the seal of the one before has reached the disk. Its records
    /// after the published durable LSN are left out (so the replica holds only records the
    /// source can no longer lose), and so is everything after its last commit marker.
    ///
    /// # Errors
    /// `Error::Io` when the file cannot be read; `Error::Corrupt` when the record after the
    /// durable LSN cannot be read.
    pub fn shipment(&self, segment: &SegmentInfo, last: bool) -> Result<Shipment> {
        let cap = if last { self.cap(segment)? } else { None };
        if segment.sealed && cap.is_none() {
            let bytes = read(&segment.path, segment.file_len)?;
            let len = bytes.len();
            return Ok(Shipment {
                bytes,
                len,
                sealed: true,
            });
        }
        let bytes = read(&segment.path, segment.bytes_used)?;
        let header = HeaderInfo::decode(&bytes).map_err(|e| Error::NotALog {
            path: segment.path.clone(),
            reason: format!("segment header: {e}"),
        })?;
        let end = cap.unwrap_or(bytes.len()).min(bytes.len());
        let walk = scan::scan(
            &bytes[..end],
            data_capacity(header.segment_size),
            &scan_config(&header),
        );
        Ok(Shipment {
            len: walk.last_marker_end,
            bytes,
            sealed: false,
        })
    }

    /// Where the first record after the durable LSN starts in `segment`, if it holds one.
    fn cap(&self, segment: &SegmentInfo) -> Result<Option<usize>> {
        let Some(durable) = self.durable else {
            return Ok(None);
        };
        match segment.last_lsn {
            Some(last) if last.0 > durable => {}
            _ => return Ok(None),
        }
        if durable < segment.base_lsn.0 {
            return Ok(Some(SEGMENT_HEADER_SIZE));
        }
        let reader = self.log.reader();
        let next = reader.iter_from(Lsn(durable + 1)).next().transpose()?;
        // Not found where it must be: ship none of the segment's records rather than guess.
        Ok(Some(match next {
            Some(record) if record.segment == segment.id => {
                usize::try_from(record.offset).unwrap_or(SEGMENT_HEADER_SIZE)
            }
            _ => SEGMENT_HEADER_SIZE,
        }))
    }
}

/// How many times a read-only open that found damage is tried again before the damage is
/// believed, and how long apart.
const SETTLE_TRIES: u32 = 5;
const SETTLE_PAUSE: Duration = Duration::from_millis(10);

/// Opens the log in `dir` read-only. A read-only open of a log a writer is appending to can
/// see damage that is not there: its walk of the active segment may stop at a record not
/// yet written, then find that record and a commit marker after it written meanwhile, which
/// reads as acknowledged bytes that do not validate. Damage that is still there after a few
/// tries is real.
fn open_settled(dir: &Path) -> Result<Log> {
    let mut tries = 1;
    loop {
        match Log::open_read_only(dir, Options::default()) {
            Err(error) if error.is_corruption() && tries < SETTLE_TRIES => {
                tries += 1;
                std::thread::sleep(SETTLE_PAUSE);
            }
            opened => return opened,
        }
    }
}

/// The first `len` bytes of a file.
fn read(path: &Path, len: u64) -> Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| Error::NotALog {
        path: path.to_owned(),
        reason: format!("a segment of {len} bytes does not fit in memory"),
    })?;
    let mut bytes = vec![0; len];
    File::open(path)
        .and_then(|f| f.read_exact_at(&mut bytes, 0))
        .map_err(|e| Error::io("read", path, e))?;
    Ok(bytes)
}

/// The header of a segment file.
///
/// # Errors
/// `Error::Io` when it cannot be read; `Error::NotALog` when it does not validate.
pub(super) fn read_header(path: &Path) -> Result<HeaderInfo> {
    let bytes = read(path, SEGMENT_HEADER_SIZE as u64)?;
    HeaderInfo::decode(&bytes).map_err(|e| Error::NotALog {
        path: path.to_owned(),
        reason: format!("segment header: {e}"),
    })
}
