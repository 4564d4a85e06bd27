//! The log directory: its lock file, segment file names that sort by LSN, listing.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::ids::SegmentId;

/// Name of the lock file a writer holds.
pub const LOCK_FILE: &str = "interstice.lock";
/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of a segment being prepared (preallocated ahead of need); never part of the log.
pub const PREPARING_SUFFIX: &str = ".seg.tmp";
/// Prefix of quarantine files (bytes removed by recovery or repair).
pub const QUARANTINE_PREFIX: &str = "quarantine-";

/// File name of a segment: 20 decimal digits, so names sort by id and so by LSN.
#[must_use]
pub fn segment_file_name(id: SegmentId) -> String {
    format!("{:020}{SEGMENT_SUFFIX}", id.0)
}

/// A fresh file name for segment `id` while it is being prepared. Each preparation gets its
/// own name, so a preparation still running for a log that was closed never touches the file
/// of a later one.
#[must_use]
pub fn preparing_file_name(id: SegmentId) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nonce = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:020}-{}-{nonce}{PREPARING_SUFFIX}",
        id.0,
        std::process::id()
    )
}

/// The id in a segment file name, if it is one.
#[must_use]
pub fn parse_segment_file_name(name: &str) -> Option<SegmentId> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(SegmentId)
}

/// What a log directory holds.
#[derive(Debug, Default)]
pub struct Listing {
    /// Segment files, sorted by id.
    pub segments: Vec<(SegmentId, PathBuf)>,
    /// Segments left half-prepared by a crash.
    pub preparing: Vec<PathBuf>,
}

/// Lists a log directory. Files that are neither segments, segments being prepared, the lock
/// file nor quarantine files are ignored.
///
/// # Errors
/// `Error::NotALog` when `dir` is missing or not a directory; `Error::Io` otherwise.
pub fn list(dir: &Path) -> Result<Listing> {
    let meta = fs::metadata(dir).map_err(|e| Error::NotALog {
        path: dir.to_owned(),
        reason: format!("cannot open the directory: {e}"),
    })?;
    if !meta.is_dir() {
        return Err(Error::NotALog {
            path: dir.to_owned(),
            reason: "not a directory".into(),
        });
    }
    let mut listing = Listing::default();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = parse_segment_file_name(name) {
            listing.segments.push((id, entry.path()));
        } else if name.ends_with(PREPARING_SUFFIX) {
            listing.preparing.push(entry.path());
        }
    }
    listing.segments.sort();
    Ok(listing)
}

/// Takes the log's write lock, failing within 200 ms if another writer holds it.
///
/// # Errors
/// `Error::Locked` when it is held; `Error::Io` when the lock file cannot be opened.
pub fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("open lock file", &path, e))?;
    // A process that spawns a child shares the lock's open file with it until the child
    // execs (and closes it): a lock released meanwhile still looks held for that instant. So
    // a held lock is tried again for a short while before the log is reported locked.
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir.to_owned(),
                    lock: path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
    }
}

/// How long a held lock is retried before the log is reported locked.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_id_and_parse_back() {
        let a = segment_file_name(SegmentId(9));
        let b = segment_file_name(SegmentId(10));
        assert!(a < b);
        assert_eq!(parse_segment_file_name(&b), Some(SegmentId(10)));
        assert_eq!(parse_segment_file_name("10.seg"), None);
        assert_eq!(
            parse_segment_file_name(&preparing_file_name(SegmentId(1))),
            None
        );
    }

    #[test]
    fn second_lock_fails_fast() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock(dir.path()).unwrap();
        assert!(matches!(lock(dir.path()), Err(Error::Locked { .. })));
    }

    #[test]
    fn listing_ignores_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        fs::write(dir.path().join(segment_file_name(SegmentId(2))), b"x").unwrap();
        fs::write(dir.path().join(preparing_file_name(SegmentId(3))), b"x").unwrap();
        let listing = list(dir.path()).unwrap();
        assert_eq!(listing.segments.len(), 1);
        assert_eq!(listing.preparing.len(), 1);
        assert!(matches!(
            list(&dir.path().join("missing")),
            Err(Error::NotALog { .. })
        ));
    }
}
