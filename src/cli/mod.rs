//! Shared pieces of the commands: exit codes, the failure type, JSON and text output, size
//! parsing and progress bars (drawn only when stderr is a terminal).

pub mod append;
pub mod call;
pub mod demo;
pub mod digest;
pub mod dump;
pub mod inspect;
pub mod repair;
pub mod ship;
pub mod soak;
pub mod stats;
pub mod verify;

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use interstice::{Error, Lsn};

/// The exit code of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Done.
    Ok = 0,
    /// Corruption found, or the operation failed.
    Failed = 1,
    /// Bad arguments, or the directory is not a log.
    Usage = 2,
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> ExitCode {
        ExitCode::from(code as u8)
    }
}

/// Why a command stopped: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: Code,
    /// What went wrong and what to do next (empty: nothing to print).
    pub message: String,
}

impl Failure {
    /// A failed operation (exit code 1).
    pub fn failed(message: impl Display) -> Failure {
        Failure {
            code: Code::Failed,
            message: message.to_string(),
        }
    }

    /// Bad usage (exit code 2).
    pub fn usage(message: impl Display) -> Failure {
        Failure {
            code: Code::Usage,
            message: message.to_string(),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let code = match error {
            Error::NotALog { .. }
            | Error::UnsupportedVersion { .. }
            | Error::InvalidOptions { .. }
            | Error::LsnOutOfRange { .. } => Code::Usage,
            _ => Code::Failed,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    }
}

impl From<interstice::runtime::Error> for Failure {
    fn from(error: interstice::runtime::Error) -> Failure {
        match error {
            interstice::runtime::Error::Log(error) => error.into(),
            other => Failure::failed(other.to_string()),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        if error.kind() == io::ErrorKind::BrokenPipe {
            // The reader of our output went away (`dump | head`): not a failure of ours.
            return Failure {
                code: Code::Ok,
                message: String::new(),
            };
        }
        Failure::failed(format!("writing output: {error}"))
    }
}

/// What every command returns.
pub type Outcome = Result<Code, Failure>;

/// Prints a JSON value on stdout.
pub fn print_json(value: &serde_json::Value) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// An LSN as JSON: a number, or null.
pub fn lsn_json(lsn: Option<Lsn>) -> serde_json::Value {
    lsn.map_or(serde_json::Value::Null, |lsn| lsn.0.into())
}

/// An LSN range for people: `a..=b`, or `-` when empty.
pub fn lsn_range(first: Option<Lsn>, last: Option<Lsn>) -> String {
    match (first, last) {
        (Some(first), Some(last)) => format!("{first}..={last}"),
        _ => "-".into(),
    }
}

/// The file name of a path, for tables.
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// Parses a size in bytes: `65536`, `64k`, `64KiB`, `64m`, `1g`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size in bytes (e.g. 65536, 64k, 64MiB)"))?;
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown size unit `{unit}` (use k, m or g)")),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// A progress bar on stderr when it is a terminal; a hidden one otherwise.
pub fn progress(len: u64, message: &'static str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}
