//! Repair cycles: damage the closed log the way operators meet it, repair it, and check what
//! survived. A torn tail (garbage after the last commit marker) must be seen as such, left
//! alone by `repair` and discarded by the next open, losing nothing acknowledged. A flipped
//! byte in a sealed segment must be found by `verify` at its record; `repair --strategy skip`
//! must keep every record outside the padded range, `--strategy truncate` every record
//! before the damaged one.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use interstice::recovery::repair::{Action, Strategy, repair};
use interstice::recovery::verify::{Status, verify};
use interstice::{Log, Options, Outcome, format};

use super::Counters;
use super::crash::check_all;
use super::record::{HEADER_LEN, Known, Rng, Seen, engine, violation};
use crate::cli::Failure;

/// The damage of one repair cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Garbage after the last commit marker of the last segment.
    TornTail,
    /// One flipped bit in a record of a sealed segment, repaired with this strategy.
    Flip(Strategy),
}

/// One repair cycle on the closed log in `dir`.
///
/// # Errors
/// The first violation or engine failure.
pub fn cycle(
    dir: &Path,
    options: &Options,
    damage: Damage,
    known: &mut Known,
    rng: &mut Rng,
    counters: &Counters,
) -> Result<(), Failure> {
    let done = match damage {
        Damage::Flip(strategy) => flip(dir, options, strategy, known, rng, counters)?,
        Damage::TornTail => false,
    };
    if !done {
        torn_tail(dir, options, known, rng, counters)?;
    }
    verify_intact(dir, counters, "after a repair cycle")?;
    remove_quarantine(dir)
}

/// `verify` must find the log intact (no torn tail either: it was opened and closed).
///
/// # Errors
/// A violation naming the damage found.
pub fn verify_intact(dir: &Path, counters: &Counters, when: &str) -> Result<(), Failure> {
    let report = verify(dir).map_err(|e| engine(dir, "verify", e))?;
    Counters::add(&counters.verifies, 1);
    if let Some(check) = report.segments.iter().find(|s| s.status != Status::Intact) {
        return Err(violation(format!(
            "{}: verify {when}: expected intact, found {:?}",
            check.path.display(),
            check.status
        )));
    }
    Ok(())
}

fn torn_tail(
    dir: &Path,
    options: &Options,
    known: &mut Known,
    rng: &mut Rng,
    counters: &Counters,
) -> Result<(), Failure> {
    let report = verify(dir).map_err(|e| engine(dir, "verify", e))?;
    let last = report
        .segments
        .last()
        .ok_or_else(|| violation(format!("{}: no segment to tear", dir.display())))?;
    let capacity = format::data_capacity(last.file_len) as u64;
    let room = capacity.saturating_sub(last.valid_end);
    // A full segment is sealed by a clean close (no room was left for its clean-close
    // marker): bytes after a sealed segment's data are corruption, not a torn tail.
    if room == 0 || last.is_sealed() {
        return Ok(());
    }
    let len = 1 + rng.below(room.min(3000));
    let mut garbage: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    garbage[0] |= 1;
    let at = last.valid_end;
    write_at(&last.path, at, &garbage)?;
    let path = last.path.clone();
    let seen = verify(dir).map_err(|e| engine(dir, "verify", e))?;
    Counters::add(&counters.verifies, 1);
    let found = seen.segments.last().map(|s| &s.status);
    if !matches!(found, Some(Status::TornTail { offset, .. }) if *offset == at) {
        return Err(violation(format!(
            "{}: {len} garbage bytes at offset {at}, after the last commit marker: expected \
             verify to report a torn tail there, found {found:?}",
            path.display()
        )));
    }
    let strategy = if rng.one_in(2) {
        Strategy::Skip
    } else {
        Strategy::Truncate
    };
    let repaired = repair(dir, strategy, false).map_err(|e| engine(dir, "repair", e))?;
    Counters::add(&counters.repairs, 1);
    if !repaired.actions.is_empty() {
        return Err(violation(format!(
            "{}: a torn tail is the next open's job, yet repair planned {:?}",
            path.display(),
            repaired.actions
        )));
    }
    let log = Log::open(dir, options.clone()).map_err(|e| engine(dir, "opening", e))?;
    Counters::add(&counters.recoveries, 1);
    let outcome = log.recovery_report().segments.last().map(|s| &s.outcome);
    if !matches!(outcome, Some(Outcome::TornTail { offset, .. }) if *offset == at) {
        return Err(violation(format!(
            "{}: expected recovery to discard a torn tail at offset {at}, found {outcome:?}",
            path.display()
        )));
    }
    if log.recovery_report().quarantine_files().next().is_none() {
        return Err(violation(format!(
            "{}: recovery discarded a torn tail without saving it to a quarantine file",
            path.display()
        )));
    }
    check_all(dir, &log, known)?;
    if log.last_lsn().0 != known.last_lsn {
        return Err(violation(format!(
            "{}: a torn tail after the last record changed the last LSN: expected {}, \
             found {}",
            path.display(),
            known.last_lsn,
            log.last_lsn()
        )));
    }
    log.close().map_err(|e| engine(dir, "closing", e))
}

/// Flips a bit of a record in a sealed segment and repairs; false when no sealed segment
/// holds a record.
fn flip(
    dir: &Path,
    options: &Options,
    strategy: Strategy,
    known: &mut Known,
    rng: &mut Rng,
    counters: &Counters,
) -> Result<bool, Failure> {
    let (seen, sealed) = {
        let log = Log::open_read_only(dir, options.clone())
            .map_err(|e| engine(dir, "opening read-only", e))?;
        let seen = check_all(dir, &log, known)?;
        let sealed: Vec<_> = log.segments().into_iter().filter(|s| s.sealed).collect();
        (seen, sealed)
    };
    let candidates: Vec<&Seen> = seen
        .iter()
        .filter(|s| sealed.iter().any(|segment| segment.id == s.segment))
        .collect();
    if candidates.is_empty() {
        return Ok(false);
    }
    let target = *candidates[rng.below(candidates.len() as u64) as usize];
    let path = sealed
        .iter()
        .find(|s| s.id == target.segment)
        .map(|s| s.path.clone())
        .expect("a sealed segment");
    let framed = format::RECORD_HEADER_SIZE + HEADER_LEN + target.id.len as usize;
    let at = target.offset + rng.below(framed as u64);
    flip_bit(&path, at, 1 << rng.below(8))?;
    let where_ = format!(
        "{}: bit flipped at offset {at} (LSN {} {}, record at {})",
        path.display(),
        target.lsn,
        target.id,
        target.offset
    );
    // A batch is whole or not at all: damage inside one makes all of it damaged.
    let batch = seen
        .iter()
        .find(|s| s.lsn == target.lsn - u64::from(target.id.part) && s.segment == target.segment)
        .copied()
        .unwrap_or(target);
    let found = verify(dir).map_err(|e| engine(dir, "verify", e))?;
    Counters::add(&counters.verifies, 1);
    let corrupt = found.first_corruption().map(|c| (c.id, &c.status));
    if !matches!(corrupt, Some((id, Status::Corrupt { offset, .. }))
        if id == target.segment && *offset == batch.offset)
    {
        return Err(violation(format!(
            "{where_}: expected verify to report corruption at offset {} (LSN {}, the start \
             of its batch), found {corrupt:?}",
            batch.offset, batch.lsn
        )));
    }
    let repaired = repair(dir, strategy, false).map_err(|e| engine(dir, "repair", e))?;
    Counters::add(&counters.repairs, 1);
    if !repaired.refused.is_empty() || repaired.quarantined.is_empty() {
        return Err(violation(format!(
            "{where_}: repair ({strategy:?}) refused {:?} or quarantined nothing ({:?})",
            repaired.refused, repaired.quarantined
        )));
    }
    let kept_before = seen.iter().filter(|s| s.lsn < batch.lsn).count() as u64;
    if strategy == Strategy::Skip {
        forget_padded(&where_, &seen, &target, &repaired.actions, known)?;
    } else {
        if repaired.records_kept != kept_before {
            return Err(violation(format!(
                "{where_}: truncate should keep the {kept_before} records before the damaged \
                 one, it kept {}",
                repaired.records_kept
            )));
        }
        known.cut_after(batch.lsn - 1);
    }
    verify_intact(dir, counters, "after repair")?;
    let log = Log::open(dir, options.clone()).map_err(|e| engine(dir, "opening", e))?;
    Counters::add(&counters.recoveries, 1);
    let after = check_all(dir, &log, known)?;
    if strategy == Strategy::Truncate && after.last().is_some_and(|s| s.lsn >= batch.lsn) {
        return Err(violation(format!(
            "{where_}: truncate kept records from the damaged one on"
        )));
    }
    known.last_lsn = log.last_lsn().0;
    log.close().map_err(|e| engine(dir, "closing", e))?;
    Ok(true)
}

/// After a skip repair: the records in padded ranges, and in a zeroed range at the end of a
/// segment's data (damage with no valid record after it), are gone (holes); the damaged one
/// must be among them.
fn forget_padded(
    where_: &str,
    seen: &[Seen],
    target: &Seen,
    actions: &[Action],
    known: &mut Known,
) -> Result<(), Failure> {
    let padded: Vec<_> = actions
        .iter()
        .filter_map(|action| match action {
            Action::Pad { id, range, .. } | Action::Zero { id, range, .. } => {
                Some((*id, range.clone()))
            }
            _ => None,
        })
        .collect();
    let lost: Vec<&Seen> = seen
        .iter()
        .filter(|s| {
            let end =
                s.offset + (format::RECORD_HEADER_SIZE + HEADER_LEN) as u64 + u64::from(s.id.len);
            padded
                .iter()
                .any(|(id, range)| *id == s.segment && s.offset < range.end && range.start < end)
        })
        .collect();
    if !lost.iter().any(|s| s.lsn == target.lsn) {
        return Err(violation(format!(
            "{where_}: skip padded or zeroed {padded:?}, which does not cover the damaged record"
        )));
    }
    for s in lost {
        known.durable.remove(&s.lsn);
        known.holes.insert(s.lsn, s.lsn);
    }
    Ok(())
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) -> Result<(), Failure> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.write_all_at(bytes, offset).map(|()| file))
        .and_then(|file| file.sync_all());
    file.map_err(|e| Failure::failed(format!("{}: damaging it: {e}", path.display())))
}

fn flip_bit(path: &Path, offset: u64, mask: u8) -> Result<(), Failure> {
    let mut byte = [0];
    std::fs::File::open(path)
        .and_then(|file| file.read_exact_at(&mut byte, offset))
        .map_err(|e| Failure::failed(format!("{}: reading it: {e}", path.display())))?;
    write_at(path, offset, &[byte[0] ^ mask])
}

/// Removes the quarantine files repairs and recoveries wrote (after their checks), so a
/// long soak's disk use stays bounded.
fn remove_quarantine(dir: &Path) -> Result<(), Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::failed(format!("{}: listing: {e}", dir.display())))?;
    let files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("quarantine-"))
        })
        .collect();
    for file in files {
        std::fs::remove_file(&file)
            .map_err(|e| Failure::failed(format!("{}: removing: {e}", file.display())))?;
    }
    Ok(())
}
