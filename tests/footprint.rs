//! Disk use follows the data: a segment's file has its full length, but blocks only where
//! the writer has written or is about to write; a closed or sealed segment gives the rest
//! back. Measured with `st_blocks`, which counts the blocks the file system allocated.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use interstice::{Durability, Log, Lsn, Options};

/// Bytes of blocks the files of `dir` hold.
fn allocated(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().blocks() * 512)
        .sum()
}

fn lines(range: std::ops::RangeInclusive<u64>) -> Vec<Vec<u8>> {
    range.map(|n| n.to_string().into_bytes()).collect()
}

/// Opens the log in `dir` for writing, every sealed segment checked in full.
fn reopen_verifying(dir: &Path, options: &Options) -> Log {
    Log::open(
        dir,
        Options {
            verify_sealed_on_open: true,
            ..options.clone()
        },
    )
    .unwrap()
}

fn read_all(log: &Log) -> Vec<Vec<u8>> {
    log.reader()
        .iter()
        .map(|item| item.unwrap().payload.to_vec())
        .collect()
}

#[test]
fn a_small_log_takes_little_disk_once_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    for line in lines(1..=1000) {
        log.append(&line).unwrap();
    }
    // While open, the space ahead of the writer is backed (a few MiB, not the segment).
    let open = allocated(dir.path());
    assert!(open < 16 << 20, "open: {open} bytes allocated");
    log.close().unwrap();
    let closed = allocated(dir.path());
    assert!(closed < 1 << 20, "closed: {closed} bytes allocated");
    let segment = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .unwrap();
    assert_eq!(
        segment.metadata().unwrap().len(),
        Options::default().segment_size,
        "the file keeps its length"
    );

    // Reopened, it resumes the segment, writes, and gives the space back again.
    let log = reopen_verifying(dir.path(), &Options::default());
    assert_eq!(
        allocated(dir.path()),
        closed,
        "resuming the segment allocates nothing until it is written to"
    );
    assert_eq!(read_all(&log), lines(1..=1000));
    for line in lines(1001..=2000) {
        log.append(&line).unwrap();
    }
    log.close().unwrap();
    assert!(allocated(dir.path()) < 1 << 20);
    let log = Log::open_read_only(dir.path(), Options::default()).unwrap();
    assert_eq!(read_all(&log), lines(1..=2000));
}

#[test]
fn a_sealed_segment_gives_its_unused_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 32 << 20,
        durability: Durability::OnSync,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    for line in lines(1..=100) {
        log.append(&line).unwrap();
    }
    log.rotate_now().unwrap();
    log.append(b"next").unwrap();
    log.sync().unwrap();
    let first = dir.path().join("00000000000000000001.seg");
    let sealed = std::fs::metadata(&first).unwrap().blocks() * 512;
    assert!(sealed < 1 << 20, "sealed: {sealed} bytes allocated");
    log.close().unwrap();
    let log = reopen_verifying(dir.path(), &options);
    let mut expected = lines(1..=100);
    expected.push(b"next".to_vec());
    assert_eq!(read_all(&log), expected);
    assert!(
        log.recovery_report().is_clean(),
        "{:?}",
        log.recovery_report()
    );
    assert_eq!(log.read(Lsn(101)).unwrap().as_deref(), Some(&b"next"[..]));
}

#[test]
fn segments_fill_through_their_backing_and_rotate() {
    // Past the first piece backed at creation, and through segments prepared in the
    // background: every record lands, in order.
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 24 << 20,
        durability: Durability::None,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    let payload = vec![7u8; 4000];
    for _ in 0..15_000 {
        log.append(&payload).unwrap();
    }
    assert!(log.segments().len() >= 3);
    log.close().unwrap();
    let log = reopen_verifying(dir.path(), &options);
    assert_eq!(log.last_lsn(), Lsn(15_000));
    assert!(log.reader().iter().all(|r| r.unwrap().payload == payload));
}

#[test]
fn the_operator_tool_leaves_a_small_log_small() {
    // `seq 1 1000 | interstice append DIR`, then `du -s DIR`: under 8 MiB, and every line is
    // there (`dump`), and `verify` finds the log intact.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let input = (1..=1000).fold(String::new(), |mut input, n| {
        input.push_str(&n.to_string());
        input.push('\n');
        input
    });
    let appended = common::run(&["append", common::s(&log)], input.as_bytes());
    assert!(appended.status.success(), "{appended:?}");
    let bytes = allocated(&log);
    assert!(bytes < 8 << 20, "{bytes} bytes allocated");
    let expected: Vec<String> = (1..=1000).map(|n| n.to_string()).collect();
    assert_eq!(common::dump(&log), expected);
    let (code, _, stderr) = common::run_text(&["verify", common::s(&log)]);
    assert_eq!(code, 0, "{stderr}");
}
