//! `interstice dump`: every record's payload and a newline, in LSN order, read-only. Each
//! record is written only after its checksums validated; a torn tail ends the output quietly,
//! corruption before it ends it with an error naming the file and the byte offset.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use interstice::{Log, Lsn, Options};

use super::{Code, Outcome};

/// Arguments of `dump`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log directory.
    pub dir: PathBuf,
    /// Prefix each payload with its LSN and a tab.
    #[arg(long)]
    pub with_lsn: bool,
    /// Start at this LSN [default: the first record]
    #[arg(long, value_name = "LSN")]
    pub from: Option<u64>,
}

/// Runs `dump`.
pub fn run(args: &Args) -> Outcome {
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
