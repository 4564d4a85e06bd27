//! A read-only open in `RecoveryMode::SkipCorrupt` let readers yield records the open-time
//! scan had rejected: the scan drops a batch whose later record is damaged and resumes after
//! it, but the reader resynchronized on its own and handed out the batch's intact first
//! record -- past the log's `last_lsn()` when nothing valid followed, before `first_lsn()`
//! or between kept records otherwise, and unlike a writable open of the same bytes (which
//! pads what the scan skipped). Readers now jump over the ranges the scan skipped and stop at
//! the last LSN the segment held when they were taken.

use std::os::unix::fs::FileExt;

use interstice::{Log, Lsn, Options, RecoveryMode};

fn damage_header(log: Log, lsns: &[u64]) {
    let path = log.segments()[0].path.clone();
    let offsets: Vec<u64> = {
        let reader = log.reader();
        lsns.iter()
            .map(|&lsn| reader.get(Lsn(lsn)).unwrap().unwrap().offset)
            .collect()
    };
    drop(log);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    for offset in offsets {
        flip_byte(&file, offset + 2);
    }
}

fn records(log: &Log) -> Vec<(Lsn, Vec<u8>)> {
    log.reader()
        .iter()
        .map(|r| {
            let r = r.unwrap();
            (r.lsn, r.payload.to_vec())
        })
        .collect()
}

#[test]
fn read_only_skip_yields_nothing_past_last_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 16 * 1024,
        recovery: RecoveryMode::SkipCorrupt,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    log.append(b"one").unwrap();
    log.append(b"two").unwrap();
    log.sync().unwrap();
    log.append_batch(&[&b"three"[..], b"four"]).unwrap();
    log.sync().unwrap();
    let (path, offset) = {
        let reader = log.reader();
        let record = reader.get(Lsn(4)).unwrap().unwrap();
        (log.segments()[0].path.clone(), record.offset)
    };
    drop(log);
    // Damage the header of record 4: the batch 3..=4 is incomplete.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    flip_byte(&file, offset + 2);
    drop(file);

    let read_only = Log::open_read_only(dir.path(), options.clone()).unwrap();
    let seen = records(&read_only);
    for (lsn, _) in &seen {
        assert!(
            *lsn <= read_only.last_lsn(),
            "{lsn} past last_lsn {}",
            read_only.last_lsn()
        );
    }
    drop(read_only);
    let writable = Log::open(dir.path(), options).unwrap();
    assert_eq!(
        records(&writable),
        seen,
        "read-only and writable opens disagree"
    );
    assert_eq!(seen, [(Lsn(1), b"one".to_vec()), (Lsn(2), b"two".to_vec())]);
}

#[test]
fn read_only_skip_yields_what_a_writable_open_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 16 * 1024,
        recovery: RecoveryMode::SkipCorrupt,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    log.append(b"one").unwrap();
    log.append(b"two").unwrap();
    log.append_batch(&[&b"three"[..], b"four"]).unwrap();
    log.append(b"five").unwrap();
    // Record 1 and the second record of the batch 3..=4 are damaged.
    damage_header(log, &[1, 4]);

    let read_only = Log::open_read_only(dir.path(), options.clone()).unwrap();
    let seen = records(&read_only);
    assert_eq!(read_only.first_lsn(), Some(Lsn(2)));
    drop(read_only);
    let writable = Log::open(dir.path(), options).unwrap();
    assert_eq!(
        records(&writable),
        seen,
        "read-only and writable opens disagree"
    );
    assert_eq!(
        seen,
        [(Lsn(2), b"two".to_vec()), (Lsn(5), b"five".to_vec())]
    );
}

/// Inverts one byte (writing a fixed value would leave it intact when it already held it:
/// header checks are seeded with the log's random id).
fn flip_byte(file: &std::fs::File, at: u64) {
    let mut byte = [0];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[!byte[0]], at).unwrap();
}
