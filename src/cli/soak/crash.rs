//! Crash cycles: a child process (this binary, `soak-child`) appends to the log and prints
//! each record it has made durable; the soak kills it with SIGKILL at a random moment,
//! recovers the log, and checks that every record the child reported durable is there byte
//! for byte and that what follows is the child's own sequence, whole batches, no holes.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use interstice::{Durability, Log, Options};

use super::Counters;
use super::record::{Identity, Known, Rng, Seen, Walk, engine, violation};
use crate::cli::{Code, Failure, Outcome, parse_size};

/// Arguments of the hidden `soak-child` command.
#[derive(Debug, clap::Args)]
pub struct ChildArgs {
    /// Log directory.
    pub dir: PathBuf,
    /// The writer identity of its records.
    #[arg(long)]
    pub writer: u32,
    /// Seed of its choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Segment size.
    #[arg(long, value_parser = parse_size, default_value = "64k")]
    pub segment_size: u64,
    /// Make every append durable (group commit) instead of syncing now and then.
    #[arg(long)]
    pub every_append: bool,
}

/// How long a child appends when nobody kills it.
const CHILD_SECONDS_MAX: u64 = 60;

/// Runs `soak-child`: appends until killed, printing `LSN WRITER SEQ PART PARTS LEN` for
/// each record once it is durable.
pub fn run_child(args: &ChildArgs) -> Outcome {
    let durability = if args.every_append {
        Durability::EveryAppend
    } else {
        Durability::OnSync
    };
    let options = Options {
        segment_size: args.segment_size,
        durability,
        ..Options::default()
    };
    let log = Log::open(&args.dir, options).map_err(|e| engine(&args.dir, "opening", e))?;
    let mut rng = Rng::new(args.seed, u64::from(args.writer));
    let mut out = std::io::stdout().lock();
    let mut pending: Vec<(u64, Identity)> = Vec::new();
    let mut seq = 0;
    let deadline = Instant::now() + Duration::from_secs(CHILD_SECONDS_MAX);
    while Instant::now() < deadline {
        let parts = if rng.one_in(3) { 2 + rng.below(7) } else { 1 };
        let ids: Vec<Identity> = (0..parts)
            .map(|part| Identity {
                writer: args.writer,
                seq: seq + part,
                part: part as u16,
                parts: parts as u16,
                len: rng.content_len(),
            })
            .collect();
        seq += parts;
        let payloads: Vec<Vec<u8>> = ids.iter().map(Identity::payload).collect();
        let last = if parts == 1 {
            log.append(&payloads[0])
        } else {
            log.append_batch(&payloads)
        };
        let last = last.map_err(|e| engine(&args.dir, "append", e))?;
        let first = last.0 + 1 - parts;
        pending.extend(
            ids.into_iter()
                .enumerate()
                .map(|(i, id)| (first + i as u64, id)),
        );
        let durable = if args.every_append {
            log.durable_lsn()
        } else if rng.one_in(3) {
            log.sync().map_err(|e| engine(&args.dir, "sync", e))?
        } else {
            continue;
        };
        let acked = pending.partition_point(|&(lsn, _)| lsn <= durable.0);
        for (lsn, id) in pending.drain(..acked) {
            let Identity {
                writer,
                seq,
                part,
                parts,
                len,
            } = id;
            writeln!(out, "{lsn} {writer} {seq} {part} {parts} {len}")?;
        }
        out.flush()?;
    }
    Ok(Code::Ok)
}

fn parse_line(line: &str) -> Option<(u64, Identity)> {
    let mut fields = line.split(' ').map(str::parse::<u64>);
    let mut next = || fields.next()?.ok();
    let lsn = next()?;
    let id = Identity {
        writer: u32::try_from(next()?).ok()?,
        seq: next()?,
        part: u16::try_from(next()?).ok()?,
        parts: u16::try_from(next()?).ok()?,
        len: u32::try_from(next()?).ok()?,
    };
    Some((lsn, id))
}

/// One crash cycle on the closed log in `dir`.
///
/// # Errors
/// The first violation, or a child that failed instead of being killed.
pub fn cycle(
    dir: &Path,
    segment_size: u64,
    known: &mut Known,
    rng: &mut Rng,
    number: u64,
    counters: &Counters,
) -> Result<(), Failure> {
    let writer = 1_000_000 + number as u32;
    let every_append = rng.one_in(2);
    let exe = std::env::current_exe().map_err(|e| Failure::failed(format!("soak: {e}")))?;
    let mut command = Command::new(exe);
    command
        .arg("soak-child")
        .arg(dir)
        .args(["--writer", &writer.to_string()])
        .args(["--seed", &rng.next_u64().to_string()])
        .args(["--segment-size", &segment_size.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if every_append {
        command.arg("--every-append");
    }
    let mut child = command
        .spawn()
        .map_err(|e| Failure::failed(format!("soak: starting the crash child: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (lines, acks) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Kill after a random number of acknowledged records, plus a random delay.
    let wanted = rng.below(60);
    let mut received = Vec::new();
    while (received.len() as u64) < wanted {
        match acks.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => received.push(line),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(rng.below(20)));
    let _ = child.kill();
    let status = child
        .wait()
        .map_err(|e| Failure::failed(format!("soak: waiting for the crash child: {e}")))?;
    let _ = reader.join();
    received.extend(acks.try_iter());
    let stderr = errors.join().unwrap_or_default();
    if status.signal() != Some(SIGKILL) {
        return Err(Failure::failed(format!(
            "{}: the crash child ended by itself ({status}) instead of being killed: {}",
            dir.display(),
            stderr.trim()
        )));
    }
    Counters::add(&counters.crash_cycles, 1);
    Counters::add(&counters.sigkills, 1);
    let mut reported = Vec::new();
    for line in &received {
        let parsed = parse_line(line)
            .ok_or_else(|| Failure::failed(format!("soak: the crash child printed `{line}`")))?;
        reported.push(parsed);
    }
    recover(dir, segment_size, known, &reported, writer, counters)
}

/// SIGKILL's number (9 on every Unix).
const SIGKILL: i32 = 9;

/// Recovers the log after a kill and checks it; everything recovered is durable after it.
fn recover(
    dir: &Path,
    segment_size: u64,
    known: &mut Known,
    reported: &[(u64, Identity)],
    writer: u32,
    counters: &Counters,
) -> Result<(), Failure> {
    let before = known.last_lsn;
    for &(lsn, id) in reported {
        if lsn <= before {
            return Err(violation(format!(
                "{}: the crash child reported LSN {lsn} durable, but the log ended at LSN \
                 {before} when it started",
                dir.display()
            )));
        }
        known.durable.insert(lsn, id);
    }
    let options = Options {
        segment_size,
        ..Options::default()
    };
    // Read-only first: it changes nothing and must see what the writable open keeps.
    let read_only = Log::open_read_only(dir, options.clone())
        .map_err(|e| engine(dir, "opening read-only after a kill", e))?;
    let seen_read_only = check_all(dir, &read_only, known)?;
    drop(read_only);
    let log = Log::open(dir, options).map_err(|e| engine(dir, "recovering after a kill", e))?;
    Counters::add(&counters.recoveries, 1);
    let seen = check_all(dir, &log, known)?;
    if seen.len() != seen_read_only.len() {
        return Err(violation(format!(
            "{}: after a kill, a read-only open sees {} records, a writable open {}",
            dir.display(),
            seen_read_only.len(),
            seen.len()
        )));
    }
    let mut expected_lsn = before + 1;
    for (expected_seq, record) in (0..).zip(seen.iter().filter(|s| s.lsn > before)) {
        if record.lsn != expected_lsn || record.id.writer != writer || record.id.seq != expected_seq
        {
            return Err(violation(format!(
                "{}: LSN {} after the kill: expected LSN {expected_lsn} to be writer {writer} \
                 seq {expected_seq}, found LSN {} {}",
                dir.display(),
                record.lsn,
                record.lsn,
                record.id
            )));
        }
        known.durable.insert(record.lsn, record.id);
        expected_lsn += 1;
    }
    known.last_lsn = log.last_lsn().0;
    if known.last_lsn != expected_lsn - 1 {
        return Err(violation(format!(
            "{}: after recovery the last LSN is {}, the last record LSN {}",
            dir.display(),
            known.last_lsn,
            expected_lsn - 1
        )));
    }
    log.close().map_err(|e| engine(dir, "closing", e))?;
    Ok(())
}

/// Walks every record of `log` with the checks of `Walk`; returns what it saw.
///
/// # Errors
/// The first violation.
pub fn check_all(dir: &Path, log: &Log, known: &Known) -> Result<Vec<Seen>, Failure> {
    let reader = log.reader();
    let expect_first = log.first_lsn().map(|l| l.0);
    let mut walk = Walk::new(dir, known, 0, expect_first);
    let mut seen = Vec::new();
    for record in &reader {
        let record = record.map_err(|e| engine(dir, "reading", e))?;
        seen.push(walk.see(&record)?);
    }
    let last = walk.finish()?;
    if last.is_some_and(|l| l != log.last_lsn().0) {
        return Err(violation(format!(
            "{}: the records end at LSN {}, the log says its last LSN is {}",
            dir.display(),
            last.unwrap_or(0),
            log.last_lsn()
        )));
    }
    Ok(seen)
}
