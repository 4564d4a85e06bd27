//! `interstice verify` and `repair`: damage in an early, sealed segment (a flipped bit, an
//! overwritten record header) found with its file, offset and last good LSN, then repaired by
//! each strategy with the removed bytes kept in quarantine files.

mod common;

use std::path::Path;

use common::{append, dump, flip_bit, json, lines, locate, patch, quarantine_files, run_text, s};

const DAMAGED: u64 = 700;

/// A log of 2000 records in 16 KiB segments; returns the input lines.
fn log(dir: &Path) -> Vec<String> {
    let input = lines(1..=2000);
    append(dir, &input, "16k");
    input
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    BitFlip,
    HeaderOverwrite,
}

/// Damages record `DAMAGED` (in a sealed segment); returns (file, offset, original bytes).
fn damage(dir: &Path, kind: Damage) -> (std::path::PathBuf, usize, Vec<u8>) {
    let (file, offset, payload, len) = locate(dir, DAMAGED);
    let original = std::fs::read(&file).unwrap()[offset..payload + len].to_vec();
    match kind {
        Damage::BitFlip => flip_bit(&file, payload + 2),
        Damage::HeaderOverwrite => patch(&file, offset, &[0xee; 24]),
    }
    (file, offset, original)
}

fn assert_corruption_reported(dir: &Path, file: &Path, offset: usize) {
    let (code, report) = json(&["verify", s(dir), "--json"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["status"], "corrupt");
    let damaged: Vec<&serde_json::Value> = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|seg| seg["status"] == "corrupt")
        .collect();
    assert_eq!(damaged.len(), 1, "{report}");
    assert_eq!(damaged[0]["file"], s(file));
    assert_eq!(damaged[0]["sealed"], true);
    assert_eq!(damaged[0]["offset"], offset as u64);
    assert_eq!(damaged[0]["last_good_lsn"], DAMAGED - 1);
    let (code, out, _) = run_text(&["verify", s(dir)]);
    assert_eq!(code, 1);
    assert!(out.contains(&format!("at byte {offset}")), "{out}");
    assert!(
        out.contains(&format!("last good LSN {}", DAMAGED - 1)),
        "{out}"
    );
}

fn repaired_log_accepts_appends(dir: &Path, expected_last: u64) {
    let (code, report) = json(&["verify", s(dir), "--json"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["status"], "intact");
    append(dir, &["appended after repair".to_owned()], "16k");
    let (code, out, _) = run_text(&[
        "dump",
        s(dir),
        "--with-lsn",
        "--from",
        &expected_last.to_string(),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.ends_with(&format!("{}\tappended after repair\n", expected_last + 1)),
        "{out}"
    );
}

fn truncate(kind: Damage) {
    let dir = tempfile::tempdir().unwrap();
    let input = log(dir.path());
    let (file, offset, original) = damage(dir.path(), kind);
    assert_corruption_reported(dir.path(), &file, offset);
    let (code, out, err) = run_text(&["repair", s(dir.path()), "--strategy", "truncate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(dump(dir.path()), input[..(DAMAGED - 1) as usize]);
    // The bytes cut from the damaged segment start with the damaged record, as it was.
    let cut = quarantine_files(dir.path())
        .into_iter()
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.contains(&format!("-at-{offset}-"))
        })
        .expect("a quarantine file for the cut");
    let saved = std::fs::read(&cut).unwrap();
    let mut expected = original.clone();
    match kind {
        Damage::BitFlip => expected[24 + 2] ^= 0x10,
        Damage::HeaderOverwrite => expected[..24].fill(0xee),
    }
    assert_eq!(saved[..expected.len()], expected[..]);
    // Later segments were moved whole.
    let whole: Vec<_> = quarantine_files(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".seg.bin"))
        .collect();
    assert!(!whole.is_empty());
    repaired_log_accepts_appends(dir.path(), DAMAGED - 1);
}

fn skip(kind: Damage) {
    let dir = tempfile::tempdir().unwrap();
    let input = log(dir.path());
    let (file, offset, original) = damage(dir.path(), kind);
    assert_corruption_reported(dir.path(), &file, offset);
    let (code, out, err) = run_text(&["repair", s(dir.path()), "--strategy", "skip"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut expected = input.clone();
    expected.remove((DAMAGED - 1) as usize);
    assert_eq!(dump(dir.path()), expected, "every intact record is kept");
    let (_, out, _) = run_text(&["dump", s(dir.path()), "--with-lsn", "--from", "699"]);
    assert!(
        out.starts_with(&format!("699\t{}\n701\t", input[698])),
        "LSN gap: {out}"
    );
    let saved = quarantine_files(dir.path());
    assert_eq!(saved.len(), 1, "{saved:?}");
    let bytes = std::fs::read(&saved[0]).unwrap();
    assert_eq!(bytes.len(), original.len().div_ceil(8) * 8);
    match kind {
        Damage::BitFlip => assert_eq!(bytes[..24], original[..24]),
        Damage::HeaderOverwrite => {
            assert_eq!(bytes[..24], [0xee; 24]);
            assert_eq!(bytes[24..original.len()], original[24..]);
        }
    }
    repaired_log_accepts_appends(dir.path(), 2000);
}

#[test]
fn bit_flip_in_a_sealed_segment_is_repaired_by_truncate() {
    truncate(Damage::BitFlip);
}

#[test]
fn header_overwrite_in_a_sealed_segment_is_repaired_by_truncate() {
    truncate(Damage::HeaderOverwrite);
}

#[test]
fn bit_flip_in_a_sealed_segment_is_repaired_by_skip() {
    skip(Damage::BitFlip);
}

#[test]
fn header_overwrite_in_a_sealed_segment_is_repaired_by_skip() {
    skip(Damage::HeaderOverwrite);
}

#[test]
fn zeroed_record_in_a_sealed_segment_is_corruption_and_skip_resyncs_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = log(dir.path());
    let (file, offset, payload, len) = locate(dir.path(), DAMAGED);
    patch(&file, offset, &vec![0; payload + len - offset]);
    assert_corruption_reported(dir.path(), &file, offset);
    let (code, out, err) = run_text(&["repair", s(dir.path()), "--strategy", "skip"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(dump(dir.path()).len(), input.len() - 1);
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    log(dir.path());
    damage(dir.path(), Damage::BitFlip);
    let before = snapshot(dir.path());
    for strategy in ["truncate", "skip"] {
        let (code, out, err) =
            run_text(&["repair", s(dir.path()), "--strategy", strategy, "--dry-run"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("plan"), "{out}");
        assert!(out.contains("quarantine"), "{out}");
        assert_eq!(
            snapshot(dir.path()),
            before,
            "{strategy} --dry-run changed a file"
        );
    }
}

#[test]
fn unknown_strategy_is_rejected_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    log(dir.path());
    damage(dir.path(), Damage::BitFlip);
    let before = snapshot(dir.path());
    let (code, _, err) = run_text(&["repair", s(dir.path()), "--strategy", "shred"]);
    assert_eq!(code, 2);
    assert!(err.contains("shred"), "{err}");
    let (code, _, _) = run_text(&["repair", s(dir.path())]);
    assert_eq!(code, 2, "a strategy is required");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn repair_of_an_intact_log_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    log(dir.path());
    let before = snapshot(dir.path());
    let (code, out, _) = run_text(&["repair", s(dir.path()), "--strategy", "truncate"]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to repair"), "{out}");
    assert_eq!(snapshot(dir.path()), before);
}
