//! A read-only open in `RecoveryMode::SkipCorrupt` let readers yield records the open-time
//! scan had rejected: the scan drops a batch whose later record is damaged and resumes at the
//! next commit marker, but the reader resynchronized on its own and handed out the batch's
//! intact first record, past the log's `last_lsn()` and unlike a writable open of the same
//! bytes. Readers now stop at the last LSN the segment held when they were taken.

use std::os::unix::fs::FileExt;

use interstice::{Log, Lsn, Options, RecoveryMode};

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
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&[0xff], offset + 2).unwrap();
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
