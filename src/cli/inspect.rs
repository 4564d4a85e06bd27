//! `interstice inspect`: where one record lives (file, offset, length, checksums) and its
//! payload as hex and text, read-only.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use interstice::format::header::HeaderInfo;
use interstice::format::record::{self, Step};
use interstice::format::{self as format, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE};
use interstice::runtime::History;
use interstice::runtime::history::Entry;
use interstice::{Log, Lsn, Options};
use serde_json::json;

use super::{Code, Failure, Outcome, print_json};

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log directory.
    pub dir: PathBuf,
    /// The record's LSN.
    #[arg(long, value_name = "LSN")]
    pub lsn: u64,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also decode it as a runtime's record: the reducer call, the changes with the rows
    /// before and after, or the schema or migration.
    #[arg(long)]
    pub runtime: bool,
}

/// The runtime's record at `lsn`, decoded with the rows before it changed them.
fn decode(dir: &std::path::Path, lsn: Lsn) -> Result<Entry, Failure> {
    let history = History::open(dir)?;
    if let Some(base) = history.base()
        && lsn <= base
    {
        return Err(Failure::failed(format!(
            "LSN {lsn} is in the snapshot at LSN {base}: its changes cannot be decoded \
             against the rows before them"
        )));
    }
    let mut found = None;
    history.walk(lsn, |entry| {
        found = Some(entry.clone());
        Ok(false)
    })?;
    found.ok_or_else(|| Failure::failed(format!("no runtime record at LSN {lsn}")))
}

/// What the record's header says.
struct Framing {
    version: u32,
    check: &'static str,
    header_check: u32,
    payload_check: u32,
    framed_len: usize,
    flags: u8,
}

/// Runs `inspect`.
pub fn run(args: &Args) -> Outcome {
    let log = Log::open_read_only(&args.dir, Options::default())?;
    let reader = log.reader();
    let Some(record) = reader.get(Lsn(args.lsn))? else {
        return Err(Failure::usage(format!(
            "the log holds no record with LSN {} (it holds {})",
            args.lsn,
            super::lsn_range(log.first_lsn(), Some(log.last_lsn()))
        )));
    };
    let segment = log
        .segments()
        .into_iter()
        .find(|s| s.id == record.segment)
        .ok_or_else(|| Failure::failed("the record's segment left the log"))?;
    let framing = framing(&segment.path, record.offset, record.payload.len())?;
    let text = String::from_utf8_lossy(record.payload);
    let decoded = if args.runtime {
        Some(decode(&args.dir, record.lsn)?)
    } else {
        None
    };
    if args.json {
        print_json(&json!({
            "lsn": record.lsn.0,
            "file": segment.path.display().to_string(),
            "segment": segment.id.0,
            "offset": record.offset,
            "payload_offset": record.offset + RECORD_HEADER_SIZE as u64,
            "length": record.payload.len(),
            "framed_length": framing.framed_len,
            "format_version": framing.version,
            "check": framing.check,
            "header_check": format!("{:08x}", framing.header_check),
            "payload_check": format!("{:08x}", framing.payload_check),
            "batch_continues": framing.flags & record::FLAG_BATCH_CONTINUES != 0,
            "hex": hex(record.payload),
            "text": text,
            "runtime": decoded.as_ref().map(Entry::to_json),
        }))?;
        return Ok(Code::Ok);
    }
    let mut out = io::stdout().lock();
    writeln!(out, "lsn             {}", record.lsn)?;
    writeln!(out, "file            {}", segment.path.display())?;
    writeln!(
        out,
        "offset          {} (payload at {})",
        record.offset,
        record.offset + 24
    )?;
    writeln!(
        out,
        "length          {} bytes ({} framed)",
        record.payload.len(),
        framing.framed_len
    )?;
    writeln!(
        out,
        "format          version {} ({} checks)",
        framing.version, framing.check
    )?;
    writeln!(out, "header check    {:08x}", framing.header_check)?;
    writeln!(out, "payload check   {:08x}", framing.payload_check)?;
    writeln!(
        out,
        "batch continues {}",
        framing.flags & record::FLAG_BATCH_CONTINUES != 0
    )?;
    writeln!(out, "text            {text:?}")?;
    if let Some(entry) = &decoded {
        writeln!(out, "runtime         {entry}")?;
    }
    writeln!(out, "hex")?;
    for (i, chunk) in record.payload.chunks(16).enumerate() {
        let printable: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(
            out,
            "  {:08x}  {:<48} {printable}",
            i * 16,
            spaced_hex(chunk)
        )?;
    }
    Ok(Code::Ok)
}

/// Reads and parses the record's header from the segment file.
fn framing(path: &std::path::Path, offset: u64, len: usize) -> Result<Framing, Failure> {
    let file = File::open(path).map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    let mut header = [0; SEGMENT_HEADER_SIZE];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    let info = HeaderInfo::decode(&header)
        .map_err(|e| Failure::failed(format!("{}: segment header: {e}", path.display())))?;
    let mut bytes = vec![0; format::framed_len(len)];
    file.read_exact_at(&mut bytes, offset)
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    let payload_max = format::payload_capacity(info.segment_size);
    let Step::Record(parsed) = record::parse(&bytes, 0, info.binding(), payload_max) else {
        return Err(Failure::failed(format!(
            "{}: the record at byte {offset} changed while it was read",
            path.display()
        )));
    };
    Ok(Framing {
        version: info.version,
        check: info.binding().check.name(),
        header_check: parsed.header_check,
        payload_check: u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        framed_len: parsed.framed_len,
        flags: parsed.flags,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
