//! A truncate repair of a log whose first segment header is damaged removes every segment.
//! It moved the files to quarantine, then failed verifying the directory it had emptied
//! (`NotALog`: no segment files), so the caller saw an error although the log had changed.
//! The verification after a repair now takes a directory without segments for an intact,
//! empty log; opening it starts a new log.

use interstice::recovery::{Strategy, repair};
use interstice::{Log, Lsn, Options};

#[test]
fn truncate_repair_that_removes_every_segment_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 16 * 1024,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    log.append(b"lost with its segment").unwrap();
    log.close().unwrap();
    let path = dir.path().join(format!("{:020}.seg", 1));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();

    let report = repair(dir.path(), Strategy::Truncate, false).unwrap();
    assert_eq!(report.records_kept, 0);
    assert!(!path.exists(), "the damaged segment is moved to quarantine");
    let quarantined = std::fs::read(&report.quarantined[0]).unwrap();
    assert_eq!(quarantined, bytes);
    let after = report
        .after
        .expect("a repair carried out verifies the result");
    assert!(after.is_intact() && after.segments.is_empty());

    let log = Log::open(dir.path(), options).unwrap();
    assert_eq!(log.first_lsn(), None);
    assert_eq!(log.append(b"a new log").unwrap(), Lsn(1));
}
