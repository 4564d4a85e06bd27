//! The raft metadata file `raft-meta.json`: vote, committed and last purged log ids, replaced
//! atomically
//! (temporary file, fsync, rename, fsync of the directory).
//!
//! The file lives in the log directory beside the segments. Its name matches none of the
//! engine's (`*.seg`, `*.seg.tmp`, `quarantine-*`, `interstice.lock`), so recovery, `verify`
//! and `ship` leave it alone. It is a few hundred bytes of JSON, so an operator can read it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use openraft::{LogId, NodeId, Vote};
use serde::{Deserialize, Serialize};

/// Name of the metadata file inside the log directory.
pub const FILE_NAME: &str = "raft-meta.json";
const TEMP_NAME: &str = "raft-meta.json.tmp";

/// What raft keeps outside the log: the vote and how far the log was purged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Meta<NID: NodeId> {
    /// The last vote saved by `save_vote`.
    pub vote: Option<Vote<NID>>,
    /// The last log id purged. Records at or below it may still be present in the log (the
    /// engine removes whole segments only); they are hidden.
    pub last_purged: Option<LogId<NID>>,
    /// The last committed log id saved by `save_committed` (absent from files written before
    /// it was kept).
    #[serde(default)]
    pub committed: Option<LogId<NID>>,
}

impl<NID: NodeId> Default for Meta<NID> {
    fn default() -> Self {
        Meta {
            vote: None,
            last_purged: None,
            committed: None,
        }
    }
}

/// Path of the metadata file of the log in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Loads the metadata of the log in `dir`; a missing file is a fresh log.
///
/// # Errors
/// An I/O error other than "not found", or `InvalidData` when the file does not parse.
pub fn load<NID: NodeId>(dir: &Path) -> io::Result<Meta<NID>> {
    match fs::read(path(dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not parse: {e}", path(dir).display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Meta::default()),
        Err(e) => Err(e),
    }
}

/// Replaces the metadata of the log in `dir`, durably: when this returns, a crash leaves
/// either the new file or (had it failed) the old one, never a mix.
///
/// # Errors
/// Any I/O error of writing, syncing or renaming.
pub fn store<NID: NodeId>(dir: &Path, meta: &Meta<NID>) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(meta).map_err(io::Error::other)?;
    let temp = dir.join(TEMP_NAME);
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temp, path(dir))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    #[test]
    fn stored_meta_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load::<u64>(dir.path()).unwrap(), Meta::default());
        let meta = Meta::<u64> {
            vote: Some(Vote::new_committed(3, 1)),
            last_purged: Some(LogId::new(CommittedLeaderId::new(2, 1), 41)),
            committed: Some(LogId::new(CommittedLeaderId::new(2, 1), 57)),
        };
        store(dir.path(), &meta).unwrap();
        assert_eq!(load::<u64>(dir.path()).unwrap(), meta);
        assert!(!dir.path().join(TEMP_NAME).exists());
    }

    #[test]
    fn meta_without_committed_loads() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            path(dir.path()),
            br#"{ "vote": null, "last_purged": null }"#,
        )
        .unwrap();
        assert_eq!(load::<u64>(dir.path()).unwrap(), Meta::default());
    }

    #[test]
    fn damaged_meta_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(path(dir.path()), b"{ not json").unwrap();
        let error = load::<u64>(dir.path()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
