//! Replays every file of `fuzz/corpus/<target>/` through the fuzz targets' own code
//! (`fuzz/targets_common.rs`), so the inputs a fuzzing campaign found interesting keep being
//! checked by the ordinary test suite. `write_fuzz_seeds` (ignored) writes the seed images.

use std::path::{Path, PathBuf};

use interstice::format::index_start;
use interstice::{Log, Options};

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
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
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
    let shapes: [(&str, usize, bool); 4] = [
        ("one-active", 0, false),
        ("sealed-and-active", 1, false),
        ("three-with-batches", 2, true),
        ("unsynced-tail", 0, true),
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
        if name == "unsynced-tail" {
            log.append(b"not yet synced").unwrap();
        } else {
            log.sync().unwrap();
        }
        drop(log);
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
        if name == "unsynced-tail" {
            std::fs::write(
                root.join("segment_parse").join(format!("{name}-active")),
                &files[0],
            )
            .unwrap();
        }
    }
}
