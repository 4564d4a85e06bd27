//! The serialized append path: framing into the active segment, rotation to a segment that
//! was preallocated and write-faulted ahead of need by a background thread.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use crate::disk::dir;
use crate::disk::file;
use crate::disk::mmap::Mapping;
use crate::error::{Error, Result};
use crate::format::header::HeaderInfo;
use crate::format::record::batch_flags;
use crate::format::{SEGMENT_HEADER_SIZE, framed_len, payload_capacity};
use crate::ids::SegmentId;
use crate::segment::active::{ActiveSegment, Cut, back_data};
use crate::segment::scan::{Scan, ScanConfig};
use crate::segment::{Counts, Segment};

use super::metrics::{Timings, WriterCounts};

/// A preallocated, mapped, write-faulted segment file under its temporary name.
#[derive(Debug)]
pub struct Prepared {
    path: PathBuf,
    map: Mapping,
    /// The data area is backed by allocated blocks up to here (`back_data`).
    backed: usize,
}

/// Whether a prepared segment's pages are faulted in ahead of need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Populate {
    /// Fault the first `PAGER_AHEAD` bytes in writable (background preparation: the first
    /// appends take no faults, and the pager keeps ahead of the ones after).
    Pages,
    /// Fault the first two pager steps in (a new log's first segment: it costs its open a
    /// few milliseconds, and the pager keeps ahead from there).
    First,
    /// Leave them to the pager (a segment needed at once).
    Lazily,
}

/// Creates the next segment file under a temporary name (never part of the log until it is
/// renamed), at its full length, with blocks allocated for its header, index area and footer
/// and for its whole data area when prepared in the background (`Populate::Pages`), else for
/// a first part of it (the writer backs the rest when it nears it, `ActiveSegment::reserve`),
/// and, unless `Populate::Lazily`, with its first pages faulted in writable.
///
/// # Errors
/// `Error::Io` naming the file (a full disk fails here or at a later `reserve`, never as a
/// SIGBUS); the file is then removed.
pub fn prepare(
    dir: &Path,
    id: SegmentId,
    segment_size: u64,
    populate: Populate,
) -> Result<Prepared> {
    let path = dir.join(dir::preparing_file_name(id));
    let created = file::create_sized(&path, segment_size)?;
    // A segment prepared in the background is for a log busy enough to fill one: its whole
    // data area, off the append path. A new log's first segment and one needed at once get a
    // first part; the writer backs the rest when it nears its end.
    let capacity = crate::format::data_capacity(segment_size);
    let (backed, populated) = match populate {
        Populate::Pages => (capacity, PAGER_AHEAD),
        Populate::First => (PAGER_STEP * 2, PAGER_STEP * 2),
        Populate::Lazily => (crate::format::PAGE_SIZE as usize, 0),
    };
    let backed = backed.min(capacity);
    let mapped = Mapping::map(&created, true)
        .map_err(|e| Error::io("map", &path, e))
        .and_then(|map| {
            back_data(&map, 0, backed).map_err(|e| Error::io("allocate", &path, e))?;
            Ok(map)
        });
    let map = match mapped {
        Ok(map) => map,
        Err(error) => {
            drop(created);
            let _ = std::fs::remove_file(&path);
            return Err(error);
        }
    };
    map.populate(0..populated.min(backed));
    Ok(Prepared { path, map, backed })
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
        let Prepared {
            path,
            mut map,
            backed,
        } = prepared;
        let header = HeaderInfo::new(log_id, id.0, base_lsn, segment_size);
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
            binding: header.binding(),
            base_lsn,
            payload_max,
            skip_damage: false,
        });
        let mut active = ActiveSegment::resume(segment, &start);
        active.set_backed(backed);
        Unnamed {
            active,
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

/// How long a suffix truncation waits for a flush in flight before it gives up rewinding the
/// active segment in place (and seals it instead).
const REWIND_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The pager's step: each time the writer has filled this much more of the active segment,
/// the filled range's write-out starts and one more step ahead is faulted in.
pub const PAGER_STEP: usize = 1 << 20;

/// How far ahead of the write position the pager keeps pages faulted in.
pub const PAGER_AHEAD: usize = 8 << 20;

/// The framed sizes of a batch that is framed in a buffer and written into the file with one
/// `pwrite` when the log was synced since its previous write (a caller that syncs after each
/// batch), rather than copied record by record into the mapping: for such a caller it spares
/// the faults of fresh pages and the write-protection each sync applies to mapped pages
/// (docs/PERFORMANCE.md, "Durable batches"). Smaller batches, and batches of a log that is
/// not synced between them, are copied. (Small in unit tests, so that the crash simulator's
/// batches take both paths.)
const STAGED_BATCH_MIN: usize = if cfg!(test) { 256 } else { 16 << 10 };
/// The largest batch framed in a buffer: the buffer is kept for the next batch, so its size
/// is bounded; larger batches are copied.
const STAGED_BATCH_MAX: usize = 4 << 20;

/// One piece of work for the pager.
#[derive(Debug)]
enum Job {
    /// Fault these pages in writable (`Mapping::populate`).
    Populate(Arc<Mapping>, Range<usize>),
    /// Start the write-out of these filled pages (`Mapping::start_writeback`).
    Writeback(Arc<Mapping>, Range<usize>),
}

/// A pager: a background thread, started by its first job, that runs `Job`s in order. The
/// writer has two: one keeps the pages ahead of the write position faulted in (so appends
/// take no page fault), the other starts the write-out of the pages behind it (so a sync or
/// a seal finds little left to write, and the appender takes no write-protection
/// interrupts). Pagers only change page tables and start I/O: no byte changes, and nothing
/// becomes durable before a flush says so.
#[derive(Debug)]
struct Pager {
    name: &'static str,
    sender: Option<Sender<Job>>,
    handle: Option<JoinHandle<()>>,
    spawn_failed: bool,
    /// Set when the writer goes: jobs still queued are dropped (they are only hints).
    stop: Arc<AtomicBool>,
}

impl Pager {
    fn new(name: &'static str) -> Pager {
        Pager {
            name,
            sender: None,
            handle: None,
            spawn_failed: false,
            stop: Arc::default(),
        }
    }

    fn submit(&mut self, job: Job) {
        if self.sender.is_none() && !self.spawn_failed {
            let (sender, receiver) = std::sync::mpsc::channel::<Job>();
            let stop = Arc::clone(&self.stop);
            let spawned = std::thread::Builder::new()
                .name(self.name.into())
                .spawn(move || {
                    for job in receiver {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        match job {
                            Job::Populate(map, range) => map.populate(range),
                            Job::Writeback(map, range) => map.start_writeback(range),
                        }
                    }
                });
            // Without the thread, appends fault pages in themselves and flushes write all.
            match spawned {
                Ok(handle) => {
                    self.sender = Some(sender);
                    self.handle = Some(handle);
                }
                Err(_) => self.spawn_failed = true,
            }
        }
        if let Some(sender) = &self.sender {
            let _ = sender.send(job);
        }
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.sender = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Seals that may run at once: a rotation that would start one more first waits for them
/// (segments smaller than what the disk writes while one fills cannot queue seals forever).
pub const MAX_SEALS: usize = 2;

/// A rotation finishing in the background: the previous segment is being sealed (data
/// flushed, then index and footer written and flushed), after which the new segment is named.
#[derive(Debug)]
struct PendingSeal {
    handle: JoinHandle<Result<()>>,
    /// Seals still running when this one started, this one included (the chain's length).
    depth: usize,
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
    /// Start of the active segment's range whose write-out has not been started.
    written_back_to: usize,
    /// End of the active segment's range handed to the pager to fault in.
    populated_to: usize,
    /// Offset past which the pager's next step is due.
    pager_at: usize,
    /// The lower of `prepare_at` and `pager_at`: the one comparison per append.
    next_due: usize,
    /// Whether the active segment is written through the file (`set_through_file`).
    through_file: bool,
    /// Whether the active segment's unwritten space still has the kernel's read-ahead: it is
    /// turned off at the segment's first flush (`synced_from`), for a log that syncs; a log
    /// filled in bulk keeps it, and the large pages it faults in at once.
    read_ahead_on: bool,
    /// Faults pages in ahead of the write position.
    pager: Pager,
    /// Starts the write-out behind it: a second thread, so that faulting ahead never waits
    /// behind a write-out that waits for the disk.
    flusher: Pager,
    sealing: Option<PendingSeal>,
    /// What `Log::metrics` reports of the append path: plain counters, under the lock.
    counts: WriterCounts,
    /// Where seals record their latency.
    timings: Arc<Timings>,
    /// A batch written through the file is framed here first (`write_batch`).
    staging: Vec<u8>,
    /// Bytes written through the file since the pager's last step: when they are most of
    /// the step, the pager faults nothing in ahead (`write` faults nothing).
    staged: usize,
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
            written_back_to: 0,
            populated_to: 0,
            pager_at: usize::MAX,
            next_due: usize::MAX,
            through_file: false,
            read_ahead_on: true,
            pager: Pager::new("interstice-pager"),
            flusher: Pager::new("interstice-flusher"),
            sealing: None,
            counts: WriterCounts::default(),
            timings: Arc::default(),
            staging: Vec::new(),
            staged: 0,
        }
    }

    /// Shares the log's latency histograms with the seal threads.
    pub fn set_timings(&mut self, timings: Arc<Timings>) {
        self.timings = timings;
    }

    /// The append path's counters.
    #[must_use]
    pub fn counts(&self) -> WriterCounts {
        self.counts
    }

    /// True when the next segment is prepared and a rotation takes it without waiting.
    #[must_use]
    pub fn prepared_ready(&self) -> bool {
        self.preparing.as_ref().is_some_and(JoinHandle::is_finished)
    }

    /// Counts an append that waited `waited` for a segment.
    pub fn count_segment_wait(&mut self, waited: std::time::Duration) {
        self.counts.segment_waits += 1;
        self.counts.segment_wait_time += waited;
    }

    /// Writes records through the file (`pwritev`) rather than through the mapping, in this
    /// segment and every later one: for logs whose every append is flushed, where it spares
    /// each append the write fault on the page the previous flush write-protected.
    pub fn set_through_file(&mut self, on: bool) {
        self.through_file = on;
        self.active.set_through_file(on);
    }

    /// Schedules the background work for a new or resumed active segment: the pager starts
    /// at the write position, and the next segment is prepared when this one is half full
    /// (early enough to be ready when it is needed, late enough that a log reopened or
    /// rotated often does not preallocate files it never uses).
    pub fn schedule_background(&mut self) {
        self.read_ahead_on = true;
        let segment = self.active.segment();
        let start = crate::format::SEGMENT_HEADER_SIZE;
        self.prepare_at = start + (segment.capacity() - start) / 2;
        let end = self.active.end();
        self.written_back_to = end / PAGER_STEP * PAGER_STEP;
        self.populated_to = end;
        // Nothing starts before the first append: an open followed by reading only (a
        // replay) has the cores to itself.
        self.pager_at = end + 1;
        self.next_due = self.prepare_at.min(self.pager_at);
    }

    /// Starts the background work that the write position has made due.
    #[inline]
    fn background_if_due(&mut self) {
        if self.active.end() >= self.next_due {
            self.background_due();
        }
    }

    #[cold]
    fn background_due(&mut self) {
        let end = self.active.end();
        if end >= self.prepare_at {
            self.prepare_at = usize::MAX;
            self.prepare_next();
        }
        if end >= self.pager_at {
            let map = self.active.segment().mapping();
            let behind = end / PAGER_STEP * PAGER_STEP;
            if behind > self.written_back_to {
                self.flusher.submit(Job::Writeback(
                    Arc::clone(map),
                    self.written_back_to..behind,
                ));
                self.written_back_to = behind;
            }
            let map = Arc::clone(map);
            // Only pages backed by blocks: faulting a hole in would make the kernel allocate
            // it at write-out, where a full disk fails the file's next flush.
            let ahead = self.active.back_ahead(behind + PAGER_AHEAD).min(map.len());
            if self.staged >= PAGER_STEP / 2 {
                // Batches written through the file: the pages they need come with the write,
                // and pages faulted in ahead would only be write-protected again by each sync.
                self.populated_to = self.populated_to.max(end);
            } else if ahead > self.populated_to {
                self.pager
                    .submit(Job::Populate(map, self.populated_to..ahead));
                self.populated_to = ahead;
            }
            self.staged = 0;
            self.pager_at = behind + PAGER_STEP;
        }
        self.next_due = self.prepare_at.min(self.pager_at);
    }

    /// Called with the start of each range a flush takes from the active segment: the first
    /// time in a segment, turns off read-ahead from there on
    /// (`ActiveSegment::fill_without_read_ahead`), so that no sync waits behind a fault that
    /// reads ahead the whole window.
    pub fn synced_from(&mut self, start: usize) {
        if self.read_ahead_on {
            self.read_ahead_on = false;
            self.active.fill_without_read_ahead(start);
        }
    }

    /// Stops the pagers, waiting for the job each is running (queued ones are dropped):
    /// before the active segment gives its unused space back, which a queued fault-in would
    /// otherwise allocate again. The next job starts them again.
    pub fn stop_background(&mut self) {
        self.pager = Pager::new("interstice-pager");
        self.flusher = Pager::new("interstice-flusher");
        self.populated_to = self.active.end();
        self.pager_at = usize::MAX;
        self.next_due = self.prepare_at.min(self.pager_at);
    }

    /// Backs `len` more bytes of the active segment with blocks before they are written
    /// (`ActiveSegment::reserve`).
    ///
    /// # Errors
    /// `Error::Io` naming the segment (`ENOSPC` on a full disk); nothing changed.
    #[inline]
    pub fn reserve(&mut self, len: usize) -> Result<()> {
        self.active.reserve(len).map_err(|e| self.no_blocks(e))
    }

    /// The error of backing the active segment with blocks (`ActiveSegment::reserve`, or a
    /// marker that needed more), naming the segment.
    #[cold]
    pub fn no_blocks(&self, error: std::io::Error) -> Error {
        Error::io("allocate", self.active.segment().path(), error)
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

    /// Waits for a background preparation and removes its file: a closed log leaves no
    /// `*.seg.tmp` behind.
    ///
    /// # Errors
    /// `Error::Io` when the file cannot be removed.
    pub fn discard_preparing(&mut self) -> Result<()> {
        let Some(result) = self.finish_preparing() else {
            return Ok(());
        };
        let next = self.active.segment().id().next();
        let path = result.map_or_else(
            |_| self.dir.join(dir::preparing_file_name(next)),
            |prepared| prepared.path,
        );
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("remove", &path, e))
            }
            _ => Ok(()),
        }
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
        let mut active = activate(
            &self.dir,
            self.log_id,
            self.segment_size,
            prepared,
            id,
            base_lsn,
        )?;
        active.set_through_file(self.through_file);
        Ok(active)
    }

    /// Rotates into `prepared` as segment `id`: appends continue at once in it (mapped, not
    /// yet named), while a background thread seals the previous segment and then names the
    /// new one. Anything that needs durability waits for that with `finish_sealing`. A seal
    /// still running from an earlier rotation is not waited for: the new seal thread flushes
    /// its own segment meanwhile and waits for it only before naming, so segments are named
    /// in order and the log never has a gap.
    ///
    /// # Errors
    /// `Error::Io` when no thread can be spawned; the writer has then switched segments and
    /// the caller must poison the log.
    pub fn rotate_into(&mut self, prepared: Prepared, id: SegmentId) -> Result<()> {
        assert!(!self.seals_full(), "too many seals running");
        let base_lsn = self.next_lsn;
        let unnamed = Unnamed::new(
            &self.dir,
            self.log_id,
            self.segment_size,
            prepared,
            id,
            base_lsn,
        );
        let Unnamed {
            mut active,
            temporary,
        } = unnamed;
        active.set_through_file(self.through_file);
        let mut previous = std::mem::replace(&mut self.active, active);
        let next = Arc::clone(self.active.segment());
        let last_lsn = self.next_lsn - 1;
        let earlier = self.sealing.take();
        let depth = earlier
            .as_ref()
            .filter(|e| !e.handle.is_finished())
            .map_or(1, |e| e.depth + 1);
        let dir = self.dir.clone();
        let timings = Arc::clone(&self.timings);
        // The pager's jobs for the previous segment must not fault pages in after its seal
        // gave its unused space back: the seal thread stops that pager first.
        let pager = std::mem::replace(&mut self.pager, Pager::new("interstice-pager"));
        let spawned = std::thread::Builder::new()
            .name("interstice-seal".into())
            .spawn(move || {
                drop(pager);
                let started = std::time::Instant::now();
                let sealed = previous
                    .seal()
                    .map_err(|e| Error::io("seal (msync)", previous.segment().path(), e));
                if sealed.is_ok() {
                    timings.seals.record(started.elapsed());
                }
                // The new segment is named only after the earlier seal (which names the
                // segment before it) has finished, so no name ever leaves a gap.
                if let Some(earlier) = earlier {
                    join_seal(earlier.handle, &dir)?;
                }
                sealed?;
                Unnamed::name_parts(&next, &temporary)
            });
        let handle = spawned.map_err(|e| Error::io("spawn seal thread", &self.dir, e))?;
        self.sealing = Some(PendingSeal {
            handle,
            depth,
            last_lsn,
        });
        self.counts.rotations += 1;
        Ok(())
    }

    /// True when a rotation now would start more than `MAX_SEALS` seals: the caller first
    /// waits for them with `finish_sealing`.
    #[must_use]
    pub fn seals_full(&self) -> bool {
        self.sealing
            .as_ref()
            .is_some_and(|s| s.depth >= MAX_SEALS && !s.handle.is_finished())
    }

    /// Prepares a suffix truncation after `x` that rewinds the active segment in place: when
    /// the cut falls inside it (not inside a batch) and nothing else holds it, lowers its
    /// watermark and forgets the records from the cut on (readers see the cut at once); the
    /// caller then removes them with `ActiveSegment::rewind`. `None`, with nothing changed,
    /// when it cannot: the caller seals the segment and starts a new one instead. The
    /// background seal must be finished (the segment named).
    pub fn unfreeze_for_cut(
        &mut self,
        x: u64,
        segments: &parking_lot::RwLock<Vec<Arc<Segment>>>,
    ) -> Option<Cut> {
        debug_assert!(self.sealing.is_none(), "the active segment must be named");
        let cut = self.active.cut_after(x)?;
        // Queued pager jobs hold the mapping: stop the pagers (the next job restarts them).
        self.pager = Pager::new("interstice-pager");
        self.flusher = Pager::new("interstice-flusher");
        // A flush leader that took its range before this truncation holds the mapping until
        // its msync returns; no new one can start (this thread holds the writer lock).
        let deadline = std::time::Instant::now() + REWIND_WAIT;
        while Arc::strong_count(self.active.segment().mapping()) > 2 {
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        let mut list = segments.write();
        let listed = list.pop()?;
        if !Arc::ptr_eq(&listed, self.active.segment()) {
            list.push(listed);
            return None;
        }
        drop(listed);
        // Fails when a reader's view holds the segment: its records stay as they are.
        let unfrozen = self.active.unfreeze_at(&cut);
        list.push(Arc::clone(self.active.segment()));
        unfrozen.then_some(cut)
    }

    /// Waits for a background seal, if one runs. Returns the LSN it made durable.
    ///
    /// # Errors
    /// The seal's error: the caller poisons the log.
    pub fn finish_sealing(&mut self) -> Result<Option<u64>> {
        let Some(pending) = self.sealing.take() else {
            return Ok(None);
        };
        join_seal(pending.handle, &self.dir).map(|()| Some(pending.last_lsn))
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
        self.counts.records += 1;
        self.counts.bytes += payload.len() as u64;
        self.background_if_due();
        lsn
    }

    /// Writes a batch into the active segment (which has room for all of it) and publishes
    /// it at once, so readers and recovery see all of it or none.
    pub fn write_batch<T: AsRef<[u8]>>(&mut self, records: &[T]) -> u64 {
        let count = records.len();
        let len = Self::batch_len(records);
        if (STAGED_BATCH_MIN..=STAGED_BATCH_MAX).contains(&len) && self.active.all_synced() {
            // The caller synced after its previous write, and probably will after this one.
            let mut staging = std::mem::take(&mut self.staging);
            self.active
                .write_staged(self.next_lsn, records, &mut staging);
            self.staging = staging;
            self.staged += len;
            self.next_lsn += count as u64;
        } else {
            self.copy_batch(records);
        }
        self.counts.bytes += records.iter().map(|r| r.as_ref().len() as u64).sum::<u64>();
        self.counts.records += count as u64;
        self.counts.batches += 1;
        self.active.publish();
        self.background_if_due();
        self.next_lsn - 1
    }

    /// Copies a batch's records into the mapping one by one.
    fn copy_batch<T: AsRef<[u8]>>(&mut self, records: &[T]) {
        let count = records.len();
        for (i, payload) in records.iter().enumerate() {
            let flags = batch_flags(i, count);
            self.active.write(self.next_lsn, flags, payload.as_ref());
            self.next_lsn += 1;
        }
    }

    /// Framed size of a batch.
    #[must_use]
    pub fn batch_len<T: AsRef<[u8]>>(records: &[T]) -> usize {
        records.iter().map(|r| framed_len(r.as_ref().len())).sum()
    }
}

/// Waits for a seal thread (which waited for any earlier one).
fn join_seal(handle: JoinHandle<Result<()>>, dir: &Path) -> Result<()> {
    handle.join().unwrap_or_else(|_| {
        Err(Error::io(
            "seal",
            dir,
            std::io::Error::other("seal thread panicked"),
        ))
    })
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
