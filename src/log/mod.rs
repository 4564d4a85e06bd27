//! `Log`: open (recovering), append, append a batch, sync, durable LSN, readers, listing.

mod durable;
mod group_commit;
// Not under Miri: real files, directory fsyncs and many threads (the mapping's own tests
// cover its unsafe code there).
#[cfg(all(test, not(miri)))]
mod interleavings;
pub mod metrics;
mod replay;
mod retention;
#[cfg(all(test, not(miri)))]
mod simulator;
pub(crate) mod writer;

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard, RwLock};

use crate::disk::beacon::{BEACON_FILE, Beacon, Ends};
use crate::disk::dir;
use crate::error::{Error, Result};
use crate::ids::{Lsn, SegmentId};
use crate::options::{Durability, Options, RecoveryMode, ReplayThreads};
use crate::points::{self, Point};
use crate::reader::{LogReader, View};
use crate::recovery::{self, report::RecoveryReport};
use crate::segment::active::ActiveSegment;
use crate::segment::{Record, Segment, SegmentInfo};
use durable::DurableLsn;
use group_commit::{GroupCommit, Turn};
use metrics::{LogMetrics, Timings};
use writer::{Populate, Writer};

/// A durable, memory-mapped, segmented log. `Send + Sync`: share it with `Arc` between
/// appending and reading threads.
///
/// ```
/// use interstice::{Log, Options};
/// # let dir = tempfile::tempdir().unwrap();
/// let log = Log::open(dir.path(), Options::default())?;
/// let first = log.append(b"hello")?;
/// log.append_batch(&[b"a".as_slice(), b"b"])?;
/// assert_eq!(log.sync()?, interstice::Lsn(3));
/// let reader = log.reader();
/// let payloads: Vec<&[u8]> = reader.iter_from(first).map(|r| r.unwrap().payload).collect();
/// assert_eq!(payloads, [&b"hello"[..], b"a", b"b"]);
/// # Ok::<(), interstice::Error>(())
/// ```
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    options: Options,
    writer: Mutex<Option<Writer>>,
    segments: RwLock<Vec<Arc<Segment>>>,
    last_lsn: AtomicU64,
    durable_lsn: DurableLsn,
    group: GroupCommit,
    poisoned: AtomicBool,
    poison_cause: Mutex<String>,
    report: RecoveryReport,
    lock: Option<File>,
    /// Where the writer publishes its ends to followers (`None` when read-only).
    beacon: Option<Arc<Beacon>>,
    /// Flush and seal latencies (the writer's counters live with it).
    timings: Arc<Timings>,
    open_time: std::time::Duration,
}

impl Log {
    /// Opens the log in `dir` for writing, creating the directory and the log if missing,
    /// and recovers it as `options.recovery` says. Everything recovered is made durable.
    ///
    /// # Errors
    /// `Error::Locked` when another writer holds the log; `Error::InvalidOptions`;
    /// `Error::Corrupt` / `Error::TornTail` / `Error::NotALog` / `Error::UnsupportedVersion`
    /// from recovery; `Error::Io` naming the file.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Log> {
        let dir = dir.as_ref();
        let started = std::time::Instant::now();
        options.validate()?;
        if dir.exists() && !dir.is_dir() {
            return Err(Error::NotALog {
                path: dir.to_owned(),
                reason: "not a directory (a log is a directory of segment files)".into(),
            });
        }
        crate::disk::file::create_dir_durably(dir)
            .map_err(|(e, path)| Error::io("create directory", path, e))?;
        let lock = dir::lock(dir)?;
        let beacon =
            Arc::new(Beacon::create(dir).map_err(|e| Error::io("map", dir.join(BEACON_FILE), e))?);
        // Followers hold back until the open says which records it kept (or that it failed).
        beacon.opening();
        Self::open_locked(dir, options, lock, &beacon, started)
            .inspect_err(|_| beacon.open_failed())
    }

    /// `open`, once the lock is held and followers hold back.
    fn open_locked(
        dir: &Path,
        options: Options,
        lock: File,
        beacon: &Arc<Beacon>,
        started: std::time::Instant,
    ) -> Result<Log> {
        let opened = recovery::recover(dir, &options, true)?;
        let log_id = opened.log_id.unwrap_or_else(new_log_id);
        let mut segments = opened.segments;
        // Sealed segments are never written again: no descriptor is kept for them.
        for sealed in segments.iter().filter(|s| s.is_sealed()) {
            sealed.mapping().release_file();
        }
        let next_lsn = next_lsn_after(&segments);
        let ended_clean = opened.tail.as_ref().is_some_and(|scan| scan.ended_clean);
        let summary_cleared = opened.summary_cleared;
        let resumed = match (segments.last(), opened.tail) {
            (Some(last), Some(scan)) if !last.is_sealed() => {
                Some(ActiveSegment::resume(Arc::clone(last), &scan))
            }
            _ => None,
        };
        let payload_max = options.payload_max();
        let active = if let Some(active) = resumed {
            active
        } else {
            let id = segments.last().map_or(SegmentId::FIRST, |s| s.id().next());
            let prepared = writer::prepare(dir, id, options.segment_size, Populate::First)?;
            let active =
                writer::activate(dir, log_id, options.segment_size, prepared, id, next_lsn)?;
            segments.push(Arc::clone(active.segment()));
            active
        };
        let timings = Arc::new(Timings::default());
        let mut writer = Writer::new(
            active,
            next_lsn,
            dir,
            log_id,
            options.segment_size,
            payload_max,
        );
        writer.set_timings(Arc::clone(&timings));
        writer.set_through_file(options.durability == Durability::EveryAppend);
        // The flush below makes what recovery kept durable: a commit marker vouches for it,
        // as at every sync, so that damage to those records later is corruption, never a
        // torn tail that drops them. After a clean close the marker is written even with no
        // record since the last one (`write_resume_marker`).
        let marked = if ended_clean {
            writer.active.write_resume_marker()
        } else {
            writer.active.write_marker()
        };
        marked.map_err(|e| writer.no_blocks(e))?;
        // Whatever recovery kept (and that marker) is made durable now, before any append, so
        // the durable LSN starts at the end. When recovery cleared the segment's close
        // summary, the flush reaches the end of the file: that must be durable before anything
        // changes the records the summary describes.
        let mut unsynced = writer.active.take_unsynced();
        let active = writer.active.segment();
        if summary_cleared {
            unsynced.end = active.mapping().len();
        }
        let active_path = active.path().to_owned();
        active
            .mapping()
            .flush(unsynced)
            .map_err(|e| Error::io("msync", &active_path, e))?;
        writer.schedule_background();
        let last = next_lsn - 1;
        beacon.set_log_id(log_id);
        beacon.opened(last, Self::ends_of(&writer), last);
        Ok(Log {
            dir: dir.to_owned(),
            options,
            writer: Mutex::new(Some(writer)),
            segments: RwLock::new(segments),
            last_lsn: AtomicU64::new(last),
            durable_lsn: DurableLsn::new(last, Some(Arc::clone(beacon))),
            group: GroupCommit::default(),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(String::new()),
            report: opened.report,
            lock: Some(lock),
            beacon: Some(Arc::clone(beacon)),
            timings,
            open_time: started.elapsed(),
        })
    }

    /// Opens the log in `dir` read-only: takes no lock, writes nothing, and sees the records
    /// present when it opened (a torn tail is left in place and not read).
    ///
    /// # Errors
    /// `Error::NotALog` for a missing directory or one without segments; recovery errors as
    /// for `open` (in `RecoveryMode::SkipCorrupt` damage is skipped when read instead).
    pub fn open_read_only(dir: impl AsRef<Path>, options: Options) -> Result<Log> {
        let dir = dir.as_ref();
        let started = std::time::Instant::now();
        options.validate()?;
        let opened = recovery::recover(dir, &options, false)?;
        // Segments that are all unfinished make an empty log, as a writable open would.
        if opened.segments.is_empty() && opened.report.removed.is_empty() {
            return Err(Error::NotALog {
                path: dir.to_owned(),
                reason: "no segment files".into(),
            });
        }
        let last = next_lsn_after(&opened.segments) - 1;
        Ok(Log {
            dir: dir.to_owned(),
            options,
            writer: Mutex::new(None),
            segments: RwLock::new(opened.segments),
            last_lsn: AtomicU64::new(last),
            durable_lsn: DurableLsn::new(last, None),
            group: GroupCommit::default(),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(String::new()),
            report: opened.report,
            lock: None,
            beacon: None,
            timings: Arc::default(),
            open_time: started.elapsed(),
        })
    }

    /// The log's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it was opened with.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// What recovery found and did when the log was opened.
    #[must_use]
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// A snapshot of the counters and latencies since the log was opened: appends, bytes,
    /// batches, flushes and seals with their latency distributions, rotations, appends that
    /// waited for a segment, the time the open took, poisoning. Cheap (it takes the writer's
    /// lock for a moment); a read-only log counts only its open.
    ///
    /// ```
    /// use interstice::{Log, Options};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = Log::open(dir.path(), Options::default())?;
    /// log.append(b"one")?;
    /// log.append_batch(&[b"two".as_slice(), b"three"])?;
    /// log.sync()?;
    /// let metrics = log.metrics();
    /// assert_eq!((metrics.records_appended, metrics.bytes_appended), (3, 11));
    /// assert_eq!(metrics.flushes.count, 1);
    /// println!("flush p99 {:?}, open {:?}", metrics.flushes.p99, metrics.open_time);
    /// # Ok::<(), interstice::Error>(())
    /// ```
    #[must_use]
    pub fn metrics(&self) -> LogMetrics {
        let counts = self
            .writer
            .lock()
            .as_ref()
            .map(Writer::counts)
            .unwrap_or_default();
        LogMetrics {
            records_appended: counts.records,
            bytes_appended: counts.bytes,
            batches: counts.batches,
            flushes: self.timings.flushes.snapshot(),
            rotations: counts.rotations,
            seals: self.timings.seals.snapshot(),
            segment_waits: counts.segment_waits,
            segment_wait_time: counts.segment_wait_time,
            open_time: self.open_time,
            poisoned: self.poisoned.load(Ordering::Acquire),
        }
    }

    /// True when opened read-only.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.lock.is_none()
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Option<Writer>>> {
        self.check_poison()?;
        let guard = self.writer.lock();
        if guard.is_none() {
            return Err(Error::ReadOnly {
                path: self.dir.clone(),
            });
        }
        Ok(guard)
    }

    #[inline]
    fn check_poison(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        Ok(())
    }

    #[cold]
    fn poisoned_error(&self) -> Error {
        Error::Poisoned {
            path: self.dir.clone(),
            cause: self.poison_cause.lock().clone(),
        }
    }

    /// Records a failed flush: every later call fails until the log is reopened.
    pub(super) fn poison(&self, error: Error) -> Error {
        let mut cause = self.poison_cause.lock();
        if cause.is_empty() {
            *cause = error.to_string();
        }
        self.poisoned.store(true, Ordering::Release);
        error
    }

    /// Appends one record and returns its LSN. With `Durability::EveryAppend` it is durable
    /// when this returns. A failed append leaves the log as it was.
    ///
    /// # Errors
    /// `Error::RecordTooLarge`; `Error::ReadOnly`; `Error::Poisoned` after a failed flush;
    /// `Error::Io` when a new segment cannot be created (a full disk), which leaves the log
    /// usable once space is freed.
    pub fn append(&self, payload: &[u8]) -> Result<Lsn> {
        let lsn = {
            let mut guard = self.lock_writer()?;
            let writer = guard.as_mut().expect("checked by lock_writer");
            writer.check_len(payload.len())?;
            let len = crate::format::framed_len(payload.len());
            if len > writer.active.room() {
                self.rotate(writer)?;
            }
            writer.reserve(len)?;
            let lsn = writer.write_one(payload);
            self.last_lsn.store(lsn, Ordering::Release);
            self.publish(writer);
            lsn
        };
        if self.options.durability == Durability::EveryAppend {
            self.sync_to(Lsn(lsn))?;
        }
        Ok(Lsn(lsn))
    }

    /// Appends records atomically: after a crash all of them or none are there, and readers
    /// never see part of the batch. Returns the last record's LSN (for an empty batch, the
    /// log's last LSN).
    ///
    /// # Errors
    /// As `append`, plus `Error::BatchTooLarge` when the batch does not fit in one segment.
    pub fn append_batch<T: AsRef<[u8]>>(&self, records: &[T]) -> Result<Lsn> {
        let lsn = {
            let mut guard = self.lock_writer()?;
            let writer = guard.as_mut().expect("checked by lock_writer");
            if records.is_empty() {
                return Ok(Lsn(writer.next_lsn - 1));
            }
            for record in records {
                writer.check_len(record.as_ref().len())?;
            }
            let len = Writer::batch_len(records);
            if len > writer.active.room_when_empty() {
                return Err(Error::BatchTooLarge {
                    len: len as u64,
                    max: writer.active.room_when_empty() as u64,
                });
            }
            if len > writer.active.room() {
                self.rotate(writer)?;
            }
            writer.reserve(len)?;
            let lsn = writer.write_batch(records);
            self.last_lsn.store(lsn, Ordering::Release);
            self.publish(writer);
            lsn
        };
        if self.options.durability == Durability::EveryAppend {
            self.sync_to(Lsn(lsn))?;
        }
        Ok(Lsn(lsn))
    }

    /// Seals the active segment and continues in a new one, starting at the next LSN.
    ///
    /// # Errors
    /// As `append`.
    pub fn rotate_now(&self) -> Result<()> {
        let mut guard = self.lock_writer()?;
        let writer = guard.as_mut().expect("checked by lock_writer");
        self.rotate(writer)
    }

    fn rotate(&self, writer: &mut Writer) -> Result<()> {
        // A seal still running from the previous rotation is not waited for (the new one
        // waits for it before naming the next segment, `Writer::rotate_into`), unless
        // `MAX_SEALS` already run.
        let started = std::time::Instant::now();
        let waits = writer.seals_full() || !writer.prepared_ready();
        if writer.seals_full() {
            self.finish_sealing(writer)?;
        }
        let next_id = writer.active.segment().id().next();
        let prepared = writer.take_prepared(next_id)?;
        if waits {
            writer.count_segment_wait(started.elapsed());
        }
        writer
            .rotate_into(prepared, next_id)
            .map_err(|e| self.poison(e))?;
        self.segments
            .write()
            .push(Arc::clone(writer.active.segment()));
        self.publish(writer);
        writer.schedule_background();
        self.apply_retention(writer)
    }

    /// Where the writer's records end now.
    fn ends_of(writer: &Writer) -> Ends {
        Ends {
            segment: writer.active.segment().id().0,
            end: writer.active.end() as u64,
            last: writer.next_lsn - 1,
        }
    }

    /// Tells followers where the records end (under the writer lock).
    #[inline]
    fn publish(&self, writer: &Writer) {
        if let Some(beacon) = &self.beacon {
            beacon.publish(Self::ends_of(writer));
        }
    }

    /// The writer's beacon, for followers in this process.
    pub(crate) fn beacon(&self) -> Option<&Arc<Beacon>> {
        self.beacon.as_ref()
    }

    /// The segments' list, for followers in this process.
    pub(crate) fn segment_list(&self) -> Vec<Arc<Segment>> {
        self.segments.read().clone()
    }

    /// Waits for a background seal and records what it made durable.
    fn finish_sealing(&self, writer: &mut Writer) -> Result<()> {
        let sealed = writer.finish_sealing().map_err(|e| self.poison(e))?;
        if let Some(lsn) = sealed {
            // Under the writer lock: no truncation can have started a new epoch meanwhile.
            self.durable_lsn.raise(self.durable_lsn.epoch(), lsn);
        }
        Ok(())
    }

    fn seal_active(&self, writer: &mut Writer) -> Result<()> {
        self.finish_sealing(writer)?;
        // No fault-in may follow the seal's giving back of the unused space.
        writer.stop_background();
        let path = writer.active.segment().path().to_owned();
        let started = std::time::Instant::now();
        writer
            .active
            .seal()
            .map_err(|e| self.poison(Error::io("seal (msync)", path, e)))?;
        self.timings.seals.record(started.elapsed());
        let epoch = self.durable_lsn.epoch();
        self.durable_lsn.raise(epoch, writer.next_lsn - 1);
        Ok(())
    }

    /// Makes every record appended so far durable and returns the durable LSN. Concurrent
    /// callers share one flush.
    ///
    /// # Errors
    /// `Error::Io` when the flush fails, after which the log is poisoned; `Error::Poisoned`.
    pub fn sync(&self) -> Result<Lsn> {
        if self.is_read_only() {
            return Ok(self.durable_lsn());
        }
        self.sync_to(Lsn(self.last_lsn.load(Ordering::Acquire)))
    }

    /// Waits until `lsn` (at most the last LSN appended) is durable, leading a flush when none
    /// is running.
    ///
    /// # Errors
    /// As `sync`.
    pub fn sync_to(&self, lsn: Lsn) -> Result<Lsn> {
        loop {
            self.check_poison()?;
            // Taken again on every round: a truncation below the target lowers it to what
            // remains, so a sync begun before it returns once that is durable.
            let target = lsn.0.min(self.last_lsn.load(Ordering::Acquire));
            let durable = self.durable_lsn.get();
            if durable >= target {
                return Ok(Lsn(durable));
            }
            let turn = self.group.enter(|| {
                self.durable_lsn.get() >= lsn.0.min(self.last_lsn.load(Ordering::Acquire))
            });
            if turn == Turn::Lead {
                let flushed = self.flush_leader();
                self.group.leave();
                flushed?;
            }
        }
    }

    fn flush_leader(&self) -> Result<()> {
        let (map, range, lsn, epoch, path) = {
            let mut guard = self.lock_writer()?;
            let writer = guard.as_mut().expect("checked by lock_writer");
            // The active segment is part of the log only once a background seal has named it.
            self.finish_sealing(writer)?;
            writer
                .active
                .write_marker()
                .map_err(|e| writer.no_blocks(e))?;
            let range = writer.active.take_unsynced();
            writer.synced_from(range.start);
            let segment = writer.active.segment();
            (
                Arc::clone(segment.mapping()),
                range,
                writer.next_lsn - 1,
                self.durable_lsn.epoch(),
                segment.path().to_owned(),
            )
        };
        points::reach(Point::FlushTaken);
        // The pages wholly written are released first: the flush then write-protects no page
        // the writer maps (no interrupt for it), and it never writes to them again.
        let page = crate::format::PAGE_SIZE as usize;
        map.release_pages(range.start..range.end / page * page);
        let started = std::time::Instant::now();
        map.flush(range)
            .map_err(|e| self.poison(Error::io("msync", path, e)))?;
        self.timings.flushes.record(started.elapsed());
        points::reach(Point::FlushDone);
        // A truncation since the range was taken may have given `lsn` to records this flush
        // never saw: then it raises nothing, and the waiters' next leader flushes them.
        self.durable_lsn.raise(epoch, lsn);
        Ok(())
    }

    /// The highest LSN guaranteed to survive a crash (`Lsn::ZERO` when none).
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        Lsn(self.durable_lsn.get())
    }

    /// The last LSN appended (`Lsn::ZERO` when none; after `truncate_after`, its argument).
    #[must_use]
    pub fn last_lsn(&self) -> Lsn {
        Lsn(self.last_lsn.load(Ordering::Acquire))
    }

    /// The first LSN held, if the log holds any record.
    #[must_use]
    pub fn first_lsn(&self) -> Option<Lsn> {
        self.segments
            .read()
            .iter()
            .find(|s| s.records() > 0)
            .map(|s| Lsn(s.first_lsn()))
    }

    /// A snapshot for reading: the records published when it is taken, in segments it keeps
    /// mapped for as long as it lives (even if retention removes their files).
    #[must_use]
    pub fn reader(&self) -> LogReader {
        let skip = self.options.recovery == RecoveryMode::SkipCorrupt;
        let views = self.segments.read().iter().map(View::of).collect();
        LogReader::new(views, skip)
    }

    /// Reads one record by LSN (O(log n) through the sparse index), copying its payload.
    ///
    /// # Errors
    /// `Error::Corrupt` when the record or one before it in its index stride is damaged.
    pub fn read(&self, lsn: Lsn) -> Result<Option<Vec<u8>>> {
        let reader = self.reader();
        Ok(reader.get(lsn)?.map(|record| record.payload.to_vec()))
    }

    /// Hands every record from `from` on to `consume`, in LSN order, as borrowed slices of
    /// the mapping. Each segment is released as soon as it has been walked, so memory use does
    /// not grow with the log. Returns the number of records handed over.
    ///
    /// With `ReplayThreads::CheckAhead` (the default) and more than 1 MiB to walk, the walk
    /// is cut into pieces, a helper thread checks the pieces ahead of the one being handed
    /// over, and those are walked without computing their checksums again; `consume` still
    /// runs on this thread and sees the same records, in the same order, with the same
    /// errors.
    ///
    /// # Errors
    /// The first error of `consume`, or `Error::Corrupt` converted into `E`.
    pub fn replay<E: From<Error>>(
        &self,
        from: Lsn,
        mut consume: impl FnMut(Record<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let views = self.reader().into_views();
        let ahead = self.options.replay == ReplayThreads::CheckAhead;
        replay::replay_views(views, from.0, ahead, &mut consume).map(|(count, _)| count)
    }

    /// The segments, in LSN order.
    #[must_use]
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments.read().iter().map(|s| s.info()).collect()
    }

    /// Makes everything durable (unless `Durability::None`), marks the close as clean (the
    /// next open then skips checking the active segment's unused space) and closes the log.
    /// Unless `Durability::None`, it also writes the active segment's close summary (its
    /// index and counts), from which the next open takes the segment without walking it.
    ///
    /// # Errors
    /// As `sync`.
    pub fn close(self) -> Result<()> {
        if self.is_read_only() {
            return Ok(());
        }
        if self.options.durability != Durability::None {
            self.sync()?;
        }
        let mut guard = self.lock_writer()?;
        let writer = guard.as_mut().expect("checked by lock_writer");
        self.finish_sealing(writer)?;
        writer.discard_preparing()?;
        // A segment filled up to its last marker has no room for the clean-close marker, and
        // nothing after its last commit marker would vouch for the records that marker
        // covers: damage there would read as a torn tail. Sealed, its footer vouches for
        // every record (damage is corruption), and the next open starts a new segment.
        if !writer.active.has_room_for_marker() {
            return self.seal_active(writer);
        }
        writer
            .active
            .write_close_marker()
            .map_err(|e| writer.no_blocks(e))?;
        writer.stop_background();
        if self.options.durability == Durability::None {
            writer.active.give_back_unused();
            return Ok(());
        }
        let range = writer.active.take_unsynced();
        let segment = writer.active.segment();
        segment
            .mapping()
            .flush(range)
            .map_err(|e| self.poison(Error::io("msync", segment.path(), e)))?;
        // Only once the marker is durable: a summary vouches for it.
        let path = segment.path().to_owned();
        writer
            .active
            .write_close_summary()
            .map_err(|e| self.poison(Error::io("msync", &path, e)))?;
        // The unused space goes back to the file system before the fsync below, which
        // makes that durable too.
        writer.active.give_back_unused();
        // Last, the file's metadata (times and extents the writes through the mapping
        // changed), which `msync` leaves to the kernel: otherwise the next flush of the
        // file, the next open's, waits for that journal commit (3.4-4.6 ms here).
        writer
            .active
            .sync_all()
            .map_err(|e| self.poison(Error::io("fsync", &path, e)))?;
        Ok(())
    }
}

fn next_lsn_after(segments: &[Arc<Segment>]) -> u64 {
    segments.last().map_or(1, |last| {
        let held = segments
            .iter()
            .rev()
            .find(|s| s.records() > 0)
            .map_or(0, |s| s.last_lsn());
        (held + 1).max(last.base_lsn())
    })
}

fn new_log_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}
