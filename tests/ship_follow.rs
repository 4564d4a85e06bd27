//! `interstice::ship` and `Shipper`, and `interstice ship --follow`: a replica shipped while a
//! writer appends across rotations holds every durable record, byte-equal; it is a valid log
//! at every instant, whoever looks and whenever the shipper is stopped or killed.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{bin, json, records, run_text, s, wait_output};
use interstice::ship::{self, Action, ShipOptions, Shipper};
use interstice::{Error, Log, Lsn, Options, Retention};

/// Small segments, so that a few thousand records make several rotations.
fn options() -> Options {
    Options {
        segment_size: 64 << 10,
        ..Options::default()
    }
}

fn payload(lsn: u64) -> Vec<u8> {
    format!("record-{lsn}-{}", "x".repeat((lsn % 50) as usize)).into_bytes()
}

/// Appends records `from..=to`, syncing every `sync_every` records and at the end.
fn write(log: &Log, from: u64, to: u64, sync_every: u64) {
    for lsn in from..=to {
        assert_eq!(log.append(&payload(lsn)).unwrap(), Lsn(lsn));
        if lsn % sync_every == 0 {
            log.sync().unwrap();
        }
    }
    log.sync().unwrap();
}

/// The directories of a test: the source and the replica.
fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    (dir, src, dst)
}

/// Asserts that the log in `dir` verifies intact, opens read-only and holds records
/// `1..=n` with their payloads, for some `n` (returned).
fn assert_valid_prefix(dir: &Path) -> u64 {
    let report = interstice::recovery::verify::verify(dir).unwrap();
    assert!(report.is_intact(), "{report:#?}");
    assert!(report.torn_tail().is_none(), "{report:#?}");
    let log = Log::open_read_only(dir, Options::default()).unwrap();
    let held = records(&log);
    for (i, (lsn, bytes)) in held.iter().enumerate() {
        assert_eq!(*lsn, i as u64 + 1);
        assert_eq!(*bytes, payload(*lsn), "record {lsn}");
    }
    held.len() as u64
}

/// The replica's last LSN, 0 while it cannot be opened or holds nothing.
fn replica_last(dst: &Path) -> u64 {
    Log::open_read_only(dst, Options::default()).map_or(0, |log| log.last_lsn().0)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ship_copies_then_replaces_then_leaves_unchanged() {
    let (_dir, src, dst) = dirs();
    let log = Log::open(&src, options()).unwrap();
    write(&log, 1, 2000, 100);
    let first = ship::ship(&src, &dst, &ShipOptions::new()).unwrap();
    assert!(first.segments.len() >= 2, "{first:?}");
    assert_eq!(first.copied, first.segments.len());
    assert_eq!(first.shipped_lsn, Some(Lsn(2000)));
    let last = first.segments.last().unwrap();
    assert!(!last.sealed);
    assert!(
        first.segments[..first.segments.len() - 1]
            .iter()
            .all(|s| s.sealed)
    );
    assert_eq!(
        first.bytes_copied,
        first.segments.iter().map(|s| s.bytes).sum::<u64>()
    );
    assert_eq!(assert_valid_prefix(&dst), 2000);

    // Appended but not synced: not durable, so not shipped.
    log.append(&payload(2001)).unwrap();
    let again = ship::ship(&src, &dst, &ShipOptions::new()).unwrap();
    assert!(!again.changed(), "{again:?}");
    assert_eq!(again.shipped_lsn, Some(Lsn(2000)));

    write(&log, 2002, 4000, 100);
    let progress = std::sync::Arc::new(AtomicU64::new(0));
    let seen = std::sync::Arc::clone(&progress);
    let options = ShipOptions::new().on_progress(move |p| {
        assert!(p.done <= p.total);
        seen.store(p.done as u64, Ordering::Relaxed);
    });
    let second = ship::ship(&src, &dst, &options).unwrap();
    assert_eq!(
        progress.load(Ordering::Relaxed),
        second.segments.len() as u64
    );
    assert_eq!(
        second.replaced, 1,
        "the segment active at the first pass: {second:?}"
    );
    assert_eq!(
        second.segments[first.segments.len() - 1].action,
        Action::Replaced
    );
    assert_eq!(second.unchanged, first.segments.len() - 1);
    assert_eq!(second.shipped_lsn, Some(Lsn(4000)));
    assert_eq!(assert_valid_prefix(&dst), 4000);
    let json = serde_json::to_value(&second).unwrap();
    assert_eq!(json["shipped_lsn"], 4000);
    assert_eq!(json["segments"][0]["action"], "unchanged");
    log.close().unwrap();

    let source = Log::open_read_only(&src, Options::default()).unwrap();
    let replica = Log::open_read_only(&dst, Options::default()).unwrap();
    assert_eq!(records(&replica), records(&source));
}

#[test]
fn ship_refuses_a_replica_that_diverged_naming_it() {
    let (_dir, src, dst) = dirs();
    let log = Log::open(&src, options()).unwrap();
    write(&log, 1, 10, 5);
    ship::ship(&src, &dst, &ShipOptions::new()).unwrap();
    // Promoted: a writer continues the replica, then the source goes on differently.
    let promoted = Log::open(&dst, options()).unwrap();
    promoted.append(b"on the replica").unwrap();
    promoted.close().unwrap();
    write(&log, 11, 12, 5);
    let error = ship::ship(&src, &dst, &ShipOptions::new()).unwrap_err();
    let Error::ReplicaDiverged { path, reason } = &error else {
        panic!("{error}");
    };
    assert!(path.starts_with(&dst), "{error}");
    assert!(reason.contains("diverged"), "{error}");
    // While a writer holds the replica, shipping waits for no one: it refuses.
    let _writer = Log::open(&dst, options()).unwrap();
    let error = ship::ship(&src, &dst, &ShipOptions::new()).unwrap_err();
    assert!(matches!(error, Error::Locked { .. }), "{error}");
}

#[test]
fn ship_refuses_to_follow_an_unsealed_copy_with_what_came_after_it() {
    let (_dir, src, dst) = dirs();
    let log = Log::open(
        &src,
        Options {
            retention: Retention {
                segments_max: Some(2),
                bytes_max: None,
            },
            ..options()
        },
    )
    .unwrap();
    write(&log, 1, 10, 5);
    ship::ship(&src, &dst, &ShipOptions::new()).unwrap(); // segment 1, unsealed
    log.rotate_now().unwrap();
    write(&log, 11, 20, 5);
    log.rotate_now().unwrap(); // retention removes segment 1: the source holds 2 and 3
    write(&log, 21, 30, 5);
    let error = ship::ship(&src, &dst, &ShipOptions::new()).unwrap_err();
    let diverged = matches!(&error, Error::ReplicaDiverged { reason, .. }
        if reason.contains("before it was sealed"));
    assert!(diverged, "{error}");
    assert_eq!(
        assert_valid_prefix(&dst),
        10,
        "the replica is left as it was"
    );
}

/// Runs a `Shipper` from `src` to `dst` in a thread; returns the stop flag, the last LSN
/// each pass reported, and the thread.
fn spawn_shipper(
    src: &Path,
    dst: &Path,
) -> (
    &'static AtomicBool,
    &'static AtomicU64,
    thread::JoinHandle<interstice::Result<ship::Pass>>,
) {
    let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let shipped: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    let runner = Shipper::new(src, dst).poll_interval(Duration::from_millis(200));
    let handle = thread::spawn(move || {
        runner.run(stop, |pass| {
            assert!(pass.lag.source_durable >= pass.lag.replica_last);
            assert_eq!(
                pass.lag.behind,
                pass.lag.source_durable.0 - pass.lag.replica_last.0
            );
            eprintln!(
                "pass {:?} {:?}",
                pass.lag,
                pass.report
                    .segments
                    .iter()
                    .map(|s| (s.action, s.sealed, s.last_lsn))
                    .collect::<Vec<_>>()
            );
            let before = shipped.swap(pass.lag.replica_last.0, Ordering::AcqRel);
            assert!(before <= pass.lag.replica_last.0, "the replica went back");
        })
    });
    (stop, shipped, handle)
}

#[test]
fn shipper_keeps_the_replica_current_across_rotations() {
    let (_dir, src, dst) = dirs();
    let log = Log::open(&src, options()).unwrap();
    write(&log, 1, 100, 10);
    let (stop, replica_end, shipper) = spawn_shipper(&src, &dst);
    for chunk in 0..10 {
        write(&log, 101 + chunk * 500, 600 + chunk * 500, 25);
        thread::sleep(Duration::from_millis(20));
    }
    assert!(log.segments().len() > 5, "several rotations");
    wait_for("the replica to hold record 5100", || {
        replica_end.load(Ordering::Acquire) == 5100
    });
    stop.store(true, Ordering::Release);
    let last = shipper.join().unwrap().unwrap();
    assert_eq!(last.lag.replica_last, Lsn(5100));
    assert_eq!(last.lag.source_durable, Lsn(5100));
    assert_eq!(last.lag.behind, 0);
    assert_eq!(assert_valid_prefix(&dst), 5100);
    let replica = Log::open_read_only(&dst, Options::default()).unwrap();
    assert_eq!(records(&replica), records(&log));
    assert_eq!(replica.segments().len(), log.segments().len());
}

/// Copies the log files of `from` into a new directory, one by one, as a backup tool would
/// while the shipper runs.
fn copy_aside(from: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        if path.extension().is_some_and(|e| e == "seg") {
            // A segment replaced since the listing is copied as it is now: also a valid copy.
            let _ = std::fs::copy(&path, into.join(name));
        }
    }
}

#[test]
fn the_replica_is_a_valid_log_at_every_instant() {
    let (dir, src, dst) = dirs();
    let log = Log::open(&src, options()).unwrap();
    write(&log, 1, 50, 10);
    let (stop, _, shipper) = spawn_shipper(&src, &dst);
    let writing = AtomicBool::new(true);
    let (mut looks, mut held) = (0, 0);
    thread::scope(|scope| {
        scope.spawn(|| {
            for chunk in 0..20 {
                write(&log, 51 + chunk * 200, 250 + chunk * 200, 7);
            }
            writing.store(false, Ordering::Release);
        });
        while writing.load(Ordering::Acquire) || looks < 20 {
            if dst.join("00000000000000000001.seg").exists() {
                // Read-only opens take no lock: the shipper may be mid-pass.
                let now = assert_valid_prefix(&dst);
                assert!(now >= held, "the replica went back from {held} to {now}");
                held = now;
                let aside = dir.path().join(format!("aside-{looks}"));
                copy_aside(&dst, &aside);
                if std::fs::read_dir(&aside).unwrap().count() > 0 {
                    assert_valid_prefix(&aside);
                }
                looks += 1;
            }
            thread::sleep(Duration::from_millis(3));
        }
    });
    wait_for("the replica to catch up", || {
        replica_last(&dst) == 4050 || shipper.is_finished()
    });
    stop.store(true, Ordering::Release);
    shipper.join().unwrap().unwrap();
    assert!(held > 0 && looks >= 20, "{looks} looks, {held} records");
    assert_eq!(assert_valid_prefix(&dst), 4050);
}

fn spawn_cli(src: &Path, dst: &Path, extra: &[&str]) -> Child {
    bin()
        .args(["ship", s(src), s(dst), "--follow"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn cli_follow_exits_cleanly_on_sigterm_with_a_valid_replica() {
    let (_dir, src, dst) = dirs();
    let log = Log::open(&src, options()).unwrap();
    write(&log, 1, 100, 10);
    let child = spawn_cli(&src, &dst, &[]);
    for chunk in 0..8 {
        write(&log, 101 + chunk * 400, 500 + chunk * 400, 20);
        thread::sleep(Duration::from_millis(30));
    }
    wait_for("the replica to hold record 3300", || {
        replica_last(&dst) == 3300
    });
    write(&log, 3301, 3400, 20); // still writing when the signal comes
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = wait_output(child);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.lines().count() >= 2, "{stdout}");
    for line in stdout.lines() {
        assert!(line.starts_with("shipped to LSN "), "{line}");
        assert!(line.contains("source durable"), "{line}");
    }
    let held = assert_valid_prefix(&dst);
    assert!((3300..=3400).contains(&held), "{held}");
    assert!(!leftovers(&dst), "a pass is never left half done");
}

/// True when a temporary copy is left in the replica.
fn leftovers(dst: &Path) -> bool {
    std::fs::read_dir(dst)
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
}

#[test]
fn cli_follow_killed_mid_stream_leaves_a_replica_that_a_later_ship_completes() {
    let (_dir, src, dst) = dirs();
    let log = Log::open(&src, options()).unwrap();
    write(&log, 1, 100, 10);
    thread::scope(|scope| {
        scope.spawn(|| {
            for chunk in 0..60 {
                write(&log, 101 + chunk * 100, 200 + chunk * 100, 3);
            }
        });
        // Killed (SIGKILL) again and again, wherever it is in its pass.
        let mut held = 0;
        for round in 1..=5 {
            let child = spawn_cli(&src, &dst, &["--json"]);
            wait_for("more records shipped", || replica_last(&dst) > held);
            thread::sleep(Duration::from_millis(round * 7));
            let output = kill(child);
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                let pass: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(pass["shipped_lsn"].as_u64().is_some(), "{line}");
                assert!(pass["behind"].as_u64().is_some(), "{line}");
            }
            let now = assert_valid_prefix(&dst);
            assert!(now >= held, "the replica went back from {held} to {now}");
            held = now;
        }
    });
    let (code, report) = json(&["ship", s(&src), s(&dst), "--json"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["shipped_lsn"], 6100);
    assert_eq!(assert_valid_prefix(&dst), 6100);
    assert!(!leftovers(&dst));
    let (code, out, err) = run_text(&["verify", s(&dst)]);
    assert_eq!(code, 0, "{out}{err}");
}

/// SIGKILLs a child and collects its output.
fn kill(mut child: Child) -> std::process::Output {
    child.kill().unwrap();
    let output = wait_output(child);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGKILL),
        "it was still shipping: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
