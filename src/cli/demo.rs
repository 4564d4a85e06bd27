//! `interstice demo`: the README's main job, end to end. Creates a log in a temporary
//! directory, appends a million 128-byte records with rotation, syncs, closes, reopens
//! (recovery), replays and checks every record's bytes, and prints the throughput.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use interstice::{Log, Lsn, Options};

use super::{Code, Failure, Outcome, parse_size, progress};

/// Size of each demo record.
const RECORD_SIZE: usize = 128;

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of records to append.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Directory for the log (must not hold a log yet; the temporary default is removed at the end)
    /// [default: a new temporary directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Size of each segment file; accepts k, m and g suffixes.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "64MiB")]
    pub segment_size: u64,
}

/// The payload of record `lsn`: its LSN, then bytes derived from it.
fn payload(lsn: u64, out: &mut [u8; RECORD_SIZE]) {
    out[..8].copy_from_slice(&lsn.to_le_bytes());
    let mut x = lsn.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in out[8..].chunks_mut(8) {
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

/// Removes the temporary directory when the demo ends, however it ends.
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Runs `demo`.
pub fn run(args: &Args) -> Outcome {
    let (dir, _cleanup) = if let Some(dir) = &args.dir {
        if dir.join("00000000000000000001.seg").exists() {
            return Err(Failure::usage(format!(
                "{} already holds a log; give the demo an empty directory",
                dir.display()
            )));
        }
        (dir.clone(), Cleanup(None))
    } else {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("interstice-demo-{}-{nanos}", std::process::id()));
        (dir.clone(), Cleanup(Some(dir)))
    };
    let options = Options {
        segment_size: Options::round_segment_size(args.segment_size),
        ..Options::default()
    };
    let n = args.records;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "interstice demo: {n} records of {RECORD_SIZE} bytes, {} byte segments, in {}",
        options.segment_size,
        dir.display()
    )?;
    let append_time = append(&dir, &options, n)?;
    let mb = (n * RECORD_SIZE as u64) as f64 / 1e6;
    writeln!(
        out,
        "append  {n} records in {:.3} s (synced, closed): {:.0} records/s, {:.1} MB/s",
        append_time.as_secs_f64(),
        n as f64 / append_time.as_secs_f64(),
        mb / append_time.as_secs_f64()
    )?;
    let opened = Instant::now();
    let log = Log::open(&dir, options)?;
    let open_time = opened.elapsed();
    writeln!(
        out,
        "open    {} segments recovered in {:.3} ms (clean: {})",
        log.segments().len(),
        open_time.as_secs_f64() * 1e3,
        log.recovery_report().is_clean()
    )?;
    let replay_time = replay(&log, n)?;
    writeln!(
        out,
        "replay  {n} records checked in {:.3} s: {:.0} records/s, {:.1} MB/s",
        replay_time.as_secs_f64(),
        n as f64 / replay_time.as_secs_f64(),
        mb / replay_time.as_secs_f64()
    )?;
    log.close()?;
    writeln!(out, "ok: every record came back byte for byte")?;
    Ok(Code::Ok)
}

fn append(dir: &Path, options: &Options, n: u64) -> Result<Duration, Failure> {
    let bar = progress(n, "append");
    let started = Instant::now();
    let log = Log::open(dir, options.clone())?;
    let mut record = [0; RECORD_SIZE];
    for lsn in 1..=n {
        payload(lsn, &mut record);
        log.append(&record)?;
        if lsn.is_multiple_of(1 << 16) {
            bar.set_position(lsn);
        }
    }
    log.sync()?;
    log.close()?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    Ok(elapsed)
}

fn replay(log: &Log, n: u64) -> Result<Duration, Failure> {
    let bar = progress(n, "replay");
    let started = Instant::now();
    let mut expected = [0; RECORD_SIZE];
    let mut next = 1;
    let count = log.replay(Lsn::FIRST, |record| -> Result<(), Failure> {
        payload(next, &mut expected);
        if record.lsn != Lsn(next) || record.payload != expected {
            return Err(Failure::failed(format!(
                "record {} came back wrong (expected LSN {next})",
                record.lsn
            )));
        }
        if next.is_multiple_of(1 << 16) {
            bar.set_position(next);
        }
        next += 1;
        Ok(())
    })?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    if count != n {
        return Err(Failure::failed(format!(
            "replay returned {count} records, {n} were appended"
        )));
    }
    Ok(elapsed)
}
