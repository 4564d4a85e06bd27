//! A batch is all or nothing for readers, as for recovery; a reader of a sealed segment
//! refuses records its footer does not count and an index entry that would skip records. Each
//! case damages or forges bytes on disk, then reads through the library and the binary.

mod common;

use std::path::{Path, PathBuf};

use common::{locate, run_text, s};
use interstice::format::footer::{self, FooterInfo, IndexEntry};
use interstice::format::header::HeaderInfo;
use interstice::format::record::{self, FLAG_BATCH_CONTINUES, KIND_DATA};
use interstice::format::{FOOTER_SIZE, INDEX_ENTRY_SIZE, data_capacity, index_start};
use interstice::recovery::verify;
use interstice::{Error, Log, Lsn, Options};

const SEGMENT_SIZE: u64 = 64 * 1024;

fn payload(lsn: u64) -> Vec<u8> {
    format!("record-{lsn:04}").into_bytes()
}

/// A log whose first, sealed segment holds LSNs 1..=10 (singles), 11..=15 (one batch) and
/// 16..=20 (singles), synced after each group; the second segment holds 21..=25.
fn build(dir: &Path) {
    let log = Log::open(
        dir,
        Options {
            segment_size: SEGMENT_SIZE,
            ..Options::default()
        },
    )
    .unwrap();
    for lsn in 1..=10 {
        log.append(&payload(lsn)).unwrap();
    }
    log.sync().unwrap();
    let batch: Vec<Vec<u8>> = (11..=15).map(payload).collect();
    log.append_batch(&batch).unwrap();
    log.sync().unwrap();
    for lsn in 16..=20 {
        log.append(&payload(lsn)).unwrap();
    }
    log.rotate_now().unwrap();
    for lsn in 21..=25 {
        log.append(&payload(lsn)).unwrap();
    }
    log.close().unwrap();
}

/// What a read-only reader yields from `from`: the LSNs, then the error that ended it.
fn read_from(dir: &Path, from: u64) -> (Vec<u64>, Option<Error>) {
    let log = Log::open_read_only(dir, Options::default()).unwrap();
    let reader = log.reader();
    let mut lsns = Vec::new();
    for item in reader.iter_from(Lsn(from)) {
        match item {
            Ok(record) => {
                assert_eq!(record.payload, payload(record.lsn.0).as_slice());
                lsns.push(record.lsn.0);
            }
            Err(error) => return (lsns, Some(error)),
        }
    }
    (lsns, None)
}

/// The LSNs `dump` prints, and its exit code.
fn dump(dir: &Path) -> (Vec<u64>, i32, String) {
    let (code, out, err) = run_text(&["dump", s(dir), "--with-lsn"]);
    let lsns = out
        .lines()
        .map(|line| line.split('\t').next().unwrap().parse().unwrap())
        .collect();
    (lsns, code, err)
}

fn first_segment(dir: &Path) -> PathBuf {
    dir.join(format!("{:020}.seg", 1))
}

/// Rewrites the record at `offset` (LSN `lsn`) with `flags`, checksums recomputed.
fn reframe(path: &Path, offset: usize, lsn: u64, flags: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    let binding = HeaderInfo::decode(&bytes).unwrap().binding();
    let body = payload(lsn);
    record::frame_into(&mut bytes[offset..], binding, lsn, KIND_DATA, flags, &body);
    std::fs::write(path, bytes).unwrap();
}

/// Rewrites the footer (and index) of a sealed segment through `change`.
fn forge_footer(path: &Path, change: impl FnOnce(&mut FooterInfo, &mut Vec<IndexEntry>)) {
    let mut bytes = std::fs::read(path).unwrap();
    let header = HeaderInfo::decode(&bytes).unwrap();
    let capacity = data_capacity(header.segment_size);
    let mut info = footer::decode(&bytes, header.seed(), capacity)
        .unwrap()
        .unwrap();
    let index_bytes = footer::index_bytes(&bytes, info.index_entries);
    let mut index: Vec<IndexEntry> = index_bytes
        .chunks(INDEX_ENTRY_SIZE)
        .map(|chunk| {
            let lsn = u64::from_le_bytes(chunk[..8].try_into().unwrap());
            let offset = u64::from_le_bytes(chunk[8..].try_into().unwrap());
            IndexEntry::new(lsn, offset)
        })
        .collect();
    change(&mut info, &mut index);
    info.index_entries = index.len() as u32;
    let start = index_start(header.segment_size);
    let end = bytes.len() - FOOTER_SIZE;
    bytes[start..end].fill(0);
    footer::seal_into(&mut bytes, header.seed(), &info, &index);
    std::fs::write(path, bytes).unwrap();
}

fn assert_corrupt_at(error: Option<Error>, path: &Path) {
    match error {
        Some(Error::Corrupt { path: at, .. }) => assert_eq!(at, path),
        other => panic!("expected corruption in {}, got {other:?}", path.display()),
    }
}

#[test]
fn a_batch_whose_last_record_is_damaged_yields_none_of_its_records() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    build(&dir);
    let (path, _, payload_at, _) = locate(&dir, 15);
    common::flip_bit(&path, payload_at);
    let (lsns, error) = read_from(&dir, 0);
    assert_eq!(lsns, (1..=10).collect::<Vec<_>>());
    assert_corrupt_at(error, &path);
    // From inside the batch too.
    let (lsns, error) = read_from(&dir, 13);
    assert!(lsns.is_empty(), "{lsns:?}");
    assert_corrupt_at(error, &path);
    let (lsns, code, err) = dump(&dir);
    assert_eq!(lsns, (1..=10).collect::<Vec<_>>());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(s(&path)), "{err}");
    assert!(!verify(&dir).unwrap().is_intact());
}

#[test]
fn an_incomplete_batch_in_a_sealed_segment_is_not_read() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    build(&dir);
    // The batch's last record now says another follows; a commit marker follows instead.
    let (path, offset, _, _) = locate(&dir, 15);
    reframe(&path, offset, 15, FLAG_BATCH_CONTINUES);
    let (lsns, error) = read_from(&dir, 0);
    assert_eq!(lsns, (1..=10).collect::<Vec<_>>());
    assert!(
        matches!(
            error,
            Some(Error::Corrupt {
                damage: interstice::Damage::IncompleteBatch,
                ..
            })
        ),
        "{error:?}"
    );
    let (lsns, code, _) = dump(&dir);
    assert_eq!((lsns, code), ((1..=10).collect(), 1));
    assert!(!verify(&dir).unwrap().is_intact());
    let verifying = Options {
        verify_sealed_on_open: true,
        ..Options::default()
    };
    assert!(matches!(
        Log::open(&dir, verifying),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn a_footer_that_counts_fewer_records_than_the_segment_holds_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    build(&dir);
    let path = first_segment(&dir);
    forge_footer(&path, |info, _| {
        info.last_lsn = 18;
        info.records = 18;
    });
    // The next segment's base LSN no longer continues it: opening refuses.
    let opened = Log::open_read_only(&dir, Options::default());
    assert!(matches!(opened, Err(Error::Corrupt { .. })), "{opened:?}");
    assert_eq!(dump(&dir).1, 1);
    assert!(!verify(&dir).unwrap().is_intact());
}

#[test]
fn a_footer_that_counts_more_records_than_the_segment_holds_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    build(&dir);
    let path = first_segment(&dir);
    forge_footer(&path, |info, _| {
        info.last_lsn = 20;
        info.records = 21;
    });
    // Only the count lies: a reader that walked the segment from its start sees it.
    let (lsns, error) = read_from(&dir, 0);
    assert_eq!(lsns, (1..=20).collect::<Vec<_>>());
    assert_corrupt_at(error, &path);
    assert!(!verify(&dir).unwrap().is_intact());
}

#[test]
fn an_index_entry_past_its_record_is_refused_not_skipped() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("log");
    build(&dir);
    let path = first_segment(&dir);
    let (_, offset_of_18, _, _) = locate(&dir, 18);
    forge_footer(&path, |_, index| {
        index.clear();
        index.push(IndexEntry::new(12, offset_of_18 as u64));
    });
    let log = Log::open_read_only(&dir, Options::default()).unwrap();
    assert!(matches!(log.read(Lsn(13)), Err(Error::Corrupt { .. })));
    assert!(!verify(&dir).unwrap().is_intact());
    // A full read does not use the index.
    drop(log);
    assert_eq!(read_from(&dir, 0).0.len(), 25);
}

/// A batch appended after a sync is framed in a buffer and written into the file with one
/// `pwrite` (the copy into the mapping is for batches of logs not synced between them): both
/// kinds, across rotations, read back the same through a reader, a replay, a reopen and a
/// damage check of one of the written-through records.
#[test]
fn batches_written_through_the_file_read_back_like_copied_ones() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_size: 256 * 1024,
        ..Options::default()
    };
    let big = |lsn: u64| -> Vec<u8> {
        let len = 300 + (lsn * 37 % 700) as usize;
        (0..len).map(|i| (lsn as usize * 13 + i) as u8).collect()
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    let mut next = 1;
    for round in 0..40 {
        // 40 records of 300-1000 B: 16 KiB or more, under a segment's room.
        let batch: Vec<Vec<u8>> = (next..next + 40).map(big).collect();
        assert_eq!(log.append_batch(&batch).unwrap(), Lsn(next + 39));
        next += 40;
        if round % 3 != 2 {
            log.sync().unwrap();
        }
    }
    let last = next - 1;
    let check = |log: &Log| {
        let records: Vec<(u64, Vec<u8>)> = log
            .reader()
            .iter()
            .map(|r| r.map(|r| (r.lsn.0, r.payload.to_vec())).unwrap())
            .collect();
        assert_eq!(records.len() as u64, last);
        for (i, (lsn, bytes)) in records.iter().enumerate() {
            assert_eq!(*lsn, i as u64 + 1);
            assert_eq!(*bytes, big(*lsn), "record {lsn}");
        }
        let mut replayed = 0;
        log.replay(Lsn::ZERO, |record| {
            replayed += 1;
            assert_eq!(record.payload, big(record.lsn.0));
            Ok::<(), Error>(())
        })
        .unwrap();
        assert_eq!(replayed, last);
    };
    check(&log);
    assert!(log.segments().len() > 3, "the batches rotate the log");
    log.close().unwrap();
    let log = Log::open(dir.path(), options.clone()).unwrap();
    check(&log);
    drop(log);
    // A record of the second batch (written through the file after the first sync) damaged
    // on disk is found, never handed over.
    let (path, offset, _, _) = locate(dir.path(), 45);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offset + 40] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let log = Log::open_read_only(dir.path(), options).unwrap();
    let seen: Vec<u64> = log
        .reader()
        .iter()
        .map_while(Result::ok)
        .map(|r| r.lsn.0)
        .collect();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<_>>(),
        "the damaged batch is not read"
    );
}
