//! A writable log used to keep one open descriptor per segment for the life of the process
//! (each mapping kept a handle on its file), so a long-lived log without retention ran into
//! `EMFILE` and could never rotate again. Sealed segments now keep none: the descriptors a
//! log holds stay bounded however many segments it has. (One test in this binary, so that no
//! other test opens files meanwhile.)

use std::path::Path;

use interstice::{Log, Lsn, Options};

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rotate_times(log: &Log, times: u64) {
    for _ in 0..times {
        log.append(&[1; 64]).unwrap();
        log.rotate_now().unwrap();
    }
}

fn options() -> Options {
    Options {
        segment_size: 16 * 1024,
        ..Options::default()
    }
}

fn reopen_and_count(dir: &Path, expected_segments: usize) -> usize {
    let before = open_descriptors();
    let log = Log::open(dir, options()).unwrap();
    assert_eq!(log.segments().len(), expected_segments);
    let held = open_descriptors() - before;
    log.close().unwrap();
    held
}

#[test]
fn descriptors_stay_bounded_as_segments_grow() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    rotate_times(&log, 20);
    log.sync().unwrap();
    let before_300 = open_descriptors();
    rotate_times(&log, 300);
    assert_eq!(log.sync().unwrap(), Lsn(320));
    let after_300 = open_descriptors();
    assert!(
        after_300 <= before_300 + 2,
        "descriptors grew from {before_300} to {after_300} over 300 rotations"
    );
    log.close().unwrap();
    // A writable open of the 321 segments holds as few.
    let held = reopen_and_count(dir.path(), 321);
    assert!(held <= 6, "a reopened log holds {held} descriptors");
}
