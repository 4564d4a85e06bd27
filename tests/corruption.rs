//! A catalogue of corruption cases, one test each, on real files: bit flips and zeroed bytes
//! swept over every byte of a sealed and of the active segment, truncated and missing
//! segments, foreign files, and a full disk (a child process under a file size limit).
//!
//! The rule checked everywhere: opening and reading either fails with an error that names the
//! damage, or yields a correct prefix of the original records (in `SkipCorrupt`, a subsequence
//! of intact records) -- never wrong bytes, never a panic.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::truncate_file;
use interstice::format::{FOOTER_SIZE, data_capacity, framed_len, index_start};
use interstice::{Durability, Error, Log, Lsn, Options, Outcome, RecoveryMode, SegmentId};

const SEGMENT_SIZE: u64 = 16 * 1024;

// ---- helpers that change bytes on disk ----

fn flip_bit(path: &Path, offset: u64, bit: u8) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0];
    file.read_exact_at(&mut byte, offset).unwrap();
    byte[0] ^= 1 << bit;
    file.write_all_at(&byte, offset).unwrap();
}

fn zero_range(path: &Path, range: Range<u64>) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    let zeroes = vec![0; usize::try_from(range.end - range.start).unwrap()];
    file.write_all_at(&zeroes, range.start).unwrap();
}

fn byte_at(path: &Path, offset: u64) -> u8 {
    let mut byte = [0];
    fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut byte, offset)
        .unwrap();
    byte[0]
}

fn write_byte(path: &Path, offset: u64, value: u8) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&[value], offset).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A scratch directory, in memory when the machine has /dev/shm (the sweeps open thousands
/// of logs; the files and the engine's calls are the same as on disk).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

// ---- the log under test ----

fn options(recovery: RecoveryMode) -> Options {
    Options {
        segment_size: SEGMENT_SIZE,
        recovery,
        durability: Durability::OnSync,
        ..Options::default()
    }
}

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::Strict,
    RecoveryMode::TolerateTornTail,
    RecoveryMode::SkipCorrupt,
];

/// One record of the original log and where it lies.
#[derive(Clone, Debug)]
struct Original {
    lsn: Lsn,
    payload: Vec<u8>,
    segment: SegmentId,
    end: u64,
    /// End of the last record of its batch (its own end when appended alone).
    batch_end: u64,
}

fn payload(lsn: u64) -> Vec<u8> {
    let len = 40 + (lsn * 37) % 160;
    (0..len)
        .map(|i| (lsn as u8).wrapping_mul(13) ^ i as u8)
        .collect()
}

/// The log image every test starts from: segment 1 sealed by a natural rotation, segment 2
/// sealed early by `rotate_now` (a small used area, two batches, commit markers), segment 3
/// active with commit markers and an unsynced tail after the last one.
struct Image {
    dir: tempfile::TempDir,
    originals: Vec<Original>,
    /// Bytes used (header and records) of segments 2 and 3.
    used: [u64; 2],
}

fn append_next(log: &Log, lsn: &mut u64) {
    *lsn += 1;
    assert_eq!(log.append(&payload(*lsn)).unwrap(), Lsn(*lsn));
}

fn batch_next(log: &Log, lsn: &mut u64, n: u64, batches: &mut Vec<Range<u64>>) {
    batches.push(*lsn + 1..*lsn + n + 1);
    let payloads: Vec<Vec<u8>> = (*lsn + 1..=*lsn + n).map(payload).collect();
    *lsn += n;
    assert_eq!(log.append_batch(&payloads).unwrap(), Lsn(*lsn));
}

fn build() -> Image {
    let dir = scratch();
    let log = Log::open(dir.path(), options(RecoveryMode::TolerateTornTail)).unwrap();
    let mut lsn = 0;
    let mut batches = Vec::new();
    while log.segments().len() < 2 {
        append_next(&log, &mut lsn);
        if lsn % 5 == 0 {
            log.sync().unwrap();
        }
    }
    for _ in 0..4 {
        append_next(&log, &mut lsn);
    }
    log.sync().unwrap();
    batch_next(&log, &mut lsn, 3, &mut batches);
    log.sync().unwrap();
    for _ in 0..3 {
        append_next(&log, &mut lsn);
    }
    log.sync().unwrap();
    log.rotate_now().unwrap();
    for _ in 0..4 {
        append_next(&log, &mut lsn);
    }
    log.sync().unwrap();
    batch_next(&log, &mut lsn, 3, &mut batches);
    for _ in 0..2 {
        append_next(&log, &mut lsn);
    }
    log.sync().unwrap();
    for _ in 0..2 {
        append_next(&log, &mut lsn);
    }
    let segments = log.segments();
    assert_eq!(segments.len(), 3);
    let used = [segments[1].bytes_used, segments[2].bytes_used];
    let mut originals: Vec<Original> = log
        .reader()
        .iter()
        .map(|r| {
            let r = r.unwrap();
            let end = r.offset + framed_len(r.payload.len()) as u64;
            Original {
                lsn: r.lsn,
                payload: r.payload.to_vec(),
                segment: r.segment,
                end,
                batch_end: end,
            }
        })
        .collect();
    for batch in batches {
        let last = usize::try_from(batch.end - 2).unwrap();
        let batch_end = originals[last].end;
        for original in &mut originals[usize::try_from(batch.start - 1).unwrap()..=last] {
            original.batch_end = batch_end;
        }
    }
    // Dropped without a final sync: the last records stay after the last commit marker.
    drop(log);
    Image {
        dir,
        originals,
        used,
    }
}

/// The records before damage at (`segment`, `offset`): a prefix that no damage there excuses
/// (a batch goes whole, so one damaged record takes the rest of its batch with it).
fn floor(originals: &[Original], segment: SegmentId, offset: u64) -> usize {
    originals
        .iter()
        .take_while(|o| o.segment < segment || (o.segment == segment && o.batch_end <= offset))
        .count()
}

/// Opens `dir` in `mode` and checks the rule; returns the records read when it opened.
fn check_open(
    dir: &Path,
    mode: RecoveryMode,
    writable: bool,
    originals: &[Original],
    floor: usize,
    what: &str,
) -> Option<Vec<(Lsn, Vec<u8>)>> {
    let opened = if writable {
        Log::open(dir, options(mode))
    } else {
        Log::open_read_only(dir, options(mode))
    };
    let log = match opened {
        Ok(log) => log,
        Err(error) => {
            assert!(
                matches!(
                    error,
                    Error::Corrupt { .. }
                        | Error::NotALog { .. }
                        | Error::UnsupportedVersion { .. }
                ) || (matches!(error, Error::TornTail { .. }) && mode == RecoveryMode::Strict),
                "{what}, {mode:?}: unexpected error {error}"
            );
            return None;
        }
    };
    let mut read = Vec::new();
    let mut failed = false;
    for record in &log.reader() {
        match record {
            Ok(record) => read.push((record.lsn, record.payload.to_vec())),
            Err(error) => {
                assert!(
                    matches!(error, Error::Corrupt { .. }),
                    "{what}, {mode:?}: {error}"
                );
                failed = true;
                break;
            }
        }
    }
    check_records(&read, originals, mode, what);
    if mode != RecoveryMode::SkipCorrupt {
        assert!(
            read.len() >= floor || failed,
            "{what}, {mode:?}: {} records read, {floor} lie before the damage",
            read.len()
        );
    }
    // Lookups through the sparse index agree with the walk, or report the damage.
    for (lsn, bytes) in read.iter().step_by(7) {
        match log.read(*lsn) {
            Ok(Some(found)) => assert_eq!(&found, bytes, "{what}, {mode:?}: read({lsn})"),
            Ok(None) => panic!("{what}, {mode:?}: read({lsn}) found nothing"),
            Err(error) => assert!(matches!(error, Error::Corrupt { .. }), "{error}"),
        }
    }
    // Damage found while reading (a sealed segment opens from its footer) was reported:
    // nothing more to check across a reopen.
    (!failed).then_some(read)
}

/// Prefix of the originals (subsequence of intact ones in skip mode), every byte right.
fn check_records(read: &[(Lsn, Vec<u8>)], originals: &[Original], mode: RecoveryMode, what: &str) {
    let mut at = 0;
    for (lsn, bytes) in read {
        if mode == RecoveryMode::SkipCorrupt {
            while at < originals.len() && originals[at].lsn < *lsn {
                at += 1;
            }
        }
        let original = originals
            .get(at)
            .unwrap_or_else(|| panic!("{what}, {mode:?}: record {lsn} was never written"));
        assert_eq!(*lsn, original.lsn, "{what}, {mode:?}: not a prefix");
        assert_eq!(
            bytes, &original.payload,
            "{what}, {mode:?}: wrong bytes at {lsn}"
        );
        at += 1;
    }
}

#[derive(Clone, Copy, Debug)]
enum Mutation {
    Flip,
    Zero,
}

/// Applies `mutation` at `offset`; false when it would change nothing (zeroing a zero).
fn mutate(path: &Path, offset: u64, mutation: Mutation) -> bool {
    match mutation {
        Mutation::Flip => {
            flip_bit(path, offset, (offset % 8) as u8);
            true
        }
        Mutation::Zero if byte_at(path, offset) == 0 => false,
        Mutation::Zero => {
            zero_range(path, offset..offset + 1);
            true
        }
    }
}

/// Writable opens copy the directory and repair it, so they run on every `stride`-th byte
/// (a stride prime to 8 gives every byte position of a word and every bit its turn), or on
/// every byte with `INTERSTICE_SWEEP_ALL=1`.
fn writable_stride(stride: u64) -> u64 {
    if std::env::var_os("INTERSTICE_SWEEP_ALL").is_some() {
        1
    } else {
        stride
    }
}

/// For every byte at `offsets` in segment `id`: mutate it and open read-only in every mode
/// (in place, restored after); then, for a share of them (`writable_stride`), open a copy
/// for writing in every mode and check that what writable recovery kept survives an append
/// and a reopen.
fn sweep(id: u64, offsets: impl Iterator<Item = u64>, mutation: Mutation, stride: u64) {
    let image = build();
    let work = scratch();
    copy_dir(image.dir.path(), work.path());
    let target = segment_path(work.path(), id);
    let segment = SegmentId(id);
    for offset in offsets {
        let what = format!("{mutation:?} at byte {offset} of segment {id}");
        let before = byte_at(&target, offset);
        if !mutate(&target, offset, mutation) {
            continue;
        }
        let floor = floor(&image.originals, segment, offset);
        for mode in MODES {
            check_open(work.path(), mode, false, &image.originals, floor, &what);
        }
        if offset % writable_stride(stride) != 0 {
            write_byte(&target, offset, before);
            continue;
        }
        let copy = scratch();
        copy_dir(work.path(), copy.path());
        write_byte(&target, offset, before);
        for mode in MODES {
            let trial = scratch();
            copy_dir(copy.path(), trial.path());
            let Some(kept) = check_open(trial.path(), mode, true, &image.originals, floor, &what)
            else {
                continue;
            };
            if mode != RecoveryMode::Strict {
                check_reopen(trial.path(), mode, kept, &what);
            }
        }
    }
}

/// After a writable recovery: the next append continues the log and a reopen sees the same
/// records plus it.
fn check_reopen(dir: &Path, mode: RecoveryMode, mut kept: Vec<(Lsn, Vec<u8>)>, what: &str) {
    let log = Log::open(dir, options(mode)).unwrap_or_else(|e| panic!("{what}, {mode:?}: {e}"));
    let next = log.append(b"after recovery").unwrap();
    assert_eq!(next, Lsn(log.last_lsn().0), "{what}, {mode:?}");
    if let Some((last, _)) = kept.last() {
        assert!(next > *last, "{what}, {mode:?}: LSN {next} reused");
    }
    log.close().unwrap();
    kept.push((next, b"after recovery".to_vec()));
    let log = Log::open(dir, options(mode)).unwrap_or_else(|e| panic!("{what}, {mode:?}: {e}"));
    let read: Vec<(Lsn, Vec<u8>)> = log
        .reader()
        .iter()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{what}, {mode:?}: after repair: {e}"));
            (r.lsn, r.payload.to_vec())
        })
        .collect();
    assert_eq!(
        read, kept,
        "{what}, {mode:?}: records changed across a reopen"
    );
}

/// The used area of the sealed segment 2, then its index and footer.
fn sealed_offsets(used: u64) -> impl Iterator<Item = u64> {
    (0..used).chain(index_start(SEGMENT_SIZE) as u64..SEGMENT_SIZE)
}

fn used() -> [u64; 2] {
    build().used
}

#[test]
fn every_flipped_bit_in_a_sealed_segment_is_caught() {
    sweep(2, sealed_offsets(used()[0]), Mutation::Flip, 13);
}

#[test]
fn every_zeroed_byte_in_a_sealed_segment_is_caught() {
    sweep(2, sealed_offsets(used()[0]), Mutation::Zero, 13);
}

#[test]
fn every_flipped_bit_in_the_active_segment_is_caught_or_torn() {
    let used = used()[1];
    sweep(3, 0..used, Mutation::Flip, 5);
}

#[test]
fn every_zeroed_byte_in_the_active_segment_is_caught_or_torn() {
    let used = used()[1];
    sweep(3, 0..used, Mutation::Zero, 5);
}

// ---- one test per structural case ----

fn all(log: &Log) -> Vec<(Lsn, Vec<u8>)> {
    log.reader()
        .iter()
        .map(|r| {
            let r = r.unwrap();
            (r.lsn, r.payload.to_vec())
        })
        .collect()
}

fn originals_as_pairs(image: &Image) -> Vec<(Lsn, Vec<u8>)> {
    image
        .originals
        .iter()
        .map(|o| (o.lsn, o.payload.clone()))
        .collect()
}

#[test]
fn truncated_sealed_segment_is_an_error_naming_the_file() {
    for len in [10, 4096, SEGMENT_SIZE - 1] {
        let image = build();
        let path = segment_path(image.dir.path(), 2);
        truncate_file(&path, len);
        for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Strict] {
            let error = Log::open(image.dir.path(), options(mode)).unwrap_err();
            assert!(
                matches!(&error, Error::Corrupt { path: p, .. } if *p == path),
                "truncated to {len}: {error}"
            );
            assert!(error.to_string().contains("00000000000000000002.seg"));
        }
    }
}

#[test]
fn truncated_active_segment_is_an_error_naming_the_file() {
    let image = build();
    let path = segment_path(image.dir.path(), 3);
    truncate_file(&path, image.used[1] + 100);
    let error = Log::open(image.dir.path(), options(RecoveryMode::TolerateTornTail)).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { path: p, .. } if *p == path),
        "{error}"
    );
    assert!(error.to_string().contains("00000000000000000003.seg"));
}

#[test]
fn foreign_file_named_like_a_segment_is_not_a_log() {
    // In place of a segment of the log.
    let image = build();
    let foreign = segment_path(image.dir.path(), 2);
    fs::write(&foreign, "not a segment\n".repeat(1170)).unwrap();
    for mode in MODES {
        let error = Log::open(image.dir.path(), options(mode)).unwrap_err();
        assert!(
            matches!(&error, Error::NotALog { path, .. } if *path == foreign),
            "{mode:?}: {error}"
        );
    }
    // Alone in a directory.
    let alone = scratch();
    fs::write(segment_path(alone.path(), 1), vec![0x5a; 20_000]).unwrap();
    let error = Log::open_read_only(alone.path(), Options::default()).unwrap_err();
    assert!(matches!(error, Error::NotALog { .. }), "{error}");
    let error = Log::open(alone.path(), Options::default()).unwrap_err();
    assert!(matches!(error, Error::NotALog { .. }), "{error}");
    // After the last segment: an error that names a file, and nothing is changed.
    let image = build();
    let extra = segment_path(image.dir.path(), 4);
    fs::write(&extra, "not a segment\n".repeat(1170)).unwrap();
    let error = Log::open(image.dir.path(), options(RecoveryMode::TolerateTornTail)).unwrap_err();
    assert!(
        matches!(error, Error::NotALog { .. } | Error::Corrupt { .. }),
        "{error}"
    );
    assert_eq!(
        fs::read(&extra).unwrap(),
        "not a segment\n".repeat(1170).as_bytes()
    );
}

#[test]
fn foreign_files_that_are_not_segments_are_ignored() {
    let image = build();
    let dir = image.dir.path();
    let foreign = [
        ("notes.txt", &b"operator notes"[..]),
        ("00000000000000000002.seg.bak", &[0xff; 100][..]),
        ("seg", b"x"),
        ("README", b""),
    ];
    for (name, bytes) in foreign {
        fs::write(dir.join(name), bytes).unwrap();
    }
    let log = Log::open(dir, options(RecoveryMode::TolerateTornTail)).unwrap();
    assert_eq!(all(&log), originals_as_pairs(&image));
    drop(log);
    for (name, bytes) in foreign {
        assert_eq!(
            fs::read(dir.join(name)).unwrap(),
            bytes,
            "{name} was changed"
        );
    }
}

#[test]
fn read_only_open_of_a_missing_directory_is_not_a_log() {
    let parent = scratch();
    let missing = parent.path().join("nothing-here");
    let error = Log::open_read_only(&missing, Options::default()).unwrap_err();
    assert!(matches!(error, Error::NotALog { .. }), "{error}");
    assert!(!missing.exists(), "a read-only open created the directory");
}

#[test]
fn missing_middle_segment_is_corrupt() {
    let image = build();
    let middle = segment_path(image.dir.path(), 2);
    fs::remove_file(&middle).unwrap();
    for mode in MODES {
        let error = Log::open(image.dir.path(), options(mode)).unwrap_err();
        assert!(
            matches!(&error, Error::Corrupt { path, .. } if *path == middle),
            "{mode:?}: {error}"
        );
        let error = Log::open_read_only(image.dir.path(), options(mode)).unwrap_err();
        assert!(matches!(error, Error::Corrupt { .. }), "{mode:?}: {error}");
    }
}

#[test]
fn damaged_footer_of_a_sealed_segment_names_the_file() {
    let image = build();
    let path = segment_path(image.dir.path(), 1);
    flip_bit(&path, SEGMENT_SIZE - FOOTER_SIZE as u64 + 9, 3);
    let error = Log::open(image.dir.path(), options(RecoveryMode::TolerateTornTail)).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt { path: p, .. } if *p == path),
        "{error}"
    );
    // Skip mode keeps every record: the damage is in the footer, not in a record.
    let log = Log::open(image.dir.path(), options(RecoveryMode::SkipCorrupt)).unwrap();
    assert_eq!(all(&log), originals_as_pairs(&image));
}

// ---- a full disk: a child process under RLIMIT_FSIZE ----

const FULL_DIR_VAR: &str = "INTERSTICE_FULL_DISK_DIR";

/// The child: limits its file size, appends and syncs until an append fails, prints
/// `ACK <lsn>` for each durable LSN and `ERR <no_space> <errno>` for the failure.
#[test]
#[ignore = "run by full_disk_fails_cleanly_and_keeps_acknowledged_records as a child"]
fn full_disk_child() {
    let Ok(dir) = std::env::var(FULL_DIR_VAR) else {
        return;
    };
    // Open first, then limit file sizes below one segment: the next segment that has to be
    // created cannot be given its length.
    let log = Log::open(&dir, options(RecoveryMode::TolerateTornTail)).unwrap();
    let limit = libc::rlimit {
        rlim_cur: SEGMENT_SIZE - 4096,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain libc calls with valid arguments; ignoring SIGXFSZ turns the signal into
    // an EFBIG error from the call that would grow a file past the limit.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &raw const limit), 0);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut lsn = 0u64;
    let failure = loop {
        let appended = if lsn.is_multiple_of(3) {
            let payloads = [payload(lsn + 1), payload(lsn + 2)];
            log.append_batch(&payloads)
        } else {
            log.append(&payload(lsn + 1))
        };
        match appended {
            Ok(last) => lsn = last.0,
            Err(error) => break error,
        }
        match log.sync() {
            Ok(durable) => println!("ACK {}", durable.0),
            Err(error) => break error,
        }
        assert!(lsn < 100_000, "the file size limit never stopped the log");
    };
    let errno = match &failure {
        Error::Io { source, .. } => source.raw_os_error().unwrap_or(0),
        _ => 0,
    };
    println!("ERR {} {errno} {failure}", failure.is_no_space());
    // A second attempt returns (an error, or success when the record fits the room left in
    // the active segment), without a panic.
    let again = log.append(&payload(lsn + 1));
    println!("AGAIN {}", again.is_err());
}

#[test]
fn full_disk_fails_cleanly_and_keeps_acknowledged_records() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "full_disk_child", "--nocapture", "--ignored"])
        .env(FULL_DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed: {:?}, output ends with {:?}",
        output.status,
        &stdout[stdout.len().saturating_sub(500)..]
    );
    let mut acked = 0;
    let mut error_line = None;
    let mut again = None;
    for line in BufReader::new(&output.stdout[..]).lines() {
        let line = line.unwrap();
        if let Some(lsn) = line.strip_prefix("ACK ") {
            acked = lsn.parse().unwrap();
        } else if let Some(rest) = line.strip_prefix("ERR ") {
            error_line = Some(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("AGAIN ") {
            again = Some(rest.to_owned());
        }
    }
    let error_line = error_line.expect("the child reported no failure");
    let mut fields = error_line.splitn(3, ' ');
    let no_space = fields.next().unwrap() == "true";
    let errno: i32 = fields.next().unwrap().parse().unwrap();
    assert!(
        no_space || errno == libc::EFBIG || errno == libc::ENOSPC,
        "the failure is not a clear full-disk error: {error_line}"
    );
    assert!(again.is_some(), "the child did not try again");
    assert!(acked > 0, "nothing was acknowledged before the limit");
    let log = Log::open(dir.path(), options(RecoveryMode::TolerateTornTail)).unwrap();
    let read = all(&log);
    assert!(read.len() as u64 >= acked, "acknowledged records lost");
    for (i, (lsn, bytes)) in read.iter().enumerate() {
        assert_eq!(*lsn, Lsn(i as u64 + 1));
        assert_eq!(bytes, &payload(lsn.0), "wrong bytes at {lsn}");
    }
    let next = log.append(b"after the disk filled").unwrap();
    assert_eq!(next, Lsn(read.len() as u64 + 1));
}

/// A clean-close marker whose body is damaged must not be trusted: an open after a clean
/// close walks record headers only, but checks markers whole, so the damage is a torn tail
/// (refused by `Strict`, discarded otherwise) instead of an error met by every later read.
#[test]
fn a_clean_close_marker_with_a_damaged_body_is_a_torn_tail() {
    let dir = scratch();
    let log = Log::open(dir.path(), options(RecoveryMode::TolerateTornTail)).unwrap();
    for lsn in 1..=5 {
        log.append(&payload(lsn)).unwrap();
    }
    log.close().unwrap();
    let log = Log::open_read_only(dir.path(), options(RecoveryMode::Strict)).unwrap();
    let active = log.segments().last().unwrap().clone();
    drop(log);
    // The clean-close marker is the last 40 bytes; its body the last 16, which end with 4
    // reserved bytes that no sequence rule looks at (only the checksum covers them).
    flip_bit(&active.path, active.bytes_used - 2, 3);
    let error = Log::open(dir.path(), options(RecoveryMode::Strict)).unwrap_err();
    assert!(matches!(error, Error::TornTail { .. }), "{error}");
    let log = Log::open(dir.path(), options(RecoveryMode::TolerateTornTail)).unwrap();
    assert!(matches!(
        log.recovery_report().segments.last().unwrap().outcome,
        Outcome::TornTail { .. }
    ));
    let read = all(&log);
    assert_eq!(read.len(), 5);
    for (lsn, bytes) in read {
        assert_eq!(bytes, payload(lsn.0));
    }
}

/// A segment filled up to its last commit marker has no room for a clean-close marker:
/// closing seals it, so that damage to the records its last marker covers is corruption (its
/// footer vouches for them), never a torn tail that drops acknowledged records.
#[test]
fn a_full_segment_closed_cleanly_is_sealed_so_damage_in_its_last_sync_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 16 * 1024,
        ..Options::default()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    // Fill the first segment exactly: the last record ends where the room kept for one
    // marker begins, and the sync's marker takes that room.
    let capacity = data_capacity(16 * 1024);
    let marker = framed_len(16);
    let mut lsn = 0;
    loop {
        let left = capacity - log.segments()[0].bytes_used as usize;
        if left < marker + framed_len(0) {
            break;
        }
        let len = (left - marker - framed_len(0)).min(1000);
        lsn = log.append(&vec![7; len]).unwrap().0;
    }
    log.sync().unwrap();
    assert_eq!(
        log.segments().len(),
        1,
        "the segment filled without rotating"
    );
    log.close().unwrap();
    let path = common::segment_paths(dir.path())[0].clone();
    let (_, _, payload, _) = common::locate(dir.path(), lsn);
    common::flip_bit(&path, payload);
    // Sealed, the segment opens from its footer; the damaged record is an error when read,
    // and `verify` reports corruption. Nothing is dropped.
    let log = Log::open(dir.path(), options).unwrap();
    assert_eq!(log.last_lsn().0, lsn);
    assert!(matches!(log.read(Lsn(lsn)), Err(Error::Corrupt { .. })));
    assert!(
        interstice::recovery::verify::verify(dir.path())
            .unwrap()
            .first_corruption()
            .is_some()
    );
}
