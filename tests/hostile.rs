//! A hostile environment: files truncated, replaced or grown underneath the log, permissions
//! denied, a disk that really fills up, a second process holding the lock. None of them may end
//! in a SIGBUS, a panic, or an acknowledged record lost by the engine.
//!
//! Foreign files beside the segments, a missing directory and segments truncated while the log
//! is closed are in `tests/corruption.rs`; `RLIMIT_FSIZE` is there too.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::truncate_file;
use interstice::{Durability, Error, Log, Lsn, Options};

const SEGMENT_SIZE: u64 = 64 * 1024;

fn options() -> Options {
    Options {
        segment_size: SEGMENT_SIZE,
        ..Options::default()
    }
}

fn payload(lsn: u64) -> Vec<u8> {
    let len = 100 + (lsn * 37 % 700) as usize;
    (0..len).map(|i| (lsn as usize * 31 + i) as u8).collect()
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// A log of at least four segments, synced; returns it and its last LSN.
fn filled(dir: &Path) -> (Log, u64) {
    let log = Log::open(dir, options()).unwrap();
    let mut lsn = 0;
    while log.segments().len() < 4 {
        lsn = log.append(&payload(lsn + 1)).unwrap().0;
    }
    log.sync().unwrap();
    (log, lsn)
}

#[test]
fn sealed_segment_truncated_under_a_reader_is_an_error_not_a_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    let (log, last) = filled(dir.path());
    let reader = log.reader();
    let victim = segment_path(dir.path(), 2);
    let second = log.segments()[1].clone();
    let (first_lsn, last_lsn) = (second.first_lsn.unwrap().0, second.last_lsn.unwrap().0);
    assert_eq!(second.path, victim);
    truncate_file(&victim, 8192);

    // Every record before the cut comes back intact, then an error that names the file.
    let mut next = 1;
    let mut failure = None;
    for item in &reader {
        match item {
            Ok(record) => {
                assert_eq!(record.lsn, Lsn(next), "a record was skipped");
                assert_eq!(record.payload, payload(next), "wrong bytes at {next}");
                next += 1;
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let failure = failure.expect("the truncation went unnoticed");
    let message = failure.to_string();
    assert!(
        message.contains("00000000000000000002.seg") && message.contains("truncated"),
        "{message}"
    );
    assert!(next > first_lsn, "records before the cut were lost");
    assert!(next <= last_lsn, "records past the cut were read");

    // `get` and `replay` over the cut fail the same way, and the active segment is unharmed.
    assert!(reader.get(Lsn(last_lsn)).is_err());
    let replayed = log.replay(Lsn::ZERO, |_| Ok::<(), Error>(()));
    assert!(replayed.is_err());
    let appended = log.append(b"the active segment still works").unwrap();
    assert_eq!(appended, Lsn(last + 1));
    log.sync().unwrap();
    drop(reader);
    log.close().unwrap();

    // The next open reports the short file by name.
    let error = Log::open(dir.path(), options()).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { path, .. } if *path == victim),
        "{error}"
    );
}

#[test]
fn active_segment_truncated_under_the_writer_fails_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    for lsn in 1..=20 {
        log.append(&payload(lsn)).unwrap();
    }
    log.sync().unwrap();
    let active = log.segments().last().unwrap().path.clone();
    truncate_file(&active, 4096);
    // The appends land in the (now zero-filled) mapping; making them durable must fail, so
    // none of them is acknowledged.
    for lsn in 21..=40 {
        log.append(&payload(lsn)).unwrap();
    }
    let error = log.sync().unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&active.display().to_string()) && message.contains("truncated"),
        "{message}"
    );
    assert_eq!(log.durable_lsn(), Lsn(20));
    assert!(matches!(log.append(b"x"), Err(Error::Poisoned { .. })));
    drop(log);
    let error = Log::open(dir.path(), options()).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { path, .. } if *path == active),
        "{error}"
    );
}

#[test]
fn every_append_durability_notices_the_truncation_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        Options {
            durability: Durability::EveryAppend,
            ..options()
        },
    )
    .unwrap();
    log.append(&payload(1)).unwrap();
    let active = log.segments().last().unwrap().path.clone();
    truncate_file(&active, 0);
    let error = log.append(&payload(2)).unwrap_err();
    assert!(error.to_string().contains("truncated"), "{error}");
    assert_eq!(log.durable_lsn(), Lsn(1));
}

#[test]
fn file_replaced_under_a_reader_keeps_serving_the_old_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (log, last) = filled(dir.path());
    let reader = log.reader();
    let victim = segment_path(dir.path(), 2);
    let impostor = dir.path().join("impostor");
    fs::write(&impostor, vec![0x5a; SEGMENT_SIZE as usize]).unwrap();
    fs::rename(&impostor, &victim).unwrap();
    // The mapping holds the old file: every record is still there, byte for byte.
    let read: Vec<u64> = reader
        .iter()
        .map(|item| {
            let record = item.unwrap();
            assert_eq!(record.payload, payload(record.lsn.0));
            record.lsn.0
        })
        .collect();
    assert_eq!(read, (1..=last).collect::<Vec<_>>());
    drop(reader);
    drop(log);
    let error = Log::open(dir.path(), options()).unwrap_err();
    assert!(
        matches!(&error, Error::NotALog { path, .. } if *path == victim),
        "{error}"
    );
}

#[test]
fn segment_longer_than_its_header_says_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = filled(dir.path());
    log.close().unwrap();
    for id in [2, 4] {
        let path = segment_path(dir.path(), id);
        let original = fs::read(&path).unwrap();
        truncate_file(&path, SEGMENT_SIZE + 4096);
        for open in [Log::open, Log::open_read_only] {
            let error = open(dir.path(), options()).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(&error, Error::Corrupt { path: p, .. } if *p == path)
                    && message.contains("header says"),
                "segment {id}: {message}"
            );
        }
        fs::write(&path, original).unwrap();
    }
    Log::open(dir.path(), options()).unwrap();
}

// ---- permissions ----

/// The `interstice` binary run as an unprivileged user when this process is root (root
/// ignores permission bits), else as ourselves; a copy of it is placed in `scratch`, which that
/// user can reach.
fn unprivileged(scratch: &Path, args: &[&Path]) -> Command {
    use std::os::unix::process::CommandExt;
    let binary = scratch.join("interstice");
    if !binary.exists() {
        fs::copy(env!("CARGO_BIN_EXE_interstice"), &binary).unwrap();
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut command = Command::new(&binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: `geteuid` has no preconditions.
    #[allow(unsafe_code)]
    if unsafe { libc::geteuid() } == 0 {
        command.uid(65534).gid(65534);
    }
    command
}

#[test]
fn permission_denied_is_an_error_naming_the_path() {
    let scratch = tempfile::tempdir().unwrap();
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dir = scratch.path().join("log");
    let (log, _) = filled(&dir);
    log.close().unwrap();

    // A directory the user may read but not write: writable opens fail, reading works.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    for file in fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut child = unprivileged(scratch.path(), &[Path::new("append"), &dir])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may already have failed and closed its end.
    let _ = child.stdin.take().unwrap().write_all(b"denied\n");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "append succeeded: {stderr}");
    assert!(
        stderr.contains(&dir.display().to_string()) && stderr.contains("ermission denied"),
        "{stderr}"
    );
    let verify = unprivileged(scratch.path(), &[Path::new("verify"), &dir])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "a readable log fails to verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // A segment the user may not read: reading fails and names it.
    let second = segment_path(&dir, 2);
    fs::set_permissions(&second, fs::Permissions::from_mode(0o600)).unwrap();
    let dump = unprivileged(scratch.path(), &[Path::new("dump"), &dir])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&dump.stderr);
    assert!(!dump.status.success());
    assert!(
        stderr.contains("00000000000000000002.seg") && stderr.contains("ermission denied"),
        "{stderr}"
    );

    // A directory the user may not list.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let stats = unprivileged(scratch.path(), &[Path::new("stats"), &dir])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&stats.stderr);
    assert!(!stats.status.success());
    assert!(stderr.contains(&dir.display().to_string()), "{stderr}");

    // Nothing was changed: the owner reads every record back.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let log = Log::open(&dir, options()).unwrap();
    for item in &log.reader() {
        let record = item.unwrap();
        assert_eq!(record.payload, payload(record.lsn.0));
    }
}

// ---- a second process holding the lock ----

/// `interstice append DIR ARGS...` with its stdin piped.
fn spawn_append(dir: &Path, args: &[&str]) -> (Child, ChildStdin) {
    let mut writer = Command::new(env!("CARGO_BIN_EXE_interstice"))
        .arg("append")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdin = writer.stdin.take().unwrap();
    (writer, stdin)
}

/// Waits (30 s at most) for `path` to exist.
fn wait_for(path: &Path, never: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{never}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_second_process_cannot_write_while_a_writer_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, mut stdin) = spawn_append(dir.path(), &[]);
    // The writer has the lock once the directory holds a segment; wait for that.
    wait_for(&segment_path(dir.path(), 1), "the writer never started");
    stdin.write_all(b"first\nsecond\n").unwrap();
    stdin.flush().unwrap();
    let error = Log::open(dir.path(), options()).unwrap_err();
    assert!(matches!(error, Error::Locked { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains(&dir.path().display().to_string())
    );
    // Readers are welcome meanwhile.
    Log::open_read_only(dir.path(), options()).unwrap();
    drop(stdin);
    assert!(writer.wait().unwrap().success());
    let log = Log::open(dir.path(), options()).unwrap();
    let lines: Vec<Vec<u8>> = log
        .reader()
        .iter()
        .map(|item| item.unwrap().payload.to_vec())
        .collect();
    assert_eq!(lines, [b"first".to_vec(), b"second".to_vec()]);
}

// ---- a disk that really fills up ----

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes`; `None` when this process may not mount (not root).
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Appends and syncs until the disk is full; returns the last durable LSN and the failure,
/// which must be a full-disk error naming the log.
fn fill_until_full(log: &Log, dir: &Path) -> u64 {
    let mut acknowledged = 0;
    let failure = loop {
        let appended = log.append(&payload(acknowledged + 1));
        if let Err(error) = appended {
            break error;
        }
        match log.sync() {
            Ok(durable) => acknowledged = durable.0,
            Err(error) => break error,
        }
        assert!(acknowledged < 100_000, "the disk never filled");
    };
    assert!(failure.is_no_space(), "not a full-disk error: {failure}");
    assert!(
        failure.to_string().contains(&dir.display().to_string()),
        "{failure}"
    );
    assert!(acknowledged > 0);
    acknowledged
}

/// Every acknowledged record is in the log in `dir`, reopened on the full disk itself, and
/// no temporary file of a failed preparation stayed behind.
fn assert_all_acknowledged(dir: &Path, options: Options, acknowledged: u64) {
    let log = Log::open(dir, options).unwrap();
    let mut read = 0;
    for item in &log.reader() {
        let record = item.unwrap();
        assert_eq!(record.payload, payload(record.lsn.0));
        read = record.lsn.0;
    }
    assert!(
        read >= acknowledged,
        "acknowledged records lost: {read} < {acknowledged}"
    );
    let leftovers: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| Path::new(name).extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_full_disk_fails_the_segment_allocation_cleanly() {
    // Five segments and the writer's beacon page (`interstice.ends`). On tmpfs even a read
    // of a hole allocates a page: the reopen's walk of the last segment's unused space needs
    // the page the beacon would otherwise take, or it faults (`SIGBUS`, which the mapping's
    // guard turns into an error naming the segment).
    let Some(disk) = SmallDisk::mount(5 * SEGMENT_SIZE + 4096) else {
        // Mounting needs root; `full_disk_fails_cleanly_and_keeps_acknowledged_records` in
        // tests/corruption.rs covers the failing allocation with RLIMIT_FSIZE.
        eprintln!("cannot mount a tmpfs here: the real full-disk case is not exercised");
        return;
    };
    let dir = disk.dir.path().join("log");
    let log = Log::open(&dir, options()).unwrap();
    let acknowledged = fill_until_full(&log, &dir);
    drop(log);
    assert_all_acknowledged(&dir, options(), acknowledged);
}

/// A segment larger than the disk: its file is created at full length with few blocks, and
/// the disk fills while the writer backs its data area ahead of itself. The append that
/// finds no block fails (a write into a hole of a full tmpfs would raise `SIGBUS` and kill
/// this test), the log still closes cleanly on the full disk, and reopens there.
#[test]
fn a_disk_that_fills_inside_a_segment_fails_the_append_and_still_closes() {
    for durability in [Durability::OnSync, Durability::EveryAppend] {
        let Some(disk) = SmallDisk::mount(6 << 20) else {
            eprintln!("cannot mount a tmpfs here: the real full-disk case is not exercised");
            return;
        };
        let dir = disk.dir.path().join("log");
        let options = Options {
            segment_size: 32 << 20,
            durability,
            ..Options::default()
        };
        let log = Log::open(&dir, options.clone()).unwrap();
        let acknowledged = fill_until_full(&log, &dir);
        assert_eq!(
            log.segments().len(),
            1,
            "the disk filled inside the first segment"
        );
        log.close().unwrap();
        assert_all_acknowledged(&dir, options, acknowledged);
    }
}

/// Fills the file system holding `dir` with a file of zeroes until it is full.
fn fill_disk(dir: &Path) {
    let mut filler = fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while filler.write_all(&chunk).is_ok() {}
    while filler.write_all(&chunk[..4096]).is_ok() {}
    let _ = filler.sync_all();
}

/// A cleanly closed segment keeps blocks for what a writer resuming it writes before it
/// backs anything: its first markers, and the index entries of records in its last page.
/// Reopened on a full disk, an append that is indexed there and the close that writes the
/// index must not write into a hole (that would raise `SIGBUS`; the guard would turn it into
/// a failed flush and a poisoned log). Every count of 4 KiB records around an index page
/// boundary is tried.
#[test]
fn a_log_reopened_on_a_full_disk_still_appends_into_its_last_page_and_closes() {
    for records in 3..=8u64 {
        let Some(disk) = SmallDisk::mount(4 << 20) else {
            eprintln!("cannot mount a tmpfs here: the real full-disk case is not exercised");
            return;
        };
        let dir = disk.dir.path().join("log");
        let options = Options::default();
        let log = Log::open(&dir, options.clone()).unwrap();
        for lsn in 1..=records {
            log.append(&vec![lsn as u8; 4096]).unwrap();
        }
        log.close().unwrap();
        fill_disk(disk.dir.path());
        let log = Log::open(&dir, options.clone()).unwrap();
        let small = log.append(b"small");
        let last = if small.is_ok() { records + 1 } else { records };
        log.close().unwrap();
        let log = Log::open_read_only(&dir, options).unwrap();
        assert_eq!(log.last_lsn(), Lsn(last), "{records} records");
        assert!(log.reader().iter().all(|r| r.is_ok()));
    }
}

/// A reader that opened the log while another process writes it keeps seeing whole, correct
/// records after that process is killed (`SIGKILL`).
#[test]
fn a_reader_walking_while_the_writer_process_is_killed_sees_only_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let size = SEGMENT_SIZE.to_string();
    let (mut writer, mut stdin) = spawn_append(dir.path(), &["--segment-size", &size]);
    let line = "w".repeat(300);
    for _ in 0..2000 {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    wait_for(&segment_path(dir.path(), 2), "the writer never rotated");
    let reader_log = Log::open_read_only(dir.path(), options()).unwrap();
    writer.kill().unwrap();
    let status = writer.wait().unwrap();
    assert!(!status.success());
    for item in &reader_log.reader() {
        assert_eq!(item.unwrap().payload, line.as_bytes());
    }
}
