//! `interstice stats`: the segments with their LSN ranges, record counts, sizes and sealed
//! state, read-only.

use std::io::{self, Write};
use std::path::PathBuf;

use interstice::{Log, Options};
use serde_json::json;

use super::{Code, Outcome, file_name, lsn_json, lsn_range, print_json};

/// Arguments of `stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log directory.
    pub dir: PathBuf,
    /// Print the statistics as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `stats`.
pub fn run(args: &Args) -> Outcome {
    let log = Log::open_read_only(&args.dir, Options::default())?;
    let segments = log.segments();
    let records: u64 = segments.iter().map(|s| s.records).sum();
    let first = segments.iter().find_map(|s| s.first_lsn);
    let last = segments.iter().rev().find_map(|s| s.last_lsn);
    let bytes_used: u64 = segments.iter().map(|s| s.bytes_used).sum();
    let file_bytes: u64 = segments.iter().map(|s| s.file_len).sum();
    if args.json {
        print_json(&json!({
            "dir": args.dir.display().to_string(),
            "records": records,
            "first_lsn": lsn_json(first),
            "last_lsn": lsn_json(last),
            "bytes_used": bytes_used,
            "file_bytes": file_bytes,
            "segments": segments.iter().map(|s| json!({
                "file": file_name(&s.path),
                "id": s.id.0,
                "base_lsn": s.base_lsn.0,
                "first_lsn": lsn_json(s.first_lsn),
                "last_lsn": lsn_json(s.last_lsn),
                "records": s.records,
                "sealed": s.sealed,
                "bytes": s.bytes_used,
                "file_len": s.file_len,
            })).collect::<Vec<_>>(),
        }))?;
        return Ok(Code::Ok);
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{:<26} {:<8} {:>10} {:<24} {:>12} {:>12}",
        "segment", "state", "records", "LSN range", "bytes used", "file bytes"
    )?;
    for s in &segments {
        writeln!(
            out,
            "{:<26} {:<8} {:>10} {:<24} {:>12} {:>12}",
            file_name(&s.path),
            if s.sealed { "sealed" } else { "active" },
            s.records,
            lsn_range(s.first_lsn, s.last_lsn),
            s.bytes_used,
            s.file_len
        )?;
    }
    writeln!(
        out,
        "total: {} segments, {records} records, LSN {}, {bytes_used} bytes used of {file_bytes}",
        segments.len(),
        lsn_range(first, last)
    )?;
    Ok(Code::Ok)
}
