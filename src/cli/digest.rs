//! `interstice digest`: one CRC32 over the records (each record's LSN, length and payload),
//! so that a log and its replicas can be compared, read-only.

use std::path::PathBuf;

use interstice::{Log, Options};
use serde_json::json;

use super::{Code, Failure, Outcome, lsn_json, lsn_range, print_json};

/// Arguments of `digest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log directory.
    pub dir: PathBuf,
    /// Cover the records up to and including this LSN only [default: the last record]
    #[arg(long, value_name = "LSN")]
    pub upto: Option<u64>,
    /// Print the digest as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `digest`.
pub fn run(args: &Args) -> Outcome {
    let log = Log::open_read_only(&args.dir, Options::default())?;
    let upto = args.upto.unwrap_or(u64::MAX);
    let mut hasher = crc32fast::Hasher::new();
    let mut records = 0u64;
    let (mut first, mut last) = (None, None);
    for item in &log.reader() {
        let record = item?;
        if record.lsn.0 > upto {
            break;
        }
        hasher.update(&record.lsn.0.to_le_bytes());
        hasher.update(&(record.payload.len() as u64).to_le_bytes());
        hasher.update(record.payload);
        records += 1;
        first.get_or_insert(record.lsn);
        last = Some(record.lsn);
    }
    // A digest of a shorter range than asked would compare equal to a replica that is just
    // as short: refuse it.
    if let Some(upto) = args.upto
        && last.is_none_or(|last| last.0 < upto)
    {
        let held = last.map_or_else(
            || "holds no record up to it".into(),
            |l| format!("ends at LSN {l}"),
        );
        return Err(Failure::failed(format!(
            "log {} {held}, before --upto {upto}: no digest of a range it does not hold",
            args.dir.display()
        )));
    }
    let digest = hasher.finalize();
    if args.json {
        print_json(&json!({
            "digest": format!("{digest:08x}"),
            "records": records,
            "first_lsn": lsn_json(first),
            "last_lsn": lsn_json(last),
        }))?;
    } else {
        println!(
            "{digest:08x}  {records} records, LSN {}",
            lsn_range(first, last)
        );
    }
    Ok(Code::Ok)
}
