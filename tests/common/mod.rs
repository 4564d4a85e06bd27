//! Helpers shared by the tests: run the built `interstice` binary, feed it stdin, read its
//! JSON, damage segment files on disk, and read a log back.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_interstice"))
}

/// Runs `interstice args...` with `stdin` and returns its output.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn interstice");
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let output = wait_output(child);
    feeder.join().unwrap();
    output
}

/// Waits for a child, failing the test instead of hanging when it never exits.
pub fn wait_output(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_mins(2);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = std::thread::spawn(move || read_all(stdout));
    let err = std::thread::spawn(move || read_all(stderr));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("interstice did not exit");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn read_all(pipe: Option<impl std::io::Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes);
    }
    bytes
}

/// Runs a command and returns its exit code, stdout and stderr as text.
pub fn run_text(args: &[&str]) -> (i32, String, String) {
    let output = run(args, b"");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `interstice append DIR --segment-size SIZE` with `lines` (each followed by a newline);
/// asserts success.
pub fn append(dir: &Path, lines: &[String], segment_size: &str) {
    let mut input = Vec::new();
    for line in lines {
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    }
    let output = run(&["append", s(dir), "--segment-size", segment_size], &input);
    assert!(
        output.status.success(),
        "append failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `interstice dump DIR` as lines; asserts success.
pub fn dump(dir: &Path) -> Vec<String> {
    let (code, out, err) = run_text(&["dump", s(dir)]);
    assert_eq!(code, 0, "dump failed: {err}");
    out.lines().map(str::to_owned).collect()
}

/// Runs a command that prints JSON and parses it.
pub fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let (code, out, err) = run_text(args);
    let value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {err}"));
    (code, value)
}

/// Where record `lsn` lives: (file, header offset, payload offset, payload length).
pub fn locate(dir: &Path, lsn: u64) -> (PathBuf, usize, usize, usize) {
    let (code, record) = json(&["inspect", s(dir), "--lsn", &lsn.to_string(), "--json"]);
    assert_eq!(code, 0);
    (
        PathBuf::from(record["file"].as_str().unwrap()),
        record["offset"].as_u64().unwrap() as usize,
        record["payload_offset"].as_u64().unwrap() as usize,
        record["length"].as_u64().unwrap() as usize,
    )
}

/// Overwrites bytes of a file in place.
pub fn patch(path: &Path, offset: usize, bytes: &[u8]) {
    let mut content = std::fs::read(path).unwrap();
    content[offset..offset + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, content).unwrap();
}

/// Flips one bit of a file in place.
pub fn flip_bit(path: &Path, offset: usize) {
    let mut content = std::fs::read(path).unwrap();
    content[offset] ^= 0x10;
    std::fs::write(path, content).unwrap();
}

/// Quarantine files of a log directory.
pub fn quarantine_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("quarantine-")
        })
        .collect();
    files.sort();
    files
}

/// `line-N` padded with `N % 7 * 10` letters.
pub fn lines(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range
        .map(|i| format!("line-{i}-{}", "x".repeat((i % 7 * 10) as usize)))
        .collect()
}

/// A path as `&str`.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every record a reader of `log` sees, as (LSN, payload).
pub fn records(log: &interstice::Log) -> Vec<(u64, Vec<u8>)> {
    log.reader()
        .iter()
        .map(|r| {
            let r = r.unwrap();
            (r.lsn.0, r.payload.to_vec())
        })
        .collect()
}

/// Truncates `path` to `len` bytes the way a foreign program would, through its own handle.
pub fn truncate_file(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Replays `log` from the start and checks that it holds exactly LSNs `1..=count`, each with
/// `payload(lsn)`.
pub fn assert_replays(log: &interstice::Log, count: u64, payload: impl Fn(u64) -> Vec<u8>) {
    let mut next = 1;
    log.replay(interstice::Lsn(1), |record| {
        assert_eq!(record.lsn, interstice::Lsn(next));
        assert_eq!(record.payload, payload(next).as_slice());
        next += 1;
        Ok::<(), interstice::Error>(())
    })
    .unwrap();
    assert_eq!(next, count + 1, "records replayed");
}

/// Appends records `from..=to` with `payload(lsn)`: every `batch_every`-th LSN starts a batch of
/// three (when three fit), and the log is synced whenever the next LSN is a multiple of
/// `sync_every`.
pub fn append_mixed(
    log: &interstice::Log,
    range: std::ops::RangeInclusive<u64>,
    batch_every: u64,
    sync_every: u64,
    payload: impl Fn(u64) -> Vec<u8>,
) {
    let (mut lsn, to) = (*range.start(), *range.end());
    while lsn <= to {
        if lsn.is_multiple_of(batch_every) && lsn + 2 <= to {
            let batch: Vec<Vec<u8>> = (lsn..lsn + 3).map(&payload).collect();
            log.append_batch(&batch).unwrap();
            lsn += 3;
        } else {
            log.append(&payload(lsn)).unwrap();
            lsn += 1;
        }
        if lsn.is_multiple_of(sync_every) {
            log.sync().unwrap();
        }
    }
}

/// The segment files of a log directory, in id order.
pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// Lowers the process's file size limit to `bytes` (`libc::RLIM_INFINITY` lifts it): a file
/// then cannot grow past it, which is how a test makes a full disk. Affects every thread, so
/// a test binary that uses it holds one test.
pub fn set_file_size_limit(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain libc calls with valid arguments; ignoring SIGXFSZ turns the signal into
    // an EFBIG error from the call that would grow a file past the limit.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &raw const limit), 0);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Runs test `child` of this test binary (re-executed with `var` set to `dir`), hands each
/// line it prints to `on_line` (true for an acknowledgement), kills it with `SIGKILL` after
/// `acks` acknowledgements, and reads what it printed up to its death. Fails when the child
/// ended by itself.
pub fn kill_child_after(
    child: &str,
    var: &str,
    dir: &Path,
    acks: usize,
    mut on_line: impl FnMut(&str) -> bool,
) {
    use std::io::BufRead;
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args([child, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut seen, mut killed) = (0, false);
    let stdout = std::io::BufReader::new(process.stdout.take().unwrap());
    for line in stdout.lines() {
        if on_line(&line.unwrap()) {
            seen += 1;
        }
        if seen == acks && !killed {
            process.kill().unwrap();
            killed = true;
        }
    }
    let status = process.wait().unwrap();
    assert!(
        killed && !status.success(),
        "the child ran to completion: {status}"
    );
}

/// `line`'s LSN when it is `ack LSN`.
pub fn acked_lsn(line: &str) -> Option<interstice::Lsn> {
    line.strip_prefix("ack ")
        .map(|lsn| interstice::Lsn(lsn.parse().unwrap()))
}
