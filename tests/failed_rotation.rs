//! A rotation that failed after sealing the active segment (the next segment could not be
//! created, as on a full disk) left the writer on the sealed segment: the next append or sync
//! wrote into its frozen mapping and panicked ("write outside the unfrozen area") instead of
//! returning an error, and a retry would have sealed it a second time. Now the writer treats
//! a sealed active segment as full and each append retries the rotation.

use std::fs;

use interstice::{Error, Log, Lsn, Options};

#[test]
fn append_after_a_failed_rotation_is_an_error_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 16 * 1024,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    // A directory where segment 3 is prepared makes its preparation fail.
    let obstacle = dir.path().join("00000000000000000003.seg.tmp");
    fs::create_dir(&obstacle).unwrap();
    log.append(b"one").unwrap();
    log.rotate_now().unwrap();
    log.append(b"two").unwrap();
    let failed = log.rotate_now().unwrap_err();
    assert!(matches!(failed, Error::Io { .. }), "{failed}");
    // Segment 2 is sealed; the writer is still on it.
    let again = log.append(b"three").unwrap_err();
    assert!(matches!(again, Error::Io { .. }), "{again}");
    let batch = log.append_batch(&[b"a", b"b"]).unwrap_err();
    assert!(matches!(batch, Error::Io { .. }), "{batch}");
    assert_eq!(log.sync().unwrap(), Lsn(2));
    // Once the obstacle is gone, the log continues.
    fs::remove_dir(&obstacle).unwrap();
    assert_eq!(log.append(b"three").unwrap(), Lsn(3));
    assert_eq!(log.sync().unwrap(), Lsn(3));
    log.close().unwrap();
    let log = Log::open(dir.path(), options).unwrap();
    let records: Vec<Vec<u8>> = log
        .reader()
        .iter()
        .map(|r| r.unwrap().payload.to_vec())
        .collect();
    assert_eq!(records, [&b"one"[..], b"two", b"three"]);
}
