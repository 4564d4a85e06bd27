//! `interstice append` and `dump`: byte-for-byte round trips, rotation, torn tails,
//! corruption, bad input and `--help`.

mod common;

use std::path::Path;

use common::{append, dump, flip_bit, json, lines, locate, patch, run, run_text, s};

#[test]
fn round_trip_keeps_empty_and_multi_kib_lines_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut text = Vec::new();
    for i in 0..500u32 {
        let line = match i % 5 {
            0 => String::new(),
            1 => "x".repeat(5000 + i as usize),
            2 => format!("tab\there, {i} \u{e9}t\u{e9} \r"),
            3 => " ".repeat(3),
            _ => format!("record {i}"),
        };
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
    }
    let output = run(&["append", s(&log)], &text);
    assert!(output.status.success(), "{output:?}");
    let dumped = run(&["dump", s(&log)], b"");
    assert!(dumped.status.success());
    assert_eq!(
        dumped.stdout, text,
        "dump must give back the input byte for byte"
    );
}

#[test]
fn small_segment_size_rotates_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let input = lines(1..=3000);
    append(dir.path(), &input, "16384");
    let (code, stats) = json(&["stats", s(dir.path()), "--json"]);
    assert_eq!(code, 0);
    let segments = stats["segments"].as_array().unwrap();
    assert!(segments.len() > 5, "16 KiB segments must rotate: {stats}");
    assert_eq!(stats["records"], 3000);
    assert_eq!(stats["first_lsn"], 1);
    assert_eq!(stats["last_lsn"], 3000);
    for segment in &segments[..segments.len() - 1] {
        assert_eq!(segment["sealed"], true);
        assert!(segment["bytes"].as_u64().unwrap() > 64);
        assert!(
            Path::new(segment["file"].as_str().unwrap())
                .extension()
                .is_some_and(|e| e == "seg")
        );
    }
    let total: u64 = segments
        .iter()
        .map(|s| s["records"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3000);
    assert_eq!(dump(dir.path()), input);
    // A second run continues the LSNs.
    append(dir.path(), &lines(3001..=3010), "16384");
    assert_eq!(dump(dir.path()).len(), 3010);
}

#[test]
fn dump_with_lsn_and_from_prefixes_and_starts_at_the_lsn() {
    let dir = tempfile::tempdir().unwrap();
    append(dir.path(), &lines(1..=300), "16k");
    let (code, out, _) = run_text(&["dump", s(dir.path()), "--with-lsn", "--from", "250"]);
    assert_eq!(code, 0);
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), 51);
    assert_eq!(got[0], format!("250\t{}", lines(250..=250)[0]));
    assert_eq!(got[50], format!("300\t{}", lines(300..=300)[0]));
}

#[test]
fn torn_tail_is_a_warning_and_dump_stops_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = lines(1..=200);
    append(dir.path(), &input, "64k");
    let (file, _, payload, len) = locate(dir.path(), 200);
    // A torn write: the end of the last record and the commit markers after it (the one of
    // the final sync and the one of the clean close) never reached the disk.
    patch(&file, payload + len - 4, &[0; 4 + 8 + 2 * 40]);
    let (code, report) = json(&["verify", s(dir.path()), "--json"]);
    assert_eq!(code, 0, "a torn tail is not corruption: {report}");
    assert_eq!(report["status"], "torn_tail");
    assert_eq!(dump(dir.path()), input[..199]);
    // The next writable open discards it (quarantined) and appending continues.
    append(dir.path(), &["after".to_owned()], "64k");
    let (_, out, _) = run_text(&["dump", s(dir.path()), "--with-lsn", "--from", "199"]);
    assert_eq!(out, format!("199\t{}\n200\tafter\n", input[198]));
    assert_eq!(common::quarantine_files(dir.path()).len(), 1);
}

#[test]
fn dump_fails_on_corruption_naming_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let input = lines(1..=1000);
    append(dir.path(), &input, "16k");
    let (file, offset, payload, _) = locate(dir.path(), 100);
    flip_bit(&file, payload + 1);
    let output = run(&["dump", s(dir.path())], b"");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(s(&file)), "{stderr}");
    assert!(stderr.contains(&format!("byte {offset}")), "{stderr}");
    let printed: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(printed, input[..99], "only validated records are printed");
}

#[test]
fn record_larger_than_a_segment_fails_cleanly_and_keeps_earlier_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("one\ntwo\n{}\nfour\n", "y".repeat(40_000));
    let output = run(
        &["append", s(dir.path()), "--segment-size", "16k"],
        text.as_bytes(),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert_eq!(dump(dir.path()), ["one", "two"]);
}

#[test]
fn bad_input_gets_a_message_and_a_usage_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    for args in [
        vec!["dump", s(&missing)],
        vec!["verify", s(&missing)],
        vec!["stats", s(&missing)],
        vec!["digest", s(&missing)],
        vec!["inspect", s(&missing), "--lsn", "1"],
        vec!["repair", s(&missing), "--strategy", "skip"],
    ] {
        let (code, _, err) = run_text(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("not an Interstice log"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = run_text(&["append", s(dir.path()), "--segment-size", "lots"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run_text(&["frobnicate"]);
    assert_eq!(code, 2);
    let (code, _, _) = run_text(&["dump"]);
    assert_eq!(code, 2);
    append(dir.path(), &lines(1..=3), "16k");
    let (code, _, err) = run_text(&["inspect", s(dir.path()), "--lsn", "99"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no record with LSN 99"), "{err}");
}

#[test]
fn every_command_has_help() {
    for command in [
        "append", "dump", "verify", "repair", "stats", "ship", "digest", "inspect", "demo",
    ] {
        let (code, out, _) = run_text(&[command, "--help"]);
        assert_eq!(code, 0, "{command}");
        assert!(out.contains("Usage"), "{command}: {out}");
    }
    let (code, out, _) = run_text(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("repair"));
}
