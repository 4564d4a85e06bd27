//! `interstice dump`: every record's payload and a newline, in LSN order, read-only. Each
//! record is written only after its checksums validated; a torn tail ends the output quietly,
//! corruption before it ends it with an error naming the file and the byte offset. With
//! `--follow` it then prints each record as it becomes durable, until interrupted.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use interstice::runtime::History;
use interstice::{Error, FollowMode, Log, Lsn, Options, Record};

use super::{Code, Failure, Outcome};

/// Arguments of `dump`.
#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // command-line flags
pub struct Args {
    /// Log directory.
    pub dir: PathBuf,
    /// Prefix each payload with its LSN and a tab.
    #[arg(long)]
    pub with_lsn: bool,
    /// Start at this LSN [default: the first record]
    #[arg(long, value_name = "LSN")]
    pub from: Option<u64>,
    /// After the records there, print each new one as it becomes durable, until SIGINT or
    /// SIGTERM (exit 0). Waits for DIR to exist and hold a log. Exits non-zero when the log
    /// is truncated below what was printed, or removed.
    #[arg(long, conflicts_with = "runtime")]
    pub follow: bool,
    /// Decode a runtime's records: one line per record with the reducer call, the changes
    /// (rows before and after), schemas and migrations.
    #[arg(long)]
    pub runtime: bool,
    /// With --runtime: one JSON object per line.
    #[arg(long, requires = "runtime")]
    pub json: bool,
}

/// Runs `dump`.
pub fn run(args: &Args) -> Outcome {
    if args.follow {
        return follow(args);
    }
    if args.runtime {
        return runtime(args);
    }
    let log = Log::open_read_only(&args.dir, Options::default())?;
    let reader = log.reader();
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    for item in reader.iter_from(Lsn(args.from.unwrap_or(0))) {
        match item {
            Ok(record) => {
                if args.with_lsn {
                    write!(out, "{}\t", record.lsn)?;
                }
                out.write_all(record.payload)?;
                out.write_all(b"\n")?;
            }
            Err(error) => {
                // Everything written so far validated; the damage is reported.
                out.flush()?;
                return Err(error.into());
            }
        }
    }
    out.flush()?;
    Ok(Code::Ok)
}

/// `dump --runtime`: the runtime's records decoded, as text or JSON lines.
fn runtime(args: &Args) -> Outcome {
    let history = History::open(&args.dir)?;
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    if let Some(base) = history.base()
        && !args.json
    {
        writeln!(
            out,
            "(from the snapshot at LSN {base}: the log no longer holds what is before)"
        )?;
    }
    let mut failed_write = None;
    let walked = history.walk(Lsn(args.from.unwrap_or(0)), |entry| {
        let written = if args.json {
            writeln!(out, "{}", entry.to_json())
        } else {
            writeln!(out, "{entry}")
        };
        Ok(match written {
            Ok(()) => true,
            Err(e) => {
                failed_write = Some(e);
                false
            }
        })
    });
    if let Some(error) = failed_write {
        quietly_closed(Err(error))?;
        return Ok(Code::Ok);
    }
    // Everything written so far decoded; a failure is reported after it.
    quietly_closed(out.flush())?;
    walked?;
    Ok(Code::Ok)
}

/// How long a follow waits for a record before it looks at the stop flag and the directory.
const LOOK: Duration = Duration::from_millis(100);

/// `dump --follow`: the records, then each new durable one, each line flushed as soon as no
/// other record is ready, so a reader on a pipe sees it at once.
fn follow(args: &Args) -> Outcome {
    let stop = stop_on_signals()?;
    let Some(log) = wait_for_log(&args.dir, &stop)? else {
        return Ok(Code::Ok);
    };
    let mut follower = log.follow(Lsn(args.from.unwrap_or(0)), FollowMode::Durable);
    let mut out = BufWriter::with_capacity(64 << 10, io::stdout().lock());
    while !stop.load(Ordering::Relaxed) {
        while let Some(record) = follower.try_next()? {
            if quietly_closed(print(&mut out, args.with_lsn, &record))? {
                return Ok(Code::Ok);
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if quietly_closed(out.flush())? {
            return Ok(Code::Ok);
        }
        match follower.next(LOOK)? {
            Some(record) if quietly_closed(print(&mut out, args.with_lsn, &record))? => {
                return Ok(Code::Ok);
            }
            None if !args.dir.is_dir() => {
                return Err(Failure::failed(format!(
                    "{}: the log was removed while it was followed",
                    args.dir.display()
                )));
            }
            _ => {}
        }
    }
    quietly_closed(out.flush())?;
    Ok(Code::Ok)
}

fn print(out: &mut impl Write, with_lsn: bool, record: &Record<'_>) -> io::Result<()> {
    if with_lsn {
        write!(out, "{}\t", record.lsn)?;
    }
    out.write_all(record.payload)?;
    out.write_all(b"\n")
}

/// True when stdout was closed (a reader that went away): a quiet end, not a failure.
fn quietly_closed(written: io::Result<()>) -> Result<bool, Failure> {
    match written {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// A flag that SIGINT and SIGTERM raise (instead of ending the process mid-line).
fn stop_on_signals() -> Result<Arc<AtomicBool>, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| Failure::failed(format!("install a signal handler: {e}")))?;
    }
    Ok(stop)
}

/// Opens `dir` read-only, waiting while it does not exist or holds no log yet; `None` when
/// stopped first.
fn wait_for_log(dir: &Path, stop: &AtomicBool) -> Result<Option<Log>, Failure> {
    loop {
        match Log::open_read_only(dir, Options::default()) {
            Ok(log) => return Ok(Some(log)),
            Err(Error::NotALog { .. }) if no_log_yet(dir) => {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                std::thread::sleep(LOOK);
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// True while `dir` does not exist, or is a directory without a segment file.
fn no_log_yet(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Err(e) => e.kind() == io::ErrorKind::NotFound,
        Ok(entries) => !entries
            .filter_map(std::result::Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".seg")),
    }
}
