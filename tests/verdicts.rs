//! One classification for open, verify and dump, checked by a property test over damaged
//! logs: bytes flipped, zeroed or replaced by random runs anywhere (biased towards headers,
//! the tail of the data and the footer area), files truncated or extended, extra and missing
//! files. For each damaged log:
//!
//! - `verify` reports no corruption exactly when a writable open that checks everything
//!   (`verify_sealed_on_open`, default recovery mode) succeeds, and a torn tail exactly when
//!   that open repairs one;
//! - a strict open succeeds exactly when `verify` finds neither corruption nor a torn tail;
//! - a read-only reader (what `dump` prints) yields exactly the records that open keeps, and
//!   fails when that open refuses.

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use interstice::format::index_start;
use interstice::recovery::verify;
use interstice::{Durability, Log, Options, Outcome, RecoveryMode};
use proptest::prelude::*;

const SEGMENT_SIZE: u64 = 16 * 1024;

#[derive(Clone, Debug)]
enum Op {
    Append(usize),
    Batch(usize, usize),
    Sync,
}

#[derive(Clone, Copy, Debug)]
enum Region {
    Anywhere,
    Header,
    NearDataEnd,
    FooterArea,
}

#[derive(Clone, Debug)]
enum Harm {
    Flip(usize, Region, u16, u8),
    Zero(usize, Region, u16, u16),
    Random(usize, Region, u16, u16, u64),
    Truncate(usize, u16),
    Extend(usize, u16),
    Remove(usize),
    /// A zero-length file named after the segment that would come next.
    EmptyNext,
    /// A copy of a segment under the next segment's name.
    CopyAsNext(usize),
    /// A preparation file left by a crash during rotation.
    Preparing,
}

fn payload(lsn: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (lsn as u8).wrapping_add(i as u8))
        .collect()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1usize..700).prop_map(Op::Append),
        2 => (2usize..6, 1usize..300).prop_map(|(n, l)| Op::Batch(n, l)),
        2 => Just(Op::Sync),
    ]
}

fn region() -> impl Strategy<Value = Region> {
    prop_oneof![
        1 => Just(Region::Anywhere),
        1 => Just(Region::Header),
        3 => Just(Region::NearDataEnd),
        2 => Just(Region::FooterArea),
    ]
}

fn harm() -> impl Strategy<Value = Harm> {
    let file = 0usize..8;
    prop_oneof![
        4 => (file.clone(), region(), any::<u16>(), 0u8..8)
            .prop_map(|(f, r, o, b)| Harm::Flip(f, r, o, b)),
        2 => (file.clone(), region(), any::<u16>(), 1u16..600)
            .prop_map(|(f, r, o, l)| Harm::Zero(f, r, o, l)),
        3 => (file.clone(), region(), any::<u16>(), 1u16..600, any::<u64>())
            .prop_map(|(f, r, o, l, s)| Harm::Random(f, r, o, l, s)),
        1 => (file.clone(), any::<u16>()).prop_map(|(f, l)| Harm::Truncate(f, l)),
        1 => (file.clone(), 1u16..5000).prop_map(|(f, l)| Harm::Extend(f, l)),
        1 => file.clone().prop_map(Harm::Remove),
        1 => Just(Harm::EmptyNext),
        1 => file.prop_map(Harm::CopyAsNext),
        1 => Just(Harm::Preparing),
    ]
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    paths.sort();
    paths
}

fn next_segment_name(dir: &Path) -> PathBuf {
    let last = segments(dir).last().map_or(0, |p| {
        p.file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    });
    dir.join(format!("{:020}.seg", last + 1))
}

/// The start of the byte range a harm hits in a file of `len` bytes.
fn place(path: &Path, len: u64, region: Region, at: u16) -> u64 {
    let at = u64::from(at);
    match region {
        Region::Anywhere => at * len / 65_536,
        Region::Header => at % 64,
        Region::FooterArea => {
            let start = index_start(SEGMENT_SIZE) as u64;
            start + at % (len.saturating_sub(start).max(1))
        }
        Region::NearDataEnd => {
            let bytes = fs::read(path).unwrap();
            let limit = (index_start(SEGMENT_SIZE)).min(bytes.len());
            let end = bytes[..limit].iter().rposition(|&b| b != 0).unwrap_or(0) as u64;
            (end + at % 1200).saturating_sub(600)
        }
    }
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    if offset >= len {
        return;
    }
    let n = bytes.len().min((len - offset) as usize);
    file.write_all_at(&bytes[..n], offset).unwrap();
}

fn apply(dir: &Path, harm: &Harm) {
    let files = segments(dir);
    let pick = |i: usize| files.get(i % files.len().max(1)).cloned();
    match *harm {
        Harm::Flip(f, region, at, bit) => {
            let Some(path) = pick(f) else { return };
            let len = fs::metadata(&path).unwrap().len();
            let offset = place(&path, len, region, at);
            let mut byte = [0];
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            if file.read_exact_at(&mut byte, offset).is_ok() {
                byte[0] ^= 1 << bit;
                file.write_all_at(&byte, offset).unwrap();
            }
        }
        Harm::Zero(f, region, at, n) => {
            let Some(path) = pick(f) else { return };
            let len = fs::metadata(&path).unwrap().len();
            write_at(
                &path,
                place(&path, len, region, at),
                &vec![0; usize::from(n)],
            );
        }
        Harm::Random(f, region, at, n, seed) => {
            let Some(path) = pick(f) else { return };
            let len = fs::metadata(&path).unwrap().len();
            let mut state = seed | 1;
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            write_at(&path, place(&path, len, region, at), &bytes);
        }
        Harm::Truncate(f, at) => {
            let Some(path) = pick(f) else { return };
            let len = fs::metadata(&path).unwrap().len();
            common::truncate_file(&path, u64::from(at) * len / 65_536);
        }
        Harm::Extend(f, n) => {
            let Some(path) = pick(f) else { return };
            let len = fs::metadata(&path).unwrap().len();
            common::truncate_file(&path, len + u64::from(n));
        }
        Harm::Remove(f) => {
            if let Some(path) = pick(f) {
                fs::remove_file(path).unwrap();
            }
        }
        Harm::EmptyNext => {
            fs::File::create(next_segment_name(dir)).unwrap();
        }
        Harm::CopyAsNext(f) => {
            if let Some(path) = pick(f) {
                fs::copy(path, next_segment_name(dir)).unwrap();
            }
        }
        Harm::Preparing => {
            let mut name = next_segment_name(dir).into_os_string();
            name.push(".tmp");
            fs::write(name, vec![7; 100]).unwrap();
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Every record a reader yielded, as (LSN, payload), and the error that ended it.
type Read = (Vec<(u64, Vec<u8>)>, Option<String>);

/// Every record a read-only reader yields, and whether it ended on an error.
fn read_all(log: &Log) -> Read {
    let mut records = Vec::new();
    for item in &log.reader() {
        match item {
            Ok(r) => records.push((r.lsn.0, r.payload.to_vec())),
            Err(e) => return (records, Some(e.to_string())),
        }
    }
    (records, None)
}

fn build(dir: &Path, ops: &[Op], close: bool) -> Vec<usize> {
    let options = Options {
        segment_size: SEGMENT_SIZE,
        durability: Durability::OnSync,
        ..Options::default()
    };
    let log = Log::open(dir, options).unwrap();
    let mut lens = vec![0];
    for op in ops {
        match *op {
            Op::Append(len) => {
                let lsn = lens.len() as u64;
                log.append(&payload(lsn, len)).unwrap();
                lens.push(len);
            }
            Op::Batch(n, len) => {
                let first = lens.len() as u64;
                let batch: Vec<Vec<u8>> = (0..n as u64).map(|i| payload(first + i, len)).collect();
                log.append_batch(&batch).unwrap();
                lens.extend(std::iter::repeat_n(len, n));
            }
            Op::Sync => {
                log.sync().unwrap();
            }
        }
    }
    if close {
        log.close().unwrap();
    } else {
        log.sync().unwrap();
        drop(log);
    }
    lens
}

fn check(ops: &[Op], close: bool, harms: &[Harm]) -> Result<(), TestCaseError> {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let lens = build(&dir, ops, close);
    for harm in harms {
        apply(&dir, harm);
    }
    let verified = verify(&dir);
    let dumped = Log::open_read_only(&dir, Options::default()).map(|log| read_all(&log));
    let strict_dir = root.path().join("strict");
    copy_dir(&dir, &strict_dir);
    let strict = Log::open(
        &strict_dir,
        Options {
            recovery: RecoveryMode::Strict,
            verify_sealed_on_open: true,
            ..Options::default()
        },
    );
    let open_dir = root.path().join("open");
    copy_dir(&dir, &open_dir);
    let opened = Log::open(
        &open_dir,
        Options {
            verify_sealed_on_open: true,
            ..Options::default()
        },
    );
    let report = match verified {
        Ok(report) => report,
        // Every segment file removed: verify finds no log, open makes a new one.
        Err(error) if segments(&dir).is_empty() => {
            let records = opened.map(|log| read_all(&log).0.len());
            prop_assert_eq!(
                records.ok(),
                Some(0),
                "open of a directory without segments: {}",
                error
            );
            return Ok(());
        }
        Err(error) => {
            prop_assert!(
                opened.is_err(),
                "verify failed ({error}) but open succeeded"
            );
            return Ok(());
        }
    };
    let corruption = report.first_corruption().map(|s| format!("{:?}", s.status));
    let torn = report.torn_tail().is_some();
    // A strict open also refuses a last segment shorter than a segment header.
    let short = report.segments.last().is_some_and(|s| {
        s.status == interstice::recovery::verify::Status::Unfinished && s.file_len < 64
    });
    match &opened {
        Err(error) => prop_assert!(
            corruption.is_some(),
            "open refused ({error}) but verify found no corruption: {report:#?}"
        ),
        Ok(_) => prop_assert!(
            corruption.is_none(),
            "open succeeded but verify found corruption: {corruption:?}"
        ),
    }
    prop_assert_eq!(
        strict.is_ok(),
        corruption.is_none() && !torn && !short,
        "strict open: {:?}; verify: corruption {:?}, torn tail {}",
        strict.as_ref().err(),
        corruption,
        torn
    );
    let Ok(log) = opened else {
        if let Ok((_, error)) = dumped {
            prop_assert!(
                error.is_some(),
                "dump read everything of a log open refuses"
            );
        }
        return Ok(());
    };
    compare_kept(&log, &lens, dumped, torn)
}

/// After an open that succeeded: it repaired a torn tail exactly when `verify` saw one, it
/// reads back only written payloads, and `dump` printed exactly those records.
fn compare_kept(
    log: &Log,
    lens: &[usize],
    dumped: interstice::Result<Read>,
    torn: bool,
) -> Result<(), TestCaseError> {
    let repaired = log
        .recovery_report()
        .segments
        .iter()
        .any(|s| matches!(s.outcome, Outcome::TornTail { .. }));
    prop_assert_eq!(repaired, torn, "open repaired a torn tail / verify saw one");
    let (kept, error) = read_all(log);
    prop_assert!(error.is_none(), "reading after open: {:?}", error);
    for (lsn, bytes) in &kept {
        prop_assert_eq!(
            bytes,
            &payload(*lsn, lens[*lsn as usize]),
            "payload of LSN {}",
            lsn
        );
    }
    let (printed, error) = match dumped {
        Ok(d) => d,
        Err(e) => return Err(TestCaseError::fail(format!("dump: open failed: {e}"))),
    };
    prop_assert!(error.is_none(), "dump failed: {:?}", error);
    prop_assert_eq!(
        printed.len(),
        kept.len(),
        "dump and open disagree on the records"
    );
    prop_assert!(printed == kept, "dump and open disagree on the records");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // INTERSTICE_VERDICT_CASES=20000 for a longer campaign (docs/RELIABILITY.md).
        cases: std::env::var("INTERSTICE_VERDICT_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn verify_open_and_dump_agree(
        ops in prop::collection::vec(op(), 1..80),
        close in any::<bool>(),
        harms in prop::collection::vec(harm(), 1..4),
    ) {
        check(&ops, close, &harms)?;
    }
}

/// A log of LSNs 1..=3 in a sealed segment, whose next segment's file holds only `contents`
/// (a creation whose name reached the disk before its size).
fn log_with_short_newest(root: &Path, contents: &[u8]) -> PathBuf {
    let dir = root.join("log");
    let log = Log::open(&dir, Options::default()).unwrap();
    for lsn in 1..=3 {
        log.append(&payload(lsn, 10)).unwrap();
    }
    log.rotate_now().unwrap();
    log.close().unwrap();
    fs::write(segments(&dir).pop().unwrap(), contents).unwrap();
    dir
}

#[test]
fn a_newest_segment_shorter_than_a_header_is_set_aside() {
    for contents in [&b""[..], &b"\x01\x02partial"[..]] {
        let root = tempfile::tempdir().unwrap();
        let dir = log_with_short_newest(root.path(), contents);
        let short = segments(&dir).pop().unwrap();
        assert_eq!(segments(&dir).len(), 2);
        let report = verify(&dir).unwrap();
        assert!(report.is_intact(), "{report:#?}");
        // Strict refuses and names the file.
        let strict = Log::open(
            &dir,
            Options {
                recovery: RecoveryMode::Strict,
                ..Options::default()
            },
        );
        match strict {
            Err(interstice::Error::Corrupt { path, .. }) => assert_eq!(path, short),
            other => panic!("strict open: {other:?}"),
        }
        // Read-only sees the three records and changes nothing.
        let log = Log::open_read_only(&dir, Options::default()).unwrap();
        assert_eq!(read_all(&log).0.len(), 3);
        drop(log);
        assert!(short.exists());
        // The default mode sets it aside, says so, and goes on.
        let log = Log::open(&dir, Options::default()).unwrap();
        assert_eq!(log.recovery_report().removed, vec![short.clone()]);
        assert_eq!(read_all(&log).0.len(), 3);
        assert_eq!(log.append(b"four").unwrap(), interstice::Lsn(4));
        log.close().unwrap();
        let saved = common::quarantine_files(&dir);
        if contents.is_empty() {
            assert!(saved.is_empty(), "{saved:?}");
        } else {
            assert_eq!(fs::read(&saved[0]).unwrap(), contents);
        }
        assert!(verify(&dir).unwrap().is_intact());
    }
}

#[test]
fn close_leaves_no_preparation_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    let options = Options {
        durability: Durability::None,
        ..Options::default()
    };
    let log = Log::open(&dir, options).unwrap();
    // Past half of the 64 MiB segment: the next segment's preparation starts, and the close
    // (no flush with this durability) comes while it is still running.
    let record = vec![7u8; 1 << 20];
    for _ in 0..33 {
        log.append(&record).unwrap();
    }
    log.close().unwrap();
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| {
            Path::new(name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tmp"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
