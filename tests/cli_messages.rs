//! What the binary says at the edges: a digest of a range the log does not hold, a repair of a
//! locked log, a path that is a file, a verify of a log whose newest segment is a stub.

mod common;

use std::fs;

use common::{append, lines, run_text, s};
use interstice::{Log, Lsn, Options};

#[test]
fn digest_refuses_a_range_the_log_does_not_hold() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    append(&dir, &lines(1..=1000), "64KiB");
    let (code, out, _) = run_text(&["digest", s(&dir), "--upto", "1000"]);
    assert_eq!(code, 0);
    assert!(out.contains("1000 records"), "{out}");
    let (code, out, err) = run_text(&["digest", s(&dir), "--upto", "2000"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty(), "no digest printed: {out}");
    assert!(
        err.contains("ends at LSN 1000") && err.contains("2000"),
        "{err}"
    );
}

#[test]
fn repair_of_a_locked_log_says_to_stop_the_writer() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let log = Log::open(&dir, Options::default()).unwrap();
    log.append(b"one").unwrap();
    let (code, _, err) = run_text(&["repair", s(&dir), "--strategy", "truncate"]);
    assert_eq!(code, 1);
    assert!(err.contains("locked") && err.contains("stop it"), "{err}");
    assert!(!err.contains("read-only"), "{err}");
    log.close().unwrap();
}

#[test]
fn a_path_that_is_a_file_is_not_a_directory() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("plain");
    fs::write(&file, b"not a log").unwrap();
    let error = Log::open(&file, Options::default()).unwrap_err();
    assert!(
        matches!(error, interstice::Error::NotALog { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("not a directory"), "{error}");
    let output = common::run(&["append", s(&file)], b"x\n");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(fs::read(&file).unwrap(), b"not a log");
}

#[test]
fn truncating_after_the_end_removes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let log = Log::open(root.path(), Options::default()).unwrap();
    log.append(b"one").unwrap();
    log.truncate_after(Lsn(50)).unwrap();
    assert_eq!(log.last_lsn(), Lsn(1));
    assert_eq!(log.append(b"two").unwrap(), Lsn(2));
    log.close().unwrap();
}

#[test]
fn verify_and_dump_accept_a_stub_newest_segment_and_append_sets_it_aside() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    {
        let log = Log::open(&dir, Options::default()).unwrap();
        log.append(b"one").unwrap();
        log.rotate_now().unwrap();
        log.close().unwrap();
    }
    let stub = dir.join(format!("{:020}.seg", 2));
    fs::write(&stub, b"").unwrap();
    let (code, out, err) = run_text(&["verify", s(&dir)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("unfinished"), "{out}");
    let (code, out, _) = run_text(&["dump", s(&dir)]);
    assert_eq!((code, out.as_str()), (0, "one\n"));
    let output = common::run(&["append", s(&dir)], b"two\n");
    assert!(output.status.success());
    assert_eq!(common::dump(&dir), vec!["one", "two"]);
}
