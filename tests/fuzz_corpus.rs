//! Replays every file of `fuzz/corpus/<target>/` through the fuzz targets' own code
//! (`fuzz/targets_common.rs`), so the inputs a fuzzing campaign found interesting keep being
//! checked by the ordinary test suite. `write_fuzz_seeds` (ignored) writes the seed images.

mod common;

use std::path::{Path, PathBuf};

use interstice::format::index_start;
use interstice::recovery::Strategy;
use interstice::{Durability, Log, Options, RecoveryMode};

include!("../fuzz/targets_common.rs");

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn segment_parse_corpus_replays() {
    let files = corpus("segment_parse");
    assert!(!files.is_empty(), "the corpus is empty");
    for file in files {
        fuzz_common::segment_parse(&std::fs::read(&file).unwrap());
    }
}

#[test]
fn open_dir_corpus_replays() {
    let files = corpus("open_dir");
    assert!(!files.is_empty(), "the corpus is empty");
    for file in files {
        fuzz_common::open_dir(&std::fs::read(&file).unwrap());
    }
}

#[test]
fn ops_corpus_replays() {
    let files = corpus("ops");
    assert!(!files.is_empty(), "the corpus is empty");
    for file in files {
        fuzz_common::ops::ops(&std::fs::read(&file).unwrap());
    }
}

#[test]
fn repair_corpus_replays() {
    let files = corpus("repair");
    assert!(!files.is_empty(), "the corpus is empty");
    for file in files {
        fuzz_common::repair::repair(&std::fs::read(&file).unwrap());
    }
}

/// Encodes segment files as `open_dir` input: each file's bytes up to its last non-zero byte
/// before the index region, then its index region and footer.
fn encode_dir(files: &[Vec<u8>]) -> Vec<u8> {
    assert!((1..=3).contains(&files.len()));
    let mut out = vec![files.len() as u8];
    for file in files {
        let tail_at = index_start(file.len() as u64);
        let head_len = file[..tail_at]
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |last| last + 1);
        let tail_skip = file[tail_at..]
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(file.len() - tail_at);
        let tail = &file[tail_at + tail_skip..];
        for part in [&file[..head_len], tail] {
            out.extend_from_slice(&u16::try_from(part.len()).unwrap().to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

fn segment_files_of(dir: &Path) -> Vec<Vec<u8>> {
    common::segment_paths(dir)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// Writes small real logs as seeds of both corpora. Run once with
/// `cargo test --test fuzz_corpus -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_fuzz_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let options = Options {
        segment_size: fuzz_common::SEGMENT_SIZE,
        ..Options::default()
    };
    // Named after the format version that wrote them, so that seeds of older versions stay.
    let shapes: [(&str, usize, bool); 5] = [
        ("v2-one-active", 0, false),
        ("v2-sealed-and-active", 1, false),
        ("v2-three-with-batches", 2, true),
        ("v2-unsynced-tail", 0, true),
        ("v2-closed-with-summary", 1, true),
    ];
    for (name, rotations, batches) in shapes {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), options.clone()).unwrap();
        for round in 0..=rotations {
            for i in 0..6u8 {
                log.append(&vec![i ^ (round as u8); usize::from(i) * 13])
                    .unwrap();
                if i % 3 == 2 {
                    log.sync().unwrap();
                }
            }
            if batches {
                log.append_batch(&[b"first".as_slice(), b"second", b""])
                    .unwrap();
            }
            if round < rotations {
                log.rotate_now().unwrap();
            }
        }
        if name.ends_with("unsynced-tail") {
            log.append(b"not yet synced").unwrap();
        } else {
            log.sync().unwrap();
        }
        if name.ends_with("closed-with-summary") {
            log.close().unwrap();
        } else {
            drop(log);
        }
        let files = segment_files_of(dir.path());
        let encoded = encode_dir(&files);
        assert_eq!(
            fuzz_common::segment_files(&encoded),
            files,
            "{name}: encoding round trip"
        );
        std::fs::write(root.join("open_dir").join(name), encoded).unwrap();
        if rotations > 0 {
            std::fs::write(
                root.join("segment_parse").join(format!("{name}-sealed")),
                &files[0],
            )
            .unwrap();
        }
        if name.ends_with("unsynced-tail") || name.ends_with("closed-with-summary") {
            std::fs::write(
                root.join("segment_parse").join(format!("{name}-active")),
                files.last().unwrap(),
            )
            .unwrap();
        }
    }
}

/// Writes the hand-made seeds of the `ops` and `repair` corpora. Run once with
/// `cargo test --test fuzz_corpus -- --ignored write_ops_repair_seeds`.
#[test]
#[ignore = "writes the seed corpus; run by hand"]
#[allow(clippy::too_many_lines)] // two tables of seeds
fn write_ops_repair_seeds() {
    use fuzz_common::ops::{self, Op};
    use fuzz_common::repair::{self, Edit};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let append = |len: u16, fill: u8| Op::Append { len, fill };
    let batch = |count: u8, len: u16| Op::AppendBatch {
        count,
        len,
        fill: count,
    };
    let corrupt = |segment: u8, offset: u16, mode: RecoveryMode| Op::Corrupt {
        segment,
        offset,
        xor: 0x10,
        mode,
    };
    let seeds: [(&str, Durability, Vec<Op>); 6] = [
        (
            "append-sync-crash",
            Durability::OnSync,
            vec![
                append(10, 1),
                append(500, 2),
                Op::Sync,
                append(2000, 3),
                batch(3, 100),
                Op::Crash,
                Op::Read(128),
                Op::Iterate(0),
                append(7, 4),
            ],
        ),
        (
            "rotations-power-cut",
            Durability::OnSync,
            vec![
                append(2048, 1),
                append(2048, 2),
                Op::RotateNow,
                append(1000, 3),
                Op::Sync,
                append(2048, 4),
                append(2048, 5),
                Op::PowerCut,
                Op::Iterate(100),
                append(3, 6),
                Op::Sync,
            ],
        ),
        (
            "truncations-reopen",
            Durability::OnSync,
            vec![
                append(2000, 1),
                append(2000, 2),
                append(2000, 3),
                Op::RotateNow,
                append(2000, 4),
                Op::RotateNow,
                append(100, 5),
                Op::TruncateBefore(200),
                Op::Read(255),
                Op::TruncateAfter(230),
                append(50, 6),
                Op::Reopen,
                Op::TruncateAfter(0),
                append(60, 7),
                Op::Iterate(0),
            ],
        ),
        (
            "corrupt-each-mode",
            Durability::OnSync,
            vec![
                append(300, 1),
                append(300, 2),
                Op::Sync,
                Op::RotateNow,
                append(300, 3),
                batch(4, 200),
                corrupt(1, 200, RecoveryMode::Strict),
                corrupt(0, 100, RecoveryMode::TolerateTornTail),
                corrupt(1, 90, RecoveryMode::SkipCorrupt),
                append(10, 4),
                Op::Iterate(0),
            ],
        ),
        (
            "every-append-batches",
            Durability::EveryAppend,
            vec![
                batch(8, 1536),
                batch(2, 10),
                append(1, 1),
                Op::Crash,
                batch(5, 700),
                Op::PowerCut,
                Op::Read(255),
            ],
        ),
        (
            "no-sync-reopen-crash",
            Durability::None,
            vec![
                append(100, 1),
                append(200, 2),
                Op::Reopen,
                append(300, 3),
                Op::Crash,
                append(400, 4),
                Op::PowerCut,
                Op::Iterate(0),
            ],
        ),
    ];
    for (name, durability, seed) in seeds {
        let encoded = ops::encode(durability, &seed);
        assert_eq!(
            ops::decode(&encoded),
            (durability, seed),
            "{name}: round trip"
        );
        fuzz_common::ops::ops(&encoded);
        std::fs::write(root.join("ops").join(name), encoded).unwrap();
    }
    // Per append: bits 0-4 length / 64, bit 5 sync, bit 6 rotate, bit 7 a batch of three.
    let appends = [
        0x08, 0x1f, 0x3f, 0x8a, 0x5f, 0x1f, 0x9f, 0x7f, 0x04, 0x25, 0x10, 0x30,
    ];
    let flip = |segment: u8, offset: u16| Edit::Flip {
        segment,
        offset,
        xor: 0x40,
    };
    let repairs: [(&str, Strategy, bool, Vec<Edit>); 6] = [
        (
            "truncate-sealed-payload",
            Strategy::Truncate,
            false,
            vec![flip(0, 300)],
        ),
        (
            "skip-sealed-payload",
            Strategy::Skip,
            false,
            vec![flip(1, 500)],
        ),
        (
            "skip-two-segments",
            Strategy::Skip,
            false,
            vec![flip(0, 100), flip(2, 2000)],
        ),
        (
            "dry-run-zeroed-range",
            Strategy::Truncate,
            true,
            vec![Edit::Zero {
                segment: 1,
                offset: 1000,
                len8: 40,
            }],
        ),
        (
            "truncate-short-file",
            Strategy::Truncate,
            false,
            vec![Edit::Truncate {
                segment: 1,
                offset: 5000,
            }],
        ),
        (
            "skip-refuses-header",
            Strategy::Skip,
            false,
            vec![flip(1, 20), flip(3, 16383)],
        ),
    ];
    for (name, strategy, dry_run, edits) in repairs {
        let encoded = repair::encode(strategy, dry_run, &appends, &edits);
        fuzz_common::repair::repair(&encoded);
        std::fs::write(root.join("repair").join(name), encoded).unwrap();
    }
}
