//! Followers in another process than the writer: a read-only open follows a child writer
//! across rotations, truncations and retention; a writer killed (`SIGKILL`) mid-stream leaves
//! followers at whole, valid records, and they go on when a new writer opens;
//! `interstice dump --follow` waits for the log, prints each durable record once, and exits 0
//! on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use interstice::{Error, FollowMode, Log, Lsn, Options, Waiting};

const DIR_VAR: &str = "INTERSTICE_FOLLOW_DIR";
const COUNT_VAR: &str = "INTERSTICE_FOLLOW_COUNT";
const SEGMENT: u64 = 64 << 10;
const ACK: &str = "ACK ";

fn options() -> Options {
    Options {
        segment_size: SEGMENT,
        ..Options::default()
    }
}

fn payload(lsn: u64) -> Vec<u8> {
    let len = 8 + (lsn * 7919 % 200) as usize;
    let mut bytes = format!("record {lsn}").into_bytes();
    bytes.resize(len, b'.');
    bytes
}

/// The child: appends records (single and in batches) up to LSN `count`, syncing every few
/// and printing `ACK <durable lsn>`; then closes. A new child continues where the log ends.
#[test]
#[ignore = "run by the follower tests as a child process"]
fn follow_writer_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let count: u64 = std::env::var(COUNT_VAR).unwrap().parse().unwrap();
    let log = Log::open(&dir, options()).unwrap();
    let mut stdout = std::io::stdout().lock();
    let mut lsn = log.last_lsn().0 + 1;
    while lsn <= count {
        let batch = (lsn % 4 + 1).min(count - lsn + 1);
        let records: Vec<Vec<u8>> = (lsn..lsn + batch).map(payload).collect();
        log.append_batch(&records).unwrap();
        lsn += batch;
        if lsn.is_multiple_of(5) {
            let durable = log.sync().unwrap();
            writeln!(stdout, "{ACK}{}", durable.0).unwrap();
            stdout.flush().unwrap();
        }
    }
    let durable = log.sync().unwrap();
    writeln!(stdout, "{ACK}{}", durable.0).unwrap();
    stdout.flush().unwrap();
    log.close().unwrap();
}

const CHURN_VAR: &str = "INTERSTICE_FOLLOW_CHURN";

/// The churning child: appends up to LSN `count` under retention, cutting the last few
/// records now and then (`truncate_after`) and writing them again with a new generation in
/// their payload, so that a record read before a cut differs from the one after it.
#[test]
#[ignore = "run by the follower tests as a child process"]
fn follow_churn_child() {
    let Ok(dir) = std::env::var(CHURN_VAR) else {
        return;
    };
    let count: u64 = std::env::var(COUNT_VAR).unwrap().parse().unwrap();
    let options = Options {
        retention: interstice::Retention {
            segments_max: Some(12),
            ..interstice::Retention::default()
        },
        ..options()
    };
    let log = Log::open(&dir, options).unwrap();
    let mut generation = 0u64;
    let mut lsn = log.last_lsn().0 + 1;
    let mut next_cut = 400;
    while lsn <= count {
        let batch = (lsn % 3 + 1).min(count - lsn + 1);
        let records: Vec<Vec<u8>> = (lsn..lsn + batch)
            .map(|l| churn_payload(l, generation))
            .collect();
        log.append_batch(&records).unwrap();
        lsn += batch;
        if lsn.is_multiple_of(4) {
            log.sync().unwrap();
        }
        if lsn >= next_cut {
            next_cut = lsn + 397;
            let kept = lsn - 1 - (lsn % 11);
            log.truncate_after(Lsn(kept)).unwrap();
            generation += 1;
            lsn = kept + 1;
        }
    }
    log.sync().unwrap();
    log.close().unwrap();
}

fn churn_payload(lsn: u64, generation: u64) -> Vec<u8> {
    let mut bytes = format!("{lsn}:{generation}:").into_bytes();
    bytes.resize(16 + (lsn * 31 % 180) as usize, b'c');
    bytes
}

/// Follows `log` until `done` says the writer finished and nothing more comes, restarting
/// after each truncation below what was read: returns the records as the follower's model
/// has them (each truncation drops what it removed).
fn follow_through_churn(
    log: &Log,
    mode: FollowMode,
    done: &dyn Fn() -> bool,
) -> Vec<(u64, Vec<u8>)> {
    let mut model: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut truncations = 0;
    'follow: loop {
        let from = model.last().map_or(Lsn::ZERO, |(lsn, _)| Lsn(lsn + 1));
        let mut follower = log.follow(from, mode);
        loop {
            match follower.next(Duration::from_millis(200)) {
                Ok(Some(record)) => {
                    if let Some((last, _)) = model.last() {
                        assert_eq!(record.lsn.0, last + 1, "each record once, in order");
                    }
                    model.push((record.lsn.0, record.payload.to_vec()));
                }
                Ok(None) if done() => break 'follow,
                Ok(None) => {}
                Err(Error::FollowerTruncated { kept, position, .. }) => {
                    assert!(kept < position);
                    assert_eq!(position.0, model.last().unwrap().0);
                    model.retain(|(lsn, _)| *lsn <= kept.0);
                    truncations += 1;
                    continue 'follow;
                }
                Err(error) => panic!("{error}"),
            }
        }
    }
    assert!(
        truncations > 0 || mode == FollowMode::Durable,
        "the churn truncated below the follower"
    );
    model
}

#[test]
fn a_follower_in_another_process_keeps_up_through_truncations_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let total = 12_000u64;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "follow_churn_child", "--nocapture", "--ignored"])
        .env(CHURN_VAR, dir.path())
        .env(COUNT_VAR, total.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = open_when_there(dir.path());
    let finished = std::sync::atomic::AtomicBool::new(false);
    let models = std::thread::scope(|scope| {
        let followers: Vec<_> = [FollowMode::Durable, FollowMode::Appended]
            .into_iter()
            .map(|mode| {
                let (log, finished) = (&log, &finished);
                scope.spawn(move || {
                    follow_through_churn(log, mode, &|| {
                        finished.load(std::sync::atomic::Ordering::Acquire)
                    })
                })
            })
            .collect();
        assert!(child.wait().unwrap().success());
        finished.store(true, std::sync::atomic::Ordering::Release);
        followers
            .into_iter()
            .map(|f| f.join().unwrap())
            .collect::<Vec<_>>()
    });
    // What each follower ends with is the log as it is: the same records, byte for byte.
    let after = Log::open_read_only(dir.path(), options()).unwrap();
    let first = after.first_lsn().unwrap().0;
    let reader = after.reader();
    let held: Vec<(u64, Vec<u8>)> = reader
        .iter()
        .map(|r| r.unwrap())
        .map(|r| (r.lsn.0, r.payload.to_vec()))
        .collect();
    assert_eq!(held.last().unwrap().0, total);
    for model in models {
        let kept: Vec<_> = model.into_iter().filter(|(lsn, _)| *lsn >= first).collect();
        assert_eq!(kept, held);
    }
}

/// `interstice dump DIR --follow ARGS`, its output piped.
fn spawn_dump_follow(dir: &Path, args: &[&str]) -> Child {
    common::bin()
        .args(["dump", dir.to_str().unwrap(), "--follow"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn spawn_writer(dir: &Path, count: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "follow_writer_child", "--nocapture", "--ignored"])
        .env(DIR_VAR, dir)
        .env(COUNT_VAR, count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads the child's acknowledgements until one reaches `at_least`; returns the highest.
fn acks_until(child: &mut Child, at_least: u64) -> u64 {
    let stdout = child.stdout.as_mut().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = 0;
    while acked < at_least {
        let Some(Ok(line)) = lines.next() else {
            break;
        };
        if let Some(lsn) = line.strip_prefix(ACK) {
            acked = acked.max(lsn.parse().unwrap());
        }
    }
    acked
}

fn open_when_there(dir: &Path) -> Log {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Log::open_read_only(dir, options()) {
            Ok(log) => return log,
            Err(Error::NotALog { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("read-only open: {error}"),
        }
    }
}

/// Follows until LSN `last`, checking order and payloads.
fn follow_to(log: &Log, mode: FollowMode, waiting: Waiting, last: u64) {
    let mut follower = log.follow(Lsn::ZERO, mode).waiting(waiting);
    let deadline = Instant::now() + Duration::from_mins(1);
    let mut expected = 1;
    while expected <= last {
        assert!(Instant::now() < deadline, "stuck at LSN {expected}");
        if let Some(record) = follower.next(Duration::from_millis(200)).unwrap() {
            assert_eq!(record.lsn, Lsn(expected));
            assert_eq!(record.payload, payload(expected).as_slice());
            expected += 1;
        }
    }
}

#[test]
fn a_read_only_follower_follows_a_writer_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let total = 8_000;
    let mut child = spawn_writer(dir.path(), total);
    let log = open_when_there(dir.path());
    std::thread::scope(|scope| {
        for (mode, waiting) in [
            (FollowMode::Durable, Waiting::Block),
            (FollowMode::Appended, Waiting::Block),
            (FollowMode::Appended, Waiting::Spin),
        ] {
            let log = &log;
            scope.spawn(move || follow_to(log, mode, waiting, total));
        }
    });
    assert!(child.wait().unwrap().success());
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
        .count();
    assert!(
        segments > 5,
        "the test crosses rotations ({segments} segments)"
    );
}

#[test]
fn a_writer_killed_mid_stream_leaves_followers_at_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_writer(dir.path(), 1_000_000);
    let acked = acks_until(&mut child, 3_000);
    let log = open_when_there(dir.path());
    let mut durable = log.follow(Lsn::ZERO, FollowMode::Durable);
    let mut appended = log.follow(Lsn::ZERO, FollowMode::Appended);
    child.kill().unwrap();
    child.wait().unwrap();
    // Everything acknowledged is there, then nothing more comes: the followers wait.
    let mut durable_seen = Vec::new();
    while let Some(record) = durable.next(Duration::from_millis(300)).unwrap() {
        durable_seen.push((record.lsn.0, record.payload.to_vec()));
    }
    let mut appended_seen = Vec::new();
    while let Some(record) = appended.next(Duration::from_millis(300)).unwrap() {
        appended_seen.push((record.lsn.0, record.payload.to_vec()));
    }
    let durable_last = durable_seen.last().unwrap().0;
    assert!(
        durable_last >= acked,
        "acknowledged {acked}, followed {durable_last}"
    );
    assert!(appended_seen.len() >= durable_seen.len());
    for (i, (lsn, bytes)) in appended_seen.iter().enumerate() {
        assert_eq!(*lsn, i as u64 + 1);
        assert_eq!(bytes, &payload(*lsn), "only whole, valid records");
    }
    // A new writer recovers the log and continues; the durable follower goes on seamlessly.
    let total = durable_last + 2_000;
    let mut writer = spawn_writer(dir.path(), total);
    let mut next = durable_last + 1;
    let deadline = Instant::now() + Duration::from_mins(1);
    while next <= total {
        assert!(Instant::now() < deadline, "stuck at {next}");
        if let Some(record) = durable.next(Duration::from_millis(200)).unwrap() {
            assert_eq!(record.lsn, Lsn(next));
            assert_eq!(record.payload, payload(next).as_slice());
            next += 1;
        }
    }
    assert!(writer.wait().unwrap().success());
    // The appended follower either goes on (recovery kept what it read) or says it read
    // records that recovery discarded: never a wrong record.
    let mut expected = appended_seen.len() as u64 + 1;
    loop {
        match appended.next(Duration::from_millis(300)) {
            Ok(Some(record)) => {
                assert_eq!(record.lsn, Lsn(expected));
                assert_eq!(record.payload, payload(expected).as_slice());
                expected += 1;
            }
            Ok(None) => {
                assert_eq!(expected, total + 1);
                break;
            }
            Err(Error::FollowerTruncated { kept, position, .. }) => {
                assert!(kept < position && kept.0 >= durable_last.min(position.0));
                break;
            }
            Err(error) => panic!("{error}"),
        }
    }
    // What the followers handed out is what a later reader finds.
    let reopened = Log::open_read_only(dir.path(), options()).unwrap();
    for (lsn, bytes) in &durable_seen {
        assert_eq!(
            reopened.read(Lsn(*lsn)).unwrap().as_deref(),
            Some(&bytes[..])
        );
    }
}

#[test]
fn dump_follow_waits_for_the_log_prints_each_record_once_and_exits_0_on_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let mut dump = spawn_dump_follow(&dir, &["--with-lsn"]);
    std::thread::sleep(Duration::from_millis(200));
    let total = 3_000;
    let mut writer = spawn_writer(&dir, total);
    let mut lines = BufReader::new(dump.stdout.take().unwrap()).lines();
    for lsn in 1..=total {
        let line = lines.next().expect("a line per record").unwrap();
        let expected = format!("{lsn}\t{}", String::from_utf8(payload(lsn)).unwrap());
        assert_eq!(line, expected);
    }
    assert!(writer.wait().unwrap().success());
    let killed = Command::new("kill")
        .args(["-TERM", &dump.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = dump.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM ends a follow with status 0"
    );
    assert!(
        lines.next().is_none(),
        "no record printed twice or beyond the log"
    );
}

#[test]
fn dump_follow_exits_non_zero_when_the_log_is_removed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let mut writer = spawn_writer(&dir, 100);
    assert!(writer.wait().unwrap().success());
    let dump = spawn_dump_follow(&dir, &[]);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_dir_all(&dir).unwrap();
    let output = common::wait_output(dump);
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(dir.to_str().unwrap()), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 100);
}

#[test]
fn dump_follow_fails_naming_the_log_when_it_is_truncated_below_what_it_printed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let mut writer = spawn_writer(&dir, 100);
    assert!(writer.wait().unwrap().success());
    let mut dump = spawn_dump_follow(&dir, &[]);
    let mut lines = BufReader::new(dump.stdout.take().unwrap()).lines();
    for lsn in 1..=100 {
        let line = lines.next().unwrap().unwrap();
        assert_eq!(line.as_bytes(), payload(lsn).as_slice());
    }
    let log = Log::open(&dir, options()).unwrap();
    log.truncate_after(Lsn(50)).unwrap();
    log.append(b"a new 51").unwrap();
    log.sync().unwrap();
    let output = common::wait_output(dump);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(dir.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("truncated after LSN 50"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing printed twice or wrong");
    log.close().unwrap();
}

#[test]
fn dump_follow_ends_quietly_when_its_reader_goes_away() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let mut writer = spawn_writer(&dir, 20_000);
    assert!(writer.wait().unwrap().success());
    let mut dump = spawn_dump_follow(&dir, &[]);
    let mut stdout = BufReader::new(dump.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    drop(stdout);
    let output = common::wait_output(dump);
    assert_eq!(
        output.status.code(),
        Some(0),
        "a closed stdout is a quiet end"
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
