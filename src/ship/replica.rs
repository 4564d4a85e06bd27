//! `Replica`: the directory a pass copies into: its lock, the segments it holds, whether it
//! continues the source, and the verified copy of one segment into it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::report::{Action, ShippedSegment};
use super::source::{Shipment, Source, read_header};
use crate::disk::dir;
use crate::error::{Damage, Error, Result};
use crate::format::{FOOTER_SIZE, SEGMENT_HEADER_SIZE};
use crate::ids::{Lsn, SegmentId};
use crate::recovery::verify::{Context, SegmentCheck, Status, check_segment};
use crate::segment::SegmentInfo;

/// Creates the replica's directory if needed and takes its write lock, as a writer would:
/// no writer can open the replica while a pass runs, nor two passes run at once.
///
/// # Errors
/// `Error::Locked` when a writer (or another pass) holds it; `Error::Io` otherwise.
pub(super) fn lock(dst: &Path) -> Result<File> {
    fs::create_dir_all(dst).map_err(|e| Error::io("create", dst, e))?;
    dir::lock(dst)
}

/// The replica's directory and the segment files it held when the pass began.
pub(super) struct Replica<'a> {
    dir: &'a Path,
    segments: BTreeMap<u64, PathBuf>,
}

impl<'a> Replica<'a> {
    /// Lists the replica in `dir`, whose lock the caller holds, and removes the temporary
    /// copies a killed pass left (no writer can be preparing a segment there).
    ///
    /// # Errors
    /// As `dir::list`; `Error::Io` when a temporary copy cannot be removed.
    pub fn list(dir: &'a Path) -> Result<Replica<'a>> {
        let listing = dir::list(dir)?;
        for path in &listing.preparing {
            fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
        }
        let segments = listing
            .segments
            .into_iter()
            .map(|(id, path)| (id.0, path))
            .collect();
        Ok(Replica { dir, segments })
    }

    /// Refuses what would leave the replica an invalid log: segments the source does not
    /// have past its end, a gap between the replica's end and the source's start (or a last
    /// segment copied before it was sealed that the source no longer holds), or another
    /// log's segments.
    ///
    /// # Errors
    /// `Error::ReplicaDiverged` saying which.
    pub fn check_continuity(&self, source: &Source) -> Result<()> {
        let (Some(first), Some(last)) = (source.segments.first(), source.segments.last()) else {
            return Ok(());
        };
        let Some((&dst_last, dst_last_path)) = self.segments.last_key_value() else {
            return Ok(());
        };
        let refuse = |reason: String| Err(diverged(self.dir, reason));
        if dst_last > last.id.0 {
            return refuse(format!(
                "it holds segment {dst_last}, past the source's last segment {}",
                last.id
            ));
        }
        if dst_last + 1 < first.id.0 {
            return refuse(format!(
                "the source starts at segment {} but the replica ends at segment {dst_last}: \
                 the segments between are gone from the source; ship to an empty directory",
                first.id
            ));
        }
        let replica_log_id = read_header(dst_last_path)?.log_id;
        if replica_log_id != source.log_id {
            return refuse(format!(
                "it holds segments of another log (log id {replica_log_id:016x}, the \
                 source's is {:016x})",
                source.log_id
            ));
        }
        if dst_last < first.id.0 && !holds_sealed(dst_last, dst_last_path)? {
            return refuse(format!(
                "its last segment {dst_last} was copied before it was sealed, and the source \
                 no longer holds it; ship to an empty directory"
            ));
        }
        Ok(())
    }

    /// Brings the replica's copy of `segment` up to date (`last`: the source's last segment).
    ///
    /// # Errors
    /// `Error::ReplicaDiverged` when the replica's copy is neither current nor an older
    /// prefix; `Error::Corrupt` when the copy does not verify; `Error::Io`.
    pub fn ship(
        &self,
        source: &Source,
        segment: &SegmentInfo,
        last: bool,
    ) -> Result<ShippedSegment> {
        let file = dir::segment_file_name(segment.id);
        let target = self.dir.join(&file);
        let have = self.segments.get(&segment.id.0).map(|_| target.as_path());
        let shipped = |action, check: &SegmentCheck, bytes| ShippedSegment {
            file: file.clone(),
            action,
            sealed: check.is_sealed(),
            records: check.records,
            last_lsn: check.last_lsn,
            bytes,
        };
        if segment.sealed
            && let Some(path) = have
            && same_seal(segment, path)?
        {
            return Ok(ShippedSegment {
                file: file.clone(),
                action: Action::Unchanged,
                sealed: true,
                records: segment.records,
                last_lsn: segment.last_lsn,
                bytes: 0,
            });
        }
        let shipment = source.shipment(segment, last)?;
        let action = match have {
            None => Action::Copied,
            Some(path) => match Self::compare(segment, &shipment, path)? {
                Some(check) => return Ok(shipped(Action::Unchanged, &check, 0)),
                None => Action::Replaced,
            },
        };
        let check = self.write_verified(segment, &shipment, &target)?;
        Ok(shipped(action, &check, shipment.len as u64))
    }

    /// Compares the replica's copy with what the source would ship: `Some(check)` when it is
    /// up to date (or holds more of a segment still written, up to a commit marker the source
    /// holds), `None` when it is an older prefix to replace.
    ///
    /// # Errors
    /// `Error::ReplicaDiverged` when it is neither.
    fn compare(
        segment: &SegmentInfo,
        shipment: &Shipment,
        have: &Path,
    ) -> Result<Option<SegmentCheck>> {
        // Walked as a last segment: an older copy of this segment is an unsealed prefix.
        let check = check_segment(have, segment.id, true, &Context::default())?;
        let current = fs::read(have).map_err(|e| Error::io("read", have, e))?;
        let bytes = &shipment.bytes;
        let intact = check.status == Status::Intact;
        let valid_end = usize::try_from(check.valid_end).unwrap_or(usize::MAX);
        let same_prefix =
            valid_end <= bytes.len() && current.get(..valid_end) == bytes.get(..valid_end);
        if shipment.sealed && check.is_sealed() && intact && current == *bytes {
            return Ok(Some(check));
        }
        if !shipment.sealed
            && !check.is_sealed()
            && intact
            && valid_end >= shipment.len
            && same_prefix
        {
            return Ok(Some(check));
        }
        let older_prefix = !check.is_sealed()
            && intact
            && current.len() as u64 == segment.file_len
            && valid_end <= shipment.len
            && same_prefix;
        if older_prefix {
            return Ok(None);
        }
        Err(diverged(
            have,
            format!(
                "it differs from the source's {}: the replica diverged (was it written to, \
                 or the source repaired or truncated?); ship to an empty directory",
                segment.path.display()
            ),
        ))
    }

    /// Writes the shipment (then zeroes up to the segment's size) under a temporary name,
    /// fsyncs it, verifies it by walking every record, then renames it to `target` and fsyncs
    /// the directory. Until the rename the replica is untouched; a failure removes the
    /// temporary file, and one left by a killed process is not part of the log (a writable
    /// open removes it, the next pass overwrites it).
    fn write_verified(
        &self,
        segment: &SegmentInfo,
        shipment: &Shipment,
        target: &Path,
    ) -> Result<SegmentCheck> {
        // `*.seg.tmp`: the name of a segment being prepared, never part of the log.
        let name = dir::segment_file_name(segment.id);
        let temporary = Temporary::new(self.dir.join(format!("{name}.tmp")));
        debug_assert!(name.ends_with(dir::SEGMENT_SUFFIX) && ".seg.tmp" == dir::PREPARING_SUFFIX);
        temporary.write(segment.file_len, &shipment.bytes[..shipment.len])?;
        let check = check_segment(
            &temporary.path,
            segment.id,
            !shipment.sealed,
            &Context::default(),
        )?;
        verified(segment, shipment, &check)?;
        temporary.rename(target)?;
        File::open(self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("fsync", self.dir, e))?;
        Ok(check)
    }
}

fn diverged(path: &Path, reason: String) -> Error {
    Error::ReplicaDiverged {
        path: path.to_owned(),
        reason,
    }
}

/// True when the replica's segment `id` in `path` is sealed and intact.
fn holds_sealed(id: u64, path: &Path) -> Result<bool> {
    let check = check_segment(path, SegmentId(id), true, &Context::default())?;
    Ok(check.is_sealed() && check.status == Status::Intact)
}

/// Fails unless the copy walked intact and sealed exactly when shipped sealed.
fn verified(segment: &SegmentInfo, shipment: &Shipment, check: &SegmentCheck) -> Result<()> {
    let damage = match &check.status {
        Status::Intact if check.is_sealed() == shipment.sealed => return Ok(()),
        Status::Intact => Damage::Footer(format!(
            "the copy is {}sealed, the source's segment was read as {}sealed",
            if check.is_sealed() { "" } else { "not " },
            if shipment.sealed { "" } else { "not " },
        )),
        Status::Corrupt { damage, .. } | Status::TornTail { damage, .. } => damage.clone(),
        Status::Unfinished => Damage::SegmentHeader("the copy's header is missing".into()),
    };
    let offset = match check.status {
        Status::Corrupt { offset, .. } | Status::TornTail { offset, .. } => offset,
        _ => 0,
    };
    Err(Error::Corrupt {
        path: segment.path.clone(),
        offset,
        last_good_lsn: check.last_lsn.unwrap_or(Lsn::ZERO),
        damage,
    })
}

/// A file written under a temporary name, removed unless renamed into place.
struct Temporary {
    path: PathBuf,
    renamed: bool,
}

impl Temporary {
    fn new(path: PathBuf) -> Temporary {
        Temporary {
            path,
            renamed: false,
        }
    }

    /// Writes `bytes` into a file of `len` bytes of real blocks (not a sparse file: a replica
    /// promoted to writer must never hit a hole), and fsyncs it.
    fn write(&self, len: u64, bytes: &[u8]) -> Result<()> {
        let io_error = |e: io::Error| Error::io("write", &self.path, e);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.path)
            .map_err(io_error)?;
        fs4::FileExt::allocate(&file, len).map_err(io_error)?;
        file.set_len(len).map_err(io_error)?;
        file.write_all(bytes).map_err(io_error)?;
        file.sync_all().map_err(io_error)
    }

    fn rename(mut self, target: &Path) -> Result<()> {
        fs::rename(&self.path, target).map_err(|e| Error::io("rename", &self.path, e))?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// True when the replica's copy of a sealed segment has the source's length, header and
/// footer (the footer holds the chain checksum over every record, bound to the log and the
/// segment): the copy is up to date without reading it whole.
fn same_seal(segment: &SegmentInfo, have: &Path) -> Result<bool> {
    let ends = |path: &Path| -> Result<Option<Vec<u8>>> {
        let io_error = |e| Error::io("read", path, e);
        let file = File::open(path).map_err(io_error)?;
        let len = file.metadata().map_err(io_error)?.len();
        if len != segment.file_len {
            return Ok(None);
        }
        let mut bytes = vec![0; SEGMENT_HEADER_SIZE + FOOTER_SIZE];
        file.read_exact_at(&mut bytes[..SEGMENT_HEADER_SIZE], 0)
            .and_then(|()| {
                file.read_exact_at(&mut bytes[SEGMENT_HEADER_SIZE..], len - FOOTER_SIZE as u64)
            })
            .map_err(io_error)?;
        Ok(Some(bytes))
    };
    let source = ends(&segment.path)?;
    let replica = ends(have)?;
    Ok(source.is_some()
        && source == replica
        && replica.is_some_and(|b| b[SEGMENT_HEADER_SIZE..].iter().any(|&x| x != 0)))
}
