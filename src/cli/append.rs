//! `interstice append`: every line of stdin (without its newline) becomes one record, in
//! order; the command exits 0 only once every record is durable.

use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use interstice::{Log, Options};

use super::{Code, Failure, Outcome};

/// Sync at least this often (in framed bytes) while input flows, so a long run keeps its
/// durable point moving and readers and `ship` see progress.
const SYNC_BYTES: usize = 16 << 20;
/// ... and at least this often in time.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Arguments of `append`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log directory (created if missing).
    pub dir: PathBuf,
    /// Size of new segment files (rounded up to a multiple of 4 KiB, at least 16 KiB);
    /// accepts k, m and g suffixes.
    #[arg(long, value_name = "BYTES", value_parser = super::parse_size, default_value = "64MiB")]
    pub segment_size: u64,
}

/// Runs `append`.
pub fn run(args: &Args) -> Outcome {
    let options = Options {
        segment_size: Options::round_segment_size(args.segment_size),
        ..Options::default()
    };
    let log = Log::open(&args.dir, options)?;
    let first = log.last_lsn().next();
    let appended = append_lines(&log, &mut BufReader::with_capacity(1 << 20, io::stdin()));
    // Whatever was appended before a failure is made durable too.
    let synced = log.sync();
    let last = log.last_lsn();
    let closed = log.close();
    let count = appended?;
    synced?;
    closed?;
    if io::stderr().is_terminal() {
        eprintln!(
            "appended {count} records ({}), durable",
            super::lsn_range((count > 0).then_some(first), (count > 0).then_some(last))
        );
    }
    Ok(Code::Ok)
}

/// Appends every line of `input`; returns the number of records appended.
fn append_lines(log: &Log, input: &mut impl BufRead) -> Result<u64, Failure> {
    let mut line = Vec::with_capacity(64 * 1024);
    let mut count: u64 = 0;
    let mut unsynced = 0;
    let mut last_sync = Instant::now();
    loop {
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::failed(format!("reading stdin: {e}")))?;
        if read == 0 {
            return Ok(count);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        log.append(&line).map_err(|e| {
            Failure::failed(format!(
                "line {}: {e} ({count} records before it were appended and made durable)",
                count + 1
            ))
        })?;
        count += 1;
        unsynced += line.len() + 24;
        if unsynced >= SYNC_BYTES
            || (count.is_multiple_of(256) && last_sync.elapsed() >= SYNC_INTERVAL)
        {
            log.sync()?;
            unsynced = 0;
            last_sync = Instant::now();
        }
    }
}
