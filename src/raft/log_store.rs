//! `LogStore`: openraft's `RaftLogStorage` and `RaftLogReader` over an Interstice `Log`.
//!
//! One raft log entry is one record, serialized with bincode. Within the entries raft can
//! see, the LSN grows by one per index, so the mapping is an offset: the store remembers
//! where its last entry lies, `(index, LSN)`, and entry `i` is at LSN `lsn - (index - i)`.
//! The offset is not stored: on open it is read back from the last record, which carries its
//! log id. It changes only when raft appends to a log none of whose entries it can see
//! (a fresh log, or one purged past its end after installing a snapshot); the new entries
//! then continue the LSNs. On a fresh log whose first entry is index 0, index `i` is LSN
//! `i + 1`.
//!
//! The vote and the last purged log id live in `raft-meta.json` (see [`super::meta`]).
//! `purge` removes whole sealed segments (`Log::truncate_before`), so purged entries may
//! still be present: the store hides every entry at or below the last purged index.
//! `truncate` is `Log::truncate_after` (the LSN before the first entry removed).
//!
//! Durability: `append` writes the entries into the mapping (readable at once) and hands the
//! callback to a flusher thread. The thread takes every callback queued while it was busy,
//! makes them durable with one `Log::sync_to` (group commit), then calls them in order.
// The error type is openraft's `StorageError`, which the traits require.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, LogId, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError,
    StorageIOError, Vote,
};
use parking_lot::RwLock;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::meta::{self, Meta};
use crate::{Error, Log, LogReader, Lsn, Options, Result};

/// Where the last entry raft can see lies in the log.
#[derive(Debug, Clone)]
struct Placed<NID: openraft::NodeId> {
    log_id: LogId<NID>,
    lsn: Lsn,
}

/// What readers and writers share, behind one lock so that a reader never sees the mapping
/// of one moment and the records of another.
#[derive(Debug)]
struct State<NID: openraft::NodeId> {
    /// The last entry raft can see; `None` when it sees none.
    last: Option<Placed<NID>>,
    last_purged: Option<LogId<NID>>,
}

impl<NID: openraft::NodeId> State<NID> {
    /// The first index raft can see, given the first LSN the log holds; `None` when the
    /// store holds no visible entry.
    fn first_index(&self, first_lsn: Option<Lsn>) -> Option<u64> {
        let last = self.last.as_ref()?;
        let behind = first_lsn.map_or(0, |first| last.lsn.0 - first.0);
        let present = last.log_id.index.saturating_sub(behind);
        let after_purge = self.last_purged.as_ref().map_or(0, |p| p.index + 1);
        Some(present.max(after_purge))
    }

    /// The LSN of visible entry `index`.
    fn lsn_of(&self, index: u64) -> Lsn {
        let last = self.last.as_ref().expect("a visible entry");
        assert!(index <= last.log_id.index);
        Lsn(last.lsn.0 - (last.log_id.index - index))
    }
}

struct Shared<C: RaftTypeConfig> {
    log: Arc<Log>,
    state: RwLock<State<C::NodeId>>,
}

/// Called once the entries of one append are durable, or with the error that stopped them.
type Done = Box<dyn FnOnce(io::Result<()>) + Send>;

/// One append waiting for its flush.
struct Pending {
    lsn: Lsn,
    done: Done,
}

/// Raft log storage over an Interstice [`Log`]: implements openraft's `RaftLogStorage`
/// (storage API v2). `docs/REPLICATION.md` describes the index-to-LSN mapping and the
/// group-committed flush.
pub struct LogStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
    meta: Meta<C::NodeId>,
    flush_queue: Option<Sender<Pending>>,
    flusher: Option<JoinHandle<()>>,
}

/// A reader of the entries of a [`LogStore`], for openraft's replication tasks.
pub struct LogStoreReader<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
}

impl<C: RaftTypeConfig> Clone for LogStoreReader<C> {
    fn clone(&self) -> Self {
        LogStoreReader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: RaftTypeConfig> fmt::Debug for LogStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.read();
        f.debug_struct("LogStore")
            .field("dir", &self.shared.log.dir())
            .field("last_lsn", &self.shared.log.last_lsn())
            .field("state", &*state)
            .finish_non_exhaustive()
    }
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    /// Opens (or creates) the raft log in `dir`: the Interstice log with `options`, plus the
    /// metadata file `raft-meta.json` beside its segments.
    ///
    /// # Errors
    /// `Error::InvalidOptions` when `options.retention` sets a limit (raft decides what to
    /// purge; automatic retention could remove entries it still needs); any error of
    /// [`Log::open`]; `Error::Io` when the metadata file cannot be read or does not parse, or
    /// when the last record does not decode as an entry (`InvalidData`: not a raft log).
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        let dir = dir.as_ref();
        if options.retention.segments_max.is_some() || options.retention.bytes_max.is_some() {
            return Err(Error::InvalidOptions {
                name: "retention",
                reason: "a raft log is purged by raft; leave retention unset".to_owned(),
            });
        }
        let log = Arc::new(Log::open(dir, options)?);
        let meta: Meta<C::NodeId> = meta::load(dir).map_err(|e| Error::Io {
            op: "load raft metadata",
            path: meta::path(dir),
            source: e,
        })?;
        let last = last_visible::<C>(&log, meta.last_purged.as_ref())?;
        let state = State {
            last,
            last_purged: meta.last_purged.clone(),
        };
        let shared = Arc::new(Shared {
            log: Arc::clone(&log),
            state: RwLock::new(state),
        });
        let (sender, receiver) = mpsc::channel();
        let flusher = thread::Builder::new()
            .name("interstice-raft-flush".to_owned())
            .spawn(move || flush_loop(&log, &receiver))
            .map_err(|e| Error::Io {
                op: "spawn the flusher thread",
                path: dir.to_owned(),
                source: e,
            })?;
        Ok(LogStore {
            shared,
            meta,
            flush_queue: Some(sender),
            flusher: Some(flusher),
        })
    }

    /// The Interstice log underneath, for inspection (segments, recovery report, LSNs).
    /// Writing to it directly breaks the store.
    pub fn log(&self) -> &Log {
        &self.shared.log
    }

    /// Appends `entries` (readable when this returns) and calls `done` once they are
    /// durable: what `RaftLogStorage::append` does, with any callback. The flusher thread
    /// makes every append queued while it was busy durable with one flush.
    ///
    /// # Errors
    /// A write error when the first entry does not continue the log (a hole), when an entry
    /// does not serialize, or when the log refuses the records (`Log::append_batch`).
    pub fn append_then<I>(
        &mut self,
        entries: I,
        done: impl FnOnce(io::Result<()>) + Send + 'static,
    ) -> std::result::Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry>,
    {
        let mut last_id = None;
        let mut payloads = Vec::new();
        for entry in entries {
            let payload = bincode::serialize(&entry).map_err(|e| {
                StorageIOError::write_log_entry(entry.get_log_id().clone(), AnyError::new(&*e))
            })?;
            payloads.push(payload);
            last_id = Some(entry.get_log_id().clone());
        }
        let Some(last_id) = last_id else {
            done(Ok(()));
            return Ok(());
        };
        let lsn = self.append_records(&payloads, last_id)?;
        let queue = self.flush_queue.as_ref().expect("open until dropped");
        let pending = Pending {
            lsn,
            done: Box::new(done),
        };
        if let Err(mpsc::SendError(pending)) = queue.send(pending) {
            (pending.done)(Err(io::Error::other("the flusher thread has stopped")));
        }
        Ok(())
    }

    /// Appends the records of entries ending at `last_id`, checking that they continue the
    /// log, and moves the mapping to them.
    fn append_records(
        &self,
        payloads: &[Vec<u8>],
        last_id: LogId<C::NodeId>,
    ) -> std::result::Result<Lsn, StorageError<C::NodeId>> {
        let mut state = self.shared.state.write();
        let first_index = last_id.index + 1 - payloads.len() as u64;
        // After the last visible entry comes the next index. With none visible, the entries
        // may also start at or below the last purged index (openraft's suite does so): those
        // are written and hidden like every purged entry.
        let hole = match (&state.last, &state.last_purged) {
            (Some(last), _) => first_index != last.log_id.index + 1,
            (None, Some(purged)) => first_index > purged.index + 1,
            (None, None) => false,
        };
        if hole {
            return Err(StorageIOError::write_logs(AnyError::error(format!(
                "append at raft index {first_index} would leave a hole after {:?}",
                state
                    .last
                    .as_ref()
                    .map(|p| &p.log_id)
                    .or(state.last_purged.as_ref())
            )))
            .into());
        }
        let lsn = append_payloads(&self.shared.log, payloads).map_err(|e| write_error(&e))?;
        if state
            .last_purged
            .as_ref()
            .is_none_or(|p| last_id.index > p.index)
        {
            state.last = Some(Placed {
                log_id: last_id,
                lsn,
            });
        }
        Ok(lsn)
    }

    /// Makes every entry appended so far durable, then saves `meta`; `error` names what was
    /// being written.
    fn sync_then_save_meta(
        &mut self,
        meta: Meta<C::NodeId>,
        error: impl Fn(AnyError) -> StorageIOError<C::NodeId>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        self.shared
            .log
            .sync()
            .map_err(|e| error(AnyError::new(&e)))?;
        self.save_meta(meta).map_err(|e| error(e).into())
    }

    fn save_meta(&mut self, meta: Meta<C::NodeId>) -> std::result::Result<(), AnyError> {
        meta::store(self.shared.log.dir(), &meta).map_err(|e| AnyError::new(&e))?;
        self.meta = meta;
        Ok(())
    }
}

impl<C: RaftTypeConfig> Drop for LogStore<C> {
    /// Lets the flusher finish the callbacks queued, so that the log is released (and its
    /// directory can be opened again) once the store is gone.
    fn drop(&mut self) {
        drop(self.flush_queue.take());
        if let Some(flusher) = self.flusher.take() {
            // A panic in the flusher was already reported by the panic hook.
            let _ = flusher.join();
        }
    }
}

/// The last entry of `log` raft can see: the last record, unless purged.
fn last_visible<C>(
    log: &Log,
    last_purged: Option<&LogId<C::NodeId>>,
) -> Result<Option<Placed<C::NodeId>>>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let lsn = log.last_lsn();
    if lsn == Lsn::ZERO {
        return Ok(None);
    }
    let reader = log.reader();
    let Some(record) = reader.get(lsn)? else {
        return Ok(None);
    };
    let entry: C::Entry = bincode::deserialize(record.payload).map_err(|e| Error::Io {
        op: "decode the last raft entry",
        path: log.dir().to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, format!("LSN {lsn}: {e}")),
    })?;
    let log_id = entry.get_log_id().clone();
    if last_purged.is_some_and(|p| log_id.index <= p.index) {
        return Ok(None);
    }
    Ok(Some(Placed { log_id, lsn }))
}

/// The flusher thread: one `sync_to` for every callback queued meanwhile, then the callbacks
/// in append order. Ends when the store drops its end of the queue.
fn flush_loop(log: &Log, queue: &Receiver<Pending>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        group.extend(queue.try_iter());
        let target = group.iter().map(|p| p.lsn).max().expect("one at least");
        let result = log.sync_to(target);
        for pending in group {
            let outcome = match &result {
                Ok(_) => Ok(()),
                Err(e) => Err(io::Error::other(e.to_string())),
            };
            (pending.done)(outcome);
        }
    }
}

/// Appends the records of one raft append: as one batch when it fits in a segment, else one
/// record at a time. A crash may keep a prefix of the entries (their flush callback has not
/// fired, and the LSNs still follow the indexes). Every record is checked first, so that a
/// refused one leaves nothing written; an append that fails part way (a full disk at a
/// rotation) removes the records it wrote, since raft will append those indexes again and the
/// LSNs must go on following them. Should that removal fail too, the log is poisoned, and the
/// reopen that follows reads the offset back from the last record, which the prefix keeps
/// consistent.
fn append_payloads(log: &Log, payloads: &[Vec<u8>]) -> Result<Lsn> {
    let max = log.options().payload_max();
    if let Some(payload) = payloads.iter().find(|p| p.len() as u64 > max) {
        return Err(Error::RecordTooLarge {
            len: payload.len() as u64,
            max,
        });
    }
    match log.append_batch(payloads) {
        Err(Error::BatchTooLarge { .. }) => {
            let before = log.last_lsn();
            let mut lsn = before;
            for payload in payloads {
                match log.append(payload) {
                    Ok(appended) => lsn = appended,
                    Err(error) => {
                        if lsn > before {
                            log.truncate_after(before)?;
                        }
                        return Err(error);
                    }
                }
            }
            Ok(lsn)
        }
        result => result,
    }
}

fn write_error<NID: openraft::NodeId>(e: &Error) -> StorageError<NID> {
    StorageIOError::write_logs(AnyError::new(e)).into()
}

fn read_error<NID: openraft::NodeId>(e: impl Into<AnyError>) -> StorageError<NID> {
    StorageIOError::read_logs(e).into()
}

/// Decodes the entry at `lsn`, checking that it holds `index`.
fn decode_at<C>(payload: &[u8], lsn: Lsn, index: u64) -> std::result::Result<C::Entry, AnyError>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let entry: C::Entry =
        bincode::deserialize(payload).map_err(|e| AnyError::new(&*e).add_context(|| lsn))?;
    let found = entry.get_log_id().index;
    if found != index {
        return Err(AnyError::error(format!(
            "the record at LSN {lsn} holds raft index {found}, expected {index}"
        )));
    }
    Ok(entry)
}

impl<C> Shared<C>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    /// The visible entries in `range`, read from one snapshot of the log.
    fn read_range(
        &self,
        range: &impl RangeBounds<u64>,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        let (reader, from, start, end) = {
            let state = self.state.read();
            let (Some(last), Some(first)) = (&state.last, state.first_index(self.log.first_lsn()))
            else {
                return Ok(Vec::new());
            };
            let start = match range.start_bound() {
                Bound::Included(&s) => s,
                Bound::Excluded(&s) => s.saturating_add(1),
                Bound::Unbounded => 0,
            }
            .max(first);
            let end = match range.end_bound() {
                Bound::Included(&e) => e.saturating_add(1),
                Bound::Excluded(&e) => e,
                Bound::Unbounded => u64::MAX,
            }
            .min(last.log_id.index + 1);
            if start >= end {
                return Ok(Vec::new());
            }
            // Taken under the lock: the snapshot holds exactly the records the mapping
            // describes, whatever is appended or truncated after the lock is released.
            (self.log.reader(), state.lsn_of(start), start, end)
        };
        read_entries::<C>(&reader, from, start, end)
    }
}

fn read_entries<C>(
    reader: &LogReader,
    from: Lsn,
    start: u64,
    end: u64,
) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let count = end - start;
    let mut entries = Vec::with_capacity(count.min(4096) as usize);
    for (index, item) in (start..end).zip(reader.iter_from(from)) {
        let record = item.map_err(|e| read_error(&e))?;
        entries.push(decode_at::<C>(record.payload, record.lsn, index).map_err(read_error)?);
    }
    if entries.len() as u64 != count {
        return Err(read_error(AnyError::error(format!(
            "raft entries {start}..{end} from LSN {from}: the log ended after {} of them",
            entries.len()
        ))));
    }
    Ok(entries)
}

impl<C> RaftLogReader<C> for LogStoreReader<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>>
    where
        RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend,
    {
        self.shared.read_range(&range)
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<C::Entry>, StorageError<C::NodeId>>
    where
        RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend,
    {
        self.shared.read_range(&range)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    type LogReader = LogStoreReader<C>;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<C>, StorageError<C::NodeId>> {
        let state = self.shared.state.read();
        let last_purged_log_id = state.last_purged.clone();
        let last_log_id = state
            .last
            .as_ref()
            .map(|p| p.log_id.clone())
            .or_else(|| last_purged_log_id.clone());
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogStoreReader {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn save_vote(
        &mut self,
        vote: &Vote<C::NodeId>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        // Writes are applied in order: the entries appended before this vote are durable
        // before it is.
        let meta = Meta {
            vote: Some(vote.clone()),
            ..self.meta.clone()
        };
        self.sync_then_save_meta(meta, StorageIOError::write_vote)
    }

    async fn read_vote(
        &mut self,
    ) -> std::result::Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.meta.vote.clone())
    }

    /// Saves the committed log id in `raft-meta.json`, after making every entry appended so
    /// far durable (a restart then applies committed entries that are all present).
    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        if committed == self.meta.committed {
            return Ok(());
        }
        let meta = Meta {
            committed,
            ..self.meta.clone()
        };
        self.sync_then_save_meta(meta, StorageIOError::write_logs)
    }

    async fn read_committed(
        &mut self,
    ) -> std::result::Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.meta.committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> std::result::Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.append_then(entries, move |result| callback.log_io_completed(result))
    }

    async fn truncate(
        &mut self,
        log_id: LogId<C::NodeId>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        let mut state = self.shared.state.write();
        let log = &self.shared.log;
        let (Some(last), Some(first)) = (&state.last, state.first_index(log.first_lsn())) else {
            return Ok(());
        };
        if log_id.index > last.log_id.index {
            return Ok(());
        }
        let index = log_id.index.max(first);
        let lsn = state.lsn_of(index);
        let keep = Lsn(lsn.0 - 1);
        log.truncate_after(keep).map_err(|e| write_error(&e))?;
        state.last = if index > first {
            let reader = log.reader();
            let record = reader
                .get(keep)
                .map_err(|e| read_error(&e))?
                .ok_or_else(|| read_error(AnyError::error(format!("no record at LSN {keep}"))))?;
            let entry = decode_at::<C>(record.payload, keep, index - 1).map_err(read_error)?;
            Some(Placed {
                log_id: entry.get_log_id().clone(),
                lsn: keep,
            })
        } else {
            None
        };
        Ok(())
    }

    async fn purge(
        &mut self,
        log_id: LogId<C::NodeId>,
    ) -> std::result::Result<(), StorageError<C::NodeId>> {
        if self
            .meta
            .last_purged
            .as_ref()
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        // Durable first: a crash after this point hides the entries, removed or not.
        let meta = Meta {
            last_purged: Some(log_id.clone()),
            ..self.meta.clone()
        };
        self.save_meta(meta).map_err(StorageIOError::write_logs)?;
        let log = &self.shared.log;
        let cut = {
            let mut state = self.shared.state.write();
            let first = state.first_index(log.first_lsn());
            let cut = match (&state.last, first) {
                (Some(last), Some(first)) if log_id.index < last.log_id.index => {
                    state.lsn_of((log_id.index + 1).max(first))
                }
                _ => {
                    state.last = None;
                    log.last_lsn().next()
                }
            };
            state.last_purged = Some(log_id);
            cut
        };
        log.truncate_before(cut).map_err(|e| write_error(&e))?;
        Ok(())
    }
}
