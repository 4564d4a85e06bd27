//! `Mapping`: a segment file mapped with memmap2; the only `unsafe` in the crate.
//!
//! # The contract
//!
//! A `Mapping` splits its bytes at a *frozen* watermark that only grows:
//!
//! - bytes below the watermark are never written again by this process, so any thread may
//!   borrow them as `&[u8]` (`frozen()`), for as long as it holds the `Mapping`;
//! - bytes at or above it are written only through the one `MapWriter` (`writer()` hands out at
//!   most one at a time), and are never read through a shared reference until `freeze` moves
//!   the watermark past them with release ordering (readers load it with acquire ordering);
//! - `exclusive()` gives all bytes mutably, but needs `&mut self`, i.e. no borrow and no writer.
//!
//! What the process cannot promise alone is that no other process truncates or rewrites the
//! file while it is mapped. The log's lock file keeps other Interstice writers out, no
//! Interstice code ever shortens a segment file, and a read-only mapping of a segment another
//! process is appending to only validates records the writer has finished (the writer never
//! rewrites a finished record).
//!
//! # A file truncated underneath a mapping
//!
//! Touching a mapped page past the end of a file that a foreign program truncated raises
//! `SIGBUS`, which would kill the process. Every mapping is registered in a fixed table that a
//! `SIGBUS` handler (installed once, chaining to the handler it replaces for faults outside our
//! mappings) consults: a fault inside a registered mapping replaces the rest of that mapping,
//! from the faulting page on, with anonymous zero pages and marks the mapping *shrunk*, and the
//! faulting access resumes reading zeroes. Zeroes are never a valid record, so a walk stops at
//! them; the segment cursor then reports the truncation as an error naming the file, and a
//! flush of a shrunk (or shorter than mapped) file fails, so no write is ever acknowledged as
//! durable once the file lost it. `docs/RECOVERY_MODE.md` says what remains.
//!
//! # Under Miri
//!
//! Miri cannot map files, so under `cfg(miri)` the mapping is a memory-backed stand-in: the
//! file's bytes are read into a page-aligned allocation and `flush` writes a range back with
//! `pwrite` + `fdatasync`. Every other line of this module (the raw-pointer slices, the copies,
//! the watermark protocol) is the same code, which is what Miri checks.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Asks the CPU to bring the cache lines of `bytes[range]` (clamped to `bytes`) into its
/// caches ahead of a read: what is read later is unchanged, only how long it takes. For a walk
/// that does little work per byte (a replay trusting a piece checked by another thread),
/// whose loads would otherwise each wait for memory in turn.
#[inline]
pub fn prefetch(bytes: &[u8], range: Range<usize>) {
    const LINE: usize = 64;
    let end = range.end.min(bytes.len());
    let mut at = range.start;
    while at < end {
        prefetch_line(&bytes[at..]);
        at += LINE;
    }
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline]
fn prefetch_line(bytes: &[u8]) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is a hint with no architectural effect: it reads nothing the program
    // sees, writes nothing and never faults (even on an unmapped address); the pointer is the
    // start of a live slice besides. SSE, which it needs, is part of every x86_64 target.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().cast()) };
}

/// Elsewhere (and under Miri, which has no prefetch), no hint.
#[cfg(not(all(target_arch = "x86_64", not(miri))))]
#[inline]
fn prefetch_line(_bytes: &[u8]) {}

/// A mapped segment file.
#[derive(Debug)]
pub struct Mapping {
    raw: Raw,
    len: usize,
    writable: bool,
    frozen: AtomicUsize,
    writer_taken: AtomicBool,
    /// The mapping's entry in the `SIGBUS` guard table.
    guard: Option<guard::Entry>,
    /// A handle on the file of a writable mapping until `release_file`: `flush` checks that
    /// the file still covers the mapping before it reports bytes durable.
    file: parking_lot::Mutex<Option<Arc<File>>>,
    /// Held across every flush: flushes of one mapping run one at a time, and one that fails
    /// makes every later one fail.
    flushes: parking_lot::Mutex<Flushes>,
}

/// The flush history of a mapping.
#[derive(Debug, Default)]
struct Flushes {
    /// Why a flush failed: the kernel reports a write-back error to one flush only, and the
    /// pages it could not write may be dropped, so no later flush may report success.
    failed: Option<String>,
    /// What each flush made durable, for tests that build the disk a crash would leave.
    #[cfg(test)]
    shadow: shadow::Shadow,
}

impl Mapping {
    /// Maps the whole of `file` (its current length). A writable mapping starts with nothing
    /// frozen; a read-only one is frozen whole.
    ///
    /// # Errors
    /// The OS error of `mmap`; `InvalidInput` for an empty file; `OutOfMemory` when the
    /// `SIGBUS` guard's table is full (`guard::SLOTS` live mappings in the process).
    pub fn map(file: &File, writable: bool) -> io::Result<Mapping> {
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty file"));
        }
        let raw = Raw::map(file, len, writable)?;
        let guard = guard::Entry::register(raw.as_ptr() as usize, len, writable)?;
        Ok(Mapping {
            raw,
            len,
            writable,
            frozen: AtomicUsize::new(if writable { 0 } else { len }),
            writer_taken: AtomicBool::new(false),
            guard,
            file: parking_lot::Mutex::new(if writable {
                Some(Arc::new(file.try_clone()?))
            } else {
                None
            }),
            flushes: parking_lot::Mutex::new(Flushes {
                #[cfg(test)]
                shadow: shadow::Shadow::of(file, len, writable),
                ..Flushes::default()
            }),
        })
    }

    /// Length of the mapping.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `fsync` of a writable mapping's file: its dirty pages and also what `msync` leaves out
    /// (the times and the other metadata the writes through the mapping changed), so no
    /// journal commit is left for a later flush to wait on. Unlike `flush`, it does not check
    /// the file's length: call it after a `flush`.
    ///
    /// # Errors
    /// The OS error of `fsync`.
    pub fn sync_all(&self) -> io::Result<()> {
        match self.file() {
            Some(file) => file.sync_all(),
            None => Ok(()),
        }
    }

    fn file(&self) -> Option<Arc<File>> {
        self.file.lock().clone()
    }

    /// Closes this mapping's handle on its file once it is sealed (flushed whole, footer
    /// included): the mapping stays readable, and the process keeps no descriptor per sealed
    /// segment. A flush after this reports success only if no flush ever failed.
    pub fn release_file(&self) {
        *self.file.lock() = None;
    }

    /// Makes the next flush fail as a write-back error would (tests of poisoning).
    #[cfg(test)]
    pub fn fail_next_flush(&self) {
        self.flushes.lock().shadow.fail_next = true;
    }

    /// The file as the flushes so far left it on disk: `base` (what it held when mapped)
    /// with every flushed range laid over it, as after a crash that lost all else.
    #[cfg(test)]
    pub fn durable_image(&self, base: Vec<u8>) -> Vec<u8> {
        self.flushes.lock().shadow.image(base)
    }

    /// As `durable_image`, over the bytes the file held when it was mapped, which the shadow
    /// keeps for small writable files (`shadow::BASE_LEN_MAX`); `None` for others.
    #[cfg(test)]
    pub fn durable_image_of_small(&self) -> Option<Vec<u8>> {
        let flushes = self.flushes.lock();
        let base = flushes.shadow.base()?.to_vec();
        Some(flushes.shadow.image(base))
    }

    /// Always false: a mapping covers a non-empty file.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a page of the mapping was found past the end of its file (the file was
    /// truncated underneath it): from that page on, the mapping reads zeroes.
    #[must_use]
    pub fn shrunk(&self) -> bool {
        self.guard.as_ref().is_some_and(guard::Entry::shrunk)
    }

    /// The bytes below the frozen watermark.
    #[must_use]
    pub fn frozen(&self) -> &[u8] {
        let frozen = self.frozen.load(Ordering::Acquire);
        // SAFETY: `raw` maps `len` bytes and lives as long as `self`; `frozen <= len` (every
        // store checks it). Bytes below the watermark are never written again by this process
        // (the writer asserts offset >= watermark; `exclusive` needs `&mut self`, which cannot
        // coexist with this borrow), so a shared slice over them is never aliased by a write.
        // Should the file shrink underneath, the guard keeps the range mapped (zero pages).
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), frozen) }
    }

    /// All bytes, mutably, while nothing else borrows the mapping.
    ///
    /// # Panics
    /// If the mapping is read-only, or a `MapWriter` is alive.
    pub fn exclusive(&mut self) -> &mut [u8] {
        assert!(self.writable, "exclusive access to a read-only mapping");
        assert!(
            !self.writer_taken.load(Ordering::Acquire),
            "exclusive access while a writer lives"
        );
        // SAFETY: `&mut self` proves no `frozen()` borrow exists, and no `MapWriter` is alive
        // (checked above; a writer holds an `Arc`, so `&mut Mapping` could not be had anyway
        // when it lives behind one). The mapping is writable (PROT_WRITE) and `len` long.
        unsafe { std::slice::from_raw_parts_mut(self.raw.as_mut_ptr(), self.len) }
    }

    /// All bytes for reading while nothing else borrows the mapping mutably.
    #[must_use]
    pub fn whole(&mut self) -> &[u8] {
        // SAFETY: as for `exclusive`: `&mut self` rules out any concurrent writer in this
        // process; reading is allowed for read-only mappings too.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), self.len) }
    }

    /// Sets the frozen watermark while nothing else holds the mapping.
    ///
    /// # Panics
    /// If `upto` exceeds the mapping.
    pub fn set_frozen(&mut self, upto: usize) {
        assert!(upto <= self.len);
        *self.frozen.get_mut() = upto;
    }

    /// Hands out the one writer, or `None` when one is alive.
    #[must_use]
    pub fn writer(self: &Arc<Self>) -> Option<MapWriter> {
        if !self.writable || self.writer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(MapWriter {
            map: Arc::clone(self),
            file: self.file(),
            through_file: false,
        })
    }

    /// `msync(MS_SYNC)` of `range`: durable once it returns.
    ///
    /// # Errors
    /// The OS error of `msync`; `UnexpectedEof` when the file no longer covers the mapping
    /// (truncated underneath it): the bytes past its end never reach the disk.
    pub fn flush(&self, range: Range<usize>) -> io::Result<()> {
        if range.is_empty() || !self.writable {
            return Ok(());
        }
        let mut flushes = self.flushes.lock();
        if let Some(cause) = &flushes.failed {
            return Err(io::Error::other(format!(
                "an earlier flush of this mapping failed ({cause}); its bytes may never reach \
                 the disk"
            )));
        }
        // A writable mapping without its file was sealed, and the seal flushed all of it.
        let Some(file) = self.file() else {
            return Ok(());
        };
        let range = range.start..range.end.min(self.len);
        if let Err(error) = self.flush_locked(&mut flushes, &file, range) {
            flushes.failed = Some(error.to_string());
            return Err(error);
        }
        Ok(())
    }

    fn flush_locked(
        &self,
        flushes: &mut Flushes,
        file: &File,
        range: Range<usize>,
    ) -> io::Result<()> {
        #[cfg(test)]
        flushes.shadow.take_failure()?;
        #[cfg(not(test))]
        let _ = flushes;
        if !simulated() {
            self.raw.flush_range(range.start, range.end - range.start)?;
        }
        // `lseek(SEEK_END)` reads the size without `statx`, which costs tens of microseconds
        // on a file with pages under writeback.
        let file_len = io::Seek::seek(&mut &*file, io::SeekFrom::End(0))?;
        if self.shrunk() || file_len < self.len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file was truncated to {file_len} bytes underneath its {}-byte \
                     mapping; bytes past its end are lost",
                    self.len
                ),
            ));
        }
        #[cfg(test)]
        flushes
            .shadow
            .record(range.start, self.finished(range.clone()));
        Ok(())
    }

    /// The bytes of a range being flushed, for the shadow's copy.
    #[cfg(test)]
    fn finished(&self, range: Range<usize>) -> &[u8] {
        // SAFETY: test-only. `range` lies inside the mapping (`flush` bounds it), and the
        // engine flushes only bytes it has finished writing: published records and markers,
        // or the footer area the flushing thread itself wrote, which no write races with.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(range.start), range.len()) }
    }

    /// Drops this process's page-table entries over `range` (`MADV_DONTNEED`) without
    /// changing a byte: the mapping is shared, so the next access maps the file's page again
    /// from the page cache, which holds every byte written (dirty or not). Write-back of
    /// pages that are still mapped writable has to write-protect each one and flush every
    /// CPU's TLB (one interprocessor interrupt per page); released pages cost it nothing.
    pub fn release_pages(&self, range: Range<usize>) {
        if range.is_empty() || !self.writable {
            return;
        }
        self.raw
            .release_pages(range.start, range.end.min(self.len) - range.start);
    }

    /// Starts writing `range` back to the disk without waiting (write-behind): its pages are
    /// released (`release_pages`), then `sync_file_range(SYNC_FILE_RANGE_WRITE)` queues them
    /// for write-out. Nothing becomes durable here (`flush` does that, and then has less
    /// left to write); errors are left for `flush` to report.
    pub fn start_writeback(&self, range: Range<usize>) {
        if range.is_empty() || !self.writable {
            return;
        }
        let range = range.start..range.end.min(self.len);
        self.release_pages(range.clone());
        if let Some(file) = self.file() {
            Raw::start_writeback(&file, range.start, range.end - range.start);
        }
    }

    /// Backs `range` of a writable mapping's file with allocated blocks (`fallocate`, mode 0:
    /// no byte changes, and ranges already backed cost nothing): a write through the mapping
    /// into a range backed this way never needs a block, so a full disk fails here, with
    /// `ENOSPC`, instead of raising `SIGBUS` at the write. Does nothing for a read-only
    /// mapping or once the file is released.
    ///
    /// # Errors
    /// The OS error of `fallocate`.
    pub fn allocate(&self, range: Range<usize>) -> io::Result<()> {
        let range = range.start..range.end.min(self.len);
        if range.is_empty() {
            return Ok(());
        }
        match self.file() {
            Some(file) => Raw::allocate(&file, range.start, range.end - range.start),
            None => Ok(()),
        }
    }

    /// Turns off the kernel's read-ahead on faults in `range` (`MADV_RANDOM`), or back on
    /// (`MADV_NORMAL`). For the space a writer is about to fill: a write fault on a page of
    /// fallocated space would otherwise read ahead the whole read-ahead window (8 MiB on
    /// these machines), zero-filling it inside that one fault, and the `msync` waiting behind
    /// it took over a millisecond every few MiB (docs/PERFORMANCE.md). Advice only: nothing
    /// read or written changes, and a failure changes nothing either. Advice on part of a
    /// mapping splits it into ranges, and `msync` syncs the file once per range it crosses:
    /// callers keep their flushes inside one range.
    pub fn read_ahead(&self, range: Range<usize>, on: bool) {
        let end = range.end.min(self.len);
        if range.start < end {
            self.raw.read_ahead(range.start, end - range.start, on);
        }
    }

    /// Faults the pages of `range` in writable ahead of need (`MADV_POPULATE_WRITE`, Linux
    /// 5.14+) without writing to them, so the appends that reach them take no page fault.
    /// Safe alongside the writer: no byte changes. On an older kernel it does nothing (the
    /// appends fault the pages in themselves).
    pub fn populate(&self, range: Range<usize>) {
        if range.is_empty() || !self.writable {
            return;
        }
        self.raw
            .populate(range.start, range.end.min(self.len) - range.start);
    }
}

/// Whether a crash simulation runs (tests only): flushes then skip the kernel.
fn simulated() -> bool {
    #[cfg(test)]
    return shadow::simulated();
    #[cfg(not(test))]
    false
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Leave the guard table before `raw` unmaps the range.
        if let Some(entry) = self.guard.take() {
            entry.release();
        }
    }
}

/// The file mapping itself.
#[cfg(not(miri))]
#[derive(Debug)]
struct Raw(memmap2::MmapRaw);

#[cfg(not(miri))]
impl Raw {
    fn map(file: &File, len: usize, writable: bool) -> io::Result<Raw> {
        let options = memmap2::MmapOptions::new().len(len).clone();
        Ok(Raw(if writable {
            options.map_raw(file)?
        } else {
            options.map_raw_read_only(file)?
        }))
    }

    fn as_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }

    fn as_mut_ptr(&self) -> *mut u8 {
        self.0.as_mut_ptr()
    }

    fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
        self.0.flush_range(offset, len)
    }

    fn populate(&self, offset: usize, len: usize) {
        // Failure (an old kernel, or no memory left) only means the pages fault in later.
        let _ = self
            .0
            .advise_range(memmap2::Advice::PopulateWrite, offset, len);
    }

    fn read_ahead(&self, offset: usize, len: usize, on: bool) {
        let advice = if on {
            memmap2::Advice::Normal
        } else {
            memmap2::Advice::Random
        };
        // Failure only leaves the kernel's default.
        let _ = self.0.advise_range(advice, offset, len);
    }

    fn start_writeback(file: &File, offset: usize, len: usize) {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (
            libc::off64_t::try_from(offset),
            libc::off64_t::try_from(len),
        ) else {
            return;
        };
        // SAFETY: a plain system call on an open descriptor; it reads no memory of ours.
        let _ = unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
    }

    fn allocate(file: &File, offset: usize, len: usize) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
        else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        // SAFETY: a plain system call on an open descriptor; mode 0 changes no byte of the
        // file (it only allocates blocks for holes in the range), and reads no memory of ours.
        let done = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) };
        if done == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn punch_hole(file: &File, offset: usize, len: usize) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
        else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        // SAFETY: a plain system call on an open descriptor that reads no memory of ours. The
        // bytes of the range read as zero afterwards, also through this process's mapping:
        // the caller (`MapWriter::give_back`) only passes a range above the frozen watermark,
        // which no shared slice covers and only that writer writes.
        let done = unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) };
        if done == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn release_pages(&self, offset: usize, len: usize) {
        // SAFETY: the mapping is a shared mapping of a file (`map_raw`, MAP_SHARED), for
        // which MADV_DONTNEED only removes page-table entries: later accesses see the file's
        // contents, i.e. the page cache, which kept every byte written through the mapping.
        // It never zeroes data as it does for private or anonymous mappings. A failure (a
        // range the guard remapped) only means the entries stay, which is harmless.
        let _ = unsafe {
            self.0
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
        };
    }
}

/// The memory-backed stand-in of a file mapping that Miri runs (it cannot map files).
#[cfg(miri)]
#[derive(Debug)]
struct Raw {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
    file: File,
}

// SAFETY: `Raw` owns its allocation as `MmapRaw` owns its mapping: a plain block of bytes that
// any thread may reach through the raw pointer; `Mapping` enforces who writes where.
#[cfg(miri)]
unsafe impl Send for Raw {}
// SAFETY: as for `Send`.
#[cfg(miri)]
unsafe impl Sync for Raw {}

#[cfg(miri)]
impl Raw {
    fn map(file: &File, len: usize, _writable: bool) -> io::Result<Raw> {
        use std::os::unix::fs::FileExt;
        let layout = std::alloc::Layout::from_size_align(len, 4096)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        // SAFETY: `layout` has a non-zero size (`map` refuses empty files).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = std::ptr::NonNull::new(ptr).ok_or(io::ErrorKind::OutOfMemory)?;
        let raw = Raw {
            ptr,
            layout,
            file: file.try_clone()?,
        };
        // SAFETY: the allocation is `len` bytes, initialized (zeroed) and not yet shared.
        let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), len) };
        file.read_exact_at(bytes, 0)?;
        Ok(raw)
    }

    fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        // SAFETY: `Mapping::flush` bounds the range to the allocation; the engine flushes only
        // bytes it has finished writing (as `msync` would read them).
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) };
        self.file.write_all_at(bytes, offset as u64)?;
        self.file.sync_data()
    }

    #[allow(clippy::unused_self)]
    fn populate(&self, _offset: usize, _len: usize) {}

    #[allow(clippy::unused_self)]
    fn read_ahead(&self, _offset: usize, _len: usize, _on: bool) {}

    #[allow(clippy::unused_self)]
    fn release_pages(&self, _offset: usize, _len: usize) {}

    fn start_writeback(_file: &File, _offset: usize, _len: usize) {}

    /// Miri has no `fallocate`: the stand-in's bytes are memory, which never lacks a block.
    fn allocate(_file: &File, _offset: usize, _len: usize) -> io::Result<()> {
        Ok(())
    }

    /// Giving blocks back is an economy, not a contract: the stand-in keeps them.
    fn punch_hole(_file: &File, _offset: usize, _len: usize) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(miri)]
impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: allocated in `map` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// The `SIGBUS` guard: a fixed table of live mappings and the handler that consults it.
#[cfg(all(target_os = "linux", not(miri)))]
mod guard {
    use std::sync::Once;
    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

    /// Live mappings the table can hold: as many as Linux's default `vm.max_map_count` lets
    /// a process have, so the kernel's limit is met first. A mapping that finds the table
    /// full is refused (`register`), never left unguarded.
    pub(super) const SLOTS: usize = 65_536;

    struct Slot {
        start: AtomicUsize,
        len: AtomicUsize,
        writable: AtomicBool,
        shrunk: AtomicBool,
    }

    static TABLE: [Slot; SLOTS] = [const {
        Slot {
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            writable: AtomicBool::new(false),
            shrunk: AtomicBool::new(false),
        }
    }; SLOTS];
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());
    static INSTALL: Once = Once::new();

    /// A mapping's slot in the table.
    #[derive(Debug)]
    pub(super) struct Entry(usize);

    impl Entry {
        /// Registers `start..start + len`, installing the handler on first use.
        pub(super) fn register(
            start: usize,
            len: usize,
            writable: bool,
        ) -> std::io::Result<Option<Entry>> {
            INSTALL.call_once(install);
            let hint = NEXT.fetch_add(1, Ordering::Relaxed);
            for step in 0..SLOTS {
                let index = (hint + step) % SLOTS;
                let slot = &TABLE[index];
                if slot
                    .start
                    .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    slot.shrunk.store(false, Ordering::Relaxed);
                    slot.writable.store(writable, Ordering::Relaxed);
                    slot.len.store(len, Ordering::Relaxed);
                    slot.start.store(start, Ordering::Release);
                    return Ok(Some(Entry(index)));
                }
            }
            Err(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("{SLOTS} segments are mapped already, the most this process guards"),
            ))
        }

        pub(super) fn shrunk(&self) -> bool {
            TABLE[self.0].shrunk.load(Ordering::Acquire)
        }

        pub(super) fn release(self) {
            let slot = &TABLE[self.0];
            slot.len.store(0, Ordering::Release);
            slot.start.store(0, Ordering::Release);
        }
    }

    fn install() {
        // SAFETY: `sysconf` has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(page) = usize::try_from(page)
            && page.is_power_of_two()
        {
            PAGE.store(page, Ordering::Relaxed);
        }
        // SAFETY: a zeroed `sigaction` is a valid value (empty mask, no flags); the handler has
        // the `SA_SIGINFO` signature; `previous` receives the action replaced, kept for ever
        // (leaked) so the handler can chain to it.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&raw mut action.sa_mask);
            let previous = Box::into_raw(Box::new(std::mem::zeroed::<libc::sigaction>()));
            if libc::sigaction(libc::SIGBUS, &raw const action, previous) == 0 {
                PREVIOUS.store(previous, Ordering::Release);
            } else {
                drop(Box::from_raw(previous));
            }
        }
    }

    /// Runs in signal context: only atomics and async-signal-safe system calls (`mmap`,
    /// `sigaction`) below.
    extern "C" fn on_sigbus(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        // SAFETY: the kernel hands an `SA_SIGINFO` handler a valid `siginfo_t`.
        let address = unsafe { (*info).si_addr() } as usize;
        let page = PAGE.load(Ordering::Relaxed);
        for slot in &TABLE {
            let start = slot.start.load(Ordering::Acquire);
            let len = slot.len.load(Ordering::Acquire);
            if start == 0 || start == usize::MAX || address < start || address - start >= len {
                continue;
            }
            let from = address & !(page - 1);
            let protection = if slot.writable.load(Ordering::Relaxed) {
                libc::PROT_READ | libc::PROT_WRITE
            } else {
                libc::PROT_READ
            };
            // SAFETY: `from..start + len` lies inside a live mapping of ours (registered until
            // just before it is unmapped): replacing those pages with anonymous zero pages
            // (MAP_FIXED) changes what they read, never which addresses are valid, so every
            // slice over the mapping stays valid; the faulting access then reads zeroes.
            let mapped = unsafe {
                libc::mmap(
                    from as *mut libc::c_void,
                    start + len - from,
                    protection,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if mapped != libc::MAP_FAILED {
                slot.shrunk.store(true, Ordering::Release);
                return;
            }
            break;
        }
        chain(signal, info, context);
    }

    /// Hands a fault that is not ours to the handler we replaced; with none, restores the
    /// default action so the faulting access, retried on return, ends the process as it would
    /// have without us.
    fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
        let previous = PREVIOUS.load(Ordering::Acquire);
        // SAFETY: `previous` is null or the leaked action stored once by `install`.
        let Some(previous) = (unsafe { previous.as_ref() }) else {
            restore_default(signal);
            return;
        };
        let handler = previous.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            restore_default(signal);
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            type Handler = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
            // SAFETY: with SA_SIGINFO, `sa_sigaction` is a three-argument handler.
            let handler: Handler = unsafe { std::mem::transmute(handler) };
            handler(signal, info, context);
        } else {
            // SAFETY: without SA_SIGINFO, `sa_sigaction` holds a one-argument handler.
            let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            handler(signal);
        }
    }

    fn restore_default(signal: libc::c_int) {
        // SAFETY: a zeroed `sigaction` with SIG_DFL (0) is the default action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &raw const action, std::ptr::null_mut());
        }
    }
}

/// Without the `SIGBUS` guard (other systems, Miri): nothing is registered.
#[cfg(not(all(target_os = "linux", not(miri))))]
mod guard {
    #[derive(Debug)]
    pub(super) struct Entry;

    impl Entry {
        pub(super) fn register(
            _start: usize,
            _len: usize,
            _writable: bool,
        ) -> std::io::Result<Option<Entry>> {
            Ok(None)
        }

        pub(super) fn shrunk(&self) -> bool {
            false
        }

        pub(super) fn release(self) {}
    }
}

/// What each flush made durable, kept by tests (the disk a crash would leave).
#[cfg(test)]
pub mod shadow {
    use std::io;

    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Crash simulations running: while one runs, flushes record what they make durable
    /// without asking the kernel (the simulation judges durability by the shadow alone, and
    /// runs thousands of schedules). Other tests meanwhile read their files through the page
    /// cache, which holds every byte either way.
    static SIMULATIONS: AtomicUsize = AtomicUsize::new(0);

    pub(crate) fn simulated() -> bool {
        SIMULATIONS.load(Ordering::Acquire) > 0
    }

    /// Flushes skip the kernel while this lives.
    #[derive(Debug)]
    pub struct Simulation(());

    impl Simulation {
        /// Starts skipping.
        pub fn start() -> Simulation {
            SIMULATIONS.fetch_add(1, Ordering::AcqRel);
            Simulation(())
        }
    }

    impl Drop for Simulation {
        fn drop(&mut self) {
            SIMULATIONS.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Writable files up to this size have their bytes at map time kept as the base.
    pub(super) const BASE_LEN_MAX: usize = 1 << 20;

    /// Flushed bytes by offset, the latest copy of each; an injected failure, if armed.
    #[derive(Debug, Default)]
    pub(super) struct Shadow {
        base: Option<Vec<u8>>,
        flushed: Vec<(usize, Vec<u8>)>,
        pub(super) fail_next: bool,
    }

    impl Shadow {
        pub(super) fn of(file: &std::fs::File, len: usize, writable: bool) -> Shadow {
            use std::os::unix::fs::FileExt;
            let mut base = None;
            if writable && len <= BASE_LEN_MAX {
                let mut bytes = vec![0; len];
                if file.read_exact_at(&mut bytes, 0).is_ok() {
                    base = Some(bytes);
                }
            }
            Shadow {
                base,
                ..Shadow::default()
            }
        }

        pub(super) fn base(&self) -> Option<&[u8]> {
            self.base.as_deref()
        }

        pub(super) fn take_failure(&mut self) -> io::Result<()> {
            if std::mem::take(&mut self.fail_next) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            Ok(())
        }

        pub(super) fn record(&mut self, offset: usize, bytes: &[u8]) {
            let end = offset + bytes.len();
            self.flushed
                .retain(|(at, old)| *at < offset || at + old.len() > end);
            self.flushed.push((offset, bytes.to_vec()));
        }

        pub(super) fn image(&self, mut base: Vec<u8>) -> Vec<u8> {
            for (offset, bytes) in &self.flushed {
                base[*offset..offset + bytes.len()].copy_from_slice(bytes);
            }
            base
        }
    }
}

/// The one writer of a mapping: writes above the frozen watermark, then freezes them.
#[derive(Debug)]
pub struct MapWriter {
    map: Arc<Mapping>,
    /// The file, for `pwritev`; dropped with the writer.
    file: Option<Arc<File>>,
    /// Write with `pwritev` into the file instead of copying into the mapping.
    through_file: bool,
}

impl MapWriter {
    /// Writes with `pwritev` into the file (`true`) or by copying into the mapping (`false`,
    /// the default). Both land in the same page-cache pages, which the mapping shows, so
    /// readers see the same bytes either way. Copying costs no system call; writing through
    /// the file leaves the pages alone, so a page that a flush has just written back (and
    /// therefore write-protected) takes no write fault: about 5 us less per durable append
    /// here, for a system call of about 1 us.
    pub fn set_through_file(&mut self, on: bool) {
        self.through_file = on;
    }

    /// Writes `bytes` at `offset`.
    ///
    /// # Panics
    /// If the range is not entirely above the frozen watermark and inside the mapping: the
    /// engine never does that, and doing it would break the contract of `frozen()`.
    #[inline]
    pub fn write(&mut self, offset: usize, bytes: &[u8]) {
        self.write_pair(offset, bytes, &[]);
    }

    /// Writes `bytes` at `offset` with one `pwrite` into the file whatever the mode (a copy
    /// through the mapping when that fails): for a batch framed in a buffer.
    ///
    /// # Panics
    /// As `write`.
    pub fn write_through_file(&mut self, offset: usize, bytes: &[u8]) {
        let through = std::mem::replace(&mut self.through_file, true);
        self.write_pair(offset, bytes, &[]);
        self.through_file = through;
    }

    /// Writes `first` then `second` at `offset`, contiguously, with one bounds check.
    ///
    /// # Panics
    /// As `write`.
    #[inline]
    pub fn write_pair(&mut self, offset: usize, first: &[u8], second: &[u8]) {
        let frozen = self.map.frozen.load(Ordering::Relaxed);
        let end = offset
            .checked_add(first.len())
            .and_then(|n| n.checked_add(second.len()))
            .expect("offset overflow");
        assert!(
            offset >= frozen && end <= self.map.len,
            "write outside the unfrozen area"
        );
        if self.through_file && self.pwrite_pair(offset, first, second) {
            return;
        }
        // SAFETY: the destination `offset..end` lies inside the mapping (checked) and above
        // the frozen watermark (checked), so no shared slice covers it; this is the only
        // `MapWriter` (`writer_taken`), so no other write races with it; the mapping is
        // writable (writers are only handed out for writable mappings); neither source can
        // overlap the destination since both are shared borrows, which cannot point into the
        // unfrozen area.
        unsafe {
            let destination = self.map.raw.as_mut_ptr().add(offset);
            std::ptr::copy_nonoverlapping(first.as_ptr(), destination, first.len());
            std::ptr::copy_nonoverlapping(
                second.as_ptr(),
                destination.add(first.len()),
                second.len(),
            );
        }
    }

    /// `pwritev` of both slices at `offset` of the file; false unless all of it was written
    /// (the caller then copies it all through the mapping, which rewrites the same bytes: a
    /// file that no longer covers the offset is the `SIGBUS` guard's case, and `flush`
    /// refuses to call such bytes durable).
    #[cfg(not(miri))]
    fn pwrite_pair(&self, offset: usize, first: &[u8], second: &[u8]) -> bool {
        use std::os::fd::AsRawFd;
        let Some(file) = &self.file else {
            return false;
        };
        let Ok(at) = libc::off_t::try_from(offset) else {
            return false;
        };
        let iov = [
            libc::iovec {
                iov_base: first.as_ptr().cast_mut().cast(),
                iov_len: first.len(),
            },
            libc::iovec {
                iov_base: second.as_ptr().cast_mut().cast(),
                iov_len: second.len(),
            },
        ];
        // SAFETY: both iovecs describe live shared borrows for their full lengths, and
        // `pwritev` only reads from them; the descriptor is the mapping's own open file. The
        // kernel writes the page-cache pages at `offset..offset + len`, which this process
        // sees only through the mapping, above the frozen watermark (checked by the caller),
        // where no reference exists.
        let written = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), 2, at) };
        usize::try_from(written).is_ok_and(|n| n == first.len() + second.len())
    }

    /// Miri's stand-in mapping is a copy of the file, not its page cache: writes go through
    /// the mapping.
    #[cfg(miri)]
    #[allow(clippy::unused_self)]
    fn pwrite_pair(&self, _offset: usize, _first: &[u8], _second: &[u8]) -> bool {
        false
    }

    /// Gives the blocks of `range` back to the file system (`fallocate` punching a hole, the
    /// file's length kept): its bytes read as zero from then on, and a write into it needs a
    /// block again (`Mapping::allocate` first). For the unused space of a segment that will
    /// not be written again, so that a small log takes little disk. Where the file system
    /// cannot punch holes, the blocks stay and nothing changes.
    ///
    /// # Panics
    /// If the range is not empty and not entirely above the frozen watermark and inside the
    /// mapping.
    pub fn give_back(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        let frozen = self.map.frozen.load(Ordering::Relaxed);
        assert!(
            range.start >= frozen && range.end <= self.map.len,
            "give back outside the unfrozen area"
        );
        if let Some(file) = self.map.file() {
            // Failure (a file system without hole punching) leaves the blocks allocated and
            // the bytes as they were: only the economy is lost.
            let _ = Raw::punch_hole(&file, range.start, range.end - range.start);
        }
    }

    /// Moves the frozen watermark to `upto`, publishing the bytes below it to readers.
    ///
    /// # Panics
    /// If `upto` would move the watermark back or past the end.
    #[inline]
    pub fn freeze(&mut self, upto: usize) {
        let frozen = self.map.frozen.load(Ordering::Relaxed);
        assert!(
            upto >= frozen && upto <= self.map.len,
            "watermark must grow within the map"
        );
        self.map.frozen.store(upto, Ordering::Release);
    }

    /// Moves the frozen watermark back to `to`, so that the bytes from there on can be written
    /// again: a suffix truncation that rewinds the active segment in place. `other` must be
    /// the mapping's one other handle (the segment's). With both handles borrowed mutably and
    /// no third one alive, nothing can hold a shared slice of the bytes being unfrozen; once
    /// this returns, new handles read below the lowered watermark only. Returns false,
    /// changing nothing, when another handle exists (a reader's, a flush's, a pager's job).
    ///
    /// # Panics
    /// If `to` is above the watermark.
    pub fn unfreeze(&mut self, other: &mut Arc<Mapping>, to: usize) -> bool {
        if !Arc::ptr_eq(&self.map, other)
            || Arc::strong_count(&self.map) != 2
            || Arc::weak_count(&self.map) != 0
        {
            return false;
        }
        let frozen = self.map.frozen.load(Ordering::Acquire);
        assert!(to <= frozen, "unfreeze only lowers the watermark");
        self.map.frozen.store(to, Ordering::Release);
        true
    }

    /// The mapping written to.
    #[must_use]
    pub fn mapping(&self) -> &Arc<Mapping> {
        &self.map
    }
}

impl Drop for MapWriter {
    fn drop(&mut self) {
        self.map.writer_taken.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(len: u64) -> (tempfile::NamedTempFile, Mapping) {
        let file = tempfile::NamedTempFile::new().unwrap();
        file.as_file().set_len(len).unwrap();
        let map = Mapping::map(file.as_file(), true).unwrap();
        (file, map)
    }

    #[test]
    fn writes_become_visible_when_frozen() {
        let (_file, map) = mapped(8192);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        assert!(map.writer().is_none(), "a second writer must be refused");
        writer.write(0, b"abc");
        assert!(map.frozen().is_empty());
        writer.freeze(3);
        assert_eq!(map.frozen(), b"abc");
        map.flush(0..3).unwrap();
        drop(writer);
        assert!(map.writer().is_some());
    }

    #[test]
    fn write_pair_lands_contiguously() {
        let (_file, map) = mapped(8192);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        writer.write_pair(4, b"head", b"tail");
        writer.freeze(12);
        assert_eq!(&map.frozen()[4..], b"headtail");
    }

    #[test]
    #[should_panic(expected = "write outside the unfrozen area")]
    fn write_pair_past_the_end_panics() {
        let (_file, map) = mapped(8192);
        let map = Arc::new(map);
        map.writer().unwrap().write_pair(8190, b"ab", b"c");
    }

    #[test]
    #[should_panic(expected = "write outside the unfrozen area")]
    fn writing_below_the_watermark_panics() {
        let (_file, map) = mapped(8192);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        writer.write(0, b"abc");
        writer.freeze(3);
        writer.write(1, b"x");
    }

    #[test]
    fn prefetching_changes_no_byte_and_stops_at_the_end() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let before = bytes.clone();
        super::prefetch(&bytes, 0..4096);
        super::prefetch(&bytes, 9_000..1 << 20);
        super::prefetch(&bytes, 20_000..30_000);
        super::prefetch(&[], 0..64);
        assert_eq!(bytes, before);
    }

    #[test]
    fn read_ahead_advice_changes_no_byte() {
        let (_file, map) = mapped(64 * 1024);
        let map = std::sync::Arc::new(map);
        let mut writer = map.writer().unwrap();
        writer.write(0, b"kept");
        writer.freeze(4);
        map.read_ahead(4..64 * 1024, false);
        map.read_ahead(0..1 << 30, true);
        map.read_ahead(70_000..80_000, false);
        assert_eq!(&map.frozen()[..4], b"kept");
    }

    #[test]
    fn pages_released_populated_and_written_back_keep_their_bytes() {
        // None of the three page-table operations may change a byte: a released page reads
        // back from the page cache, a populated one keeps what was written, and a range whose
        // write-out was started is still written again by a later write and flushed whole.
        let (file, map) = mapped(16 * 4096);
        let map = Arc::new(map);
        map.populate(0..8 * 4096);
        let mut writer = map.writer().unwrap();
        let bytes: Vec<u8> = (0..10 * 4096 + 100usize).map(|i| (i % 251) as u8).collect();
        writer.write(0, &bytes);
        writer.freeze(bytes.len());
        map.populate(0..16 * 4096);
        map.start_writeback(0..8 * 4096);
        map.release_pages(0..10 * 4096);
        assert_eq!(map.frozen(), &bytes[..]);
        writer.write(bytes.len(), b"after");
        writer.freeze(bytes.len() + 5);
        map.flush(0..bytes.len() + 5).unwrap();
        let on_disk = std::fs::read(file.path()).unwrap();
        assert_eq!(&on_disk[..bytes.len()], &bytes[..]);
        assert_eq!(&on_disk[bytes.len()..bytes.len() + 5], b"after");
        assert!(on_disk[bytes.len() + 5..].iter().all(|&b| b == 0));
    }

    #[test]
    fn writes_through_the_file_show_in_the_mapping() {
        // A writer in `through_file` mode never copies into the mapping: readers see its
        // bytes only because the mapping shows the page cache that `pwritev` wrote. A page
        // faulted in and flushed before (so write-protected) is written too.
        let (file, map) = mapped(3 * 4096);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        writer.write(0, b"first");
        writer.freeze(5);
        map.flush(0..5).unwrap();
        writer.set_through_file(true);
        writer.write_pair(5, b"-head", b"-tail");
        writer.write(4094, b"across");
        writer.freeze(4100);
        assert_eq!(&map.frozen()[..15], b"first-head-tail");
        assert_eq!(&map.frozen()[4094..4100], b"across");
        map.flush(0..4100).unwrap();
        let on_disk = std::fs::read(file.path()).unwrap();
        assert_eq!(&on_disk[..15], b"first-head-tail");
        assert_eq!(&on_disk[4094..4100], b"across");
    }

    #[test]
    fn exclusive_edits_reach_the_file() {
        let (file, mut map) = mapped(8192);
        map.populate(0..8192);
        map.exclusive()[10] = 42;
        map.flush(0..4096).unwrap();
        let bytes = std::fs::read(file.path()).unwrap();
        assert_eq!(bytes[10], 42);
    }

    #[test]
    fn readers_see_only_frozen_bytes_while_the_writer_writes() {
        // Under Miri this checks the watermark protocol for data races: the writer copies into
        // the unfrozen area while readers borrow the frozen one.
        let (_file, map) = mapped(16384);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        let chunks: u8 = if cfg!(miri) { 16 } else { 200 };
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let map = Arc::clone(&map);
                scope.spawn(move || {
                    let mut seen = 0;
                    while seen < usize::from(chunks) * 64 {
                        let frozen = map.frozen();
                        assert!(frozen.len() >= seen);
                        for (i, &byte) in frozen.iter().enumerate() {
                            assert_eq!(byte, (i / 64) as u8 + 1);
                        }
                        seen = frozen.len();
                        std::thread::yield_now();
                    }
                });
            }
            for chunk in 0..chunks {
                let offset = usize::from(chunk) * 64;
                writer.write_pair(offset, &[chunk + 1; 24], &[chunk + 1; 40]);
                writer.freeze(offset + 64);
            }
        });
        map.flush(0..usize::from(chunks) * 64).unwrap();
    }

    #[test]
    fn a_flush_after_the_file_shrank_fails() {
        let (file, map) = mapped(8192);
        let map = Arc::new(map);
        let mut writer = map.writer().unwrap();
        writer.write(0, b"durable");
        writer.freeze(7);
        map.flush(0..7).unwrap();
        file.as_file().set_len(4096).unwrap();
        writer.write(16, b"lost");
        writer.freeze(20);
        let error = map.flush(0..20).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            error.to_string().contains("truncated to 4096 bytes"),
            "{error}"
        );
    }

    #[test]
    fn read_only_mapping_is_frozen_whole() {
        let (file, _) = mapped(8192);
        let map = Mapping::map(&File::open(file.path()).unwrap(), false).unwrap();
        assert_eq!(map.frozen().len(), 8192);
        assert!(Arc::new(map).writer().is_none());
    }
}
