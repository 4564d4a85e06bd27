//! `interstice soak` end to end: a short soak passes with every kind of cycle, resumes on the
//! log it wrote, and refuses directories it must not touch.

mod common;

use common::{json, run_text, s};

const COUNTERS: [&str; 14] = [
    "appends",
    "batches",
    "syncs",
    "bytes",
    "records_verified",
    "rotations",
    "retention_removals",
    "truncations",
    "crash_cycles",
    "sigkills",
    "recoveries",
    "repairs",
    "verifies",
    "violations",
];

/// Every file of a directory with its bytes, sorted by name.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_short_soak_passes_with_appends_crashes_and_repairs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (code, out, err) =
        common::run_text(&["soak", s(&log), "--seconds", "5", "--seed", "7", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&out).expect("a JSON summary");
    assert_eq!(code, 0, "{summary}\nstderr: {err}");
    assert_eq!(summary["ok"], true);
    for name in COUNTERS {
        assert!(summary[name].is_u64(), "{name} missing: {summary}");
    }
    // Every run finishes at least one whole cycle: these cannot be 0 however slow the machine.
    for name in [
        "appends",
        "bytes",
        "crash_cycles",
        "sigkills",
        "recoveries",
        "repairs",
        "verifies",
    ] {
        assert!(
            summary[name].as_u64().unwrap() > 0,
            "{name} is 0: {summary}"
        );
    }
    assert_eq!(summary["violations"], 0);
    let (code, report) = json(&["verify", s(&log), "--json"]);
    assert_eq!(code, 0, "the soak leaves a log that verifies: {report}");
}

#[test]
fn a_soak_resumes_on_the_log_it_wrote_and_prints_every_counter() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["1", "2"] {
        let (code, out, err) = run_text(&["soak", s(dir.path()), "--seconds", "1", "--seed", seed]);
        assert_eq!(code, 0, "{out}\n{err}");
        for name in COUNTERS {
            let line = out
                .lines()
                .find(|line| line.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no `{name}` line: {out}"));
            let value: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            if name == "violations" {
                assert_eq!(value, 0);
            }
        }
    }
}

#[test]
fn a_dir_that_is_a_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"data").unwrap();
    let (code, _, err) = run_text(&["soak", s(&file), "--seconds", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(s(&file)), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"data");
}

#[test]
fn a_non_empty_directory_without_a_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
    let (code, _, err) = run_text(&["soak", s(dir.path()), "--seconds", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(s(dir.path())), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_log_the_soak_did_not_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = interstice::Log::open(dir.path(), interstice::Options::default()).unwrap();
    log.append(b"an operator's record").unwrap();
    log.close().unwrap();
    let before = files(dir.path());
    let (code, _, err) = run_text(&["soak", s(dir.path()), "--seconds", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a soak record"), "{err}");
    assert_eq!(files(dir.path()), before, "a refused log is left as it was");
}
