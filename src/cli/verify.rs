//! `interstice verify`: walk every record of every segment and report damage; changes
//! nothing. Exit 0 when intact (a torn tail is only a warning), 1 when repair is needed.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use interstice::Error;
use interstice::recovery::verify::{SegmentCheck, Status, VerifyReport, verify_with};
use serde_json::{Value, json};

use super::{Code, Failure, Outcome, file_name, lsn_json, lsn_range, print_json, progress};

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log directory.
    pub dir: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `verify`.
pub fn run(args: &Args) -> Outcome {
    let bar = progress(0, "verify");
    let report = verify_with(&args.dir, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .map_err(|error| {
        // A log that cannot be read is not verified at all: exit 2, as for "not a log".
        let unreadable = matches!(error, Error::Io { .. });
        let mut failure = Failure::from(error);
        if unreadable {
            failure.code = Code::Usage;
        }
        failure
    })?;
    bar.finish_and_clear();
    if args.json {
        print_json(&report_json(&report))?;
    } else {
        print_text(&report)?;
    }
    if let Some(damaged) = report.first_corruption() {
        // The text report on a terminal already says it; repeated on stderr for a reader of
        // a pipe or of the JSON.
        if args.json || !io::stdout().is_terminal() {
            eprintln!("interstice: {}", problem_text(damaged));
        }
        return Ok(Code::Failed);
    }
    Ok(Code::Ok)
}

/// One line on a segment's problem, if it has one.
pub fn problem_text(check: &SegmentCheck) -> String {
    let path = check.path.display();
    match &check.status {
        Status::Intact => format!("{path}: intact"),
        Status::TornTail {
            offset,
            damage,
            bytes,
        } => format!(
            "torn tail in {path} at byte {offset} ({damage}): {bytes} bytes after LSN {} were \
             never acknowledged; the next writable open saves them to a quarantine file and \
             discards them",
            check
                .last_lsn
                .map_or_else(|| "-".into(), |lsn| lsn.to_string())
        ),
        Status::Unfinished => format!(
            "{path} is an unfinished segment (its header never reached the disk, or the file \
             is shorter than a header): nothing in it was acknowledged; the next writable open \
             removes it"
        ),
        Status::Corrupt {
            offset,
            damage,
            last_good_lsn,
        } => format!(
            "corruption in {path} at byte {offset}: {damage}; last good LSN {last_good_lsn}"
        ),
        _ => format!("{path}: {:?}", check.status),
    }
}

fn status_word(status: &Status) -> &'static str {
    match status {
        Status::Intact => "ok",
        Status::TornTail { .. } => "torn-tail",
        Status::Unfinished => "unfinished",
        Status::Corrupt { .. } => "CORRUPT",
        _ => "unknown",
    }
}

fn print_text(report: &VerifyReport) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{:<26} {:<8} {:>10} {:<24} status",
        "segment", "state", "records", "LSN range"
    )?;
    for check in &report.segments {
        writeln!(
            out,
            "{:<26} {:<8} {:>10} {:<24} {}",
            file_name(&check.path),
            if check.is_sealed() {
                "sealed"
            } else {
                "active"
            },
            check.records,
            lsn_range(check.first_lsn, check.last_lsn),
            status_word(&check.status)
        )?;
    }
    for check in &report.segments {
        match check.status {
            Status::Intact => {}
            Status::Corrupt { .. } => writeln!(out, "{}", problem_text(check))?,
            _ => writeln!(out, "warning: {}", problem_text(check))?,
        }
    }
    let dir = report.dir.display();
    if report.is_intact() {
        writeln!(
            out,
            "{dir}: intact: {} segments, {} records, LSN {}",
            report.segments.len(),
            report.records(),
            lsn_range(report.first_lsn(), report.last_lsn())
        )?;
    } else {
        writeln!(
            out,
            "{dir}: needs repair; see the plan with `interstice repair {dir} --strategy \
             truncate|skip --dry-run`"
        )?;
    }
    Ok(())
}

/// The report as JSON.
pub fn report_json(report: &VerifyReport) -> Value {
    let status = if !report.is_intact() {
        "corrupt"
    } else if report.torn_tail().is_some() {
        "torn_tail"
    } else {
        "intact"
    };
    let segments: Vec<Value> = report.segments.iter().map(segment_json).collect();
    let paths = |paths: &[PathBuf]| -> Vec<String> {
        paths.iter().map(|p| p.display().to_string()).collect()
    };
    json!({
        "dir": report.dir.display().to_string(),
        "status": status,
        "intact": report.is_intact(),
        "records": report.records(),
        "first_lsn": lsn_json(report.first_lsn()),
        "last_lsn": lsn_json(report.last_lsn()),
        "segments": segments,
        "problems": report
            .segments
            .iter()
            .filter(|s| s.status != Status::Intact)
            .map(|s| json!({
                "file": s.path.display().to_string(),
                "status": status_word(&s.status).to_ascii_lowercase(),
                "message": problem_text(s),
            }))
            .collect::<Vec<_>>(),
        "preparing": paths(&report.preparing),
        "quarantine": paths(&report.quarantine),
    })
}

fn segment_json(check: &SegmentCheck) -> Value {
    let mut value = json!({
        "file": check.path.display().to_string(),
        "id": check.id.0,
        "sealed": check.is_sealed(),
        "records": check.records,
        "first_lsn": lsn_json(check.first_lsn),
        "last_lsn": lsn_json(check.last_lsn),
        "valid_end": check.valid_end,
        "file_len": check.file_len,
        "status": status_word(&check.status).to_ascii_lowercase(),
    });
    match &check.status {
        Status::Corrupt {
            offset,
            damage,
            last_good_lsn,
        } => {
            value["offset"] = (*offset).into();
            value["damage"] = damage.to_string().into();
            value["last_good_lsn"] = last_good_lsn.0.into();
        }
        Status::TornTail {
            offset,
            damage,
            bytes,
        } => {
            value["offset"] = (*offset).into();
            value["damage"] = damage.to_string().into();
            value["torn_bytes"] = (*bytes).into();
        }
        _ => {}
    }
    value
}
