// The `repair` target: what `interstice repair` runs, on a real log damaged by the input.
//
// Input: byte 0 chooses the strategy (bit 0: Truncate, Skip), a dry run (bit 1) and the number
// of edits (bits 2-3: 1 to 4). Byte 1 gives the number of appends (4 + byte modulo 29). Then one
// byte per append: bits 0-4 the payload length in units of 64 bytes, bit 5 sync after it,
// bit 6 rotate after it, bit 7 a batch of three records instead of one. Then 6 bytes per edit
// of the closed log's segment files: kind (modulo 3: flip bits of one byte, zero a range,
// truncate the file), segment (modulo the number of files), u16 offset (modulo the file's
// length), u8 value (the bits to flip; the range's length in units of 8 bytes, minus one).
// Bytes past the end of the input read as zero.

use std::collections::BTreeMap;
use std::path::Path;

use interstice::recovery::repair::{Action, RepairReport, Strategy, repair as repair_log};
use interstice::recovery::verify;
use interstice::{Error, Log, Lsn, Options, RecoveryMode};

use super::{Input, SEGMENT_SIZE, payload, scratch, segment_paths};

/// Appends the log may be built from, at most.
pub const APPENDS_MAX: usize = 32;

/// The edits an input may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    Flip { segment: u8, offset: u16, xor: u8 },
    Zero { segment: u8, offset: u16, len8: u8 },
    Truncate { segment: u8, offset: u16 },
}

/// Encodes a repair input (for writing seeds): `appends` are the per-append bytes.
pub fn encode(strategy: Strategy, dry_run: bool, appends: &[u8], edits: &[Edit]) -> Vec<u8> {
    assert!((1..=4).contains(&edits.len()) && (4..=APPENDS_MAX).contains(&appends.len()));
    let control = u8::from(strategy == Strategy::Skip)
        | u8::from(dry_run) << 1
        | ((edits.len() - 1) as u8) << 2;
    let mut out = vec![control, (appends.len() - 4) as u8];
    out.extend_from_slice(appends);
    for edit in edits {
        let (kind, segment, offset, value) = match *edit {
            Edit::Flip {
                segment,
                offset,
                xor,
            } => (0, segment, offset, xor),
            Edit::Zero {
                segment,
                offset,
                len8,
            } => (1, segment, offset, len8),
            Edit::Truncate { segment, offset } => (2, segment, offset, 0),
        };
        out.extend_from_slice(&[kind, segment]);
        out.extend_from_slice(&offset.to_le_bytes());
        out.push(value);
    }
    out
}

fn options(recovery: RecoveryMode) -> Options {
    Options {
        segment_size: SEGMENT_SIZE,
        recovery,
        ..Options::default()
    }
}

/// Builds the log, damages it, repairs it; panics when a promise of `repair` does not hold.
pub fn repair(data: &[u8]) {
    let mut input = Input::new(data);
    let control = input.u8();
    let strategy = if control & 1 == 0 {
        Strategy::Truncate
    } else {
        Strategy::Skip
    };
    let dry_run = control & 2 != 0;
    let edits = 1 + usize::from(control >> 2 & 3);
    let appends = 4 + usize::from(input.u8() % 29);
    let dir = scratch();
    let appended = build(dir.path(), &mut input, appends);
    for _ in 0..edits {
        edit(dir.path(), &mut input);
    }
    let before = files_of(dir.path());
    let report = match repair_log(dir.path(), strategy, dry_run) {
        Ok(report) => report,
        Err(error) => {
            assert!(
                matches!(
                    error,
                    Error::NotALog { .. } | Error::UnsupportedVersion { .. }
                ),
                "{strategy:?}: {error}"
            );
            assert!(
                files_of(dir.path()) == before,
                "a failed repair changed files"
            );
            return;
        }
    };
    if report.dry_run {
        // A dry run, or a plan refused: nothing changes.
        assert!(
            files_of(dir.path()) == before,
            "{strategy:?}: a dry run changed files"
        );
        assert!(dry_run || !report.refused.is_empty());
        assert!(report.after.is_none() && report.quarantined.is_empty());
        return;
    }
    assert!(!dry_run);
    check_quarantine(&report, &before);
    if let Some(after) = &report.after {
        assert!(
            after.is_intact(),
            "{strategy:?}: the report says damaged: {:?}\nbefore: {:?}\nplan: {:?}",
            after.first_corruption(),
            report.before.segments,
            report.actions
        );
    }
    let repaired = files_of(dir.path());
    let mut torn = false;
    if segment_paths(dir.path()).is_empty() {
        // Every segment was removed: the directory holds no log until the next open.
        assert!(strategy == Strategy::Truncate && report.records_kept == 0);
        let again = repair_log(dir.path(), strategy, false);
        assert!(matches!(again, Err(Error::NotALog { .. })), "{again:?}");
    } else {
        let verified = verify(dir.path()).expect("verify after repair");
        assert!(
            verified.is_intact(),
            "{strategy:?}: damaged after repair: {verified:?}"
        );
        torn = verified.torn_tail().is_some();
        let again = repair_log(dir.path(), strategy, false).expect("a second repair");
        assert!(again.before.is_intact() && again.actions.is_empty());
    }
    assert!(
        files_of(dir.path()) == repaired,
        "a second repair changed files"
    );
    check_open(dir.path(), strategy, &appended, torn);
}

/// Appends as the input says, then closes the log; returns the payloads by LSN.
fn build(dir: &Path, input: &mut Input<'_>, appends: usize) -> BTreeMap<u64, Vec<u8>> {
    let log = Log::open(dir, options(RecoveryMode::TolerateTornTail)).expect("a new log");
    let mut appended = BTreeMap::new();
    for _ in 0..appends {
        let spec = input.u8();
        let len = usize::from(spec & 0x1f) * 64;
        let first = log.last_lsn().0 + 1;
        let count = if spec & 0x80 == 0 { 1 } else { 3 };
        let payloads: Vec<Vec<u8>> = (first..first + count)
            .map(|lsn| payload(lsn, len / count as usize, spec))
            .collect();
        let last = if count == 1 {
            log.append(&payloads[0])
        } else {
            log.append_batch(&payloads)
        }
        .expect("append");
        assert_eq!(last, Lsn(first + count - 1));
        appended.extend((first..).zip(payloads));
        if spec & 0x20 != 0 {
            log.sync().expect("sync");
        }
        if spec & 0x40 != 0 {
            log.rotate_now().expect("rotate");
        }
    }
    log.close().expect("close");
    appended
}

fn edit(dir: &Path, input: &mut Input<'_>) {
    let (kind, segment, offset, value) = (input.u8() % 3, input.u8(), input.u16(), input.u8());
    let paths = segment_paths(dir);
    let path = &paths[usize::from(segment) % paths.len()];
    let mut bytes = std::fs::read(path).expect("read a segment file");
    let at = usize::from(offset) % bytes.len().max(1);
    match kind {
        0 if !bytes.is_empty() => bytes[at] ^= value.max(1),
        1 => {
            let end = (at + (usize::from(value) + 1) * 8).min(bytes.len());
            bytes[at.min(end)..end].fill(0);
        }
        _ => bytes.truncate(at),
    }
    std::fs::write(path, &bytes).expect("write a segment file");
}

/// Every file of the log directory but the lock file and segments being prepared, by name.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list the log directory")
        .map(|entry| entry.expect("list the log directory"))
        // A segment that a closed log's background thread is still preparing is not part
        // of the log (the next writable open removes it).
        .filter(|entry| {
            let name = entry.file_name();
            name != "interstice.lock" && !name.to_string_lossy().ends_with(".seg.tmp")
        })
        .map(|entry| {
            let bytes = std::fs::read(entry.path()).expect("read a file");
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

/// Each quarantine file holds exactly the bytes its action removed.
fn check_quarantine(report: &RepairReport, before: &BTreeMap<String, Vec<u8>>) {
    let original = |path: &Path| {
        let name = path.file_name().expect("a file name").to_string_lossy();
        before
            .get(name.as_ref())
            .expect("a file of the log before repair")
    };
    let mut saved = report.quarantined.iter();
    for action in &report.actions {
        let removed: &[u8] = match action {
            Action::RemoveSegment { path, .. } => original(path),
            Action::Zero { path, range, .. } | Action::Pad { path, range, .. } => {
                &original(path)[range.start as usize..range.end as usize]
            }
            _ => continue,
        };
        let file = saved.next().expect("a quarantine file per removal");
        let held = std::fs::read(file).expect("read a quarantine file");
        assert!(
            !held.is_empty() || removed.is_empty(),
            "{action}: an empty quarantine file"
        );
        assert!(
            held == removed,
            "{action}: the quarantine file differs from the bytes"
        );
    }
    assert!(saved.next().is_none(), "a quarantine file for no action");
}

/// Opens the repaired log in `Strict` mode (or, if the damage left only a torn tail or a last
/// segment shorter than a header, which repair leaves to the next open, `TolerateTornTail`)
/// and checks its records.
fn check_open(dir: &Path, strategy: Strategy, appended: &BTreeMap<u64, Vec<u8>>, torn: bool) {
    let short_last = || {
        verify::verify(dir).is_ok_and(|report| {
            report.segments.last().is_some_and(|s| {
                s.status == verify::Status::Unfinished
                    && s.file_len < interstice::format::SEGMENT_HEADER_SIZE as u64
            })
        })
    };
    let log = match Log::open(dir, options(RecoveryMode::Strict)) {
        Ok(log) => log,
        Err(Error::TornTail { .. }) if torn => {
            Log::open(dir, options(RecoveryMode::TolerateTornTail)).expect("open after repair")
        }
        Err(Error::Corrupt { .. }) if short_last() => {
            Log::open(dir, options(RecoveryMode::TolerateTornTail)).expect("open after repair")
        }
        Err(error) => panic!("{strategy:?}: opening after repair: {error}"),
    };
    let mut lsns = Vec::new();
    for item in &log.reader() {
        let record = item.unwrap_or_else(|e| panic!("{strategy:?}: reading after repair: {e}"));
        assert!(
            appended.get(&record.lsn.0).map(Vec::as_slice) == Some(record.payload),
            "{strategy:?}: LSN {} reads bytes never appended there",
            record.lsn
        );
        assert!(lsns.last().is_none_or(|last| *last < record.lsn.0));
        lsns.push(record.lsn.0);
    }
    if strategy == Strategy::Truncate {
        let prefix: Vec<u64> = (1..=lsns.len() as u64).collect();
        assert_eq!(lsns, prefix, "Truncate keeps a prefix");
    }
    let next = log.append(b"after repair").expect("append after repair");
    assert_eq!(next, Lsn(log.last_lsn().0), "the next LSN");
    assert!(lsns.last().is_none_or(|last| *last < next.0));
    log.close().expect("close after repair");
}
