//! Files: create at a length, fsync a file or a directory, durable rename.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `path` (which must not exist) with a length of `len` bytes and no blocks: the
/// caller allocates what it will write (`Mapping::allocate`) before writing it through a
/// mapping, so that a full disk is an error there, never a `SIGBUS` at the write.
///
/// # Errors
/// `Error::Io` naming the path; the partial file is removed.
pub fn create_sized(path: &Path, len: u64) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    if let Err(e) = file.set_len(len) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(Error::io("set length", path, e));
    }
    Ok(file)
}

/// fsync of a directory, so that entries created, renamed or removed in it are durable.
///
/// # Errors
/// `Error::Io` naming the directory.
pub fn sync_dir(dir: &Path) -> Result<()> {
    // Crash simulations make the directory's renames and removals durable in their journal.
    #[cfg(test)]
    if crate::disk::mmap::shadow::simulated() {
        journal::synced(dir);
        return Ok(());
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Creates `dir` and any missing parents, and makes each new entry durable: the parent of
/// every directory created is fsynced, from the deepest up. An existing `dir` is left alone.
///
/// # Errors
/// The OS error, and the path it concerns.
pub fn create_dir_durably(dir: &Path) -> std::result::Result<(), (std::io::Error, &Path)> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(path) = at.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(path);
        at = path.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| (e, dir))?;
    for created in missing {
        let parent = created
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| (e, parent))?;
    }
    Ok(())
}

/// Writes a new file durably: write, fsync, then fsync the directory.
///
/// # Errors
/// `Error::Io` naming the path.
pub fn write_new_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Renames `from` to `to` and fsyncs their directory.
///
/// # Errors
/// `Error::Io` naming the source path.
pub fn rename_durably(from: &Path, to: &Path) -> Result<()> {
    {
        #[cfg(test)]
        let _copy = journal::change();
        fs::rename(from, to).map_err(|e| Error::io("rename", from, e))?;
        #[cfg(test)]
        journal::record(journal::Pending::Renamed {
            from: from.to_owned(),
            to: to.to_owned(),
        });
    }
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// Removes a file and fsyncs its directory.
///
/// # Errors
/// `Error::Io` naming the path.
pub fn remove_durably(path: &Path) -> Result<()> {
    {
        #[cfg(test)]
        let _copy = journal::change();
        #[cfg(test)]
        let bytes = journal::contents(path);
        fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
        #[cfg(test)]
        journal::record(journal::Pending::Removed {
            path: path.to_owned(),
            bytes,
        });
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// What crash simulations know of directory entries: a rename or a removal is durable only
/// once its directory is fsynced (`sync_dir`); until then a crash may undo it.
#[cfg(test)]
pub(crate) mod journal {
    use std::path::{Path, PathBuf};

    use parking_lot::{Mutex, RwLock, RwLockReadGuard};

    /// A change to a directory that no fsync of it has made durable yet.
    #[derive(Clone, Debug)]
    pub(crate) enum Pending {
        /// `from` was renamed to `to`.
        Renamed { from: PathBuf, to: PathBuf },
        /// `path` was removed; it held `bytes`.
        Removed { path: PathBuf, bytes: Vec<u8> },
    }

    /// Held shared by each change, exclusively while a crash image is copied: no change
    /// lands in the middle of a copy.
    static CHANGES: RwLock<()> = RwLock::new(());

    static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());

    /// Held across one change.
    pub(crate) fn change() -> RwLockReadGuard<'static, ()> {
        CHANGES.read()
    }

    /// Held while a crash image is copied.
    pub(crate) fn copying() -> parking_lot::RwLockWriteGuard<'static, ()> {
        CHANGES.write()
    }

    /// What a file held before its removal (simulations only: the removal may be undone).
    pub(crate) fn contents(path: &Path) -> Vec<u8> {
        if crate::disk::mmap::shadow::simulated() {
            std::fs::read(path).unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    pub(crate) fn record(change: Pending) {
        if crate::disk::mmap::shadow::simulated() {
            PENDING.lock().push(change);
        }
    }

    /// An fsync of `dir`: its changes so far are durable.
    pub(crate) fn synced(dir: &Path) {
        let in_dir = |path: &Path| path.parent() == Some(dir);
        PENDING.lock().retain(|change| match change {
            Pending::Renamed { to, .. } => !in_dir(to),
            Pending::Removed { path, .. } => !in_dir(path),
        });
    }

    /// The changes in `dir` not yet durable, oldest first.
    pub(crate) fn pending_in(dir: &Path) -> Vec<Pending> {
        let in_dir = |path: &Path| path.parent() == Some(dir);
        PENDING
            .lock()
            .iter()
            .filter(|change| match change {
                Pending::Renamed { to, .. } => in_dir(to),
                Pending::Removed { path, .. } => in_dir(path),
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot allocate or punch blocks")]
    fn sized_file_takes_blocks_only_where_allocated_and_gives_them_back() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let file = create_sized(&path, 8 << 20).unwrap();
        let blocks = |file: &File| file.metadata().unwrap().blocks() * 512;
        assert_eq!(file.metadata().unwrap().len(), 8 << 20);
        assert!(blocks(&file) < 64 << 10, "a new file holds no blocks");
        let map = std::sync::Arc::new(crate::disk::mmap::Mapping::map(&file, true).unwrap());
        map.allocate(0..(2 << 20)).unwrap();
        assert!(blocks(&file) >= 2 << 20, "allocated blocks are counted");
        let mut writer = map.writer().unwrap();
        writer.write(4096, b"kept");
        writer.freeze(8192);
        writer.give_back(8192..(2 << 20));
        assert!(blocks(&file) < 64 << 10, "given back: {}", blocks(&file));
        drop(writer);
        assert_eq!(&map.frozen()[4096..4100], b"kept");
        assert!(matches!(
            create_sized(&path, 10),
            Err(Error::Io { op: "create", .. })
        ));
    }

    #[test]
    fn durable_helpers_work_on_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        write_new_durably(&a, b"xyz").unwrap();
        let b = dir.path().join("b");
        rename_durably(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"xyz");
        remove_durably(&b).unwrap();
        assert!(!b.exists());
        let nested = dir.path().join("x/y/z");
        create_dir_durably(&nested).unwrap();
        assert!(nested.is_dir());
        create_dir_durably(&nested).unwrap();
        let file = dir.path().join("x/f");
        fs::write(&file, b"").unwrap();
        let under_a_file = file.join("d");
        let (error, at) = create_dir_durably(&under_a_file).unwrap_err();
        assert_eq!(at, under_a_file.as_path());
        assert_eq!(error.kind(), std::io::ErrorKind::NotADirectory);
    }
}
