//! A suffix truncation whose cut falls inside the active segment rewinds it in place: no new
//! segment, no sealed one; the records after the cut are zeroed on disk, and the log goes on
//! from the cut. Where it cannot (a reader holds the segment, the cut is inside a batch or in
//! a sealed segment), it seals and starts a new segment as before.

mod common;

use std::path::Path;

use common::{records, segment_paths};
use interstice::recovery::verify::verify;
use interstice::{Log, Lsn, Options, RecoveryMode};

fn payload(round: u64, i: u64) -> Vec<u8> {
    format!("round-{round}-record-{i}-{}", "x".repeat(80)).into_bytes()
}

#[test]
fn twenty_small_suffix_truncations_stay_in_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let mut model: Vec<Vec<u8>> = Vec::new();
    for round in 0..20 {
        for i in 0..5 {
            let lsn = log.append(&payload(round, i)).unwrap();
            model.push(payload(round, i));
            assert_eq!(lsn.0, model.len() as u64);
        }
        let last = log.last_lsn().0;
        log.truncate_after(Lsn(last - 2)).unwrap();
        model.truncate(model.len() - 2);
        assert_eq!(log.last_lsn().0, model.len() as u64);
        assert_eq!(
            log.durable_lsn(),
            log.last_lsn(),
            "the kept records are durable"
        );
    }
    assert_eq!(log.segments().len(), 1);
    let held: Vec<Vec<u8>> = records(&log).into_iter().map(|(_, p)| p).collect();
    assert_eq!(held, model);
    log.close().unwrap();
    assert!(segment_paths(dir.path()).len() <= 2);
    assert_eq!(segment_paths(dir.path()).len(), 1);
    assert!(verify(dir.path()).unwrap().is_intact());
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let held: Vec<Vec<u8>> = records(&log).into_iter().map(|(_, p)| p).collect();
    assert_eq!(held, model);
    assert!(log.recovery_report().is_clean());
}

/// The removed records are gone from the file itself, not only hidden: a read of the file
/// (not through the log) finds no byte of them.
#[test]
fn removed_records_are_zeroed_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    for i in 1..=6u64 {
        log.append(format!("keep-or-drop-{i}").as_bytes()).unwrap();
    }
    log.sync().unwrap();
    log.truncate_after(Lsn(3)).unwrap();
    let file = std::fs::read(&segment_paths(dir.path())[0]).unwrap();
    let contains = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"keep-or-drop-3"));
    for i in 4..=6 {
        assert!(
            !contains(format!("keep-or-drop-{i}").as_bytes()),
            "record {i}"
        );
    }
    assert_eq!(log.append(b"after").unwrap().0, 4);
    drop(log);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let lsns: Vec<(u64, Vec<u8>)> = records(&log);
    assert_eq!(lsns.len(), 4);
    assert_eq!(lsns[3], (4, b"after".to_vec()));
}

#[test]
fn a_cut_before_every_record_of_the_active_segment_empties_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    for i in 1..=4u64 {
        log.append(format!("r{i}").as_bytes()).unwrap();
    }
    log.truncate_after(Lsn(0)).unwrap();
    assert_eq!(log.last_lsn(), Lsn(0));
    assert!(records(&log).is_empty());
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.append(b"first again").unwrap(), Lsn(1));
    log.close().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert_eq!(records(&log), vec![(1, b"first again".to_vec())]);
}

#[test]
fn a_reader_holding_the_segment_keeps_its_records_and_the_cut_seals_instead() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    for i in 1..=5u64 {
        log.append(format!("r{i}").as_bytes()).unwrap();
    }
    let reader = log.reader();
    log.truncate_after(Lsn(2)).unwrap();
    assert_eq!(log.segments().len(), 2, "sealed, then a new segment");
    let seen: Vec<u64> = reader.iter_from(Lsn(1)).map(|r| r.unwrap().lsn.0).collect();
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    drop(reader);
    let lsns: Vec<u64> = records(&log).iter().map(|(l, _)| *l).collect();
    assert_eq!(lsns, vec![1, 2]);
}

#[test]
fn a_cut_inside_a_batch_seals_instead_and_keeps_the_batch_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    log.append(b"single").unwrap();
    log.append_batch(&[b"b2", b"b3", b"b4"]).unwrap();
    log.truncate_after(Lsn(3)).unwrap();
    assert_eq!(log.segments().len(), 2);
    log.append(b"new-4").unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let held: Vec<Vec<u8>> = records(&log).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        held,
        vec![
            b"single".to_vec(),
            b"b2".to_vec(),
            b"b3".to_vec(),
            b"new-4".to_vec()
        ]
    );
}

#[test]
fn a_cut_at_a_batch_boundary_rewinds_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    log.append_batch(&[b"a1", b"a2"]).unwrap();
    log.append_batch(&[b"b3", b"b4"]).unwrap();
    log.truncate_after(Lsn(2)).unwrap();
    assert_eq!(log.segments().len(), 1);
    log.append_batch(&[b"c3", b"c4"]).unwrap();
    drop(log);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let held: Vec<Vec<u8>> = records(&log).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        held,
        vec![
            b"a1".to_vec(),
            b"a2".to_vec(),
            b"c3".to_vec(),
            b"c4".to_vec()
        ]
    );
}

/// A crash between or during the rewind's steps leaves a prefix of the log before it that
/// holds every record kept. The rewind (1) zeroes the markers after the cut, newest first,
/// (2) writes a marker at the cut, (3) zeroes the rest, flushing after each; within a step,
/// its 512-byte sectors reach the disk in any order. Every mix of each step's sectors over
/// the state before it must open in the default mode, and `Strict` may refuse a torn tail but
/// never finds corruption.
#[test]
fn every_intermediate_state_of_a_rewind_opens_to_before_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    for i in 1..=8u64 {
        log.append(format!("r{i}-{}", "y".repeat(100 * i as usize)).as_bytes())
            .unwrap();
        if i % 3 == 0 {
            log.sync().unwrap();
        }
    }
    log.sync().unwrap();
    let (path, cut, _, _) = common::locate(dir.path(), 5);
    let before = std::fs::read(&path).unwrap();
    log.truncate_after(Lsn(4)).unwrap();
    let after = std::fs::read(&path).unwrap();
    drop(log);
    let mut states = vec![before.clone()];
    let markers = markers_from(&before, cut);
    assert_eq!(markers.len(), 2, "the markers of the syncs after 6 and 8");
    for &marker in markers.iter().rev() {
        let mut next = states.last().unwrap().clone();
        next[marker..marker + 40].fill(0);
        states.push(next);
    }
    let mut with_marker = states.last().unwrap().clone();
    with_marker[cut..cut + 40].copy_from_slice(&after[cut..cut + 40]);
    states.push(with_marker);
    states.push(after);
    let mut mixes = 0;
    for pair in states.windows(2) {
        let (from, to) = (&pair[0], &pair[1]);
        let changed: Vec<usize> = (0..from.len() / 512)
            .filter(|&s| from[s * 512..(s + 1) * 512] != to[s * 512..(s + 1) * 512])
            .collect();
        assert!(changed.len() <= 8, "{changed:?}");
        for mask in 0..1u32 << changed.len() {
            let mut image = from.clone();
            for (bit, &sector) in changed.iter().enumerate() {
                if mask & 1 << bit != 0 {
                    image[sector * 512..(sector + 1) * 512]
                        .copy_from_slice(&to[sector * 512..(sector + 1) * 512]);
                }
            }
            let crashed = tempfile::tempdir().unwrap();
            std::fs::write(crashed.path().join(path.file_name().unwrap()), &image).unwrap();
            check_before_or_after(crashed.path(), mask);
            mixes += 1;
        }
    }
    assert!(mixes > 4);
}

fn small() -> Options {
    Options {
        segment_size: 16 * 1024,
        ..Options::default()
    }
}

/// Offsets of the commit markers (kind 2) at or after `from`, walking the record framing of
/// docs/FORMAT.md (length at byte 16, kind at byte 20, framed to 8 bytes).
fn markers_from(segment: &[u8], from: usize) -> Vec<usize> {
    let mut markers = Vec::new();
    let mut offset = 64;
    while segment[offset..offset + 24].iter().any(|&b| b != 0) {
        let len = u32::from_le_bytes(segment[offset + 16..offset + 20].try_into().unwrap());
        if segment[offset + 20] == 2 && offset >= from {
            markers.push(offset);
        }
        offset += (24 + len as usize).div_ceil(8) * 8;
    }
    markers
}

fn check_before_or_after(dir: &Path, mask: u32) {
    let log =
        Log::open(dir, small()).unwrap_or_else(|e| panic!("mix {mask:#b} does not open: {e}"));
    let lsns: Vec<u64> = records(&log).iter().map(|(l, _)| *l).collect();
    // A prefix of the log before, holding every record kept.
    let held = lsns.len() as u64;
    assert!(
        (4..=8).contains(&held) && lsns == (1..=held).collect::<Vec<_>>(),
        "mix {mask:#b}: {lsns:?}"
    );
    let strict = Options {
        recovery: RecoveryMode::Strict,
        ..small()
    };
    drop(log);
    if let Err(e) = Log::open(dir, strict) {
        assert!(
            matches!(e, interstice::Error::TornTail { .. }),
            "mix {mask:#b}: {e}"
        );
    }
}
