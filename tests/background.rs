//! The background threads of a writable log (Linux): none runs before the first append, the
//! pager and the flusher run once appends have filled a few MiB, none is left after `close`,
//! and what they do (faulting pages in, releasing them, starting write-out) never changes a
//! byte that is read back. A test binary of its own, so no other test's log adds threads.

mod common;

use interstice::{Log, Lsn, Options};

/// Threads of this process whose name starts with `prefix` (names are cut to 15 bytes).
fn threads(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end().starts_with(prefix))
        .count()
}

/// Threads named so once the exited ones are gone: the kernel may list a thread for a moment
/// after `join` has returned, so this waits (up to two seconds) for the count to reach 0.
fn threads_after_exit(prefix: &str) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let n = threads(prefix);
        if n == 0 || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn payload(i: u64) -> Vec<u8> {
    (0..1000).map(|j| (i * 7 + j) as u8).collect()
}

#[test]
fn the_pager_starts_with_the_first_append_and_stops_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 4 << 20,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    assert_eq!(
        threads("interstice-page"),
        0,
        "no pager before the first append"
    );
    assert_eq!(
        threads("interstice-flus"),
        0,
        "no flusher before the first append"
    );
    // About 10 MiB: several pager steps and two rotations.
    let count = 10_000;
    for i in 1..=count {
        log.append(&payload(i)).unwrap();
    }
    assert_eq!(threads("interstice-page"), 1);
    assert_eq!(threads("interstice-flus"), 1);
    assert_eq!(log.sync().unwrap(), Lsn(count));
    log.close().unwrap();
    assert_eq!(
        threads_after_exit("interstice-page"),
        0,
        "close stops the pager"
    );
    assert_eq!(
        threads_after_exit("interstice-flus"),
        0,
        "close stops the flusher"
    );

    let log = Log::open_read_only(dir.path(), options).unwrap();
    common::assert_replays(&log, count, payload);
}
