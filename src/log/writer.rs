//! The serialized append path: framing into the active segment, rotation to a segment that
//! was preallocated and write-faulted ahead of need by a background thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::disk::dir;
use crate::disk::file;
use crate::disk::mmap::Mapping;
use crate::error::{Error, Result};
use crate::format::header::HeaderInfo;
use crate::format::record::FLAG_BATCH_CONTINUES;
use crate::format::{SEGMENT_HEADER_SIZE, framed_len, payload_capacity};
use crate::ids::SegmentId;
use crate::segment::active::ActiveSegment;
use crate::segment::scan::{Scan, ScanConfig};
use crate::segment::{Counts, Segment};

/// A preallocated, mapped, write-faulted segment file under its temporary name.
#[derive(Debug)]
pub struct Prepared {
    path: PathBuf,
    map: Mapping,
}

/// Whether a prepared segment's pages are faulted in ahead of need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Populate {
    /// Fault every page in writable (background preparation: appends then take no faults).
    Pages,
    /// Leave them (a segment needed at once: faulting 64 MiB first would only delay it).
    Lazily,
}

/// Creates the next segment file under a temporary name (never part of the log until it is
/// renamed), preallocated with fallocate and, with `Populate::Pages`, with its pages faulted
/// in writable.
///
/// # Errors
/// `Error::Io` naming the file (a full disk fails here, never later as a SIGBUS).
pub fn prepare(
    dir: &Path,
    id: SegmentId,
    segment_size: u64,
    populate: Populate,
) -> Result<Prepared> {
    let path = dir.join(dir::preparing_file_name(id));
    let created = file::create_preallocated(&path, segment_size)?;
    let mut map = Mapping::map(&created, true).map_err(|e| Error::io("map", &path, e))?;
    if populate == Populate::Pages {
        map.populate_write();
    }
    Ok(Prepared { path, map })
}

/// Turns a prepared file into segment `id` starting at `base_lsn`: header written and
/// flushed, then renamed into place and the directory fsynced.
///
/// # Errors
/// `Error::Io` naming the file.
pub fn activate(
    dir: &Path,
    log_id: u64,
    segment_size: u64,
    prepared: Prepared,
    id: SegmentId,
    base_lsn: u64,
) -> Result<ActiveSegment> {
    let unnamed = Unnamed::new(dir, log_id, segment_size, prepared, id, base_lsn);
    unnamed.name()?;
    Ok(unnamed.active)
}

/// A new active segment whose file still has its temporary name: it becomes part of the log
/// when `name` has flushed its header and renamed it.
#[derive(Debug)]
struct Unnamed {
    active: ActiveSegment,
    temporary: PathBuf,
}

impl Unnamed {
    fn new(
        dir: &Path,
        log_id: u64,
        segment_size: u64,
        prepared: Prepared,
        id: SegmentId,
        base_lsn: u64,
    ) -> Unnamed {
        let Prepared { path, mut map } = prepared;
        let header = HeaderInfo {
            log_id,
            segment_id: id.0,
            base_lsn,
            segment_size,
        };
        map.exclusive()[..SEGMENT_HEADER_SIZE].copy_from_slice(&header.encode());
        let payload_max = payload_capacity(segment_size);
        let segment = Arc::new(Segment::new(
            dir.join(dir::segment_file_name(id)),
            header,
            payload_max,
            Arc::new(map),
            Counts {
                data_end: SEGMENT_HEADER_SIZE,
                first_lsn: 0,
                last_lsn: 0,
                records: 0,
            },
            None,
            Vec::new(),
        ));
        let start = Scan::start(&ScanConfig {
            seed: header.seed(),
            base_lsn,
            payload_max,
            skip_damage: false,
        });
        Unnamed {
            active: ActiveSegment::resume(segment, &start),
            temporary: path,
        }
    }

    /// Flushes the header, renames the file into place and fsyncs the directory.
    fn name(&self) -> Result<()> {
        Self::name_parts(self.active.segment(), &self.temporary)
    }

    fn name_parts(segment: &Segment, temporary: &Path) -> Result<()> {
        segment
            .mapping()
            .flush(0..SEGMENT_HEADER_SIZE)
            .map_err(|e| Error::io("msync", temporary, e))?;
        file::rename_durably(temporary, segment.path())
    }
}

/// A rotation finishing in the background: the previous segment is being sealed (data
/// flushed, then index and footer written and flushed), after which the new segment is named.
#[derive(Debug)]
struct PendingSeal {
    handle: JoinHandle<Result<()>>,
    /// The last LSN of the segment being sealed: durable once the seal completes.
    last_lsn: u64,
}

/// The writer's state, behind the log's mutex.
#[derive(Debug)]
pub struct Writer {
    pub(crate) active: ActiveSegment,
    pub(crate) next_lsn: u64,
    dir: PathBuf,
    log_id: u64,
    segment_size: u64,
    payload_max: u64,
    preparing: Option<JoinHandle<Result<Prepared>>>,
    /// Offset of the active segment past which the next segment is prepared.
    prepare_at: usize,
    sealing: Option<PendingSeal>,
}

impl Writer {
    /// A writer appending to `active`, whose next record gets `next_lsn`.
    #[must_use]
    pub fn new(
        active: ActiveSegment,
        next_lsn: u64,
        dir: &Path,
        log_id: u64,
        segment_size: u64,
        payload_max: u64,
    ) -> Writer {
        Writer {
            active,
            next_lsn,
            dir: dir.to_owned(),
            log_id,
            segment_size,
            payload_max,
            preparing: None,
            prepare_at: usize::MAX,
            sealing: None,
        }
    }

    /// Schedules the preparation of the next segment for when the active one is half full:
    /// early enough to be ready when it is needed, late enough that a log reopened or
    /// rotated often does not preallocate files it never uses.
    pub fn schedule_prepare(&mut self) {
        let segment = self.active.segment();
        let start = crate::format::SEGMENT_HEADER_SIZE;
        self.prepare_at = start + (segment.capacity() - start) / 2;
        self.prepare_if_due();
    }

    #[inline]
    fn prepare_if_due(&mut self) {
        if self.active.end() >= self.prepare_at {
            self.prepare_at = usize::MAX;
            self.prepare_next();
        }
    }

    /// Starts preparing the segment after the active one in the background.
    pub fn prepare_next(&mut self) {
        if self.preparing.is_some() {
            return;
        }
        let dir = self.dir.clone();
        let id = self.active.segment().id().next();
        let size = self.segment_size;
        let spawned = std::thread::Builder::new()
            .name("interstice-prepare".into())
            .spawn(move || prepare(&dir, id, size, Populate::Pages));
        // When no thread can be spawned, rotation prepares synchronously.
        self.preparing = spawned.ok();
    }

    /// Waits for the background preparation (if any) to finish.
    pub fn finish_preparing(&mut self) -> Option<Result<Prepared>> {
        let handle = self.preparing.take()?;
        Some(handle.join().unwrap_or_else(|_| {
            Err(Error::io(
                "prepare",
                &self.dir,
                std::io::Error::other("preparation thread panicked"),
            ))
        }))
    }

    /// A prepared file for segment `id`: the background one if it succeeded, else made now.
    ///
    /// # Errors
    /// `Error::Io` when the file cannot be created (a full disk); nothing changed.
    pub fn take_prepared(&mut self, id: SegmentId) -> Result<Prepared> {
        match self.finish_preparing() {
            Some(Ok(prepared)) => Ok(prepared),
            Some(Err(_)) | None => prepare(&self.dir, id, self.segment_size, Populate::Lazily),
        }
    }

    /// Turns the prepared file into segment `id` starting at `base_lsn`, synchronously.
    ///
    /// # Errors
    /// `Error::Io` naming the file.
    pub fn activate(&mut self, id: SegmentId, base_lsn: u64) -> Result<ActiveSegment> {
        let prepared = self.take_prepared(id)?;
        activate(
            &self.dir,
            self.log_id,
            self.segment_size,
            prepared,
            id,
            base_lsn,
        )
    }

    /// Rotates into `prepared` as segment `id`: appends continue at once in it (mapped, not
    /// yet named), while a background thread seals the previous segment and then names the
    /// new one. Anything that needs durability waits for that with `finish_sealing`. The
    /// previous background seal must be finished.
    ///
    /// # Errors
    /// `Error::Io` when no thread can be spawned; the writer has then switched segments and
    /// the caller must poison the log.
    pub fn rotate_into(&mut self, prepared: Prepared, id: SegmentId) -> Result<()> {
        assert!(self.sealing.is_none(), "the previous seal must be finished");
        let base_lsn = self.next_lsn;
        let unnamed = Unnamed::new(
            &self.dir,
            self.log_id,
            self.segment_size,
            prepared,
            id,
            base_lsn,
        );
        let Unnamed { active, temporary } = unnamed;
        let mut previous = std::mem::replace(&mut self.active, active);
        let next = Arc::clone(self.active.segment());
        let last_lsn = self.next_lsn - 1;
        let spawned = std::thread::Builder::new()
            .name("interstice-seal".into())
            .spawn(move || {
                previous
                    .seal()
                    .map_err(|e| Error::io("seal (msync)", previous.segment().path(), e))?;
                Unnamed::name_parts(&next, &temporary)
            });
        let handle = spawned.map_err(|e| Error::io("spawn seal thread", &self.dir, e))?;
        self.sealing = Some(PendingSeal { handle, last_lsn });
        Ok(())
    }

    /// Waits for a background seal, if one runs. Returns the LSN it made durable.
    ///
    /// # Errors
    /// The seal's error: the caller poisons the log.
    pub fn finish_sealing(&mut self) -> Result<Option<u64>> {
        let Some(pending) = self.sealing.take() else {
            return Ok(None);
        };
        let result = pending.handle.join().unwrap_or_else(|_| {
            Err(Error::io(
                "seal",
                &self.dir,
                std::io::Error::other("seal thread panicked"),
            ))
        });
        result.map(|()| Some(pending.last_lsn))
    }

    /// Checks that a payload is within limits.
    pub fn check_len(&self, len: usize) -> Result<()> {
        if len as u64 > self.payload_max {
            return Err(Error::RecordTooLarge {
                len: len as u64,
                max: self.payload_max,
            });
        }
        Ok(())
    }

    /// Writes one record into the active segment (which has room) and publishes it.
    #[inline]
    pub fn write_one(&mut self, payload: &[u8]) -> u64 {
        let lsn = self.next_lsn;
        self.active.write(lsn, 0, payload);
        self.active.publish();
        self.next_lsn += 1;
        self.prepare_if_due();
        lsn
    }

    /// Writes a batch into the active segment (which has room for all of it) and publishes
    /// it at once, so readers and recovery see all of it or none.
    pub fn write_batch<T: AsRef<[u8]>>(&mut self, records: &[T]) -> u64 {
        let count = records.len();
        for (i, payload) in records.iter().enumerate() {
            let flags = if i + 1 < count {
                FLAG_BATCH_CONTINUES
            } else {
                0
            };
            self.active.write(self.next_lsn, flags, payload.as_ref());
            self.next_lsn += 1;
        }
        self.active.publish();
        self.prepare_if_due();
        self.next_lsn - 1
    }

    /// Framed size of a batch.
    #[must_use]
    pub fn batch_len<T: AsRef<[u8]>>(records: &[T]) -> usize {
        records.iter().map(|r| framed_len(r.as_ref().len())).sum()
    }
}

impl Drop for Writer {
    /// Waits for a background seal (the log's files must be settled when it is gone), but not
    /// for a background preparation: that thread finishes alone, and its temporary file is
    /// removed by the next writable open.
    fn drop(&mut self) {
        let _ = self.finish_sealing();
        if let Some(handle) = self.preparing.take()
            && handle.is_finished()
            && let Ok(Ok(prepared)) = handle.join()
        {
            let _ = std::fs::remove_file(&prepared.path);
        }
    }
}
