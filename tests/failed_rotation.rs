//! A rotation that failed because the next segment could not be created (a full disk, here a
//! file size limit) once left the writer on a segment it had already sealed: the next append
//! or sync panicked ("write outside the unfrozen area") instead of returning an error. A
//! failed rotation now leaves the log exactly as it was: the active segment keeps taking the
//! records that fit, each append that needs a new segment fails cleanly, and the log
//! continues once space is back.
//!
//! This file holds one test: it lowers the process's file size limit.

mod common;

use common::set_file_size_limit;
use interstice::{Error, Log, Lsn, Options};

#[test]
fn a_failed_rotation_leaves_the_log_usable() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 16 * 1024,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    log.append(b"one").unwrap();
    log.rotate_now().unwrap();
    // No new segment file can be created from here on.
    set_file_size_limit(8 * 1024);
    log.append(b"two").unwrap();
    let failed = log.rotate_now().unwrap_err();
    assert!(failed.is_no_space(), "{failed}");
    // The active segment still takes what fits.
    assert_eq!(log.append(b"three").unwrap(), Lsn(3));
    let mut appended = vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
    let full = loop {
        let record = vec![b'x'; 1000];
        match log.append(&record) {
            Ok(lsn) => {
                assert_eq!(lsn, Lsn(appended.len() as u64 + 1));
                appended.push(record);
            }
            Err(error) => break error,
        }
        assert!(
            appended.len() < 100,
            "the file size limit never stopped the log"
        );
    };
    assert!(
        matches!(full, Error::Io { .. }) && full.is_no_space(),
        "{full}"
    );
    let batch = log.append_batch(&[b"a", b"b"]);
    assert!(batch.is_err() || log.last_lsn() == Lsn(appended.len() as u64 + 2));
    if batch.is_ok() {
        appended.push(b"a".to_vec());
        appended.push(b"b".to_vec());
    }
    assert_eq!(log.sync().unwrap(), Lsn(appended.len() as u64));
    // Once space is back, the log continues.
    set_file_size_limit(libc::RLIM_INFINITY);
    let lsn = log.append(b"after").unwrap();
    assert_eq!(lsn, Lsn(appended.len() as u64 + 1));
    appended.push(b"after".to_vec());
    log.close().unwrap();
    let log = Log::open(dir.path(), options).unwrap();
    let records: Vec<Vec<u8>> = log
        .reader()
        .iter()
        .map(|r| r.unwrap().payload.to_vec())
        .collect();
    assert_eq!(records, appended);
}
