//! The command line under real process conditions: a second writer on a locked log, readers
//! during a write, `kill -9` of `append` mid-stream, and a file size limit (as a full disk)
//! hit by `append`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{bin, dump, json, lines, run, run_text, s, wait_output};
use interstice::{Log, Options};

fn spawn_append(dir: &Path, segment_size: &str) -> Child {
    bin()
        .args(["append", s(dir), "--segment-size", segment_size])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `stats` until the log holds at least `records` records.
fn wait_for_records(dir: &Path, records: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if dir.join("00000000000000000001.seg").exists() {
            let (code, stats) = json(&["stats", s(dir), "--json"]);
            assert_eq!(code, 0, "{stats}");
            let held = stats["records"].as_u64().unwrap();
            if held >= records {
                return held;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the writer never got to {records} records"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(lines: &[String]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

#[test]
fn second_writer_fails_promptly_saying_the_log_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let held = Log::open(dir.path(), Options::default()).unwrap();
    held.append(b"held").unwrap();
    held.sync().unwrap();
    let output = run(&["append", s(dir.path())], b"second\n");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("locked"), "{stderr}");
    // Readers do not need the lock.
    assert_eq!(dump(dir.path()), ["held"]);
    let (code, _, _) = run_text(&["verify", s(dir.path())]);
    assert_eq!(code, 0);
    let (code, _, err) = run_text(&["repair", s(dir.path()), "--strategy", "skip"]);
    assert_eq!(code, 1, "repair needs the lock: {err}");
    assert!(err.contains("locked"), "{err}");
    held.close().unwrap();
}

#[test]
fn readers_during_a_write_see_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let input = lines(1..=4000);
    let mut writer = spawn_append(dir.path(), "16k");
    let mut stdin = writer.stdin.take().unwrap();
    stdin.write_all(&text(&input[..2000])).unwrap();
    stdin.flush().unwrap();
    wait_for_records(dir.path(), 1);
    for _ in 0..3 {
        let seen = dump(dir.path());
        assert!(!seen.is_empty());
        assert_eq!(seen[..], input[..seen.len()], "dump must see a prefix");
        let (code, report) = json(&["verify", s(dir.path()), "--json"]);
        assert_eq!(code, 0, "{report}");
        let (code, stats) = json(&["stats", s(dir.path()), "--json"]);
        assert_eq!(code, 0);
        assert_eq!(stats["first_lsn"], 1);
    }
    stdin.write_all(&text(&input[2000..])).unwrap();
    drop(stdin);
    let output = wait_output(writer);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(dump(dir.path()), input);
}

#[test]
fn kill_9_of_append_mid_stream_leaves_a_log_that_verifies_dumps_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let input = lines(1..=200_000);
    let mut writer = spawn_append(dir.path(), "16k");
    let mut stdin = writer.stdin.take().unwrap();
    let bytes = text(&input);
    let feeder = std::thread::spawn(move || {
        // Fails with a broken pipe once the writer is killed.
        let _ = stdin.write_all(&bytes);
    });
    wait_for_records(dir.path(), 3000);
    writer.kill().unwrap();
    let _ = writer.wait();
    feeder.join().unwrap();
    let (code, report) = json(&["verify", s(dir.path()), "--json"]);
    assert_eq!(code, 0, "a killed writer leaves no corruption: {report}");
    let kept = dump(dir.path());
    assert!(kept.len() >= 3000, "{} records", kept.len());
    assert!(kept.len() < input.len(), "the writer was killed mid-stream");
    assert_eq!(kept[..], input[..kept.len()]);
    common::append(dir.path(), &["after the crash".to_owned()], "16k");
    let after = dump(dir.path());
    assert_eq!(after.len(), kept.len() + 1);
    assert_eq!(after.last().unwrap(), "after the crash");
    let (code, _, _) = run_text(&["verify", s(dir.path())]);
    assert_eq!(code, 0);
}

#[test]
#[allow(unsafe_code)]
fn append_under_a_file_size_limit_fails_cleanly_and_keeps_durable_records() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let first = lines(1..=100);
    common::append(dir.path(), &first, "16k");
    let limit: u64 = 256 * 1024;
    let mut command = bin();
    command
        .args(["append", s(dir.path()), "--segment-size", "1m"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions (setrlimit, signal) on stack data.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let second = lines(101..=2000);
    let bytes = text(&second);
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let output = wait_output(child);
    feeder.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("line "), "{stderr}");
    let (code, report) = json(&["verify", s(dir.path()), "--json"]);
    assert_eq!(code, 0, "{report}");
    let kept = dump(dir.path());
    assert!(
        kept.len() > first.len(),
        "records appended before the limit are kept"
    );
    assert!(kept.len() < 2000);
    let all: Vec<String> = first.iter().chain(second.iter()).cloned().collect();
    assert_eq!(kept[..], all[..kept.len()]);
}
