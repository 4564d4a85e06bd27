//! `interstice ship`: copy what a replica lacks. Sealed segments are copied whole; the active
//! segment up to its last commit marker (what its last sync made durable), into a file of the
//! same size that the replica holds as its unsealed last segment. Every copy is written under
//! a temporary name, fsynced, verified by walking it, then renamed into place (and the
//! directory fsynced). Re-running copies only what changed; SRC may be written meanwhile.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use interstice::format::header::HeaderInfo;
use interstice::format::{self as format, FOOTER_SIZE, SEGMENT_HEADER_SIZE};
use interstice::recovery::verify::{Context, SegmentCheck, Status, check_segment};
use interstice::segment::scan::{self, ScanConfig};
use interstice::{Log, Lsn, Options, SegmentInfo};
use serde_json::json;

use super::{Code, Failure, Outcome, file_name, lsn_json, print_json, progress};

/// The lock file a writer of a log holds (docs/FORMAT.md); ship holds it on DST.
const LOCK_FILE: &str = "interstice.lock";

/// Arguments of `ship`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The log to copy from (opened read-only; a writer may be appending to it).
    pub src: PathBuf,
    /// The replica's directory (created if missing).
    pub dst: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What happened to one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Copied,
    Replaced,
    Unchanged,
}

struct Shipped {
    file: String,
    done: Done,
    sealed: bool,
    records: u64,
    last_lsn: Option<Lsn>,
    bytes: u64,
}

/// Runs `ship`.
pub fn run(args: &Args) -> Outcome {
    let source = Log::open_read_only(&args.src, Options::default())?;
    let segments = source.segments();
    fs::create_dir_all(&args.dst)
        .map_err(|e| Failure::failed(format!("create {}: {e}", args.dst.display())))?;
    let _lock = lock(&args.dst)?;
    let existing = replica_segments(&args.dst)?;
    check_continuity(&segments, &existing, &args.dst)?;
    let bar = progress(segments.len() as u64, "ship");
    let mut shipped = Vec::new();
    for segment in &segments {
        let target = args.dst.join(file_name(&segment.path));
        let have = existing.get(&segment.id.0).map(|_| target.as_path());
        shipped.push(ship_segment(segment, &args.dst, &target, have)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    report(args, &shipped)?;
    Ok(Code::Ok)
}

fn report(args: &Args, shipped: &[Shipped]) -> Result<(), Failure> {
    let count = |done| shipped.iter().filter(|s| s.done == done).count();
    let last = shipped.iter().rev().find_map(|s| s.last_lsn);
    let bytes: u64 = shipped
        .iter()
        .filter(|s| s.done != Done::Unchanged)
        .map(|s| s.bytes)
        .sum();
    if args.json {
        return print_json(&json!({
            "src": args.src.display().to_string(),
            "dst": args.dst.display().to_string(),
            "copied": count(Done::Copied),
            "replaced": count(Done::Replaced),
            "unchanged": count(Done::Unchanged),
            "bytes_copied": bytes,
            "shipped_lsn": lsn_json(last),
            "segments": shipped.iter().map(|s| json!({
                "file": s.file,
                "action": format!("{:?}", s.done).to_ascii_lowercase(),
                "sealed": s.sealed,
                "records": s.records,
                "last_lsn": lsn_json(s.last_lsn),
            })).collect::<Vec<_>>(),
        }));
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{} copied, {} replaced, {} unchanged, {bytes} bytes; {} holds the log up to LSN {}",
        count(Done::Copied),
        count(Done::Replaced),
        count(Done::Unchanged),
        args.dst.display(),
        last.map_or_else(|| "-".into(), |lsn| lsn.to_string())
    )?;
    Ok(())
}

fn lock(dst: &Path) -> Result<File, Failure> {
    let path = dst.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Failure::failed(format!("open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Failure::failed(format!(
            "replica {} is locked by a writer (or another ship); stop it first",
            dst.display()
        ))),
        Err(fs::TryLockError::Error(e)) => {
            Err(Failure::failed(format!("lock {}: {e}", path.display())))
        }
    }
}

/// The replica's segment files by id.
fn replica_segments(dst: &Path) -> Result<BTreeMap<u64, PathBuf>, Failure> {
    let mut found = BTreeMap::new();
    let entries =
        fs::read_dir(dst).map_err(|e| Failure::failed(format!("list {}: {e}", dst.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| Failure::failed(format!("list {}: {e}", dst.display())))?;
        let name = entry.file_name();
        let Some(digits) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
            continue;
        };
        if let Ok(id) = digits.parse::<u64>()
            && digits.len() == 20
        {
            found.insert(id, entry.path());
        }
    }
    Ok(found)
}

/// Refuses to make a replica that would not be a valid log: segments SRC does not have past
/// its end, a gap between the replica's end and SRC's start, or another log's segments.
fn check_continuity(
    segments: &[SegmentInfo],
    existing: &BTreeMap<u64, PathBuf>,
    dst: &Path,
) -> Result<(), Failure> {
    let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
        return Err(Failure::usage("the source log holds no segment"));
    };
    let Some((&dst_last, dst_last_path)) = existing.last_key_value() else {
        return Ok(());
    };
    if dst_last > last.id.0 {
        return Err(Failure::failed(format!(
            "{} holds segment {dst_last}, past the source's last segment {}: it is not a \
             replica of this log",
            dst.display(),
            last.id
        )));
    }
    if dst_last + 1 < first.id.0 {
        return Err(Failure::failed(format!(
            "the source starts at segment {} but {} ends at segment {dst_last}: the segments \
             between are gone from the source; ship to an empty directory",
            first.id,
            dst.display()
        )));
    }
    let source_header = read_header(&first.path)?;
    let replica_header = read_header(dst_last_path)?;
    if source_header.log_id != replica_header.log_id {
        return Err(Failure::failed(format!(
            "{} holds segments of another log (log id {:016x}, the source's is {:016x})",
            dst.display(),
            replica_header.log_id,
            source_header.log_id
        )));
    }
    Ok(())
}

fn read_header(path: &Path) -> Result<HeaderInfo, Failure> {
    let mut bytes = [0; SEGMENT_HEADER_SIZE];
    File::open(path)
        .and_then(|f| f.read_exact_at(&mut bytes, 0))
        .map_err(|e| Failure::failed(format!("read {}: {e}", path.display())))?;
    HeaderInfo::decode(&bytes)
        .map_err(|e| Failure::failed(format!("{}: segment header: {e}", path.display())))
}

/// The bytes of a source segment to ship: the whole file when sealed; when active, the
/// prefix up to its last commit marker.
fn source_bytes(segment: &SegmentInfo) -> Result<Vec<u8>, Failure> {
    let path = &segment.path;
    let read_error = |e: io::Error| Failure::failed(format!("read {}: {e}", path.display()));
    let file = File::open(path).map_err(read_error)?;
    let len = if segment.sealed {
        segment.file_len
    } else {
        segment.bytes_used
    };
    let mut bytes =
        vec![0; usize::try_from(len).map_err(|_| Failure::failed("segment too large"))?];
    file.read_exact_at(&mut bytes, 0).map_err(read_error)?;
    if segment.sealed {
        return Ok(bytes);
    }
    let header = HeaderInfo::decode(&bytes)
        .map_err(|e| Failure::failed(format!("{}: segment header: {e}", path.display())))?;
    let config = ScanConfig {
        binding: header.binding(),
        base_lsn: header.base_lsn,
        payload_max: format::payload_capacity(header.segment_size),
        skip_damage: false,
    };
    let walk = scan::scan(&bytes, format::data_capacity(header.segment_size), &config);
    bytes.truncate(walk.last_marker_end);
    Ok(bytes)
}

fn ship_segment(
    segment: &SegmentInfo,
    dst: &Path,
    target: &Path,
    have: Option<&Path>,
) -> Result<Shipped, Failure> {
    if segment.sealed
        && let Some(path) = have
        && same_seal(segment, path)?
    {
        return Ok(Shipped {
            file: file_name(target),
            done: Done::Unchanged,
            sealed: true,
            records: segment.records,
            last_lsn: segment.last_lsn,
            bytes: 0,
        });
    }
    let bytes = source_bytes(segment)?;
    let done = match have {
        None => Done::Copied,
        Some(path) => match compare(segment, &bytes, path)? {
            Some(check) => {
                return Ok(Shipped {
                    file: file_name(target),
                    done: Done::Unchanged,
                    sealed: segment.sealed,
                    records: check.records,
                    last_lsn: check.last_lsn,
                    bytes: 0,
                });
            }
            None => Done::Replaced,
        },
    };
    let check = write_verified(segment, &bytes, dst, target)?;
    Ok(Shipped {
        file: file_name(target),
        done,
        sealed: segment.sealed,
        records: check.records,
        last_lsn: check.last_lsn,
        bytes: bytes.len() as u64,
    })
}

/// True when the replica's copy of a sealed segment has the source's length, header and
/// footer (the footer holds the chain checksum over every record, bound to the log and the
/// segment): the copy is up to date without reading it whole.
fn same_seal(segment: &SegmentInfo, have: &Path) -> Result<bool, Failure> {
    let ends = |path: &Path| -> io::Result<Option<Vec<u8>>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len != segment.file_len {
            return Ok(None);
        }
        let mut bytes = vec![0; SEGMENT_HEADER_SIZE + FOOTER_SIZE];
        file.read_exact_at(&mut bytes[..SEGMENT_HEADER_SIZE], 0)?;
        file.read_exact_at(&mut bytes[SEGMENT_HEADER_SIZE..], len - FOOTER_SIZE as u64)?;
        Ok(Some(bytes))
    };
    let read_error = |e: io::Error| Failure::failed(format!("read: {e}"));
    let source = ends(&segment.path).map_err(read_error)?;
    let replica = ends(have).map_err(read_error)?;
    Ok(source.is_some()
        && source == replica
        && replica.is_some_and(|b| b[SEGMENT_HEADER_SIZE..].iter().any(|&x| x != 0)))
}

/// Compares the replica's copy with what the source would ship: `Some(check)` when it is up
/// to date, `None` when it is an older prefix to replace.
///
/// # Errors
/// When the copy is neither: the replica diverged from the source.
fn compare(
    segment: &SegmentInfo,
    bytes: &[u8],
    have: &Path,
) -> Result<Option<SegmentCheck>, Failure> {
    // Walked as a last segment: an older copy of this segment is an unsealed prefix.
    let check = check_segment(have, segment.id, true, &Context::default())?;
    let current =
        fs::read(have).map_err(|e| Failure::failed(format!("read {}: {e}", have.display())))?;
    let intact = check.status == Status::Intact;
    let valid_end = usize::try_from(check.valid_end).unwrap_or(usize::MAX);
    if segment.sealed && check.is_sealed() && intact && current == bytes {
        return Ok(Some(check));
    }
    if !segment.sealed
        && !check.is_sealed()
        && intact
        && valid_end == bytes.len()
        && current.get(..bytes.len()) == Some(bytes)
    {
        return Ok(Some(check));
    }
    let is_older_prefix = !check.is_sealed()
        && intact
        && current.len() as u64 == segment.file_len
        && valid_end <= bytes.len()
        && current.get(..valid_end) == bytes.get(..valid_end);
    if is_older_prefix {
        return Ok(None);
    }
    Err(Failure::failed(format!(
        "{} differs from the source's {}: the replica diverged (was the source repaired or \
         truncated?); ship to an empty directory",
        have.display(),
        segment.path.display()
    )))
}

/// Writes `bytes` (then zeroes up to the segment's size) under a temporary name, fsyncs it,
/// verifies it by walking every record, then renames it to `target` and fsyncs the directory.
fn write_verified(
    segment: &SegmentInfo,
    bytes: &[u8],
    dst: &Path,
    target: &Path,
) -> Result<SegmentCheck, Failure> {
    let temporary = dst.join(format!("{}.tmp", file_name(target)));
    let io_error = |e: io::Error| Failure::failed(format!("write {}: {e}", temporary.display()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(io_error)?;
    // Real blocks, not a sparse file: a replica promoted to writer must never hit a hole.
    fs4::FileExt::allocate(&file, segment.file_len).map_err(io_error)?;
    file.set_len(segment.file_len).map_err(io_error)?;
    file.write_all(bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    drop(file);
    let check = check_segment(&temporary, segment.id, !segment.sealed, &Context::default())?;
    let expected_sealed = segment.sealed && bytes.len() as u64 == segment.file_len;
    if check.status != Status::Intact || check.is_sealed() != expected_sealed {
        let _ = fs::remove_file(&temporary);
        return Err(Failure::failed(format!(
            "the copy of {} did not verify ({:?}); nothing was replaced",
            segment.path.display(),
            check.status
        )));
    }
    fs::rename(&temporary, target)
        .map_err(|e| Failure::failed(format!("rename {}: {e}", temporary.display())))?;
    File::open(dst)
        .and_then(|d| d.sync_all())
        .map_err(|e| Failure::failed(format!("fsync {}: {e}", dst.display())))?;
    Ok(check)
}
