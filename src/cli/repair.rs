//! `interstice repair`: truncate at the first corruption or skip every damaged range, after
//! saving every removed byte to a quarantine file; `--dry-run` prints the plan only.

use std::io::{self, Write};
use std::path::PathBuf;

use interstice::Error;
use interstice::recovery::repair::{RepairReport, Strategy, repair};
use serde_json::json;

use super::verify::{problem_text, report_json};
use super::{Code, Failure, Outcome, lsn_range, print_json};

/// The repair strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyArg {
    /// Keep every record before the first corrupt one; quarantine and remove the rest.
    Truncate,
    /// Keep every intact record; quarantine each damaged range and pad over it.
    Skip,
}

/// Arguments of `repair`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log directory.
    pub dir: PathBuf,
    /// How to treat corruption.
    #[arg(long, value_enum)]
    pub strategy: StrategyArg,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `repair`.
pub fn run(args: &Args) -> Outcome {
    let strategy = match args.strategy {
        StrategyArg::Truncate => Strategy::Truncate,
        StrategyArg::Skip => Strategy::Skip,
    };
    let report = repair(&args.dir, strategy, args.dry_run).map_err(|error| match error {
        Error::Locked { path, lock } => Failure::failed(format!(
            "log {} is locked by a writer (lock file {}): stop it, then run repair again",
            path.display(),
            lock.display()
        )),
        other => Failure::from(other),
    })?;
    if args.json {
        print_json(&json!({
            "strategy": format!("{:?}", report.strategy).to_ascii_lowercase(),
            "dry_run": args.dry_run,
            "changed": !report.dry_run && !report.actions.is_empty(),
            "plan": report.actions.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "refused": report.refused,
            "records_kept": report.records_kept,
            "quarantined": report
                .quarantined
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
            "before": report_json(&report.before),
            "after": report.after.as_ref().map(report_json),
        }))?;
    } else {
        print_text(&report, args.dry_run)?;
    }
    let failed = !report.refused.is_empty()
        || report
            .after
            .as_ref()
            .is_some_and(|after| !after.is_intact());
    Ok(if failed { Code::Failed } else { Code::Ok })
}

fn print_text(report: &RepairReport, dry_run: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if report.before.is_intact() {
        writeln!(out, "nothing to repair: the log is intact")?;
        if let Some(torn) = report.before.torn_tail() {
            writeln!(out, "note: {}", problem_text(torn))?;
        }
        return Ok(());
    }
    for check in report.before.segments.iter().filter(|s| s.is_corrupt()) {
        writeln!(out, "found: {}", problem_text(check))?;
    }
    if !report.refused.is_empty() {
        for why in &report.refused {
            writeln!(out, "cannot repair: {why}")?;
        }
        writeln!(out, "nothing was changed")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} ({:?}):",
        if dry_run { "plan" } else { "done" },
        report.strategy
    )?;
    for (i, action) in report.actions.iter().enumerate() {
        writeln!(out, "  {}. {action}", i + 1)?;
    }
    if dry_run {
        writeln!(
            out,
            "the log would keep {} records; nothing was changed (dry run)",
            report.records_kept
        )?;
        return Ok(());
    }
    for path in &report.quarantined {
        writeln!(out, "quarantined: {}", path.display())?;
    }
    if let Some(after) = &report.after {
        if after.is_intact() {
            writeln!(
                out,
                "the log is intact: {} records, LSN {}",
                after.records(),
                lsn_range(after.first_lsn(), after.last_lsn())
            )?;
        } else if let Some(damaged) = after.first_corruption() {
            writeln!(out, "still damaged: {}", problem_text(damaged))?;
        }
    }
    Ok(())
}
