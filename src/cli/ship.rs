//! `interstice ship`: copy what a replica lacks (`interstice::ship`), once or, with
//! `--follow`, continuously until SIGINT or SIGTERM.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use interstice::ship::{self, Pass, ShipOptions, ShipReport, Shipper};
use serde_json::json;

use super::{Code, Failure, Outcome, lsn_json, print_json, progress};

/// Arguments of `ship`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The log to copy from (opened read-only; a writer may be appending to it).
    pub src: PathBuf,
    /// The replica's directory (created if missing).
    pub dst: PathBuf,
    /// Print the report as JSON (with `--follow`, one object per line).
    #[arg(long)]
    pub json: bool,
    /// Keep shipping as records become durable, printing a line per pass that changed the
    /// replica, until SIGINT or SIGTERM (the pass under way is finished first).
    #[arg(long)]
    pub follow: bool,
}

/// Runs `ship`.
pub fn run(args: &Args) -> Outcome {
    if args.follow {
        return follow(args);
    }
    let bar = progress(0, "ship");
    let drawn = bar.clone();
    let options = ShipOptions::new().on_progress(move |p| {
        drawn.set_length(p.total as u64);
        drawn.set_position(p.done as u64);
    });
    let report = ship::ship(&args.src, &args.dst, &options)?;
    bar.finish_and_clear();
    print_report(args, &report)?;
    Ok(Code::Ok)
}

fn print_report(args: &Args, report: &ShipReport) -> Result<(), Failure> {
    if args.json {
        return print_json(&json!({
            "src": args.src.display().to_string(),
            "dst": args.dst.display().to_string(),
            "copied": report.copied,
            "replaced": report.replaced,
            "unchanged": report.unchanged,
            "bytes_copied": report.bytes_copied,
            "shipped_lsn": lsn_json(report.shipped_lsn),
            "segments": report.segments.iter().map(|s| json!({
                "file": s.file,
                "action": s.action,
                "sealed": s.sealed,
                "records": s.records,
                "last_lsn": lsn_json(s.last_lsn),
            })).collect::<Vec<_>>(),
        }));
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{} copied, {} replaced, {} unchanged, {} bytes; {} holds the log up to LSN {}",
        report.copied,
        report.replaced,
        report.unchanged,
        report.bytes_copied,
        args.dst.display(),
        report
            .shipped_lsn
            .map_or_else(|| "-".into(), |lsn| lsn.to_string())
    )?;
    Ok(())
}

/// `ship --follow`: passes until SIGINT or SIGTERM; a line for the first pass and for each
/// one that changed the replica.
fn follow(args: &Args) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| Failure::failed(format!("install a signal handler: {e}")))?;
    }
    let mut first = true;
    let mut output = Ok(());
    Shipper::new(&args.src, &args.dst).run(&stop, |pass| {
        if output.is_ok() && (first || pass.report.changed()) {
            output = print_pass(args, pass);
            first = false;
        }
        if output.is_err() {
            // Nobody reads the lines any more (or stdout failed): stop after this pass.
            stop.store(true, Ordering::Release);
        }
    })?;
    match output {
        Ok(()) => Ok(Code::Ok),
        Err(error) => Err(error.into()),
    }
}

fn print_pass(args: &Args, pass: &Pass) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let (report, lag) = (&pass.report, &pass.lag);
    if args.json {
        let line = json!({
            "shipped_lsn": lag.replica_last.0,
            "source_durable": lag.source_durable.0,
            "behind": lag.behind,
            "copied": report.copied,
            "replaced": report.replaced,
            "unchanged": report.unchanged,
            "bytes_copied": report.bytes_copied,
            "pass_ms": lag.pass_time.as_secs_f64() * 1000.0,
        });
        serde_json::to_writer(&mut out, &line)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "shipped to LSN {} (source durable {}, {} behind): {} copied, {} replaced, {} \
             bytes in {:.1} ms",
            lag.replica_last,
            lag.source_durable,
            lag.behind,
            report.copied,
            report.replaced,
            report.bytes_copied,
            lag.pass_time.as_secs_f64() * 1000.0
        )?;
    }
    out.flush()
}
