//! The hot paths allocate nothing per record: appending into the mapping and replaying it.
//! A counting global allocator (this test binary's own) measures it; the sparse index of the
//! active segment grows by amortized doubling, so a few allocations per segment are allowed.

// A global allocator cannot be written without unsafe code.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use interstice::{Durability, Error, Log, Lsn, Options, ReplayThreads};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter changes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RECORDS: u64 = 20_000;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn appends_and_replay_allocate_nothing_per_record() {
    let dir = tempfile::tempdir().unwrap();
    // One segment holds every record: no rotation (which allocates) during the count.
    let log = Log::open(
        dir.path(),
        Options {
            segment_size: 16 * 1024 * 1024,
            durability: Durability::None,
            ..Options::default()
        },
    )
    .unwrap();
    let payload = [7u8; 128];
    let appending = allocations_during(|| {
        for _ in 0..RECORDS {
            log.append(&payload).unwrap();
        }
    });
    assert!(
        appending < 64,
        "{appending} allocations for {RECORDS} appends"
    );
    assert_eq!(log.segments().len(), 1);

    let mut bytes = 0usize;
    let replaying = allocations_during(|| {
        let count = log
            .replay(Lsn::ZERO, |record| {
                bytes += record.payload.len();
                Ok::<(), Error>(())
            })
            .unwrap();
        assert_eq!(count, RECORDS);
    });
    assert_eq!(bytes, RECORDS as usize * payload.len());
    // A replay on two cores cuts its walk into pieces and starts a thread: a few dozen
    // allocations, whatever the number of records.
    assert!(
        replaying < 64,
        "{replaying} allocations to replay {RECORDS} records"
    );
    let one_thread = Log::open_read_only(
        dir.path(),
        Options {
            replay: ReplayThreads::One,
            ..Options::default()
        },
    )
    .unwrap();
    let replaying = allocations_during(|| {
        let count = one_thread
            .replay(Lsn::ZERO, |_| Ok::<(), Error>(()))
            .unwrap();
        assert_eq!(count, RECORDS);
    });
    assert!(
        replaying < 16,
        "{replaying} allocations to replay {RECORDS} records on one thread"
    );
}
