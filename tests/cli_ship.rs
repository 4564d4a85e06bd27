//! `interstice ship`, `digest`, `stats`, `inspect` and `demo`: a replica shipped while the
//! source is written holds the same records up to the shipped LSN, re-shipping is idempotent,
//! and a segment sealed since the last run is replaced.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::{append, bin, dump, json, lines, run_text, s, wait_output};

fn digest(dir: &Path, upto: u64) -> String {
    let (code, out, err) = run_text(&["digest", s(dir), "--upto", &upto.to_string()]);
    assert_eq!(code, 0, "{err}");
    out
}

fn ship(src: &Path, dst: &Path) -> serde_json::Value {
    let (code, report) = json(&["ship", s(src), s(dst), "--json"]);
    assert_eq!(code, 0, "{report}");
    report
}

fn assert_replica_matches(src: &Path, dst: &Path, shipped: u64) {
    let (code, report) = json(&["verify", s(dst), "--json"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["status"], "intact");
    let (_, stats) = json(&["stats", s(dst), "--json"]);
    assert_eq!(stats["last_lsn"], shipped);
    assert_eq!(stats["records"], shipped);
    assert_eq!(digest(src, shipped), digest(dst, shipped));
    let source = dump(src);
    assert_eq!(dump(dst)[..], source[..shipped as usize]);
}

#[test]
fn ship_during_writes_gives_a_valid_replica_and_reshipping_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let input = lines(1..=6000);
    let mut writer = bin()
        .args(["append", s(&src), "--segment-size", "16k"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = writer.stdin.take().unwrap();
    let mut shipped_during = Vec::new();
    for chunk in input.chunks(1500) {
        for line in chunk {
            writeln!(stdin, "{line}").unwrap();
        }
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        if src.join("00000000000000000001.seg").exists() {
            let report = ship(&src, &dst);
            let shipped = report["shipped_lsn"].as_u64().unwrap_or(0);
            assert_replica_matches(&src, &dst, shipped);
            shipped_during.push(shipped);
        }
    }
    drop(stdin);
    assert!(wait_output(writer).status.success());
    assert!(!shipped_during.is_empty());
    assert!(
        shipped_during.windows(2).all(|w| w[0] <= w[1]),
        "{shipped_during:?}"
    );
    let report = ship(&src, &dst);
    assert_eq!(report["shipped_lsn"], 6000);
    assert_replica_matches(&src, &dst, 6000);
    let (_, all_src, _) = run_text(&["digest", s(&src)]);
    let (_, all_dst, _) = run_text(&["digest", s(&dst)]);
    assert_eq!(all_src, all_dst);
    let again = ship(&src, &dst);
    assert_eq!(again["copied"], 0, "{again}");
    assert_eq!(again["replaced"], 0, "{again}");
    assert_eq!(again["bytes_copied"], 0, "{again}");
}

#[test]
fn a_segment_active_on_the_last_ship_and_sealed_since_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    append(&src, &lines(1..=10), "16k");
    let first = ship(&src, &dst);
    assert_eq!(first["copied"], 1);
    assert_eq!(first["segments"][0]["sealed"], false);
    assert_eq!(first["shipped_lsn"], 10);
    append(&src, &lines(11..=1000), "16k");
    let second = ship(&src, &dst);
    assert_eq!(second["replaced"], 1, "{second}");
    assert_eq!(second["segments"][0]["action"], "replaced");
    assert_eq!(second["segments"][0]["sealed"], true);
    assert_replica_matches(&src, &dst, 1000);
    // The replica can be promoted: a writer opens it and continues.
    append(&dst, &["on the replica".to_owned()], "16k");
    assert_eq!(dump(&dst).last().unwrap(), "on the replica");
    // It is no longer a copy of the source: shipping refuses instead of overwriting.
    append(&src, &["on the source".to_owned()], "16k");
    let (code, _, err) = run_text(&["ship", s(&src), s(&dst)]);
    assert_eq!(code, 1);
    assert!(err.contains("diverged"), "{err}");
}

#[test]
fn ship_refuses_a_replica_of_another_log() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    append(&a, &lines(1..=10), "16k");
    append(&b, &lines(1..=10), "16k");
    let (code, _, err) = run_text(&["ship", s(&a), s(&b)]);
    assert_eq!(code, 1);
    assert!(err.contains("another log"), "{err}");
}

#[test]
fn inspect_tells_where_a_record_lives_and_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    append(dir.path(), &["alpha".to_owned(), "beta".to_owned()], "16k");
    let (code, record) = json(&["inspect", s(dir.path()), "--lsn", "2", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(record["lsn"], 2);
    assert!(
        record["file"]
            .as_str()
            .unwrap()
            .ends_with("00000000000000000001.seg")
    );
    assert_eq!(record["offset"], 64 + 32);
    assert_eq!(record["length"], 4);
    assert_eq!(record["hex"], "62657461");
    assert_eq!(record["text"], "beta");
    assert_eq!(record["format_version"], 2);
    assert_eq!(record["check"], "xxh3");
    let bytes = std::fs::read(record["file"].as_str().unwrap()).unwrap();
    let stored = u32::from_le_bytes(bytes[96..100].try_into().unwrap());
    assert_eq!(record["header_check"], format!("{stored:08x}"));
    let stored = u32::from_le_bytes(bytes[100..104].try_into().unwrap());
    assert_eq!(record["payload_check"], format!("{stored:08x}"));
    assert_eq!(&bytes[96 + 24..96 + 28], b"beta");
    let (code, out, _) = run_text(&["inspect", s(dir.path()), "--lsn", "1"]);
    assert_eq!(code, 0);
    assert!(out.contains("61 6c 70 68 61"), "{out}");
}

#[test]
fn demo_appends_reopens_replays_and_reports_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("demo");
    let (code, out, err) = run_text(&[
        "demo",
        "--records",
        "20000",
        "--dir",
        s(&log),
        "--segment-size",
        "1m",
    ]);
    assert_eq!(code, 0, "{err}");
    for word in ["records/s", "MB/s", "open", "replay", "ok"] {
        assert!(out.contains(word), "{word}: {out}");
    }
    let (_, stats) = json(&["stats", s(&log), "--json"]);
    assert_eq!(stats["records"], 20000);
    assert!(stats["segments"].as_array().unwrap().len() > 1);
    let (code, _, _) = run_text(&["demo", "--records", "10", "--dir", s(&log)]);
    assert_eq!(code, 2, "the demo refuses a directory that holds a log");
}
